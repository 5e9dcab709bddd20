//! The test harness: every test gets the real server on a random port, against a PostgreSQL
//! database of its own, cloned in milliseconds from a template that was migrated and seeded once.
//!
//! The PostgreSQL server is found the way `serve` finds it (`DATABASE_URL`, else the local
//! server, else a private cluster under the target directory).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use phananh::config::{Secret, Settings};
use phananh::db::locate::{DatabaseSource, quote_ident, to_conn_string};
use phananh::startup::Application;
use tokio::sync::OnceCell;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Where the test databases live: a server connection string and the template's name.
struct Harness {
    server: Config,
    template: String,
}

static HARNESS: OnceCell<Harness> = OnceCell::const_new();

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data/...`, the fixtures from outside the project.
pub fn shared_data(relative: &str) -> PathBuf {
    manifest_dir().join("../shared/data").join(relative)
}

async fn harness() -> &'static Harness {
    HARNESS
        .get_or_init(|| async {
            if std::env::var_os("TEST_LOG").is_some() {
                phananh::telemetry::init(&phananh::config::LogSettings {
                    format: phananh::config::LogFormat::Pretty,
                    filter: "info".into(),
                });
            }
            let mut settings = Settings::default();
            settings.database.url = std::env::var("DATABASE_URL")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret::new);
            settings.data_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-data");
            let location = phananh::db::locate(&settings, true)
                .await
                .expect("the tests need PostgreSQL: set DATABASE_URL or run a local server");
            if location.source == DatabaseSource::PrivateCluster {
                eprintln!("tests use a private PostgreSQL cluster");
            }
            let server = Config::from_str(location.url.expose()).expect("connection string");
            std::mem::forget(location.cluster); // shared by every test process; left running
            let template = ensure_template(&server).await;
            Harness { server, template }
        })
        .await
}

pub async fn admin_client(server: &Config) -> Client {
    let (client, conn) = server.connect(NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// Content hash of everything that shapes a fresh database.
fn schema_fingerprint() -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    walk(&manifest_dir().join("migrations"), &mut files);
    // The seed and what it depends on.
    for f in [
        "src/db/seed.rs",
        "src/db/areas.rs",
        "src/db/categories.rs",
        "src/db/departments.rs",
        "src/db/routing_rules.rs",
        "src/domain/catalog.rs",
    ] {
        files.push(manifest_dir().join(f));
    }
    files.sort();
    let mut h = DefaultHasher::new();
    for f in files {
        f.file_name().hash(&mut h);
        std::fs::read(&f).expect("read").hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// The migrated, seeded template, built once per schema version under an advisory lock so that
/// concurrent test processes build it once.
async fn ensure_template(server: &Config) -> String {
    let name = format!("phananh_tpl_{}", schema_fingerprint());
    let admin = admin_client(server).await;
    admin
        .execute("SELECT pg_advisory_lock(7061636)", &[])
        .await
        .unwrap();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some();
    if !exists {
        // Stale templates of older schemas go — once a day old, so that test runs of other
        // checkouts (other branches, with other migrations) on the same server keep theirs.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for row in admin
            .query(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database \
                 WHERE datname LIKE 'phananh\\_tpl\\_%'",
                &[],
            )
            .await
            .unwrap()
        {
            let old: String = row.get(0);
            let built: Option<i64> = row
                .get::<_, Option<String>>(1)
                .and_then(|c| c.strip_prefix("built ").and_then(|t| t.parse().ok()));
            if built.is_some_and(|t| now - t < 86_400) {
                continue;
            }
            let q = quote_ident(&old);
            let _ = admin
                .batch_execute(&format!("ALTER DATABASE {q} IS_TEMPLATE false"))
                .await;
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"))
                .await;
        }
        let building = format!("{name}_building");
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&building)
            ))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&building)))
            .await
            .unwrap();
        phananh::startup::prepare_database(&db_conn_string(server, &building))
            .await
            .expect("migrate and seed the template");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}; ALTER DATABASE {} IS_TEMPLATE true; \
                 COMMENT ON DATABASE {} IS 'built {}'",
                quote_ident(&building),
                quote_ident(&name),
                quote_ident(&name),
                quote_ident(&name),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
            ))
            .await
            .unwrap();
    }
    admin
        .execute("SELECT pg_advisory_unlock(7061636)", &[])
        .await
        .unwrap();
    name
}

pub fn db_conn_string(server: &Config, dbname: &str) -> String {
    let mut cfg = server.clone();
    cfg.dbname(dbname);
    to_conn_string(&cfg)
}

/// A fresh database of the test's own, cloned from the template; dropped with the guard.
pub struct TestDb {
    pub name: String,
    pub url: String,
    server: Config,
}

impl TestDb {
    pub async fn new() -> TestDb {
        Self::create(true).await
    }

    /// An empty database (no schema), for migration tests.
    pub async fn empty() -> TestDb {
        Self::create(false).await
    }

    async fn create(from_template: bool) -> TestDb {
        let h = harness().await;
        let name = format!("phananh_test_{}", uuid::Uuid::now_v7().simple());
        let admin = admin_client(&h.server).await;
        let sql = if from_template {
            format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&name),
                quote_ident(&h.template)
            )
        } else {
            format!("CREATE DATABASE {}", quote_ident(&name))
        };
        admin
            .batch_execute(&sql)
            .await
            .expect("create test database");
        TestDb {
            url: db_conn_string(&h.server, &name),
            name,
            server: h.server.clone(),
        }
    }

    pub async fn client(&self) -> Client {
        admin_client(&Config::from_str(&self.url).unwrap()).await
    }

    pub fn server_config(&self) -> &Config {
        &self.server
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Our runtime may be shutting down: drop the database from a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) = server.connect(NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            quote_ident(&name)
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    handle: actix_web::dev::ServerHandle,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The server's data directory (its local photo store lives under it).
    pub fn data_dir(&self) -> &Path {
        self._data_dir.path()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; waiting for it here would block the
        // test's runtime, which is the one that has to process it.
        drop(self.handle.stop(false));
    }
}

pub fn test_settings(database_url: &str, data_dir: &Path) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        ..Settings::default()
    };
    s.database.url = Some(Secret::new(database_url));
    s.database.pool_size = 4;
    s.database.acquire_timeout_ms = 1_500;
    s.database.connect_timeout_ms = 1_500;
    s.http.workers = Some(1);
    s.http.shutdown_timeout_secs = 1;
    // Tests write fast from one address; the write limit has its own test.
    s.http.writes_per_minute = 0;
    s
}

/// The server against a fresh database of its own.
pub async fn spawn_app() -> TestApp {
    let db = TestDb::new().await;
    let url = db.url.clone();
    spawn_app_with(db, &url, |_| {}).await
}

/// The server against `db`, reached through `url` (e.g. a proxy), with settings adjusted by `tweak`.
pub async fn spawn_app_with(db: TestDb, url: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(url, data_dir.path());
    tweak(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("build the application");
    let port = app.port();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        handle,
        _data_dir: data_dir,
    }
}

/// A TCP relay in front of PostgreSQL that a test can cut and restore, to play a database outage.
pub struct DbProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

#[derive(Clone)]
enum Upstream {
    Tcp(String),
    Unix(PathBuf),
}

impl DbProxy {
    pub async fn start(server: &Config) -> DbProxy {
        let port = server.get_ports().first().copied().unwrap_or(5432);
        let upstream = match &server.get_hosts()[0] {
            Host::Tcp(h) => Upstream::Tcp(format!("{h}:{port}")),
            Host::Unix(dir) => Upstream::Unix(dir.join(format!(".s.PGSQL.{port}"))),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound); // refused, as a restarting server would
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    match upstream {
                        Upstream::Tcp(addr) => {
                            if let Ok(mut out) = tokio::net::TcpStream::connect(addr).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            }
                        }
                        Upstream::Unix(path) => {
                            if let Ok(mut out) = tokio::net::UnixStream::connect(path).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            }
                        }
                    }
                });
                conns2.lock().unwrap().push(task);
            }
        });
        DbProxy {
            port: proxy_port,
            up,
            connections,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Connection string for `dbname` through the proxy.
    pub fn conn_string(&self, server: &Config, dbname: &str) -> String {
        let mut cfg = Config::new();
        cfg.host("127.0.0.1").port(self.port).dbname(dbname);
        if let Some(u) = server.get_user() {
            cfg.user(u);
        }
        if let Some(p) = server.get_password() {
            cfg.password(p);
        }
        to_conn_string(&cfg)
    }
}

/// Asserts the response is problem+json with `status` and `code`; returns the body.
pub async fn assert_problem(resp: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status of {}", resp.url());
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: serde_json::Value = resp.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["type"], format!("urn:phananh:problem:{code}"));
    body
}

/// Runs the built `phananh` binary with `args` and extra environment.
pub fn phananh_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_phananh"));
    cmd.args(args);
    // The child must not inherit a developer's settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("PHANANH_") || k == "DATABASE_URL" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("PHANANH_LOG__FORMAT", "json");
    // Tests write fast from one address; a test of the write limit sets its own.
    cmd.env("PHANANH_HTTP__WRITES_PER_MINUTE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `phananh areas import FILE` against the database at `database_url`.
pub fn import_areas(file: &Path, database_url: &str) -> std::process::Output {
    phananh_command(
        &["areas", "import", file.to_str().unwrap()],
        &[("DATABASE_URL", database_url)],
    )
    .output()
    .unwrap()
}

/// A single number from the test's database (`SELECT count(*) …`).
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db
        .client()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

//! Faults of real deployments, against real processes: PostgreSQL restarted (`pg_ctl stop -m
//! fast`, then `start`) under a steady stream of submissions; the server SIGKILLed in the middle
//! of fifty photo uploads and started again on the same database and data directory; FCM and the
//! IOC answering 500 for a while, with two server processes delivering what queued meanwhile.
//!
//! Durations are measured and printed, never asserted: the machine is shared and noisy. What is
//! asserted is what a resident or an operator would see: the status codes, what is in the
//! database and the photo store afterwards, and what the receivers got.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::PASSWORD;
use crate::helpers::{TestDb, admin_client, phananh_command, test_settings};
use crate::media::photos_in;
use crate::reports::report_body;

/// Near the seeded centroid of xã Ka Đô (no boundaries imported: nearest centroid wins).
const KA_DO: (f64, f64) = (11.7394, 108.5884);
/// Where the server's links point by default (`public_url`); tests swap in the real address.
const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
/// Longest any single request may take before it counts as a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Registers a resident at `base` and returns their access token.
async fn resident(client: &reqwest::Client, base: &str) -> String {
    let phone = format!("09{:08}", uuid::Uuid::new_v4().as_u128() % 100_000_000);
    let resp = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"phone": phone, "password": PASSWORD, "full_name": "Nguyễn Văn A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Polls `done` every 100 ms until it holds; panics naming `what` after `limit`.
async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, limit: Duration, mut done: F) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. PostgreSQL restarted under a steady stream of submissions
// ---------------------------------------------------------------------------------------------

/// `pg_ctl` for a private cluster, run as the cluster's owner (PostgreSQL refuses root).
struct PgCtl {
    bin: PathBuf,
    pgdata: PathBuf,
    run_as: Option<(u32, u32)>,
}

impl PgCtl {
    fn new(bin: &Path, pgdata: &Path) -> PgCtl {
        let run_as = nix::unistd::geteuid().is_root().then(|| {
            let user = nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("running as root needs a `postgres` system user");
            (user.uid.as_raw(), user.gid.as_raw())
        });
        PgCtl {
            bin: bin.to_path_buf(),
            pgdata: pgdata.to_path_buf(),
            run_as,
        }
    }

    fn run(&self, args: &[&str]) {
        let mut cmd = std::process::Command::new(self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.pgdata)
            .args(args)
            .env("LC_ALL", "C.UTF-8")
            .current_dir(self.pgdata.parent().unwrap())
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Fast shutdown: every session is terminated at once, in-flight transactions roll back.
    fn stop(&self) {
        self.run(&["-w", "-t", "60", "-m", "fast", "stop"]);
    }

    fn start(&self) {
        let log = self.pgdata.join("server.log");
        self.run(&["-w", "-t", "60", "-l", log.to_str().unwrap(), "start"]);
    }
}

/// One HTTP attempt of a submission, as the phone saw it.
#[derive(Debug, Clone)]
struct Attempt {
    key: String,
    sent: Instant,
    answered: Instant,
    status: Option<u16>,
    content_type: String,
    retry_after: Option<String>,
    code: Option<String>,
    id: Option<String>,
    tracking_code: Option<String>,
    /// No answer at all (timeout, reset): a violation.
    error: Option<String>,
}

async fn submit_once(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> Attempt {
    let sent = Instant::now();
    let resp = client
        .post(format!("{base}/api/v1/reports"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await;
    let mut attempt = Attempt {
        key: key.to_owned(),
        sent,
        answered: sent,
        status: None,
        content_type: String::new(),
        retry_after: None,
        code: None,
        id: None,
        tracking_code: None,
        error: None,
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            attempt.answered = Instant::now();
            attempt.error = Some(format!("{e:#}"));
            return attempt;
        }
    };
    attempt.status = Some(resp.status().as_u16());
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    attempt.content_type = header("content-type").unwrap_or_default();
    attempt.retry_after = header("retry-after");
    match resp.json::<Value>().await {
        Ok(v) => {
            attempt.code = v["code"].as_str().map(str::to_owned);
            attempt.id = v["id"].as_str().map(str::to_owned);
            attempt.tracking_code = v["tracking_code"].as_str().map(str::to_owned);
        }
        Err(e) => attempt.error = Some(format!("body: {e:#}")),
    }
    attempt.answered = Instant::now();
    attempt
}

/// Submits reports one after another until `stop`, each with its own `Idempotency-Key`; a
/// submission that is not answered 201 is sent again with the same key, as a phone does, until
/// it is (or `give_up`).
async fn phone(
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    give_up: Instant,
) {
    let client = client();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = uuid::Uuid::new_v4().to_string();
        let mut body = report_body("road", KA_DO);
        body["description"] = json!(format!("Ổ gà trên đường liên thôn, lần {n}"));
        loop {
            let attempt = submit_once(&client, &base, &token, &key, &body).await;
            let created = attempt.status == Some(201);
            log.lock().unwrap().push(attempt);
            if created || Instant::now() > give_up {
                break;
            }
            // A phone would wait `Retry-After` (5 s); a quarter second keeps the test short
            // and the pressure on the recovering server high.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn created_count(log: &Mutex<Vec<Attempt>>, sent_after: Instant) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|a| a.status == Some(201) && a.sent >= sent_after)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_submissions_gives_503s_then_recovers_losing_nothing() {
    if std::env::var_os("TEST_LOG").is_some() {
        phananh::telemetry::init(&phananh::config::LogSettings {
            format: phananh::config::LogFormat::Pretty,
            filter: "info".into(),
        });
    }
    // A PostgreSQL cluster of the test's own, so that it can be stopped without disturbing
    // the other tests' server: the same embedded cluster `phananh serve` starts.
    let bin = phananh::db::embedded::find_server_binaries(None)
        .expect("this test needs the PostgreSQL server binaries (initdb, pg_ctl)");
    let dir = tempfile::Builder::new().prefix("pgf").tempdir().unwrap();
    // The `postgres` user (we may be root) must reach the cluster's directory through it.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let cluster = phananh::db::embedded::PrivateCluster::start(&dir.path().join("db"), &bin, false)
        .await
        .unwrap();
    let pg = PgCtl::new(&bin, cluster.pgdata());
    let url = cluster.connection_string("postgres");

    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let settings = test_settings(&url, &data_dir);
    let app = phananh::startup::Application::build(settings)
        .await
        .expect("build the application");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    let http = client();
    let log = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let give_up = Instant::now() + Duration::from_secs(300);
    let mut phones = Vec::new();
    for _ in 0..4 {
        let token = resident(&http, &base).await;
        phones.push(tokio::spawn(phone(
            base.clone(),
            token,
            stop.clone(),
            log.clone(),
            give_up,
        )));
    }

    let began = Instant::now();
    wait_until("submissions flow", Duration::from_secs(120), async || {
        created_count(&log, began) >= 12
    })
    .await;

    // The outage: a fast shutdown (sessions killed mid-transaction), three seconds down, start.
    let stopping = Instant::now();
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        std::thread::sleep(Duration::from_secs(3));
        pg
    })
    .await
    .unwrap();
    let pg = tokio::task::spawn_blocking(move || {
        pg.start();
        pg
    })
    .await
    .unwrap();
    let started = Instant::now();

    wait_until(
        "submissions succeed again after the restart",
        Duration::from_secs(120),
        async || created_count(&log, started) >= 1,
    )
    .await;
    let first_after = log
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.status == Some(201) && a.sent >= started)
        .map(|a| a.answered)
        .min()
        .unwrap();
    // A steady stream again, then the phones stop (each finishes its current submission).
    wait_until(
        "a steady stream again",
        Duration::from_secs(120),
        async || created_count(&log, started) >= 12,
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for p in phones {
        p.await.unwrap();
    }
    let log = log.lock().unwrap().clone();

    // Every answer was a 201 or a well-formed 503; no 500, no hang, no dropped connection.
    let mut violations = Vec::new();
    for a in &log {
        match (a.status, &a.error) {
            (_, Some(e)) => violations.push(format!("{}: no answer: {e}", a.key)),
            (Some(201), None) => {
                if a.id.is_none() || a.tracking_code.is_none() {
                    violations.push(format!("{}: 201 without id/tracking_code", a.key));
                }
            }
            (Some(503), None) => {
                if a.code.as_deref() != Some("database_unavailable")
                    || a.content_type != "application/problem+json"
                    || a.retry_after
                        .as_deref()
                        .and_then(|s| s.parse::<u32>().ok())
                        .is_none()
                {
                    violations.push(format!(
                        "{}: 503 code {:?}, content type {:?}, Retry-After {:?}",
                        a.key, a.code, a.content_type, a.retry_after
                    ));
                }
            }
            (status, None) => violations.push(format!(
                "{}: status {status:?} code {:?} after {:?}",
                a.key,
                a.code,
                a.answered - a.sent
            )),
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    let unavailable = log.iter().filter(|a| a.status == Some(503)).count();
    assert!(
        unavailable > 0,
        "the stream never met the outage: the test proved nothing"
    );

    // Each key was answered 201 in the end, and always with the same report.
    let mut by_key: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for a in &log {
        by_key.entry(&a.key).or_default().push(a);
    }
    let mut answered: HashSet<(String, String)> = HashSet::new();
    for (key, attempts) in &by_key {
        let ids: HashSet<_> = attempts
            .iter()
            .filter(|a| a.status == Some(201))
            .map(|a| (a.id.clone().unwrap(), a.tracking_code.clone().unwrap()))
            .collect();
        assert_eq!(ids.len(), 1, "{key}: answered 201 with {ids:?}");
        answered.extend(ids);
    }
    let retried = by_key.values().filter(|a| a.len() > 1).count();

    // In the database: exactly the reports answered 201 — none lost, none extra, none twice.
    let db = admin_client(&tokio_postgres::Config::from_str(&url).unwrap()).await;
    let stored: HashSet<(String, String)> = db
        .query("SELECT id::text, tracking_code FROM reports", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let lost: Vec<_> = answered.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&answered).collect();
    assert!(lost.is_empty(), "answered 201 but not stored: {lost:?}");
    assert!(extra.is_empty(), "stored but never answered 201: {extra:?}");
    assert_eq!(stored.len(), by_key.len(), "one report per Idempotency-Key");

    let outage = log
        .iter()
        .filter(|a| a.status == Some(503))
        .map(|a| a.answered)
        .collect::<Vec<_>>();
    let slowest_503 = log
        .iter()
        .filter(|a| a.status == Some(503))
        .map(|a| a.answered - a.sent)
        .max()
        .unwrap();
    eprintln!(
        "postgres restart: {} submissions ({} attempts, {} answered 503, {} keys retried); \
         stop→start {:.1} s; first 201 {:.2} s after pg_ctl start returned; \
         503s from {:.1} s to {:.1} s after the stop; slowest 503 took {:.2} s",
        by_key.len(),
        log.len(),
        unavailable,
        retried,
        (started - stopping).as_secs_f64(),
        (first_after - started).as_secs_f64(),
        (outage
            .iter()
            .min()
            .unwrap()
            .saturating_duration_since(stopping))
        .as_secs_f64(),
        (outage
            .iter()
            .max()
            .unwrap()
            .saturating_duration_since(stopping))
        .as_secs_f64(),
        slowest_503.as_secs_f64(),
    );

    handle.stop(false).await;
    drop(db);
    let _ = pg;
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. SIGKILL in the middle of fifty photo uploads
// ---------------------------------------------------------------------------------------------

/// A `phananh serve` child process; SIGKILLed if the test ends without stopping it.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(env: &[(&str, &str)]) -> Serve {
        let mut env = env.to_vec();
        env.push(("PHANANH_LISTEN", "127.0.0.1:0"));
        env.push(("PHANANH_HTTP__WORKERS", "2"));
        let mut child = phananh_command(&["serve"], &env)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // The JSON log line `listening` carries the port.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent
                    && let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "listening"
                {
                    let _ = tx.send(v["port"].as_u64().unwrap() as u16);
                    sent = true;
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("serve: {line}");
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("server did not report its port");
        Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGKILL: no shutdown of any kind, as the OOM killer or a power cut would do it.
    fn kill(&mut self) {
        // `Child::kill` is SIGKILL on Unix, and sends nothing once the child has been reaped
        // (its pid may be someone else's by then).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every file under `dir`, relative to it, with `/` separators.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What the store and the database hold after a crash, as an operator would check it.
#[derive(Debug, Default)]
struct Leftovers {
    pending_rows: i64,
    /// Files in the photo store that no ready row names.
    orphan_files: Vec<String>,
    /// Files left in the upload directory.
    upload_files: Vec<String>,
}

impl Leftovers {
    fn clean(&self) -> bool {
        self.pending_rows == 0 && self.orphan_files.is_empty() && self.upload_files.is_empty()
    }
}

async fn leftovers(db: &TestDb, data_dir: &Path) -> Leftovers {
    let client = db.client().await;
    let pending_rows: i64 = client
        .query_one("SELECT count(*) FROM media WHERE status = 'pending'", &[])
        .await
        .unwrap()
        .get(0);
    let keys: HashSet<String> = client
        .query(
            "SELECT k FROM media, unnest(ARRAY[display_key, thumbnail_key, \
             original_display_key, original_thumbnail_key]) AS k \
             WHERE status = 'ready' AND k IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let orphan_files = files_under(&data_dir.join("media"))
        .into_iter()
        .filter(|f| !keys.contains(f))
        .collect();
    Leftovers {
        pending_rows,
        orphan_files,
        upload_files: files_under(&data_dir.join("uploads")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_uploads_leaves_nothing_half_written_after_the_restart_and_sweep() {
    let db = TestDb::new().await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("PHANANH_DATA_DIR", data_dir.to_str().unwrap()),
    ];
    let mut server = Serve::start(&env);
    let http = client();
    let token = resident(&http, &server.base).await;

    let mut photos: Vec<PathBuf> = Vec::new();
    for folder in ["gps", "orientation", "phones"] {
        // JPEGs only: HEIC is refused (415), and only 201s are expected here.
        photos.extend(
            photos_in(folder)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "jpg")),
        );
    }
    assert!(!photos.is_empty());
    // Fifty at once, each with its own Idempotency-Key.
    let answers: Arc<Mutex<Vec<(usize, u16, Value)>>> = Arc::default();
    let mut uploads = Vec::new();
    for i in 0..50 {
        let path = photos[i % photos.len()].clone();
        let (http, base, token, answers) = (
            http.clone(),
            server.base.clone(),
            token.clone(),
            answers.clone(),
        );
        uploads.push(tokio::spawn(async move {
            let bytes = tokio::fs::read(&path).await.unwrap();
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(path.file_name().unwrap().to_string_lossy().into_owned())
                .mime_str("image/jpeg")
                .unwrap();
            let form = reqwest::multipart::Form::new().part("file", part);
            let resp = http
                .post(format!("{base}/api/v1/media"))
                .bearer_auth(&token)
                .header("Idempotency-Key", format!("kill-test-{i}"))
                .multipart(form)
                .send()
                .await;
            // Requests the kill cut off have no answer: that is what is being tested.
            if let Ok(resp) = resp {
                let status = resp.status().as_u16();
                if let Ok(body) = resp.json::<Value>().await {
                    answers.lock().unwrap().push((i, status, body));
                }
            }
        }));
    }
    wait_until(
        "some uploads are stored",
        Duration::from_secs(180),
        async || {
            answers
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.1 == 201)
                .count()
                >= 3
        },
    )
    .await;
    server.kill();
    for u in uploads {
        u.await.unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    let stored: Vec<&Value> = answers
        .iter()
        .filter(|a| a.1 == 201)
        .map(|a| &a.2)
        .collect();
    let others: Vec<_> = answers.iter().filter(|a| a.1 != 201).collect();
    assert!(others.is_empty(), "only 201s before the kill: {others:?}");
    assert!(
        answers.len() < 50,
        "every upload was answered before the kill: the kill hit nothing in flight"
    );

    // What a SIGKILL left: upload files of requests cut off mid-body or waiting to be decoded.
    let after_kill = leftovers(&db, &data_dir).await;
    assert!(
        !after_kill.upload_files.is_empty(),
        "the kill left no upload in flight: {after_kill:?}"
    );
    // The instant between a photo's `pending` row and its files being complete is a few
    // milliseconds wide, too narrow to hit reliably with a signal: leave exactly what a kill
    // there leaves — the row, the display written, the thumbnail half-written in the object
    // store's staging file (it writes `<key>#<n>`, then renames).
    let crashed = uuid::Uuid::now_v7();
    let (display_key, thumbnail_key) = phananh::media::store::keys(crashed);
    let owner: uuid::Uuid = db
        .client()
        .await
        .query_one("SELECT id FROM users WHERE role = 'citizen' LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    db.client()
        .await
        .execute(
            "INSERT INTO media (id, owner_id, status, source_format, width, height, bytes, sha256, \
             display_key, display_width, display_height, display_bytes, \
             thumbnail_key, thumbnail_width, thumbnail_height, thumbnail_bytes, expires_at) \
             VALUES ($1, $2, 'pending', 'image/jpeg', 640, 480, 1000, '\\x00', \
             $3, 640, 480, 3, $4, 320, 240, 3, now() + interval '1 day')",
            &[&crashed, &owner, &display_key, &thumbnail_key],
        )
        .await
        .unwrap();
    let store = data_dir.join("media");
    std::fs::create_dir_all(store.join(format!("photos/{crashed}"))).unwrap();
    std::fs::write(store.join(&display_key), [0xFF, 0xD8, 0xFF]).unwrap();
    std::fs::write(store.join(format!("{thumbnail_key}#1")), [0xFF, 0xD8]).unwrap();
    let before = leftovers(&db, &data_dir).await;
    assert!(before.pending_rows >= 1 && before.orphan_files.len() >= 2);

    // Started again on the same database and data directory, sweeping every second.
    let server = Serve::start(&[env[0], env[1], ("PHANANH_MEDIA__SWEEP_INTERVAL_SECS", "1")]);
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let now = leftovers(&db, &data_dir).await;
        if now.clean() || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cleaned_in = restarted.elapsed();
    assert_eq!(last.pending_rows, 0, "rows left pending: {last:?}");
    assert!(
        last.orphan_files.is_empty(),
        "files in the photo store that no ready photo owns: {last:?}"
    );
    assert!(
        last.upload_files.is_empty(),
        "upload files left behind: {last:?}"
    );
    let dir_of_crashed = store.join(format!("photos/{crashed}"));
    assert!(
        !dir_of_crashed.exists(),
        "the crashed photo's directory is gone too"
    );

    // Every photo answered 201 before the kill is still there, whole.
    for body in &stored {
        let url = body["url"]
            .as_str()
            .unwrap()
            .replace(DEFAULT_PUBLIC_URL, &server.base);
        let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert_eq!(resp.headers()["content-type"], "image/jpeg", "{url}");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "{url}");
        assert_eq!(
            &bytes[bytes.len() - 2..],
            &[0xFF, 0xD9],
            "a whole JPEG: {url}"
        );
    }
    let ready: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM media WHERE status = 'ready'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(ready >= stored.len() as i64);
    eprintln!(
        "sigkill mid-upload: {} of 50 answered 201 before the kill; the kill left {} upload \
         files and {} pending rows (plus one planted with a half-written file); \
         clean {:.1} s after the restart; {} ready photos kept",
        stored.len(),
        after_kill.upload_files.len(),
        after_kill.pending_rows,
        cleaned_in.as_secs_f64(),
        ready
    );
}

// ---------------------------------------------------------------------------------------------
// 3. FCM and the IOC answering 500 for a while, two server processes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fcm_and_ioc_down_then_back_every_message_delivered_once_by_two_processes() {
    use crate::fcm::FakeFcm;
    use crate::ioc::{FakeIoc, Mode, pushing_to};

    let fcm = FakeFcm::start().await;
    fcm.seen.lock().unwrap().outage = true;
    let ioc = FakeIoc::start(Mode::Outage).await;
    ioc.set_outage(true);

    let configure = {
        let (key, base, ioc_url) = (fcm.key_file.clone(), fcm.base_url.clone(), ioc.url.clone());
        move |s: &mut phananh::config::Settings| {
            pushing_to(s, &ioc_url);
            s.fcm.credentials = Some(key.clone());
            s.fcm.base_url = base.clone();
        }
    };
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = crate::helpers::spawn_app_with(db, &url, configure.clone()).await;
    // A second process on the same database, with its own outbox worker and IOC scheduler.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&app.db.url, dir.path());
    configure(&mut settings);
    let second = phananh::startup::Application::build(settings)
        .await
        .unwrap();
    let second_handle = second.handle();
    tokio::spawn(second.run_until_stopped());

    // Pushes: a resident and five neighbours following the report, each with a phone; two
    // status changes each reach the six of them.
    let staff = crate::accounts::account_token(&app, "staff", Some("24943-kinh-te")).await;
    let resident = crate::media::citizen(&app).await;
    let report = crate::reports::submit_ok(&app, &resident, &report_body("road", KA_DO)).await;
    let id = report["id"].as_str().unwrap().to_owned();
    let phone = async |token: &str, device: String| {
        let resp = app
            .client
            .post(app.url("/api/v1/me/devices"))
            .bearer_auth(token)
            .json(&json!({"fcm_token": device, "platform": "android"}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    };
    phone(&resident, "resident-phone".into()).await;
    for n in 0..5 {
        let neighbour = crate::media::citizen(&app).await;
        phone(&neighbour, format!("neighbour-phone-{n}")).await;
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/reports/{id}/follow")))
            .bearer_auth(&neighbour)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    for action in ["accept", "start"] {
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/tickets/{id}/transitions")))
            .bearer_auth(&staff)
            .json(&json!({"action": action}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{action}: {:?}", resp.text().await);
    }
    // IOC snapshots: the current period's (queued by both schedulers at start, kept once) and
    // three earlier periods a scheduler catching up would queue.
    let mut ioc_settings = phananh::config::Settings::default();
    pushing_to(&mut ioc_settings, &ioc.url);
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    for periods_ago in 1..=3 {
        let then = chrono::Utc::now() - chrono::Duration::seconds(900 * periods_ago);
        phananh::jobs::ioc_push::run_once(&mut conn, &ioc_settings, then)
            .await
            .unwrap();
    }

    let rows = async || -> Vec<(String, String, String, i32)> {
        app.db
            .client()
            .await
            .query(
                "SELECT id::text, kind::text, status::text, attempts FROM outbox \
                 WHERE kind IN ('push', 'ioc_snapshot') ORDER BY id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    };
    // While down: every message is tried, refused with a 500, and kept for later.
    wait_until(
        "every message has been refused at least twice",
        Duration::from_secs(120),
        async || {
            let r = rows().await;
            r.len() >= 16 && r.iter().all(|m| m.2 == "pending" && m.3 >= 2)
        },
    )
    .await;
    let queued = rows().await;
    assert_eq!(
        queued.iter().filter(|m| m.1 == "push").count(),
        12,
        "two changes × six phones: {queued:?}"
    );
    // The current period's snapshot and three earlier ones (a fifth only if the two processes
    // started on either side of a period boundary: each period then has its own).
    let snapshots = queued.iter().filter(|m| m.1 == "ioc_snapshot").count();
    assert!((4..=5).contains(&snapshots), "{queued:?}");

    // Back up.
    let back = Instant::now();
    fcm.seen.lock().unwrap().outage = false;
    ioc.set_outage(false);
    wait_until(
        "everything is delivered",
        Duration::from_secs(120),
        async || rows().await.iter().all(|m| m.2 == "delivered"),
    )
    .await;
    let drained = back.elapsed();
    // Anything sent twice would arrive within a few polls; give it the time of several.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let final_rows = rows().await;
    assert_eq!(final_rows.len(), queued.len(), "nothing new was queued");
    assert!(
        final_rows.iter().all(|m| m.2 == "delivered"),
        "{final_rows:?}"
    );
    let expected: HashSet<&str> = final_rows.iter().map(|m| m.0.as_str()).collect();

    let (fcm_ok, fcm_refused, violations) = {
        let seen = fcm.seen.lock().unwrap();
        let ok: Vec<String> = seen
            .messages
            .iter()
            .map(|m| m["data"]["message_id"].as_str().unwrap().to_owned())
            .collect();
        (ok, seen.refused, seen.violations.clone())
    };
    assert!(violations.is_empty(), "FCM: {violations:?}");
    assert_eq!(ioc.violations(), Vec::<String>::new(), "IOC");
    let ioc_ok: Vec<String> = ioc
        .attempts()
        .into_iter()
        .filter(|a| a.answered == 200)
        .map(|a| a.delivery)
        .collect();
    let ioc_refused = ioc.attempts().iter().filter(|a| a.answered == 500).count();
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for id in fcm_ok.iter().chain(&ioc_ok) {
        *accepted.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "accepted more than once: {twice:?}");
    let got: HashSet<&str> = accepted.keys().copied().collect();
    assert_eq!(got, expected, "every message accepted, and only those");
    assert!(fcm_refused > 0 && ioc_refused > 0);
    eprintln!(
        "fcm/ioc outage: {} pushes and {} snapshots; {} FCM and {} IOC requests refused with \
         500 while down; all delivered {:.1} s after recovery, each once, by two processes",
        fcm_ok.len(),
        ioc_ok.len(),
        fcm_refused,
        ioc_refused,
        drained.as_secs_f64()
    );
    second_handle.stop(false).await;
}

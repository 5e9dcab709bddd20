//! The binary itself: `areas import`, `seed`, `migrate`, start-up on a fresh machine (local
//! server, private cluster, nothing at all) and shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TestDb, import_areas, phananh_command, shared_data};

async fn area_count(db: &TestDb) -> (i64, i64) {
    let row = db
        .client()
        .await
        .query_one("SELECT count(*), count(boundary) FROM areas", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn importing_the_province_adds_its_communes_and_is_repeatable() {
    let db = TestDb::new().await;
    let file = shared_data("boundaries/lam-dong-communes.geojson");
    let run = || import_areas(&file, &db.url);
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("imported 124 areas") && stdout.contains("120 created, 4 updated"),
        "{stdout}"
    );
    assert_eq!(area_count(&db).await, (124, 124));
    let kinds: Vec<(String, i64)> = db
        .client()
        .await
        .query(
            "SELECT kind::text, count(*) FROM areas GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("commune".into(), 103),
            ("special_zone".into(), 1),
            ("ward".into(), 20)
        ]
    );
    // Again: nothing new, everything updated in place.
    let out = run();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 created, 124 updated"));
    assert_eq!(area_count(&db).await, (124, 124));
}

#[tokio::test]
async fn a_malformed_file_is_refused_and_changes_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(shared_data("boundaries/don-duong-communes.geojson")).unwrap();
    let mut fc: Value = serde_json::from_str(&good).unwrap();
    // Second feature's ring does not close.
    let ring = fc["features"][1]["geometry"]["coordinates"][0][0]
        .as_array_mut()
        .unwrap();
    *ring.last_mut().unwrap() = serde_json::json!([108.5, 11.75]);
    let broken_ring = dir.path().join("broken-ring.geojson");
    std::fs::write(&broken_ring, serde_json::to_vec(&fc).unwrap()).unwrap();
    let truncated = dir.path().join("truncated.geojson");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let not_fc = dir.path().join("point.geojson");
    std::fs::write(
        &not_fc,
        r#"{"type": "Point", "coordinates": [108.5, 11.7]}"#,
    )
    .unwrap();

    for (file, expect) in [
        (&broken_ring, "feature 1 (code 24934)"),
        (&truncated, "not valid JSON"),
        (&not_fc, "not a GeoJSON FeatureCollection"),
        (&dir.path().join("missing.geojson"), "reading"),
    ] {
        let out = import_areas(file, &db.url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{expect}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(stderr.contains(expect), "{expect}: {stderr}");
        assert!(
            stderr.contains("nothing changed") || expect == "reading",
            "{stderr}"
        );
    }
    assert_eq!(area_count(&db).await, (4, 0), "no boundary was written");
}

#[tokio::test]
async fn a_database_failure_mid_import_rolls_back_everything() {
    let db = TestDb::new().await;
    // A trigger that fails on the third area makes the database refuse half-way.
    db.client()
        .await
        .batch_execute(
            "CREATE FUNCTION fail_third() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.code = '24943' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER fail_third BEFORE UPDATE ON areas FOR EACH ROW EXECUTE FUNCTION fail_third();",
        )
        .await
        .unwrap();
    let file = shared_data("boundaries/don-duong-communes.geojson");
    let out = import_areas(&file, &db.url);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing changed"));
    assert_eq!(
        area_count(&db).await,
        (4, 0),
        "the first two updates were rolled back"
    );
}

#[tokio::test]
async fn migrate_and_seed_commands() {
    let db = TestDb::empty().await;
    let out = phananh_command(&["migrate"], &[("DATABASE_URL", &db.url)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total = phananh::db::embedded_migration_versions().len();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("migrations applied: {total}")));
    let out = phananh_command(&["seed"], &[("DATABASE_URL", &db.url)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `migrate` does not seed; `seed` fills the empty catalog:
    // 4 areas + 18 categories + 17 departments + 73 rules.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("112 rows added"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = phananh_command(&["seed"], &[("DATABASE_URL", &db.url)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 rows added"));
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let out = phananh_command(&["serve"], &[("PHANANH_LISTEN", "not-an-address")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid configuration") && stderr.contains("listen"),
        "{stderr}"
    );
    let out = phananh_command(&["serve", "--config", "/nonexistent.toml"], &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn secrets_stay_out_of_the_logs() {
    // A wrong password makes start-up fail, logging what it tried.
    let out = phananh_command(
        &["migrate"],
        &[(
            "DATABASE_URL",
            "postgres://nobody:hunter2-secret@127.0.0.1:1/phananh",
        )],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("hunter2-secret"), "{all}");
}

#[test]
fn with_no_postgresql_at_all_it_says_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let empty_bin = tempfile::tempdir().unwrap();
    let out = phananh_command(
        &["serve"],
        &[
            (
                "PHANANH_DATABASE__LOCAL_URL",
                "postgres://127.0.0.1:1/phananh",
            ),
            (
                "PHANANH_DATABASE__PG_BIN_DIR",
                empty_bin.path().to_str().unwrap(),
            ),
            ("PHANANH_DATA_DIR", data.path().to_str().unwrap()),
            ("PHANANH_LISTEN", "127.0.0.1:0"),
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("postgres://127.0.0.1:1/phananh ("),
        "says why the local server was not used: {stderr}"
    );
    assert!(
        stderr.contains("no PostgreSQL database is available"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DATABASE_URL="),
        "names the first remedy: {stderr}"
    );
    assert!(
        stderr.contains("install the PostgreSQL server"),
        "names the second remedy: {stderr}"
    );
}

/// A running `phananh serve` child, killed if the test fails.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let mut env = env.to_vec();
        env.push(("PHANANH_LISTEN", "127.0.0.1:0"));
        env.push(("PHANANH_HTTP__WORKERS", "1"));
        let mut child = phananh_command(&["serve"], &env)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // The log line `listening` carries the port.
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
        Server { child, port }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}{}", self.port, path);
        // On a thread of its own: callers may be inside a runtime already.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let resp = reqwest::get(url).await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            })
        })
        .join()
        .unwrap()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        // It may already be on its way out (ESRCH): that is fine.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_creates_the_database_on_a_local_server_that_lacks_it() {
    // The harness's server stands in for "PostgreSQL installed on this machine".
    let probe = TestDb::empty().await;
    let mut cfg = probe.server_config().clone();
    let dbname = format!("{}_fresh", probe.name);
    cfg.dbname(&dbname);
    let local_url = phananh::db::locate::to_conn_string(&cfg);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        ("PHANANH_DATABASE__LOCAL_URL", &local_url),
        ("PHANANH_DATA_DIR", data.path().to_str().unwrap()),
    ]);
    assert_eq!(server.get("/readyz").0, 200);
    let (status, body) = server.get("/api/v1/categories");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&body).unwrap().len(), 18);
    assert!(server.terminate().success(), "clean exit on SIGTERM");
    let admin = probe.client().await;
    admin
        .batch_execute(&format!(
            "DROP DATABASE {} WITH (FORCE)",
            phananh::db::locate::quote_ident(&dbname)
        ))
        .await
        .unwrap();
}

#[test]
fn with_no_server_running_it_starts_reuses_and_stops_a_private_cluster() {
    let Some(bin) = phananh::db::embedded::find_server_binaries(None) else {
        panic!("PostgreSQL server binaries are installed on CI machines; none found here");
    };
    let data = tempfile::Builder::new()
        .prefix("phananh-pc")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = [
        (
            "PHANANH_DATABASE__LOCAL_URL",
            "postgres://127.0.0.1:1/phananh",
        ),
        ("PHANANH_DATA_DIR", data.path().to_str().unwrap()),
        ("PHANANH_DATABASE__PG_BIN_DIR", bin.to_str().unwrap()),
    ];
    let pgdata = data.path().join("postgres");

    let first = Instant::now();
    let server = Server::start(&env);
    let first = first.elapsed();
    assert!(
        pgdata.join("PG_VERSION").is_file(),
        "cluster initialised under the data directory"
    );
    assert_eq!(server.get("/readyz").0, 200);
    let (_, areas_before) = server.get("/api/v1/areas");
    let (_, body) = server.get("/api/v1/departments");
    assert_eq!(serde_json::from_str::<Vec<Value>>(&body).unwrap().len(), 17);
    // Unix socket only.
    let conf = std::fs::read_to_string(pgdata.join("phananh.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"));
    assert!(server.terminate().success());
    assert!(
        !pgdata.join("postmaster.pid").exists(),
        "cluster stopped on exit"
    );

    // Second start reuses the cluster and its data.
    let second = Instant::now();
    let server = Server::start(&env);
    let second = second.elapsed();
    let (status, body) = server.get("/api/v1/categories");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&body).unwrap().len(), 18);
    // Same rows (ids are generated at seeding): the data was kept, not seeded afresh.
    let (_, areas_after) = server.get("/api/v1/areas");
    assert_eq!(areas_before, areas_after);
    assert!(server.terminate().success());
    assert!(!pgdata.join("postmaster.pid").exists());
    eprintln!("private cluster: first start {first:?} (initdb), second start {second:?}");
}

/// SIGTERM while a request is in flight: the request completes, then the process exits cleanly.
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let db = TestDb::new().await;
    let locker = db.client().await;
    let server = Server::start(&[("DATABASE_URL", &db.url)]);
    assert_eq!(server.get("/readyz").0, 200);
    // Hold a lock so the next catalog request waits inside the server.
    locker
        .batch_execute("BEGIN; LOCK TABLE categories IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/categories", server.port);
    let in_flight = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let resp = reqwest::get(url).await.unwrap();
            let status = resp.status().as_u16();
            let body: Vec<Value> = resp.json().await.unwrap();
            (status, body.len())
        })
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Still finishing its work: new connections are refused, the old request waits on.
    let refused = std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err();
    locker.batch_execute("COMMIT").await.unwrap();
    let (status, count) = in_flight.join().unwrap();
    assert_eq!(
        (status, count),
        (200, 18),
        "the in-flight request was answered in full"
    );
    assert!(refused, "no new connections after SIGTERM");
    assert!(server.terminate().success(), "clean exit");
}

#[tokio::test]
async fn holidays_suggest_adds_the_years_days_off_and_keeps_what_an_admin_set() {
    let db = TestDb::new().await;
    let client = db.client().await;
    // An admin already decided 2026-02-16 differently: that entry stays.
    client
        .execute(
            "INSERT INTO holidays (day, kind, name) VALUES ('2026-02-16', 'day_off', 'Quyết định của UBND')",
            &[],
        )
        .await
        .unwrap();
    let out = phananh_command(
        &["holidays", "suggest", "2026"],
        &[("DATABASE_URL", &db.url)],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2026-02-17\tTết Nguyên Đán (mùng 1)\tadded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2026-02-16\tTết Nguyên Đán (30 Tết)\tkept"),
        "{stdout}"
    );
    let rows: Vec<(String, String)> = client
        .query(
            "SELECT day::text, name FROM holidays WHERE extract(year FROM day) = 2026 ORDER BY day",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[1].1, "Quyết định của UBND");
    // Giỗ Tổ 2026 is a Sunday (26 April): Monday the 27th is the day off.
    assert!(
        rows.iter()
            .any(|(d, n)| d == "2026-04-27" && n.contains("Giỗ Tổ"))
    );
    // Running it again adds nothing.
    let again = phananh_command(
        &["holidays", "suggest", "2026"],
        &[("DATABASE_URL", &db.url)],
    )
    .output()
    .unwrap();
    assert!(!String::from_utf8_lossy(&again.stdout).contains("\tadded"));
    let bad = phananh_command(&["holidays", "suggest", "12"], &[("DATABASE_URL", &db.url)])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

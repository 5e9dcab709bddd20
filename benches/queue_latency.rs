//! Latency of the staff queue (`GET /api/v1/tickets`) with 100 000 reports in the database.
//!
//! Starts the release binary (`cargo build --release` first) against a fresh database on the
//! local PostgreSQL, loads N synthetic reports in one SQL statement (two years of history over
//! every department, 30% of them in the measured department; mostly closed, the last weeks
//! open, some old ones forgotten and overdue; descriptions from real complaint phrases), signs
//! in a clerk of that department and an admin, then times each kind of queue request
//! sequentially and prints p50/p99 beside `GET /healthz` (the HTTP floor) measured in the same run.
//!
//! `cargo build --release && cargo bench --bench queue_latency` (env: `REPORTS`, default
//! 100000; `SAMPLES`, default 200; `PG_ADMIN_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const LOAD: &str = r#"
WITH d AS (
    SELECT array_agg(id ORDER BY code) AS ids,
           array_agg(coalesce(area_id, (SELECT id FROM areas ORDER BY code LIMIT 1)) ORDER BY code) AS areas,
           count(*)::int AS n
    FROM departments
), target AS (
    SELECT id, area_id FROM departments WHERE code = $2
), c AS (
    SELECT array_agg(id ORDER BY code) AS ids, count(*)::int AS n FROM categories
), phrases AS (
    SELECT ARRAY['Đường liên thôn bị sạt lở', 'Đèn đường không sáng', 'Rác thải tồn đọng ở chợ',
                 'Cống thoát nước bị tắc', 'Ổ gà lớn giữa đường', 'Cây đổ chắn lối đi',
                 'Nước sinh hoạt bị đục', 'Lấn chiếm vỉa hè bán hàng', 'Khói bụi từ lò gạch',
                 'Chó thả rông cắn người', 'Cầu tràn bị nước cuốn', 'Trường học dột mái'] AS p,
           ARRAY['thôn Ka Đô Mới', 'gần chợ Thạnh Mỹ', 'đầu cầu Quảng Lập', 'trước UBND xã',
                 'khu phố 3', 'đường vào hồ Ka Đô'] AS a
), rows AS (
    SELECT g,
           now() - (random() * interval '730 days') AS created,
           random() AS r,
           (g % 10 < 3) AS in_target,
           1 + floor(random() * (SELECT n FROM d))::int AS di,
           1 + floor(random() * (SELECT n FROM c))::int AS ci
    FROM generate_series(1, $1) AS g
)
INSERT INTO reports (id, tracking_code, reporter_id, anonymous, category_id, area_id, department_id,
                     routing_reason, status, description, address, lat, lon, consent_version,
                     consent_at, due_at, ack_due_at, accepted_at, resolved_at, closed_at,
                     created_at, updated_at)
SELECT gen_random_uuid(),
       upper(substr(md5(g::text || 'queue'), 1, 10)),
       NULL, false,
       c.ids[ci],
       CASE WHEN in_target THEN target.area_id ELSE d.areas[di] END,
       CASE WHEN in_target THEN target.id ELSE d.ids[di] END,
       'synthetic',
       s.status,
       phrases.p[1 + g % 12] || ', ' || lower(phrases.p[1 + (g / 12) % 12]),
       phrases.a[1 + g % 6],
       11.70 + random() * 0.1, 108.50 + random() * 0.1,
       '2026-01-01', created,
       created + interval '3 days' + random() * interval '7 days',
       created + interval '1 day',
       CASE WHEN s.status <> 'new' THEN created + interval '5 hours' END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN created + interval '4 days' END,
       CASE WHEN s.status = 'closed' THEN created + interval '11 days' END,
       created, created
FROM rows, d, target, c, phrases,
LATERAL (SELECT CASE
    WHEN created > now() - interval '20 days' THEN
        (ARRAY['new', 'new', 'new', 'accepted', 'accepted', 'in_progress', 'in_progress',
               'in_progress', 'on_hold', 'reopened'])[1 + floor(r * 10)::int]::report_status
    WHEN r < 0.01 THEN 'in_progress'::report_status
    WHEN r < 0.09 THEN 'rejected'::report_status
    WHEN r < 0.13 THEN 'duplicate'::report_status
    ELSE 'closed'::report_status
END AS status) AS s
"#;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let reports: i32 = std::env::var("REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let admin_url = std::env::var("PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/phananh");
    if !binary.exists() {
        eprintln!(
            "{} not found: run `cargo build --release` first",
            binary.display()
        );
        std::process::exit(2);
    }
    let db_name = format!("phananh_queue_bench_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {db_name}"))
        .await
        .unwrap();
    let db_url = admin_url.rsplit_once('/').unwrap().0.to_owned() + "/" + &db_name;

    let data_dir = tempfile::tempdir().unwrap();
    let port = 19_000 + (std::process::id() % 1000) as u16;
    let server = Server(
        Command::new(&binary)
            .arg("serve")
            .env("DATABASE_URL", &db_url)
            .env("PHANANH_LISTEN", format!("127.0.0.1:{port}"))
            .env("PHANANH_DATA_DIR", data_dir.path())
            .env("PHANANH_LOG__FILTER", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (db, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let department = "24943-kinh-te";
    let t0 = Instant::now();
    db.execute(LOAD, &[&reports, &department]).await.unwrap();
    db.batch_execute("ANALYZE reports").await.unwrap();
    let in_dept: i64 = db
        .query_one(
            "SELECT count(*) FROM reports r JOIN departments d ON d.id = r.department_id WHERE d.code = $1",
            &[&department],
        )
        .await
        .unwrap()
        .get(0);
    let open_in_dept: i64 = db
        .query_one(
            "SELECT count(*) FROM reports r JOIN departments d ON d.id = r.department_id \
             WHERE d.code = $1 AND r.status IN ('new','accepted','in_progress','on_hold','reopened')",
            &[&department],
        )
        .await
        .unwrap()
        .get(0);
    eprintln!(
        "loaded {reports} reports in {:.1} s ({in_dept} in {department}, {open_in_dept} of them open)",
        t0.elapsed().as_secs_f64()
    );

    // A clerk of the department and an admin.
    let token = |phone: &'static str, role: &'static str| {
        let http = http.clone();
        let base = base.clone();
        let db = &db;
        async move {
            let password = "núi Langbiang 2026";
            let registered: serde_json::Value = http
                .post(format!("{base}/api/v1/auth/register"))
                .json(&serde_json::json!({"phone": phone, "password": password, "full_name": "Bench"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = registered["user"]["id"].as_str().unwrap().to_owned();
            db.execute(
                "UPDATE users SET role = $2::text::user_role, department_id = \
                 (SELECT id FROM departments WHERE code = $3 AND $2 IN ('staff', 'manager')) WHERE id = $1::text::uuid",
                &[&id, &role, &department],
            )
            .await
            .unwrap();
            let login: serde_json::Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&serde_json::json!({"login": phone, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            login["access_token"].as_str().unwrap().to_owned()
        }
    };
    let clerk = token("0912000222", "staff").await;
    let admin_token = token("0912000333", "admin").await;

    // A second page needs a cursor.
    let first: serde_json::Value = http
        .get(format!("{base}/api/v1/tickets?status=all&sort=-created_at"))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let some_id = first["items"][0]["id"].as_str().unwrap().to_owned();

    let cases: Vec<(&str, String, &str)> = vec![
        ("healthz (HTTP floor)", "/healthz".into(), ""),
        (
            "queue: open, by deadline (default)",
            "/api/v1/tickets".into(),
            "clerk",
        ),
        (
            "queue: overdue=true",
            "/api/v1/tickets?overdue=true".into(),
            "clerk",
        ),
        (
            "queue: all statuses, newest first",
            "/api/v1/tickets?status=all&sort=-created_at".into(),
            "clerk",
        ),
        (
            "queue: all statuses, page 2 (cursor)",
            format!("/api/v1/tickets?status=all&sort=-created_at&cursor={cursor}"),
            "clerk",
        ),
        (
            "queue: q=duong (open)",
            "/api/v1/tickets?q=duong".into(),
            "clerk",
        ),
        (
            "queue: q=den duong, all statuses",
            "/api/v1/tickets?q=den%20duong&status=all".into(),
            "clerk",
        ),
        (
            "queue: category=road, all statuses",
            "/api/v1/tickets?category=road&status=all".into(),
            "clerk",
        ),
        (
            "queue: admin, every department",
            "/api/v1/tickets".into(),
            "admin",
        ),
        (
            "ticket detail",
            format!("/api/v1/tickets/{some_id}"),
            "clerk",
        ),
    ];
    println!(
        "{reports} reports ({in_dept} in the clerk's department, {open_in_dept} open there); {samples} sequential requests each, limit 50"
    );
    println!(
        "{:<40} {:>9} {:>9} {:>7}",
        "request", "p50 ms", "p99 ms", "items"
    );
    for (name, path, who) in cases {
        let auth = match who {
            "clerk" => Some(clerk.as_str()),
            "admin" => Some(admin_token.as_str()),
            _ => None,
        };
        let send = || {
            let mut req = http.get(format!("{base}{path}"));
            if let Some(t) = auth {
                req = req.bearer_auth(t);
            }
            req.send()
        };
        // Warm up the connection pool and caches.
        for _ in 0..5 {
            send().await.unwrap().bytes().await.unwrap();
        }
        let mut times = Vec::with_capacity(samples);
        let mut items = 0;
        for _ in 0..samples {
            let t = Instant::now();
            let resp = send().await.unwrap();
            assert!(resp.status().is_success(), "{name}: {}", resp.status());
            let body = resp.bytes().await.unwrap();
            times.push(t.elapsed());
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                items = v["items"].as_array().map(|a| a.len()).unwrap_or(0);
            }
        }
        times.sort();
        println!(
            "{name:<40} {:>9.2} {:>9.2} {items:>7}",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    drop(server);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .await;
}

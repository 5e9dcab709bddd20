//! Outbox throughput: messages per second the worker delivers to a local sink, with one worker
//! and with two racing on the same table (as two server processes would).
//!
//! Email goes to a real SMTP server (aiosmtpd from PyPI, writing a Maildir) through lettre's
//! pool; push goes to an in-process stand-in for Google's token endpoint and FCM v1 (answers
//! 200 at once), through gcp_auth and reqwest. Each run queues N messages in the outbox with
//! SQL, then times `jobs::outbox::pass` loops until none is pending. A third figure, the sink
//! alone (N pushes posted straight to the stand-in with the same concurrency), shows how much of
//! the time is ours.
//!
//! `cargo bench --bench outbox_throughput` (env: `MESSAGES`, default 2000; `PG_ADMIN_URL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use phananh::config::{Secret, Settings};
use phananh::jobs::outbox::{Deliverers, pass};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn queue(db: &tokio_postgres::Client, kind: &str, n: i32) {
    let payload = match kind {
        "email" => {
            "jsonb_build_object('to', 'nguoi' || g || '@example.vn', 'template', 'bench', \
                    'subject', 'Thư số ' || g, 'text', repeat('Nội dung phản ánh. ', 20))"
        }
        _ => {
            "jsonb_build_object('token', 'device-' || g, 'user_id', gen_random_uuid(), \
              'template', 'status_changed', 'title', 'Phản ánh: Đã tiếp nhận', 'body', 'Giao thông', \
              'title_loc_key', 't', 'body_loc_key', 'b', 'loc_args', jsonb_build_array('x'), \
              'data', jsonb_build_object('report_id', gen_random_uuid()::text, 'status', 'accepted'))"
        }
    };
    db.execute(
        &format!(
            "INSERT INTO outbox (id, kind, payload) SELECT gen_random_uuid(), '{kind}', {payload} \
             FROM generate_series(1, $1) AS g"
        ),
        &[&n],
    )
    .await
    .unwrap();
}

async fn drain(
    pool: &phananh::db::PgPool,
    deliverers: &Deliverers,
    settings: &Settings,
    workers: usize,
    db: &tokio_postgres::Client,
) -> Duration {
    let started = Instant::now();
    let loops = (0..workers).map(|_| async {
        loop {
            let p = pass(pool, deliverers, &settings.outbox, chrono::Utc::now())
                .await
                .unwrap();
            assert_eq!(p.retried + p.dead, 0, "{p:?}");
            if p.claimed == 0 {
                break;
            }
        }
    });
    futures::future::join_all(loops).await;
    let elapsed = started.elapsed();
    let pending: i64 = db
        .query_one("SELECT count(*) FROM outbox WHERE status = 'pending'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);
    elapsed
}

#[tokio::main]
async fn main() {
    let n: i32 = std::env::var("MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let admin_url = std::env::var("PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db_name = format!("phananh_outbox_bench_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {db_name}"))
        .await
        .unwrap();
    let db_url = admin_url.rsplit_once('/').unwrap().0.to_owned() + "/" + &db_name;
    phananh::startup::prepare_database(&db_url).await.unwrap();
    let (db, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut settings = Settings::default();
    settings.database.pool_size = 8;
    let pool = phananh::db::build_pool(&db_url, &settings.database).unwrap();

    // SMTP sink.
    let smtp_port = free_port();
    let maildir = tempfile::tempdir().unwrap();
    let _smtp = Child(
        std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{smtp_port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd (pip install aiosmtpd)"),
    );
    while std::net::TcpStream::connect(("127.0.0.1", smtp_port)).is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settings.smtp.url = Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));

    // Push sink: token endpoint and messages:send, answering at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/token",
                web::post().to(|| async {
                    HttpResponse::Ok().json(
                        json!({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"}),
                    )
                }),
            )
            .route(
                "/v1/projects/{p}/messages:send",
                web::post().to(|| async { HttpResponse::Ok().json(json!({"name": "m"})) }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    let keydir = tempfile::tempdir().unwrap();
    let pem = keydir.path().join("key.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    let key_file = keydir.path().join("sa.json");
    std::fs::write(
        &key_file,
        serde_json::to_vec(&json!({
            "type": "service_account", "project_id": "bench", "private_key_id": "1",
            "private_key": std::fs::read_to_string(&pem).unwrap(),
            "client_email": "bench@bench.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": format!("{base}/token"),
        }))
        .unwrap(),
    )
    .unwrap();
    settings.fcm.credentials = Some(key_file);
    settings.fcm.base_url = base.clone();

    let mailer = phananh::notify::email::Mailer::new(&settings.smtp)
        .unwrap()
        .map(Arc::new);
    let pusher = phananh::notify::push::Pusher::new(&settings.fcm)
        .unwrap()
        .map(Arc::new);
    let email_only = Deliverers {
        mailer,
        pusher: None,
        ioc: None,
    };
    let push_only = Deliverers {
        mailer: None,
        pusher,
        ioc: None,
    };

    println!(
        "{n} messages per run, batch {} delivered concurrently, PostgreSQL on 127.0.0.1",
        settings.outbox.batch_size
    );
    for (kind, deliverers, sink) in [
        ("email", &email_only, "aiosmtpd (Python) → Maildir"),
        ("push", &push_only, "in-process FCM stand-in"),
    ] {
        for workers in [1, 2] {
            queue(&db, kind, n).await;
            let t = drain(&pool, deliverers, &settings, workers, &db).await;
            println!(
                "{kind:<5} {workers} worker(s) → {sink:<30} {:>8.0} messages/s ({:.2} s)",
                f64::from(n) / t.as_secs_f64(),
                t.as_secs_f64()
            );
        }
    }
    // The push sink alone, same concurrency, no database.
    let http = reqwest::Client::new();
    let started = Instant::now();
    let batch = settings.outbox.batch_size as usize;
    let mut sent = 0;
    while sent < n as usize {
        let reqs = (0..batch.min(n as usize - sent)).map(|_| {
            http.post(format!("{base}/v1/projects/bench/messages:send"))
                .bearer_auth("t")
                .json(&json!({"message": {"token": "x"}}))
                .send()
        });
        for r in futures::future::join_all(reqs).await {
            assert!(r.unwrap().status().is_success());
        }
        sent += batch;
    }
    let t = started.elapsed();
    println!(
        "push sink alone (no outbox, no database)              {:>8.0} messages/s ({:.2} s)",
        f64::from(n) / t.as_secs_f64(),
        t.as_secs_f64()
    );
    drop(pool);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .await;
}

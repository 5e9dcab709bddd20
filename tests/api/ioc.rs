//! Statistics snapshots pushed to the IOC through the outbox, against a local stand-in for the
//! IOC's webhook that checks what the real one would: the HMAC-SHA256 signature of the exact
//! body with the shared secret, the delivery id, the content type, and a body with the four
//! keys of api.md. It refuses, fails or accepts as a test asks (the fault tests hold it in an
//! outage of 500s for a while).
//!
//! The period is scheduled by `jobs::ioc_push::run_once`, whose clock is a parameter: tests
//! queue snapshots for periods of their choosing, by one process or several at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::accounts::{account_token, get_with};
use crate::helpers::{TestApp, TestDb, count, spawn_app_with};
use phananh::config::{Secret, Settings};
use phananh::jobs::ioc_push::{Outcome, dedup_key, run_once, slot_start};

const SECRET: &str = "chia-khoa-chung của IOC";

/// How the fake IOC answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 500 to the first two attempts of each delivery, then 200.
    FailTwice,
    /// 400 to everything.
    Refuse,
    /// 500 to everything while [`FakeIoc::set_outage`] holds it down, then 200.
    Outage,
}

#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub delivery: String,
    pub body: Vec<u8>,
    pub answered: u16,
}

#[derive(Default)]
struct Seen {
    attempts: Vec<Attempt>,
    /// What the real IOC would refuse, and why.
    violations: Vec<String>,
}

pub(crate) struct FakeIoc {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    outage: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

struct Shared {
    mode: Mode,
    seen: Arc<Mutex<Seen>>,
    outage: Arc<AtomicBool>,
}

fn header(request: &HttpRequest, name: &str) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The violations in one request, as the IOC would check it.
fn check(request: &HttpRequest, body: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    let signature = header(request, "x-phananh-signature");
    let verified = signature
        .strip_prefix("sha256=")
        .and_then(from_hex)
        .is_some_and(|expected| {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        });
    if !verified {
        problems.push(format!("signature {signature:?} does not verify"));
    }
    let delivery = header(request, "x-phananh-delivery");
    if uuid::Uuid::parse_str(&delivery).is_err() {
        problems.push(format!("delivery id {delivery:?}"));
    }
    let content_type = header(request, "content-type");
    if content_type != "application/json" {
        problems.push(format!("content type {content_type:?}"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => {
            for key in ["generated_at", "period", "summary", "breakdown"] {
                if !o.contains_key(key) {
                    problems.push(format!("no {key} in the body"));
                }
            }
        }
        _ => problems.push("the body is not a JSON object".into()),
    }
    problems
}

async fn receive(
    shared: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut seen = shared.seen.lock().unwrap();
    let problems = check(&request, &body);
    let delivery = header(&request, "x-phananh-delivery");
    let earlier = seen
        .attempts
        .iter()
        .filter(|a| a.delivery == delivery)
        .count();
    let answered = if !problems.is_empty() {
        seen.violations.extend(problems);
        401
    } else {
        match shared.mode {
            Mode::Refuse => 400,
            Mode::FailTwice if earlier < 2 => 500,
            Mode::FailTwice => 200,
            Mode::Outage if shared.outage.load(Ordering::SeqCst) => 500,
            Mode::Outage => 200,
        }
    };
    seen.attempts.push(Attempt {
        delivery,
        body: body.to_vec(),
        answered,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap())
        .body(if answered == 200 { "" } else { "no" })
}

impl FakeIoc {
    pub(crate) async fn start(mode: Mode) -> FakeIoc {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let outage = Arc::new(AtomicBool::new(false));
        let shared = web::Data::new(Shared {
            mode,
            seen: seen.clone(),
            outage: outage.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/hooks/phananh", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeIoc {
            url: format!("http://127.0.0.1:{port}/hooks/phananh"),
            seen,
            outage,
            handle,
        }
    }

    /// In [`Mode::Outage`]: 500 to everything from now on (`true`), or 200 again (`false`).
    pub(crate) fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }

    pub(crate) fn attempts(&self) -> Vec<Attempt> {
        self.seen.lock().unwrap().attempts.clone()
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.seen.lock().unwrap().violations.clone()
    }
}

impl Drop for FakeIoc {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

pub(crate) fn pushing_to(s: &mut Settings, url: &str) {
    s.ioc.push_url = Some(url.to_owned());
    s.ioc.push_secret = Some(Secret::new(SECRET));
    s.outbox.poll_interval_ms = 50;
    s.outbox.retry_base_ms = 100;
    s.outbox.retry_max_ms = 400;
    s.outbox.max_attempts = 1000;
}

async fn app_pushing_to(url: &str) -> TestApp {
    let db = TestDb::new().await;
    let db_url = db.url.clone();
    spawn_app_with(db, &db_url, |s| pushing_to(s, url)).await
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The outbox's IOC messages: (id, status, attempts, dedup_key).
async fn ioc_rows(app: &TestApp) -> Vec<(uuid::Uuid, String, i32, Option<String>)> {
    app.db
        .client()
        .await
        .query(
            "SELECT id, status::text, attempts, dedup_key FROM outbox WHERE kind = 'ioc_snapshot' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

async fn wait_until<F: AsyncFn() -> bool>(what: &str, done: F) {
    for _ in 0..300 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn the_snapshot_is_signed_and_retried_until_the_ioc_accepts_it_once() {
    let ioc = FakeIoc::start(Mode::FailTwice).await;
    let app = app_pushing_to(&ioc.url).await;
    // The scheduler queues the current period's snapshot as the server starts.
    wait_until("the snapshot is delivered", async || {
        ioc_rows(&app).await.iter().any(|r| r.1 == "delivered")
    })
    .await;
    // Nothing more arrives for it once accepted.
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(ioc.violations(), Vec::<String>::new());
    let rows = ioc_rows(&app).await;
    let (id, status, attempts, key) = rows.iter().find(|r| r.1 == "delivered").cloned().unwrap();
    assert_eq!(status, "delivered");
    assert_eq!(attempts, 3, "two 500s, then accepted");
    let key = key.expect("a scheduled snapshot has its period as dedup_key");
    assert!(key.starts_with("ioc_snapshot:"), "{key}");

    let mine: Vec<Attempt> = ioc
        .attempts()
        .into_iter()
        .filter(|a| a.delivery == id.to_string())
        .collect();
    let answers: Vec<u16> = mine.iter().map(|a| a.answered).collect();
    assert_eq!(answers, [500, 500, 200], "delivered exactly once");
    // Every retry is the same message: same delivery id (checked above), same bytes.
    assert!(mine.iter().all(|a| a.body == mine[0].body));
    let body: Value = serde_json::from_slice(&mine[0].body).unwrap();
    assert!(body["generated_at"].is_string(), "{body}");
    // Each accepted delivery was a distinct outbox message (one per period).
    let accepted: Vec<String> = ioc
        .attempts()
        .into_iter()
        .filter(|a| a.answered == 200)
        .map(|a| a.delivery)
        .collect();
    let mut distinct = accepted.clone();
    assert!(!accepted.is_empty());
    distinct.sort();
    distinct.dedup();
    assert_eq!(accepted, distinct);
}

#[tokio::test]
async fn one_snapshot_per_period_however_many_processes_queue_it() {
    let db = TestDb::new().await;
    let mut settings = Settings::default();
    pushing_to(&mut settings, "http://127.0.0.1:9/unused");
    let now = at("2030-03-04T05:06:07Z");
    let slot = slot_start(now, 900);
    assert_eq!(slot, at("2030-03-04T05:00:00Z"));
    let rows = |key: String| {
        let db = &db;
        async move {
            db.client()
                .await
                .query_one("SELECT count(*) FROM outbox WHERE dedup_key = $1", &[&key])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };

    // One process, twice in the period.
    let mut conn = phananh::db::connect(&db.url).await.unwrap();
    let first = run_once(&mut conn, &settings, now).await.unwrap();
    assert!(matches!(first, Some(Outcome::Queued(_))), "{first:?}");
    let again = run_once(&mut conn, &settings, now + chrono::Duration::minutes(8))
        .await
        .unwrap();
    assert_eq!(again, Some(Outcome::AlreadyQueued));
    assert_eq!(rows(dedup_key(slot)).await, 1);

    // The stored body is the snapshot of that moment, as text sent byte for byte on every try.
    let payload: Value = db
        .client()
        .await
        .query_one(
            "SELECT payload FROM outbox WHERE dedup_key = $1",
            &[&dedup_key(slot)],
        )
        .await
        .unwrap()
        .get(0);
    let body: Value = serde_json::from_str(payload["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["generated_at"]
            .as_str()
            .map(|t| DateTime::parse_from_rfc3339(t).unwrap()),
        Some(now.into())
    );

    // Eight processes at once, on the next period: one row.
    let next = now + chrono::Duration::seconds(900);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = db.url.clone();
        let settings = settings.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = phananh::db::connect(&url).await.unwrap();
            run_once(&mut conn, &settings, next).await.unwrap()
        }));
    }
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let queued = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Outcome::Queued(_))))
        .count();
    assert_eq!(queued, 1, "{outcomes:?}");
    assert_eq!(rows(dedup_key(slot_start(next, 900))).await, 1);
    assert_eq!(
        db.client()
            .await
            .query_one(
                "SELECT count(*) FROM outbox WHERE kind = 'ioc_snapshot'",
                &[]
            )
            .await
            .unwrap()
            .get::<_, i64>(0),
        2,
        "one per period"
    );

    // Push off: nothing is scheduled.
    let off = Settings::default();
    let later = next + chrono::Duration::seconds(900);
    assert_eq!(run_once(&mut conn, &off, later).await.unwrap(), None);
    assert_eq!(rows(dedup_key(slot_start(later, 900))).await, 0);
}

#[tokio::test]
async fn two_server_processes_push_one_snapshot_per_period() {
    let ioc = FakeIoc::start(Mode::FailTwice).await;
    let app = app_pushing_to(&ioc.url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&app.db.url, dir.path());
    pushing_to(&mut settings, &ioc.url);
    let second = phananh::startup::Application::build(settings)
        .await
        .unwrap();
    let handle = second.handle();
    tokio::spawn(second.run_until_stopped());

    wait_until("the snapshot is delivered", async || {
        ioc_rows(&app).await.iter().any(|r| r.1 == "delivered")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let rows = ioc_rows(&app).await;
    // Both processes scheduled the current period at start: one message (two only if the test
    // straddled a period boundary, each then with its own key).
    let mut keys: Vec<_> = rows.iter().map(|r| r.3.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), rows.len(), "{rows:?}");
    assert!(rows.len() <= 2, "{rows:?}");
    let accepted = ioc.attempts().iter().filter(|a| a.answered == 200).count();
    let delivered = rows.iter().filter(|r| r.1 == "delivered").count();
    assert_eq!(accepted, delivered, "each message accepted once");
    assert_eq!(ioc.violations(), Vec::<String>::new());
    handle.stop(false).await;
}

#[tokio::test]
async fn a_snapshot_the_ioc_refuses_is_dead_and_shown_to_admins() {
    let ioc = FakeIoc::start(Mode::Refuse).await;
    let app = app_pushing_to(&ioc.url).await;
    let admin = account_token(&app, "admin", None).await;
    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = get_with(
            &app,
            "/api/v1/admin/outbox?status=dead&kind=ioc_snapshot",
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
        if !dead["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{dead}");
    let item = &items[0];
    assert_eq!(item["kind"], "ioc_snapshot");
    assert_eq!(item["attempts"], 1, "a 400 is not retried: {item}");
    assert!(
        item["last_error"].as_str().unwrap().contains("400"),
        "{item}"
    );
    assert_eq!(item["template"], "ioc_snapshot");
    assert_eq!(item["recipient"], ioc.url.as_str());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let attempts = ioc.attempts();
    assert_eq!(attempts.len(), 1, "refused once, not retried");
    assert_eq!(attempts[0].delivery, item["id"].as_str().unwrap());
    assert_eq!(
        ioc.violations(),
        Vec::<String>::new(),
        "signed as it should be"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox WHERE kind = 'ioc_snapshot' AND status = 'pending'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_push_url_without_a_secret_is_refused_at_start() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&url, dir.path());
    settings.ioc.push_url = Some("http://127.0.0.1:9/hook".into());
    let err = match phananh::startup::Application::build(settings).await {
        Ok(_) => panic!("an unsigned push must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("push_secret"), "{err}");
}

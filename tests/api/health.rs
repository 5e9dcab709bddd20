//! /healthz, /readyz and /metrics.

use serde_json::Value;

use crate::helpers::{DbProxy, TestDb, assert_problem, count, spawn_app, spawn_app_with};
use crate::media::citizen;
use crate::reports::{report_body, submit_ok};

#[tokio::test]
async fn healthz_and_readyz_when_all_is_well() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["migrations"],
        phananh::db::embedded_migration_versions().len()
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_schema_is_behind_the_binary() {
    let app = spawn_app().await;
    let latest = phananh::db::embedded_migration_versions()
        .into_iter()
        .max()
        .unwrap();
    app.db
        .client()
        .await
        .execute(
            "DELETE FROM __diesel_schema_migrations WHERE version = $1",
            &[&latest],
        )
        .await
        .unwrap();
    assert_problem(app.get("/readyz").await, 503, "migrations_pending").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_is_503_not_500_when_the_migrations_table_is_gone() {
    let app = spawn_app().await;
    app.db
        .client()
        .await
        .batch_execute("DROP TABLE __diesel_schema_migrations")
        .await
        .unwrap();
    assert_problem(app.get("/readyz").await, 503, "migrations_pending").await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.get("/api/v1/departments?area=24943").await;
    }
    app.get("/no/such/path").await;
    let odd = app
        .client
        .request(
            reqwest::Method::from_bytes(b"FOOBARMETHOD").unwrap(),
            app.url("/healthz"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 405);
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("phananh_http_requests_total")
                && l.contains("route=\"/api/v1/departments\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no departments counter in:\n{text}"));
    // Counters are per process and tests share one: at least our three.
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
    assert!(text.contains("phananh_http_request_duration_seconds_bucket"));
    assert!(text.contains("phananh_db_pool_connections"));
    // Raw paths and made-up methods never become labels.
    assert!(!text.contains("/no/such/path"));
    assert!(!text.contains("FOOBARMETHOD") && text.contains("method=\"other\""));
}

/// The value of the sample `series` (name and labels, exactly) in a Prometheus text body.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_reports_by_state_and_the_outbox_depth_from_the_database() {
    let app = spawn_app().await;
    let before = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        sample(&before, "phananh_reports{status=\"new\"}"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(sample(&before, "phananh_metrics_database_up"), Some(1.0));

    let resident = citizen(&app).await;
    submit_ok(&app, &resident, &report_body("road", (11.7394, 108.5884))).await;
    // A dead push (no FCM in this process, so the worker leaves the outbox alone).
    app.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO outbox (id, kind, payload, status) VALUES (gen_random_uuid(), 'push', '{}', 'dead')",
        )
        .await
        .unwrap();
    let pending_email = count(
        &app,
        "SELECT count(*) FROM outbox WHERE kind = 'email' AND status = 'pending'",
    )
    .await;

    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(
        sample(&text, "phananh_reports{status=\"new\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "phananh_reports{status=\"resolved\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "phananh_outbox_depth{kind=\"push\",status=\"dead\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "phananh_outbox_depth{kind=\"email\",status=\"pending\"}"
        ),
        Some(pending_email as f64)
    );
    assert_eq!(
        sample(
            &text,
            "phananh_outbox_depth{kind=\"ioc_snapshot\",status=\"pending\"}"
        ),
        Some(0.0)
    );
    assert!(text.contains("# TYPE phananh_reports gauge"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("phananh_http_requests_total")
                && l.contains("route=\"/api/v1/reports\"")
                && l.contains("method=\"POST\"")
                && l.contains("status=\"201\"")),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_answer_without_the_database_gauges_when_the_database_is_down() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start(db.server_config()).await;
    let via_proxy = proxy.conn_string(db.server_config(), &db.name);
    let app = spawn_app_with(db, &via_proxy, |_| {}).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        sample(&text, "phananh_reports{status=\"new\"}").is_some(),
        "{text}"
    );

    proxy.cut();
    let started = std::time::Instant::now();
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(
        sample(&text, "phananh_metrics_database_up"),
        Some(0.0),
        "{text}"
    );
    assert!(!text.contains("phananh_reports{"), "{text}");
    assert!(!text.contains("phananh_outbox_depth{"), "{text}");
    assert!(text.contains("phananh_http_requests_total"));

    proxy.restore();
    let mut back = String::new();
    for _ in 0..50 {
        back = app.get("/metrics").await.text().await.unwrap();
        if sample(&back, "phananh_metrics_database_up") == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        sample(&back, "phananh_reports{status=\"new\"}"),
        Some(0.0),
        "{back}"
    );
}

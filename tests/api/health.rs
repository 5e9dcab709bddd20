//! /healthz and /readyz.

use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

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

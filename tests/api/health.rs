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

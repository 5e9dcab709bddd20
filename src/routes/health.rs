//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can do useful work —
//! the database is reachable and its schema is what this binary expects).

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready`
    pub status: &'static str,
    /// Number of schema migrations this binary knows (all applied).
    pub migrations: usize,
}

/// Liveness: answers 200 while the process runs, whatever the state of its dependencies.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthResponse))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: 200 when the database answers and every migration is applied; 503 otherwise.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyResponse),
        (status = 503, description = "Database unreachable (`database_unavailable`) or schema behind (`migrations_pending`)",
         body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    crate::db::ping(&mut conn).await?;
    if !crate::db::migrations_current(&mut conn).await? {
        return Err(ApiError::new(ErrorCode::MigrationsPending));
    }
    Ok(HttpResponse::Ok().json(ReadyResponse {
        status: "ready",
        migrations: crate::db::embedded_migration_versions().len(),
    }))
}

/// Prometheus metrics (text exposition format): request counts and latencies per route, and the
/// database pool's state.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let status = state.pool.status();
    ::metrics::gauge!("phananh_db_pool_connections").set(status.size as f64);
    ::metrics::gauge!("phananh_db_pool_available").set(status.available as f64);
    ::metrics::gauge!("phananh_db_pool_waiting").set(status.waiting as f64);
    let body = crate::telemetry::metrics()
        .map(|h| h.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can do useful work —
//! the database is reachable and its schema is what this binary expects).

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::account::{OutboxKind, OutboxStatus};
use crate::domain::report::ReportStatus;
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

/// Prometheus metrics (text exposition format): request counts and latencies per route, the
/// database pool's state, and, read from the database at each scrape, the outbox's depth
/// (`phananh_outbox_depth{kind, status}`: messages pending or dead) and reports by state
/// (`phananh_reports{status}`). When the database does not answer quickly, those are left out
/// and `phananh_metrics_database_up` is 0; the response is still 200.
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
    let mut body = crate::telemetry::metrics()
        .map(|h| h.render())
        .unwrap_or_default();
    // Written into this response rather than into the process-wide recorder: a value the
    // database did not give this time is absent, never a stale one from an earlier scrape.
    let gauges = database_gauges(&state).await;
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&render_database_gauges(gauges.as_ref()));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// What a scrape reads from the database.
pub struct DatabaseGauges {
    pub outbox: Vec<(OutboxKind, OutboxStatus, i64)>,
    pub reports: Vec<(ReportStatus, i64)>,
}

/// A scrape waits at most this long for the database.
const SCRAPE_DB_BUDGET: Duration = Duration::from_secs(2);

async fn database_gauges(state: &AppState) -> Option<DatabaseGauges> {
    let read = async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            // Both reads are index lookups; should either ever be slow, the scrape is not.
            diesel::sql_query("SET LOCAL statement_timeout = 1000")
                .execute(conn)
                .await?;
            Ok(DatabaseGauges {
                outbox: crate::db::outbox::depth(conn).await?,
                reports: crate::db::reports::totals_by_status(conn).await?,
            })
        })
        .await
        .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(SCRAPE_DB_BUDGET, read).await {
        Ok(Ok(gauges)) => Some(gauges),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: database gauges left out of this scrape");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: database too slow; its gauges are left out of this scrape");
            None
        }
    }
}

fn outbox_status_label(status: OutboxStatus) -> &'static str {
    match status {
        OutboxStatus::Pending => "pending",
        OutboxStatus::Delivered => "delivered",
        OutboxStatus::Dead => "dead",
    }
}

/// The gauges in Prometheus text format. Every kind and state appears, zero included, so a
/// series does not vanish when its queue empties.
pub fn render_database_gauges(gauges: Option<&DatabaseGauges>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP phananh_metrics_database_up Whether this scrape could read the database gauges."
    );
    let _ = writeln!(out, "# TYPE phananh_metrics_database_up gauge");
    let _ = writeln!(
        out,
        "phananh_metrics_database_up {}",
        u8::from(gauges.is_some())
    );
    let Some(g) = gauges else {
        return out;
    };
    let _ = writeln!(
        out,
        "# HELP phananh_outbox_depth Outbox messages not delivered: pending (still to deliver) or dead (set aside, an admin may retry)."
    );
    let _ = writeln!(out, "# TYPE phananh_outbox_depth gauge");
    for kind in [OutboxKind::Email, OutboxKind::Push, OutboxKind::IocSnapshot] {
        for status in [OutboxStatus::Pending, OutboxStatus::Dead] {
            let n: i64 = g
                .outbox
                .iter()
                .filter(|(k, s, _)| *k == kind && *s == status)
                .map(|(_, _, n)| n)
                .sum();
            let _ = writeln!(
                out,
                "phananh_outbox_depth{{kind=\"{}\",status=\"{}\"}} {n}",
                crate::db::outbox::kind_label(kind),
                outbox_status_label(status)
            );
        }
    }
    let _ = writeln!(out, "# HELP phananh_reports Reports by current state.");
    let _ = writeln!(out, "# TYPE phananh_reports gauge");
    for status in ReportStatus::ALL {
        let n: i64 = g
            .reports
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(out, "phananh_reports{{status=\"{}\"}} {n}", status.as_str());
    }
    out
}

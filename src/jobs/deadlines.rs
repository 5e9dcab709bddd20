//! Time-driven changes to reports: deadlines that passed are marked (`overdue`), reports not
//! acknowledged in time are marked (`ack_overdue`), and resolved reports nobody reopened close
//! themselves (`close`). Each mark is a timeline event written in the same transaction, which is
//! what notifications hang on.
//!
//! Safe with several server processes on one database: every pass claims its rows with
//! `FOR UPDATE SKIP LOCKED` and marks them in the same statement, so a report is marked once,
//! by whichever process got it, and a pass never waits on a row a clerk is changing. The clock
//! is a parameter, so tests (and an operator replaying a missed night) choose the time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::config::Settings;
use crate::db;
use crate::db::report_events::ReportEvent;
use crate::db::reports::Marked;
use crate::domain::report::ReportStatus;
use crate::startup::AppState;

/// Reports per transaction: short locks, bounded memory.
const BATCH: i64 = 200;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub overdue: usize,
    pub ack_overdue: usize,
    pub closed: usize,
}

pub async fn run(state: Arc<AppState>) {
    let period = Duration::from_secs(state.settings.reports.deadline_check_interval_secs.max(1));
    loop {
        match state.pool.get().await {
            Ok(mut conn) => match run_once(&mut conn, &state.settings, Utc::now()).await {
                Ok(pass) if pass != Pass::default() => {
                    tracing::info!(
                        overdue = pass.overdue,
                        ack_overdue = pass.ack_overdue,
                        closed = pass.closed,
                        "deadline pass"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deadline pass failed; retrying later"),
            },
            Err(e) => tracing::warn!(error = %e, "deadline pass: no database connection"),
        }
        tokio::time::sleep(period).await;
    }
}

/// Marks and closes everything due at `now`, in batches, until nothing is left.
pub async fn run_once(
    conn: &mut AsyncPgConnection,
    all: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<Pass> {
    let settings = &all.reports;
    let mut pass = Pass::default();
    let resolved_before = now - chrono::Duration::days(i64::from(settings.auto_close_days));
    pass.overdue = drain(conn, Kind::Overdue, now, resolved_before, all).await?;
    pass.ack_overdue = drain(conn, Kind::AckOverdue, now, resolved_before, all).await?;
    pass.closed = drain(conn, Kind::Close, now, resolved_before, all).await?;
    metrics::counter!("phananh_reports_marked_overdue_total").increment(pass.overdue as u64);
    metrics::counter!("phananh_reports_marked_ack_overdue_total")
        .increment(pass.ack_overdue as u64);
    metrics::counter!("phananh_reports_auto_closed_total").increment(pass.closed as u64);
    Ok(pass)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Overdue,
    AckOverdue,
    Close,
}

/// Runs batches of `kind`, each in its own transaction, until one comes back short.
async fn drain(
    conn: &mut AsyncPgConnection,
    kind: Kind,
    now: DateTime<Utc>,
    resolved_before: DateTime<Utc>,
    settings: &Settings,
) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n = conn
            .transaction::<usize, diesel::result::Error, _>(async |c| {
                let (rows, action, note) = match kind {
                    Kind::Overdue => (
                        db::reports::mark_overdue(c, now, BATCH).await?,
                        "overdue",
                        None,
                    ),
                    Kind::AckOverdue => (
                        db::reports::mark_ack_overdue(c, now, BATCH).await?,
                        "ack_overdue",
                        None,
                    ),
                    Kind::Close => (
                        db::reports::close_resolved(c, now, resolved_before, BATCH).await?,
                        "close",
                        Some(format!(
                            "Tự động đóng sau {} ngày không có yêu cầu mở lại",
                            settings.reports.auto_close_days
                        )),
                    ),
                };
                record(c, &rows, action, note.as_deref(), now).await?;
                if kind == Kind::Close {
                    for row in &rows {
                        crate::notify::enqueue::status_changed(
                            c,
                            row.id,
                            ReportStatus::Closed,
                            None,
                        )
                        .await?;
                    }
                }
                if kind == Kind::Overdue {
                    // The department and its managers hear of it, in this transaction.
                    for row in &rows {
                        crate::notify::enqueue::ticket_overdue(c, &settings.public_url, row.id)
                            .await?;
                    }
                }
                Ok(rows.len())
            })
            .await?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}

/// One system event per marked report. A close moves `resolved → closed`; the marks keep the
/// status (from = to).
async fn record(
    conn: &mut AsyncPgConnection,
    rows: &[Marked],
    action: &str,
    public_note: Option<&str>,
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let events: Vec<ReportEvent> = rows
        .iter()
        .map(|m| ReportEvent {
            id: Uuid::now_v7(),
            report_id: m.id,
            area_id: m.area_id,
            actor_id: None,
            actor_role: None,
            action: action.to_owned(),
            from_status: Some(if action == "close" {
                ReportStatus::Resolved
            } else {
                m.status
            }),
            to_status: m.status,
            public_note: public_note.map(str::to_owned),
            internal_note: None,
            created_at: now,
            details: None,
        })
        .collect();
    db::report_events::insert_many(conn, &events).await
}

//! The 07:30 digest: staff who chose `email_mode = digest` get one email a working day with their
//! department's open queue instead of an email per event. Safe with several processes: the
//! `(user, day)` row in `digest_runs` is inserted in the same transaction as the email, so a
//! second process racing for the same person waits on it, then finds it taken.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::config::Settings;
use crate::db;
use crate::db::schema::{digest_runs, users};
use crate::domain::account::{OutboxKind, Role, UserStatus};
use crate::domain::calendar::vietnam;
use crate::domain::report::ReportStatus;
use crate::notify::templates::{self, DigestLine};
use crate::startup::AppState;

/// Local time of the digest.
pub fn send_at() -> NaiveTime {
    NaiveTime::from_hms_opt(7, 30, 0).unwrap_or_default()
}

/// Items listed in one digest (the rest are counted).
const LINES: i64 = 30;

pub async fn run(state: Arc<AppState>) {
    loop {
        match state.pool.get().await {
            Ok(mut conn) => match run_once(&mut conn, &state.settings, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(digests = n, "daily digests queued"),
                Err(e) => tracing::warn!(error = %e, "digest pass failed; retrying later"),
            },
            Err(e) => tracing::warn!(error = %e, "digest pass: no database connection"),
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// Queues today's digest for everyone who chose it and has not had it, if `now` is past 07:30
/// of a working day in Vietnam. Returns how many were queued.
pub async fn run_once(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let local = now.with_timezone(&vietnam());
    if local.time() < send_at() {
        return Ok(0);
    }
    let day = local.date_naive();
    // Nobody works the queue on a weekend or a holiday: no digest then (make-up Saturdays
    // included, as the calendar says).
    if !db::holidays::load_calendar(conn).await?.is_working_day(day) {
        return Ok(0);
    }
    let people: Vec<(Uuid, Option<String>, Option<Uuid>)> = users::table
        .filter(users::email_mode.eq("digest"))
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::role.eq_any([Role::Staff, Role::Manager]))
        .filter(users::email.is_not_null())
        .filter(users::department_id.is_not_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(
            digest_runs::table
                .filter(digest_runs::user_id.eq(users::id))
                .filter(digest_runs::day.eq(day)),
        )))
        .select((users::id, users::email, users::department_id))
        .load(conn)
        .await?;
    let mut queued = 0;
    for (user, email, department) in people {
        let (Some(email), Some(department)) = (email, department) else {
            continue;
        };
        let sent = conn
            .transaction::<bool, anyhow::Error, _>(async |c| {
                let claimed = diesel::insert_into(digest_runs::table)
                    .values((digest_runs::user_id.eq(user), digest_runs::day.eq(day)))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
                if claimed == 0 {
                    return Ok(false);
                }
                let payload = digest_for(c, settings, &email, department, now).await?;
                let id = db::outbox::enqueue(c, OutboxKind::Email, &payload).await?;
                diesel::update(digest_runs::table.find((user, day)))
                    .set(digest_runs::outbox_id.eq(id))
                    .execute(c)
                    .await?;
                Ok(true)
            })
            .await?;
        queued += usize::from(sent);
    }
    Ok(queued)
}

async fn digest_for(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    to: &str,
    department: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    let name = db::departments::find(conn, department)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    let filter = db::reports::TicketFilter {
        department: Some(department),
        statuses: ReportStatus::OPEN.to_vec(),
        overdue: None,
        now,
        assignee: None,
        category: None,
        area: None,
        search: Vec::new(),
    };
    let rows =
        db::reports::list_tickets(conn, &filter, db::reports::TicketSort::DueAt, None, LINES)
            .await?;
    let (open, overdue) = db::reports::open_and_overdue(conn, department, now).await?;
    let lines: Vec<DigestLine> = rows
        .iter()
        .map(|r| DigestLine {
            tracking_code: r.report.tracking_code.clone(),
            category: r.category_name_vi.clone(),
            status: r.report.status.name_vi().to_owned(),
            due_at: r.report.due_at,
            overdue: r.report.is_overdue(now),
        })
        .collect();
    let email = templates::digest(to, &name, open, overdue, &lines, &settings.public_url);
    Ok(serde_json::to_value(email)?)
}

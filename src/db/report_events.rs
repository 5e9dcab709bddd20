//! `report_events`: a report's timeline, one row per change.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{categories, report_events, reports};
use crate::domain::account::Role;
use crate::domain::report::ReportStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_events, check_for_backend(diesel::pg::Pg))]
pub struct ReportEvent {
    pub id: Uuid,
    pub report_id: Uuid,
    pub area_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<Role>,
    pub action: String,
    pub from_status: Option<ReportStatus>,
    pub to_status: ReportStatus,
    pub public_note: Option<String>,
    pub internal_note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// [`EventDetails`] as JSON.
    pub details: Option<serde_json::Value>,
}

/// What an event carried besides its status change (stored as `details`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventDetails {
    /// Transfer: where it came from and where it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_department: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_department: Option<Uuid>,
    /// Extension: the deadline before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_after: Option<DateTime<Utc>>,
    /// Mark as duplicate: the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
    /// Assignment: the new assignee (`None` with `unassigned` for a cleared one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Uuid>,
    /// Moderation, `edit_description`: the public description before and after (staff only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Moderation, `redact`: which photo, and how (`blurred` or `removed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<String>,
}

/// Timeline events of moderation (`hide`, `unhide`, `edit_description`, `redact`): internal,
/// shown to the handling staff and admins only, never in a public timeline.
pub const MODERATION_ACTIONS: [&str; 4] = ["hide", "unhide", "edit_description", "redact"];

/// Whether an event is moderation's (internal to staff).
pub fn is_moderation(action: &str) -> bool {
    MODERATION_ACTIONS.contains(&action)
}

impl EventDetails {
    pub fn to_json(&self) -> Option<serde_json::Value> {
        (self != &EventDetails::default())
            .then(|| serde_json::to_value(self).ok())
            .flatten()
    }

    /// Unreadable details (written by a newer version) read as none rather than failing a page.
    pub fn from_json(value: Option<&serde_json::Value>) -> EventDetails {
        value
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

pub async fn insert(conn: &mut AsyncPgConnection, event: &ReportEvent) -> QueryResult<()> {
    diesel::insert_into(report_events::table)
        .values(event)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_many(conn: &mut AsyncPgConnection, events: &[ReportEvent]) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    diesel::insert_into(report_events::table)
        .values(events)
        .execute(conn)
        .await?;
    Ok(())
}

/// The whole timeline, oldest first.
pub async fn for_report(
    conn: &mut AsyncPgConnection,
    report: Uuid,
) -> QueryResult<Vec<ReportEvent>> {
    report_events::table
        .filter(report_events::report_id.eq(report))
        .order((report_events::created_at, report_events::id))
        .select(ReportEvent::as_select())
        .load(conn)
        .await
}

/// The timelines of these reports, each oldest first.
pub async fn for_reports(
    conn: &mut AsyncPgConnection,
    reports: &[Uuid],
) -> QueryResult<Vec<ReportEvent>> {
    report_events::table
        .filter(report_events::report_id.eq_any(reports))
        .order((
            report_events::report_id,
            report_events::created_at,
            report_events::id,
        ))
        .select(ReportEvent::as_select())
        .load(conn)
        .await
}

/// The latest public note of each of these reports.
pub async fn latest_public_notes(
    conn: &mut AsyncPgConnection,
    reports: &[Uuid],
) -> QueryResult<std::collections::HashMap<Uuid, String>> {
    let rows: Vec<(Uuid, Option<String>)> = report_events::table
        .filter(report_events::report_id.eq_any(reports))
        .filter(report_events::public_note.is_not_null())
        .distinct_on(report_events::report_id)
        .order((
            report_events::report_id,
            report_events::created_at.desc(),
            report_events::id.desc(),
        ))
        .select((report_events::report_id, report_events::public_note))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, note)| note.map(|n| (id, n)))
        .collect())
}

/// Timeline events of public reports (public categories, not hidden) between two times, oldest first, a
/// page by offset; the `created` events left out (they are the requests themselves). Open311
/// `servicerequestupdates`.
pub async fn public_between(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<ReportEvent>> {
    report_events::table
        .inner_join(reports::table.inner_join(categories::table))
        .filter(categories::public.eq(true))
        .filter(reports::hidden_at.is_null())
        .filter(report_events::action.ne("created"))
        .filter(report_events::action.ne_all(MODERATION_ACTIONS))
        // What the public can follow: a change of state, of department or deadline, or a note.
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "(report_events.public_note IS NOT NULL \
              OR report_events.from_status IS DISTINCT FROM report_events.to_status \
              OR report_events.action IN ('transfer', 'extend'))",
        ))
        .filter(report_events::created_at.ge(from))
        .filter(report_events::created_at.le(to))
        .order((report_events::created_at, report_events::id))
        .offset(offset)
        .limit(limit)
        .select(ReportEvent::as_select())
        .load(conn)
        .await
}

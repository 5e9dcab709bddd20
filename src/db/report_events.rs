//! `report_events`: a report's timeline, one row per change.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::report_events;
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
}

pub async fn insert(conn: &mut AsyncPgConnection, event: &ReportEvent) -> QueryResult<()> {
    diesel::insert_into(report_events::table)
        .values(event)
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

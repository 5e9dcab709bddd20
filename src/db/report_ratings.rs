//! `report_ratings`: the reporter's verdict on a resolution, one per resolution.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::report_ratings;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_ratings, check_for_backend(diesel::pg::Pg))]
pub struct Rating {
    pub report_id: Uuid,
    /// The report's reopen count when rated: which resolution this judges.
    pub cycle: i32,
    pub user_id: Option<Uuid>,
    pub score: i16,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Stores the rating unless this resolution was rated already; returns whether it was stored.
pub async fn insert(conn: &mut AsyncPgConnection, rating: &Rating) -> QueryResult<bool> {
    let n = diesel::insert_into(report_ratings::table)
        .values(rating)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Every rating of a report, oldest first.
pub async fn for_report(conn: &mut AsyncPgConnection, report: Uuid) -> QueryResult<Vec<Rating>> {
    report_ratings::table
        .filter(report_ratings::report_id.eq(report))
        .order(report_ratings::cycle)
        .select(Rating::as_select())
        .load(conn)
        .await
}

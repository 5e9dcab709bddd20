//! `report_followers`: residents who said "me too" and follow a report's updates.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::report_followers;

/// Adds a follower; returns whether they were not following already (and the count changes).
pub async fn follow(conn: &mut AsyncPgConnection, report: Uuid, user: Uuid) -> QueryResult<bool> {
    let n = diesel::insert_into(report_followers::table)
        .values((
            report_followers::report_id.eq(report),
            report_followers::user_id.eq(user),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Removes a follower; returns whether they were following.
pub async fn unfollow(conn: &mut AsyncPgConnection, report: Uuid, user: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(
        report_followers::table
            .filter(report_followers::report_id.eq(report))
            .filter(report_followers::user_id.eq(user)),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Everyone following a report.
pub async fn followers(conn: &mut AsyncPgConnection, report: Uuid) -> QueryResult<Vec<Uuid>> {
    report_followers::table
        .filter(report_followers::report_id.eq(report))
        .select(report_followers::user_id)
        .load(conn)
        .await
}

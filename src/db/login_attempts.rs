//! `login_attempts`: the per-identifier brake on password guessing.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Double, Integer, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::login_attempts;

#[derive(Debug, PartialEq)]
pub enum Attempt {
    /// Go ahead and check the password.
    Allowed,
    /// Too many failures: wait until then.
    Locked { until: DateTime<Utc> },
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Integer)]
    failures: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

/// Counts an attempt for `key` before its password is checked. Failures older than `window_secs`
/// (or from before an expired lock) are forgotten; the attempt after `max_failures` locks for
/// `lock_secs`.
pub async fn begin(
    conn: &mut AsyncPgConnection,
    key: &[u8],
    max_failures: i32,
    window_secs: f64,
    lock_secs: f64,
) -> QueryResult<Attempt> {
    let row: Row = diesel::sql_query(
        "INSERT INTO login_attempts AS a (login_key, failures, window_start) VALUES ($1, 1, now())
         ON CONFLICT (login_key) DO UPDATE SET
           failures = CASE WHEN a.window_start < now() - make_interval(secs => $3)
                            OR a.locked_until <= now() THEN 1 ELSE a.failures + 1 END,
           window_start = CASE WHEN a.window_start < now() - make_interval(secs => $3)
                                OR a.locked_until <= now() THEN now() ELSE a.window_start END,
           locked_until = CASE WHEN a.window_start < now() - make_interval(secs => $3)
                                OR a.locked_until <= now() THEN NULL
                               WHEN a.failures + 1 > $2 THEN coalesce(a.locked_until, now() + make_interval(secs => $4))
                               ELSE a.locked_until END
         RETURNING failures, locked_until",
    )
    .bind::<Bytea, _>(key)
    .bind::<Integer, _>(max_failures)
    .bind::<Double, _>(window_secs)
    .bind::<Double, _>(lock_secs)
    .get_result(conn)
    .await?;
    Ok(match row.locked_until {
        Some(until) if row.failures > max_failures => Attempt::Locked { until },
        _ => Attempt::Allowed,
    })
}

/// The right password: forget the failures.
pub async fn succeeded(conn: &mut AsyncPgConnection, key: &[u8]) -> QueryResult<()> {
    diesel::delete(login_attempts::table.find(key))
        .execute(conn)
        .await
        .map(|_| ())
}

//! `outbox`: messages leaving the process, written in the transaction of their cause and
//! delivered by the worker (`jobs::outbox`). A message is claimed with a lease: its
//! `next_attempt_at` moves `lease` into the future in the claiming statement, so another process
//! sees it only if this one dies before settling it. Delivery is therefore at least once, and
//! every message carries its id for receivers to drop repeats.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::outbox;
use crate::domain::account::{OutboxKind, OutboxStatus};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxMessage {
    pub id: Uuid,
    pub kind: OutboxKind,
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    kind: OutboxKind,
    payload: &serde_json::Value,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id),
            outbox::kind.eq(kind),
            outbox::payload.eq(payload),
        ))
        .execute(conn)
        .await?;
    metrics::counter!("phananh_outbox_queued_total", "kind" => kind_label(kind)).increment(1);
    Ok(id)
}

pub fn kind_label(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::Email => "email",
        OutboxKind::Push => "push",
        OutboxKind::IocSnapshot => "ioc_snapshot",
    }
}

/// Claims up to `limit` due messages of these kinds for `lease`: counts the attempt and moves
/// `next_attempt_at` past the lease, in one statement, skipping rows another claim holds.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    kinds: &[OutboxKind],
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> QueryResult<Vec<OutboxMessage>> {
    use diesel::sql_types::{Array, BigInt, Timestamptz};
    diesel::sql_query(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2 WHERE id IN (\
            SELECT id FROM outbox \
            WHERE status = 'pending' AND next_attempt_at <= $1 AND kind = ANY($3) \
            ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING *",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + lease)
    .bind::<Array<super::schema::sql_types::OutboxKind>, _>(kinds.to_vec())
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Marks a claim's delivered messages, in one statement; returns how many were still this
/// claim's to settle.
///
/// This and the settles below apply only to the claim they belong to: the row must still be
/// pending with the lease this claim set (`lease_end`). A worker that hung past its lease,
/// while another process claimed the message again, then changes nothing.
pub async fn mark_delivered_many(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    lease_end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::status.eq(OutboxStatus::Pending))
            .filter(outbox::next_attempt_at.eq(lease_end)),
    )
    .set((
        outbox::status.eq(OutboxStatus::Delivered),
        outbox::delivered_at.eq(now),
        outbox::last_error.eq(None::<String>),
    ))
    .execute(conn)
    .await
}

type Claimed = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<outbox::table, diesel::dsl::Eq<outbox::id, Uuid>>,
        diesel::dsl::Eq<outbox::status, OutboxStatus>,
    >,
    diesel::dsl::Eq<outbox::next_attempt_at, DateTime<Utc>>,
>;

fn claimed(id: Uuid, lease_end: DateTime<Utc>) -> Claimed {
    outbox::table
        .filter(outbox::id.eq(id))
        .filter(outbox::status.eq(OutboxStatus::Pending))
        .filter(outbox::next_attempt_at.eq(lease_end))
}

/// Another attempt at `at`.
pub async fn schedule_retry(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lease_end: DateTime<Utc>,
    at: DateTime<Utc>,
    error: &str,
) -> QueryResult<bool> {
    diesel::update(claimed(id, lease_end))
        .set((outbox::next_attempt_at.eq(at), outbox::last_error.eq(error)))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

pub async fn mark_dead(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lease_end: DateTime<Utc>,
    error: &str,
) -> QueryResult<bool> {
    diesel::update(claimed(id, lease_end))
        .set((
            outbox::status.eq(OutboxStatus::Dead),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// A dead message back in the queue, due now, with a fresh count of attempts. `false` when it
/// is not dead (delivered, or still pending).
pub async fn revive(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::status.eq(OutboxStatus::Dead)),
    )
    .set((
        outbox::status.eq(OutboxStatus::Pending),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<OutboxMessage>> {
    outbox::table
        .find(id)
        .select(OutboxMessage::as_select())
        .first(conn)
        .await
        .optional()
}

/// Newest first, after `cursor` (the last row's id: ids are time-ordered).
pub async fn list(
    conn: &mut AsyncPgConnection,
    status: Option<OutboxStatus>,
    kind: Option<OutboxKind>,
    cursor: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<OutboxMessage>> {
    let mut q = outbox::table.into_boxed();
    if let Some(s) = status {
        q = q.filter(outbox::status.eq(s));
    }
    if let Some(k) = kind {
        q = q.filter(outbox::kind.eq(k));
    }
    if let Some(c) = cursor {
        q = q.filter(outbox::id.lt(c));
    }
    q.order(outbox::id.desc())
        .limit(limit)
        .select(OutboxMessage::as_select())
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct Depth {
    #[diesel(sql_type = super::schema::sql_types::OutboxKind)]
    kind: OutboxKind,
    #[diesel(sql_type = super::schema::sql_types::OutboxStatus)]
    status: OutboxStatus,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Messages not delivered — still to deliver, or dead — by kind and state (the depth a
/// dashboard watches). The condition is literal SQL so that every plan, generic or not, can read
/// only the undelivered rows through the partial index `outbox_undelivered`.
pub async fn depth(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(OutboxKind, OutboxStatus, i64)>> {
    let rows: Vec<Depth> = diesel::sql_query(
        "SELECT kind, status, count(*) AS n FROM outbox WHERE status <> 'delivered' \
         GROUP BY kind, status",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|d| (d.kind, d.status, d.n)).collect())
}

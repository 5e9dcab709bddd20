//! The scheduled IOC snapshot (api.md, "Statistics (IOC)"): when `ioc.push_url` is set, one
//! snapshot per period of `ioc.push_interval_secs`, queued in the outbox and delivered (signed,
//! retried until accepted) by the outbox worker through `notify::ioc`.
//!
//! Every `serve` process runs this job, and still one snapshot is queued per period: periods are
//! aligned to the epoch, so all processes agree on the current one, and its message carries the
//! period as `dedup_key`, unique in the outbox. A process skips the period when its row exists,
//! and while another process holds the period's advisory lock (it is building the snapshot);
//! if both get as far as the insert, `ON CONFLICT DO NOTHING` keeps one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::config::Settings;
use crate::db::outbox::kind_label;
use crate::domain::account::OutboxKind;
use crate::error::ApiError;
use crate::notify::ioc::IocPayload;
use crate::startup::AppState;

/// Start of the period `now` falls in: `floor(now / interval) · interval` since the epoch.
pub fn slot_start(now: DateTime<Utc>, interval_secs: u64) -> DateTime<Utc> {
    let interval = interval_secs.clamp(1, i64::MAX as u64) as i64;
    let start = now.timestamp().div_euclid(interval) * interval;
    Utc.timestamp_opt(start, 0).single().unwrap_or(now)
}

/// The outbox `dedup_key` of the snapshot of the period starting at `slot`.
pub fn dedup_key(slot: DateTime<Utc>) -> String {
    format!(
        "ioc_snapshot:{}",
        slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// What [`run_once`] did for the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This call queued the period's snapshot (its outbox id).
    Queued(Uuid),
    /// The period's snapshot was already queued, or is being queued by another process.
    AlreadyQueued,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

async fn slot_is_queued(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<bool> {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM outbox WHERE dedup_key = $1) AS flag")
        .bind::<Text, _>(key)
        .get_result::<Flag>(conn)
        .await
        .map(|f| f.flag)
}

/// Queues the snapshot of the period `now` falls in, unless it is queued already. Does nothing
/// (returns `None`) when `ioc.push_url` is unset.
pub async fn run_once(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, ApiError> {
    let Some(url) = settings.ioc.push_url.clone() else {
        return Ok(None);
    };
    let slot = slot_start(now, settings.ioc.push_interval_secs);
    let key = dedup_key(slot);
    // The common case, every tick of every process but one: the period is done. No snapshot is
    // computed for it.
    if slot_is_queued(conn, &key).await? {
        return Ok(Some(Outcome::AlreadyQueued));
    }
    let outcome = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // Held to the end of this transaction: the other processes skip instead of
            // computing the same snapshot.
            let locked = diesel::sql_query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS flag",
            )
            .bind::<Text, _>(&key)
            .get_result::<Flag>(conn)
            .await?
            .flag;
            if !locked || slot_is_queued(conn, &key).await? {
                return Ok(Outcome::AlreadyQueued);
            }
            let snapshot = crate::routes::stats::snapshot(conn, settings, now).await?;
            let payload = IocPayload {
                template: kind_label(OutboxKind::IocSnapshot).into(),
                to: url,
                slot: slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                body: serde_json::to_string(&snapshot).map_err(ApiError::internal)?,
            };
            let payload = serde_json::to_value(&payload).map_err(ApiError::internal)?;
            let inserted = diesel::sql_query(
                "INSERT INTO outbox (id, kind, payload, dedup_key) \
                 VALUES ($1, 'ioc_snapshot', $2, $3) \
                 ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING \
                 RETURNING id",
            )
            .bind::<SqlUuid, _>(Uuid::now_v7())
            .bind::<Jsonb, _>(payload)
            .bind::<Text, _>(&key)
            .get_result::<Id>(conn)
            .await
            .optional()?;
            Ok(match inserted {
                Some(row) => Outcome::Queued(row.id),
                None => Outcome::AlreadyQueued,
            })
        })
        .await?;
    if let Outcome::Queued(id) = outcome {
        metrics::counter!("phananh_outbox_queued_total", "kind" => kind_label(OutboxKind::IocSnapshot))
            .increment(1);
        tracing::info!(message = %id, slot = %slot, "IOC snapshot queued");
    }
    Ok(Some(outcome))
}

/// Queues a snapshot for the current period at start, then at the start of each next one.
/// Spawned only when `ioc.push_url` is set.
pub async fn run(state: Arc<AppState>) {
    let interval = state.settings.ioc.push_interval_secs.max(1);
    loop {
        let now = Utc::now();
        let result = match state.pool.get().await {
            Ok(mut conn) => run_once(&mut conn, &state.settings, now).await.map(|_| ()),
            Err(e) => Err(ApiError::from(e)),
        };
        let next = slot_start(now, interval) + chrono::Duration::seconds(interval as i64);
        let mut wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if let Err(e) = result {
            // The period still needs its snapshot: try again soon, within it.
            tracing::warn!(error = %e, "cannot queue the IOC snapshot; retrying");
            wait = wait.min(Duration::from_secs(30));
        }
        // A little past the boundary, so a clock slightly behind the database's still lands in
        // the new period.
        tokio::time::sleep(wait + Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_aligned_to_the_epoch() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            slot_start(at("2026-12-01T08:14:59+07:00"), 900),
            at("2026-12-01T01:00:00Z")
        );
        assert_eq!(
            slot_start(at("2026-12-01T08:15:00+07:00"), 900),
            at("2026-12-01T01:15:00Z")
        );
        assert_eq!(
            dedup_key(slot_start(at("2026-12-01T01:29:30Z"), 900)),
            "ioc_snapshot:2026-12-01T01:15:00Z"
        );
        assert_eq!(
            slot_start(at("2026-12-01T01:29:30.75Z"), 1),
            at("2026-12-01T01:29:30Z")
        );
        // Before the epoch, still the floor.
        assert_eq!(
            slot_start(at("1969-12-31T23:59:59Z"), 60),
            at("1969-12-31T23:59:00Z")
        );
    }
}

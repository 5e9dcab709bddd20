//! Retention (product.md, "Privacy and trust"; Law 91/2025/QH15): personal data is kept no longer
//! than the purpose needs. When a report has been finished (closed, rejected, duplicate) for
//! `retention.months`, who reported it is erased — the link to their account, a partner's
//! contact record, follows and ratings' authorship — while the report itself stays for the
//! district's record and statistics. The unredacted originals of moderated photos are deleted at
//! the same point: only the public (blurred) renditions remain.
//!
//! Safe with several server processes: each batch is claimed with `FOR UPDATE SKIP LOCKED`, so
//! two processes never work on the same report, and a report is done exactly once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Months, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::config::Settings;
use crate::db;
use crate::db::schema::{media, report_contacts, report_followers, report_ratings, reports};
use crate::media::store::PhotoStore;
use crate::startup::AppState;

/// Reports per transaction: short locks, and an audit line per batch.
const BATCH: i64 = 200;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionPass {
    /// Reports whose reporter was erased.
    pub reports_anonymised: usize,
    /// Moderated photos whose unredacted originals were deleted.
    pub originals_deleted: usize,
}

pub async fn run(state: Arc<AppState>) {
    let period = Duration::from_secs(state.settings.retention.interval_secs.max(1));
    loop {
        match state.pool.get().await {
            Ok(mut conn) => {
                match purge_expired(&mut conn, Utc::now()).await {
                    Ok(p) if p == Purged::default() => {}
                    Ok(p) => tracing::info!(
                        sessions = p.sessions,
                        password_resets = p.password_resets,
                        messages = p.messages,
                        "retention: expired sign-in records and old messages purged"
                    ),
                    Err(e) => tracing::warn!(error = %e, "retention purge failed; retrying later"),
                }
                match run_once(&mut conn, &state.photos, &state.settings, Utc::now()).await {
                    Ok(p) if p == RetentionPass::default() => {}
                    Ok(p) => tracing::info!(
                        reports_anonymised = p.reports_anonymised,
                        originals_deleted = p.originals_deleted,
                        "retention: personal data past its period erased"
                    ),
                    Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying later"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention: no database connection; retrying later")
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// Rows that only served a moment and are kept no longer: what [`purge_expired`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub sessions: usize,
    pub password_resets: usize,
    pub messages: usize,
}

/// Sessions ended (expired or revoked) more than 30 days ago, with their refresh tokens; reset
/// tokens expired more than a day ago; emails and pushes delivered more than 90 days ago (their
/// payloads hold addresses, names and device tokens). Dead messages stay for an admin to retry,
/// and IOC snapshots for their de-duplication. Idempotent; safe with several processes.
pub async fn purge_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> QueryResult<Purged> {
    use crate::db::schema::{outbox, password_resets, sessions};
    use crate::domain::account::{OutboxKind, OutboxStatus};
    let month_ago = now - chrono::Duration::days(30);
    let sessions = diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .lt(month_ago)
                .or(sessions::revoked_at.lt(month_ago)),
        ),
    )
    .execute(conn)
    .await?;
    let password_resets = diesel::delete(
        password_resets::table
            .filter(password_resets::expires_at.lt(now - chrono::Duration::days(1))),
    )
    .execute(conn)
    .await?;
    let messages = diesel::delete(
        outbox::table
            .filter(outbox::status.eq(OutboxStatus::Delivered))
            .filter(outbox::kind.eq_any([OutboxKind::Email, OutboxKind::Push]))
            .filter(outbox::delivered_at.lt(now - chrono::Duration::days(90))),
    )
    .execute(conn)
    .await?;
    Ok(Purged {
        sessions,
        password_resets,
        messages,
    })
}

/// When data of reports finished before this moment is due for erasure.
pub fn cutoff(settings: &Settings, now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(settings.retention.months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Everything due at `now`, in batches, until nothing is left. `now` is a parameter so that
/// tests can run the job years ahead.
pub async fn run_once(
    conn: &mut AsyncPgConnection,
    photos: &PhotoStore,
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<RetentionPass> {
    let before = cutoff(settings, now);
    let mut pass = RetentionPass::default();
    loop {
        let n = conn
            .transaction::<usize, diesel::result::Error, _>(async |c| {
                anonymise_batch(c, before, now).await
            })
            .await?;
        pass.reports_anonymised += n;
        if n < BATCH as usize {
            break;
        }
    }
    loop {
        let (done, tried) = conn
            .transaction::<(usize, usize), anyhow::Error, _>(async |c| {
                delete_originals_batch(c, photos, before, now).await
            })
            .await?;
        pass.originals_deleted += done;
        // A batch of nothing but failures would only repeat itself: next pass.
        if tried < BATCH as usize || done == 0 {
            break;
        }
    }
    if pass.reports_anonymised > 0 {
        metrics::counter!("phananh_retention_reports_anonymised_total")
            .increment(pass.reports_anonymised as u64);
    }
    Ok(pass)
}

async fn anonymise_batch(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let ids: Vec<Uuid> = reports::table
        .filter(reports::contact_erased_at.is_null())
        .filter(reports::finished_at.lt(before))
        .order(reports::finished_at)
        .limit(BATCH)
        .select(reports::id)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    // The reporter's own steps on the timeline (submitting, reopening — whatever their role),
    // and any resident's; staff actions stay signed. Then the text a moderator took out of a
    // description, kept until now for the staff.
    diesel::sql_query(
        "UPDATE report_events e SET actor_id = NULL FROM reports r \
         WHERE e.report_id = r.id AND r.id = ANY($1) AND e.actor_id IS NOT NULL \
           AND (e.actor_id = r.reporter_id OR e.actor_role = 'citizen')",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&ids)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE report_events SET details = details - 'before' - 'after' \
         WHERE report_id = ANY($1) AND action = 'edit_description' AND details IS NOT NULL",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&ids)
    .execute(conn)
    .await?;
    // Push messages sent about these reports name a person's device.
    let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    diesel::sql_query(
        "DELETE FROM outbox WHERE kind = 'push' AND status <> 'pending' \
         AND payload -> 'data' ->> 'report_id' = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&texts)
    .execute(conn)
    .await?;
    diesel::update(reports::table.filter(reports::id.eq_any(&ids)))
        .set((
            reports::reporter_id.eq(None::<Uuid>),
            reports::contact_erased_at.eq(now),
        ))
        .execute(conn)
        .await?;
    let contacts =
        diesel::delete(report_contacts::table.filter(report_contacts::report_id.eq_any(&ids)))
            .execute(conn)
            .await?;
    diesel::delete(report_followers::table.filter(report_followers::report_id.eq_any(&ids)))
        .execute(conn)
        .await?;
    diesel::update(report_ratings::table.filter(report_ratings::report_id.eq_any(&ids)))
        .set(report_ratings::user_id.eq(None::<Uuid>))
        .execute(conn)
        .await?;
    diesel::update(media::table.filter(media::report_id.eq_any(&ids)))
        .set(media::owner_id.eq(None::<Uuid>))
        .execute(conn)
        .await?;
    db::audit::record(
        conn,
        db::audit::Change {
            actor: db::audit::Actor::System,
            action: "retention.anonymise",
            entity_type: "retention",
            entity_id: None,
            report_id: None,
            subject_user_id: None,
            before: None,
            after: Some(serde_json::json!({
                "finished_before": before,
                "reports": ids,
                "partner_contacts_deleted": contacts,
            })),
        },
    )
    .await?;
    Ok(ids.len())
}

/// Returns (deleted, tried).
async fn delete_originals_batch(
    conn: &mut AsyncPgConnection,
    photos: &PhotoStore,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize)> {
    let finished = reports::table
        .filter(reports::finished_at.lt(before))
        .select(reports::id.nullable());
    let rows: Vec<(Uuid, Option<String>, Option<String>)> = media::table
        .filter(media::report_id.eq_any(finished))
        .filter(
            media::original_display_key
                .is_not_null()
                .or(media::original_thumbnail_key.is_not_null()),
        )
        .order(media::id)
        .limit(BATCH)
        .select((
            media::id,
            media::original_display_key,
            media::original_thumbnail_key,
        ))
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    let mut deleted = Vec::new();
    for (id, display, thumbnail) in &rows {
        // Files first: if a delete fails the keys stay, and a later pass tries again.
        let files = async {
            for key in [display, thumbnail].into_iter().flatten() {
                photos.delete(key).await?;
            }
            Ok::<_, crate::media::store::StoreError>(())
        };
        match files.await {
            Ok(()) => deleted.push(*id),
            Err(e) => {
                tracing::warn!(media = %id, error = %e, "retention: cannot delete a photo original; will retry");
            }
        }
    }
    if !deleted.is_empty() {
        diesel::update(media::table.filter(media::id.eq_any(&deleted)))
            .set((
                media::original_display_key.eq(None::<String>),
                media::original_thumbnail_key.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        db::audit::record(
            conn,
            db::audit::Change {
                actor: db::audit::Actor::System,
                action: "retention.delete_originals",
                entity_type: "retention",
                entity_id: None,
                report_id: None,
                subject_user_id: None,
                before: None,
                after: Some(serde_json::json!({
                    "finished_before": before,
                    "at": now,
                    "media": deleted,
                })),
            },
        )
        .await?;
    }
    Ok((deleted.len(), rows.len()))
}

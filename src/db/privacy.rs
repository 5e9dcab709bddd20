//! A resident's rights over their data (Personal Data Protection Law 91/2025/QH15): what the
//! export gathers beyond the reports themselves, and the erasure behind `DELETE /me`. Every table
//! that can hold a person's data, or a link to them, is named here, so that a new one is noticed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::schema::{
    devices, digest_runs, idempotency_keys, login_attempts, media, outbox, password_resets,
    report_events, report_followers, report_ratings, reports, sessions,
};
use crate::domain::account::{DevicePlatform, OutboxKind};

#[derive(Debug, Serialize, Queryable, ToSchema)]
pub struct ExportedRating {
    pub report_id: Uuid,
    /// Which resolution of the report it judged (its reopen count then).
    pub cycle: i32,
    pub score: i16,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Queryable, ToSchema)]
pub struct ExportedFollow {
    pub report_id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Queryable, ToSchema)]
pub struct ExportedDevice {
    pub platform: DevicePlatform,
    /// The push registration token of the app install.
    pub fcm_token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Queryable, ToSchema)]
pub struct ExportedSession {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Something the person did on a report's timeline (reopening with a reason, rating, …).
#[derive(Debug, Serialize, Queryable, ToSchema)]
pub struct ExportedAction {
    pub report_id: Uuid,
    pub action: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn ratings_by(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<ExportedRating>> {
    report_ratings::table
        .filter(report_ratings::user_id.eq(user))
        .order(report_ratings::created_at)
        .select((
            report_ratings::report_id,
            report_ratings::cycle,
            report_ratings::score,
            report_ratings::comment,
            report_ratings::created_at,
        ))
        .load(conn)
        .await
}

pub async fn follows_by(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<ExportedFollow>> {
    report_followers::table
        .filter(report_followers::user_id.eq(user))
        .order(report_followers::created_at)
        .select((report_followers::report_id, report_followers::created_at))
        .load(conn)
        .await
}

pub async fn devices_of(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<ExportedDevice>> {
    devices::table
        .filter(devices::user_id.eq(user))
        .order(devices::created_at)
        .select((
            devices::platform,
            devices::fcm_token,
            devices::created_at,
            devices::updated_at,
        ))
        .load(conn)
        .await
}

pub async fn sessions_of(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<ExportedSession>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .order(sessions::created_at)
        .select((
            sessions::id,
            sessions::created_at,
            sessions::last_used_at,
            sessions::expires_at,
            sessions::revoked_at,
        ))
        .load(conn)
        .await
}

pub async fn actions_by(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<ExportedAction>> {
    report_events::table
        .filter(report_events::actor_id.eq(user))
        .order(report_events::created_at)
        .select((
            report_events::report_id,
            report_events::action,
            report_events::public_note,
            report_events::created_at,
        ))
        .load(conn)
        .await
}

/// Photos uploaded but not (yet) attached to a report.
pub async fn loose_media_of(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<super::media::Media>> {
    media::table
        .filter(media::owner_id.eq(user))
        .filter(media::report_id.is_null())
        .filter(media::status.eq(super::enums::MediaStatus::Ready))
        .order(media::created_at)
        .select(super::media::Media::as_select())
        .load(conn)
        .await
}

/// What an erasure touched, for the log.
#[derive(Debug, Default, Serialize)]
pub struct Erased {
    pub reports_unlinked: usize,
    pub ratings_unlinked: usize,
    pub follows_removed: usize,
    pub timeline_actions_unlinked: usize,
    pub photos_unlinked: usize,
    pub messages_dropped: usize,
}

/// Cuts every link between a person and what they contributed, and drops what only concerned
/// them. Their reports, ratings and timeline actions stay — the district's record and its
/// statistics need them — with no way back to who made them. `email` and `phone` are the
/// account's values before the account row itself is anonymised (by the caller, in the same
/// transaction).
pub async fn erase_links(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    email: Option<&str>,
    phone: Option<&str>,
) -> QueryResult<Erased> {
    // Their steps on the timeline: everything on their own reports (submitting, reopening —
    // whatever their role), and anything done as a resident elsewhere. What a civil servant did
    // on other people's tickets is an official act and stays attributed (to an account with no
    // name or contact left).
    let own_reports = reports::table
        .filter(reports::reporter_id.eq(user))
        .select(reports::id);
    let timeline_actions_unlinked = diesel::update(
        report_events::table
            .filter(report_events::actor_id.eq(user))
            .filter(
                report_events::actor_role
                    .eq(crate::domain::account::Role::Citizen)
                    .or(report_events::report_id.eq_any(own_reports)),
            ),
    )
    .set(report_events::actor_id.eq(None::<Uuid>))
    .execute(conn)
    .await?;
    // `contact_erased_at` is left to the retention job, which still has work on these reports
    // later (other residents' follows, a moderated photo's original).
    let mut erased = Erased {
        reports_unlinked: diesel::update(reports::table.filter(reports::reporter_id.eq(user)))
            .set(reports::reporter_id.eq(None::<Uuid>))
            .execute(conn)
            .await?,
        timeline_actions_unlinked,
        ..Erased::default()
    };
    erased.ratings_unlinked =
        diesel::update(report_ratings::table.filter(report_ratings::user_id.eq(user)))
            .set(report_ratings::user_id.eq(None::<Uuid>))
            .execute(conn)
            .await?;
    // The support they gave stays counted in follower_count; who gave it does not.
    erased.follows_removed =
        diesel::delete(report_followers::table.filter(report_followers::user_id.eq(user)))
            .execute(conn)
            .await?;
    erased.photos_unlinked = diesel::update(media::table.filter(media::owner_id.eq(user)))
        .set(media::owner_id.eq(None::<Uuid>))
        .execute(conn)
        .await?;
    // Messages to them, sent or not: their address, name and devices are in the payloads.
    let mut dropped = diesel::delete(
        outbox::table
            .filter(outbox::kind.eq(OutboxKind::Push))
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Text>("payload->>'user_id'")
                    .eq(user.to_string()),
            ),
    )
    .execute(conn)
    .await?;
    if let Some(email) = email {
        dropped += diesel::delete(
            outbox::table
                .filter(outbox::kind.eq(OutboxKind::Email))
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Text>("lower(payload->>'to')")
                        .eq(email.to_lowercase()),
                ),
        )
        .execute(conn)
        .await?;
    }
    erased.messages_dropped = dropped;
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::owner_id.eq(user)))
        .execute(conn)
        .await?;
    diesel::delete(digest_runs::table.filter(digest_runs::user_id.eq(user)))
        .execute(conn)
        .await?;
    diesel::delete(password_resets::table.filter(password_resets::user_id.eq(user)))
        .execute(conn)
        .await?;
    diesel::delete(devices::table.filter(devices::user_id.eq(user)))
        .execute(conn)
        .await?;
    // The sign-in brake is keyed by a hash of the login: forget theirs.
    let keys: Vec<Vec<u8>> = [phone, email.map(str::to_lowercase).as_deref()]
        .into_iter()
        .flatten()
        .map(|login| crate::auth::tokens::hash_token(&format!("login:{login}")))
        .collect();
    if !keys.is_empty() {
        diesel::delete(login_attempts::table.filter(login_attempts::login_key.eq_any(keys)))
            .execute(conn)
            .await?;
    }
    Ok(erased)
}

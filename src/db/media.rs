//! `media`: uploaded photos. A row is inserted `pending` before its files are written and marked
//! `ready` after, so the sweeper can always find what a crash left behind.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::enums::MediaStatus;
use super::schema::media;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = media, check_for_backend(diesel::pg::Pg))]
pub struct Media {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub report_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub status: MediaStatus,
    pub source_format: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub sha256: Vec<u8>,
    pub display_key: String,
    pub display_width: i32,
    pub display_height: i32,
    pub display_bytes: i64,
    pub thumbnail_key: String,
    pub thumbnail_width: i32,
    pub thumbnail_height: i32,
    pub thumbnail_bytes: i64,
    pub idempotency_key: Option<String>,
    pub position: i16,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Attached by staff to an event (an "after" photo), not one of the reporter's.
    pub from_staff: bool,
    /// Moderation: `blurred` (the public renditions are a blurred copy) or `removed` (no public
    /// rendition); `None` for an unredacted photo.
    pub redaction: Option<String>,
    pub redacted_at: Option<DateTime<Utc>>,
    pub redacted_by: Option<Uuid>,
    /// The unredacted renditions of a redacted photo, for staff.
    pub original_display_key: Option<String>,
    pub original_thumbnail_key: Option<String>,
}

/// `media.redaction` values.
pub const BLURRED: &str = "blurred";
pub const REMOVED: &str = "removed";

impl Media {
    /// Withdrawn from the public by moderation: in no public list, no public rendition.
    pub fn is_removed(&self) -> bool {
        self.redaction.as_deref() == Some(REMOVED)
    }

    /// The unredacted display rendition (the display itself while unredacted).
    pub fn original_display(&self) -> &str {
        self.original_display_key
            .as_deref()
            .unwrap_or(&self.display_key)
    }

    /// The unredacted thumbnail (the thumbnail itself while unredacted).
    pub fn original_thumbnail(&self) -> &str {
        self.original_thumbnail_key
            .as_deref()
            .unwrap_or(&self.thumbnail_key)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = media)]
pub struct NewMedia<'a> {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub status: MediaStatus,
    pub source_format: &'a str,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub sha256: &'a [u8],
    pub display_key: &'a str,
    pub display_width: i32,
    pub display_height: i32,
    pub display_bytes: i64,
    pub thumbnail_key: &'a str,
    pub thumbnail_width: i32,
    pub thumbnail_height: i32,
    pub thumbnail_bytes: i64,
    pub idempotency_key: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

/// Inserts the pending row; `false` when the owner already used this idempotency key.
pub async fn insert_pending(conn: &mut AsyncPgConnection, new: &NewMedia<'_>) -> QueryResult<bool> {
    let n = diesel::insert_into(media::table)
        .values(new)
        .on_conflict((media::owner_id, media::idempotency_key))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Locks a pending row for writing its files; `false` when it is no longer there (swept).
pub async fn lock_pending(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    media::table
        .filter(media::id.eq(id))
        .filter(media::status.eq(MediaStatus::Pending))
        .select(media::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|row| row.is_some())
}

pub async fn mark_ready(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(media::table.find(id))
        .set(media::status.eq(MediaStatus::Ready))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Media>> {
    media::table
        .find(id)
        .select(Media::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_key(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    key: &str,
) -> QueryResult<Option<Media>> {
    media::table
        .filter(media::owner_id.eq(owner))
        .filter(media::idempotency_key.eq(key))
        .select(Media::as_select())
        .first(conn)
        .await
        .optional()
}

/// A moderation of a photo's public renditions: the new public keys (a blurred copy; `None`
/// leaves them, as removing does: a removed photo has no public rendition at all), the kept
/// originals and who did it.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = media)]
pub struct Redaction<'a> {
    pub redaction: &'a str,
    pub redacted_at: DateTime<Utc>,
    pub redacted_by: Uuid,
    pub display_key: Option<&'a str>,
    pub display_bytes: Option<i64>,
    pub thumbnail_key: Option<&'a str>,
    pub thumbnail_bytes: Option<i64>,
    pub original_display_key: &'a str,
    pub original_thumbnail_key: &'a str,
}

pub async fn redact(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &Redaction<'_>,
) -> QueryResult<()> {
    diesel::update(media::table.find(id))
        .set(change)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks the given photos for attaching them to a report in this transaction.
pub async fn lock_for_attach(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<Media>> {
    media::table
        .filter(media::id.eq_any(ids))
        .select(Media::as_select())
        .for_update()
        .load(conn)
        .await
}

pub async fn attach(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    report: Uuid,
    event: Uuid,
    position: i16,
    from_staff: bool,
) -> QueryResult<()> {
    diesel::update(media::table.find(id))
        .set((
            media::report_id.eq(report),
            media::event_id.eq(event),
            media::position.eq(position),
            media::from_staff.eq(from_staff),
            media::expires_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The ready photos of these reports, in order.
pub async fn for_reports(
    conn: &mut AsyncPgConnection,
    report_ids: &[Uuid],
) -> QueryResult<Vec<Media>> {
    media::table
        .filter(media::report_id.eq_any(report_ids))
        .filter(media::status.eq(MediaStatus::Ready))
        .order((media::report_id, media::position, media::id))
        .select(Media::as_select())
        .load(conn)
        .await
}

/// Rows the sweeper removes: unattached past their expiry (or with none: their report was
/// deleted), or pending and not locked. An upload holds its pending row's lock while it writes
/// the files (`routes::media::store_photo`), so a pending row nobody locks was left by an upload
/// that died between the row and its files (its process killed, its connection gone): it can go
/// at once, rather than after an hour, and one still being written is never touched.
pub async fn sweepable(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Media>> {
    media::table
        .filter(
            media::report_id
                .is_null()
                .and(media::status.eq(MediaStatus::Ready))
                .and(media::expires_at.lt(now).or(media::expires_at.is_null()))
                .or(media::status.eq(MediaStatus::Pending)),
        )
        .order(media::created_at)
        .limit(limit)
        .select(Media::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// Deletes the row if no report took it; true when it did.
pub async fn delete_if_unattached(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(
        media::table
            .filter(media::id.eq(id))
            .filter(media::report_id.is_null()),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Removes a row still `pending` (an upload abandoned half-way); `false` if it is no longer
/// pending or is locked by someone finishing or sweeping it.
pub async fn delete_if_pending(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(
        media::table
            .filter(media::id.eq(id))
            .filter(media::status.eq(MediaStatus::Pending)),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(media::table.find(id)).execute(conn).await?;
    Ok(())
}

/// The ready photos attached to these events, in order.
pub async fn for_events(
    conn: &mut AsyncPgConnection,
    event_ids: &[Uuid],
) -> QueryResult<Vec<Media>> {
    media::table
        .filter(media::event_id.eq_any(event_ids))
        .filter(media::status.eq(MediaStatus::Ready))
        .order((media::event_id, media::position, media::id))
        .select(Media::as_select())
        .load(conn)
        .await
}

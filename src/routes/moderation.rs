//! Moderation of what the public sees of a ticket (product.md, "Privacy and trust"): the handling
//! department's staff, its managers and admins can hide a report from the public (and show it
//! again), replace its public description (the original stays in an internal timeline event),
//! and redact a photo — its public renditions blurred or withdrawn, the unredacted image kept for
//! staff as the rendition `original.jpg`. Each change is one transaction with its internal
//! timeline event and its audit row; a photo's new files are written before it and deleted again
//! if it fails.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::media::{media_urls_of, original_url};
use super::reports::field;
use super::tickets::{Change, commit, detail, detail_response, find_in_scope};
use crate::auth::{AuthUser, AuthenticatedJson, StaffRoles};
use crate::db;
use crate::db::audit;
use crate::db::enums::MediaStatus;
use crate::db::media::{BLURRED, Media, REMOVED};
use crate::db::report_events::EventDetails;
use crate::db::reports::{Report, ReportChange, ReportWithNames};
use crate::domain::report::{Description, Note, TextError};
use crate::error::{ApiError, ErrorCode};
use crate::media::pipeline::{self, PhotoLimits};
use crate::startup::AppState;

/// The longest reason for hiding a report (the `reports.hidden_reason` column's limit).
const HIDE_REASON_MAX_CHARS: usize = 1000;

// ---------------------------------------------------------------------------------------------
// Shapes

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// Why the public may not see it (staff only), 1–1000 characters. Required.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnhideRequest {
    /// Why it may be seen again (staff only; optional).
    pub reason: Option<String>,
}

/// Whether the public sees a report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HiddenState {
    /// The report.
    pub id: Uuid,
    /// Hidden from the public: not in the feed (JSON and GeoJSON) or Open311, 404 for its
    /// detail, timeline and photos. Its reporter and the staff still see it.
    pub hidden: bool,
    pub hidden_reason: Option<String>,
    pub hidden_at: Option<DateTime<Utc>>,
}

impl HiddenState {
    fn of(r: &Report) -> HiddenState {
        HiddenState {
            id: r.id,
            hidden: r.hidden_at.is_some(),
            hidden_reason: r.hidden_reason.clone(),
            hidden_at: r.hidden_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DescriptionRequest {
    /// The new public description, 1–2000 characters.
    pub description: Option<String>,
    /// Why it was edited (staff only). Required.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactRequest {
    /// `blur`: the public sees a strongly blurred copy of the whole photo (under new URLs);
    /// `remove`: the public does not see the photo at all.
    pub mode: Option<String>,
    /// Why (staff only), e.g. "a face", "a licence plate". Required.
    pub reason: Option<String>,
}

/// A moderated photo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RedactedPhoto {
    pub id: Uuid,
    pub report_id: Uuid,
    /// `blurred` or `removed`.
    pub redaction: String,
    pub redacted_at: DateTime<Utc>,
    /// The public display rendition (the blurred copy; new URL); null when removed.
    pub url: Option<String>,
    /// The public thumbnail; null when removed.
    pub thumbnail_url: Option<String>,
    /// The unredacted image: the handling staff and admins only.
    pub original_url: String,
}

/// What the audit log keeps of a photo's moderation.
#[derive(Debug, Serialize)]
struct PhotoSnapshot<'a> {
    id: Uuid,
    report_id: Uuid,
    redaction: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Debug, Serialize)]
/// What the audit log keeps of a description edit: not the text — an edit is often made to take
/// a name or a phone number out of it, and the log can never be erased — but its size; the
/// text itself stays in the ticket's internal timeline, which retention clears.
struct DescriptionSnapshot<'a> {
    characters: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn validation(field_error: crate::error::FieldError) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed).with_field(field_error)
}

/// A staff member's reason: required, `max` characters at most.
fn reason(raw: Option<&str>, max: usize, required: bool) -> Result<Option<String>, ApiError> {
    let too_long = || {
        validation(field(
            "reason",
            "too_long",
            &format!("Lý do tối đa {max} ký tự"),
            &format!("At most {max} characters"),
        ))
    };
    match Note::parse(raw) {
        Ok(Some(n)) if n.as_str().chars().count() > max => Err(too_long()),
        Ok(Some(n)) => Ok(Some(n.into_string())),
        Ok(None) if required => Err(validation(field(
            "reason",
            "required",
            "Cần nêu lý do",
            "A reason is required",
        ))),
        Ok(None) => Ok(None),
        Err(TextError::TooLong) => Err(too_long()),
        Err(_) => Err(validation(field(
            "reason",
            "invalid",
            "Có ký tự không hợp lệ",
            "Contains characters that are not allowed",
        ))),
    }
}

fn conflict(vi: &str, en: &str) -> ApiError {
    ApiError::new(ErrorCode::Conflict).with_detail(vi.to_owned(), en.to_owned())
}

/// One audit row about report `report`.
fn audit_row<B: Serialize, A: Serialize>(
    user: &AuthUser,
    action: &'static str,
    entity_type: &'static str,
    entity_id: Uuid,
    report: Uuid,
    before: &B,
    after: &A,
) -> audit::Change {
    let mut change = audit::Change::of(
        user,
        action,
        entity_type,
        entity_id,
        Some(before),
        Some(after),
    );
    change.report_id = Some(report);
    change
}

/// The ticket in scope, its row locked until the transaction ends.
async fn lock_in_scope(
    conn: &mut AsyncPgConnection,
    user: &AuthUser,
    id: Uuid,
) -> Result<ReportWithNames, ApiError> {
    db::reports::lock(conn, &[id]).await?;
    find_in_scope(conn, user, id).await
}

/// A change of the report (its status unchanged) with its internal timeline event.
fn internal(
    action: &'static str,
    row: ReportChange,
    internal_note: Option<String>,
    details: EventDetails,
    to: crate::domain::report::ReportStatus,
) -> Change {
    Change {
        action,
        to,
        row,
        public_note: None,
        internal_note,
        details,
        media_ids: Vec::new(),
    }
}

/// Writes `change` and its event. The row is locked: no one changed it since it was read.
async fn write(
    conn: &mut AsyncPgConnection,
    user: &AuthUser,
    report: &Report,
    change: Change,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    commit(
        conn,
        report,
        report.version,
        Some(user),
        |_| Ok(()),
        change,
        now,
    )
    .await
}

fn private_json<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(body)
}

// ---------------------------------------------------------------------------------------------
// Hide and unhide

/// Hides a report from the public, with a reason: it leaves the public feed (JSON and GeoJSON)
/// and Open311, and its detail, timeline and photos answer 404 to the public. Its reporter and
/// the staff still see it (with `hidden: true`); its handling goes on. The timeline gets an
/// internal `hide` event; the audit log a `report.hide` row.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = HideRequest,
    responses(
        (status = 200, description = "Hidden", body = HiddenState),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: already hidden", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the reason is missing or too long", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/tickets/{id}/hide")]
pub async fn hide_ticket(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<StaffRoles, HideRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let reason = reason(body.reason.as_deref(), HIDE_REASON_MAX_CHARS, true)?.unwrap_or_default();
    let id = path.into_inner();
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let after = conn
        .transaction::<HiddenState, ApiError, _>(async |conn| {
            let row = lock_in_scope(conn, &user, id).await?;
            let report = &row.report;
            if report.is_hidden() {
                return Err(conflict(
                    "Phản ánh đã được ẩn khỏi công chúng",
                    "The report is already hidden from the public",
                ));
            }
            let before = HiddenState::of(report);
            let change = ReportChange {
                hidden_at: Some(Some(now)),
                hidden_reason: Some(Some(reason.clone())),
                hidden_by: Some(Some(user.id)),
                ..Default::default()
            };
            let change = internal(
                "hide",
                change,
                Some(reason.clone()),
                EventDetails::default(),
                report.status,
            );
            write(conn, &user, report, change, now).await?;
            let row = db::reports::find(conn, id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let after = HiddenState::of(&row.report);
            audit::record(
                conn,
                audit_row(&user, "report.hide", "report", id, id, &before, &after),
            )
            .await?;
            Ok(after)
        })
        .await?;
    tracing::info!(report = %id, actor = %user.id, "report hidden from the public");
    Ok(private_json(&after))
}

/// Shows a hidden report to the public again. Internal `unhide` event, audit `report.unhide`.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = UnhideRequest,
    responses(
        (status = 200, description = "Visible again", body = HiddenState),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: not hidden", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the reason is too long", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/tickets/{id}/unhide")]
pub async fn unhide_ticket(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<StaffRoles, UnhideRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let reason = reason(body.reason.as_deref(), Note::MAX_CHARS, false)?;
    let id = path.into_inner();
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let after = conn
        .transaction::<HiddenState, ApiError, _>(async |conn| {
            let row = lock_in_scope(conn, &user, id).await?;
            let report = &row.report;
            if !report.is_hidden() {
                return Err(conflict("Phản ánh không bị ẩn", "The report is not hidden"));
            }
            let before = HiddenState::of(report);
            let change = ReportChange {
                hidden_at: Some(None),
                hidden_reason: Some(None),
                hidden_by: Some(None),
                ..Default::default()
            };
            let change = internal(
                "unhide",
                change,
                reason.clone(),
                EventDetails::default(),
                report.status,
            );
            write(conn, &user, report, change, now).await?;
            let row = db::reports::find(conn, id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let after = HiddenState::of(&row.report);
            audit::record(
                conn,
                audit_row(&user, "report.unhide", "report", id, id, &before, &after),
            )
            .await?;
            Ok(after)
        })
        .await?;
    tracing::info!(report = %id, actor = %user.id, "report shown to the public again");
    Ok(private_json(&after))
}

// ---------------------------------------------------------------------------------------------
// Description

/// Replaces the report's public description (e.g. a name, a phone number or an insult in it).
/// The original is kept in an internal `edit_description` event (`description_before`,
/// `description_after`), seen by staff only; audit `report.edit_description`. The same text
/// again changes nothing.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = DescriptionRequest,
    responses(
        (status = 200, description = "The ticket as it now is", body = super::tickets::TicketDetail, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the description or the reason is missing, too long or has characters not allowed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/tickets/{id}/description")]
pub async fn edit_description(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<StaffRoles, DescriptionRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let description = match Description::parse(body.description.as_deref().unwrap_or_default()) {
        Ok(d) => d.as_str().to_owned(),
        Err(TextError::Empty) => {
            return Err(validation(field(
                "description",
                "required",
                "Cần nội dung mới",
                "The new description is required",
            )));
        }
        Err(TextError::TooLong) => {
            return Err(validation(field(
                "description",
                "too_long",
                "Nội dung tối đa 2000 ký tự",
                "At most 2000 characters",
            )));
        }
        Err(_) => {
            return Err(validation(field(
                "description",
                "invalid",
                "Có ký tự không hợp lệ",
                "Contains characters that are not allowed",
            )));
        }
    };
    let reason = reason(body.reason.as_deref(), Note::MAX_CHARS, true)?.unwrap_or_default();
    let id = path.into_inner();
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let row = conn
        .transaction::<ReportWithNames, ApiError, _>(async |conn| {
            let row = lock_in_scope(conn, &user, id).await?;
            let report = &row.report;
            if report.description == description {
                return Ok(row);
            }
            let details = EventDetails {
                before: Some(report.description.clone()),
                after: Some(description.clone()),
                ..Default::default()
            };
            let change = ReportChange {
                description: Some(description.clone()),
                ..Default::default()
            };
            let change = internal(
                "edit_description",
                change,
                Some(reason.clone()),
                details,
                report.status,
            );
            write(conn, &user, report, change, now).await?;
            audit::record(
                conn,
                audit_row(
                    &user,
                    "report.edit_description",
                    "report",
                    id,
                    id,
                    &DescriptionSnapshot {
                        characters: report.description.chars().count(),
                        reason: None,
                    },
                    &DescriptionSnapshot {
                        characters: description.chars().count(),
                        reason: Some(&reason),
                    },
                ),
            )
            .await?;
            Ok(db::reports::find(conn, id).await?.unwrap_or(row))
        })
        .await?;
    let body = detail(&mut conn, &state, &user, row).await?;
    Ok(detail_response(StatusCode::OK, &body))
}

// ---------------------------------------------------------------------------------------------
// Photos

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Blur,
    Remove,
}

impl Mode {
    fn redaction(self) -> &'static str {
        match self {
            Mode::Blur => BLURRED,
            Mode::Remove => REMOVED,
        }
    }
}

/// The blurred renditions, written under new keys (new URLs: the old ones were served
/// `immutable`).
struct Written {
    display_key: String,
    display_bytes: i64,
    thumbnail_key: String,
    thumbnail_bytes: i64,
}

impl Written {
    async fn delete(&self, state: &AppState) {
        for key in [&self.display_key, &self.thumbnail_key] {
            if let Err(e) = state.photos.delete(key).await {
                tracing::warn!(key = %key, error = %e, "could not delete a blurred rendition");
            }
        }
    }
}

/// Blurs the unredacted display image and stores the result (display and thumbnail) under new
/// keys; on a failure nothing it wrote is left.
async fn write_blurred(
    state: &AppState,
    photo: &Media,
    now: DateTime<Utc>,
) -> Result<Written, ApiError> {
    let source = state
        .photos
        .get(photo.original_display())
        .await
        .map_err(ApiError::storage_unavailable)?;
    let slot = state
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("decode pool closed: {e}")))?;
    let (display, thumbnail) = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        pipeline::blur(&source, &PhotoLimits::default())
    })
    .await
    .map_err(|e| ApiError::internal(anyhow::anyhow!("photo blur failed: {e}")))?
    .map_err(|e| ApiError::internal(anyhow::anyhow!("photo blur failed: {e}")))?;
    let stamp = now.timestamp_micros();
    let written = Written {
        display_key: format!("photos/{}/display-blurred-{stamp}.jpg", photo.id),
        display_bytes: display.bytes.len() as i64,
        thumbnail_key: format!("photos/{}/thumbnail-blurred-{stamp}.jpg", photo.id),
        thumbnail_bytes: thumbnail.bytes.len() as i64,
    };
    let stored = async {
        state
            .photos
            .put(&written.display_key, display.bytes)
            .await?;
        state
            .photos
            .put(&written.thumbnail_key, thumbnail.bytes)
            .await
    }
    .await;
    if let Err(e) = stored {
        written.delete(state).await;
        // A full store is 507 `storage_full`, anything else 503.
        return Err(e.into());
    }
    Ok(written)
}

/// The photo of this report, ready.
async fn report_photo(
    conn: &mut AsyncPgConnection,
    report: Uuid,
    media: Uuid,
) -> Result<Media, ApiError> {
    db::media::find(conn, media)
        .await?
        .filter(|m| m.report_id == Some(report) && m.status == MediaStatus::Ready)
        .ok_or_else(ApiError::not_found)
}

/// Redacts one of the report's photos (e.g. a face or a licence plate in it): `blur` replaces
/// its public renditions by a strongly blurred copy of the whole image, under new URLs; `remove`
/// withdraws it from the public (not listed, 404). The unredacted image stays for the handling
/// staff and admins as `GET /media/{id}/original.jpg`. A blurred photo can still be removed, and
/// a removed one blurred instead. Internal `redact` event, audit `media.redact`.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Report id"),
        ("media_id" = Uuid, Path, description = "One of the report's photos"),
    ),
    request_body = RedactRequest,
    responses(
        (status = 200, description = "Redacted", body = RedactedPhoto),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department, or no such photo of it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the photo is already redacted this way, or was redacted meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the mode (`blur` or `remove`) or the reason is missing or wrong", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable` or `database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 507, description = "`storage_full`: the photo store has no space left for the blurred copy", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/tickets/{id}/media/{media_id}/redact")]
pub async fn redact_photo(
    path: web::Path<(Uuid, Uuid)>,
    request: AuthenticatedJson<StaffRoles, RedactRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mode = match body.mode.as_deref().map(str::trim) {
        Some("blur") => Mode::Blur,
        Some("remove") => Mode::Remove,
        None | Some("") => {
            return Err(validation(field(
                "mode",
                "required",
                "Chọn cách xử lý ảnh: blur hoặc remove",
                "Choose the mode: blur or remove",
            )));
        }
        Some(_) => {
            return Err(validation(field(
                "mode",
                "invalid",
                "mode phải là blur hoặc remove",
                "mode must be blur or remove",
            )));
        }
    };
    let reason = reason(body.reason.as_deref(), Note::MAX_CHARS, true)?.unwrap_or_default();
    let (id, media_id) = path.into_inner();
    let now = Utc::now();

    // Check before doing any work, then write the new files outside the transaction.
    let mut conn = state.conn().await?;
    find_in_scope(&mut conn, &user, id).await?;
    let photo = report_photo(&mut conn, id, media_id).await?;
    let already = || {
        conflict(
            "Ảnh đã được xử lý theo cách này",
            "The photo is already redacted this way",
        )
    };
    if photo.redaction.as_deref() == Some(mode.redaction()) {
        return Err(already());
    }
    if photo.redaction.is_some() && photo.original_display_key.is_none() {
        return Err(conflict(
            "Ảnh gốc đã bị xóa theo thời hạn lưu trữ; không thể xử lý lại",
            "The original was deleted at the end of its retention period; it cannot be redacted again",
        ));
    }
    // The connection is kept while the files are written, so that once they exist nothing but
    // the transaction below can fail before they are either referred to or deleted again.
    let written = match mode {
        Mode::Blur => Some(write_blurred(&state, &photo, now).await?),
        Mode::Remove => None,
    };

    let result = conn
        .transaction::<Media, ApiError, _>(async |conn| {
            let row = lock_in_scope(conn, &user, id).await?;
            let current = db::media::lock_for_attach(conn, &[media_id])
                .await?
                .into_iter()
                .next()
                .filter(|m| m.report_id == Some(id) && m.status == MediaStatus::Ready)
                .ok_or_else(ApiError::not_found)?;
            if current.redaction != photo.redaction
                || current.display_key != photo.display_key
                || current.original_display_key != photo.original_display_key
            {
                return Err(conflict(
                    "Ảnh vừa được người khác xử lý; hãy tải lại",
                    "The photo was redacted by someone else meanwhile; reload it",
                ));
            }
            let original_display = current.original_display().to_owned();
            let original_thumbnail = current.original_thumbnail().to_owned();
            db::media::redact(
                conn,
                media_id,
                &db::media::Redaction {
                    redaction: mode.redaction(),
                    redacted_at: now,
                    redacted_by: user.id,
                    display_key: written.as_ref().map(|w| w.display_key.as_str()),
                    display_bytes: written.as_ref().map(|w| w.display_bytes),
                    thumbnail_key: written.as_ref().map(|w| w.thumbnail_key.as_str()),
                    thumbnail_bytes: written.as_ref().map(|w| w.thumbnail_bytes),
                    original_display_key: &original_display,
                    original_thumbnail_key: &original_thumbnail,
                },
            )
            .await?;
            let details = EventDetails {
                media_id: Some(media_id),
                redaction: Some(mode.redaction().to_owned()),
                ..Default::default()
            };
            let change = internal(
                "redact",
                ReportChange::default(),
                Some(reason.clone()),
                details,
                row.report.status,
            );
            write(conn, &user, &row.report, change, now).await?;
            audit::record(
                conn,
                audit_row(
                    &user,
                    "media.redact",
                    "media",
                    media_id,
                    id,
                    &PhotoSnapshot {
                        id: media_id,
                        report_id: id,
                        redaction: current.redaction.as_deref(),
                        reason: None,
                    },
                    &PhotoSnapshot {
                        id: media_id,
                        report_id: id,
                        redaction: Some(mode.redaction()),
                        reason: Some(&reason),
                    },
                ),
            )
            .await?;
            db::media::find(conn, media_id)
                .await?
                .ok_or_else(ApiError::not_found)
        })
        .await;
    let updated = match result {
        Ok(m) => m,
        Err(e) => {
            if let Some(w) = &written {
                w.delete(&state).await;
            }
            return Err(e);
        }
    };
    // A blurred copy that no row refers to any more (blurred, then removed, now blurred anew).
    for (old, new) in [
        (&photo.display_key, &updated.display_key),
        (&photo.thumbnail_key, &updated.thumbnail_key),
    ] {
        let original = [updated.original_display(), updated.original_thumbnail()];
        if old != new
            && !original.contains(&old.as_str())
            && let Err(e) = state.photos.delete(old).await
        {
            tracing::warn!(key = %old, error = %e, "could not delete a superseded blurred rendition");
        }
    }
    tracing::info!(report = %id, media = %media_id, redaction = mode.redaction(), actor = %user.id, "photo redacted");
    let (url, thumbnail_url) = media_urls_of(&state.settings.public_url, &updated);
    let removed = updated.is_removed();
    Ok(private_json(&RedactedPhoto {
        id: updated.id,
        report_id: id,
        redaction: mode.redaction().to_owned(),
        redacted_at: updated.redacted_at.unwrap_or(now),
        url: (!removed).then_some(url),
        thumbnail_url: (!removed).then_some(thumbnail_url),
        original_url: original_url(&state.settings.public_url, media_id),
    }))
}

//! Photos: upload (`POST /api/v1/media`) and the stored renditions.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use diesel_async::AsyncConnection as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Accounts, Authenticated, MaybeAuthUser};
use crate::db;
use crate::db::enums::MediaStatus;
use crate::domain::Coordinates;
use crate::domain::account::Role;
use crate::domain::report::IdempotencyKey;
use crate::error::{ApiError, ErrorCode};
use crate::media::pipeline::{self, PhotoError, PhotoLimits, ProcessedPhoto};
use crate::media::store::{self, StoreError};
use crate::media::upload::{self, UploadError};
use crate::startup::AppState;

/// A stored photo. `url` is the display rendition (longest side at most 1600 px) and `width`,
/// `height`, `bytes` and `content_type` describe it; `thumbnail_url` is 320 px.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaResponse {
    pub id: Uuid,
    /// Always `image/jpeg`: every photo is re-encoded (which strips its metadata).
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub url: String,
    pub thumbnail_url: String,
    /// Where the camera said the photo was taken (EXIF GPS), offered as a fallback location.
    /// Never kept: not in the stored file, not in the database.
    pub exif_location: Option<Coordinates>,
}

pub fn media_urls(public_url: &str, id: Uuid) -> (String, String) {
    let base = public_url.trim_end_matches('/');
    (
        format!("{base}/api/v1/media/{id}/display.jpg"),
        format!("{base}/api/v1/media/{id}/thumbnail.jpg"),
    )
}

/// The renditions' URLs of this photo as it now is: a photo blurred by moderation gets new ones
/// (`?v=` its redaction time), since the old ones were served `immutable` and caches may hold
/// the unredacted image under them.
pub fn media_urls_of(public_url: &str, m: &db::media::Media) -> (String, String) {
    let (display, thumbnail) = media_urls(public_url, m.id);
    match version(m) {
        Some(v) => (format!("{display}?v={v}"), format!("{thumbnail}?v={v}")),
        None => (display, thumbnail),
    }
}

/// The unredacted image of a moderated photo, for staff.
pub fn original_url(public_url: &str, id: Uuid) -> String {
    format!(
        "{}/api/v1/media/{id}/original.jpg",
        public_url.trim_end_matches('/')
    )
}

/// What changes a photo's public renditions: its redaction time.
fn version(m: &db::media::Media) -> Option<i64> {
    m.redacted_at.map(|t| t.timestamp_micros())
}

fn response(state: &AppState, row: &db::media::Media, exif: Option<Coordinates>) -> MediaResponse {
    let (url, thumbnail_url) = media_urls_of(&state.settings.public_url, row);
    MediaResponse {
        id: row.id,
        content_type: "image/jpeg".into(),
        width: row.display_width,
        height: row.display_height,
        bytes: row.display_bytes,
        url,
        thumbnail_url,
        exif_location: exif,
    }
}

/// The multipart form of an upload (documentation only: the body is streamed, never parsed whole).
/// Other parts are read and ignored, but only `file` is part of the contract.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MediaUpload {
    /// JPEG, PNG or WebP, at most 15 MB and 40 megapixels. The type is read from the bytes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

pub(crate) fn upload_error(err: UploadError) -> ApiError {
    match err {
        UploadError::NotMultipart => ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
            "Gửi ảnh dưới dạng multipart/form-data, trường `file`",
            "Send the photo as multipart/form-data, field `file`",
        ),
        UploadError::Malformed(why) => ApiError::new(ErrorCode::BadRequest)
            .with_detail("Dữ liệu tải lên không hợp lệ", "Malformed multipart body")
            .with_cause(anyhow::anyhow!(why)),
        UploadError::TimedOut => ApiError::body_timeout(),
        UploadError::NoFile => ApiError::new(ErrorCode::BadRequest).with_detail(
            "Thiếu trường `file` chứa ảnh",
            "The form has no `file` field",
        ),
        UploadError::Empty => ApiError::new(ErrorCode::PhotoUnreadable)
            .with_detail("Tệp ảnh rỗng", "The file is empty"),
        UploadError::TooLarge(limit) => ApiError::new(ErrorCode::PhotoTooLarge).with_detail(
            format!("Ảnh vượt quá {} MB", limit / (1024 * 1024)),
            format!("The photo is larger than {} MB", limit / (1024 * 1024)),
        ),
        UploadError::Unsupported(what) => unsupported(what),
        UploadError::Refused => ApiError::new(ErrorCode::Forbidden),
        UploadError::Io(e) => crate::error::storage_io(e),
    }
}

fn unsupported(what: &str) -> ApiError {
    if what.starts_with("HEI") || what.contains("HEIC") {
        ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
            "Ảnh HEIC (iPhone) chưa được hỗ trợ: chọn định dạng \"Tương thích nhất\" (JPEG) trong Cài đặt > Camera > Định dạng, hoặc gửi ảnh JPEG, PNG, WebP",
            "HEIC photos (iPhone) are not supported: choose \"Most Compatible\" (JPEG) in Settings > Camera > Formats, or send JPEG, PNG or WebP",
        )
    } else {
        ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
            format!("Định dạng {what} không được hỗ trợ: gửi ảnh JPEG, PNG hoặc WebP"),
            format!("{what} is not supported: send JPEG, PNG or WebP"),
        )
    }
}

fn photo_error(err: PhotoError, limits: &PhotoLimits) -> ApiError {
    match err {
        PhotoError::Unsupported { detected } => unsupported(detected),
        // Within the pixel limit but too costly to decode (e.g. 16-bit RGBA): say so, not "40 MP".
        PhotoError::TooManyPixels { width, height }
            if u64::from(width) * u64::from(height) <= limits.max_pixels =>
        {
            ApiError::new(ErrorCode::PhotoTooLarge).with_detail(
                format!(
                    "Ảnh {width}×{height} cần quá nhiều bộ nhớ để xử lý: hãy gửi ảnh JPEG hoặc ảnh nhỏ hơn"
                ),
                format!(
                    "A {width}×{height} image of this kind needs too much memory to decode: send a JPEG or a smaller image"
                ),
            )
        }
        PhotoError::TooManyPixels { width, height } => ApiError::new(ErrorCode::PhotoTooLarge)
            .with_detail(
                format!(
                    "Ảnh {width}×{height} vượt quá {} megapixel",
                    limits.max_pixels / 1_000_000
                ),
                format!(
                    "A {width}×{height} image is over {} megapixels",
                    limits.max_pixels / 1_000_000
                ),
            ),
        PhotoError::Unreadable(why) => ApiError::new(ErrorCode::PhotoUnreadable)
            .with_detail(
                "Không đọc được ảnh: tệp bị hỏng hoặc chưa tải lên hết",
                "The photo cannot be decoded: the file is corrupt or incomplete",
            )
            .with_cause(anyhow::anyhow!(why)),
    }
}

/// 507 `storage_full` when the store has no space left, 503 `storage_unavailable` otherwise.
fn store_error(err: StoreError) -> ApiError {
    err.into()
}

/// Uploads one photo. The body streams to a temporary file; the type is read from its first bytes
/// (never from `Content-Type`); decoding runs on a bounded pool with pixel limits; EXIF orientation
/// is applied, GPS returned as `exif_location` and then discarded; the stored display (1600 px)
/// and thumbnail (320 px) are re-encoded JPEGs without metadata. Photos not attached to a report
/// within 24 hours are deleted. With an `Idempotency-Key`, a retry of the same file returns the
/// original 201; the same key with another file is 409 `idempotency_key_reused`.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: 1–255 visible ASCII characters")),
    request_body(content = MediaUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = MediaResponse),
        (status = 400, description = "Malformed multipart body, no `file` field, or a bad `Idempotency-Key`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_reused`, or the first request with this key is still being processed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`photo_too_large`: over 15 MB or 40 megapixels", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: not JPEG, PNG or WebP (HEIC included), or not multipart", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`photo_unreadable`: corrupt, truncated or empty", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable` (the photo store cannot be reached or written) or `database_unavailable`; `Retry-After` says when to retry", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 507, description = "`storage_full`: the photo store has no space left; `Retry-After` says when to retry", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/media")]
pub async fn upload_media(
    user: Authenticated<Accounts>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&request)?;
    let settings = &state.settings.media;
    let received = upload::receive(
        request.headers(),
        payload,
        &state.upload_dir,
        settings.max_upload_bytes,
    )
    .await
    .map_err(upload_error)?;

    let mut conn = state.conn().await?;
    if let Some(key) = &key
        && let Some(existing) = db::media::find_by_key(&mut conn, user.id, key.as_str()).await?
    {
        return replay(&state, &existing, &received).await;
    }
    drop(conn);

    match store_photo(&state, &received, Some(user.id), key.as_ref()).await? {
        Some((row, exif_location)) => Ok(created(&state, &row, exif_location)),
        None => {
            // A concurrent retry with the same key won the race.
            let key = key.as_ref().map(|k| k.as_str()).unwrap_or_default();
            let mut conn = state.conn().await?;
            let existing = db::media::find_by_key(&mut conn, user.id, key)
                .await?
                .ok_or_else(ApiError::not_found)?;
            replay(&state, &existing, &received).await
        }
    }
}

/// Decodes a received photo on the bounded pool, re-encodes it (display size and thumbnail, no
/// EXIF), stores both files and records the row as ready but attached to nothing (the sweeper
/// removes it if no report takes it in time). `None`: another request holding the same
/// `Idempotency-Key` got there first. On a storage failure nothing is left behind.
pub(crate) async fn store_photo(
    state: &AppState,
    received: &upload::Upload,
    owner: Option<Uuid>,
    key: Option<&IdempotencyKey>,
) -> Result<Option<(db::media::Media, Option<Coordinates>)>, ApiError> {
    let settings = &state.settings.media;
    let limits = PhotoLimits {
        max_pixels: settings.max_pixels,
        ..PhotoLimits::default()
    };
    let photo = state.decode(received.file.path(), limits.clone()).await?;
    let photo = photo.map_err(|e| photo_error(e, &limits))?;

    let id = Uuid::now_v7();
    let (display_key, thumbnail_key) = store::keys(id);
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::hours(settings.unattached_ttl_hours as i64);
    let new = db::media::NewMedia {
        id,
        owner_id: owner,
        status: MediaStatus::Pending,
        source_format: photo.source.mime(),
        width: photo.width as i32,
        height: photo.height as i32,
        bytes: received.bytes as i64,
        sha256: &received.sha256,
        display_key: &display_key,
        display_width: photo.display.width as i32,
        display_height: photo.display.height as i32,
        display_bytes: photo.display.bytes.len() as i64,
        thumbnail_key: &thumbnail_key,
        thumbnail_width: photo.thumbnail.width as i32,
        thumbnail_height: photo.thumbnail.height as i32,
        thumbnail_bytes: photo.thumbnail.bytes.len() as i64,
        idempotency_key: key.map(|k| k.as_str()),
        expires_at: expires,
    };
    let mut conn = state.conn().await?;
    if !db::media::insert_pending(&mut conn, &new).await? {
        return Ok(None);
    }

    let ProcessedPhoto {
        display,
        thumbnail,
        exif_location,
        ..
    } = photo;
    // The files are written while this transaction holds the pending row's lock, and the row
    // turns ready in it: a pending row that nobody locks is an upload that died half-way (a
    // SIGKILL, a lost connection), which the sweeper removes with its files on its next pass;
    // one being written it skips. The connection is held for two writes to the photo store.
    let written = conn
        .transaction::<Result<(), StoreError>, ApiError, _>(async |conn| {
            if !db::media::lock_pending(conn, id).await? {
                // Swept in the instant between its insert and this lock: nothing was written.
                return Err(ApiError::storage_unavailable(anyhow::anyhow!(
                    "photo {id} was swept before its files were written"
                )));
            }
            let stored = async {
                state.photos.put(&display_key, display.bytes).await?;
                state.photos.put(&thumbnail_key, thumbnail.bytes).await
            }
            .await;
            if stored.is_ok() {
                db::media::mark_ready(conn, id).await?;
            }
            Ok(stored)
        })
        .await?;
    // A database failure above (even one at COMMIT, which may have committed) leaves the files
    // alone: the row is then either ready with them, or pending and unlocked, and swept.
    if let Err(e) = written {
        // Nothing refers to the row yet: remove it and whatever was written. If this fails too,
        // the sweeper removes the pending row and its files.
        let _ = state.photos.delete(&display_key).await;
        let _ = state.photos.delete(&thumbnail_key).await;
        let _ = db::media::delete(&mut conn, id).await;
        return Err(store_error(e));
    }
    let row = db::media::find(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    metrics::counter!("phananh_photos_stored_total").increment(1);
    Ok(Some((row, exif_location)))
}

fn created(state: &AppState, row: &db::media::Media, exif: Option<Coordinates>) -> HttpResponse {
    let body = response(state, row, exif);
    HttpResponse::Created()
        .insert_header((header::LOCATION, body.url.clone()))
        .json(body)
}

/// The same key again: the same file gets the original answer (its GPS read again from the
/// re-sent bytes, since it was never kept); another file is a conflict.
async fn replay(
    state: &AppState,
    existing: &db::media::Media,
    received: &upload::Upload,
) -> Result<HttpResponse, ApiError> {
    if existing.sha256 != received.sha256 {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused).with_detail(
            "Khóa Idempotency-Key này đã được dùng cho một ảnh khác",
            "This Idempotency-Key was already used for a different photo",
        ));
    }
    // The first request may still be storing its files: wait for it a little (a phone retrying
    // on a flaky link often sends the retry while the first attempt is still being processed).
    let mut current = existing.clone();
    for _ in 0..50 {
        if current.status == MediaStatus::Ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut conn = state.conn().await?;
        match db::media::find(&mut conn, current.id).await? {
            Some(row) => current = row,
            // The first attempt failed and removed its row: this retry may try again.
            None => {
                return Err(ApiError::new(ErrorCode::Conflict).with_detail(
                    "Lần gửi trước của ảnh này đã thất bại, vui lòng gửi lại",
                    "The first attempt with this key failed; send the photo again",
                ));
            }
        }
    }
    if current.status != MediaStatus::Ready {
        // Pending for minutes: the first attempt was abandoned half-way (its client went away).
        // Clear it so the next retry starts afresh instead of waiting for the next sweep.
        if current.created_at < chrono::Utc::now() - chrono::Duration::minutes(2) {
            let mut conn = state.conn().await?;
            if db::media::delete_if_pending(&mut conn, current.id).await? {
                let _ = state.photos.delete(&current.display_key).await;
                let _ = state.photos.delete(&current.thumbnail_key).await;
            }
        }
        return Err(ApiError::new(ErrorCode::Conflict).with_detail(
            "Ảnh này đang được xử lý, vui lòng thử lại sau giây lát",
            "This photo is still being processed; retry in a moment",
        ));
    }
    let existing = &current;
    let path = received.file.path().to_owned();
    let exif = tokio::task::spawn_blocking(move || {
        std::fs::read(path)
            .ok()
            .and_then(|data| pipeline::exif_location(&data))
    })
    .await
    .ok()
    .flatten();
    Ok(created(state, existing, exif))
}

pub fn idempotency_key(request: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(IdempotencyKey::parse)
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::BadRequest).with_detail(
                "Idempotency-Key phải gồm 1–255 ký tự ASCII nhìn thấy được",
                "Idempotency-Key must be 1–255 visible ASCII characters",
            )
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Rendition {
    #[serde(rename = "display.jpg")]
    Display,
    #[serde(rename = "thumbnail.jpg")]
    Thumbnail,
    /// The unredacted display image of a photo moderated (blurred or removed): the handling
    /// staff and admins only.
    #[serde(rename = "original.jpg", alias = "original")]
    Original,
}

impl Rendition {
    fn name(self) -> &'static str {
        match self {
            Rendition::Display => "display",
            Rendition::Thumbnail => "thumbnail",
            Rendition::Original => "original",
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MediaPath {
    pub id: Uuid,
    /// `display.jpg`, `thumbnail.jpg`, or (staff) `original.jpg`
    pub rendition: Rendition,
}

/// A stored rendition of a photo. A photo attached to a report is visible as the report is
/// (public categories not hidden by moderation to anyone; otherwise its reporter, the handling
/// staff and admins); one not attached yet only to its uploader and admins. A photo removed by
/// moderation is visible to the handling staff and admins only; a blurred one shows everyone the
/// blurred copy. `original.jpg`, the unredacted image, is for the handling staff and admins only.
/// Anyone else gets 404.
#[utoipa::path(
    tag = "reports",
    params(MediaPath),
    responses(
        (status = 200, description = "The JPEG", content_type = "image/jpeg", body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "Invalid credentials were sent", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo or rendition, or not visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable` or `database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/media/{id}/{rendition}")]
pub async fn get_media_file(
    request: HttpRequest,
    path: web::Path<MediaPath>,
    user: MaybeAuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let MediaPath { id, rendition } = path.into_inner();
    let mut conn = state.conn().await?;
    let row = db::media::find(&mut conn, id)
        .await?
        .filter(|m| m.status == MediaStatus::Ready)
        .ok_or_else(ApiError::not_found)?;
    // Attached: visible as its report is (public category not hidden, or the reporter, the
    // handling staff and admins). Not attached yet: only its uploader and admins.
    let (visible, public, staff) = match row.report_id {
        Some(report) => match db::reports::find(&mut conn, report).await? {
            Some(r) => {
                let audience = super::reports::audience(user.0.as_ref(), &r.report);
                let public = r.category_public && !r.report.is_hidden();
                (
                    public || audience != super::reports::Audience::Public,
                    public,
                    matches!(audience, super::reports::Audience::Staff { .. }),
                )
            }
            None => (false, false, false),
        },
        None => {
            let caller = user.0.as_ref();
            let own = caller.is_some_and(|u| row.owner_id == Some(u.id) || u.role == Role::Admin);
            (own, false, false)
        }
    };
    drop(conn);
    // The unredacted image is the handling staff's; a removed photo, too.
    let staff_only = rendition == Rendition::Original || row.is_removed();
    if !visible || (staff_only && !staff) {
        return Err(ApiError::not_found());
    }
    let etag = match version(&row) {
        Some(v) => format!("\"{id}-{}-{v}\"", rendition.name()),
        None => format!("\"{id}-{}\"", rendition.name()),
    };
    let cache = if rendition == Rendition::Original {
        "private, no-store"
    } else if public && !staff_only && version(&row).is_some() {
        // A redacted photo's renditions are final: their URLs carry the redaction's time.
        "public, max-age=31536000, immutable"
    } else if public && !staff_only {
        // An unredacted photo may still be blurred or withdrawn by a moderator: caches keep it
        // an hour at most, so a redaction reaches every viewer within the hour.
        "public, max-age=3600"
    } else {
        "private, max-age=3600"
    };
    // Renditions never change once stored (moderation writes new ones, under new URLs): the tag
    // is the id, the rendition and the redaction's time.
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    let key = match rendition {
        Rendition::Display => row.display_key.as_str(),
        Rendition::Thumbnail => row.thumbnail_key.as_str(),
        // A redacted photo whose original the retention job deleted has none left to show.
        Rendition::Original if row.redaction.is_some() && row.original_display_key.is_none() => {
            return Err(ApiError::not_found());
        }
        Rendition::Original => row.original_display(),
    };
    // A missing object is 404; an unreachable store 503.
    let bytes = state.photos.get(key).await.map_err(store_error)?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        // Already compressed: the compression middleware leaves it alone.
        .insert_header(header::ContentEncoding::Identity)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .body(bytes))
}

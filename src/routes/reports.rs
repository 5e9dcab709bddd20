//! Reports: submission (validated, routed, deadline set, idempotent), the public feed, detail,
//! timeline, lookup by tracking code, and the caller's own reports.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::media::{idempotency_key, media_urls_of, original_url};
use crate::auth::{Accounts, AuthUser, Authenticated, AuthenticatedJson, MaybeAuthUser};
use crate::db;
use crate::db::enums::MediaStatus;
use crate::db::reports::{Cursor, FeedFilter, ReportWithNames};
use crate::domain::account::Role;
use crate::domain::calendar::vietnam;
use crate::domain::report::{
    Address, Description, IdempotencyKey, ReportStatus, TextError, parse_accuracy, routing_reason,
};
use crate::domain::routing::distance_m;
use crate::domain::tracking_code::TrackingCode;
use crate::domain::{BoundingBox, Coordinates};
use crate::error::{ApiError, ErrorCode, FieldError, Text};
use crate::startup::AppState;

// ---------------------------------------------------------------------------------------------
// Shapes

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// WGS84 latitude, −90…90.
    pub lat: f64,
    /// WGS84 longitude, −180…180.
    pub lon: f64,
    /// GPS accuracy the phone reported, in metres.
    pub accuracy_m: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReportRequest {
    /// A category code from `GET /categories`.
    pub category: String,
    /// 1–2000 characters.
    pub description: String,
    pub location: LocationInput,
    /// Free text ("gần chợ Thạnh Mỹ"), up to 300 characters.
    pub address: Option<String>,
    /// Photos uploaded with `POST /media` by the caller, not yet attached, at most 6.
    #[serde(default)]
    pub media_ids: Vec<Uuid>,
    /// Hide the reporter's identity from the handling staff.
    #[serde(default)]
    pub anonymous: bool,
    /// The reporter accepts the processing of their personal data (law 91/2025/QH15). Must be true.
    pub consent: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AreaRef {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DepartmentRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PhotoRef {
    pub id: Uuid,
    /// The display rendition. A photo blurred by moderation has new URLs (`?v=`).
    pub url: String,
    pub thumbnail_url: String,
    pub width: i32,
    pub height: i32,
    /// Staff only, for a photo moderated: `blurred` (the public sees a blurred copy) or
    /// `removed` (the public does not see it at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<String>,
    /// Staff only, for a photo moderated: the unredacted image (rendition `original.jpg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_url: Option<String>,
}

/// An open report of the same category nearby, offered as "already reported — follow it".
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PossibleDuplicate {
    pub id: Uuid,
    /// Metres from the new report.
    pub distance_m: f64,
    pub status: ReportStatus,
    pub category: String,
    /// The start of its description (up to 140 characters).
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub thumbnail_url: Option<String>,
}

/// The answer to a submission (and to its retries with the same `Idempotency-Key`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmittedReport {
    pub id: Uuid,
    /// Ten characters to read over the phone (e.g. `7KXM4R2QHD`); `GET /reports/by-code/{code}`.
    pub tracking_code: String,
    pub status: ReportStatus,
    /// The category code.
    pub category: String,
    pub area: AreaRef,
    pub department: DepartmentRef,
    /// Why it went there: category, commune, department and the rule that decided.
    pub routing_reason: String,
    /// The legal deadline, counted in working time.
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub photos: Vec<PhotoRef>,
    pub possible_duplicates: Vec<PossibleDuplicate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportLocation {
    pub lat: f64,
    pub lon: f64,
    /// Owner and staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

/// Who reported, and how to reach them (personal data: handling staff and admins only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reporter {
    /// The reporter's account; null when the report came through an Open311 partner application.
    pub id: Option<Uuid>,
    /// Empty when a partner application passed on no name.
    pub full_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The Open311 partner application that sent the report (its API key's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// A link to media the partner application holds (`media_url`; not fetched by this service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_media_url: Option<String>,
}

/// The reporter of `r` as the handling staff see them: the account's contact details (unless the
/// reporter chose `anonymous`, which only admins see through), or those a partner application
/// passed on. Every disclosure is written to the audit log (`contact.read`: who looked at whose
/// data, from which ticket) — the law asks that access to personal data be accountable.
pub(crate) async fn reporter(
    conn: &mut AsyncPgConnection,
    r: &db::reports::Report,
    admin: bool,
    viewer: (Uuid, Role),
) -> Result<Option<Reporter>, ApiError> {
    let shown = contact_of(conn, r, admin).await?;
    if let Some(contact) = &shown
        && (contact.phone.is_some() || contact.email.is_some() || !contact.full_name.is_empty())
    {
        let fields: Vec<&str> = [
            contact.phone.is_some().then_some("phone"),
            contact.email.is_some().then_some("email"),
            (!contact.full_name.is_empty()).then_some("full_name"),
        ]
        .into_iter()
        .flatten()
        .collect();
        db::audit::record(
            conn,
            db::audit::Change {
                actor: db::audit::Actor::User {
                    id: viewer.0,
                    role: viewer.1,
                },
                action: "contact.read",
                entity_type: if contact.id.is_some() {
                    "user"
                } else {
                    "report_contact"
                },
                entity_id: Some(contact.id.unwrap_or(r.id).to_string()),
                report_id: Some(r.id),
                subject_user_id: contact.id,
                before: None,
                after: Some(serde_json::json!({
                    "fields": fields,
                    "tracking_code": r.tracking_code,
                })),
            },
        )
        .await?;
    }
    Ok(shown)
}

async fn contact_of(
    conn: &mut AsyncPgConnection,
    r: &db::reports::Report,
    admin: bool,
) -> Result<Option<Reporter>, ApiError> {
    Ok(match r.reporter_id {
        Some(id) if admin || !r.anonymous => db::users::find(conn, id).await?.map(|u| Reporter {
            id: Some(u.id),
            full_name: u.full_name,
            phone: u.phone,
            email: u.email,
            via: None,
            partner_media_url: None,
        }),
        Some(_) => None,
        None => db::report_contacts::find(conn, r.id)
            .await?
            .map(|stored| Reporter {
                id: None,
                full_name: stored.contact.full_name().unwrap_or_default(),
                phone: stored.contact.phone,
                email: stored.contact.email,
                via: stored.partner,
                partner_media_url: stored.contact.media_url,
            }),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Consent {
    pub version: String,
    pub at: DateTime<Utc>,
}

/// A report. Public fields for anyone; the fields marked "private" only for its reporter and the
/// staff handling it; the reporter's identity only for staff (and never when they chose
/// `anonymous`, except for admins).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportView {
    pub id: Uuid,
    pub status: ReportStatus,
    /// The category code.
    pub category: String,
    pub category_name: String,
    pub area: AreaRef,
    pub department: DepartmentRef,
    pub description: String,
    pub address: Option<String>,
    pub location: ReportLocation,
    pub photos: Vec<PhotoRef>,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why it went to this department (also the note of its `created` event).
    pub routing_reason: String,
    /// When it was last resolved (null while not resolved).
    pub resolved_at: Option<DateTime<Utc>>,
    /// For a `duplicate`: the original, which its reporter now follows.
    pub duplicate_of: Option<Uuid>,
    /// Residents who said "me too".
    pub follower_count: i32,
    /// Private.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_code: Option<String>,
    /// Private.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<bool>,
    /// Private.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// Private: hidden from the public by moderation (the public gets 404 and never sees it
    /// listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Reporter>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPage {
    pub items: Vec<ReportView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRef {
    pub id: Uuid,
    pub full_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportEventView {
    pub id: Uuid,
    /// What happened: `created`, `accept`, `start`, `hold`, `resume`, `resolve`, `reject`,
    /// `transfer`, `mark_duplicate`, `extend`, `assign`, `reopen`, `close`, the marks of
    /// the deadline job, `overdue` and `ack_overdue`, or moderation (staff only): `hide`,
    /// `unhide`, `edit_description`, `redact`.
    pub action: String,
    pub from_status: Option<ReportStatus>,
    pub to_status: ReportStatus,
    /// Who acted, by role (never by name in the public timeline); null for the system.
    pub actor_role: Option<Role>,
    pub public_note: Option<String>,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_note: Option<String>,
    /// Photos attached to this step (the reporter's with `created`, "after" photos with
    /// `resolve`).
    pub photos: Vec<PhotoRef>,
    /// Transfer: the department it left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_department: Option<DepartmentRef>,
    /// Transfer: the department it went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_department: Option<DepartmentRef>,
    /// Extension: the deadline before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at_before: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at_after: Option<DateTime<Utc>>,
    /// Mark as duplicate: the original report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
    /// Assignment (staff only): who now works on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<UserRef>,
    /// `edit_description` (staff only): the public description before the edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_before: Option<String>,
    /// `edit_description` (staff only): the public description after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_after: Option<String>,
    /// `redact` (staff only): the photo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<Uuid>,
    /// `redact` (staff only): `blurred` or `removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportEventPage {
    pub items: Vec<ReportEventView>,
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Submission

pub(crate) fn field(field: &str, code: &'static str, vi: &str, en: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code,
        message: Text::new(vi.to_owned(), en.to_owned()),
    }
}

/// The checked form of a submission.
pub(crate) struct Checked {
    category: String,
    description: Description,
    at: Coordinates,
    accuracy_m: Option<f64>,
    address: Option<Address>,
    pub(crate) media_ids: Vec<Uuid>,
    anonymous: bool,
}

/// Every field checked; the first problem decides the top-level `code` (the specific ones of
/// api.md where they exist), and `errors` lists them all.
pub(crate) fn check(body: &NewReportRequest, max_media: usize) -> Result<Checked, ApiError> {
    let mut errors: Vec<(ErrorCode, FieldError)> = Vec::new();
    if body.consent != Some(true) {
        errors.push((
            ErrorCode::ConsentRequired,
            field(
                "consent",
                "required",
                "Cần đồng ý cho phép xử lý dữ liệu cá nhân",
                "Consent to the processing of personal data is required",
            ),
        ));
    }
    let description = match Description::parse(&body.description) {
        Ok(d) => Some(d),
        Err(TextError::TooLong) => {
            errors.push((
                ErrorCode::DescriptionTooLong,
                field(
                    "description",
                    "too_long",
                    "Nội dung tối đa 2000 ký tự",
                    "At most 2000 characters",
                ),
            ));
            None
        }
        Err(TextError::Empty) => {
            errors.push((
                ErrorCode::ValidationFailed,
                field(
                    "description",
                    "required",
                    "Hãy mô tả vấn đề",
                    "Describe the problem",
                ),
            ));
            None
        }
        Err(TextError::ControlCharacters | TextError::OutOfRange) => {
            errors.push((
                ErrorCode::ValidationFailed,
                field(
                    "description",
                    "invalid_characters",
                    "Nội dung chứa ký tự điều khiển",
                    "Contains control characters",
                ),
            ));
            None
        }
    };
    let at = match Coordinates::parse(body.location.lat, body.location.lon) {
        Ok(at) => Some(at),
        Err(e) => {
            let name = match e {
                crate::domain::geometry::CoordinateError::Latitude => "location.lat",
                crate::domain::geometry::CoordinateError::Longitude => "location.lon",
            };
            errors.push((
                ErrorCode::ValidationFailed,
                field(name, "out_of_range", "Tọa độ không hợp lệ", &e.to_string()),
            ));
            None
        }
    };
    let accuracy_m = parse_accuracy(body.location.accuracy_m).unwrap_or_else(|_| {
        errors.push((
            ErrorCode::ValidationFailed,
            field(
                "location.accuracy_m",
                "out_of_range",
                "Độ chính xác phải từ 0 đến 100000 m",
                "Accuracy must be 0 to 100000 metres",
            ),
        ));
        None
    });
    let address = Address::parse(body.address.as_deref()).unwrap_or_else(|e| {
        let (code, vi, en) = match e {
            TextError::TooLong => (
                "too_long",
                "Địa chỉ tối đa 300 ký tự",
                "At most 300 characters",
            ),
            _ => (
                "invalid_characters",
                "Địa chỉ chỉ gồm một dòng",
                "One line, no control characters",
            ),
        };
        errors.push((ErrorCode::ValidationFailed, field("address", code, vi, en)));
        None
    });
    let unique: std::collections::HashSet<_> = body.media_ids.iter().collect();
    if unique.len() != body.media_ids.len() {
        errors.push((
            ErrorCode::InvalidMedia,
            field(
                "media_ids",
                "duplicate",
                "Một ảnh được gửi hai lần",
                "A photo is listed twice",
            ),
        ));
    }
    if body.media_ids.len() > max_media {
        errors.push((
            ErrorCode::InvalidMedia,
            field(
                "media_ids",
                "too_many",
                &format!("Tối đa {max_media} ảnh"),
                &format!("At most {max_media} photos"),
            ),
        ));
    }
    if let Some((code, _)) = errors.first() {
        let mut err = ApiError::new(*code);
        for (_, f) in errors {
            err = err.with_field(f);
        }
        return Err(err);
    }
    Ok(Checked {
        category: body.category.trim().to_owned(),
        // All three are Some when no error was recorded.
        description: description.ok_or_else(|| ApiError::new(ErrorCode::ValidationFailed))?,
        at: at.ok_or_else(|| ApiError::new(ErrorCode::ValidationFailed))?,
        accuracy_m,
        address,
        media_ids: body.media_ids.clone(),
        anonymous: body.anonymous,
    })
}

const IDEMPOTENCY_SCOPE: &str = "POST /api/v1/reports";

/// Who submits a report.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Submitter<'a> {
    /// A resident, signed in to the app: the report is theirs.
    Resident(&'a AuthUser),
    /// An Open311 partner application (its API key's id), with the contact details it passed on
    /// from the person reporting. The report belongs to no account.
    Partner {
        api_key: Uuid,
        contact: &'a db::report_contacts::Contact,
    },
}

impl Submitter<'_> {
    /// Whose idempotency keys and photos these are: the user, or the API key.
    fn owner(&self) -> Uuid {
        match self {
            Submitter::Resident(user) => user.id,
            Submitter::Partner { api_key, .. } => *api_key,
        }
    }
}

/// A submission through one of the doors (`POST /api/v1/reports`, `POST /open311/v2/requests`).
pub(crate) struct Intake<'a> {
    pub submitter: Submitter<'a>,
    pub checked: Checked,
    /// `Idempotency-Key` scope: the door.
    pub scope: &'static str,
    pub key: Option<IdempotencyKey>,
    /// Hash of the request as the client sent it: the same key with another body is refused.
    pub request_hash: Vec<u8>,
}

pub(crate) enum Outcome {
    Created(Box<SubmittedReport>),
    /// The answer stored the first time this `Idempotency-Key` was used: status and body.
    Replay(i16, serde_json::Value),
}

/// Validated, located, routed, given its deadline, stored with its timeline event, photos and
/// the department's notification, in one transaction; or, for a retried `Idempotency-Key`, the
/// first answer. Every door calls this: there is one way a report comes in.
pub(crate) async fn intake(state: &AppState, intake: Intake<'_>) -> Result<Outcome, ApiError> {
    let Intake {
        submitter,
        checked,
        scope,
        key,
        request_hash,
    } = intake;
    let owner = submitter.owner();
    let mut conn = state.conn().await?;
    let outcome = conn
        .transaction::<Outcome, ApiError, _>(async |conn| {
            if let Some(key) = &key
                && !db::idempotency_keys::claim(conn, owner, scope, key.as_str(), &request_hash)
                    .await?
            {
                return replay(conn, owner, scope, key.as_str(), &request_hash).await;
            }
            let report = create(conn, state, submitter, &checked).await?;
            if let Some(key) = &key {
                let json = serde_json::to_value(&report).map_err(ApiError::internal)?;
                db::idempotency_keys::complete(
                    conn,
                    owner,
                    scope,
                    key.as_str(),
                    201,
                    &json,
                    report.id,
                )
                .await?;
            }
            Ok(Outcome::Created(Box::new(report)))
        })
        .await?;
    if let Outcome::Created(report) = &outcome {
        let via = match submitter {
            Submitter::Resident(_) => "app",
            Submitter::Partner { .. } => "open311",
        };
        metrics::counter!("phananh_reports_submitted_total", "via" => via).increment(1);
        tracing::info!(report = %report.id, area = %report.area.code, department = %report.department.id, via, "report submitted");
    }
    Ok(outcome)
}

/// Submits a report. It is validated, located in the commune valid today (polygon containment,
/// or the nearest centroid for communes without a boundary), routed by the most specific rule to
/// a department (the triage desk when none matches), given its legal deadline in working time,
/// and answered with open reports of the same category nearby as possible duplicates.
/// With an `Idempotency-Key`, retries of the same body return the original 201 — also when they
/// arrive at the same moment — and the same key with another body is 409.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: 1–255 visible ASCII characters")),
    request_body = NewReportRequest,
    responses(
        (status = 201, description = "Submitted (or the original answer to this Idempotency-Key)", body = SubmittedReport),
        (status = 400, description = "Malformed JSON, unknown field, or a bad `Idempotency-Key`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_reused`: the key was used with another body", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`consent_required`, `unknown_category`, `description_too_long`, `location_outside_jurisdiction`, `invalid_media` or `validation_failed` (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/reports")]
pub async fn submit_report(
    request: AuthenticatedJson<Accounts, NewReportRequest>,
    http: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let key = idempotency_key(&http)?;
    let checked = check(&body, state.settings.reports.max_media)?;
    let canonical = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let outcome = intake(
        &state,
        Intake {
            submitter: Submitter::Resident(&user),
            checked,
            scope: IDEMPOTENCY_SCOPE,
            key,
            request_hash: Sha256::digest(canonical).to_vec(),
        },
    )
    .await?;
    match outcome {
        Outcome::Created(report) => Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/reports/{}", report.id)))
            .json(report)),
        Outcome::Replay(status, json) => {
            let status = actix_web::http::StatusCode::from_u16(status as u16)
                .unwrap_or(actix_web::http::StatusCode::CREATED);
            let mut response = HttpResponse::build(status);
            if let Some(id) = json.get("id").and_then(|v| v.as_str()) {
                response.insert_header((header::LOCATION, format!("/api/v1/reports/{id}")));
            }
            Ok(response
                .insert_header(("Idempotent-Replayed", "true"))
                .json(json))
        }
    }
}

/// The key was claimed before (PostgreSQL made us wait if that request was still running).
async fn replay(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    scope: &str,
    key: &str,
    hash: &[u8],
) -> Result<Outcome, ApiError> {
    let stored = db::idempotency_keys::find(conn, owner, scope, key)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict))?;
    if stored.request_hash != hash {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused).with_detail(
            "Khóa Idempotency-Key này đã được dùng cho một phản ánh khác",
            "This Idempotency-Key was already used with a different request",
        ));
    }
    match (stored.status_code, stored.response) {
        (Some(status), Some(json)) => Ok(Outcome::Replay(status, json)),
        _ => Err(ApiError::new(ErrorCode::Conflict).with_detail(
            "Yêu cầu trước với khóa này đang được xử lý",
            "The first request with this key is still being processed",
        )),
    }
}

/// Today's date where the district is.
fn today_in_vietnam(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&vietnam()).date_naive()
}

/// Where a report goes: the commune valid on the day, and the department of the most specific
/// active rule (the triage desk when none matches), with the sentence that says why.
pub(crate) struct Routed {
    pub area: crate::domain::routing::AreaShape,
    /// How the commune was found when the point is in none (the nearest centroid), if so.
    pub placement_note: Option<String>,
    pub department: db::departments::Department,
    pub rule: Option<db::routing_rules::RoutingRule>,
    pub reason: String,
}

/// Routes a report of `category` at `at` submitted `now`, as submission does (and the admins'
/// dry run): 422 `location_outside_jurisdiction` outside every commune.
pub(crate) async fn route_report(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    category: &db::categories::Category,
    at: Coordinates,
    now: DateTime<Utc>,
) -> Result<Routed, ApiError> {
    let settings = &state.settings.reports;
    let index = state.areas.get(conn).await?;
    let located = index
        .locate(at, today_in_vietnam(now), settings.centroid_max_distance_m)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::LocationOutsideJurisdiction)
                .with_detail(
                    "Vị trí này nằm ngoài địa bàn tiếp nhận phản ánh",
                    "This location is outside the area this service covers",
                )
                .with_field(field(
                    "location",
                    "outside_jurisdiction",
                    "Vị trí nằm ngoài địa bàn",
                    "Outside every area",
                ))
        })?;
    let area = located.area.clone();
    let placement_note = located.placement.note();

    let rules = db::routing_rules::list_active(conn).await?;
    let (department, rule_used) = db::routing_rules::route(conn, &rules, category.id, area.id)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "no routing rule and no active triage desk for category {} in area {}",
                category.code,
                area.code
            ))
        })?;
    let area_label = db::areas::name_in_sentence(conn, area.id).await?;
    let reason = routing_reason(
        &category.name_vi,
        &area_label,
        placement_note.clone(),
        &department.name,
        rule_used.map(|r| r.number),
    );
    Ok(Routed {
        area,
        placement_note,
        department,
        rule: rule_used.cloned(),
        reason,
    })
}

async fn create(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    submitter: Submitter<'_>,
    checked: &Checked,
) -> Result<SubmittedReport, ApiError> {
    let settings = &state.settings.reports;
    let now = Utc::now();
    let category = db::categories::find_by_code(conn, &checked.category)
        .await?
        .filter(|c| c.active)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownCategory).with_field(field(
                "category",
                "unknown",
                "Lĩnh vực không tồn tại hoặc đã ngừng nhận phản ánh",
                "No active category has this code",
            ))
        })?;

    let Routed {
        area,
        department,
        rule: rule_used,
        reason,
        ..
    } = route_report(conn, state, &category, checked.at, now).await?;

    // When: the legal deadline in working time.
    let calendar = db::holidays::load_calendar(conn).await?;
    let due_at = calendar.due_at(now, category.deadline_amount, category.deadline_unit);
    let ack_due_at = calendar.add_working_minutes(now, i64::from(settings.ack_working_hours) * 60);

    // Photos: the caller's, ready, not attached, not expired. (A partner's photos were stored by
    // this same request, with no owner account.)
    let owner = match submitter {
        Submitter::Resident(user) => Some(user.id),
        Submitter::Partner { .. } => None,
    };
    let photos = db::media::lock_for_attach(conn, &checked.media_ids).await?;
    for (i, id) in checked.media_ids.iter().enumerate() {
        let usable = photos.iter().find(|m| m.id == *id).is_some_and(|m| {
            m.owner_id == owner
                && m.status == MediaStatus::Ready
                && m.report_id.is_none()
                && m.expires_at.is_some_and(|e| e > now)
        });
        if !usable {
            return Err(ApiError::new(ErrorCode::InvalidMedia).with_field(field(
                &format!("media_ids[{i}]"),
                "unusable",
                "Ảnh không tồn tại, đã hết hạn hoặc đã được dùng",
                "Unknown, expired, not yours, or already attached",
            )));
        }
    }

    // A partner application collects consent under its agreement with the deployment: recorded
    // as given through that application's key, not as our notice's version.
    let consent_version = match submitter {
        Submitter::Resident(_) => settings.consent_version.clone(),
        Submitter::Partner { api_key, .. } => format!("open311:{api_key}"),
    };
    let id = Uuid::now_v7();
    let tracking_code = TrackingCode::generate();
    db::reports::insert(
        conn,
        &db::reports::NewReport {
            id,
            tracking_code: tracking_code.as_str(),
            reporter_id: owner,
            anonymous: checked.anonymous,
            category_id: category.id,
            area_id: area.id,
            department_id: department.id,
            routing_rule_id: rule_used.map(|r| r.id),
            routing_reason: &reason,
            status: ReportStatus::New,
            description: checked.description.as_str(),
            address: checked.address.as_ref().map(|a| a.as_str()),
            lat: checked.at.lat,
            lon: checked.at.lon,
            accuracy_m: checked.accuracy_m,
            consent_version: &consent_version,
            consent_at: now,
            due_at,
            ack_due_at,
            created_at: now,
        },
    )
    .await?;
    let event_id = Uuid::now_v7();
    db::report_events::insert(
        conn,
        &db::report_events::ReportEvent {
            id: event_id,
            report_id: id,
            area_id: area.id,
            actor_id: owner,
            actor_role: match submitter {
                Submitter::Resident(user) => Some(user.role),
                Submitter::Partner { .. } => None,
            },
            action: "created".into(),
            from_status: None,
            to_status: ReportStatus::New,
            public_note: Some(reason.clone()),
            internal_note: None,
            created_at: now,
            details: None,
        },
    )
    .await?;
    if let Submitter::Partner { api_key, contact } = submitter {
        db::report_contacts::insert(conn, id, api_key, contact).await?;
    }
    crate::notify::enqueue::ticket_arrived(conn, &state.settings.public_url, id).await?;
    let mut photo_refs = Vec::new();
    for (position, media_id) in checked.media_ids.iter().enumerate() {
        db::media::attach(conn, *media_id, id, event_id, position as i16, false).await?;
        if let Some(m) = photos.iter().find(|m| m.id == *media_id) {
            photo_refs.push(photo_ref(state, m));
        }
    }

    let possible_duplicates = if category.public {
        duplicates(
            conn,
            state,
            category.id,
            &category.code,
            checked.at,
            now,
            id,
        )
        .await?
    } else {
        // Reports of non-public categories (security) are never shown to other residents.
        Vec::new()
    };

    Ok(SubmittedReport {
        id,
        tracking_code: tracking_code.as_str().to_owned(),
        status: ReportStatus::New,
        category: category.code.clone(),
        area: AreaRef {
            code: area.code.clone(),
            name: area.name.clone(),
        },
        department: DepartmentRef {
            id: department.id,
            name: department.name.clone(),
        },
        routing_reason: reason,
        due_at,
        created_at: now,
        photos: photo_refs,
        possible_duplicates,
    })
}

/// A photo as anyone may see it. Callers showing it to the public leave out removed photos
/// ([`db::media::Media::is_removed`]).
pub(crate) fn photo_ref(state: &AppState, m: &db::media::Media) -> PhotoRef {
    let (url, thumbnail_url) = media_urls_of(&state.settings.public_url, m);
    PhotoRef {
        id: m.id,
        url,
        thumbnail_url,
        width: m.display_width,
        height: m.display_height,
        redaction: None,
        original_url: None,
    }
}

/// A photo as the handling staff see it: with its moderation and the unredacted image.
pub(crate) fn staff_photo_ref(state: &AppState, m: &db::media::Media) -> PhotoRef {
    let mut p = photo_ref(state, m);
    if m.redaction.is_some() {
        p.redaction = m.redaction.clone();
        p.original_url = Some(original_url(&state.settings.public_url, m.id));
    }
    p
}

/// The photos of a report (or event) that `staff` or anyone else may see listed.
pub(crate) fn photo_refs<'a>(
    state: &AppState,
    photos: impl IntoIterator<Item = &'a db::media::Media>,
    staff: bool,
) -> Vec<PhotoRef> {
    photos
        .into_iter()
        .filter(|m| staff || !m.is_removed())
        .map(|m| {
            if staff {
                staff_photo_ref(state, m)
            } else {
                photo_ref(state, m)
            }
        })
        .collect()
}

/// Metres per degree of latitude (and of longitude at the equator).
const METRES_PER_DEGREE: f64 = 111_320.0;

/// A box that contains every point within `radius_m` of `at`.
pub fn box_around(at: Coordinates, radius_m: f64) -> BoundingBox {
    let dlat = radius_m / METRES_PER_DEGREE;
    let dlon = radius_m / (METRES_PER_DEGREE * at.lat.to_radians().cos().abs().max(0.01));
    BoundingBox {
        min_lon: at.lon - dlon,
        min_lat: at.lat - dlat,
        max_lon: at.lon + dlon,
        max_lat: at.lat + dlat,
    }
}

async fn duplicates(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    category: Uuid,
    category_code: &str,
    at: Coordinates,
    now: DateTime<Utc>,
    exclude: Uuid,
) -> Result<Vec<PossibleDuplicate>, ApiError> {
    let settings = &state.settings.reports;
    let radius = settings.duplicate_radius_m;
    let since = now - chrono::Duration::days(i64::from(settings.duplicate_days));
    let candidates =
        db::reports::open_nearby(conn, category, box_around(at, radius), since, exclude).await?;
    let mut near: Vec<_> = candidates
        .into_iter()
        .map(|r| {
            let d = distance_m(
                at,
                Coordinates {
                    lat: r.lat,
                    lon: r.lon,
                },
            );
            (r, d)
        })
        .filter(|(_, d)| *d <= radius)
        .collect();
    near.sort_by(|a, b| a.1.total_cmp(&b.1));
    near.truncate(5);
    let ids: Vec<Uuid> = near.iter().map(|(r, _)| r.id).collect();
    let photos = db::media::for_reports(conn, &ids).await?;
    Ok(near
        .into_iter()
        .map(|(r, d)| PossibleDuplicate {
            id: r.id,
            distance_m: d.round(),
            status: r.status,
            category: category_code.to_owned(),
            description: r.description.chars().take(140).collect(),
            created_at: r.created_at,
            thumbnail_url: photos
                .iter()
                .find(|m| m.report_id == Some(r.id) && !m.from_staff && !m.is_removed())
                .map(|m| media_urls_of(&state.settings.public_url, m).1),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Reads

/// What the caller may see of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Public,
    Owner,
    /// Staff of the handling department, or an admin.
    Staff {
        admin: bool,
        /// Who is looking (their reading of the reporter's contact is audited).
        viewer: (Uuid, Role),
    },
}

pub(crate) fn audience(user: Option<&AuthUser>, r: &db::reports::Report) -> Audience {
    let Some(user) = user else {
        return Audience::Public;
    };
    match user.role {
        Role::Admin => Audience::Staff {
            admin: true,
            viewer: (user.id, user.role),
        },
        Role::Staff | Role::Manager if user.department == Some(r.department_id) => {
            Audience::Staff {
                admin: false,
                viewer: (user.id, user.role),
            }
        }
        _ if r.reporter_id == Some(user.id) => Audience::Owner,
        _ => Audience::Public,
    }
}

pub(crate) async fn view(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    row: ReportWithNames,
    photos: &[db::media::Media],
    audience: Audience,
) -> Result<ReportView, ApiError> {
    let r = row.report;
    let private = audience != Audience::Public;
    let reporter = match audience {
        Audience::Staff { admin, viewer } => reporter(conn, &r, admin, viewer).await?,
        _ => None,
    };
    Ok(ReportView {
        id: r.id,
        status: r.status,
        category: row.category_code,
        category_name: row.category_name_vi,
        area: AreaRef {
            code: row.area_code,
            name: row.area_name,
        },
        department: DepartmentRef {
            id: r.department_id,
            name: row.department_name,
        },
        description: r.description,
        address: r.address,
        location: ReportLocation {
            lat: r.lat,
            lon: r.lon,
            accuracy_m: if private { r.accuracy_m } else { None },
        },
        photos: photo_refs(
            state,
            photos
                .iter()
                .filter(|m| m.report_id == Some(r.id) && !m.from_staff),
            matches!(audience, Audience::Staff { .. }),
        ),
        due_at: r.due_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        tracking_code: private.then(|| r.tracking_code.clone()),
        routing_reason: r.routing_reason.clone(),
        resolved_at: r.resolved_at,
        duplicate_of: r.duplicate_of,
        follower_count: r.follower_count,
        anonymous: private.then_some(r.anonymous),
        consent: private.then(|| Consent {
            version: r.consent_version.clone(),
            at: r.consent_at,
        }),
        hidden: private.then_some(r.hidden_at.is_some()),
        reporter,
    })
}

/// Finds a report the caller may see: reports of non-public categories, and reports hidden by
/// moderation, exist only for their reporter and staff (404 for anyone else).
pub(crate) fn visible(
    row: Option<ReportWithNames>,
    user: Option<&AuthUser>,
) -> Result<(ReportWithNames, Audience), ApiError> {
    let row = row.ok_or_else(ApiError::not_found)?;
    let who = audience(user, &row.report);
    if (!row.category_public || row.report.is_hidden()) && who == Audience::Public {
        return Err(ApiError::not_found());
    }
    Ok((row, who))
}

async fn detail(
    state: &AppState,
    row: Option<ReportWithNames>,
    user: Option<&AuthUser>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let (row, who) = visible(row, user)?;
    let photos = db::media::for_reports(&mut conn, &[row.report.id]).await?;
    let body = view(&mut conn, state, row, &photos, who).await?;
    let cache = if who == Audience::Public {
        "public, max-age=30"
    } else {
        "private, no-store"
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Authorization"))
        .json(body))
}

/// One report: public fields for anyone; private fields for its reporter and the handling staff.
#[utoipa::path(
    tag = "reports",
    security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "The report", body = ReportView),
        (status = 401, description = "Invalid credentials were sent", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report, or not visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/reports/{id}")]
pub async fn get_report(
    path: web::Path<Uuid>,
    user: MaybeAuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let row = {
        let mut conn = state.conn().await?;
        db::reports::find(&mut conn, path.into_inner()).await?
    };
    detail(&state, row, user.0.as_ref()).await
}

/// A report by its tracking code (any case; spaces and dashes ignored), as [`get_report`].
#[utoipa::path(
    tag = "reports",
    security((), ("bearer" = [])),
    params(("tracking_code" = String, Path, description = "e.g. `7KXM4-R2QHD`")),
    responses(
        (status = 200, description = "The report", body = ReportView),
        (status = 401, description = "Invalid credentials were sent", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No report has this code (or it was misread: the check character does not match)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/reports/by-code/{tracking_code}")]
pub async fn get_report_by_code(
    path: web::Path<String>,
    user: MaybeAuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let code = TrackingCode::parse(&path).map_err(|e| {
        ApiError::not_found().with_detail(
            "Mã phản ánh không đúng, vui lòng kiểm tra lại",
            format!("Not a valid tracking code: {e}"),
        )
    })?;
    let row = {
        let mut conn = state.conn().await?;
        db::reports::find_by_tracking_code(&mut conn, code.as_str()).await?
    };
    detail(&state, row, user.0.as_ref()).await
}

/// A report's timeline, oldest first, as `staff` (internal notes, assignees) or anyone may see it.
pub(crate) async fn event_views(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    report: Uuid,
    staff: bool,
) -> Result<Vec<ReportEventView>, ApiError> {
    let events = db::report_events::for_report(conn, report).await?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let photos = db::media::for_events(conn, &ids).await?;
    let mut departments: std::collections::HashMap<Uuid, String> = Default::default();
    let mut users: std::collections::HashMap<Uuid, String> = Default::default();
    let mut items = Vec::with_capacity(events.len());
    for e in events {
        if !staff && db::report_events::is_moderation(&e.action) {
            continue;
        }
        let details = db::report_events::EventDetails::from_json(e.details.as_ref());
        let from_department =
            department_ref(conn, &mut departments, details.from_department).await?;
        let to_department = department_ref(conn, &mut departments, details.to_department).await?;
        let assignee = match details.assignee.filter(|_| staff) {
            Some(id) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(id) {
                    let name = db::users::find(conn, id)
                        .await?
                        .map(|u| u.full_name)
                        .unwrap_or_default();
                    slot.insert(name);
                }
                Some(UserRef {
                    id,
                    full_name: users.get(&id).cloned().unwrap_or_default(),
                })
            }
            None => None,
        };
        items.push(ReportEventView {
            id: e.id,
            photos: photo_refs(
                state,
                photos.iter().filter(|m| m.event_id == Some(e.id)),
                staff,
            ),
            action: e.action,
            from_status: e.from_status,
            to_status: e.to_status,
            actor_role: e.actor_role,
            public_note: e.public_note,
            internal_note: if staff { e.internal_note } else { None },
            from_department,
            to_department,
            due_at_before: details.due_at_before,
            due_at_after: details.due_at_after,
            duplicate_of: details.duplicate_of,
            assignee,
            description_before: details.before.filter(|_| staff),
            description_after: details.after.filter(|_| staff),
            media_id: details.media_id.filter(|_| staff),
            redaction: details.redaction.filter(|_| staff),
            created_at: e.created_at,
        });
    }
    Ok(items)
}

async fn department_ref(
    conn: &mut AsyncPgConnection,
    names: &mut std::collections::HashMap<Uuid, String>,
    id: Option<Uuid>,
) -> Result<Option<DepartmentRef>, ApiError> {
    let Some(id) = id else { return Ok(None) };
    if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id) {
        let name = db::departments::find(conn, id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default();
        slot.insert(name);
    }
    Ok(Some(DepartmentRef {
        id,
        name: names.get(&id).cloned().unwrap_or_default(),
    }))
}

/// The report's timeline, oldest first. Internal notes only for the handling staff.
#[utoipa::path(
    tag = "reports",
    security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "Timeline", body = ReportEventPage),
        (status = 401, description = "Invalid credentials were sent", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report, or not visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/reports/{id}/events")]
pub async fn get_report_events(
    path: web::Path<Uuid>,
    user: MaybeAuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let row = db::reports::find(&mut conn, path.into_inner()).await?;
    let (row, who) = visible(row, user.0.as_ref())?;
    let staff = matches!(who, Audience::Staff { .. });
    let items = event_views(&mut conn, &state, row.report.id, staff).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::VARY, "Authorization"))
        .json(ReportEventPage {
            items,
            next_cursor: None,
        }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// `minLon,minLat,maxLon,maxLat` (WGS84; min ≤ max).
    #[param(
        pattern = "^( *-?(180(\\.0+)?|(1[0-7][0-9]|[0-9]{1,2})(\\.[0-9]+)?) *, *-?(90(\\.0+)?|[0-8]?[0-9](\\.[0-9]+)?) *, *-?(180(\\.0+)?|(1[0-7][0-9]|[0-9]{1,2})(\\.[0-9]+)?) *, *-?(90(\\.0+)?|[0-8]?[0-9](\\.[0-9]+)?) *)?$"
    )]
    pub bbox: Option<String>,
    /// One status or several, comma-separated (`new,accepted`).
    #[param(
        pattern = "^ *((new|accepted|in_progress|on_hold|resolved|closed|rejected|duplicate|reopened) *(, *(new|accepted|in_progress|on_hold|resolved|closed|rejected|duplicate|reopened) *)*)?$"
    )]
    pub status: Option<String>,
    /// A category code.
    pub category: Option<String>,
    /// An area (commune) code.
    pub area: Option<String>,
    /// Only reports submitted at or after this time (RFC 3339) or day (`YYYY-MM-DD`, Vietnam time).
    #[param(
        pattern = "^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)?$"
    )]
    pub since: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub(crate) fn bad_query(vi: &str, en: &str) -> ApiError {
    ApiError::invalid_query(vi.to_owned(), en.to_owned())
}

pub(crate) fn parse_bbox(raw: &str) -> Result<BoundingBox, ApiError> {
    let bad = || {
        bad_query(
            "bbox phải là minLon,minLat,maxLon,maxLat",
            "bbox must be minLon,minLat,maxLon,maxLat",
        )
    };
    let n: Vec<f64> = raw
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [min_lon, min_lat, max_lon, max_lat] = n[..] else {
        return Err(bad());
    };
    let ok = Coordinates::parse(min_lat, min_lon).is_ok()
        && Coordinates::parse(max_lat, max_lon).is_ok()
        && min_lon <= max_lon
        && min_lat <= max_lat;
    if !ok {
        return Err(bad());
    }
    Ok(BoundingBox {
        min_lon,
        min_lat,
        max_lon,
        max_lat,
    })
}

fn parse_since(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(vietnam()).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            bad_query(
                "since phải là thời điểm RFC 3339 hoặc ngày YYYY-MM-DD",
                "since must be an RFC 3339 time or a YYYY-MM-DD date",
            )
        })
}

fn encode_cursor(c: Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        c.created_at.timestamp_micros(),
        c.id
    ))
}

fn decode_cursor(raw: &str) -> Result<Cursor, ApiError> {
    let bad = || bad_query("cursor không hợp lệ", "Invalid cursor");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    // Within what PostgreSQL stores and this service can have written (a forged far-away time
    // would otherwise reach the database as an out-of-range timestamp).
    let plausible = |t: &DateTime<Utc>| (2000..=9999).contains(&t.year());
    Ok(Cursor {
        created_at: micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .filter(plausible)
            .ok_or_else(bad)?,
        id: id.parse().map_err(|_| bad())?,
    })
}

pub(crate) fn page_limit(limit: Option<u32>) -> Result<i64, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=100 => Ok(i64::from(n)),
        _ => Err(bad_query(
            "limit phải từ 1 đến 100",
            "limit must be between 1 and 100",
        )),
    }
}

pub(crate) async fn page(
    state: &AppState,
    filter: &FeedFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
    audience: Audience,
) -> Result<ReportPage, ApiError> {
    let limit = page_limit(limit)?;
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let mut conn = state.conn().await?;
    let mut rows = db::reports::list(&mut conn, filter, cursor, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last()).flatten().map(|r| {
        encode_cursor(Cursor {
            created_at: r.report.created_at,
            id: r.report.id,
        })
    });
    let ids: Vec<Uuid> = rows.iter().map(|r| r.report.id).collect();
    let photos = db::media::for_reports(&mut conn, &ids).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(view(&mut conn, state, row, &photos, audience).await?);
    }
    Ok(ReportPage { items, next_cursor })
}

fn wants_geojson(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/geo+json"))
}

/// The public feed, newest first: reports of public categories, never with their reporter's
/// identity. `Accept: application/geo+json` returns a GeoJSON FeatureCollection (with
/// `next_cursor` as a foreign member).
#[utoipa::path(
    tag = "reports",
    params(FeedQuery),
    responses(
        (status = 200, description = "A page of reports (or a GeoJSON FeatureCollection)", content(
            (ReportPage = "application/json"),
            (serde_json::Value = "application/geo+json")
        )),
        (status = 400, description = "`invalid_query`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/reports")]
pub async fn list_reports(
    query: web::Query<FeedQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let statuses = match nonempty(q.status) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| {
                ReportStatus::parse(s.trim()).ok_or_else(|| {
                    bad_query(
                        "status không hợp lệ",
                        "status must be one or more of new, accepted, in_progress, on_hold, resolved, closed, rejected, duplicate, reopened",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let filter = FeedFilter {
        bbox: nonempty(q.bbox).as_deref().map(parse_bbox).transpose()?,
        statuses,
        category: nonempty(q.category),
        area: nonempty(q.area),
        since: nonempty(q.since).as_deref().map(parse_since).transpose()?,
        reporter: None,
    };
    let page = page(
        &state,
        &filter,
        q.cursor.as_deref(),
        q.limit,
        Audience::Public,
    )
    .await?;
    if wants_geojson(&req) {
        let features: Vec<serde_json::Value> = page
            .items
            .iter()
            .map(|item| {
                let mut properties = serde_json::to_value(item).unwrap_or_default();
                if let Some(map) = properties.as_object_mut() {
                    map.remove("location");
                }
                serde_json::json!({
                    "type": "Feature",
                    "id": item.id,
                    "geometry": {"type": "Point", "coordinates": [item.location.lon, item.location.lat]},
                    "properties": properties,
                })
            })
            .collect();
        let body = serde_json::json!({
            "type": "FeatureCollection",
            "features": features,
            "next_cursor": page.next_cursor,
        });
        return Ok(HttpResponse::Ok()
            .content_type("application/geo+json")
            .insert_header((header::VARY, "Accept"))
            .json(body));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::VARY, "Accept"))
        .json(page))
}

/// The caller's own reports, newest first, with their private fields (all categories).
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's reports", body = ReportPage),
        (status = 400, description = "`invalid_query`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/me/reports")]
pub async fn my_reports(
    user: Authenticated<Accounts>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = FeedFilter {
        reporter: Some(user.id),
        ..FeedFilter::default()
    };
    let q = query.into_inner();
    let page = page(
        &state,
        &filter,
        q.cursor.as_deref(),
        q.limit,
        Audience::Owner,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_400_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        assert!(decode_cursor("not-a-cursor").is_err());
        assert!(decode_cursor("").is_err());
    }

    #[test]
    fn bbox_is_checked() {
        let b = parse_bbox("108.4,11.6,108.7,11.9").unwrap();
        assert_eq!(b.to_array(), [108.4, 11.6, 108.7, 11.9]);
        for bad in [
            "1,2,3",
            "a,b,c,d",
            "108.7,11.6,108.4,11.9",
            "0,0,200,1",
            "NaN,0,1,1",
        ] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_box_around_a_point_holds_the_whole_circle() {
        let at = Coordinates::parse(11.74, 108.58).unwrap();
        let b = box_around(at, 150.0);
        for (dlat, dlon) in [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)] {
            // points exactly 149 m away in each direction lie inside the box
            let p = Coordinates {
                lat: at.lat + dlat * 149.0 / METRES_PER_DEGREE,
                lon: at.lon + dlon * 149.0 / (METRES_PER_DEGREE * at.lat.to_radians().cos()),
            };
            assert!(distance_m(at, p) < 150.0);
            assert!(
                p.lat >= b.min_lat
                    && p.lat <= b.max_lat
                    && p.lon >= b.min_lon
                    && p.lon <= b.max_lon
            );
        }
    }

    #[test]
    fn since_accepts_times_and_vietnamese_days() {
        let t = parse_since("2026-11-29").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-28T17:00:00+00:00");
        assert!(parse_since("2026-11-29T08:00:00+07:00").is_ok());
        assert!(parse_since("yesterday").is_err());
    }
}

//! `requests` (GET: the public reports; POST: a partner application submits one),
//! `requests/{id}` and `tokens/{token}`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, Utc};
use futures_util::StreamExt as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::MAX_WINDOW_DAYS;
use super::xml::{ToXml, Xml};
use super::{
    ErrorItem, Format, Open311Error, OrOpen311, Params, begin, paging, render_list, time_param, w3c,
};
use crate::auth::tokens::hash_token;
use crate::db;
use crate::db::reports::{ReportWithNames, RequestFilter};
use crate::domain::account::ApiKeyPurpose;
use crate::domain::identity::{Email, FullName, Phone};
use crate::domain::report::ReportStatus;
use crate::domain::tracking_code::TrackingCode;
use crate::error::ApiError;
use crate::http_context::Lang;
use crate::routes::media::{idempotency_key, store_photo, upload_error};
use crate::routes::reports::{
    AreaRef, DepartmentRef, Intake, LocationInput, NewReportRequest, Outcome, PhotoRef,
    SubmittedReport, Submitter, check, intake, photo_ref,
};
use crate::startup::AppState;

/// Most ids one `service_request_id` list may name.
const MAX_IDS: usize = 100;
/// Largest form body without photos.
const FORM_LIMIT: usize = 64 * 1024;
/// `Idempotency-Key` scope of submissions through this door.
const SCOPE: &str = "POST /open311/v2/requests";
/// The form fields that make a report (what a retry must repeat).
const REPORT_FIELDS: [&str; 10] = [
    "service_code",
    "lat",
    "long",
    "address_string",
    "description",
    "email",
    "phone",
    "first_name",
    "last_name",
    "media_url",
];

/// `open` or `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Open,
    Closed,
}

impl RequestStatus {
    /// product.md: `new … on_hold, reopened` are open; resolved, closed, rejected and duplicate
    /// are closed.
    pub fn of(status: ReportStatus) -> RequestStatus {
        if status.is_open() {
            RequestStatus::Open
        } else {
            RequestStatus::Closed
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Closed => "closed",
        }
    }

    fn members(self) -> Vec<ReportStatus> {
        ReportStatus::ALL
            .into_iter()
            .filter(|s| RequestStatus::of(*s) == self)
            .collect()
    }
}

/// One entry of a request's public timeline (`extensions=true`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Note {
    pub id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub datetime: String,
    pub status: RequestStatus,
    /// The report's own status after this entry.
    pub detailed_status: ReportStatus,
    /// `created`, `accept`, `start`, `hold`, `resume`, `resolve`, `reject`, `transfer`,
    /// `mark_duplicate`, `extend`, `reopen`, `close`, …
    pub action: String,
    /// The public note, if any.
    pub description: Option<String>,
    /// The first photo attached to this entry.
    pub media_url: Option<String>,
}

impl ToXml for Note {
    fn to_xml(&self, x: &mut Xml) {
        x.text("id", self.id);
        x.text("datetime", &self.datetime);
        x.text("status", self.status.as_str());
        x.text("detailed_status", self.detailed_status.as_str());
        x.text("action", &self.action);
        x.opt("description", self.description.as_ref());
        x.opt("media_url", self.media_url.as_ref());
    }
}

impl ToXml for PhotoRef {
    fn to_xml(&self, x: &mut Xml) {
        x.text("id", self.id);
        x.text("url", &self.url);
        x.text("thumbnail_url", &self.thumbnail_url);
        x.text("width", self.width);
        x.text("height", self.height);
    }
}

/// What this service knows beyond the standard fields (`extensions=true`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtendedAttributes {
    /// The code residents read over the phone (`GET /api/v1/reports/by-code/{code}`).
    pub tracking_code: String,
    pub detailed_status: ReportStatus,
    pub area: AreaRef,
    pub department: DepartmentRef,
    /// Residents following it ("me too").
    pub follower_count: i32,
    /// The reporter's photos (display size), with their thumbnails and sizes.
    pub photos: Vec<PhotoRef>,
}

/// A service request: one public report. Never the reporter's identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceRequest {
    /// The report's id.
    pub service_request_id: String,
    pub status: RequestStatus,
    /// The latest public note of its timeline.
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    pub description: String,
    /// The department handling it.
    pub agency_responsible: String,
    pub service_notice: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub requested_datetime: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_datetime: String,
    /// The legal deadline.
    #[schema(value_type = String, format = DateTime)]
    pub expected_datetime: String,
    pub address: Option<String>,
    pub lat: f64,
    pub long: f64,
    /// The reporter's first photo (display size).
    pub media_url: Option<String>,
    /// `extensions=true`: the public timeline, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<Note>>,
    /// `extensions=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_attributes: Option<ExtendedAttributes>,
}

impl ToXml for ServiceRequest {
    fn to_xml(&self, x: &mut Xml) {
        x.text("service_request_id", &self.service_request_id);
        x.text("status", self.status.as_str());
        x.opt("status_notes", self.status_notes.as_ref());
        x.text("service_name", &self.service_name);
        x.text("service_code", &self.service_code);
        x.text("description", &self.description);
        x.text("agency_responsible", &self.agency_responsible);
        x.opt("service_notice", self.service_notice.as_ref());
        x.text("requested_datetime", &self.requested_datetime);
        x.text("updated_datetime", &self.updated_datetime);
        x.text("expected_datetime", &self.expected_datetime);
        x.opt("address", self.address.as_ref());
        x.text("lat", self.lat);
        x.text("long", self.long);
        x.opt("media_url", self.media_url.as_ref());
        if let Some(notes) = &self.notes {
            x.list("notes", "note", notes);
        }
        if let Some(e) = &self.extended_attributes {
            x.element("extended_attributes", |x| {
                x.text("tracking_code", &e.tracking_code);
                x.text("detailed_status", e.detailed_status.as_str());
                x.element("area", |x| {
                    x.text("code", &e.area.code);
                    x.text("name", &e.area.name);
                });
                x.element("department", |x| {
                    x.text("id", e.department.id);
                    x.text("name", &e.department.name);
                });
                x.text("follower_count", e.follower_count);
                x.list("photos", "photo", &e.photos);
            });
        }
    }
}

/// Reports as service requests: names in the caller's language, the latest public note and first
/// photo of each, and with `extensions` the public timeline and extended attributes.
async fn service_requests(
    state: &AppState,
    rows: Vec<ReportWithNames>,
    lang: Lang,
    extensions: bool,
    format: Format,
) -> Result<Vec<ServiceRequest>, Open311Error> {
    let mut conn = state.conn().await.or_open311(format)?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.report.id).collect();
    let notes = db::report_events::latest_public_notes(&mut conn, &ids)
        .await
        .or_open311(format)?;
    let photos = db::media::for_reports(&mut conn, &ids)
        .await
        .or_open311(format)?;
    // The public timelines of the whole page at once (never their internal notes).
    let (events, event_photos) = if extensions {
        let events = db::report_events::for_reports(&mut conn, &ids)
            .await
            .or_open311(format)?;
        let event_ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let event_photos = db::media::for_events(&mut conn, &event_ids)
            .await
            .or_open311(format)?;
        (events, event_photos)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let r = &row.report;
        let own: Vec<PhotoRef> = photos
            .iter()
            .filter(|m| m.report_id == Some(r.id) && !m.from_staff && !m.is_removed())
            .map(|m| photo_ref(state, m))
            .collect();
        let (timeline, extended) = if extensions {
            let timeline = events
                .iter()
                .filter(|e| e.report_id == r.id && !db::report_events::is_moderation(&e.action))
                .map(|e| Note {
                    id: e.id,
                    datetime: w3c(e.created_at),
                    status: RequestStatus::of(e.to_status),
                    detailed_status: e.to_status,
                    action: e.action.clone(),
                    description: e.public_note.clone(),
                    media_url: event_photos
                        .iter()
                        .find(|m| m.event_id == Some(e.id) && !m.is_removed())
                        .map(|m| photo_ref(state, m).url),
                })
                .collect();
            let extended = ExtendedAttributes {
                tracking_code: r.tracking_code.clone(),
                detailed_status: r.status,
                area: AreaRef {
                    code: row.area_code.clone(),
                    name: row.area_name.clone(),
                },
                department: DepartmentRef {
                    id: r.department_id,
                    name: row.department_name.clone(),
                },
                follower_count: r.follower_count,
                photos: own.clone(),
            };
            (Some(timeline), Some(extended))
        } else {
            (None, None)
        };
        out.push(ServiceRequest {
            service_request_id: r.id.to_string(),
            status: RequestStatus::of(r.status),
            status_notes: notes.get(&r.id).cloned(),
            service_name: match lang {
                Lang::Vi => row.category_name_vi.clone(),
                Lang::En => row.category_name_en.clone(),
            },
            service_code: row.category_code.clone(),
            description: r.description.clone(),
            agency_responsible: row.department_name.clone(),
            service_notice: None,
            requested_datetime: w3c(r.created_at),
            updated_datetime: w3c(r.updated_at),
            expected_datetime: w3c(r.due_at),
            address: r.address.clone(),
            lat: r.lat,
            long: r.lon,
            media_url: own.first().map(|p| p.url.clone()),
            notes: timeline,
            extended_attributes: extended,
        });
    }
    Ok(out)
}

/// `service_request_id=a,b,c`: report ids and tracking codes (anything else matches nothing).
fn wanted(raw: &str, format: Format) -> Result<(Vec<Uuid>, Vec<String>), Open311Error> {
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > MAX_IDS {
        return Err(Open311Error::bad_request(
            format,
            format!("service_request_id lists at most {MAX_IDS} ids"),
        ));
    }
    let mut ids = Vec::new();
    let mut codes = Vec::new();
    for p in parts {
        if let Ok(id) = p.parse::<Uuid>() {
            ids.push(id);
        } else if let Ok(code) = TrackingCode::parse(p) {
            codes.push(code.as_str().to_owned());
        }
    }
    Ok((ids, codes))
}

/// The filter of a `GET requests` query.
async fn request_filter(
    state: &AppState,
    params: &Params,
    format: Format,
) -> Result<RequestFilter, Open311Error> {
    let mut filter = RequestFilter::default();
    if let Some(raw) = params.get("service_code") {
        let mut codes: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        if codes.len() > MAX_IDS {
            return Err(Open311Error::bad_request(
                format,
                format!("service_code lists at most {MAX_IDS} codes"),
            ));
        }
        let mut conn = state.conn().await.or_open311(format)?;
        for code in codes {
            if db::categories::find_by_code(&mut conn, code)
                .await
                .or_open311(format)?
                .is_none()
            {
                return Err(Open311Error::bad_request(
                    format,
                    format!("service_code {code} is not a service here (see services.json)"),
                ));
            }
            filter.categories.push(code.to_owned());
        }
    }
    if let Some(raw) = params.get("status") {
        for s in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let wanted = match s.to_ascii_lowercase().as_str() {
                "open" => RequestStatus::Open,
                "closed" => RequestStatus::Closed,
                _ => {
                    return Err(Open311Error::bad_request(
                        format,
                        "status must be open, closed or open,closed",
                    ));
                }
            };
            filter.statuses.extend(wanted.members());
        }
    }
    let start = time_param(params, "start_date", false, format)?;
    let end = time_param(params, "end_date", true, format)?;
    let window = Duration::days(MAX_WINDOW_DAYS);
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) if e < s => {
            return Err(Open311Error::bad_request(
                format,
                "end_date is before start_date",
            ));
        }
        (Some(s), Some(e)) if e - s > window => {
            return Err(Open311Error::bad_request(
                format,
                format!("start_date and end_date may span at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        (Some(s), Some(e)) => (Some(s), Some(e)),
        (Some(s), None) => (Some(s), Some(s + window)),
        (None, Some(e)) => (Some(e - window), Some(e)),
        (None, None) => (None, None),
    };
    filter.updated_from = time_param(params, "updated_after", false, format)?;
    filter.updated_to = time_param(params, "updated_before", true, format)?;
    if let (Some(a), Some(b)) = (filter.updated_from, filter.updated_to)
        && b < a
    {
        return Err(Open311Error::bad_request(
            format,
            "updated_before is before updated_after",
        ));
    }
    // The specification's default: the last 90 days — unless the client follows changes.
    let following = filter.updated_from.is_some() || filter.updated_to.is_some();
    (filter.requested_from, filter.requested_to) = match (from, to) {
        (None, None) if !following => (Some(Utc::now() - window), None),
        other => other,
    };
    if let Some(raw) = params.get("bbox") {
        filter.bbox = Some(crate::routes::reports::parse_bbox(raw).or_open311(format)?);
    }
    // Ids override every other filter; the others are still checked, so that a malformed one
    // is a 400 whether or not ids came with it.
    if let Some(raw) = params.get("service_request_id") {
        return Ok(RequestFilter {
            only: Some(wanted(raw, format)?),
            ..RequestFilter::default()
        });
    }
    Ok(filter)
}

/// Whether `extensions=true` (`false`, `0`, empty or absent: no). Anything else is a 400 rather
/// than a silent "no": a client that misspells it should not wonder where the notes went.
fn extensions(params: &Params, format: Format) -> Result<bool, Open311Error> {
    match params.get("extensions").map(str::trim) {
        None | Some("") | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(_) => Err(Open311Error::bad_request(
            format,
            "extensions must be true or false",
        )),
    }
}

/// The public reports as service requests, newest first: by ids (`service_request_id`, which
/// overrides every other filter), or by service, status, submission window (default the last 90
/// days, at most 90), last change, box; a page at a time.
#[utoipa::path(
    tag = "open311",
    params(
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
        ("service_request_id" = Option<String>, Query, description = "Comma-separated report ids or tracking codes (at most 100); overrides the other filters"),
        ("service_code" = Option<String>, Query, description = "Comma-separated service codes"),
        ("start_date" = Option<String>, Query, description = "Submitted at or after (W3C date-time)"),
        ("end_date" = Option<String>, Query, description = "Submitted at or before; at most 90 days after start_date"),
        ("status" = Option<String>, Query, description = "`open`, `closed` or both, comma-separated"),
        ("updated_after" = Option<String>, Query, description = "Changed at or after (W3C date-time)"),
        ("updated_before" = Option<String>, Query, description = "Changed at or before (W3C date-time)"),
        ("bbox" = Option<String>, Query, description = "`minLon,minLat,maxLon,maxLat`"),
        ("page" = Option<String>, Query, pattern = "^([1-9][0-9]{0,6})?$", description = "From 1, default (or empty) 1; page × page_size at most 100 000 (further back, narrow the dates)"),
        ("page_size" = Option<String>, Query, pattern = "^([1-9][0-9]{0,2}|1000)?$", description = "1–1000, default (or empty) 50"),
        ("extensions" = Option<bool>, Query, description = "`true` adds `notes` and `extended_attributes`"),
        ("Accept-Language" = Option<String>, Header, description = "`en` for English service names"),
    ),
    responses(
        (status = 200, description = "The requests (XML: `<service_requests><request>`)", content(
            (Vec<ServiceRequest> = "application/json"),
            (String = "text/xml")
        )),
        (status = 400, description = "A malformed parameter", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 404, description = "Unknown format or jurisdiction", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database unreachable", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/requests.{format}")]
pub async fn list_requests(
    path: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let params = Params::from_query(&req);
    let format = begin(&state, &path, &params)?;
    extensions(&params, format)?;
    let filter = request_filter(&state, &params, format).await?;
    let paged = paging(&params, format)?;
    let (offset, limit) = if filter.only.is_some() {
        (0, MAX_IDS as i64)
    } else {
        paged
    };
    let rows = load(&state, &filter, offset, limit, format).await?;
    reply(&state, rows, &req, &params, format).await
}

/// The public reports `filter` selects, a page.
async fn load(
    state: &AppState,
    filter: &RequestFilter,
    offset: i64,
    limit: i64,
    format: Format,
) -> Result<Vec<ReportWithNames>, Open311Error> {
    let mut conn = state.conn().await.or_open311(format)?;
    db::reports::list_requests(&mut conn, filter, offset, limit)
        .await
        .or_open311(format)
}

/// Reports answered as `<service_requests>` / a bare array.
async fn reply(
    state: &AppState,
    rows: Vec<ReportWithNames>,
    req: &HttpRequest,
    params: &Params,
    format: Format,
) -> Result<HttpResponse, Open311Error> {
    let lang = Lang::negotiate(req.headers());
    let items = service_requests(state, rows, lang, extensions(params, format)?, format).await?;
    Ok(render_list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &items,
    ))
}

/// One public report as a service request (an array of one); the id may be a tracking code.
#[utoipa::path(
    tag = "open311",
    params(
        ("service_request_id" = String, Path, description = "A report id or tracking code"),
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
        ("extensions" = Option<bool>, Query, description = "`true` adds `notes` and `extended_attributes`"),
        ("Accept-Language" = Option<String>, Header, description = "`en` for English service names"),
    ),
    responses(
        (status = 200, description = "The request (XML: `<service_requests><request>`)", content(
            (Vec<ServiceRequest> = "application/json"),
            (String = "text/xml")
        )),
        (status = 400, description = "A malformed parameter", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 404, description = "No public report has this id", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database unreachable", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/requests/{service_request_id}.{format}")]
pub async fn get_request(
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let (id, raw_format) = path.into_inner();
    let params = Params::from_query(&req);
    let format = begin(&state, &raw_format, &params)?;
    extensions(&params, format)?;
    let not_found =
        || Open311Error::not_found(format, format!("service_request_id {id} not found"));
    if id.contains(',') {
        return Err(not_found());
    }
    let filter = RequestFilter {
        only: Some(wanted(&id, format)?),
        ..RequestFilter::default()
    };
    let rows = load(&state, &filter, 0, 1, format).await?;
    if rows.is_empty() {
        return Err(not_found());
    }
    reply(&state, rows, &req, &params, format).await
}

/// The service request id behind a token (`[{service_request_id, token}]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenAnswer {
    pub service_request_id: String,
    pub token: String,
}

impl ToXml for TokenAnswer {
    fn to_xml(&self, x: &mut Xml) {
        x.text("service_request_id", &self.service_request_id);
        x.text("token", &self.token);
    }
}

/// The request a token stands for. The token is the report's tracking code, answered with every
/// submission; the id is known at once, so this is only for clients that follow the token.
#[utoipa::path(
    tag = "open311",
    params(
        ("token" = String, Path, description = "The `token` a submission answered (the tracking code)"),
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
    ),
    responses(
        (status = 200, description = "The request's id (XML: `<service_requests><request>`)", content(
            (Vec<TokenAnswer> = "application/json"),
            (String = "text/xml")
        )),
        (status = 404, description = "No public report has this token", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database unreachable", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/tokens/{token}.{format}")]
pub async fn token(
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let (token, raw_format) = path.into_inner();
    let params = Params::from_query(&req);
    let format = begin(&state, &raw_format, &params)?;
    let not_found = || Open311Error::not_found(format, format!("token {token} not found"));
    let code = TrackingCode::parse(&token).map_err(|_| not_found())?;
    let row = {
        let mut conn = state.conn().await.or_open311(format)?;
        db::reports::find_by_tracking_code(&mut conn, code.as_str())
            .await
            .or_open311(format)?
    };
    let row = row
        .filter(|r| r.category_public && !r.report.is_hidden())
        .ok_or_else(not_found)?;
    let answer = [TokenAnswer {
        service_request_id: row.report.id.to_string(),
        token: row.report.tracking_code,
    }];
    Ok(render_list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &answer,
    ))
}

// ---------------------------------------------------------------------------------------------
// Submission

/// The answer to a submission: the new request's id, and its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRequest {
    pub service_request_id: String,
    /// The tracking code, which `tokens/{token}` also resolves.
    pub token: String,
    /// Where it went and why (department, commune, rule).
    pub service_notice: Option<String>,
    /// Always null: requests belong to no account here.
    pub account_id: Option<String>,
}

impl From<&SubmittedReport> for CreatedRequest {
    fn from(r: &SubmittedReport) -> Self {
        CreatedRequest {
            service_request_id: r.id.to_string(),
            token: r.tracking_code.clone(),
            service_notice: Some(r.routing_reason.clone()),
            account_id: None,
        }
    }
}

impl ToXml for CreatedRequest {
    fn to_xml(&self, x: &mut Xml) {
        x.text("service_request_id", &self.service_request_id);
        x.text("token", &self.token);
        x.opt("service_notice", self.service_notice.as_ref());
        x.opt("account_id", self.account_id.as_ref());
    }
}

/// The form of a submission (documentation of `POST requests`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct NewServiceRequest {
    /// A partner application's key (`purpose` open311); also accepted as a query parameter or
    /// `X-Api-Key`.
    pub api_key: String,
    pub service_code: String,
    /// Required: reports are routed by where they are.
    pub lat: f64,
    pub long: f64,
    /// Up to 300 characters, stored as the address.
    pub address_string: Option<String>,
    /// 1–2000 characters.
    pub description: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A link to media the partner holds (kept for the handling staff, never fetched).
    pub media_url: Option<String>,
    /// multipart/form-data only: photos (JPEG, PNG, WebP), at most 6, 15 MB each.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub media: Option<Vec<Vec<u8>>>,
}

fn content_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn multipart(req: &HttpRequest) -> bool {
    content_type(req).starts_with("multipart/form-data")
}

/// A body this endpoint reads: a urlencoded form (also when unlabelled) or multipart.
fn readable(req: &HttpRequest) -> bool {
    let t = content_type(req);
    t.is_empty() || t.starts_with("application/x-www-form-urlencoded") || multipart(req)
}

/// The body as fields (query parameters first, the body's after, so the body wins) and photos.
/// Photos are only written once the sender is known: `partner` already (key in the query or a
/// header), or an `api_key` field sent before the first photo.
async fn read_form(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    format: Format,
    partner: Option<Uuid>,
) -> Result<(Params, Vec<crate::media::upload::Upload>), Open311Error> {
    let mut params = Params::from_query(req);
    if multipart(req) {
        let form = crate::media::upload::receive_fields(
            req.headers(),
            payload,
            &state.upload_dir,
            state.settings.media.max_upload_bytes,
            "media",
            state.settings.reports.max_media,
            async |fields: &[(String, String)]| {
                if partner.is_some() {
                    return true;
                }
                // The same reading rules as every other parameter.
                let key = Params(fields.to_vec()).get("api_key").map(str::to_owned);
                match key {
                    Some(key) => matches!(authenticate(state, &key, format).await, Ok(Some(_))),
                    None => false,
                }
            },
        )
        .await
        .map_err(|e| match e {
            crate::media::upload::UploadError::Refused => forbidden(
                format,
                "A valid api_key (in the query, X-Api-Key, or a form field before the media) is required to send photos",
            ),
            e => Open311Error::from_api(format, upload_error(e)),
        })?;
        params.extend(form.fields);
        return Ok((params, form.files));
    }
    let mut body = web::BytesMut::new();
    let mut payload = payload;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Open311Error::bad_request(format, e.to_string()))?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return Err(Open311Error::new(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The form is larger than {} KiB", FORM_LIMIT / 1024),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        Open311Error::bad_request(format, "The body is not a valid urlencoded form")
    })?;
    params.extend(fields);
    Ok((params, Vec::new()))
}

/// A coordinate parameter: a finite number.
fn coordinate(params: &Params, name: &str, format: Format) -> Result<f64, Open311Error> {
    params
        .get(name)
        .and_then(|raw| raw.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or_else(|| Open311Error::bad_request(format, format!("{name} must be a number")))
}

/// The contact details passed on, each checked.
fn contact(params: &Params, format: Format) -> Result<db::report_contacts::Contact, Open311Error> {
    let name = |field: &str| {
        params
            .get(field)
            .map(|raw| {
                FullName::parse(raw)
                    .map(|n| n.as_str().to_owned())
                    .map_err(|_| {
                        Open311Error::bad_request(
                            format,
                            format!("{field}: at most 100 characters, no control characters"),
                        )
                    })
            })
            .transpose()
    };
    let email = params
        .get("email")
        .map(|raw| {
            Email::parse(raw)
                .map(|e| e.as_str().to_owned())
                .map_err(|_| Open311Error::bad_request(format, "email is not a valid address"))
        })
        .transpose()?;
    let phone = params
        .get("phone")
        .map(|raw| {
            Phone::parse(raw)
                .map(|p| p.as_str().to_owned())
                .map_err(|_| {
                    Open311Error::bad_request(
                        format,
                        "phone is not a valid Vietnamese phone number",
                    )
                })
        })
        .transpose()?;
    let media_url = params
        .get("media_url")
        .map(|raw| {
            let ok = raw.len() <= 2048
                && reqwest::Url::parse(raw).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https") && u.host_str().is_some()
                });
            ok.then(|| raw.to_owned()).ok_or_else(|| {
                Open311Error::bad_request(format, "media_url must be an http(s) URL")
            })
        })
        .transpose()?;
    Ok(db::report_contacts::Contact {
        first_name: name("first_name")?,
        last_name: name("last_name")?,
        email,
        phone,
        media_url,
    })
}

fn forbidden(format: Format, why: &str) -> Open311Error {
    Open311Error::new(format, StatusCode::FORBIDDEN, why)
}

/// The partner application holding this key, if it is a live key issued for Open311.
async fn authenticate(
    state: &AppState,
    key: &str,
    format: Format,
) -> Result<Option<Uuid>, Open311Error> {
    let mut conn = state.conn().await.or_open311(format)?;
    db::api_keys::authenticate(&mut conn, &hash_token(key), ApiKeyPurpose::Open311)
        .await
        .or_open311(format)
}

/// The key sent in `params` (the query, or the whole form) or `X-Api-Key`.
fn key_sent(req: &HttpRequest, params: &Params) -> Option<String> {
    params.get("api_key").map(str::to_owned).or_else(|| {
        req.headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// The partner application holding the key sent, or 403.
async fn partner(
    state: &AppState,
    key: Option<String>,
    format: Format,
) -> Result<Uuid, Open311Error> {
    let key = key.ok_or_else(|| forbidden(format, "api_key is required to submit a request"))?;
    authenticate(state, &key, format).await?.ok_or_else(|| {
        forbidden(
            format,
            "Invalid api_key: unknown, revoked, or not issued for Open311",
        )
    })
}

/// The answer to a submission (never cached).
fn answer(format: Format, created: CreatedRequest) -> HttpResponse {
    let mut response = render_list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &[created],
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Removes photos this request stored when the request itself fails or was a retry.
async fn discard_photos(state: &AppState, photos: &[db::media::Media]) {
    // Files first: if removing one fails, the row stays and the sweeper tries again later.
    for m in photos {
        let files = async {
            state.photos.delete(&m.display_key).await?;
            state.photos.delete(&m.thumbnail_key).await
        };
        if files.await.is_ok()
            && let Ok(mut conn) = state.conn().await
        {
            let _ = db::media::delete_if_unattached(&mut conn, m.id).await;
        }
    }
}

/// Submits a request from a partner application (`api_key` of purpose `open311`): the same
/// validation, routing, deadline, idempotency (`Idempotency-Key`) and notifications as
/// `POST /api/v1/reports`. Coordinates are required (an address alone cannot be routed); the
/// contact fields are kept for the handling staff only; `media` parts are photos.
#[utoipa::path(
    tag = "open311",
    params(
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: 1–255 visible ASCII characters"),
    ),
    request_body(content = NewServiceRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Submitted (or the first answer to this Idempotency-Key)", content(
            (Vec<CreatedRequest> = "application/json"),
            (String = "text/xml")
        )),
        (status = 400, description = "A missing or invalid field, a place outside every commune, an unknown service, an unreadable photo", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 403, description = "Missing, unknown or revoked `api_key`, or one not issued for Open311", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 404, description = "Unknown format or jurisdiction", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 409, description = "The Idempotency-Key was used with another request", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 413, description = "Body or photo too large", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database or photo store unreachable (`Retry-After` says when to retry); no request is created without its photos", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 507, description = "The photo store is full (`Retry-After` says when to retry); no request is created without its photos", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[post("/open311/v2/requests.{format}")]
pub async fn post_request(
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let format = Format::parse(&path)?;
    let query = Params::from_query(&req);
    super::check_jurisdiction(&state, &query, format)?;
    // A key in the query or a header is checked before the body is read.
    let early = match key_sent(&req, &query) {
        Some(key) => Some(partner(&state, Some(key), format).await?),
        None => None,
    };
    if !readable(&req) {
        partner(&state, None, format).await?;
        return Err(Open311Error::bad_request(
            format,
            "Send the request as application/x-www-form-urlencoded (or multipart/form-data with media)",
        ));
    }
    let (params, uploads) = read_form(&state, &req, payload, format, early).await?;
    super::check_jurisdiction(&state, &params, format)?;
    let api_key = match early {
        Some(id) => id,
        None => partner(&state, key_sent(&req, &params), format).await?,
    };
    let key = idempotency_key(&req).or_open311(format)?;

    let service_code = params
        .get("service_code")
        .ok_or_else(|| Open311Error::bad_request(format, "service_code is required"))?;
    if params.get("lat").is_none() && params.get("long").is_none() {
        return Err(Open311Error::bad_request(
            format,
            if params.get("address_string").is_some() || params.get("address_id").is_some() {
                "lat and long are required: reports are routed by their coordinates, so an address alone is not accepted"
            } else {
                "lat and long are required"
            },
        ));
    }
    let lat = coordinate(&params, "lat", format)?;
    let lon = coordinate(&params, "long", format)?;
    let contact = contact(&params, format)?;
    let body = NewReportRequest {
        category: service_code.to_owned(),
        description: params.get("description").unwrap_or_default().to_owned(),
        location: LocationInput {
            lat,
            lon,
            accuracy_m: None,
        },
        address: params.get("address_string").map(str::to_owned),
        media_ids: Vec::new(),
        anonymous: false,
        // The partner application collects the reporter's consent under its agreement.
        consent: Some(true),
    };
    let mut checked = check(&body, state.settings.reports.max_media).or_open311(format)?;

    // What the request is, for Idempotency-Key: the fields that make the report, as read, and
    // the photos' bytes.
    let fields: Vec<(&str, Option<&str>)> = REPORT_FIELDS
        .iter()
        .map(|name| (*name, params.get(name)))
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&fields).unwrap_or_default());
    for u in &uploads {
        hasher.update(u.sha256);
    }
    let request_hash = hasher.finalize().to_vec();

    // A retry whose first attempt is complete is answered before its photos are decoded again.
    if let Some(key) = &key {
        let stored = {
            let mut conn = state.conn().await.or_open311(format)?;
            db::idempotency_keys::find(&mut conn, api_key, SCOPE, key.as_str())
                .await
                .or_open311(format)?
        };
        if let Some(stored) = stored
            && stored.request_hash == request_hash
            && let Some(json) = stored.response
        {
            let first: SubmittedReport = serde_json::from_value(json)
                .map_err(|e| Open311Error::from_api(format, ApiError::internal(e)))?;
            return Ok(answer(format, CreatedRequest::from(&first)));
        }
    }

    let mut stored = Vec::with_capacity(uploads.len());
    for upload in &uploads {
        let photo = match store_photo(&state, upload, None, None).await {
            Ok(Some((row, _))) => Ok(row),
            // Only a photo with an Idempotency-Key can lose a race; these have none.
            Ok(None) => Err(ApiError::internal(anyhow::anyhow!(
                "photo without a key raced"
            ))),
            Err(e) => Err(e),
        };
        match photo {
            Ok(row) => stored.push(row),
            Err(e) => {
                discard_photos(&state, &stored).await;
                return Err(Open311Error::from_api(format, e));
            }
        }
    }
    checked.media_ids = stored.iter().map(|m| m.id).collect();

    let outcome = intake(
        &state,
        Intake {
            submitter: Submitter::Partner {
                api_key,
                contact: &contact,
            },
            checked,
            scope: SCOPE,
            key,
            request_hash,
        },
    )
    .await;
    let created = match outcome {
        Ok(Outcome::Created(report)) => CreatedRequest::from(report.as_ref()),
        Ok(Outcome::Replay(_, json)) => {
            discard_photos(&state, &stored).await;
            let first: SubmittedReport = serde_json::from_value(json)
                .map_err(|e| Open311Error::from_api(format, ApiError::internal(e)))?;
            CreatedRequest::from(&first)
        }
        Err(e) => {
            discard_photos(&state, &stored).await;
            return Err(Open311Error::from_api(format, e));
        }
    };
    Ok(answer(format, created))
}

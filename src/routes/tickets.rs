//! Tickets: the staff view of reports. The department's queue (filters, sorts, diacritic-blind
//! search, cursor pages), one ticket with the reporter's contact and internal notes, the
//! lifecycle's transitions and assignment. Every change is one transaction that writes the new
//! state and its timeline event, and only if nobody changed the ticket meanwhile (optimistic
//! concurrency on `reports.version`): of two staff acting at once one wins and the other hears
//! 409, never a lost update.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use chrono::{DateTime, Datelike, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::present;
use super::reports::{
    AreaRef, Consent, DepartmentRef, PhotoRef, ReportEventView, Reporter, UserRef, bad_query,
    event_views, field, page_limit, reporter, staff_photo_ref,
};
use crate::auth::{
    AuthUser, Authenticated, AuthenticatedJson, DepartmentScope, Managers, StaffRoles,
};
use crate::db;
use crate::db::enums::MediaStatus;
use crate::db::report_events::{EventDetails, ReportEvent};
use crate::db::reports::{
    AssigneeFilter, Report, ReportChange, ReportWithNames, TicketFilter, TicketSort,
};
use crate::domain::account::{Role, UserStatus};
use crate::domain::calendar::MINUTES_PER_DAY;
use crate::domain::lifecycle::{self, Action, Actor, Refusal};
use crate::domain::report::{Note, ReportStatus, TextError};
use crate::domain::search::{SearchError, SearchQuery};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::startup::AppState;

// ---------------------------------------------------------------------------------------------
// Shapes

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketLocation {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
}

/// A ticket as the queue lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    pub tracking_code: String,
    pub status: ReportStatus,
    /// The category code.
    pub category: String,
    pub category_name: String,
    pub area: AreaRef,
    pub department: DepartmentRef,
    pub description: String,
    pub address: Option<String>,
    pub location: TicketLocation,
    /// The legal deadline (working time; moved once by an extension).
    pub due_at: DateTime<Utc>,
    /// Open and past `due_at` now.
    pub overdue: bool,
    /// When receipt must be acknowledged (`accept`) by: 8 working hours after submission or
    /// transfer.
    pub ack_due_at: DateTime<Utc>,
    /// Still `new` past `ack_due_at` now.
    pub ack_overdue: bool,
    /// The first acknowledgement (a transfer does not reset it; the receiving department's
    /// `accept` is in the timeline).
    pub accepted_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When a manager extended the deadline (only once).
    pub extended_at: Option<DateTime<Utc>>,
    pub assignee: Option<UserRef>,
    /// The original, for a `duplicate`.
    pub duplicate_of: Option<Uuid>,
    pub reopen_count: i32,
    /// Residents following it ("me too").
    pub follower_count: i32,
    /// Hidden from the public by moderation (`POST /tickets/{id}/hide`): since when and why.
    pub hidden: bool,
    pub hidden_at: Option<DateTime<Utc>>,
    pub hidden_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Changes with every transition and assignment; also the `ETag`. Send it back as
    /// `If-Match` to act only on what you saw.
    pub version: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RatingView {
    pub score: i16,
    pub comment: Option<String>,
    /// Which resolution it judges: 0 for the first, 1 after one reopen, …
    pub cycle: i32,
    pub created_at: DateTime<Utc>,
}

/// One ticket in full: the reporter's contact (unless they asked to stay anonymous; admins see
/// it anyway), the whole timeline with internal notes, and the residents' ratings.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub routing_reason: String,
    pub anonymous: bool,
    pub consent: Consent,
    pub reporter: Option<Reporter>,
    /// The reporter's photos.
    pub photos: Vec<PhotoRef>,
    pub events: Vec<ReportEventView>,
    pub ratings: Vec<RatingView>,
}

/// A longer deadline: working days, or `{amount, unit}` with unit `working_days` or
/// `working_hours`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Extension {
    WorkingDays(i64),
    Amount { amount: i64, unit: ExtensionUnit },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionUnit {
    WorkingDays,
    WorkingHours,
}

impl Extension {
    fn minutes(self) -> i64 {
        match self {
            Extension::WorkingDays(days) => days.saturating_mul(MINUTES_PER_DAY),
            Extension::Amount { amount, unit } => match unit {
                ExtensionUnit::WorkingDays => amount.saturating_mul(MINUTES_PER_DAY),
                ExtensionUnit::WorkingHours => amount.saturating_mul(60),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub action: Action,
    /// Shown to the resident. Required for `resolve` and `reject`; for `hold` and `extend` a
    /// reason is required, public or internal.
    pub public_note: Option<String>,
    /// Staff only.
    pub internal_note: Option<String>,
    /// Photos uploaded by the caller with `POST /media` ("after" photos of a resolution).
    #[serde(default)]
    pub media_ids: Vec<Uuid>,
    /// `transfer`: the receiving department.
    pub department_id: Option<Uuid>,
    /// `mark_duplicate`: the original report.
    pub duplicate_of: Option<Uuid>,
    /// `extend`: how much longer (working time, counted from the current deadline).
    pub extend_by: Option<Extension>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A staff member or manager of the ticket's department; null to unassign.
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// One status or several, comma-separated; `all` for every status. Default: the open
    /// ones (`new,accepted,in_progress,on_hold,reopened`).
    #[param(
        pattern = "^ *(all|(new|accepted|in_progress|on_hold|resolved|closed|rejected|duplicate|reopened) *(, *(new|accepted|in_progress|on_hold|resolved|closed|rejected|duplicate|reopened) *)*)? *$"
    )]
    pub status: Option<String>,
    /// `true`: open and past the deadline; `false`: the rest.
    #[param(pattern = "^ *(true|false)? *$")]
    pub overdue: Option<String>,
    /// A user id, `me`, or `none` (unassigned).
    #[param(
        pattern = "^ *(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})? *$"
    )]
    pub assignee: Option<String>,
    /// A category code.
    pub category: Option<String>,
    /// An area (commune) code.
    pub area: Option<String>,
    /// Words that must all occur in the description or address, diacritics and case ignored
    /// ("duong" finds "đường"); at most 200 characters and 8 words.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// `due_at` (default: most urgent first), `-due_at`, `created_at`, `-created_at`.
    #[param(pattern = "^ *(-?(due_at|created_at))? *$")]
    pub sort: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Admins: one department's tickets.
    pub department: Option<Uuid>,
}

// ---------------------------------------------------------------------------------------------
// Reading

fn ticket(row: ReportWithNames, assignee: Option<UserRef>, now: DateTime<Utc>) -> Ticket {
    let r = row.report;
    Ticket {
        id: r.id,
        tracking_code: r.tracking_code.clone(),
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
        overdue: r.is_overdue(now),
        ack_overdue: r.status == ReportStatus::New && r.ack_due_at < now,
        description: r.description,
        address: r.address,
        location: TicketLocation {
            lat: r.lat,
            lon: r.lon,
            accuracy_m: r.accuracy_m,
        },
        due_at: r.due_at,
        ack_due_at: r.ack_due_at,
        accepted_at: r.accepted_at,
        resolved_at: r.resolved_at,
        closed_at: r.closed_at,
        extended_at: r.extended_at,
        assignee,
        duplicate_of: r.duplicate_of,
        reopen_count: r.reopen_count,
        follower_count: r.follower_count,
        hidden: r.hidden_at.is_some(),
        hidden_at: r.hidden_at,
        hidden_reason: r.hidden_reason,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version: r.version,
    }
}

async fn user_refs(
    conn: &mut AsyncPgConnection,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<std::collections::HashMap<Uuid, UserRef>, ApiError> {
    let mut out = std::collections::HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        if let Some(u) = db::users::find(conn, id).await? {
            out.insert(
                id,
                UserRef {
                    id,
                    full_name: u.full_name,
                },
            );
        }
    }
    Ok(out)
}

/// The ticket if the caller may handle it; 404 for anything else (another department's
/// tickets do not exist for them).
pub(crate) async fn find_in_scope(
    conn: &mut AsyncPgConnection,
    user: &AuthUser,
    id: Uuid,
) -> Result<ReportWithNames, ApiError> {
    let row = db::reports::find(conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if user.handles(row.report.department_id) {
        Ok(row)
    } else {
        Err(ApiError::not_found())
    }
}

pub(crate) async fn detail(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user: &AuthUser,
    row: ReportWithNames,
) -> Result<TicketDetail, ApiError> {
    let now = Utc::now();
    let r = row.report.clone();
    let reporter = reporter(conn, &r, user.role == Role::Admin, (user.id, user.role)).await?;
    let photos = db::media::for_reports(conn, &[r.id])
        .await?
        .iter()
        .filter(|m| !m.from_staff)
        .map(|m| staff_photo_ref(state, m))
        .collect();
    let events = event_views(conn, state, r.id, true).await?;
    let ratings = db::report_ratings::for_report(conn, r.id)
        .await?
        .into_iter()
        .map(|x| RatingView {
            score: x.score,
            comment: x.comment,
            cycle: x.cycle,
            created_at: x.created_at,
        })
        .collect();
    let mut assignees = user_refs(conn, r.assignee_id).await?;
    let assignee = r.assignee_id.and_then(|a| assignees.remove(&a));
    Ok(TicketDetail {
        ticket: ticket(row, assignee, now),
        routing_reason: r.routing_reason,
        anonymous: r.anonymous,
        consent: Consent {
            version: r.consent_version,
            at: r.consent_at,
        },
        reporter,
        photos,
        events,
        ratings,
    })
}

fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

pub(crate) fn detail_response(
    status: actix_web::http::StatusCode,
    body: &TicketDetail,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(body.ticket.version)))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(body)
}

fn encode_cursor(sort: TicketSort, at: DateTime<Utc>, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}|{}|{}",
        sort.as_str(),
        at.timestamp_micros(),
        id
    ))
}

fn decode_cursor(raw: &str, sort: TicketSort) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || {
        bad_query(
            "cursor không hợp lệ (hoặc thuộc một cách sắp xếp khác)",
            "Invalid cursor (or one from another sort order)",
        )
    };
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let mut parts = text.splitn(3, '|');
    let (Some(s), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if s != sort.as_str() {
        return Err(bad());
    }
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(|t| (2000..=9999).contains(&t.year()))
        .ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

fn parse_filter(query: &TicketQuery, user: &AuthUser) -> Result<TicketFilter, ApiError> {
    let department = match user.department_scope() {
        DepartmentScope::All => query.department,
        DepartmentScope::Only(d) => {
            if query.department.is_some_and(|q| q != d) {
                // Another department's queue is not theirs to see; an empty page would suggest
                // it exists and is empty.
                return Err(ApiError::new(ErrorCode::Forbidden).with_detail(
                    "Bạn chỉ xem được phản ánh của phòng mình",
                    "You can only see your own department's tickets",
                ));
            }
            Some(d)
        }
        DepartmentScope::None => {
            return Err(ApiError::new(ErrorCode::Forbidden).with_detail(
                "Tài khoản chưa thuộc phòng ban nào",
                "Your account belongs to no department",
            ));
        }
    };
    let statuses = match present(&query.status) {
        None => ReportStatus::OPEN.to_vec(),
        Some("all") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| ReportStatus::parse(s.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad_query(
                    "status không hợp lệ (new, accepted, in_progress, on_hold, resolved, closed, rejected, duplicate, reopened hoặc all)",
                    "Unknown status (new, accepted, in_progress, on_hold, resolved, closed, rejected, duplicate, reopened, or all)",
                )
            })?,
    };
    let overdue = match present(&query.overdue) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(bad_query(
                "overdue phải là true hoặc false",
                "overdue must be true or false",
            ));
        }
    };
    let assignee = match present(&query.assignee) {
        None => None,
        Some("me") => Some(AssigneeFilter::User(user.id)),
        Some("none") => Some(AssigneeFilter::Nobody),
        Some(raw) => Some(AssigneeFilter::User(raw.parse().map_err(|_| {
            bad_query(
                "assignee phải là mã người dùng, me hoặc none",
                "assignee must be a user id, me or none",
            )
        })?)),
    };
    let search = match query.q.as_deref().map(SearchQuery::parse).transpose() {
        Ok(q) => q
            .flatten()
            .map(|q| q.patterns().to_vec())
            .unwrap_or_default(),
        Err(SearchError::TooLong) => {
            return Err(bad_query(
                "q dài quá 200 ký tự",
                "q is longer than 200 characters",
            ));
        }
        Err(SearchError::TooManyTerms) => {
            return Err(bad_query("q có quá 8 từ", "q has more than 8 words"));
        }
    };
    Ok(TicketFilter {
        department,
        statuses,
        overdue,
        now: Utc::now(),
        assignee,
        category: present(&query.category).map(str::to_owned),
        area: present(&query.area).map(str::to_owned),
        search,
    })
}

/// The caller's department's queue (admins: every department, or `department=`). Open tickets
/// by deadline unless asked otherwise; pages are cursors on the sort key, so tickets arriving
/// meanwhile neither repeat nor push others off a page.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(TicketQuery),
    responses(
        (status = 200, description = "A page of tickets", body = TicketPage),
        (status = 400, description = "`invalid_query`: a malformed or unknown parameter or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff, no department, or another department asked for", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/tickets")]
pub async fn list_tickets(
    user: Authenticated<StaffRoles>,
    query: web::Query<TicketQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_filter(&query, &user)?;
    let sort = match present(&query.sort) {
        None => TicketSort::DueAt,
        Some(raw) => TicketSort::parse(raw).ok_or_else(|| {
            bad_query(
                "sort phải là due_at, -due_at, created_at hoặc -created_at",
                "sort must be due_at, -due_at, created_at or -created_at",
            )
        })?,
    };
    let limit = page_limit(query.limit)?;
    let cursor = present(&query.cursor)
        .map(|c| decode_cursor(c, sort))
        .transpose()?;
    let mut conn = state.conn().await?;
    let mut rows = db::reports::list_tickets(&mut conn, &filter, sort, cursor, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|r| encode_cursor(sort, sort.key(&r.report), r.report.id));
    let assignees = user_refs(&mut conn, rows.iter().filter_map(|r| r.report.assignee_id)).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let a = row
                .report
                .assignee_id
                .and_then(|id| assignees.get(&id).cloned());
            ticket(row, a, filter.now)
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(TicketPage { items, next_cursor }))
}

/// One ticket in full, with `ETag` = its version.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "The ticket", body = TicketDetail, headers(("ETag" = String, description = "The ticket's version, for `If-Match`"))),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/tickets/{id}")]
pub async fn get_ticket(
    path: web::Path<Uuid>,
    user: Authenticated<StaffRoles>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let row = find_in_scope(&mut conn, &user, path.into_inner()).await?;
    let body = detail(&mut conn, &state, &user, row).await?;
    Ok(detail_response(actix_web::http::StatusCode::OK, &body))
}

// ---------------------------------------------------------------------------------------------
// Changing

/// `If-Match: "7"` (or `*`): the version the caller last saw. `If-Match` compares strongly
/// (RFC 9110 §13.1.1), so a weak tag `W/"7"` never matches: it reads as version 0, which no
/// ticket has.
fn if_match(request: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(raw) = request.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(ErrorCode::BadRequest).with_detail(
            "If-Match phải là ETag của phản ánh, ví dụ \"3\"",
            "If-Match must be the ticket's ETag, e.g. \"3\"",
        )
    };
    let text = raw.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    // An entity-tag is quoted (RFC 9110 §8.8.3); ours are versions, 1 to 9 digits. Clients
    // that drop the quotes are understood all the same.
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    let version = Some(tag)
        .filter(|v| (1..=9).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<i32>().ok())
        .ok_or_else(bad)?;
    Ok(Some(if weak { 0 } else { version }))
}

fn note(raw: &Option<String>, name: &str, errors: &mut Vec<FieldError>) -> Option<Note> {
    match Note::parse(raw.as_deref()) {
        Ok(n) => n,
        Err(e) => {
            let (code, vi, en) = match e {
                TextError::TooLong => (
                    "too_long",
                    "Dài quá 2000 ký tự",
                    "Longer than 2000 characters",
                ),
                _ => (
                    "invalid",
                    "Có ký tự không hợp lệ",
                    "Contains characters that are not allowed",
                ),
            };
            errors.push(field(name, code, vi, en));
            None
        }
    }
}

fn required(name: &str, vi: &str, en: &str) -> FieldError {
    field(name, "required", vi, en)
}

fn validation(errors: Vec<FieldError>) -> ApiError {
    let mut e = ApiError::new(ErrorCode::ValidationFailed);
    for f in errors {
        e = e.with_field(f);
    }
    e
}

pub(crate) fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotPermitted { action, .. } => ApiError::new(ErrorCode::Forbidden).with_detail(
            format!(
                "Vai trò của bạn không được thực hiện thao tác {}",
                action.as_str()
            ),
            format!("Your role may not {}", action.as_str()),
        ),
        Refusal::InvalidTransition { action, from } => ApiError::new(ErrorCode::InvalidTransition)
            .with_detail(
                format!(
                    "Không thể {} khi phản ánh đang ở trạng thái {}",
                    action.as_str(),
                    from.as_str()
                ),
                format!(
                    "Cannot {} a report that is {}",
                    action.as_str(),
                    from.as_str()
                ),
            ),
    }
}

fn actor_of(user: &AuthUser) -> Actor {
    match user.role {
        Role::Admin => Actor::Admin,
        Role::Manager => Actor::Manager,
        _ => Actor::Staff,
    }
}

/// Everything a change writes: the row's new values and its timeline event.
pub(crate) struct Change {
    pub action: &'static str,
    pub to: ReportStatus,
    pub row: ReportChange,
    pub public_note: Option<String>,
    pub internal_note: Option<String>,
    pub details: EventDetails,
    pub media_ids: Vec<Uuid>,
}

/// Writes `change` if the report is still at `expected` version, with its event and photos.
/// A lost race is answered as the loser would be answered now: `invalid_transition` if the
/// action no longer fits the new state, else `stale_version`.
pub(crate) async fn commit(
    conn: &mut AsyncPgConnection,
    report: &Report,
    expected: i32,
    actor: Option<&AuthUser>,
    retry_check: impl FnOnce(ReportStatus) -> Result<(), ApiError>,
    change: Change,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut row = change.row;
    if change.to != report.status {
        row.status = Some(change.to);
    }
    if db::reports::update_if_version(conn, report.id, expected, &row)
        .await?
        .is_none()
    {
        let current = db::reports::find(conn, report.id).await?;
        return Err(match current {
            Some(c) => match retry_check(c.report.status) {
                Err(e) => e,
                Ok(()) => ApiError::new(ErrorCode::StaleVersion),
            },
            None => ApiError::not_found(),
        });
    }
    let event_id = Uuid::now_v7();
    db::report_events::insert(
        conn,
        &ReportEvent {
            id: event_id,
            report_id: report.id,
            area_id: report.area_id,
            actor_id: actor.map(|u| u.id),
            actor_role: actor.map(|u| u.role),
            action: change.action.to_owned(),
            from_status: Some(report.status),
            to_status: change.to,
            public_note: change.public_note,
            internal_note: change.internal_note,
            created_at: now,
            details: change.details.to_json(),
        },
    )
    .await?;
    for (position, media_id) in change.media_ids.iter().enumerate() {
        db::media::attach(conn, *media_id, report.id, event_id, position as i16, true).await?;
    }
    if change.to != report.status {
        crate::notify::enqueue::status_changed(conn, report.id, change.to, actor.map(|u| u.id))
            .await?;
    }
    Ok(())
}

/// Checks that the caller's uploads can be attached (theirs, ready, unattached, unexpired) and
/// locks them until the transaction ends.
async fn check_media(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    ids: &[Uuid],
    max: usize,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    if ids.len() > max {
        return Err(ApiError::new(ErrorCode::InvalidMedia).with_field(field(
            "media_ids",
            "too_many",
            &format!("Tối đa {max} ảnh"),
            &format!("At most {max} photos"),
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let photos = db::media::lock_for_attach(conn, ids).await?;
    for (i, id) in ids.iter().enumerate() {
        let usable = seen.insert(*id)
            && photos.iter().find(|m| m.id == *id).is_some_and(|m| {
                m.owner_id == Some(owner)
                    && m.status == MediaStatus::Ready
                    && m.report_id.is_none()
                    && m.expires_at.is_some_and(|e| e > now)
            });
        if !usable {
            return Err(ApiError::new(ErrorCode::InvalidMedia).with_field(field(
                &format!("media_ids[{i}]"),
                "unusable",
                "Ảnh không tồn tại, đã hết hạn, trùng lặp hoặc đã được dùng",
                "Unknown, expired, repeated, not yours, or already attached",
            )));
        }
    }
    Ok(())
}

/// What the action needs beyond its notes, checked against the database.
async fn plan(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user: &AuthUser,
    row: &ReportWithNames,
    body: &TransitionRequest,
    to: ReportStatus,
    now: DateTime<Utc>,
) -> Result<Change, ApiError> {
    let report = &row.report;
    let public = row.category_public;
    let mut errors = Vec::new();
    let public_note = note(&body.public_note, "public_note", &mut errors);
    let internal_note = note(&body.internal_note, "internal_note", &mut errors);
    let needs = lifecycle::needs(body.action);
    if needs.public_note && public_note.is_none() && errors.is_empty() {
        errors.push(required(
            "public_note",
            "Cần ghi chú cho người dân (kết quả xử lý hoặc lý do)",
            "A note for the resident is required (the outcome or the reason)",
        ));
    }
    if needs.reason && public_note.is_none() && internal_note.is_none() && errors.is_empty() {
        errors.push(required(
            "public_note",
            "Cần nêu lý do (public_note hoặc internal_note)",
            "A reason is required (public_note or internal_note)",
        ));
    }
    if needs.department && body.department_id.is_none() {
        errors.push(required(
            "department_id",
            "Cần chọn phòng ban nhận",
            "The receiving department is required",
        ));
    }
    if needs.duplicate_of && body.duplicate_of.is_none() {
        errors.push(required(
            "duplicate_of",
            "Cần chọn phản ánh gốc",
            "The original report is required",
        ));
    }
    if needs.extend_by && body.extend_by.is_none() {
        errors.push(required(
            "extend_by",
            "Cần số ngày làm việc gia hạn",
            "The extension is required",
        ));
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }

    let mut row = ReportChange::default();
    let mut details = EventDetails::default();
    match body.action {
        Action::Accept => {
            if report.accepted_at.is_none() {
                let calendar = db::holidays::load_calendar(conn).await?;
                row.accepted_at = Some(Some(now));
                row.ack_working_minutes =
                    Some(Some(working_minutes(&calendar, report.created_at, now)));
            }
        }
        Action::Resolve => {
            let calendar = db::holidays::load_calendar(conn).await?;
            row.resolved_at = Some(Some(now));
            row.resolve_working_minutes =
                Some(Some(working_minutes(&calendar, report.created_at, now)));
        }
        Action::Transfer => {
            let target = body.department_id.unwrap_or_default();
            let department = db::departments::find(conn, target)
                .await?
                .filter(|d| d.active);
            let Some(department) = department else {
                return Err(validation(vec![field(
                    "department_id",
                    "unknown",
                    "Phòng ban không tồn tại hoặc đã ngừng hoạt động",
                    "No active department has this id",
                )]));
            };
            if department.id == report.department_id {
                return Err(validation(vec![field(
                    "department_id",
                    "same_department",
                    "Phản ánh đã thuộc phòng ban này",
                    "The ticket is already with this department",
                )]));
            }
            // The deadline stays; the receiving department acknowledges anew.
            let calendar = db::holidays::load_calendar(conn).await?;
            row.department_id = Some(department.id);
            row.assignee_id = Some(None);
            row.ack_due_at = Some(calendar.add_working_minutes(
                now,
                i64::from(state.settings.reports.ack_working_hours) * 60,
            ));
            row.ack_overdue_at = Some(None);
            details.from_department = Some(report.department_id);
            details.to_department = Some(department.id);
        }
        Action::MarkDuplicate => {
            let original_id = body.duplicate_of.unwrap_or_default();
            let unknown = || {
                validation(vec![field(
                    "duplicate_of",
                    "unknown",
                    "Không tìm thấy phản ánh gốc trong phạm vi của bạn",
                    "No such report among the ones you handle",
                )])
            };
            if original_id == report.id {
                return Err(validation(vec![field(
                    "duplicate_of",
                    "self",
                    "Phản ánh không thể trùng với chính nó",
                    "A report cannot duplicate itself",
                )]));
            }
            // Both rows locked, in id order, before anything is read or written: two clerks
            // marking A as a duplicate of B and B of A at once then queue up instead of
            // deadlocking, and the second sees the first's result below.
            db::reports::lock(conn, &[report.id, original_id]).await?;
            let original = find_in_scope(conn, user, original_id)
                .await
                .map_err(|_| unknown())?;
            if public && !original.category_public {
                // The public timeline would point at a report residents may not see.
                return Err(unknown());
            }
            let original = original.report;
            if original.status == ReportStatus::Duplicate {
                return Err(validation(vec![field(
                    "duplicate_of",
                    "is_duplicate",
                    "Phản ánh đó cũng là bản trùng; hãy chọn phản ánh gốc",
                    "That report is itself a duplicate; choose its original",
                )]));
            }
            row.duplicate_of = Some(Some(original.id));
            details.duplicate_of = Some(original.id);
            // Its reporter now follows the original.
            if let Some(reporter) = report.reporter_id
                && original.reporter_id != Some(reporter)
                && db::report_followers::follow(conn, original.id, reporter).await?
            {
                db::reports::add_followers(conn, original.id, 1).await?;
            }
        }
        Action::Extend => {
            if report.extended_at.is_some() {
                return Err(ApiError::new(ErrorCode::InvalidTransition).with_detail(
                    "Hạn xử lý chỉ được gia hạn một lần",
                    "The deadline can be extended only once",
                ));
            }
            let minutes = body.extend_by.map(Extension::minutes).unwrap_or(0);
            let max =
                i64::from(state.settings.reports.max_extension_working_days) * MINUTES_PER_DAY;
            if !(1..=max).contains(&minutes) {
                return Err(validation(vec![field(
                    "extend_by",
                    "out_of_range",
                    &format!(
                        "Gia hạn từ 1 giờ đến {} ngày làm việc",
                        state.settings.reports.max_extension_working_days
                    ),
                    &format!(
                        "Between one working hour and {} working days",
                        state.settings.reports.max_extension_working_days
                    ),
                )]));
            }
            let calendar = db::holidays::load_calendar(conn).await?;
            let due = calendar.add_working_minutes(report.due_at, minutes);
            row.due_at = Some(due);
            row.extended_at = Some(Some(now));
            if due > now {
                row.overdue_at = Some(None);
            }
            details.due_at_before = Some(report.due_at);
            details.due_at_after = Some(due);
        }
        Action::Start
        | Action::Hold
        | Action::Resume
        | Action::Reject
        | Action::Reopen
        | Action::Close => {}
    }
    check_media(
        conn,
        user.id,
        &body.media_ids,
        state.settings.reports.max_media,
        now,
    )
    .await?;
    Ok(Change {
        action: body.action.as_str(),
        to,
        row,
        public_note: public_note.map(Note::into_string),
        internal_note: internal_note.map(Note::into_string),
        details,
        media_ids: body.media_ids.clone(),
    })
}

/// Moves a ticket along its lifecycle (product.md): `accept`, `start`, `hold` (reason),
/// `resume`, `resolve` (`public_note`; "after" photos in `media_ids`), `reject` (`public_note`),
/// `transfer` (manager; `department_id`; the deadline stays), `mark_duplicate`
/// (`duplicate_of`; its reporter then follows the original), `extend` (manager, once, reason
/// and `extend_by`, counted in working time from the current deadline). With `If-Match`, only
/// if the ticket is still at that version.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Report id"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?("[0-9]{1,9}"|[0-9]{1,9}))$"#, description = "The `ETag` the caller last saw (`\"7\"`), or `*`"),
    ),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "Done; the ticket as it now is", body = TicketDetail, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON, unknown action or field, bad `If-Match`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff, or the action needs a manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (not possible in the current state, or already extended), `stale_version` (changed since `If-Match`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (a required note, department, original or extension is missing or wrong) or `invalid_media`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/tickets/{id}/transitions")]
pub async fn transition_ticket(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<StaffRoles, TransitionRequest>,
    http: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let expected = if_match(&http)?;
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    let st = state.clone();
    let now = Utc::now();
    let row = conn
        .transaction::<ReportWithNames, ApiError, _>(async |conn| {
            let row = find_in_scope(conn, &user, id).await?;
            let report = row.report.clone();
            if expected.is_some_and(|v| v != report.version) {
                return Err(ApiError::new(ErrorCode::StaleVersion));
            }
            let actor = actor_of(&user);
            let to = lifecycle::transition(report.status, body.action, actor).map_err(refusal)?;
            let change = plan(conn, &st, &user, &row, &body, to, now).await?;
            let action = body.action;
            commit(
                conn,
                &report,
                report.version,
                Some(&user),
                |current| {
                    lifecycle::transition(current, action, actor)
                        .map(|_| ())
                        .map_err(refusal)
                },
                change,
                now,
            )
            .await?;
            if action == Action::Transfer {
                crate::notify::enqueue::ticket_arrived(conn, &st.settings.public_url, id).await?;
            }
            Ok(db::reports::find(conn, id).await?.unwrap_or(row))
        })
        .await?;
    metrics::counter!("phananh_ticket_transitions_total", "action" => body.action.as_str())
        .increment(1);
    tracing::info!(report = %id, action = body.action.as_str(), actor = %user.id, "ticket transition");
    let in_scope = user.handles(row.report.department_id);
    let mut body = detail(&mut conn, &state, &user, row).await?;
    if !in_scope {
        // Transferred away: what it now is, without the reporter's contact.
        body.reporter = None;
    }
    Ok(detail_response(actix_web::http::StatusCode::OK, &body))
}

/// Assigns the ticket to a member of its department (or unassigns it with `null`). Managers of
/// the department and admins.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Report id"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?("[0-9]{1,9}"|[0-9]{1,9}))$"#, description = "The `ETag` the caller last saw (`\"7\"`), or `*`"),
    ),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "Assigned; the ticket as it now is", body = TicketDetail, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or `If-Match`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager or admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket in the caller's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (the ticket is finished) or `stale_version`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the user is not an active member of the ticket's department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/tickets/{id}/assign")]
pub async fn assign_ticket(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<Managers, AssignRequest>,
    http: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let expected = if_match(&http)?;
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    let now = Utc::now();
    let row = conn
        .transaction::<ReportWithNames, ApiError, _>(async |conn| {
            let row = find_in_scope(conn, &user, id).await?;
            let report = row.report.clone();
            if expected.is_some_and(|v| v != report.version) {
                return Err(ApiError::new(ErrorCode::StaleVersion));
            }
            let finished = || {
                ApiError::new(ErrorCode::InvalidTransition).with_detail(
                    "Phản ánh đã kết thúc, không thể phân công",
                    "The ticket is finished; it cannot be assigned",
                )
            };
            if !report.status.is_open() {
                return Err(finished());
            }
            if let Some(assignee) = body.user_id {
                let member = db::users::find(conn, assignee).await?.is_some_and(|u| {
                    u.status == UserStatus::Active
                        && matches!(u.role, Role::Staff | Role::Manager)
                        && u.department_id == Some(report.department_id)
                });
                if !member {
                    return Err(validation(vec![field(
                        "user_id",
                        "not_a_member",
                        "Người được phân công phải là cán bộ đang làm việc của phòng ban xử lý",
                        "The assignee must be an active staff member of the ticket's department",
                    )]));
                }
            }
            if report.assignee_id == body.user_id {
                return Ok(row);
            }
            commit(
                conn,
                &report,
                report.version,
                Some(&user),
                |s| if s.is_open() { Ok(()) } else { Err(finished()) },
                Change {
                    action: "assign",
                    to: report.status,
                    row: ReportChange {
                        assignee_id: Some(body.user_id),
                        ..Default::default()
                    },
                    public_note: None,
                    internal_note: None,
                    details: EventDetails {
                        assignee: body.user_id,
                        ..Default::default()
                    },
                    media_ids: Vec::new(),
                },
                now,
            )
            .await?;
            Ok(db::reports::find(conn, id).await?.unwrap_or(row))
        })
        .await?;
    let body = detail(&mut conn, &state, &user, row).await?;
    Ok(detail_response(actix_web::http::StatusCode::OK, &body))
}

/// Working minutes from `from` to `to`, for the statistics' working-hour durations.
fn working_minutes(
    calendar: &crate::domain::calendar::WorkingCalendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i32 {
    i32::try_from(calendar.working_minutes_between(from, to)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_carry_their_sort() {
        let at = Utc::now();
        let id = Uuid::now_v7();
        let c = encode_cursor(TicketSort::DueAt, at, id);
        let (t, i) = decode_cursor(&c, TicketSort::DueAt).unwrap();
        assert_eq!((t.timestamp_micros(), i), (at.timestamp_micros(), id));
        assert!(decode_cursor(&c, TicketSort::CreatedAtDesc).is_err());
        assert!(decode_cursor("garbage!", TicketSort::DueAt).is_err());
    }

    #[test]
    fn extensions_count_working_time() {
        assert_eq!(Extension::WorkingDays(2).minutes(), 960);
        let json: Extension =
            serde_json::from_str(r#"{"amount": 4, "unit": "working_hours"}"#).unwrap();
        assert_eq!(json.minutes(), 240);
        let json: Extension = serde_json::from_str("3").unwrap();
        assert_eq!(json.minutes(), 3 * 480);
        assert_eq!(Extension::WorkingDays(i64::MAX).minutes(), i64::MAX);
    }

    #[test]
    fn if_match_forms() {
        let req = |v: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::IF_MATCH, v))
                .to_http_request()
        };
        assert_eq!(if_match(&req("\"7\"")).unwrap(), Some(7));
        assert_eq!(
            if_match(&req("W/\"7\"")).unwrap(),
            Some(0),
            "weak never matches"
        );
        assert_eq!(if_match(&req("*")).unwrap(), None);
        assert!(if_match(&req("\"x\"")).is_err());
    }
}

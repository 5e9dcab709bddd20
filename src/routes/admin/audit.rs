//! The audit log: every admin change (before → after), every reading of a reporter's contact
//! details by staff, and what the retention job erased. Read-only here — the database itself
//! refuses to alter or delete a line.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Admins, Authenticated};
use crate::db;
use crate::db::audit::{AuditEntry, AuditFilter};
use crate::domain::account::Role;
use crate::error::ApiError;
use crate::routes::present;
use crate::routes::reports::{bad_query, page_limit};
use crate::startup::AppState;

/// One line of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// The user who acted; null for the system (the retention job).
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<Role>,
    /// `<entity>.<verb>`: `category.update`, `user.disable`, `api_key.revoke`, `contact.read`,
    /// `report.hide`, `media.redact`, `retention.anonymise`, …
    pub action: String,
    /// `category`, `department`, `area`, `routing_rule`, `holiday`, `user`, `api_key`, `report`,
    /// `report_contact`, `media`, `retention`.
    pub entity_type: String,
    pub entity_id: Option<String>,
    /// The ticket it concerns (contact reads, moderation).
    pub report_id: Option<Uuid>,
    /// Whose personal data was read (contact reads of an account's details).
    pub subject_user_id: Option<Uuid>,
    /// The entity before the change (null for a creation). Residents' contact values are never
    /// copied here, only which fields changed or were read.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The entity after the change (null for a deletion).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// The request that did it (also in the server's logs).
    pub request_id: Option<String>,
}

impl From<AuditEntry> for AuditItem {
    fn from(e: AuditEntry) -> Self {
        AuditItem {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            action: e.action,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            report_id: e.report_id,
            subject_user_id: e.subject_user_id,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only what this user did.
    #[param(
        pattern = "^ *([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})? *$"
    )]
    pub actor: Option<String>,
    /// One action, e.g. `contact.read`.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,200}$")]
    pub action: Option<String>,
    /// One kind of entity, e.g. `routing_rule`.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,200}$")]
    pub entity_type: Option<String>,
    /// One entity (with `entity_type`), e.g. a rule's id or a holiday's date.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,200}$")]
    pub entity_id: Option<String>,
    /// Everything about one report (contact reads, moderation).
    #[param(
        pattern = "^ *([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})? *$"
    )]
    pub report: Option<String>,
    /// Every reading of this person's contact details.
    #[param(
        pattern = "^ *([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})? *$"
    )]
    pub subject: Option<String>,
    /// From this moment (RFC 3339) or local date (`YYYY-MM-DD`, Asia/Ho_Chi_Minh), inclusive.
    #[param(
        pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)? *$"
    )]
    pub from: Option<String>,
    /// Up to this moment or local date, inclusive.
    #[param(
        pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)? *$"
    )]
    pub to: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn uuid_param(raw: &Option<String>, name: &str) -> Result<Option<Uuid>, ApiError> {
    present(raw)
        .map(|v| {
            v.parse::<Uuid>().map_err(|_| {
                bad_query(
                    &format!("{name} phải là một UUID"),
                    &format!("{name} must be a UUID"),
                )
            })
        })
        .transpose()
}

/// A moment, or a local date: its first instant (`end = false`) or the first instant of the
/// next day (`end = true`, so the whole day is inside).
fn moment(raw: &Option<String>, name: &str, end: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = present(raw) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        let t = t.with_timezone(&Utc);
        return Ok(Some(if end {
            t + chrono::Duration::microseconds(1)
        } else {
            t
        }));
    }
    let day = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        bad_query(
            &format!("{name} phải là ngày YYYY-MM-DD hoặc thời điểm RFC 3339"),
            &format!("{name} must be a YYYY-MM-DD date or an RFC 3339 time"),
        )
    })?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    let local = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| {
            t.and_local_timezone(crate::domain::calendar::vietnam())
                .single()
        })
        .ok_or_else(|| bad_query("Ngày không hợp lệ", "Invalid date"))?;
    Ok(Some(local.with_timezone(&Utc)))
}

fn text_param(raw: &Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    match present(raw) {
        None => Ok(None),
        Some(v) if v.chars().count() <= 200 && !v.chars().any(char::is_control) => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(bad_query(
            &format!("{name} không hợp lệ"),
            &format!("{name} is not valid"),
        )),
    }
}

fn parse_cursor(raw: &Option<String>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    let Some(v) = present(raw) else {
        return Ok(None);
    };
    let bad = || bad_query("cursor không hợp lệ", "Invalid cursor");
    let (micros, id) = v.split_once('.').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        // PostgreSQL's range of timestamps is narrower than chrono's.
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(bad)?;
    Ok(Some((at, id.parse().map_err(|_| bad())?)))
}

/// The audit log, newest first: who changed what and when (before → after), who read whose
/// contact details from which ticket, what retention erased. Filters combine with AND.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the log", body = AuditPage),
        (status = 400, description = "`invalid_query`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/audit")]
pub async fn list_audit(
    _admin: Authenticated<Admins>,
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = AuditFilter {
        actor_id: uuid_param(&query.actor, "actor")?,
        action: text_param(&query.action, "action")?,
        entity_type: text_param(&query.entity_type, "entity_type")?,
        entity_id: text_param(&query.entity_id, "entity_id")?,
        report_id: uuid_param(&query.report, "report")?,
        subject_user_id: uuid_param(&query.subject, "subject")?,
        from: moment(&query.from, "from", false)?,
        to: moment(&query.to, "to", true)?,
        before: parse_cursor(&query.cursor)?,
    };
    let limit = page_limit(query.limit)?;
    let mut conn = state.conn().await?;
    let mut rows = db::audit::list(&mut conn, &filter, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| format!("{}.{}", r.at.timestamp_micros(), r.id))
        })
        .flatten();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(AuditPage {
            items: rows.into_iter().map(AuditItem::from).collect(),
            next_cursor,
        }))
}

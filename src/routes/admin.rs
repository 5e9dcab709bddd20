//! Administration (role `admin`). So far: the outbox, to see what is stuck and send a dead
//! message again; API keys for the IOC and Open311 partner applications.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::present;
use super::reports::field;
use super::reports::{bad_query, page_limit};
use crate::auth::{Admins, Authenticated, AuthenticatedJson};
use crate::db;
use crate::db::outbox::OutboxMessage;
use crate::domain::account::{ApiKeyPurpose, OutboxKind, OutboxStatus};
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// A message leaving the process.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxItem {
    /// Also the id receivers see (email `Message-ID`, push `message_id`), to drop repeats.
    pub id: Uuid,
    pub kind: OutboxKind,
    pub status: OutboxStatus,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (pending messages).
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Email: the template and recipient; push: the template. Bodies are not shown.
    pub template: Option<String>,
    pub recipient: Option<String>,
}

impl From<OutboxMessage> for OutboxItem {
    fn from(m: OutboxMessage) -> Self {
        let text = |key: &str| {
            m.payload
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        OutboxItem {
            template: text("template"),
            recipient: text("to"),
            id: m.id,
            kind: m.kind,
            status: m.status,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxItem>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `pending`, `delivered` or `dead`.
    pub status: Option<String>,
    /// `email`, `push` or `ioc_snapshot`.
    pub kind: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The outbox, newest first, by state and kind.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(OutboxQuery),
    responses(
        (status = 200, description = "A page of messages", body = OutboxPage),
        (status = 400, description = "`invalid_query`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/outbox")]
pub async fn list_outbox(
    _admin: Authenticated<Admins>,
    query: web::Query<OutboxQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let status = match present(&query.status) {
        None => None,
        Some("pending") => Some(OutboxStatus::Pending),
        Some("delivered") => Some(OutboxStatus::Delivered),
        Some("dead") => Some(OutboxStatus::Dead),
        Some(_) => {
            return Err(bad_query(
                "status phải là pending, delivered hoặc dead",
                "status must be pending, delivered or dead",
            ));
        }
    };
    let kind = match present(&query.kind) {
        None => None,
        Some("email") => Some(OutboxKind::Email),
        Some("push") => Some(OutboxKind::Push),
        Some("ioc_snapshot") => Some(OutboxKind::IocSnapshot),
        Some(_) => {
            return Err(bad_query(
                "kind phải là email, push hoặc ioc_snapshot",
                "kind must be email, push or ioc_snapshot",
            ));
        }
    };
    let limit = page_limit(query.limit)?;
    let cursor = match present(&query.cursor) {
        None => None,
        Some(c) => Some(
            c.parse::<Uuid>()
                .map_err(|_| bad_query("cursor không hợp lệ", "Invalid cursor"))?,
        ),
    };
    let mut conn = state.conn().await?;
    let mut rows = db::outbox::list(&mut conn, status, kind, cursor, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(OutboxPage {
            items: rows.into_iter().map(OutboxItem::from).collect(),
            next_cursor,
        }))
}

/// Sends a dead message again: back to `pending`, due now, attempts counted afresh.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Outbox message id")),
    responses(
        (status = 200, description = "Queued again", body = OutboxItem),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the message is not dead (delivered, or still being tried)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/outbox/{id}/retry")]
pub async fn retry_outbox(
    _admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    if !db::outbox::revive(&mut conn, id, Utc::now()).await? {
        return Err(match db::outbox::find(&mut conn, id).await? {
            None => ApiError::not_found(),
            Some(_) => ApiError::new(ErrorCode::Conflict).with_detail(
                "Chỉ gửi lại được thư đã thất bại hẳn (dead)",
                "Only a dead message can be retried",
            ),
        });
    }
    let row = db::outbox::find(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(message = %id, "outbox message revived by an admin");
    Ok(HttpResponse::Ok().json(OutboxItem::from(row)))
}

// ---------------------------------------------------------------------------------------------
// API keys

/// An API key as listed: never the key itself, which only its creator saw once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyItem {
    pub id: Uuid,
    pub name: String,
    pub purpose: ApiKeyPurpose,
    /// The first characters of the key (`phk_…`), to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<db::api_keys::ApiKey> for ApiKeyItem {
    fn from(k: db::api_keys::ApiKey) -> Self {
        ApiKeyItem {
            id: k.id,
            name: k.name,
            purpose: k.purpose,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyRequest {
    /// Who holds it ("IOC Lâm Đồng", "FixMyStreet VN"), 1–100 characters.
    pub name: String,
    /// `ioc`: `X-Api-Key` on the statistics; `open311`: `api_key` of a partner application on
    /// `POST /open311/v2/requests`.
    pub purpose: ApiKeyPurpose,
}

/// A new key: shown this once, only its hash is kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub name: String,
    pub purpose: ApiKeyPurpose,
    pub prefix: String,
    /// The key. It cannot be shown again.
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// Issues an API key to the IOC or to an Open311 partner application.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewApiKeyRequest,
    responses(
        (status = 201, description = "Created; the key is in the body, once", body = CreatedApiKey),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the name is empty or too long, or the purpose unknown", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/api-keys")]
pub async fn create_api_key(
    request: AuthenticatedJson<Admins, NewApiKeyRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::new(ErrorCode::ValidationFailed).with_field(field(
            "name",
            "invalid",
            "Tên từ 1 đến 100 ký tự, một dòng",
            "1 to 100 characters on one line",
        )));
    }
    let (key, hash, prefix) = crate::auth::tokens::new_api_key();
    let mut conn = state.conn().await?;
    let created = db::api_keys::insert(&mut conn, name, body.purpose, &hash, &prefix).await?;
    tracing::info!(api_key = %created.id, purpose = ?created.purpose, admin = %user.id, "API key created");
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/api-keys/{}", created.id),
        ))
        .json(CreatedApiKey {
            id: created.id,
            name: created.name,
            purpose: created.purpose,
            prefix: created.prefix,
            key,
            created_at: created.created_at,
        }))
}

/// Every API key, newest first, revoked ones included.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys (never the keys themselves)", body = ApiKeyList),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/api-keys")]
pub async fn list_api_keys(
    _admin: Authenticated<Admins>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let items = db::api_keys::list(&mut conn).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(ApiKeyList {
            items: items.into_iter().map(ApiKeyItem::from).collect(),
        }))
}

/// Revokes a key: it stops working at once. Revoking a revoked key changes nothing.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/api-keys/{id}")]
pub async fn revoke_api_key(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let revoked = db::api_keys::revoke(&mut conn, path.into_inner())
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(api_key = %revoked.id, admin = %admin.id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------------
// Routing dry run

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// WGS84 latitude.
    pub lat: Option<String>,
    /// WGS84 longitude.
    pub lon: Option<String>,
    /// A category code.
    pub category: Option<String>,
}

/// The commune a point falls in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedArea {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// Set when the point is inside no boundary and the nearest centroid decided.
    pub placement_note: Option<String>,
}

/// The rule that decided (none: the triage desk took it).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedRule {
    pub id: Uuid,
    /// The number routing reasons cite ("quy tắc #12").
    pub number: i32,
    pub priority: i32,
    pub category_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedDepartment {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

/// Where a report would go now, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingExplanation {
    pub category: String,
    pub area: ExplainedArea,
    pub rule: Option<ExplainedRule>,
    pub department: ExplainedDepartment,
    /// The sentence the report would carry as `routing_reason`.
    pub reason: String,
}

/// Routing dry run: the commune, rule and department a report of `category` at (`lat`, `lon`)
/// would get right now, with the reason it would carry — the same code submission runs, so a
/// rule change can be checked before residents meet it. Nothing is written.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(ExplainQuery),
    responses(
        (status = 200, description = "Where it would go", body = RoutingExplanation),
        (status = 400, description = "`invalid_query`: lat, lon or category missing, malformed or unknown", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`location_outside_jurisdiction`: the point is in no commune", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/routing/explain")]
pub async fn explain_routing(
    _admin: Authenticated<Admins>,
    query: web::Query<ExplainQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let number = |raw: &Option<String>, name: &str| {
        present(raw)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| {
                bad_query(
                    &format!("{name} phải là một số"),
                    &format!("{name} must be a number"),
                )
            })
    };
    let (lat, lon) = (number(&query.lat, "lat")?, number(&query.lon, "lon")?);
    let at = crate::domain::Coordinates::parse(lat, lon)
        .map_err(|e| bad_query("Tọa độ không hợp lệ", &e.to_string()))?;
    let code = present(&query.category)
        .ok_or_else(|| bad_query("Thiếu category", "category is required"))?;
    let mut conn = state.conn().await?;
    let category = db::categories::find_by_code(&mut conn, code)
        .await?
        .filter(|c| c.active)
        .ok_or_else(|| {
            bad_query(
                "Lĩnh vực không tồn tại hoặc đã ngừng nhận phản ánh",
                "No active category has this code",
            )
        })?;
    let routed = super::reports::route_report(&mut conn, &state, &category, at, Utc::now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(RoutingExplanation {
            category: category.code,
            area: ExplainedArea {
                id: routed.area.id,
                code: routed.area.code,
                name: routed.area.name,
                placement_note: routed.placement_note,
            },
            rule: routed.rule.map(|r| ExplainedRule {
                id: r.id,
                number: r.number,
                priority: r.priority,
                category_id: r.category_id,
                area_id: r.area_id,
                note: r.note,
            }),
            department: ExplainedDepartment {
                id: routed.department.id,
                code: routed.department.code,
                name: routed.department.name,
            },
            reason: routed.reason,
        }))
}

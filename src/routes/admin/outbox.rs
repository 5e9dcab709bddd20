//! The outbox: what is stuck, and sending a dead message again.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Admins, Authenticated};
use crate::db;
use crate::db::outbox::OutboxMessage;
use crate::domain::account::{OutboxKind, OutboxStatus};
use crate::error::{ApiError, ErrorCode};
use crate::routes::present;
use crate::routes::reports::{bad_query, page_limit};
use crate::startup::AppState;
use diesel_async::AsyncConnection;

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
    #[param(pattern = "^ *(pending|delivered|dead)? *$")]
    pub status: Option<String>,
    /// `email`, `push` or `ioc_snapshot`.
    #[param(pattern = "^ *(email|push|ioc_snapshot)? *$")]
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
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    // The log keeps the message's state, not its recipient (who may be a resident).
    let snapshot = |m: &OutboxMessage| serde_json::json!({"id": m.id, "kind": m.kind, "status": m.status, "attempts": m.attempts});
    let revived = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let Some(before) = db::outbox::find(conn, id).await? else {
                return Ok(false);
            };
            if !db::outbox::revive(conn, id, Utc::now()).await? {
                return Ok(false);
            }
            let after = db::outbox::find(conn, id).await?;
            db::audit::record(
                conn,
                db::audit::Change {
                    after: after.as_ref().map(snapshot),
                    ..db::audit::Change::of(
                        &*admin,
                        "outbox.retry",
                        "outbox",
                        id,
                        Some(&snapshot(&before)),
                        None::<&()>,
                    )
                },
            )
            .await?;
            Ok(true)
        })
        .await?;
    if !revived {
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

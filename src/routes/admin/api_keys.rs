//! API keys for the IOC and Open311 partner applications: created (shown once), listed, revoked.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admins, Authenticated, AuthenticatedJson};
use crate::db;
use crate::db::audit::Change;
use crate::domain::account::ApiKeyPurpose;
use crate::error::{ApiError, ErrorCode};
use crate::routes::reports::field;
use crate::startup::AppState;
use diesel_async::AsyncConnection;

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
    let created = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let created = db::api_keys::insert(conn, name, body.purpose, &hash, &prefix).await?;
            let item = ApiKeyItem::from(created.clone());
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "api_key.create",
                    "api_key",
                    created.id,
                    None::<&()>,
                    Some(&item),
                ),
            )
            .await?;
            Ok(created)
        })
        .await?;
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
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    let revoked = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let Some(before) = db::api_keys::find(conn, id).await? else {
                return Ok(None);
            };
            let after = db::api_keys::revoke(conn, id).await?;
            if let Some(after) = &after
                && before.revoked_at.is_none()
            {
                db::audit::record(
                    conn,
                    Change::of(
                        &*admin,
                        "api_key.revoke",
                        "api_key",
                        id,
                        Some(&ApiKeyItem::from(before)),
                        Some(&ApiKeyItem::from(after.clone())),
                    ),
                )
                .await?;
            }
            Ok(after)
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(api_key = %revoked.id, admin = %admin.id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}

//! The caller's own account: profile, deletion, push devices.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{UserResponse, account_exists, field_error};
use crate::auth::{Accounts, Authenticated, AuthenticatedJson};
use crate::db;
use crate::domain::account::DevicePlatform;
use crate::domain::identity::{Email, FullName, Phone};
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// The caller's profile.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Profile", body = UserResponse),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/me")]
pub async fn get_me(
    user: Authenticated<Accounts>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let me = db::users::find(&mut conn, user.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(UserResponse::from(me)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub full_name: Option<String>,
    /// Changing phone or email needs `current_password`: a stolen access token must not be
    /// enough to take the account over through password reset.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub current_password: Option<String>,
    /// Push notifications on or off.
    pub push_enabled: Option<bool>,
    /// Staff: `immediate` or `digest` (one email at 07:30 with the queue).
    pub email_mode: Option<String>,
}

/// Changes name, phone or email, and notification preferences (each optional).
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses(
        (status = 200, description = "Updated profile", body = UserResponse),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key), or `wrong_password`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`account_exists`: the phone or email belongs to another account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/me")]
pub async fn patch_me(
    request: AuthenticatedJson<Accounts, ProfilePatch>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let name = body
        .full_name
        .as_deref()
        .map(FullName::parse)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(field_error("full_name", &e));
            None
        });
    let phone = body
        .phone
        .as_deref()
        .map(Phone::parse)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(field_error("phone", &e));
            None
        });
    let email = body
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(field_error("email", &e));
            None
        });
    let email_mode = match body.email_mode.as_deref() {
        None => None,
        Some(m @ ("immediate" | "digest")) => Some(m),
        Some(_) => {
            errors.push(crate::error::FieldError {
                field: "email_mode".into(),
                code: "invalid",
                message: crate::error::Text::new(
                    "Chọn immediate (thư ngay) hoặc digest (thư tổng hợp lúc 7:30)",
                    "Either immediate or digest",
                ),
            });
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors.into_iter().fold(
            ApiError::new(ErrorCode::ValidationFailed),
            ApiError::with_field,
        ));
    }
    let change = db::users::ProfileChange {
        full_name: name.as_ref().map(FullName::as_str),
        phone: phone.as_ref().map(Phone::as_str),
        email: email.as_ref().map(Email::as_str),
        push_enabled: body.push_enabled,
        email_mode,
    };
    let mut conn = state.conn().await?;
    let current = db::users::find(&mut conn, user.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let login_changes = (change.phone.is_some() && change.phone != current.phone.as_deref())
        || (change.email.is_some() && change.email != current.email.as_deref());
    if login_changes {
        drop(conn);
        let Some(given) = body.current_password.as_deref() else {
            return Err(ApiError::new(ErrorCode::ValidationFailed).with_field(
                crate::error::FieldError {
                    field: "current_password".into(),
                    code: "current_password_required",
                    message: crate::error::Text::new(
                        "Cần mật khẩu hiện tại để đổi số điện thoại hoặc email",
                        "The current password is required to change phone or email",
                    ),
                },
            ));
        };
        let verdict = state
            .hasher
            .verify(given, current.password_hash.as_deref())
            .await
            .map_err(ApiError::internal)?;
        if verdict == crate::auth::password::Verdict::Wrong {
            return Err(ApiError::new(ErrorCode::WrongPassword).with_detail(
                "Mật khẩu hiện tại không đúng",
                "The current password is wrong",
            ));
        }
        conn = state.conn().await?;
    }
    let updated = if change.is_empty() {
        db::users::find(&mut conn, user.id)
            .await?
            .ok_or_else(ApiError::not_found)?
    } else {
        db::users::update_profile(&mut conn, user.id, &change)
            .await?
            .ok_or_else(account_exists)?
    };
    Ok(HttpResponse::Ok().json(UserResponse::from(updated)))
}

/// Deletes the account (the right to erasure): name, phone, email and password are erased, every
/// session ends, devices, follows, pending messages and sign-in records are forgotten. Reports,
/// ratings and timeline actions stay for the district's record, with no link left to the person.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
                (status = 204, description = "Account anonymised"),
        (status = 409, description = "The last active admin cannot delete their account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/me")]
pub async fn delete_me(
    user: Authenticated<Accounts>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = user.id;
    let mut conn = state.conn().await?;
    let erased = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // The deployment must keep someone who can run it. The active admins are locked,
            // so two admins deleting themselves at once cannot leave none.
            if user.role == crate::domain::account::Role::Admin
                && db::users::lock_active_admins(conn).await?.len() <= 1
            {
                return Err(ApiError::new(ErrorCode::Conflict).with_detail(
                    "Không thể xóa quản trị viên cuối cùng; hãy tạo quản trị viên khác trước",
                    "The last admin cannot delete their account; create another admin first",
                ));
            }
            let Some(me) = db::users::find(conn, id).await? else {
                return Ok(None);
            };
            let erased =
                db::privacy::erase_links(conn, id, me.email.as_deref(), me.phone.as_deref())
                    .await?;
            db::users::anonymise(conn, id).await?;
            db::sessions::revoke_all_of_user(conn, id, "account deleted").await?;
            db::audit::record(
                conn,
                db::audit::Change {
                    actor: (&*user).into(),
                    action: "user.erase",
                    entity_type: "user",
                    entity_id: Some(id.to_string()),
                    report_id: None,
                    subject_user_id: Some(id),
                    before: None,
                    after: serde_json::to_value(&erased).ok(),
                },
            )
            .await?;
            Ok(Some(erased))
        })
        .await?;
    if let Some(erased) = erased {
        tracing::info!(user = %id, reports = erased.reports_unlinked, messages = erased.messages_dropped, "account erased at its owner's request");
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct DeviceRequest {
    /// The Firebase Cloud Messaging registration token of the app install.
    #[schema(min_length = 1, max_length = 4096)]
    pub fcm_token: String,
    pub platform: DevicePlatform,
}

/// Registers this phone (or browser) for push notifications; re-registering is harmless.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = DeviceRequest,
    responses(
        (status = 201, description = "Registered", body = DeviceRequest),
        (status = 400, description = "Malformed JSON or unknown platform", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or oversized token", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/me/devices")]
pub async fn add_device(
    request: AuthenticatedJson<Accounts, DeviceRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let token = body.fcm_token.trim();
    if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
        return Err(ApiError::new(ErrorCode::ValidationFailed).with_field(
            crate::error::FieldError {
                field: "fcm_token".into(),
                code: "invalid_fcm_token",
                message: crate::error::Text::new("Mã thiết bị không hợp lệ", "Invalid FCM token"),
            },
        ));
    }
    let mut conn = state.conn().await?;
    db::devices::upsert(&mut conn, user.id, token, body.platform).await?;
    Ok(HttpResponse::Created().json(DeviceRequest {
        fcm_token: token.to_owned(),
        platform: body.platform,
    }))
}

/// Stops push notifications to this device.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("token" = String, Path, description = "The FCM token registered before")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a device of this account", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/me/devices/{token}")]
pub async fn remove_device(
    user: Authenticated<Accounts>,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A token we would never have stored (control characters, oversized) names nothing here.
    if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
        return Err(ApiError::not_found());
    }
    let mut conn = state.conn().await?;
    if db::devices::remove(&mut conn, user.id, &token).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found())
    }
}

/// Everything the system holds about the caller (the right of access, Law 91/2025/QH15).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountExport {
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub account: UserResponse,
    /// Every report they submitted, as they see it: description, place, photos' URLs, status,
    /// tracking code, and the consent given with it.
    pub reports: Vec<super::reports::ReportView>,
    /// The privacy notice version accepted with each report, and when.
    pub consents: Vec<ExportedConsent>,
    pub ratings: Vec<db::privacy::ExportedRating>,
    /// Reports they follow ("me too").
    pub follows: Vec<db::privacy::ExportedFollow>,
    /// What they did on reports' timelines (reopening, with their reason).
    pub actions: Vec<db::privacy::ExportedAction>,
    /// Phones registered for push.
    pub devices: Vec<db::privacy::ExportedDevice>,
    /// Sign-ins (sessions), ended ones included.
    pub sessions: Vec<db::privacy::ExportedSession>,
    /// Photos uploaded but not attached to a report (deleted after 24 hours).
    pub unattached_photos: Vec<super::reports::PhotoRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedConsent {
    pub report_id: uuid::Uuid,
    pub tracking_code: Option<String>,
    /// The version of the privacy notice accepted.
    pub version: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Downloads everything held about the caller as one JSON document.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's data", body = AccountExport),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/me/export")]
pub async fn export_me(
    user: Authenticated<Accounts>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    use super::reports::{Audience, page};
    use crate::db::reports::FeedFilter;
    let id = user.id;
    let filter = FeedFilter {
        reporter: Some(id),
        ..FeedFilter::default()
    };
    let mut reports = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = page(
            &state,
            &filter,
            cursor.as_deref(),
            Some(100),
            Audience::Owner,
        )
        .await?;
        reports.extend(p.items);
        match p.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut conn = state.conn().await?;
    let me = db::users::find(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let consents = reports
        .iter()
        .filter_map(|r| {
            r.consent.as_ref().map(|c| ExportedConsent {
                report_id: r.id,
                tracking_code: r.tracking_code.clone(),
                version: c.version.clone(),
                at: c.at,
            })
        })
        .collect();
    let body = AccountExport {
        generated_at: chrono::Utc::now(),
        account: UserResponse::from(me),
        consents,
        reports,
        ratings: db::privacy::ratings_by(&mut conn, id).await?,
        follows: db::privacy::follows_by(&mut conn, id).await?,
        actions: db::privacy::actions_by(&mut conn, id).await?,
        devices: db::privacy::devices_of(&mut conn, id).await?,
        sessions: db::privacy::sessions_of(&mut conn, id).await?,
        unattached_photos: db::privacy::loose_media_of(&mut conn, id)
            .await?
            .iter()
            .map(|m| super::reports::photo_ref(&state, m))
            .collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"phananh-{id}.json\""),
        ))
        .json(body))
}

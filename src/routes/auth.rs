//! Accounts: register, login, refresh, logout, password reset.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::password::Verdict;
use crate::auth::tokens::{hash_token, new_opaque_token};
use crate::auth::{Accounts, AuthenticatedJson};
use crate::db::{self, sessions::Presented, users::User};
use crate::domain::account::{OutboxKind, Role, UserStatus};
use crate::domain::identity::{Email, FullName, IdentityError, NewPassword, Phone};
use crate::error::{ApiError, ErrorCode, FieldError, Text};
use crate::startup::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    /// E.164, e.g. `+84912345678`.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub full_name: String,
    pub role: Role,
    pub department_id: Option<Uuid>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    /// Push notifications about the caller's and followed reports.
    pub push_enabled: bool,
    /// Staff: `immediate` (an email for each ticket event) or `digest` (one summary of the
    /// queue at 07:30).
    pub email_mode: String,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        UserResponse {
            id: u.id,
            phone: u.phone,
            email: u.email,
            full_name: u.full_name,
            role: u.role,
            department_id: u.department_id,
            status: u.status,
            created_at: u.created_at,
            push_enabled: u.push_enabled,
            email_mode: u.email_mode,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub user: UserResponse,
    /// JWT for `Authorization: Bearer`; short-lived.
    pub access_token: String,
    /// Opaque, single-use: exchange it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// `Bearer`
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

pub(crate) fn field_error(field: &str, e: &IdentityError) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code: e.code(),
        message: Text::new(e.message_vi(), e.message_en()),
    }
}

/// The client's address for rate limits: the TCP peer, or — when the peer is a trusted proxy —
/// the rightmost address in `X-Forwarded-For` that is not itself a trusted proxy.
pub(crate) fn client_ip(req: &HttpRequest) -> std::net::IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.http.trusted_proxies.clone())
        .unwrap_or_default();
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    crate::auth::throttle::client_address(peer, &forwarded, &trusted)
}

/// Opens a session for `user` and issues its first pair of tokens.
async fn open_session(state: &AppState, user: User) -> Result<TokenResponse, ApiError> {
    let mut conn = state.conn().await?;
    let (refresh_token, hash) = new_opaque_token();
    let expires =
        Utc::now() + chrono::Duration::days(state.settings.auth.refresh_token_ttl_days as i64);
    let user_id = user.id;
    let session_end =
        Utc::now() + chrono::Duration::days(state.settings.auth.session_max_days as i64);
    let session = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let session = db::sessions::create(conn, user_id, session_end).await?;
            db::sessions::add_refresh_token(conn, session, &hash, expires).await?;
            Ok(session)
        })
        .await?;
    tokens_for(state, user, session, refresh_token)
}

fn tokens_for(
    state: &AppState,
    user: User,
    session: Uuid,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let access = state
        .tokens
        .issue(user.id, user.role, user.department_id, session)
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        user: user.into(),
        access_token: access,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_secs(),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Vietnamese number in any usual spelling (`0912 345 678`, `+84912345678`).
    pub phone: Option<String>,
    pub email: Option<String>,
    /// 10–128 characters, not a common password, not the login itself.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name: String,
}

/// Creates a resident's account (phone and/or email) and signs it in.
#[utoipa::path(
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`account_exists`: the phone or email already has an account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid phone, email, name or password (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/register")]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state.throttle.register(client_ip(&req))?;
    let mut invalid = ApiError::new(ErrorCode::ValidationFailed);
    let mut bad = false;
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let phone = match non_empty(&body.phone).map(|p| Phone::parse(&p)).transpose() {
        Ok(p) => p,
        Err(e) => {
            bad = true;
            invalid = invalid.with_field(field_error("phone", &e));
            None
        }
    };
    let email = match non_empty(&body.email).map(|e| Email::parse(&e)).transpose() {
        Ok(e) => e,
        Err(e) => {
            bad = true;
            invalid = invalid.with_field(field_error("email", &e));
            None
        }
    };
    if !bad && phone.is_none() && email.is_none() {
        bad = true;
        invalid = invalid.with_field(FieldError {
            field: "phone".into(),
            code: "phone_or_email_required",
            message: Text::new(
                "Cần số điện thoại hoặc email",
                "A phone number or an email is required",
            ),
        });
    }
    let name = match FullName::parse(&body.full_name) {
        Ok(n) => Some(n),
        Err(e) => {
            bad = true;
            invalid = invalid.with_field(field_error("full_name", &e));
            None
        }
    };
    let phone_digits = phone.as_ref().map(|p| p.national()).unwrap_or_default();
    let local = email
        .as_ref()
        .map(|e| e.local_part().to_owned())
        .unwrap_or_default();
    let password = match NewPassword::parse(&body.password, &[&phone_digits, &local]) {
        Ok(p) => Some(p),
        Err(e) => {
            bad = true;
            invalid = invalid.with_field(field_error("password", &e));
            None
        }
    };
    let (Some(name), Some(password), false) = (name, password, bad) else {
        return Err(invalid);
    };
    let hash = state
        .hasher
        .hash(password.expose())
        .await
        .map_err(ApiError::internal)?;
    let mut conn = state.conn().await?;
    let user = db::users::insert(
        &mut conn,
        &db::users::NewUser {
            id: Uuid::now_v7(),
            phone: phone.as_ref().map(Phone::as_str),
            email: email.as_ref().map(Email::as_str),
            full_name: name.as_str(),
            password_hash: Some(&hash),
            role: Role::Citizen,
            department_id: None,
        },
    )
    .await?
    .ok_or_else(account_exists)?;
    drop(conn);
    let tokens = open_session(&state, user).await?;
    Ok(HttpResponse::Created().json(tokens))
}

pub(crate) fn account_exists() -> ApiError {
    ApiError::new(ErrorCode::AccountExists).with_detail(
        "Số điện thoại hoặc email này đã có tài khoản",
        "This phone number or email already has an account",
    )
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Phone (any usual spelling) or email.
    pub login: String,
    pub password: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials)
        .with_detail("Sai tài khoản hoặc mật khẩu", "Wrong login or password")
}

/// Signs in with phone or email and password.
#[utoipa::path(
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials` (the same for an unknown account)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address, or the account is locked for a while after repeated failures (`Retry-After`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    state.throttle.login(client_ip(&req))?;
    let login = body.login.trim();
    let (phone, email) = if login.contains('@') {
        (None, Email::parse(login).ok())
    } else {
        (Phone::parse(login).ok(), None)
    };
    // The brake is keyed by what was typed (normalised), account or not: a lock-out says
    // nothing about who has an account, and parallel guesses are counted before any is checked.
    let key = hash_token(&format!(
        "login:{}",
        phone
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .or_else(|| email.as_ref().map(|e| e.as_str().to_owned()))
            .unwrap_or_else(|| login.to_lowercase())
    ));
    let auth = &state.settings.auth;
    let mut conn = state.conn().await?;
    let attempt = db::login_attempts::begin(
        &mut conn,
        &key,
        i32::try_from(auth.lockout_after_failures).unwrap_or(5),
        auth.lockout_secs as f64,
        auth.lockout_secs as f64,
    )
    .await?;
    if let db::login_attempts::Attempt::Locked { until } = attempt {
        let wait = (until - Utc::now()).to_std().unwrap_or_default();
        return Err(ApiError::too_many_requests(wait));
    }
    let user = db::users::find_by_login(
        &mut conn,
        phone.as_ref().map(Phone::as_str),
        email.as_ref().map(Email::as_str),
    )
    .await?
    .filter(|u| u.status == UserStatus::Active);
    drop(conn);
    // Unknown (and disabled) accounts are checked against a dummy hash: same answer, same time.
    let verdict = state
        .hasher
        .verify(
            &body.password,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        )
        .await
        .map_err(ApiError::internal)?;
    let (Some(user), Verdict::Right | Verdict::RightRehashed(_)) = (user, &verdict) else {
        return Err(invalid_credentials());
    };
    let mut conn = state.conn().await?;
    db::login_attempts::succeeded(&mut conn, &key).await?;
    if let Verdict::RightRehashed(new_hash) = &verdict {
        db::users::upgrade_hash(&mut conn, user.id, new_hash).await?;
    }
    drop(conn);
    let tokens = open_session(&state, user).await?;
    Ok(HttpResponse::Ok().json(tokens))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once: presenting a used one
/// revokes the whole session (someone else has a copy).
#[utoipa::path(
    tag = "accounts",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the old refresh token is dead", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`refresh_token_reused` (the session is now revoked) or `invalid_refresh_token` (unknown, expired, or the account is not active)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented_hash = hash_token(body.refresh_token.trim());
    let (next, next_hash) = new_opaque_token();
    let expires =
        Utc::now() + chrono::Duration::days(state.settings.auth.refresh_token_ttl_days as i64);
    let mut conn = state.conn().await?;
    let outcome = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let presented = db::sessions::consume(conn, &presented_hash).await?;
            if let Presented::Fresh { session, user } = presented {
                let user = db::users::find(conn, user).await?;
                match user {
                    Some(u) if u.status == UserStatus::Active => {
                        db::sessions::add_refresh_token(conn, session, &next_hash, expires).await?;
                        return Ok(Ok((u, session)));
                    }
                    _ => {
                        db::sessions::revoke(conn, session, "account not active").await?;
                        return Ok(Err(Presented::Unknown));
                    }
                }
            }
            Ok(Err(presented))
        })
        .await?;
    drop(conn);
    match outcome {
        Ok((user, session)) => {
            Ok(HttpResponse::Ok().json(tokens_for(&state, user, session, next)?))
        }
        Err(Presented::Reused) => Err(ApiError::new(ErrorCode::RefreshTokenReused).with_detail(
            "Mã làm mới đã được dùng; phiên đăng nhập đã bị thu hồi, vui lòng đăng nhập lại",
            "This refresh token was already used; the session has been revoked, sign in again",
        )),
        Err(_) => Err(ApiError::new(ErrorCode::InvalidRefreshToken).with_detail(
            "Phiên đăng nhập không hợp lệ",
            "Unknown or expired refresh token",
        )),
    }
}

/// Ends the session the refresh token belongs to (and the caller's current one).
#[utoipa::path(
    tag = "accounts",
    request_body = RefreshRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "Malformed JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/logout")]
pub async fn logout(
    request: AuthenticatedJson<Accounts, RefreshRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut conn = state.conn().await?;
    if let Some((session, owner)) =
        db::sessions::session_of_token(&mut conn, &hash_token(body.refresh_token.trim())).await?
        && owner == user.id
    {
        db::sessions::revoke(&mut conn, session, "logout").await?;
    }
    if let Some(current) = user.session() {
        db::sessions::revoke(&mut conn, current, "logout").await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// Sends a one-time reset link to the account's email, if there is such an account. Always 202,
/// so the answer does not tell who has an account.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the email has an account, a reset link is on its way"),
        (status = 400, description = "Malformed JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/password-reset")]
pub async fn password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    state.throttle.login(client_ip(&req))?;
    let Ok(email) = Email::parse(&body.email) else {
        return Ok(HttpResponse::Accepted().finish());
    };
    let mut conn = state.conn().await?;
    let Some(user) = db::users::find_by_login(&mut conn, None, Some(email.as_str())).await? else {
        return Ok(HttpResponse::Accepted().finish());
    };
    // At most one mail a minute per account: the endpoint is not an inbox-flooding tool.
    if user.status != UserStatus::Active
        || db::password_resets::created_since(&mut conn, user.id, 60.0).await?
    {
        return Ok(HttpResponse::Accepted().finish());
    }
    let (token, hash) = new_opaque_token();
    let ttl = state.settings.auth.password_reset_ttl_secs;
    let expires = Utc::now() + chrono::Duration::seconds(ttl as i64);
    let link = format!(
        "{}/reset-password?token={token}",
        state.settings.public_url.trim_end_matches('/')
    );
    let message = serde_json::to_value(crate::notify::templates::password_reset(
        email.as_str(),
        &user.full_name,
        &link,
        ttl / 60,
    ))
    .map_err(ApiError::internal)?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        db::password_resets::insert(conn, user.id, &hash, expires).await?;
        db::outbox::enqueue(conn, OutboxKind::Email, &message).await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordResetConfirm {
    pub token: String,
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// Sets a new password with a reset token (once); every session of the account ends.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password changed; sign in again"),
        (status = 400, description = "Malformed JSON, or `invalid_reset_token` (unknown, used or expired)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password is not acceptable (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/password-reset/confirm")]
pub async fn password_reset_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    state.throttle.login(client_ip(&req))?;
    let token_hash = hash_token(body.token.trim());
    // A made-up token costs a lookup, never a password hash.
    {
        let mut conn = state.conn().await?;
        if !db::password_resets::is_usable(&mut conn, &token_hash).await? {
            return Err(invalid_reset_token());
        }
    }
    let password = NewPassword::parse(&body.new_password, &[]).map_err(|e| {
        ApiError::new(ErrorCode::ValidationFailed).with_field(field_error("new_password", &e))
    })?;
    let hash = state
        .hasher
        .hash(password.expose())
        .await
        .map_err(ApiError::internal)?;
    let mut conn = state.conn().await?;
    let changed = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let Some(user) = db::password_resets::consume(conn, &token_hash).await? else {
                return Ok(false);
            };
            db::users::set_password(conn, user, &hash).await?;
            db::sessions::revoke_all_of_user(conn, user, "password reset").await?;
            Ok(true)
        })
        .await?;
    if !changed {
        return Err(invalid_reset_token());
    }
    Ok(HttpResponse::NoContent().finish())
}

fn invalid_reset_token() -> ApiError {
    ApiError::new(ErrorCode::InvalidResetToken).with_detail(
        "Liên kết đặt lại mật khẩu không hợp lệ hoặc đã hết hạn",
        "The reset token is unknown, used or expired",
    )
}

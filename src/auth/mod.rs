//! Who is calling: passwords, tokens, and the extractors every handler uses to say in one line
//! who may call it (`Authenticated<Admins>`).

pub mod password;
pub mod throttle;
pub mod tokens;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::db::schema::{sessions, users};
use crate::domain::account::{ApiKeyPurpose, Role, UserStatus};
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A user's access token, in this session.
    AccessToken { session: Uuid },
    /// A machine client's API key (`X-Api-Key`).
    ApiKey,
}

/// An authenticated caller, checked against the database on every request: a disabled or
/// deleted account, or a revoked session, stops working at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user's id, or the API key's id.
    pub id: Uuid,
    pub role: Role,
    pub department: Option<Uuid>,
    pub credential: Credential,
}

/// Which tickets a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepartmentScope {
    All,
    Only(Uuid),
    None,
}

impl AuthUser {
    /// Admins see every department, staff and managers their own, everyone else none.
    pub fn department_scope(&self) -> DepartmentScope {
        match (self.role, self.department) {
            (Role::Admin, _) => DepartmentScope::All,
            (Role::Staff | Role::Manager, Some(d)) => DepartmentScope::Only(d),
            _ => DepartmentScope::None,
        }
    }

    /// Whether this caller handles a department's tickets (admins handle all).
    pub fn handles(&self, department: Uuid) -> bool {
        match self.department_scope() {
            DepartmentScope::All => true,
            DepartmentScope::Only(d) => d == department,
            DepartmentScope::None => false,
        }
    }

    /// A user account (not an API key).
    pub fn session(&self) -> Option<Uuid> {
        match self.credential {
            Credential::AccessToken { session } => Some(session),
            Credential::ApiKey => None,
        }
    }
}

fn unauthorized(code: ErrorCode, vi: &'static str, en: &'static str) -> ApiError {
    ApiError::new(code).with_detail(vi, en)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// (status, role, department, session revoked at) of the caller.
type AccountState = (
    UserStatus,
    Role,
    Option<Uuid>,
    Option<chrono::DateTime<chrono::Utc>>,
);

async fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;

    if let Some(key) = req.headers().get("x-api-key") {
        // Two credentials are one too many: were the key honoured alone, a forged or expired
        // token beside it would pass unnoticed.
        if req
            .headers()
            .contains_key(actix_web::http::header::AUTHORIZATION)
        {
            return Err(unauthorized(
                ErrorCode::Unauthorized,
                "Chỉ gửi một loại xác thực: X-Api-Key hoặc Authorization",
                "Send one credential, X-Api-Key or Authorization, not both",
            ));
        }
        let key = key.to_str().unwrap_or("");
        let hash = tokens::hash_token(key.trim());
        let mut conn = state.conn().await?;
        return match crate::db::api_keys::authenticate(&mut conn, &hash, ApiKeyPurpose::Ioc).await?
        {
            Some(id) => Ok(AuthUser {
                id,
                role: Role::Ioc,
                department: None,
                credential: Credential::ApiKey,
            }),
            None => Err(unauthorized(
                ErrorCode::InvalidApiKey,
                "Khóa API không hợp lệ hoặc đã bị thu hồi",
                "Unknown or revoked API key",
            )),
        };
    }

    let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Err(unauthorized(
            ErrorCode::Unauthorized,
            "Cần đăng nhập",
            "Sign in first: send Authorization: Bearer <access token>",
        ));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            unauthorized(
                ErrorCode::TokenMalformed,
                "Mã xác thực không hợp lệ",
                "Authorization must be `Bearer <token>`",
            )
        })?;
    let claims = state.tokens.verify(token).map_err(|why| {
        ApiError::new(why.code()).with_detail(
            "Phiên đăng nhập không hợp lệ hoặc đã hết hạn, vui lòng đăng nhập lại",
            "The access token is not valid; refresh it or sign in again",
        )
    })?;

    let mut conn = state.conn().await?;
    let row: Option<AccountState> = users::table
        .inner_join(sessions::table)
        .filter(users::id.eq(claims.sub))
        .filter(sessions::id.eq(claims.sid))
        .select((
            users::status,
            users::role,
            users::department_id,
            sessions::revoked_at,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    match row {
        Some((UserStatus::Active, role, department, None)) => Ok(AuthUser {
            id: claims.sub,
            role,
            department,
            credential: Credential::AccessToken {
                session: claims.sid,
            },
        }),
        // A deleted account's sessions are simply over; only a disabled one says so.
        Some((UserStatus::Active | UserStatus::Deleted, _, _, _)) | None => Err(unauthorized(
            ErrorCode::SessionRevoked,
            "Phiên đăng nhập đã kết thúc, vui lòng đăng nhập lại",
            "This session has ended; sign in again",
        )),
        Some((UserStatus::Disabled, _, _, _)) => Err(unauthorized(
            ErrorCode::AccountDisabled,
            "Tài khoản đã bị khóa",
            "This account is disabled",
        )),
    }
}

/// The caller if they sent credentials, `None` if they sent none. Credentials that are sent but
/// do not verify are still a 401: an app with an expired token must hear so, not silently get
/// the anonymous view.
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let headers = req.headers();
            if !headers.contains_key(actix_web::http::header::AUTHORIZATION)
                && !headers.contains_key("x-api-key")
            {
                return Ok(MaybeAuthUser(None));
            }
            authenticate(&req).await.map(|u| MaybeAuthUser(Some(u)))
        })
    }
}

/// A set of roles allowed to call an endpoint.
pub trait RoleSet {
    const ROLES: &'static [Role];
}

macro_rules! role_set {
    ($(#[$doc:meta])* $name:ident = [$($role:ident),+]) => {
        $(#[$doc])*
        pub struct $name;
        impl RoleSet for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
        }
    };
}

role_set!(
    /// Anyone with an account (not a machine key).
    Accounts = [Citizen, Staff, Manager, Admin]
);
role_set!(
    /// Department staff, managers, admins.
    StaffRoles = [Staff, Manager, Admin]
);
role_set!(
    /// Managers and admins.
    Managers = [Manager, Admin]
);
role_set!(Admins = [Admin]);
role_set!(
    /// Who may read statistics.
    StatsReaders = [Ioc, Manager, Admin]
);

/// An [`AuthUser`] whose role is in `R`; anyone else gets 403 (or 401 if not signed in).
pub struct Authenticated<R: RoleSet>(pub AuthUser, PhantomData<R>);

impl<R: RoleSet> std::ops::Deref for Authenticated<R> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

impl<R: RoleSet + 'static> FromRequest for Authenticated<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let user = authenticate(&req).await?;
            if R::ROLES.contains(&user.role) {
                Ok(Authenticated(user, PhantomData))
            } else {
                Err(ApiError::new(ErrorCode::Forbidden).with_detail(
                    "Bạn không có quyền thực hiện thao tác này",
                    "Your role may not do this",
                ))
            }
        })
    }
}

/// An authenticated caller in `R` and their JSON body, checked in that order: a caller who may not
/// call the endpoint hears 401/403, never a complaint about a body they should not be sending.
/// (actix extracts a handler's arguments concurrently, so a separate `Json` argument could fail
/// first.)
pub struct AuthenticatedJson<R: RoleSet, T> {
    pub user: AuthUser,
    pub body: T,
    _roles: PhantomData<R>,
}

impl<R: RoleSet + 'static, T: serde::de::DeserializeOwned + 'static> FromRequest
    for AuthenticatedJson<R, T>
{
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let Authenticated(user, _) =
                Authenticated::<R>::from_request(&req, &mut actix_web::dev::Payload::None).await?;
            let body = web::Json::<serde_json::Value>::from_request(&req, &mut payload).await?;
            Ok(AuthenticatedJson {
                user,
                body: crate::startup::from_json_value(body.into_inner())?,
                _roles: PhantomData,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, department: Option<Uuid>) -> AuthUser {
        AuthUser {
            id: Uuid::now_v7(),
            role,
            department,
            credential: Credential::AccessToken {
                session: Uuid::now_v7(),
            },
        }
    }

    #[test]
    fn department_scope_follows_role() {
        let d = Uuid::now_v7();
        assert_eq!(
            user(Role::Admin, None).department_scope(),
            DepartmentScope::All
        );
        assert_eq!(
            user(Role::Staff, Some(d)).department_scope(),
            DepartmentScope::Only(d)
        );
        assert_eq!(
            user(Role::Manager, Some(d)).department_scope(),
            DepartmentScope::Only(d)
        );
        assert_eq!(
            user(Role::Citizen, None).department_scope(),
            DepartmentScope::None
        );
        assert_eq!(
            user(Role::Ioc, None).department_scope(),
            DepartmentScope::None
        );
        // A staff row without a department (impossible by schema) sees nothing, not everything.
        assert_eq!(
            user(Role::Staff, None).department_scope(),
            DepartmentScope::None
        );
    }

    #[test]
    fn role_sets_say_who_may_call() {
        assert!(Accounts::ROLES.contains(&Role::Citizen) && !Accounts::ROLES.contains(&Role::Ioc));
        assert!(
            StatsReaders::ROLES.contains(&Role::Ioc) && !StatsReaders::ROLES.contains(&Role::Staff)
        );
        assert_eq!(Admins::ROLES, &[Role::Admin]);
        assert!(!Managers::ROLES.contains(&Role::Staff));
        assert!(!StaffRoles::ROLES.contains(&Role::Citizen));
    }
}

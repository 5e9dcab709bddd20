//! Accounts of the people who run the service: admins create staff, managers, IOC operators and
//! other admins, move them between departments, promote, disable (sessions end at once) and
//! reset passwords. Managers may read the accounts of their own department, nothing more.
//! Audit snapshots of an account never hold its email or phone (only whether it has one).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{Problems, conflict, created_json, nullable, ok_json, refused};
use crate::auth::tokens::new_opaque_token;
use crate::auth::{Admins, AuthUser, Authenticated, AuthenticatedJson, Managers};
use crate::db::{self, audit::Change, users::User};
use crate::domain::account::{OutboxKind, Role, UserStatus};
use crate::domain::identity::{Email, FullName, NewPassword, Phone};
use crate::error::{ApiError, ErrorCode};
use crate::routes::auth::{account_exists, field_error};
use crate::routes::present;
use crate::routes::reports::bad_query;
use crate::startup::AppState;

/// An account as admins (and managers, for their department) see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminUser {
    pub id: Uuid,
    pub role: Role,
    pub full_name: String,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub department_id: Option<Uuid>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for AdminUser {
    fn from(u: User) -> Self {
        AdminUser {
            id: u.id,
            role: u.role,
            full_name: u.full_name,
            email: u.email,
            phone: u.phone,
            department_id: u.department_id,
            status: u.status,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// What the audit log keeps of an account: never its contact values, and a resident's name not
/// at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserSnapshot {
    pub id: Uuid,
    pub role: Role,
    pub department_id: Option<Uuid>,
    pub status: UserStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    pub has_email: bool,
    pub has_phone: bool,
}

impl From<&User> for UserSnapshot {
    fn from(u: &User) -> Self {
        UserSnapshot {
            id: u.id,
            role: u.role,
            department_id: u.department_id,
            status: u.status,
            full_name: (u.role != Role::Citizen).then(|| u.full_name.clone()),
            has_email: u.email.is_some(),
            has_phone: u.phone.is_some(),
        }
    }
}

fn audit(
    actor: &AuthUser,
    action: &'static str,
    before: Option<&User>,
    after: Option<&User>,
    id: Uuid,
) -> Change {
    let mut c = Change::of(
        actor,
        action,
        "user",
        id,
        before.map(UserSnapshot::from).as_ref(),
        after.map(UserSnapshot::from).as_ref(),
    );
    c.subject_user_id = Some(id);
    c
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserList {
    pub items: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// `staff`, `manager`, `ioc` or `admin` (residents register themselves).
    pub role: String,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name: String,
    /// At least one of email and phone: the login.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Staff and managers: an active department; nobody else has one.
    pub department_id: Option<Uuid>,
    /// By the rules of registration: 10–128 characters, not a common password, not the login.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub full_name: Option<String>,
    /// `staff`, `manager`, `ioc` or `admin`. Becoming other than staff or manager leaves the
    /// department.
    pub role: Option<String>,
    /// Move to another (active) department; `null` leaves it (only for roles without one).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub department_id: Option<Option<Uuid>>,
    /// `active` or `disabled` (disabling ends every session at once).
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// `citizen`, `staff`, `manager`, `ioc`, `admin`.
    #[param(pattern = "^ *(citizen|staff|manager|ioc|admin)? *$")]
    pub role: Option<String>,
    /// A department id.
    #[param(
        pattern = "^ *([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})? *$"
    )]
    pub department: Option<String>,
    /// `active`, `disabled`, `deleted`.
    #[param(pattern = "^ *(active|disabled|deleted)? *$")]
    pub status: Option<String>,
    /// Part of the name, email or phone (at most 100 characters).
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// How a password reset reaches its user.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetIssued {
    /// `email`: mailed to the account's address. `token`: the account has no email; hand
    /// `reset_token` over to its owner, who redeems it at `POST /auth/password-reset/confirm`.
    pub delivery: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

fn staff_role(p: &mut Problems, raw: &str, field: &str) -> Option<Role> {
    match Role::parse(raw.trim()) {
        Some(r @ (Role::Staff | Role::Manager | Role::Ioc | Role::Admin)) => Some(r),
        _ => {
            p.add(
                field,
                "invalid_role",
                "Vai trò: staff, manager, ioc hoặc admin (người dân tự đăng ký)",
                "One of staff, manager, ioc, admin (residents register themselves)",
            );
            None
        }
    }
}

fn not_found_user() -> ApiError {
    ApiError::not_found().with_detail("Không có tài khoản này", "No such account")
}

fn department_problem(p: &mut Problems, code: &'static str, vi: &str, en: &str) {
    p.add("department_id", code, vi, en);
}

/// Checks the department a staff member or manager is to belong to: it must exist and be active.
async fn check_department(
    conn: &mut diesel_async::AsyncPgConnection,
    p: &mut Problems,
    id: Uuid,
) -> Result<(), ApiError> {
    match db::departments::find(conn, id).await? {
        Some(d) if d.active => {}
        Some(_) => department_problem(
            p,
            "inactive_department",
            "Phòng ban đã ngừng hoạt động",
            "The department is not active",
        ),
        None => department_problem(
            p,
            "unknown_department",
            "Không có phòng ban này",
            "No such department",
        ),
    }
    Ok(())
}

/// Creates a staff member, manager, IOC operator or admin account.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "Created", body = AdminUser, headers(("Location" = String, description = "The new account"))),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`account_exists`: the email or phone already has an account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: role, name, email/phone, department or password (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/users")]
pub async fn create_user(
    request: AuthenticatedJson<Admins, NewUserRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut p = Problems::default();
    let role = staff_role(&mut p, &body.role, "role");
    let name = FullName::parse(&body.full_name)
        .map_err(|e| p.push(field_error("full_name", &e)))
        .ok();
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let email = non_empty(&body.email)
        .map(|e| Email::parse(&e))
        .transpose()
        .map_err(|e| p.push(field_error("email", &e)))
        .ok()
        .flatten();
    let phone = non_empty(&body.phone)
        .map(|e| Phone::parse(&e))
        .transpose()
        .map_err(|e| p.push(field_error("phone", &e)))
        .ok()
        .flatten();
    if non_empty(&body.email).is_none() && non_empty(&body.phone).is_none() {
        p.add(
            "email",
            "phone_or_email_required",
            "Cần email hoặc số điện thoại",
            "An email or a phone number is required",
        );
    }
    let phone_digits = phone.as_ref().map(|p| p.national()).unwrap_or_default();
    let local = email
        .as_ref()
        .map(|e| e.local_part().to_owned())
        .unwrap_or_default();
    let password = NewPassword::parse(&body.password, &[&phone_digits, &local])
        .map_err(|e| p.push(field_error("password", &e)))
        .ok();
    match (role, body.department_id) {
        (Some(r), None) if r.needs_department() => department_problem(
            &mut p,
            "department_required",
            "Nhân viên và trưởng phòng cần một phòng ban",
            "Staff and managers belong to a department",
        ),
        (Some(r), Some(_)) if !r.needs_department() => department_problem(
            &mut p,
            "department_not_allowed",
            "Chỉ nhân viên và trưởng phòng thuộc một phòng ban",
            "Only staff and managers belong to a department",
        ),
        _ => {}
    }
    let mut conn = state.conn().await?;
    if let (Some(r), Some(d)) = (role, body.department_id)
        && r.needs_department()
    {
        check_department(&mut conn, &mut p, d).await?;
    }
    p.check()?;
    let (Some(role), Some(name), Some(password)) = (role, name, password) else {
        return Err(ApiError::new(ErrorCode::ValidationFailed));
    };
    drop(conn);
    let hash = state
        .hasher
        .hash(password.expose())
        .await
        .map_err(ApiError::internal)?;
    let mut conn = state.conn().await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let created = db::users::insert(
                conn,
                &db::users::NewUser {
                    id: Uuid::now_v7(),
                    phone: phone.as_ref().map(Phone::as_str),
                    email: email.as_ref().map(Email::as_str),
                    full_name: name.as_str(),
                    password_hash: Some(&hash),
                    role,
                    department_id: body.department_id.filter(|_| role.needs_department()),
                },
            )
            .await
            .map_err(|e| refused(e, "Tài khoản đã tồn tại", "The account exists"))?
            .ok_or_else(account_exists)?;
            db::audit::record(
                conn,
                audit(&user, "user.create", None, Some(&created), created.id),
            )
            .await?;
            Ok(created)
        })
        .await?;
    tracing::info!(user = %created.id, role = role.as_str(), admin = %user.id, "account created");
    Ok(created_json(
        format!("/api/v1/admin/users/{}", created.id),
        AdminUser::from(created),
    ))
}

/// Accounts, newest first, `limit` a page. Managers see their own department's only.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "A page of accounts", body = AdminUserList),
        (status = 400, description = "`invalid_query`: a malformed or unknown parameter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an admin nor a manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/users")]
pub async fn list_users(
    caller: Authenticated<Managers>,
    query: web::Query<UserQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut filter = db::users::UserFilter::default();
    if let Some(r) = present(&query.role) {
        filter.role = Some(Role::parse(r).ok_or_else(|| {
            bad_query(
                "role: citizen, staff, manager, ioc hoặc admin",
                "role must be citizen, staff, manager, ioc or admin",
            )
        })?);
    }
    if let Some(s) = present(&query.status) {
        filter.status = Some(match s {
            "active" => UserStatus::Active,
            "disabled" => UserStatus::Disabled,
            "deleted" => UserStatus::Deleted,
            _ => {
                return Err(bad_query(
                    "status: active, disabled hoặc deleted",
                    "status must be active, disabled or deleted",
                ));
            }
        });
    }
    if let Some(d) = present(&query.department) {
        filter.department = Some(Uuid::parse_str(d).map_err(|_| {
            bad_query(
                "department phải là id của phòng ban",
                "department must be a department id",
            )
        })?);
    }
    if let Some(q) = present(&query.q) {
        if q.chars().count() > 100 {
            return Err(bad_query("q quá dài", "q is longer than 100 characters"));
        }
        filter.q = Some(q.to_owned());
    }
    if let Some(c) = present(&query.cursor) {
        filter.before = Some(
            Uuid::parse_str(c).map_err(|_| bad_query("cursor không hợp lệ", "Invalid cursor"))?,
        );
    }
    let limit = match present(&query.limit) {
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| bad_query("limit từ 1 đến 200", "limit must be 1 to 200"))?,
        None => 50,
    };
    // A manager's view is their department, whatever the query says.
    if caller.role == Role::Manager {
        match caller.department {
            Some(own) if filter.department.is_none_or(|d| d == own) => {
                filter.department = Some(own)
            }
            _ => {
                return Ok(ok_json(&AdminUserList {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
        }
    }
    let mut conn = state.conn().await?;
    let mut rows = db::users::list(&mut conn, &filter, limit + 1).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|u| u.id.to_string())
    } else {
        None
    };
    Ok(ok_json(&AdminUserList {
        items: rows.into_iter().map(AdminUser::from).collect(),
        next_cursor,
    }))
}

/// The account `id` if `caller` may see it: admins any, managers their own department's.
async fn visible_user(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: &AuthUser,
    id: Uuid,
) -> Result<User, ApiError> {
    let user = db::users::find(conn, id)
        .await?
        .ok_or_else(not_found_user)?;
    match caller.role {
        Role::Admin => Ok(user),
        _ if caller.department.is_some() && user.department_id == caller.department => Ok(user),
        _ => Err(not_found_user()),
    }
}

/// One account. Managers: only their own department's (others are 404).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = AdminUser),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither an admin nor a manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account (or not in the manager's department)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/users/{id}")]
pub async fn get_user(
    caller: Authenticated<Managers>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let user = visible_user(&mut conn, &caller, path.into_inner()).await?;
    Ok(ok_json(AdminUser::from(user)))
}

/// What an admin asked to change, checked.
struct Wanted {
    full_name: Option<String>,
    role: Option<Role>,
    department_id: Option<Option<Uuid>>,
    status: Option<UserStatus>,
}

/// Applies a change to an account in the caller's transaction: the rules on departments, the
/// caller themselves and the last active admin; sessions end when it is disabled; one audit line.
async fn change_user(
    conn: &mut diesel_async::AsyncPgConnection,
    admin: &AuthUser,
    id: Uuid,
    wanted: Wanted,
) -> Result<User, ApiError> {
    // Lock the admins first (always in the same order), then the target.
    let admins = db::users::lock_active_admins(conn).await?;
    let current = db::users::find(conn, id)
        .await?
        .ok_or_else(not_found_user)?;
    if current.status == UserStatus::Deleted {
        return Err(conflict(
            "Tài khoản đã bị xóa theo yêu cầu của chủ tài khoản",
            "The account was deleted at its owner's request",
        ));
    }
    let mut change = db::users::AdminChange::default();
    if let Some(n) = wanted.full_name
        && n != current.full_name
    {
        change.full_name = Some(n);
    }
    if let Some(r) = wanted.role
        && r != current.role
    {
        if current.role == Role::Citizen {
            return Err(conflict(
                "Không thể đổi tài khoản người dân thành tài khoản cán bộ; hãy tạo tài khoản mới",
                "A resident's account cannot become a staff account; create one",
            ));
        }
        change.role = Some(r);
    }
    let role = change.role.unwrap_or(current.role);
    let department = match wanted.department_id {
        Some(d) => d,
        // Leaving a role with a department leaves the department.
        None if !role.needs_department() => None,
        None => current.department_id,
    };
    let mut p = Problems::default();
    match department {
        None if role.needs_department() => department_problem(
            &mut p,
            "department_required",
            "Nhân viên và trưởng phòng cần một phòng ban",
            "Staff and managers belong to a department",
        ),
        Some(_) if !role.needs_department() => department_problem(
            &mut p,
            "department_not_allowed",
            "Chỉ nhân viên và trưởng phòng thuộc một phòng ban",
            "Only staff and managers belong to a department",
        ),
        Some(d) if Some(d) != current.department_id => check_department(conn, &mut p, d).await?,
        _ => {}
    }
    p.check()?;
    if department != current.department_id {
        change.department_id = Some(department);
    }
    if let Some(s) = wanted.status
        && s != current.status
    {
        change.status = Some(s);
    }
    if change.full_name.is_none()
        && change.role.is_none()
        && change.department_id.is_none()
        && change.status.is_none()
    {
        return Ok(current);
    }
    let stays_admin = change.role.unwrap_or(current.role) == Role::Admin
        && change.status.unwrap_or(current.status) == UserStatus::Active;
    let was_active_admin = current.role == Role::Admin && current.status == UserStatus::Active;
    if was_active_admin && !stays_admin {
        if id == admin.id {
            return Err(conflict(
                "Quản trị viên không thể tự khóa hoặc tự hạ quyền của mình",
                "Admins cannot disable or demote themselves",
            ));
        }
        if admins.iter().filter(|a| **a != id).count() == 0 {
            return Err(conflict(
                "Đây là quản trị viên cuối cùng đang hoạt động",
                "This is the last active admin",
            ));
        }
    }
    let updated = db::users::admin_update(conn, id, &change)
        .await
        .map_err(|e| refused(e, "Xung đột", "Conflict"))?;
    let action = match change.status {
        Some(UserStatus::Disabled) => {
            db::sessions::revoke_all_of_user(conn, id, "account disabled").await?;
            "user.disable"
        }
        Some(UserStatus::Active) => "user.reactivate",
        _ => "user.update",
    };
    db::audit::record(
        conn,
        audit(admin, action, Some(&current), Some(&updated), id),
    )
    .await?;
    Ok(updated)
}

/// Changes an account: name, role (promote or demote), department (move), status (disable or
/// enable). Disabling ends its sessions at once. An admin cannot disable or demote themselves,
/// nor the last active admin.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The account as it is now", body = AdminUser),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the caller themselves, the last active admin, a resident's role, or a deleted account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: name, role, department or status (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/admin/users/{id}")]
pub async fn update_user(
    request: AuthenticatedJson<Admins, UserPatch>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut p = Problems::default();
    let full_name = body
        .full_name
        .as_deref()
        .and_then(|n| {
            FullName::parse(n)
                .map_err(|e| p.push(field_error("full_name", &e)))
                .ok()
        })
        .map(|n| n.as_str().to_owned());
    let role = body
        .role
        .as_deref()
        .and_then(|r| staff_role(&mut p, r, "role"));
    let status = match body.status.as_deref().map(str::trim) {
        None => None,
        Some("active") => Some(UserStatus::Active),
        Some("disabled") => Some(UserStatus::Disabled),
        Some(_) => {
            p.add(
                "status",
                "invalid",
                "Trạng thái: active hoặc disabled",
                "Either active or disabled",
            );
            None
        }
    };
    p.check()?;
    let wanted = Wanted {
        full_name,
        role,
        department_id: body.department_id,
        status,
    };
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    let updated = conn
        .transaction::<_, ApiError, _>(async |conn| change_user(conn, &user, id, wanted).await)
        .await?;
    Ok(ok_json(AdminUser::from(updated)))
}

/// Disables an account (its history stays): the same as `PATCH {"status": "disabled"}`.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Disabled", body = AdminUser),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the caller themselves, the last active admin, or a deleted account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/users/{id}")]
pub async fn disable_user(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let wanted = Wanted {
        full_name: None,
        role: None,
        department_id: None,
        status: Some(UserStatus::Disabled),
    };
    let mut conn = state.conn().await?;
    let updated = conn
        .transaction::<_, ApiError, _>(async |conn| change_user(conn, &admin, id, wanted).await)
        .await?;
    Ok(ok_json(AdminUser::from(updated)))
}

/// Resets an account's password: its sessions end and a one-time reset token is issued — mailed
/// (202) when the account has an email, otherwise returned (200) for the admin to hand over. The
/// owner sets a new password at `POST /auth/password-reset/confirm`.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "No email: the token, for the admin to hand over", body = PasswordResetIssued),
        (status = 202, description = "Mailed to the account's email", body = PasswordResetIssued),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the account is disabled or deleted", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/users/{id}/password-reset")]
pub async fn reset_user_password(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (token, hash) = new_opaque_token();
    let ttl = state.settings.auth.password_reset_ttl_secs;
    let expires_at = Utc::now() + chrono::Duration::seconds(ttl as i64);
    let link = format!(
        "{}/reset-password?token={token}",
        state.settings.public_url.trim_end_matches('/')
    );
    let mut conn = state.conn().await?;
    let mailed = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let user = db::users::find(conn, id)
                .await?
                .ok_or_else(not_found_user)?;
            if user.status != UserStatus::Active {
                return Err(conflict(
                    "Tài khoản không hoạt động; hãy mở khóa trước",
                    "The account is not active; enable it first",
                ));
            }
            db::sessions::revoke_all_of_user(conn, id, "password reset by an admin").await?;
            db::password_resets::insert(conn, id, &hash, expires_at).await?;
            let mailed = if let Some(email) = &user.email {
                let message = serde_json::to_value(crate::notify::templates::password_reset(
                    email,
                    &user.full_name,
                    &link,
                    ttl / 60,
                ))
                .map_err(ApiError::internal)?;
                db::outbox::enqueue(conn, OutboxKind::Email, &message).await?;
                true
            } else {
                false
            };
            let mut change = Change::of(
                &*admin,
                "user.password_reset",
                "user",
                id,
                None::<&serde_json::Value>,
                Some(&serde_json::json!({
                    "delivery": if mailed { "email" } else { "token" },
                    "sessions_revoked": true,
                })),
            );
            change.subject_user_id = Some(id);
            db::audit::record(conn, change).await?;
            Ok(mailed)
        })
        .await?;
    tracing::info!(user = %id, admin = %admin.id, mailed, "password reset issued by an admin");
    let no_store = ("Cache-Control", "private, no-store");
    if mailed {
        Ok(HttpResponse::Accepted()
            .insert_header(no_store)
            .json(PasswordResetIssued {
                delivery: "email".into(),
                reset_token: None,
                expires_at: None,
            }))
    } else {
        Ok(HttpResponse::Ok()
            .insert_header(no_store)
            .json(PasswordResetIssued {
                delivery: "token".into(),
                reset_token: Some(token),
                expires_at: Some(expires_at),
            }))
    }
}

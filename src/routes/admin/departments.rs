//! Departments (who handles reports): created, read, changed, deactivated and reactivated. A
//! department is never deleted: reports, users and rules keep pointing at it. One still named by
//! an active routing rule, or the last active triage desk, cannot be deactivated.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::categories::{constraint_error, one_line, validation_failed, verb};
use super::input::{conflict, created_json, nullable, ok_json};
use crate::auth::{Admins, AuthUser, Authenticated, AuthenticatedJson};
use crate::db;
use crate::db::audit::Change;
use crate::domain::DepartmentKind;
use crate::domain::identity::Email;
use crate::error::{ApiError, FieldError};
use crate::routes::reports::field;
use crate::startup::AppState;

/// A department as administrators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentResource {
    pub id: Uuid,
    /// `^[a-z0-9][a-z0-9_-]{0,63}$`; never changes.
    pub code: String,
    pub name: String,
    pub kind: DepartmentKind,
    /// The area it serves; null for a jurisdiction-wide desk.
    pub area_id: Option<Uuid>,
    pub area_code: Option<String>,
    /// Where its notifications go.
    pub email: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DepartmentResource {
    fn new(d: db::departments::Department, area_code: Option<String>) -> Self {
        DepartmentResource {
            id: d.id,
            code: d.code,
            name: d.name,
            kind: d.kind,
            area_id: d.area_id,
            area_code,
            email: d.email,
            active: d.active,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentList {
    pub items: Vec<DepartmentResource>,
    /// Always null: every department is in `items`.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartmentRequest {
    /// `^[a-z0-9][a-z0-9_-]{0,63}$`, unique, never changes.
    pub code: String,
    /// 1–200 characters.
    pub name: String,
    /// One of the department kinds.
    #[schema(value_type = DepartmentKind)]
    pub kind: String,
    /// The area it serves (must exist); absent or null for a jurisdiction-wide desk.
    pub area_id: Option<Uuid>,
    /// Where its notifications go.
    pub email: Option<String>,
}

/// Absent = unchanged; `null` clears `area_id` or `email`. The code cannot be changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<DepartmentKind>)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub area_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub email: Option<Option<String>>,
    /// `true` reactivates, `false` deactivates.
    pub active: Option<bool>,
}

fn valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && code.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn kind(raw: &str, errors: &mut Vec<FieldError>) -> Option<DepartmentKind> {
    let parsed = serde_json::from_value(serde_json::Value::String(raw.to_owned())).ok();
    if parsed.is_none() {
        errors.push(field(
            "kind",
            "invalid",
            "Loại phòng ban không hợp lệ (kinh_te, van_hoa_xa_hoi, van_phong, cong_an, triage, other)",
            "Unknown kind (kinh_te, van_hoa_xa_hoi, van_phong, cong_an, triage, other)",
        ));
    }
    parsed
}

fn email(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match Email::parse(raw) {
        Ok(e) => Some(e.as_str().to_owned()),
        Err(_) => {
            errors.push(field(
                "email",
                "invalid",
                "Email không hợp lệ",
                "Invalid email address",
            ));
            None
        }
    }
}

/// The area's code, or a 422 on `area_id` when there is no such area.
async fn existing_area(conn: &mut AsyncPgConnection, id: Uuid) -> Result<String, ApiError> {
    db::departments::area_code(conn, id).await?.ok_or_else(|| {
        validation_failed(vec![field(
            "area_id",
            "unknown",
            "Địa bàn không tồn tại",
            "No area has this id",
        )])
    })
}

fn location(id: Uuid) -> String {
    format!("/api/v1/admin/departments/{id}")
}

/// Creates a department.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewDepartmentRequest,
    responses(
        (status = 201, description = "Created", body = DepartmentResource),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: a department has this code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: bad code, name, kind or email, or no such area (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/departments")]
pub async fn create_department(
    request: AuthenticatedJson<Admins, NewDepartmentRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let code = body.code.trim();
    if !valid_code(code) {
        errors.push(field(
            "code",
            "invalid",
            "Mã gồm chữ thường, số, - và _, tối đa 64 ký tự",
            "Lowercase letters, digits, - and _, at most 64 characters",
        ));
    }
    let name = one_line(&body.name, "name", 200, &mut errors);
    let kind = kind(&body.kind, &mut errors);
    let email = body.email.as_deref().map(|e| email(e, &mut errors));
    let (Some(name), Some(kind), true) = (name, kind, errors.is_empty()) else {
        return Err(validation_failed(errors));
    };
    let email = email.flatten();
    let mut conn = state.conn().await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let area_code = match body.area_id {
                Some(a) => Some(existing_area(conn, a).await?),
                None => None,
            };
            let new = db::departments::NewAdminDepartment {
                id: Uuid::now_v7(),
                code,
                name: &name,
                kind,
                area_id: body.area_id,
                email: email.as_deref(),
            };
            let created = db::departments::insert(conn, &new)
                .await
                .map_err(constraint_error)?
                .ok_or_else(|| {
                    conflict(
                        format!("Đã có phòng ban mã {code}"),
                        format!("A department with code {code} exists"),
                    )
                })?;
            let resource = DepartmentResource::new(created, area_code);
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "department.create",
                    "department",
                    resource.id,
                    None::<&()>,
                    Some(&resource),
                ),
            )
            .await?;
            Ok(resource)
        })
        .await?;
    tracing::info!(department = %created.id, code = %created.code, admin = %user.id, "department created");
    Ok(created_json(location(created.id), created))
}

/// Every department, inactive ones included, by code.
#[utoipa::path(
    operation_id = "admin_list_departments",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The departments", body = DepartmentList),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/departments")]
pub async fn list_departments(
    _admin: Authenticated<Admins>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let items = db::departments::list_all_with_area_code(&mut conn).await?;
    Ok(ok_json(DepartmentList {
        items: items
            .into_iter()
            .map(|(d, a)| DepartmentResource::new(d, a))
            .collect(),
        next_cursor: None,
    }))
}

/// One department.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Department id")),
    responses(
        (status = 200, description = "The department", body = DepartmentResource),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/departments/{id}")]
pub async fn get_department(
    _admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let (d, area) = db::departments::find_with_area_code(&mut conn, path.into_inner())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok_json(DepartmentResource::new(d, area)))
}

/// Changes a department (absent fields stay; `null` clears `area_id` or `email`);
/// `active: true` reactivates, `false` deactivates (as `DELETE` does, with its conditions).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Department id")),
    request_body = DepartmentPatch,
    responses(
        (status = 200, description = "The department as it now is", body = DepartmentResource),
        (status = 400, description = "Malformed JSON or unknown field (`code` included: it never changes)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: deactivating (or changing the kind of) a department that active routing rules still route to, or the last active triage desk", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/admin/departments/{id}")]
pub async fn update_department(
    request: AuthenticatedJson<Admins, DepartmentPatch>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let name = body
        .name
        .as_deref()
        .and_then(|n| one_line(n, "name", 200, &mut errors));
    let kind = body.kind.as_deref().and_then(|k| kind(k, &mut errors));
    let email = match &body.email {
        None => None,
        Some(None) => Some(None),
        Some(Some(e)) => email(e, &mut errors).map(Some),
    };
    if !errors.is_empty() {
        return Err(validation_failed(errors));
    }
    let change = db::departments::DepartmentChange {
        name,
        kind,
        area_id: body.area_id,
        email,
        active: body.active,
    };
    let updated = apply(&state, &user, path.into_inner(), change).await?;
    Ok(ok_json(updated))
}

/// Deactivates a department: it stops receiving reports; history keeps it. Refused while an
/// active routing rule routes to it (move the rules first) and for the last active triage desk.
/// `PATCH {"active": true}` reactivates.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Department id")),
    responses(
        (status = 200, description = "Deactivated", body = DepartmentResource),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such department", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: active routing rules route to it, or it is the last active triage desk", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/departments/{id}")]
pub async fn deactivate_department(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let change = db::departments::DepartmentChange {
        active: Some(false),
        ..Default::default()
    };
    let updated = apply(&state, &admin, path.into_inner(), change).await?;
    Ok(ok_json(updated))
}

/// Applies `change` to department `id` with its audit row, in one transaction; a change that
/// changes nothing writes nothing.
async fn apply(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    change: db::departments::DepartmentChange,
) -> Result<DepartmentResource, ApiError> {
    let mut conn = state.conn().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let current = db::departments::find_for_update(conn, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let current_area = match current.area_id {
            Some(a) => db::departments::area_code(conn, a).await?,
            None => None,
        };
        let before = DepartmentResource::new(current.clone(), current_area);
        let unchanged = change.name.as_ref().is_none_or(|v| *v == current.name)
            && change.kind.is_none_or(|v| v == current.kind)
            && change.area_id.is_none_or(|v| v == current.area_id)
            && change.email.as_ref().is_none_or(|v| *v == current.email)
            && change.active.is_none_or(|v| v == current.active);
        if unchanged {
            return Ok(before);
        }
        if let Some(Some(area)) = change.area_id {
            existing_area(conn, area).await?;
        }
        let active_after = change.active.unwrap_or(current.active);
        let kind_after = change.kind.unwrap_or(current.kind);
        if current.active && !active_after {
            let numbers = db::routing_rules::active_numbers_for_department(conn, id).await?;
            if !numbers.is_empty() {
                let list = numbers
                    .iter()
                    .map(|n| format!("#{n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(conflict(
                    format!(
                        "Các quy tắc phân luồng đang hoạt động {list} chuyển phản ánh đến phòng ban này; hãy chuyển chúng sang phòng ban khác trước"
                    ),
                    format!(
                        "Active routing rules {list} route to this department; move them to another department first"
                    ),
                ));
            }
        }
        let was_triage = current.active && current.kind == DepartmentKind::Triage;
        let still_triage = active_after && kind_after == DepartmentKind::Triage;
        if was_triage
            && !still_triage
            && db::departments::other_active_triage(conn, id).await? == 0
        {
            return Err(conflict(
                "Đây là bộ phận tiếp nhận và phân loại cuối cùng đang hoạt động: phản ánh không theo quy tắc nào sẽ không có nơi nhận",
                "This is the last active triage desk: reports no rule routes would have nowhere to go",
            ));
        }
        let updated = db::departments::update(conn, id, &change)
            .await
            .map_err(constraint_error)?;
        let area_code = match updated.area_id {
            Some(a) => db::departments::area_code(conn, a).await?,
            None => None,
        };
        let after = DepartmentResource::new(updated, area_code);
        let action = verb(
            before.active,
            after.active,
            "department.update",
            "department.deactivate",
            "department.reactivate",
        );
        db::audit::record(
            conn,
            Change::of(user, action, "department", id, Some(&before), Some(&after)),
        )
        .await?;
        tracing::info!(department = %id, action, admin = %user.id, "department changed");
        Ok(after)
    })
    .await
}

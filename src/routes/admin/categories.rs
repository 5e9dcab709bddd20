//! Categories (lĩnh vực) and their legal deadlines: created, read, changed, deactivated and
//! reactivated. A category is never deleted: reports keep pointing at it. An inactive one is
//! refused for new reports and stays listed here.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{conflict, created_json, ok_json};
use crate::auth::{Admins, Authenticated, AuthenticatedJson};
use crate::db;
use crate::db::audit::Change;
use crate::domain::DeadlineUnit;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::routes::catalog::Deadline;
use crate::routes::reports::field;
use crate::startup::AppState;

// ---- shared by the reference-data modules (categories, departments, routing rules) ----

/// `Cache-Control` of every administration answer.
/// 422 with every field error at once.
pub(crate) fn validation_failed(errors: Vec<FieldError>) -> ApiError {
    errors.into_iter().fold(
        ApiError::new(ErrorCode::ValidationFailed),
        ApiError::with_field,
    )
}

/// A database constraint the checks before a write did not foresee (a concurrent change):
/// a unique violation is a 409, a foreign-key or check violation a 422 — never a 500.
pub(crate) fn constraint_error(err: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match &err {
        E::DatabaseError(K::UniqueViolation, info) => conflict(
            format!(
                "Trùng với dữ liệu đã có ({})",
                info.constraint_name().unwrap_or("unique")
            ),
            format!(
                "Conflicts with an existing row ({})",
                info.constraint_name().unwrap_or("unique")
            ),
        ),
        E::DatabaseError(K::ForeignKeyViolation, _) => validation_failed(vec![field(
            "body",
            "unknown_reference",
            "Dữ liệu tham chiếu không tồn tại",
            "A referenced record does not exist",
        )]),
        E::DatabaseError(K::CheckViolation, info) => validation_failed(vec![field(
            info.column_name().unwrap_or("body"),
            "invalid",
            "Giá trị không hợp lệ",
            "Invalid value",
        )]),
        _ => ApiError::from(err),
    }
}

/// A one-line name of 1–`max` characters, trimmed; `None` (with an error pushed) otherwise.
pub(crate) fn one_line(
    raw: &str,
    name: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        errors.push(field(
            name,
            "invalid",
            &format!("Từ 1 đến {max} ký tự, một dòng"),
            &format!("1 to {max} characters on one line"),
        ));
        return None;
    }
    Some(s.to_owned())
}

/// An integer within `range`, as the database column's `i32`.
pub(crate) fn in_range(
    value: i64,
    range: std::ops::RangeInclusive<i64>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<i32> {
    if !range.contains(&value) {
        errors.push(field(
            name,
            "out_of_range",
            &format!("Phải từ {} đến {}", range.start(), range.end()),
            &format!("Must be between {} and {}", range.start(), range.end()),
        ));
        return None;
    }
    i32::try_from(value).ok()
}

/// The verb of an audit row for a change of `active` (or of anything else).
pub(crate) fn verb(
    before_active: bool,
    after_active: bool,
    update: &'static str,
    deactivate: &'static str,
    reactivate: &'static str,
) -> &'static str {
    match (before_active, after_active) {
        (true, false) => deactivate,
        (false, true) => reactivate,
        _ => update,
    }
}

// ---- categories ----

/// A category as administrators see it.
#[derive(Serialize, ToSchema)]
pub struct CategoryResource {
    pub id: Uuid,
    /// `^[a-z][a-z0-9_]{0,39}$`; never changes.
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub description: String,
    pub deadline: Deadline,
    /// Urgent reports are flagged to the department at once.
    pub urgent: bool,
    /// `false`: its reports never appear in the public feed.
    pub public: bool,
    /// `false`: refused for new reports; existing reports keep it.
    pub active: bool,
    pub sort_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<db::categories::Category> for CategoryResource {
    fn from(c: db::categories::Category) -> Self {
        CategoryResource {
            id: c.id,
            code: c.code,
            name_vi: c.name_vi,
            name_en: c.name_en,
            description: c.description,
            deadline: Deadline {
                amount: c.deadline_amount,
                unit: c.deadline_unit,
            },
            urgent: c.urgent,
            public: c.public,
            active: c.active,
            sort_order: c.sort_order,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<CategoryResource>,
    /// Always null: every category is in `items`.
    pub next_cursor: Option<String>,
}

/// A deadline as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineInput {
    /// 1–1000.
    pub amount: i64,
    /// `working_days` or `working_hours`.
    #[schema(value_type = DeadlineUnit)]
    pub unit: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategoryRequest {
    /// `^[a-z][a-z0-9_]{0,39}$`, unique, never changes.
    pub code: String,
    /// 1–200 characters.
    pub name_vi: String,
    /// 1–200 characters.
    pub name_en: String,
    /// Up to 2000 characters; empty when absent.
    pub description: Option<String>,
    pub deadline: DeadlineInput,
    /// Default false.
    pub urgent: Option<bool>,
    /// Default true.
    pub public: Option<bool>,
    /// Default 0; -1000000–1000000.
    pub sort_order: Option<i64>,
}

/// Every field optional: absent = unchanged. The code cannot be changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub name_vi: Option<String>,
    pub name_en: Option<String>,
    pub description: Option<String>,
    pub deadline: Option<DeadlineInput>,
    pub urgent: Option<bool>,
    pub public: Option<bool>,
    /// `true` reactivates, `false` deactivates.
    pub active: Option<bool>,
    pub sort_order: Option<i64>,
}

fn valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && code.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn description(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let s = raw.trim();
    if s.chars().count() > 2000
        || s.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors.push(field(
            "description",
            "invalid",
            "Mô tả tối đa 2000 ký tự",
            "At most 2000 characters",
        ));
        return None;
    }
    Some(s.to_owned())
}

fn deadline(input: &DeadlineInput, errors: &mut Vec<FieldError>) -> Option<(i32, DeadlineUnit)> {
    let amount = in_range(input.amount, 1..=1000, "deadline.amount", errors);
    let unit = match input.unit.as_str() {
        "working_days" => Some(DeadlineUnit::WorkingDays),
        "working_hours" => Some(DeadlineUnit::WorkingHours),
        _ => {
            errors.push(field(
                "deadline.unit",
                "invalid",
                "Đơn vị là working_days hoặc working_hours",
                "Either working_days or working_hours",
            ));
            None
        }
    };
    Some((amount?, unit?))
}

const SORT_RANGE: std::ops::RangeInclusive<i64> = -1_000_000..=1_000_000;

fn location(id: Uuid) -> String {
    format!("/api/v1/admin/categories/{id}")
}

/// Creates a category.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewCategoryRequest,
    responses(
        (status = 201, description = "Created", body = CategoryResource),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: a category has this code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/categories")]
pub async fn create_category(
    request: AuthenticatedJson<Admins, NewCategoryRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let code = body.code.trim();
    if !valid_code(code) {
        errors.push(field(
            "code",
            "invalid",
            "Mã gồm chữ thường, số và _, bắt đầu bằng chữ, tối đa 40 ký tự",
            "Lowercase letters, digits and _, starting with a letter, at most 40",
        ));
    }
    let name_vi = one_line(&body.name_vi, "name_vi", 200, &mut errors);
    let name_en = one_line(&body.name_en, "name_en", 200, &mut errors);
    let description = description(body.description.as_deref().unwrap_or(""), &mut errors);
    let deadline = deadline(&body.deadline, &mut errors);
    let sort_order = in_range(
        body.sort_order.unwrap_or(0),
        SORT_RANGE,
        "sort_order",
        &mut errors,
    );
    let (
        Some(name_vi),
        Some(name_en),
        Some(description),
        Some((amount, unit)),
        Some(sort_order),
        true,
    ) = (
        name_vi,
        name_en,
        description,
        deadline,
        sort_order,
        errors.is_empty(),
    )
    else {
        return Err(validation_failed(errors));
    };
    let new = db::categories::NewCategory {
        id: Uuid::now_v7(),
        code,
        name_vi: &name_vi,
        name_en: &name_en,
        description: &description,
        deadline_amount: amount,
        deadline_unit: unit,
        urgent: body.urgent.unwrap_or(false),
        public: body.public.unwrap_or(true),
        sort_order,
    };
    let mut conn = state.conn().await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let created = db::categories::insert(conn, &new)
                .await
                .map_err(constraint_error)?
                .ok_or_else(|| {
                    conflict(
                        format!("Đã có lĩnh vực mã {code}"),
                        format!("A category with code {code} exists"),
                    )
                })?;
            let resource = CategoryResource::from(created);
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "category.create",
                    "category",
                    resource.id,
                    None::<&()>,
                    Some(&resource),
                ),
            )
            .await?;
            Ok(resource)
        })
        .await?;
    tracing::info!(category = %created.id, code = %created.code, admin = %user.id, "category created");
    Ok(created_json(location(created.id), created))
}

/// Every category, inactive ones included, in display order.
#[utoipa::path(
    operation_id = "admin_list_categories",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The categories", body = CategoryList),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/categories")]
pub async fn list_categories(
    _admin: Authenticated<Admins>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let items = db::categories::list_all(&mut conn).await?;
    Ok(ok_json(CategoryList {
        items: items.into_iter().map(CategoryResource::from).collect(),
        next_cursor: None,
    }))
}

/// One category.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    responses(
        (status = 200, description = "The category", body = CategoryResource),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/categories/{id}")]
pub async fn get_category(
    _admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let category = db::categories::find(&mut conn, path.into_inner())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok_json(CategoryResource::from(category)))
}

/// Changes a category (absent fields stay); `active: true` reactivates, `false` deactivates.
/// The change applies to the next report; reports already submitted keep their deadline.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    request_body = CategoryPatch,
    responses(
        (status = 200, description = "The category as it now is", body = CategoryResource),
        (status = 400, description = "Malformed JSON or unknown field (`code` included: it never changes)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/admin/categories/{id}")]
pub async fn update_category(
    request: AuthenticatedJson<Admins, CategoryPatch>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let change = db::categories::CategoryChange {
        name_vi: body
            .name_vi
            .as_deref()
            .and_then(|n| one_line(n, "name_vi", 200, &mut errors)),
        name_en: body
            .name_en
            .as_deref()
            .and_then(|n| one_line(n, "name_en", 200, &mut errors)),
        description: body
            .description
            .as_deref()
            .and_then(|d| description(d, &mut errors)),
        deadline_amount: None,
        deadline_unit: None,
        urgent: body.urgent,
        public: body.public,
        active: body.active,
        sort_order: body
            .sort_order
            .and_then(|s| in_range(s, SORT_RANGE, "sort_order", &mut errors)),
    };
    let deadline = body
        .deadline
        .as_ref()
        .and_then(|d| deadline(d, &mut errors));
    if !errors.is_empty() {
        return Err(validation_failed(errors));
    }
    let change = db::categories::CategoryChange {
        deadline_amount: deadline.map(|d| d.0),
        deadline_unit: deadline.map(|d| d.1),
        ..change
    };
    let updated = apply(&state, &user, path.into_inner(), change).await?;
    Ok(ok_json(updated))
}

/// Deactivates a category: refused for new reports from now on; reports already made keep it.
/// Deactivating an inactive category changes nothing. `PATCH {"active": true}` reactivates.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    responses(
        (status = 200, description = "Deactivated", body = CategoryResource),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/categories/{id}")]
pub async fn deactivate_category(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let change = db::categories::CategoryChange {
        active: Some(false),
        ..Default::default()
    };
    let updated = apply(&state, &admin, path.into_inner(), change).await?;
    Ok(ok_json(updated))
}

/// Applies `change` to category `id` with its audit row, in one transaction; a change that
/// changes nothing writes nothing.
async fn apply(
    state: &AppState,
    user: &crate::auth::AuthUser,
    id: Uuid,
    change: db::categories::CategoryChange,
) -> Result<CategoryResource, ApiError> {
    let mut conn = state.conn().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let current = db::categories::find_for_update(conn, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let before = CategoryResource::from(current.clone());
        let unchanged = change
            .name_vi
            .as_ref()
            .is_none_or(|v| *v == current.name_vi)
            && change
                .name_en
                .as_ref()
                .is_none_or(|v| *v == current.name_en)
            && change
                .description
                .as_ref()
                .is_none_or(|v| *v == current.description)
            && change
                .deadline_amount
                .is_none_or(|v| v == current.deadline_amount)
            && change
                .deadline_unit
                .is_none_or(|v| v == current.deadline_unit)
            && change.urgent.is_none_or(|v| v == current.urgent)
            && change.public.is_none_or(|v| v == current.public)
            && change.active.is_none_or(|v| v == current.active)
            && change.sort_order.is_none_or(|v| v == current.sort_order);
        if unchanged {
            return Ok(before);
        }
        let after = CategoryResource::from(
            db::categories::update(conn, id, &change)
                .await
                .map_err(constraint_error)?,
        );
        let action = verb(
            before.active,
            after.active,
            "category.update",
            "category.deactivate",
            "category.reactivate",
        );
        db::audit::record(
            conn,
            Change::of(user, action, "category", id, Some(&before), Some(&after)),
        )
        .await?;
        tracing::info!(category = %id, action, admin = %user.id, "category changed");
        Ok(after)
    })
    .await
}

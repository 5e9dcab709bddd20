//! Routing rules (category × area → department): created, read, changed, deactivated and
//! reactivated. Submission reads the active rules from the database on every report, so a change
//! here takes effect at once in every server process. A rule is never deleted: reports cite it.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::categories::{constraint_error, in_range, validation_failed, verb};
use super::input::{conflict, created_json, ok_json};
use crate::auth::{Admins, AuthUser, Authenticated, AuthenticatedJson};
use crate::db;
use crate::db::audit::Change;
use crate::db::routing_rules::RuleWithCodes;
use crate::error::{ApiError, FieldError};
use crate::routes::present;
use crate::routes::reports::{bad_query, field};
use crate::startup::AppState;

/// A routing rule as administrators see it. A null category or area matches any.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoutingRuleResource {
    pub id: Uuid,
    /// The short number routing reasons cite ("quy tắc #12").
    pub number: i32,
    pub category_id: Option<Uuid>,
    pub category_code: Option<String>,
    pub area_id: Option<Uuid>,
    pub area_code: Option<String>,
    pub department_id: Uuid,
    pub department_code: String,
    /// Between a category-only and an area-only rule that both match, the higher wins.
    pub priority: i32,
    pub active: bool,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<RuleWithCodes> for RoutingRuleResource {
    fn from(r: RuleWithCodes) -> Self {
        RoutingRuleResource {
            id: r.rule.id,
            number: r.rule.number,
            category_id: r.rule.category_id,
            category_code: r.category_code,
            area_id: r.rule.area_id,
            area_code: r.area_code,
            department_id: r.rule.department_id,
            department_code: r.department_code,
            priority: r.rule.priority,
            active: r.rule.active,
            note: r.rule.note,
            created_at: r.rule.created_at,
            updated_at: r.rule.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingRuleList {
    pub items: Vec<RoutingRuleResource>,
    /// Always null: every matching rule is in `items`.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleQuery {
    /// Rules for this category code.
    pub category: Option<String>,
    /// Rules for this area code.
    pub area: Option<String>,
    /// Rules routing to this department code.
    pub department: Option<String>,
    /// `true` or `false`.
    #[param(pattern = "^ *(true|false)? *$")]
    pub active: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoutingRuleRequest {
    /// Absent or null: any category.
    pub category_id: Option<Uuid>,
    /// Absent or null: any area.
    pub area_id: Option<Uuid>,
    /// An active department.
    pub department_id: Uuid,
    /// Default 0; -1000–1000.
    pub priority: Option<i64>,
    /// Why the rule exists; up to 500 characters.
    pub note: Option<String>,
}

/// Absent = unchanged. The (category, area) pair cannot be changed: make another rule.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRulePatch {
    /// An active department.
    pub department_id: Option<Uuid>,
    pub priority: Option<i64>,
    pub note: Option<String>,
    /// `true` reactivates, `false` deactivates.
    pub active: Option<bool>,
}

const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = -1000..=1000;

fn note(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let s = raw.trim();
    if s.chars().count() > 500 || s.chars().any(char::is_control) {
        errors.push(field(
            "note",
            "invalid",
            "Ghi chú tối đa 500 ký tự, một dòng",
            "At most 500 characters on one line",
        ));
        return None;
    }
    Some(s.to_owned())
}

/// Checks that `department_id` names an active department; pushes a field error otherwise.
async fn active_department(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    errors: &mut Vec<FieldError>,
) -> Result<(), ApiError> {
    match db::departments::find_for_share(conn, id).await? {
        None => errors.push(field(
            "department_id",
            "unknown",
            "Phòng ban không tồn tại",
            "No department has this id",
        )),
        Some(d) if !d.active => errors.push(field(
            "department_id",
            "inactive",
            "Phòng ban đã ngừng hoạt động",
            "The department is inactive",
        )),
        Some(_) => {}
    }
    Ok(())
}

async fn load(conn: &mut AsyncPgConnection, id: Uuid) -> Result<RoutingRuleResource, ApiError> {
    Ok(db::routing_rules::find_with_codes(conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?
        .into())
}

fn location(id: Uuid) -> String {
    format!("/api/v1/admin/routing-rules/{id}")
}

/// Creates a routing rule. It applies to the next report submitted, in every server process.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewRoutingRuleRequest,
    responses(
        (status = 201, description = "Created", body = RoutingRuleResource),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: a rule for this (category, area) pair exists (active or not)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: unknown category, area or department, an inactive department, bad priority or note (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/routing-rules")]
pub async fn create_routing_rule(
    request: AuthenticatedJson<Admins, NewRoutingRuleRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let priority = in_range(
        body.priority.unwrap_or(0),
        PRIORITY_RANGE,
        "priority",
        &mut errors,
    );
    let note = note(body.note.as_deref().unwrap_or(""), &mut errors);
    let mut conn = state.conn().await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            if let Some(c) = body.category_id
                && db::categories::find(conn, c).await?.is_none()
            {
                errors.push(field(
                    "category_id",
                    "unknown",
                    "Lĩnh vực không tồn tại",
                    "No category has this id",
                ));
            }
            if let Some(a) = body.area_id
                && db::departments::area_code(conn, a).await?.is_none()
            {
                errors.push(field(
                    "area_id",
                    "unknown",
                    "Địa bàn không tồn tại",
                    "No area has this id",
                ));
            }
            active_department(conn, body.department_id, &mut errors).await?;
            let (Some(priority), Some(note), true) = (priority, note, errors.is_empty()) else {
                return Err(validation_failed(std::mem::take(&mut errors)));
            };
            let pair_taken = || {
                conflict(
                    "Đã có quy tắc cho cặp lĩnh vực và địa bàn này; hãy sửa hoặc kích hoạt lại quy tắc đó",
                    "A rule for this (category, area) pair exists; change or reactivate that rule",
                )
            };
            if let Some(existing) =
                db::routing_rules::find_by_pair(conn, body.category_id, body.area_id).await?
            {
                let n = existing.number;
                return Err(conflict(
                    format!(
                        "Đã có quy tắc #{n} cho cặp lĩnh vực và địa bàn này; hãy sửa hoặc kích hoạt lại quy tắc đó"
                    ),
                    format!(
                        "Rule #{n} exists for this (category, area) pair; change or reactivate it"
                    ),
                ));
            }
            let new = db::routing_rules::NewRoutingRule {
                id: Uuid::now_v7(),
                category_id: body.category_id,
                area_id: body.area_id,
                department_id: body.department_id,
                priority,
                note: &note,
            };
            let inserted = db::routing_rules::insert(conn, &new)
                .await
                .map_err(constraint_error)?
                .ok_or_else(pair_taken)?;
            let resource = load(conn, inserted.id).await?;
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "routing_rule.create",
                    "routing_rule",
                    resource.id,
                    None::<&()>,
                    Some(&resource),
                ),
            )
            .await?;
            Ok(resource)
        })
        .await?;
    tracing::info!(rule = %created.id, number = created.number, admin = %user.id, "routing rule created");
    Ok(created_json(location(created.id), created))
}

/// The routing rules, inactive ones included, by number; filtered by category, area or
/// department code and by `active`.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(RoutingRuleQuery),
    responses(
        (status = 200, description = "The rules", body = RoutingRuleList),
        (status = 400, description = "`invalid_query`: unknown parameter, or `active` not true/false", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/routing-rules")]
pub async fn list_routing_rules(
    _admin: Authenticated<Admins>,
    query: web::Query<RoutingRuleQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let active = match present(&query.active) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(bad_query(
                "active phải là true hoặc false",
                "active must be true or false",
            ));
        }
    };
    let filter = db::routing_rules::RuleFilter {
        category: present(&query.category).map(str::to_owned),
        area: present(&query.area).map(str::to_owned),
        department: present(&query.department).map(str::to_owned),
        active,
    };
    let mut conn = state.conn().await?;
    let items = db::routing_rules::list_with_codes(&mut conn, &filter).await?;
    Ok(ok_json(RoutingRuleList {
        items: items.into_iter().map(RoutingRuleResource::from).collect(),
        next_cursor: None,
    }))
}

/// One routing rule.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Routing rule id")),
    responses(
        (status = 200, description = "The rule", body = RoutingRuleResource),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/routing-rules/{id}")]
pub async fn get_routing_rule(
    _admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    Ok(ok_json(load(&mut conn, path.into_inner()).await?))
}

/// Changes a rule's department, priority or note, or (`active`) deactivates or reactivates it.
/// It applies to the next report submitted, in every server process.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Routing rule id")),
    request_body = RoutingRulePatch,
    responses(
        (status = 200, description = "The rule as it now is", body = RoutingRuleResource),
        (status = 400, description = "Malformed JSON or unknown field (`category_id`, `area_id` included: make another rule)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: deactivating the catch-all rule, or reactivating a rule whose department is inactive", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: unknown or inactive department, bad priority or note (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/admin/routing-rules/{id}")]
pub async fn update_routing_rule(
    request: AuthenticatedJson<Admins, RoutingRulePatch>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut errors = Vec::new();
    let change = db::routing_rules::RuleChange {
        department_id: body.department_id,
        priority: body
            .priority
            .and_then(|p| in_range(p, PRIORITY_RANGE, "priority", &mut errors)),
        note: body.note.as_deref().and_then(|n| note(n, &mut errors)),
        active: body.active,
    };
    if !errors.is_empty() {
        return Err(validation_failed(errors));
    }
    let updated = apply(&state, &user, path.into_inner(), change).await?;
    Ok(ok_json(updated))
}

/// Deactivates a rule: reports fall to the next most specific rule from now on. The catch-all
/// rule cannot be deactivated. `PATCH {"active": true}` reactivates.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Routing rule id")),
    responses(
        (status = 200, description = "Deactivated", body = RoutingRuleResource),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the catch-all rule cannot be deactivated", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/routing-rules/{id}")]
pub async fn deactivate_routing_rule(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let change = db::routing_rules::RuleChange {
        active: Some(false),
        ..Default::default()
    };
    let updated = apply(&state, &admin, path.into_inner(), change).await?;
    Ok(ok_json(updated))
}

/// Applies `change` to rule `id` with its audit row, in one transaction; a change that changes
/// nothing writes nothing.
async fn apply(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    change: db::routing_rules::RuleChange,
) -> Result<RoutingRuleResource, ApiError> {
    let mut conn = state.conn().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let current = db::routing_rules::find_for_update(conn, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let before = load(conn, id).await?;
        let unchanged = change
            .department_id
            .is_none_or(|v| v == current.department_id)
            && change.priority.is_none_or(|v| v == current.priority)
            && change.note.as_ref().is_none_or(|v| *v == current.note)
            && change.active.is_none_or(|v| v == current.active);
        if unchanged {
            return Ok(before);
        }
        if let Some(d) = change.department_id
            && d != current.department_id
        {
            let mut errors = Vec::new();
            active_department(conn, d, &mut errors).await?;
            if !errors.is_empty() {
                return Err(validation_failed(errors));
            }
        }
        let active_after = change.active.unwrap_or(current.active);
        if current.active
            && !active_after
            && current.category_id.is_none()
            && current.area_id.is_none()
        {
            return Err(conflict(
                "Không thể ngừng quy tắc mặc định (mọi lĩnh vực, mọi địa bàn); hãy chuyển nó sang phòng ban khác",
                "The catch-all rule (any category, any area) cannot be deactivated; point it at another department instead",
            ));
        }
        let department_after = change.department_id.unwrap_or(current.department_id);
        if !current.active
            && active_after
            && !db::departments::find(conn, department_after)
                .await?
                .is_some_and(|d| d.active)
        {
            return Err(conflict(
                "Phòng ban của quy tắc đã ngừng hoạt động; hãy chọn phòng ban khác (department_id) khi kích hoạt lại",
                "The rule's department is inactive; give another department_id when reactivating",
            ));
        }
        db::routing_rules::update(conn, id, &change)
            .await
            .map_err(constraint_error)?;
        let after = load(conn, id).await?;
        let action = verb(
            before.active,
            after.active,
            "routing_rule.update",
            "routing_rule.deactivate",
            "routing_rule.reactivate",
        );
        db::audit::record(
            conn,
            Change::of(user, action, "routing_rule", id, Some(&before), Some(&after)),
        )
        .await?;
        tracing::info!(rule = %id, number = after.number, action, admin = %user.id, "routing rule changed");
        Ok(after)
    })
    .await
}

//! The routing dry run: where a report would go now, and why.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Admins, Authenticated};
use crate::db;
use crate::error::{ApiError, ErrorCode};
use crate::routes::present;
use crate::routes::reports::bad_query;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// WGS84 latitude.
    #[param(required = true, value_type = f64, minimum = -90, maximum = 90)]
    pub lat: Option<String>,
    /// WGS84 longitude.
    #[param(required = true, value_type = f64, minimum = -180, maximum = 180)]
    pub lon: Option<String>,
    /// A category code (an unknown or retired one: 422 `unknown_category`).
    #[param(required = true, value_type = String, pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
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
        (status = 400, description = "`invalid_query`: lat, lon or category missing or malformed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`location_outside_jurisdiction`: the point is in no commune; `unknown_category`: no active category has this code", body = crate::error::Problem, content_type = "application/problem+json"),
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
            ApiError::new(ErrorCode::UnknownCategory).with_detail(
                "Lĩnh vực không tồn tại hoặc đã ngừng nhận phản ánh",
                "No active category has this code",
            )
        })?;
    let routed =
        crate::routes::reports::route_report(&mut conn, &state, &category, at, Utc::now()).await?;
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

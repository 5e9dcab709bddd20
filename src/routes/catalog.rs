//! Public catalog: categories, areas (communes, with boundaries as GeoJSON) and departments.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{http_cache, present};
use crate::db::{self, areas::Validity};
use crate::domain::{AreaCode, AreaKind, Coordinates, DeadlineUnit, DepartmentKind};
use crate::error::ApiError;
use crate::startup::AppState;

const GEOJSON: &str = "application/geo+json";
const JSON: &str = "application/json";

#[derive(Serialize, ToSchema)]
pub struct Deadline {
    /// How many units the department has to resolve a report.
    pub amount: i32,
    /// Counted in working time (Asia/Ho_Chi_Minh, Monday–Friday minus holidays, plus make-up days).
    pub unit: DeadlineUnit,
}

#[derive(Serialize, ToSchema)]
pub struct CategoryResponse {
    /// Stable code, e.g. `road`; what a report's `category` names.
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub description: String,
    pub deadline: Deadline,
    /// Urgent categories have a one-working-day deadline and alert staff at once.
    pub urgent: bool,
    /// `false`: reports in this category never appear in the public feed (e.g. `security`).
    pub public: bool,
}

/// Active categories, in display order.
#[utoipa::path(
    tag = "catalog",
    responses(
        (status = 200, description = "Active categories", body = [CategoryResponse]),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 503, description = "Database unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/categories")]
pub async fn list_categories(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let rows = db::categories::list_active(&mut conn).await?;
    let body: Vec<CategoryResponse> = rows
        .into_iter()
        .map(|c| CategoryResponse {
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
        })
        .collect();
    Ok(http_cache::respond(&req, JSON, to_vec(&body)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AreasQuery {
    /// `json` (default) or `geojson` (an RFC 7946 FeatureCollection with boundaries; also chosen by
    /// `Accept: application/geo+json`).
    /// (Read as text, so that an empty parameter means "absent".)
    #[param(pattern = "^ *(json|geojson)? *$")]
    pub format: Option<String>,
    /// Areas in force on this day (YYYY-MM-DD); default (or empty) today in Asia/Ho_Chi_Minh.
    #[param(
        value_type = Option<String>,
        pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))? *$"
    )]
    pub valid_on: Option<String>,
    /// `true`: every area ever, including those replaced by a reorganisation; `false` or empty:
    /// those in force.
    #[param(value_type = Option<String>, pattern = "^ *(true|false)? *$")]
    pub all: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AreaResponse {
    pub id: Uuid,
    /// National administrative-unit code (reused across reorganisations; see `valid_from`/`valid_to`).
    pub code: String,
    pub name: String,
    pub full_name: Option<String>,
    pub name_en: Option<String>,
    pub kind: AreaKind,
    pub valid_from: NaiveDate,
    /// Exclusive end of validity; `null` while in force.
    pub valid_to: Option<NaiveDate>,
    /// The area that replaced this one.
    pub successor_id: Option<Uuid>,
    pub centroid: Coordinates,
    /// `[min_lon, min_lat, max_lon, max_lat]` of the boundary, when one is known.
    pub bbox: Option<[f64; 4]>,
    /// Whether a boundary polygon is known (else reports are matched to the nearest centroid).
    pub has_boundary: bool,
}

impl AreaResponse {
    fn new(a: db::areas::Area, has_boundary: bool) -> Self {
        AreaResponse {
            centroid: a.centroid(),
            bbox: a.bbox().map(|b| b.to_array()),
            id: a.id,
            code: a.code,
            name: a.name,
            full_name: a.full_name,
            name_en: a.name_en,
            kind: a.kind,
            valid_from: a.valid_from,
            valid_to: a.valid_to,
            successor_id: a.successor_id,
            has_boundary,
        }
    }
}

/// Communes (and other areas) in force, or all of them; as JSON or as GeoJSON with boundaries.
#[utoipa::path(
    tag = "catalog",
    params(AreasQuery),
    responses(
        (status = 200, description = "Areas; with `format=geojson` an RFC 7946 FeatureCollection whose features carry the area's fields as properties and its boundary (or `null`) as geometry",
         content((Vec<AreaResponse> = "application/json"), (Object = "application/geo+json"))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "Bad `format`, `valid_on` or `all`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/areas")]
pub async fn list_areas(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<AreasQuery>,
) -> Result<HttpResponse, ApiError> {
    let wants_geojson = match present(&query.format) {
        Some("geojson") => true,
        Some("json") => false,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "Tham số format chỉ nhận json hoặc geojson",
                "format must be json or geojson",
            ));
        }
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains(GEOJSON)),
    };
    let all = match present(&query.all) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "Tham số all chỉ nhận true hoặc false",
                "all must be true or false",
            ));
        }
    };
    let validity = if all {
        Validity::All
    } else {
        match present(&query.valid_on) {
            Some(d) => Validity::On(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid_query(
                    "valid_on phải là ngày dạng YYYY-MM-DD",
                    "valid_on must be a YYYY-MM-DD date",
                )
            })?),
            None => Validity::On(today_in_vietnam()),
        }
    };

    let mut conn = state.conn().await?;
    if wants_geojson {
        let rows = db::areas::list_with_boundaries(&mut conn, validity).await?;
        let features: Vec<Value> = rows
            .into_iter()
            .map(|row| {
                let geometry = row.boundary.unwrap_or(Value::Null);
                let area = AreaResponse::new(row.area, !geometry.is_null());
                let mut feature = json!({
                    "type": "Feature",
                    "id": area.id,
                    "geometry": geometry,
                    "properties": area,
                });
                if let Some(bbox) = area_bbox(&feature) {
                    feature["bbox"] = bbox;
                }
                feature
            })
            .collect();
        let body = json!({"type": "FeatureCollection", "features": features});
        return Ok(http_cache::respond(&req, GEOJSON, to_vec(&body)?));
    }
    let rows = db::areas::list(&mut conn, validity).await?;
    let body: Vec<AreaResponse> = rows
        .into_iter()
        .map(|(a, has_boundary)| AreaResponse::new(a, has_boundary))
        .collect();
    Ok(http_cache::respond(&req, JSON, to_vec(&body)?))
}

fn area_bbox(feature: &Value) -> Option<Value> {
    let bbox = feature.get("properties")?.get("bbox")?;
    (!bbox.is_null()).then(|| bbox.clone())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepartmentsQuery {
    /// Only the departments of this area (by code, e.g. `24943`).
    #[param(pattern = "^[0-9A-Za-z_-]{0,32}$")]
    pub area: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentResponse {
    pub id: Uuid,
    /// Stable code: area code + kind, e.g. `24943-kinh-te`; `triage` for the district-wide desk.
    pub code: String,
    pub name: String,
    pub kind: DepartmentKind,
    /// `null` for a jurisdiction-wide desk.
    pub area_code: Option<String>,
}

/// Active departments.
#[utoipa::path(
    tag = "catalog",
    params(DepartmentsQuery),
    responses(
        (status = 200, description = "Active departments", body = [DepartmentResponse]),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "Malformed `area`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/departments")]
pub async fn list_departments(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DepartmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let area = present(&query.area)
        .map(|a| {
            AreaCode::parse(a).map_err(|_| {
                ApiError::invalid_query("Mã địa bàn không hợp lệ", "area is not a valid area code")
            })
        })
        .transpose()?;
    let mut conn = state.conn().await?;
    let rows =
        db::departments::list_active_with_area_code(&mut conn, area.as_ref().map(AreaCode::as_str))
            .await?;
    let body: Vec<DepartmentResponse> = rows
        .into_iter()
        .map(|(d, area_code)| DepartmentResponse {
            id: d.id,
            code: d.code,
            name: d.name,
            kind: d.kind,
            area_code,
        })
        .collect();
    Ok(http_cache::respond(&req, JSON, to_vec(&body)?))
}

fn to_vec<T: Serialize>(body: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body).map_err(ApiError::internal)
}

/// Today's date in Vietnam (UTC+7 all year, no daylight saving).
pub fn today_in_vietnam() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive()
}

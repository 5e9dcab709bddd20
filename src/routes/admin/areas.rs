//! Areas (communes) and their boundaries: create, read, change, end (`valid_to`), delete what
//! nothing refers to, and import a GeoJSON FeatureCollection — the same import as
//! `phananh areas import` ([`db::areas::import_geojson`]). Routing reads the areas table through
//! a fingerprinted cache, so every change reaches every server process on its next report.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncConnection;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Problems, conflict, created_json, nullable, ok_json, refused};
use crate::auth::{Admins, Authenticated, AuthenticatedJson};
use crate::db::{self, audit::Change};
use crate::domain::{AreaCode, AreaKind, Boundary, Coordinates};
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// An area as admins see it (without its boundary polygon).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AdminArea {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub full_name: Option<String>,
    pub name_en: Option<String>,
    pub kind: AreaKind,
    pub valid_from: NaiveDate,
    /// Exclusive end of validity; `null` while in force.
    pub valid_to: Option<NaiveDate>,
    pub successor_id: Option<Uuid>,
    pub centroid: Coordinates,
    /// `[min_lon, min_lat, max_lon, max_lat]` of the boundary.
    pub bbox: Option<[f64; 4]>,
    pub has_boundary: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AdminArea {
    fn new(a: db::areas::Area, has_boundary: bool) -> Self {
        AdminArea {
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
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// One area with its boundary (a GeoJSON Polygon or MultiPolygon, or `null`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminAreaDetail {
    #[serde(flatten)]
    pub area: AdminArea,
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
}

impl From<db::areas::AreaWithBoundary> for AdminAreaDetail {
    fn from(row: db::areas::AreaWithBoundary) -> Self {
        AdminAreaDetail {
            area: AdminArea::new(row.area, row.boundary.is_some()),
            boundary: row.boundary,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAreaList {
    pub items: Vec<AdminArea>,
    /// Always `null`: every area is listed.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CentroidInput {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAreaRequest {
    /// National administrative-unit code, `^[0-9A-Za-z_-]{1,32}$`; immutable.
    pub code: String,
    /// 1–200 characters.
    pub name: String,
    pub full_name: Option<String>,
    pub name_en: Option<String>,
    /// `commune` (default, or read off the full name), `ward`, `township`, `special_zone`,
    /// `district`, `province`.
    pub kind: Option<String>,
    /// YYYY-MM-DD; default 2025-07-01 (the reorganisation), as for imports.
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<String>,
    /// YYYY-MM-DD, exclusive, after `valid_from`.
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<String>,
    /// A GeoJSON Polygon or MultiPolygon (WGS84).
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
    /// Required without a boundary (reports are then matched to the nearest centroid);
    /// default the boundary's centroid.
    pub centroid: Option<CentroidInput>,
}

/// Absent fields stay as they are; `null` clears a nullable one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub full_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub name_en: Option<Option<String>>,
    pub kind: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<String>,
    /// End the area (exclusive); `null` puts it back in force.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date, nullable)]
    pub valid_to: Option<Option<String>>,
    /// The area that replaced this one.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub successor_id: Option<Option<Uuid>>,
    /// A new boundary, or `null` to drop it (the centroid stays).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>, nullable)]
    pub boundary: Option<Option<Value>>,
    pub centroid: Option<CentroidInput>,
}

/// What `POST /admin/areas/import` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaImportResult {
    /// Features in the file.
    pub imported: usize,
    /// New areas.
    pub created: usize,
    /// Areas in force under the same code, updated in place.
    pub updated: usize,
}

const MAX_NAME: usize = 200;
/// The largest FeatureCollection `POST /admin/areas/import` reads.
pub const IMPORT_LIMIT: usize = 20 * 1024 * 1024;

fn kind(p: &mut Problems, raw: &str) -> Option<AreaKind> {
    let k = AreaKind::parse(raw.trim());
    if k.is_none() {
        p.add(
            "kind",
            "invalid",
            "Loại đơn vị: commune, ward, township, special_zone, district, province",
            "One of commune, ward, township, special_zone, district, province",
        );
    }
    k
}

fn centroid(p: &mut Problems, c: CentroidInput) -> Option<Coordinates> {
    match Coordinates::parse(c.lat, c.lon) {
        Ok(c) => Some(c),
        Err(e) => {
            p.add(
                "centroid",
                "out_of_range",
                "Tọa độ ngoài khoảng cho phép",
                &e.to_string(),
            );
            None
        }
    }
}

fn boundary(p: &mut Problems, raw: &Value) -> Option<Boundary> {
    match Boundary::from_geojson(raw) {
        Ok(b) => Some(b),
        Err(e) => {
            p.add(
                "boundary",
                "invalid_geometry",
                &format!("Ranh giới không hợp lệ: {e}"),
                &format!("Not a valid GeoJSON Polygon or MultiPolygon: {e}"),
            );
            None
        }
    }
}

fn period_error(p: &mut Problems) {
    p.add(
        "valid_to",
        "before_valid_from",
        "Ngày kết thúc phải sau ngày bắt đầu",
        "valid_to must be after valid_from",
    );
}

fn overlap(code: &str) -> (String, String) {
    (
        format!("Mã {code} đã thuộc một đơn vị khác trong khoảng thời gian trùng lặp"),
        format!("Another area holds code {code} over an overlapping period"),
    )
}

fn not_found_area() -> ApiError {
    ApiError::not_found().with_detail("Không có đơn vị hành chính này", "No such area")
}

/// Creates an area (a commune, ward, ...), with a boundary or a centroid.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewAreaRequest,
    responses(
        (status = 201, description = "Created", body = AdminAreaDetail, headers(("Location" = String, description = "The new area"))),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: an area holds the code over an overlapping period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: code, names, kind, dates, boundary or centroid (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/areas")]
pub async fn create_area(
    request: AuthenticatedJson<Admins, NewAreaRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut p = Problems::default();
    let code = AreaCode::parse(&body.code)
        .map_err(|_| {
            p.add(
                "code",
                "invalid",
                "Mã gồm 1–32 chữ, số, '-' hoặc '_'",
                "1 to 32 letters, digits, '-' or '_'",
            )
        })
        .ok();
    let name = p.text("name", &body.name, MAX_NAME);
    let full_name = p.optional_text("full_name", body.full_name.as_deref(), MAX_NAME);
    let name_en = p.optional_text("name_en", body.name_en.as_deref(), MAX_NAME);
    let kind = match body.kind.as_deref() {
        Some(k) => kind(&mut p, k),
        None => Some(
            full_name
                .as_deref()
                .and_then(AreaKind::from_full_name)
                .unwrap_or(AreaKind::Commune),
        ),
    };
    let valid_from = match body.valid_from.as_deref() {
        Some(d) => p.date("valid_from", d),
        None => Some(db::areas::reorganisation_date()),
    };
    let valid_to = body.valid_to.as_deref().and_then(|d| p.date("valid_to", d));
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && to <= from
    {
        period_error(&mut p);
    }
    let shape = body.boundary.as_ref().and_then(|b| boundary(&mut p, b));
    let given_centroid = body.centroid.and_then(|c| centroid(&mut p, c));
    if body.boundary.is_none() && body.centroid.is_none() {
        p.add(
            "centroid",
            "required",
            "Cần tâm (centroid) khi không có ranh giới",
            "A centroid is required when there is no boundary",
        );
    }
    p.check()?;
    let (Some(code), Some(name), Some(kind), Some(valid_from)) = (code, name, kind, valid_from)
    else {
        return Err(ApiError::new(ErrorCode::ValidationFailed));
    };
    let Some(center) = given_centroid.or_else(|| shape.as_ref().map(Boundary::centroid)) else {
        return Err(ApiError::new(ErrorCode::ValidationFailed));
    };
    let bbox = shape.as_ref().map(Boundary::bbox);
    let new = db::areas::NewArea {
        id: Uuid::now_v7(),
        code: code.as_str(),
        name: &name,
        full_name: full_name.as_deref(),
        name_en: name_en.as_deref(),
        kind,
        valid_from,
        boundary: shape.as_ref().map(Boundary::to_geojson),
        centroid_lat: center.lat,
        centroid_lon: center.lon,
        bbox_min_lon: bbox.map(|b| b.min_lon),
        bbox_min_lat: bbox.map(|b| b.min_lat),
        bbox_max_lon: bbox.map(|b| b.max_lon),
        bbox_max_lat: bbox.map(|b| b.max_lat),
    };
    let (vi, en) = overlap(code.as_str());
    let mut conn = state.conn().await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let row = db::areas::insert_full(conn, &new, valid_to)
                .await
                .map_err(|e| refused(e, &vi, &en))?;
            let detail = AdminAreaDetail::from(row);
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "area.create",
                    "area",
                    detail.area.id,
                    None::<&AdminArea>,
                    Some(&detail.area),
                ),
            )
            .await?;
            Ok(detail)
        })
        .await?;
    Ok(created_json(
        format!("/api/v1/admin/areas/{}", created.area.id),
        &created,
    ))
}

/// Every area ever (replaced ones included), by code then start of validity; without boundaries.
#[utoipa::path(
    operation_id = "admin_list_areas",
    tag = "administration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The areas", body = AdminAreaList),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/areas")]
pub async fn list_areas(
    _admin: Authenticated<Admins>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let rows = db::areas::list(&mut conn, db::areas::Validity::All).await?;
    Ok(ok_json(&AdminAreaList {
        items: rows
            .into_iter()
            .map(|(a, has)| AdminArea::new(a, has))
            .collect(),
        next_cursor: None,
    }))
}

/// One area, with its boundary.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Area id")),
    responses(
        (status = 200, description = "The area", body = AdminAreaDetail),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/areas/{id}")]
pub async fn get_area(
    _admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let row = db::areas::find(&mut conn, path.into_inner())
        .await?
        .ok_or_else(not_found_area)?;
    Ok(ok_json(AdminAreaDetail::from(row)))
}

/// Changes an area: names, kind, validity (end it with `valid_to` instead of deleting it once
/// reports refer to it), successor, boundary or centroid. The code cannot change.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Area id")),
    request_body = AreaPatch,
    responses(
        (status = 200, description = "The area as it is now", body = AdminAreaDetail),
        (status = 400, description = "Malformed JSON or unknown field (`code` included)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the new period overlaps another area with the same code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (see `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/admin/areas/{id}")]
pub async fn update_area(
    request: AuthenticatedJson<Admins, AreaPatch>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let id = path.into_inner();
    let mut p = Problems::default();
    let name = body.name.as_deref().map(|n| p.text("name", n, MAX_NAME));
    let full_name = body
        .full_name
        .as_ref()
        .map(|f| p.optional_text("full_name", f.as_deref(), MAX_NAME));
    let name_en = body
        .name_en
        .as_ref()
        .map(|f| p.optional_text("name_en", f.as_deref(), MAX_NAME));
    let new_kind = body.kind.as_deref().map(|k| kind(&mut p, k));
    let valid_from = body.valid_from.as_deref().map(|d| p.date("valid_from", d));
    let valid_to = body
        .valid_to
        .as_ref()
        .map(|d| d.as_deref().and_then(|d| p.date("valid_to", d)));
    let shape = body
        .boundary
        .as_ref()
        .map(|b| b.as_ref().and_then(|b| boundary(&mut p, b)));
    let given_centroid = body.centroid.and_then(|c| centroid(&mut p, c));
    if body.successor_id == Some(Some(id)) {
        p.add(
            "successor_id",
            "self",
            "Một đơn vị không thể thay thế chính nó",
            "An area cannot replace itself",
        );
    }
    p.check()?;

    let mut conn = state.conn().await?;
    let updated = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let current = db::areas::find(conn, id)
                .await?
                .ok_or_else(not_found_area)?;
            let before = AdminAreaDetail::from(current.clone());
            let a = &current.area;
            let mut change = db::areas::AreaChange::default();
            if let Some(Some(n)) = name
                && n != a.name
            {
                change.name = Some(n);
            }
            if let Some(f) = full_name
                && f != a.full_name
            {
                change.full_name = Some(f);
            }
            if let Some(f) = name_en
                && f != a.name_en
            {
                change.name_en = Some(f);
            }
            if let Some(Some(k)) = new_kind
                && k != a.kind
            {
                change.kind = Some(k);
            }
            if let Some(Some(d)) = valid_from
                && d != a.valid_from
            {
                change.valid_from = Some(d);
            }
            if let Some(d) = valid_to
                && d != a.valid_to
            {
                change.valid_to = Some(d);
            }
            if let Some(s) = body.successor_id
                && s != a.successor_id
            {
                if let Some(succ) = s
                    && db::areas::find(conn, succ).await?.is_none()
                {
                    return Err(ApiError::new(ErrorCode::ValidationFailed).with_field(
                        crate::routes::reports::field(
                            "successor_id",
                            "unknown",
                            "Không có đơn vị này",
                            "No such area",
                        ),
                    ));
                }
                change.successor_id = Some(s);
            }
            let from = change.valid_from.unwrap_or(a.valid_from);
            let to = change.valid_to.unwrap_or(a.valid_to);
            if to.is_some_and(|to| to <= from) {
                let mut p = Problems::default();
                period_error(&mut p);
                p.check()?;
            }
            match &shape {
                Some(Some(b)) => {
                    let geo = b.to_geojson();
                    if current.boundary.as_ref() != Some(&geo) {
                        let bbox = b.bbox();
                        let c = b.centroid();
                        change.boundary = Some(Some(geo));
                        change.centroid_lat = Some(c.lat);
                        change.centroid_lon = Some(c.lon);
                        change.bbox_min_lon = Some(Some(bbox.min_lon));
                        change.bbox_min_lat = Some(Some(bbox.min_lat));
                        change.bbox_max_lon = Some(Some(bbox.max_lon));
                        change.bbox_max_lat = Some(Some(bbox.max_lat));
                    }
                }
                Some(None) if current.boundary.is_some() => {
                    change.boundary = Some(None);
                    change.bbox_min_lon = Some(None);
                    change.bbox_min_lat = Some(None);
                    change.bbox_max_lon = Some(None);
                    change.bbox_max_lat = Some(None);
                }
                _ => {}
            }
            if let Some(c) = given_centroid {
                change.centroid_lat = (c.lat != a.centroid_lat).then_some(c.lat);
                change.centroid_lon = (c.lon != a.centroid_lon).then_some(c.lon);
                if change.centroid_lat.is_some() || change.centroid_lon.is_some() {
                    change.centroid_lat = Some(c.lat);
                    change.centroid_lon = Some(c.lon);
                }
            }
            if is_empty(&change) {
                return Ok(before);
            }
            let (vi, en) = overlap(&a.code);
            let row = db::areas::update(conn, id, &change)
                .await
                .map_err(|e| refused(e, &vi, &en))?;
            let after = AdminAreaDetail::from(row);
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "area.update",
                    "area",
                    id,
                    Some(&before.area),
                    Some(&after.area),
                ),
            )
            .await?;
            Ok(after)
        })
        .await?;
    Ok(ok_json(&updated))
}

fn is_empty(c: &db::areas::AreaChange) -> bool {
    c.name.is_none()
        && c.full_name.is_none()
        && c.name_en.is_none()
        && c.kind.is_none()
        && c.valid_from.is_none()
        && c.valid_to.is_none()
        && c.successor_id.is_none()
        && c.boundary.is_none()
        && c.centroid_lat.is_none()
        && c.centroid_lon.is_none()
}

/// Deletes an area nothing refers to. Once a report, department or routing rule refers to it,
/// end it with `PATCH {"valid_to": ...}` instead: history never breaks.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Area id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: reports, departments or routing rules refer to it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/areas/{id}")]
pub async fn delete_area(
    admin: Authenticated<Admins>,
    path: web::Path<Uuid>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let current = db::areas::find(conn, id).await?.ok_or_else(not_found_area)?;
        let refs = db::areas::references(conn, id).await?;
        if refs.any() {
            return Err(conflict(
                format!(
                    "Đơn vị đang được dùng ({} phản ánh, {} phòng ban, {} quy tắc định tuyến): hãy kết thúc hiệu lực bằng valid_to thay vì xóa",
                    refs.reports, refs.departments, refs.routing_rules
                ),
                format!(
                    "The area is referred to by {} report records, {} departments and {} routing rules: end it with valid_to instead",
                    refs.reports, refs.departments, refs.routing_rules
                ),
            ));
        }
        db::areas::delete(conn, id).await.map_err(|e| {
            refused(e, "Đơn vị đang được dùng", "The area is referred to")
        })?;
        let before = AdminArea::new(current.area, current.boundary.is_some());
        db::audit::record(
            conn,
            Change::of(&*admin, "area.delete", "area", id, Some(&before), None::<&AdminArea>),
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Imports areas from a GeoJSON FeatureCollection (features with `code` and `name` properties,
/// optional `full_name`, `name_en`, `kind`, `valid_from`, and a Polygon/MultiPolygon geometry),
/// up to 20 MB: each upserted by code, all or nothing — the same import as
/// `phananh areas import FILE`. One audit line `area.import` with the counts and codes.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body(content = Object, description = "A GeoJSON FeatureCollection", content_type = "application/geo+json"),
    responses(
        (status = 200, description = "Imported", body = AreaImportResult),
        (status = 400, description = "`malformed_json`: not JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: a new area's period overlaps an ended area with the same code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 20 MB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither `application/json` nor `application/geo+json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a FeatureCollection, empty, or a bad feature (named in `detail`); nothing changed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/areas/import")]
pub async fn import_areas(
    admin: Authenticated<Admins>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type != "application/json" && media_type != "application/geo+json" {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
            "Nội dung phải là application/geo+json hoặc application/json",
            "The body must be application/geo+json or application/json",
        ));
    }
    let too_large = || {
        ApiError::new(ErrorCode::PayloadTooLarge).with_detail(
            "Tệp vượt quá 20 MB",
            "The FeatureCollection is larger than 20 MB",
        )
    };
    if req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > IMPORT_LIMIT)
    {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    let mut payload = payload;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(ErrorCode::MalformedJson).with_cause(anyhow::anyhow!("{e}"))
        })?;
        if body.len() + chunk.len() > IMPORT_LIMIT {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let mut conn = state.conn().await?;
    let report = db::areas::import_geojson(
        &mut conn,
        body.to_vec(),
        db::audit::Actor::from(&*admin),
        &|_, _| {},
    )
    .await
    .map_err(|e| match e {
        db::areas::ImportFailure::Invalid(e @ crate::domain::area_import::ImportError::Json(_)) => {
            ApiError::new(ErrorCode::MalformedJson).with_detail(
                format!("Không phải JSON hợp lệ; không có gì thay đổi: {e}"),
                format!("Nothing was imported: {e}"),
            )
        }
        db::areas::ImportFailure::Invalid(e) => {
            ApiError::new(ErrorCode::ValidationFailed).with_detail(
                format!("Không nhập được, không có gì thay đổi: {e}"),
                format!("Nothing was imported: {e}"),
            )
        }
        db::areas::ImportFailure::Database(e) => refused(
            e,
            "Một đơn vị mới trùng mã và thời gian hiệu lực với một đơn vị đã kết thúc; không có gì thay đổi",
            "A new area overlaps an ended area with the same code; nothing was imported",
        ),
    })?;
    tracing::info!(admin = %admin.id, areas = report.imported, created = report.created, updated = report.updated, "areas imported");
    Ok(ok_json(&AreaImportResult {
        imported: report.imported,
        created: report.created,
        updated: report.updated,
    }))
}

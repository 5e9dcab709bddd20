//! `areas`: communes and their boundaries over time.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::areas;
use crate::domain::area_import::AreaImport;
use crate::domain::{AreaKind, BoundingBox, Coordinates};

/// The day Vietnam's two-level local government took effect: the default start of an area's validity.
pub fn reorganisation_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, 1).unwrap_or_default()
}

/// An area without its (possibly large) boundary.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = areas, check_for_backend(diesel::pg::Pg))]
pub struct Area {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub full_name: Option<String>,
    pub name_en: Option<String>,
    pub kind: AreaKind,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub successor_id: Option<Uuid>,
    pub centroid_lat: f64,
    pub centroid_lon: f64,
    pub bbox_min_lon: Option<f64>,
    pub bbox_min_lat: Option<f64>,
    pub bbox_max_lon: Option<f64>,
    pub bbox_max_lat: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Area {
    pub fn centroid(&self) -> Coordinates {
        Coordinates {
            lat: self.centroid_lat,
            lon: self.centroid_lon,
        }
    }

    pub fn bbox(&self) -> Option<BoundingBox> {
        Some(BoundingBox {
            min_lon: self.bbox_min_lon?,
            min_lat: self.bbox_min_lat?,
            max_lon: self.bbox_max_lon?,
            max_lat: self.bbox_max_lat?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = areas, check_for_backend(diesel::pg::Pg))]
pub struct AreaWithBoundary {
    #[diesel(embed)]
    pub area: Area,
    pub boundary: Option<serde_json::Value>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = areas)]
pub struct NewArea<'a> {
    pub id: Uuid,
    pub code: &'a str,
    pub name: &'a str,
    pub full_name: Option<&'a str>,
    pub name_en: Option<&'a str>,
    pub kind: AreaKind,
    pub valid_from: NaiveDate,
    pub boundary: Option<serde_json::Value>,
    pub centroid_lat: f64,
    pub centroid_lon: f64,
    pub bbox_min_lon: Option<f64>,
    pub bbox_min_lat: Option<f64>,
    pub bbox_max_lon: Option<f64>,
    pub bbox_max_lat: Option<f64>,
}

/// Which areas a listing covers.
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    /// In force on this day.
    On(NaiveDate),
    /// Every area ever, including those replaced.
    All,
}

fn valid_on(
    day: NaiveDate,
) -> Box<
    dyn BoxableExpression<
            areas::table,
            diesel::pg::Pg,
            SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>,
        >,
> {
    Box::new(
        areas::valid_from
            .le(day)
            .and(areas::valid_to.is_null().or(areas::valid_to.gt(day))),
    )
}

/// Areas without their boundaries, each with whether it has one.
pub async fn list(
    conn: &mut AsyncPgConnection,
    validity: Validity,
) -> QueryResult<Vec<(Area, bool)>> {
    let mut q = areas::table
        .select((Area::as_select(), areas::boundary.is_not_null()))
        .order((areas::code, areas::valid_from))
        .into_boxed();
    if let Validity::On(day) = validity {
        q = q.filter(valid_on(day));
    }
    q.load(conn).await
}

pub async fn list_with_boundaries(
    conn: &mut AsyncPgConnection,
    validity: Validity,
) -> QueryResult<Vec<AreaWithBoundary>> {
    let mut q = areas::table
        .select(AreaWithBoundary::as_select())
        .order((areas::code, areas::valid_from))
        .into_boxed();
    if let Validity::On(day) = validity {
        q = q.filter(valid_on(day));
    }
    q.load(conn).await
}

/// The area in force under `code` (none if the code is retired).
pub async fn find_current_by_code(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<Area>> {
    areas::table
        .filter(areas::code.eq(code))
        .filter(areas::valid_to.is_null())
        .select(Area::as_select())
        .first(conn)
        .await
        .optional()
}

/// The most recent area under `code`, in force or not.
pub async fn find_latest_by_code(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<Area>> {
    areas::table
        .filter(areas::code.eq(code))
        .order(areas::valid_from.desc())
        .select(Area::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn insert(conn: &mut AsyncPgConnection, area: &NewArea<'_>) -> QueryResult<Uuid> {
    diesel::insert_into(areas::table)
        .values(area)
        .returning(areas::id)
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
}

/// What an import did, as the CLI prints it and `POST /admin/areas/import` answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub created: usize,
    pub updated: usize,
    /// Boundary vertices read, over every area.
    pub vertices: usize,
    pub codes: Vec<String>,
}

/// Why an import changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The file: not JSON, not a FeatureCollection, or a bad feature (named).
    #[error(transparent)]
    Invalid(#[from] crate::domain::area_import::ImportError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// The one import path of `phananh areas import` and `POST /api/v1/admin/areas/import`: checks
/// the whole GeoJSON FeatureCollection (off the async threads) before touching the database,
/// then upserts every area by code and writes one `area.import` audit line, all in one
/// transaction. `progress(done, total)` is called after each area.
pub async fn import_geojson(
    conn: &mut AsyncPgConnection,
    bytes: Vec<u8>,
    actor: super::audit::Actor,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportReport, ImportFailure> {
    let areas = tokio::task::spawn_blocking(move || {
        crate::domain::area_import::parse_feature_collection(&bytes)
    })
    .await
    .map_err(|e| {
        ImportFailure::Invalid(crate::domain::area_import::ImportError::Json(e.to_string()))
    })??;
    let total = areas.len();
    let vertices = areas.iter().map(|a| a.boundary.vertex_count()).sum();
    let codes: Vec<String> = areas.iter().map(|a| a.code.as_str().to_owned()).collect();
    use diesel_async::AsyncConnection;
    let summary = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let summary = import(conn, &areas, &|n| progress(n, total)).await?;
            super::audit::record(
                conn,
                super::audit::Change {
                    actor,
                    action: "area.import",
                    entity_type: "area",
                    entity_id: None,
                    report_id: None,
                    subject_user_id: None,
                    before: None,
                    after: Some(serde_json::json!({
                        "imported": total,
                        "created": summary.created,
                        "updated": summary.updated,
                        "codes": codes,
                    })),
                },
            )
            .await?;
            Ok(summary)
        })
        .await?;
    Ok(ImportReport {
        imported: total,
        created: summary.created,
        updated: summary.updated,
        vertices,
        codes,
    })
}

/// Upserts imported areas by code (the area currently in force under that code), all or nothing.
/// `progress` is called after each area. Callers go through [`import_geojson`].
async fn import(
    conn: &mut AsyncPgConnection,
    imports: &[AreaImport],
    progress: &(dyn Fn(usize) + Send + Sync),
) -> QueryResult<ImportSummary> {
    use diesel_async::AsyncConnection;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let mut summary = ImportSummary::default();
        for (i, item) in imports.iter().enumerate() {
            let centroid = item.boundary.centroid();
            let bbox = item.boundary.bbox();
            let geometry = item.boundary.to_geojson();
            match find_current_by_code(conn, item.code.as_str()).await? {
                Some(existing) => {
                    diesel::update(areas::table.find(existing.id))
                        .set((
                            areas::name.eq(&item.name),
                            // What the file does not say is kept, not erased.
                            areas::full_name
                                .eq(item.full_name.as_ref().or(existing.full_name.as_ref())),
                            areas::name_en.eq(item.name_en.as_ref().or(existing.name_en.as_ref())),
                            areas::kind.eq(item.kind.unwrap_or(existing.kind)),
                            areas::boundary.eq(Some(geometry)),
                            areas::centroid_lat.eq(centroid.lat),
                            areas::centroid_lon.eq(centroid.lon),
                            areas::bbox_min_lon.eq(Some(bbox.min_lon)),
                            areas::bbox_min_lat.eq(Some(bbox.min_lat)),
                            areas::bbox_max_lon.eq(Some(bbox.max_lon)),
                            areas::bbox_max_lat.eq(Some(bbox.max_lat)),
                        ))
                        .execute(conn)
                        .await?;
                    summary.updated += 1;
                }
                None => {
                    insert(
                        conn,
                        &NewArea {
                            id: Uuid::now_v7(),
                            code: item.code.as_str(),
                            name: &item.name,
                            full_name: item.full_name.as_deref(),
                            name_en: item.name_en.as_deref(),
                            kind: item.kind.unwrap_or(AreaKind::Commune),
                            valid_from: item.valid_from.unwrap_or_else(reorganisation_date),
                            boundary: Some(geometry),
                            centroid_lat: centroid.lat,
                            centroid_lon: centroid.lon,
                            bbox_min_lon: Some(bbox.min_lon),
                            bbox_min_lat: Some(bbox.min_lat),
                            bbox_max_lon: Some(bbox.max_lon),
                            bbox_max_lat: Some(bbox.max_lat),
                        },
                    )
                    .await?;
                    summary.created += 1;
                }
            }
            progress(i + 1);
        }
        Ok(summary)
    })
    .await
}

/// Every area with what routing needs, for [`crate::domain::routing::AreaIndex`]. A stored
/// boundary that no longer parses (edited by hand in SQL) is logged and the area falls back to
/// its centroid, rather than failing every report.
pub async fn load_shapes(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<crate::domain::routing::AreaShape>> {
    use crate::domain::Boundary;
    let rows = list_with_boundaries(conn, Validity::All).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let boundary = row.boundary.as_ref().and_then(|g| {
                Boundary::from_geojson(g)
                    .map_err(|e| {
                        tracing::warn!(area = %row.area.code, error = %e, "stored boundary does not parse; using the centroid");
                    })
                    .ok()
            });
            crate::domain::routing::AreaShape::new(
                row.area.id,
                row.area.code.clone(),
                row.area.name.clone(),
                (row.area.valid_from, row.area.valid_to),
                row.area.centroid(),
                boundary,
            )
        })
        .collect())
}

/// The routing index, rebuilt when the areas table changes. Every lookup first reads a cheap
/// fingerprint (row count and latest `updated_at`), so an admin's import or edit in any process
/// takes effect on the next report everywhere, with no cache to flush and no restart.
#[derive(Debug, Default)]
pub struct AreaIndexCache {
    current: tokio::sync::RwLock<Option<(AreasFingerprint, std::sync::Arc<AreaIndex>)>>,
}

type AreasFingerprint = (i64, Option<DateTime<Utc>>);
use crate::domain::routing::AreaIndex;

impl AreaIndexCache {
    pub async fn get(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> QueryResult<std::sync::Arc<AreaIndex>> {
        use diesel::dsl::{count_star, max};
        let fingerprint: AreasFingerprint = areas::table
            .select((count_star(), max(areas::updated_at)))
            .first(conn)
            .await?;
        if let Some((seen, index)) = &*self.current.read().await
            && *seen == fingerprint
        {
            return Ok(index.clone());
        }
        let index = std::sync::Arc::new(AreaIndex::new(load_shapes(conn).await?));
        *self.current.write().await = Some((fingerprint, index.clone()));
        Ok(index)
    }
}

/// The area's name as a sentence uses it: "xã Ka Đô" (its full name, lower-cased first letter),
/// or the short name when no full name is known.
pub async fn name_in_sentence(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<String> {
    let (name, full_name): (String, Option<String>) = areas::table
        .find(id)
        .select((areas::name, areas::full_name))
        .first(conn)
        .await?;
    Ok(match full_name.filter(|f| !f.trim().is_empty()) {
        Some(full) => {
            let mut chars = full.trim().chars();
            chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap_or(name)
        }
        None => name,
    })
}

/// One area with its boundary.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<AreaWithBoundary>> {
    areas::table
        .find(id)
        .select(AreaWithBoundary::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts an area (an admin's, which may already be ended), returning it.
pub async fn insert_full(
    conn: &mut AsyncPgConnection,
    area: &NewArea<'_>,
    valid_to: Option<NaiveDate>,
) -> QueryResult<AreaWithBoundary> {
    diesel::insert_into(areas::table)
        .values((area, areas::valid_to.eq(valid_to)))
        .returning(AreaWithBoundary::as_returning())
        .get_result(conn)
        .await
}

/// An admin's change to an area: `None` leaves a column as it is; `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = areas)]
pub struct AreaChange {
    pub name: Option<String>,
    pub full_name: Option<Option<String>>,
    pub name_en: Option<Option<String>>,
    pub kind: Option<AreaKind>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<Option<NaiveDate>>,
    pub successor_id: Option<Option<Uuid>>,
    pub boundary: Option<Option<serde_json::Value>>,
    pub centroid_lat: Option<f64>,
    pub centroid_lon: Option<f64>,
    pub bbox_min_lon: Option<Option<f64>>,
    pub bbox_min_lat: Option<Option<f64>>,
    pub bbox_max_lon: Option<Option<f64>>,
    pub bbox_max_lat: Option<Option<f64>>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &AreaChange,
) -> QueryResult<AreaWithBoundary> {
    diesel::update(areas::table.find(id))
        .set(change)
        .returning(AreaWithBoundary::as_returning())
        .get_result(conn)
        .await
}

/// What refers to an area: reports (or their timeline), departments, routing rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AreaReferences {
    pub reports: i64,
    pub departments: i64,
    pub routing_rules: i64,
}

impl AreaReferences {
    pub fn any(&self) -> bool {
        self.reports + self.departments + self.routing_rules > 0
    }
}

pub async fn references(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<AreaReferences> {
    use super::schema::{departments, report_events, reports, routing_rules};
    let reports: i64 = reports::table
        .filter(reports::area_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    let events: i64 = report_events::table
        .filter(report_events::area_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    let departments: i64 = departments::table
        .filter(departments::area_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    let routing_rules: i64 = routing_rules::table
        .filter(routing_rules::area_id.eq(id))
        .count()
        .get_result(conn)
        .await?;
    Ok(AreaReferences {
        reports: reports + events,
        departments,
        routing_rules,
    })
}

pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(areas::table.find(id)).execute(conn).await?;
    Ok(n > 0)
}

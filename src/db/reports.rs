//! `reports`: what residents submitted, where it went and how far it has got.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{areas, categories, departments, reports};
use crate::domain::BoundingBox;
use crate::domain::report::ReportStatus;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reports, check_for_backend(diesel::pg::Pg))]
pub struct Report {
    pub id: Uuid,
    pub tracking_code: String,
    pub reporter_id: Option<Uuid>,
    pub anonymous: bool,
    pub category_id: Uuid,
    pub area_id: Uuid,
    pub department_id: Uuid,
    pub routing_rule_id: Option<Uuid>,
    pub routing_reason: String,
    pub status: ReportStatus,
    pub description: String,
    pub address: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub consent_version: String,
    pub consent_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reports)]
pub struct NewReport<'a> {
    pub id: Uuid,
    pub tracking_code: &'a str,
    pub reporter_id: Option<Uuid>,
    pub anonymous: bool,
    pub category_id: Uuid,
    pub area_id: Uuid,
    pub department_id: Uuid,
    pub routing_rule_id: Option<Uuid>,
    pub routing_reason: &'a str,
    pub status: ReportStatus,
    pub description: &'a str,
    pub address: Option<&'a str>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub consent_version: &'a str,
    pub consent_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A report with the names people read: category, area, department.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ReportWithNames {
    #[diesel(embed)]
    pub report: Report,
    #[diesel(select_expression = categories::code)]
    pub category_code: String,
    #[diesel(select_expression = categories::name_vi)]
    pub category_name_vi: String,
    #[diesel(select_expression = categories::name_en)]
    pub category_name_en: String,
    #[diesel(select_expression = categories::public)]
    pub category_public: bool,
    #[diesel(select_expression = areas::code)]
    pub area_code: String,
    #[diesel(select_expression = areas::name)]
    pub area_name: String,
    #[diesel(select_expression = departments::name)]
    pub department_name: String,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewReport<'_>) -> QueryResult<()> {
    diesel::insert_into(reports::table)
        .values(new)
        .execute(conn)
        .await?;
    Ok(())
}

macro_rules! with_names {
    () => {
        reports::table
            .inner_join(categories::table)
            .inner_join(areas::table)
            .inner_join(departments::table)
    };
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ReportWithNames>> {
    with_names!()
        .filter(reports::id.eq(id))
        .select(ReportWithNames::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_tracking_code(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<ReportWithNames>> {
    with_names!()
        .filter(reports::tracking_code.eq(code))
        .select(ReportWithNames::as_select())
        .first(conn)
        .await
        .optional()
}

/// Position in a newest-first list: the last item's `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, Default, Clone)]
pub struct FeedFilter {
    pub bbox: Option<BoundingBox>,
    pub statuses: Vec<ReportStatus>,
    pub category: Option<String>,
    pub area: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only this reporter's reports (and then non-public categories too).
    pub reporter: Option<Uuid>,
}

/// `point(lon, lat)` inside a box: the expression `reports_location` (GiST) indexes.
macro_rules! inside {
    ($b:expr) => {{
        let b: BoundingBox = $b;
        sql::<Bool>("point(reports.lon, reports.lat) <@ box(point(")
            .bind::<Double, _>(b.min_lon)
            .sql(", ")
            .bind::<Double, _>(b.min_lat)
            .sql("), point(")
            .bind::<Double, _>(b.max_lon)
            .sql(", ")
            .bind::<Double, _>(b.max_lat)
            .sql("))")
    }};
}

/// Newest first, at most `limit` rows after `cursor`. The public feed (no `reporter`) shows
/// public categories only.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &FeedFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<ReportWithNames>> {
    let mut q = with_names!().into_boxed();
    match filter.reporter {
        Some(reporter) => q = q.filter(reports::reporter_id.eq(reporter)),
        None => q = q.filter(categories::public.eq(true)),
    }
    if let Some(b) = filter.bbox {
        q = q.filter(inside!(b));
    }
    if !filter.statuses.is_empty() {
        q = q.filter(reports::status.eq_any(filter.statuses.clone()));
    }
    if let Some(code) = &filter.category {
        q = q.filter(categories::code.eq(code.clone()));
    }
    if let Some(code) = &filter.area {
        q = q.filter(areas::code.eq(code.clone()));
    }
    if let Some(since) = filter.since {
        q = q.filter(reports::created_at.ge(since));
    }
    if let Some(c) = cursor {
        q = q.filter(
            reports::created_at.lt(c.created_at).or(reports::created_at
                .eq(c.created_at)
                .and(reports::id.lt(c.id))),
        );
    }
    q.order((reports::created_at.desc(), reports::id.desc()))
        .limit(limit)
        .select(ReportWithNames::as_select())
        .load(conn)
        .await
}

/// Open reports of a category inside a box, submitted since `since`: candidates for "already
/// reported". The box comes from the radius; the caller keeps those within the radius itself.
pub async fn open_nearby(
    conn: &mut AsyncPgConnection,
    category: Uuid,
    around: BoundingBox,
    since: DateTime<Utc>,
    exclude: Uuid,
) -> QueryResult<Vec<Report>> {
    reports::table
        .filter(inside!(around))
        .filter(reports::category_id.eq(category))
        .filter(reports::status.eq_any(ReportStatus::OPEN))
        .filter(reports::created_at.ge(since))
        .filter(reports::id.ne(exclude))
        .order(reports::created_at.desc())
        .limit(200)
        .select(Report::as_select())
        .load(conn)
        .await
}

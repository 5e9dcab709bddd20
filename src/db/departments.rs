//! `departments`: who handles reports, per area (or jurisdiction-wide).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{areas, departments};
use crate::domain::DepartmentKind;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = departments, check_for_backend(diesel::pg::Pg))]
pub struct Department {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: DepartmentKind,
    pub area_id: Option<Uuid>,
    pub email: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = departments)]
pub struct NewDepartment<'a> {
    pub id: Uuid,
    pub code: &'a str,
    pub name: &'a str,
    pub kind: DepartmentKind,
    pub area_id: Option<Uuid>,
}

/// Active departments with the code of their area, ordered by code; optionally one area's only.
pub async fn list_active_with_area_code(
    conn: &mut AsyncPgConnection,
    area_code: Option<&str>,
) -> QueryResult<Vec<(Department, Option<String>)>> {
    let mut q = departments::table
        .left_join(areas::table)
        .filter(departments::active.eq(true))
        .order(departments::code)
        .select((Department::as_select(), areas::code.nullable()))
        .into_boxed();
    if let Some(code) = area_code {
        q = q.filter(areas::code.eq(code.to_owned()));
    }
    q.load(conn).await
}

pub async fn insert_if_absent(
    conn: &mut AsyncPgConnection,
    new: &NewDepartment<'_>,
) -> QueryResult<bool> {
    let n = diesel::insert_into(departments::table)
        .values(new)
        .on_conflict(departments::code)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

pub async fn id_by_code(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<Option<Uuid>> {
    departments::table
        .filter(departments::code.eq(code))
        .select(departments::id)
        .first(conn)
        .await
        .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Department>> {
    departments::table
        .find(id)
        .select(Department::as_select())
        .first(conn)
        .await
        .optional()
}

/// The jurisdiction-wide desk that takes what no rule routes (the oldest active one).
pub async fn triage_desk(conn: &mut AsyncPgConnection) -> QueryResult<Option<Department>> {
    departments::table
        .filter(departments::kind.eq(DepartmentKind::Triage))
        .filter(departments::active.eq(true))
        .order(departments::created_at)
        .select(Department::as_select())
        .first(conn)
        .await
        .optional()
}

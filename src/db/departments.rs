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

/// The department, its row share-locked until the transaction ends: a rule written to point at
/// it cannot race its deactivation (which locks the row for update).
pub async fn find_for_share(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Department>> {
    departments::table
        .find(id)
        .select(Department::as_select())
        .for_share()
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

/// A department with the code of its area (administration).
pub type DepartmentWithArea = (Department, Option<String>);

/// Every department, inactive ones included, with the code of its area, ordered by code.
pub async fn list_all_with_area_code(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<DepartmentWithArea>> {
    departments::table
        .left_join(areas::table)
        .order(departments::code)
        .select((Department::as_select(), areas::code.nullable()))
        .load(conn)
        .await
}

pub async fn find_with_area_code(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<DepartmentWithArea>> {
    departments::table
        .left_join(areas::table)
        .filter(departments::id.eq(id))
        .select((Department::as_select(), areas::code.nullable()))
        .first(conn)
        .await
        .optional()
}

/// The department, locked until the end of the transaction (a change reads it first).
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Department>> {
    departments::table
        .find(id)
        .select(Department::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// A department as an administrator creates it.
#[derive(Debug, Insertable)]
#[diesel(table_name = departments)]
pub struct NewAdminDepartment<'a> {
    pub id: Uuid,
    pub code: &'a str,
    pub name: &'a str,
    pub kind: DepartmentKind,
    pub area_id: Option<Uuid>,
    pub email: Option<&'a str>,
}

/// Inserts and returns the new department; `None` when the code exists already.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewAdminDepartment<'_>,
) -> QueryResult<Option<Department>> {
    diesel::insert_into(departments::table)
        .values(new)
        .on_conflict(departments::code)
        .do_nothing()
        .returning(Department::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// What an administrator may change (the code never changes); `None` leaves a column alone,
/// `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = departments)]
pub struct DepartmentChange {
    pub name: Option<String>,
    pub kind: Option<DepartmentKind>,
    pub area_id: Option<Option<Uuid>>,
    pub email: Option<Option<String>>,
    pub active: Option<bool>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &DepartmentChange,
) -> QueryResult<Department> {
    diesel::update(departments::table.find(id))
        .set(change)
        .returning(Department::as_returning())
        .get_result(conn)
        .await
}

/// Active departments of kind triage other than `except`.
/// Takes a transaction-scoped lock first: two admins deactivating the last two triage desks at
/// once are serialised, and the second sees the first's change.
pub async fn other_active_triage(conn: &mut AsyncPgConnection, except: Uuid) -> QueryResult<i64> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(7061637)")
        .execute(conn)
        .await?;
    departments::table
        .filter(departments::kind.eq(DepartmentKind::Triage))
        .filter(departments::active.eq(true))
        .filter(departments::id.ne(except))
        .count()
        .get_result(conn)
        .await
}

/// The code of area `id`, if there is such an area (its existence check for references).
pub async fn area_code(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<String>> {
    areas::table
        .find(id)
        .select(areas::code)
        .first(conn)
        .await
        .optional()
}

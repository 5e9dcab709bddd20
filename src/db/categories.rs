//! `categories`: what a report can be about, and its legal deadline.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::categories;
use crate::domain::DeadlineUnit;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = categories, check_for_backend(diesel::pg::Pg))]
pub struct Category {
    pub id: Uuid,
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub description: String,
    pub deadline_amount: i32,
    pub deadline_unit: DeadlineUnit,
    pub urgent: bool,
    pub public: bool,
    pub active: bool,
    pub sort_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = categories)]
pub struct NewCategory<'a> {
    pub id: Uuid,
    pub code: &'a str,
    pub name_vi: &'a str,
    pub name_en: &'a str,
    pub description: &'a str,
    pub deadline_amount: i32,
    pub deadline_unit: DeadlineUnit,
    pub urgent: bool,
    pub public: bool,
    pub sort_order: i32,
}

/// Active categories in display order.
pub async fn list_active(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Category>> {
    categories::table
        .filter(categories::active.eq(true))
        .order((categories::sort_order, categories::code))
        .select(Category::as_select())
        .load(conn)
        .await
}

/// Inserts unless the code exists; returns whether it was inserted.
pub async fn insert_if_absent(
    conn: &mut AsyncPgConnection,
    new: &NewCategory<'_>,
) -> QueryResult<bool> {
    let n = diesel::insert_into(categories::table)
        .values(new)
        .on_conflict(categories::code)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

pub async fn id_by_code(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<Option<Uuid>> {
    categories::table
        .filter(categories::code.eq(code))
        .select(categories::id)
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_code(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<Category>> {
    categories::table
        .filter(categories::code.eq(code))
        .select(Category::as_select())
        .first(conn)
        .await
        .optional()
}

/// Every category, inactive ones included, in display order (administration).
pub async fn list_all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Category>> {
    categories::table
        .order((categories::sort_order, categories::code))
        .select(Category::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Category>> {
    categories::table
        .find(id)
        .select(Category::as_select())
        .first(conn)
        .await
        .optional()
}

/// The category, locked until the end of the transaction (a change reads it first).
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Category>> {
    categories::table
        .find(id)
        .select(Category::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Inserts and returns the new category; `None` when the code exists already.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewCategory<'_>,
) -> QueryResult<Option<Category>> {
    diesel::insert_into(categories::table)
        .values(new)
        .on_conflict(categories::code)
        .do_nothing()
        .returning(Category::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// What an administrator may change (the code never changes); `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = categories)]
pub struct CategoryChange {
    pub name_vi: Option<String>,
    pub name_en: Option<String>,
    pub description: Option<String>,
    pub deadline_amount: Option<i32>,
    pub deadline_unit: Option<DeadlineUnit>,
    pub urgent: Option<bool>,
    pub public: Option<bool>,
    pub active: Option<bool>,
    pub sort_order: Option<i32>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &CategoryChange,
) -> QueryResult<Category> {
    diesel::update(categories::table.find(id))
        .set(change)
        .returning(Category::as_returning())
        .get_result(conn)
        .await
}

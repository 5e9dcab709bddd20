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

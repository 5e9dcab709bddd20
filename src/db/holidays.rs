//! `holidays`: the exceptions of the working-time calendar.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::audit::{Actor, Change};
use super::schema::holidays;
use crate::domain::HolidayKind;
use crate::domain::calendar::WorkingCalendar;

/// The whole calendar (a few dozen rows a year).
pub async fn load_calendar(conn: &mut AsyncPgConnection) -> QueryResult<WorkingCalendar> {
    let rows: Vec<(chrono::NaiveDate, HolidayKind)> = holidays::table
        .select((holidays::day, holidays::kind))
        .load(conn)
        .await?;
    let days_off = rows
        .iter()
        .filter(|(_, k)| *k == HolidayKind::DayOff)
        .map(|(d, _)| *d);
    let working = rows
        .iter()
        .filter(|(_, k)| *k == HolidayKind::WorkingDay)
        .map(|(d, _)| *d);
    Ok(WorkingCalendar::new(days_off, working))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = holidays, check_for_backend(diesel::pg::Pg))]
pub struct Holiday {
    pub day: NaiveDate,
    pub kind: HolidayKind,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The entries of `year` (every entry when `None`), by day.
pub async fn list(conn: &mut AsyncPgConnection, year: Option<i32>) -> QueryResult<Vec<Holiday>> {
    let mut q = holidays::table
        .select(Holiday::as_select())
        .order(holidays::day)
        .into_boxed();
    if let Some(y) = year {
        let (Some(from), Some(to)) = (
            NaiveDate::from_ymd_opt(y, 1, 1),
            NaiveDate::from_ymd_opt(y + 1, 1, 1),
        ) else {
            return Ok(Vec::new());
        };
        q = q
            .filter(holidays::day.ge(from))
            .filter(holidays::day.lt(to));
    }
    q.load(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, day: NaiveDate) -> QueryResult<Option<Holiday>> {
    holidays::table
        .find(day)
        .select(Holiday::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts; `Ok(None)` when the day already has an entry.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    kind: HolidayKind,
    name: &str,
) -> QueryResult<Option<Holiday>> {
    diesel::insert_into(holidays::table)
        .values((
            holidays::day.eq(day),
            holidays::kind.eq(kind),
            holidays::name.eq(name),
        ))
        .on_conflict(holidays::day)
        .do_nothing()
        .returning(Holiday::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    kind: HolidayKind,
    name: &str,
) -> QueryResult<Holiday> {
    diesel::update(holidays::table.find(day))
        .set((holidays::kind.eq(kind), holidays::name.eq(name)))
        .returning(Holiday::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, day: NaiveDate) -> QueryResult<bool> {
    let n = diesel::delete(holidays::table.find(day))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Adds a day off unless the day already has an entry (an admin's decision stands); returns
/// whether it was added.
pub async fn insert_day_off_if_absent(
    conn: &mut AsyncPgConnection,
    day: chrono::NaiveDate,
    name: &str,
) -> QueryResult<bool> {
    let n = diesel::insert_into(holidays::table)
        .values((
            holidays::day.eq(day),
            holidays::kind.eq(HolidayKind::DayOff),
            holidays::name.eq(name),
        ))
        .on_conflict(holidays::day)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// One suggested day off and whether it was added (`false`: the day already had an entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggested {
    pub day: NaiveDate,
    pub name: String,
    pub added: bool,
}

/// The one path of `phananh holidays suggest YEAR` and `POST /admin/holidays/suggest?year=`:
/// computes the year's days off ([`crate::domain::holidays::suggest`]) and inserts those whose
/// day has no entry yet, with one `holiday.import` audit line when anything was added, in one
/// transaction. `Ok(None)` for a year outside the calendar's range.
pub async fn apply_suggestions(
    conn: &mut AsyncPgConnection,
    year: i32,
    actor: Actor,
) -> QueryResult<Option<Vec<Suggested>>> {
    let Some(days) = crate::domain::holidays::suggest(year) else {
        return Ok(None);
    };
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let mut out = Vec::with_capacity(days.len());
        for day in days {
            let added = insert_day_off_if_absent(conn, day.day, &day.name).await?;
            out.push(Suggested {
                day: day.day,
                name: day.name,
                added,
            });
        }
        let added: Vec<serde_json::Value> = out
            .iter()
            .filter(|s| s.added)
            .map(|s| serde_json::json!({"day": s.day, "kind": HolidayKind::DayOff, "name": s.name}))
            .collect();
        if !added.is_empty() {
            super::audit::record(
                conn,
                Change {
                    actor,
                    action: "holiday.import",
                    entity_type: "holiday",
                    entity_id: Some(year.to_string()),
                    report_id: None,
                    subject_user_id: None,
                    before: None,
                    after: Some(serde_json::json!({"year": year, "added": added})),
                },
            )
            .await?;
        }
        Ok(Some(out))
    })
    .await
}

//! `holidays`: the exceptions of the working-time calendar.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

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

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

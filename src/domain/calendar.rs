//! Working time in Asia/Ho_Chi_Minh (UTC+7, no daylight saving): Monday–Friday, 07:30–11:30 and
//! 13:00–17:00 (eight hours), minus the holidays table's days off, plus its make-up working days.
//! Deadlines are counted in this time: "3 working days" is 24 working hours from submission, so a
//! report sent on Friday afternoon is due on Wednesday afternoon, and Tết is skipped.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};

use super::catalog::DeadlineUnit;

/// Vietnam's offset all year (UTC+7; the constant is in range, so this cannot fail).
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).unwrap_or(FixedOffset::east_opt(0).unwrap_or_else(|| Utc.fix()))
}

use chrono::Offset as _;

/// The working periods of a working day, as minutes after midnight.
const PERIODS: [(u32, u32); 2] = [(7 * 60 + 30, 11 * 60 + 30), (13 * 60, 17 * 60)];
/// Working minutes in one working day.
pub const MINUTES_PER_DAY: i64 = 8 * 60;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    /// Weekdays that are not worked (public holidays, Tết).
    days_off: BTreeSet<NaiveDate>,
    /// Weekend days that are worked (make-up Saturdays).
    working_weekends: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    pub fn new(
        days_off: impl IntoIterator<Item = NaiveDate>,
        working_weekends: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        Self {
            days_off: days_off.into_iter().collect(),
            working_weekends: working_weekends.into_iter().collect(),
        }
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.working_weekends.contains(&day) {
            return true;
        }
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        !weekend && !self.days_off.contains(&day)
    }

    /// `start` plus `minutes` of working time. Time before, between or after working periods
    /// counts from the next period; adding zero to a moment outside working time moves it to the
    /// start of the next period.
    pub fn add_working_minutes(&self, start: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let tz = vietnam();
        let local = start.with_timezone(&tz);
        let mut day = local.date_naive();
        let mut at = local.time().num_seconds_from_midnight_u32() / 60;
        let mut left = minutes.max(0);
        // Bounded: a calendar cannot have more than a few hundred days off in a row.
        for _ in 0..(3660 + minutes.max(0) / MINUTES_PER_DAY * 4) {
            if self.is_working_day(day) {
                for (from, to) in PERIODS {
                    if at >= to {
                        continue;
                    }
                    let begin = at.max(from);
                    let available = i64::from(to - begin);
                    if left <= available {
                        let minute = begin + u32::try_from(left).unwrap_or(0);
                        return at_local(day, minute, &tz);
                    }
                    left -= available;
                    at = to;
                }
            }
            day = day.succ_opt().unwrap_or(day);
            at = 0;
        }
        // Unreachable with any real calendar; never panic on a request path.
        start + Duration::minutes(minutes)
    }

    /// When a report submitted at `submitted` is due.
    pub fn due_at(
        &self,
        submitted: DateTime<Utc>,
        amount: i32,
        unit: DeadlineUnit,
    ) -> DateTime<Utc> {
        let amount = i64::from(amount.max(0));
        let minutes = match unit {
            DeadlineUnit::WorkingDays => amount * MINUTES_PER_DAY,
            DeadlineUnit::WorkingHours => amount * 60,
        };
        self.add_working_minutes(submitted, minutes)
    }

    /// Working minutes between two moments (0 if `to` is not after `from`).
    pub fn working_minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let tz = vietnam();
        let (a, b) = (from.with_timezone(&tz), to.with_timezone(&tz));
        let mut total = 0i64;
        let mut day = a.date_naive();
        while day <= b.date_naive() {
            if self.is_working_day(day) {
                for (p_from, p_to) in PERIODS {
                    let start = at_local(day, p_from, &tz).max(from);
                    let end = at_local(day, p_to, &tz).min(to);
                    if end > start {
                        total += (end - start).num_minutes();
                    }
                }
            }
            day = match day.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        total
    }
}

fn at_local(day: NaiveDate, minute: u32, tz: &FixedOffset) -> DateTime<Utc> {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0).unwrap_or_default();
    tz.from_local_datetime(&day.and_time(time))
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(time).and_utc())
}

trait SecondsFromMidnight {
    fn num_seconds_from_midnight_u32(&self) -> u32;
}

impl SecondsFromMidnight for NaiveTime {
    fn num_seconds_from_midnight_u32(&self) -> u32 {
        use chrono::Timelike;
        self.num_seconds_from_midnight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Local (UTC+7) wall time.
    fn t(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        vietnam()
            .with_ymd_and_hms(y, m, day, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Tết 2026 (decreed 14–22 February: Saturday to the next Sunday) and Hùng Kings' day.
    fn calendar_2026() -> WorkingCalendar {
        let tet = (16..=20).map(|day| d(2026, 2, day));
        WorkingCalendar::new(
            tet.chain([d(2026, 4, 27), d(2026, 4, 30), d(2026, 5, 1)]),
            [d(2026, 1, 10)],
        )
    }

    #[test]
    fn three_working_days_from_friday_afternoon_is_wednesday_afternoon() {
        let c = WorkingCalendar::default();
        // Friday 2026-11-27 15:00 local.
        let due = c.due_at(t(2026, 11, 27, 15, 0), 3, DeadlineUnit::WorkingDays);
        assert_eq!(due, t(2026, 12, 2, 15, 0));
    }

    #[test]
    fn outside_working_hours_counts_from_the_next_period() {
        let c = WorkingCalendar::default();
        // Saturday night: counting starts Monday 07:30; 8 working hours end Monday 17:00.
        assert_eq!(
            c.due_at(t(2026, 11, 28, 22, 0), 8, DeadlineUnit::WorkingHours),
            t(2026, 11, 30, 17, 0)
        );
        // Lunch break: 12:00 + 1 h → 14:00.
        assert_eq!(
            c.due_at(t(2026, 11, 30, 12, 0), 1, DeadlineUnit::WorkingHours),
            t(2026, 11, 30, 14, 0)
        );
        // Morning 11:00 + 1 h → 13:30 (half an hour before lunch, half after).
        assert_eq!(
            c.due_at(t(2026, 11, 30, 11, 0), 1, DeadlineUnit::WorkingHours),
            t(2026, 11, 30, 13, 30)
        );
    }

    #[test]
    fn tet_is_skipped_and_make_up_saturdays_are_worked() {
        let c = calendar_2026();
        // Friday 13 February 2026, 10:00: one working day later skips Tết (16–20) to Monday 23.
        assert_eq!(
            c.due_at(t(2026, 2, 13, 10, 0), 1, DeadlineUnit::WorkingDays),
            t(2026, 2, 23, 10, 0)
        );
        // Friday 9 January 2026 10:00 + 1 day → Saturday 10 January (a make-up working day).
        assert_eq!(
            c.due_at(t(2026, 1, 9, 10, 0), 1, DeadlineUnit::WorkingDays),
            t(2026, 1, 10, 10, 0)
        );
        assert!(!c.is_working_day(d(2026, 4, 30)));
        assert!(c.is_working_day(d(2026, 1, 10)));
    }

    #[test]
    fn working_minutes_between_inverts_adding() {
        let c = calendar_2026();
        let start = t(2026, 2, 12, 9, 17);
        let due = c.add_working_minutes(start, 5 * MINUTES_PER_DAY);
        assert_eq!(c.working_minutes_between(start, due), 5 * MINUTES_PER_DAY);
        assert_eq!(c.working_minutes_between(due, start), 0);
    }

    proptest! {
        #[test]
        fn a_deadline_never_lands_on_a_day_off(start in 0i64..(400 * 86_400), n in 1i64..40) {
            let c = calendar_2026();
            let from = t(2026, 1, 1, 0, 0) + Duration::seconds(start);
            let due = c.add_working_minutes(from, n * MINUTES_PER_DAY);
            prop_assert!(c.is_working_day(due.with_timezone(&vietnam()).date_naive()), "{due}");
        }

        #[test]
        fn adding_n_then_n_is_adding_2n(start in 0i64..(400 * 86_400), n in 0i64..(30 * MINUTES_PER_DAY)) {
            let c = calendar_2026();
            let from = t(2026, 1, 1, 0, 0) + Duration::seconds(start);
            let once = c.add_working_minutes(c.add_working_minutes(from, n), n);
            let twice = c.add_working_minutes(from, 2 * n);
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn deadlines_are_monotonic(start in 0i64..(400 * 86_400), a in 0i64..5000, b in 0i64..5000) {
            let c = calendar_2026();
            let from = t(2026, 1, 1, 0, 0) + Duration::seconds(start);
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(c.add_working_minutes(from, lo) <= c.add_working_minutes(from, hi));
        }
    }
}

//! Vietnam's public holidays for a year, as a suggestion an admin confirms (the government
//! decrees the exact Tết and National Day arrangement each year, and make-up working Saturdays
//! are entered as data).
//!
//! Labour Code 2019, art. 112: 1/1; Tết Âm lịch, 5 days (suggested: the last day of the old
//! year and mùng 1–4); Giỗ Tổ Hùng Vương, 10/3 âm lịch; 30/4; 1/5; Quốc khánh 2/9 and one
//! adjacent day. A holiday on a Saturday or Sunday gives the next working day off (nghỉ bù).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::lunar;

/// A suggested day off: always a weekday (the holidays table holds weekday exceptions only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestedDayOff {
    pub day: NaiveDate,
    pub name: String,
}

fn weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The years [`suggest`] answers for (those of the lunar calendar's tables).
pub const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 1901..=2199;

/// The year's days off, sorted; `None` for a year outside [`SUPPORTED_YEARS`].
pub fn suggest(year: i32) -> Option<Vec<SuggestedDayOff>> {
    if !SUPPORTED_YEARS.contains(&year) {
        return None;
    }
    let date = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let tet = lunar::tet(year)?;
    let mut holidays: Vec<(NaiveDate, String)> = vec![(date(1, 1)?, "Tết Dương lịch".into())];
    holidays.push((tet - Duration::days(1), "Tết Nguyên Đán (30 Tết)".into()));
    for n in 0..4 {
        holidays.push((
            tet + Duration::days(n),
            format!("Tết Nguyên Đán (mùng {})", n + 1),
        ));
    }
    holidays.push((
        lunar::hung_kings(year)?,
        "Giỗ Tổ Hùng Vương (10/3 âm lịch)".into(),
    ));
    holidays.push((date(4, 30)?, "Ngày Chiến thắng (30/4)".into()));
    holidays.push((date(5, 1)?, "Ngày Quốc tế Lao động (1/5)".into()));
    holidays.push((date(9, 2)?, "Quốc khánh (2/9)".into()));
    // The adjacent day: 1/9 unless it is a weekend day, then 3/9.
    let adjacent = if weekend(date(9, 1)?) {
        date(9, 3)?
    } else {
        date(9, 1)?
    };
    holidays.push((adjacent, "Quốc khánh (ngày liền kề)".into()));
    holidays.sort();
    holidays.dedup_by_key(|(d, _)| *d);

    let taken: std::collections::BTreeSet<NaiveDate> = holidays.iter().map(|(d, _)| *d).collect();
    let mut off: std::collections::BTreeMap<NaiveDate, String> = std::collections::BTreeMap::new();
    for (day, name) in &holidays {
        if !weekend(*day) {
            off.insert(*day, name.clone());
            continue;
        }
        // Nghỉ bù: the next weekday that is neither a holiday nor already a make-up day.
        let mut make_up = *day + Duration::days(1);
        while weekend(make_up) || taken.contains(&make_up) || off.contains_key(&make_up) {
            make_up += Duration::days(1);
        }
        off.insert(make_up, format!("Nghỉ bù {name}"));
    }
    Some(
        off.into_iter()
            .map(|(day, name)| SuggestedDayOff { day, name })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn twenty_twenty_six() {
        let days: Vec<NaiveDate> = suggest(2026).unwrap().into_iter().map(|s| s.day).collect();
        assert_eq!(
            days,
            vec![
                d(2026, 1, 1),
                // Tết 2026 is Tuesday 17 February
                d(2026, 2, 16),
                d(2026, 2, 17),
                d(2026, 2, 18),
                d(2026, 2, 19),
                d(2026, 2, 20),
                // Giỗ Tổ on Sunday 26 April: Monday off instead
                d(2026, 4, 27),
                d(2026, 4, 30),
                d(2026, 5, 1),
                d(2026, 9, 1),
                d(2026, 9, 2),
            ]
        );
    }

    #[test]
    fn every_suggestion_is_a_weekday_and_each_holiday_gives_a_day() {
        for year in 2020..2060 {
            let s = suggest(year).unwrap();
            assert!(s.iter().all(|x| !weekend(x.day)), "{year}");
            // 11 holiday days, each on a weekday or made up on one (collisions can only merge
            // when two holidays coincide, e.g. Giỗ Tổ on 30/4).
            assert!((10..=11).contains(&s.len()), "{year}: {}", s.len());
            let tet = lunar::tet(year).unwrap();
            assert!(
                s.iter().any(|x| x.day == tet || x.name.contains("mùng 1")),
                "{year}"
            );
        }
    }
}

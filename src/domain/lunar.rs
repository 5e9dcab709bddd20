//! The Vietnamese lunar calendar, for the holidays that follow it (Tết, Giỗ Tổ Hùng Vương on
//! 10/3 âm lịch). Vietnam computes it for UTC+7, which is why Tết sometimes falls a day away
//! from the Chinese New Year (computed for UTC+8).
//!
//! Ho Ngoc Duc's algorithm (the one Vietnamese calendars use): new moons from Meeus'
//! "Astronomical Algorithms" series, the sun's longitude for the major solar terms; month 11 is
//! the month that contains the winter solstice, and in a year with 13 months the first month
//! without a major solar term is the leap month.

use std::f64::consts::PI;

use chrono::NaiveDate;

/// Vietnam's time zone, in hours.
const TIME_ZONE: f64 = 7.0;

fn julian_day(date: NaiveDate) -> i64 {
    use chrono::Datelike;
    let (dd, mm, yy) = (
        i64::from(date.day()),
        i64::from(date.month()),
        i64::from(date.year()),
    );
    let a = (14 - mm) / 12;
    let y = yy + 4800 - a;
    let m = mm + 12 * a - 3;
    dd + (153 * m + 2) / 5 + 365 * y + y / 4 - y / 100 + y / 400 - 32045
}

fn from_julian_day(jd: i64) -> Option<NaiveDate> {
    let a = jd + 32044;
    let b = (4 * a + 3) / 146_097;
    let c = a - b * 146_097 / 4;
    let d = (4 * c + 3) / 1461;
    let e = c - 1461 * d / 4;
    let m = (5 * e + 2) / 153;
    let day = e - (153 * m + 2) / 5 + 1;
    let month = m + 3 - 12 * (m / 10);
    let year = b * 100 + d - 4800 + m / 10;
    NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )
}

/// Julian day (fractional, UT) of the `k`-th new moon after 1900-01-01.
fn new_moon(k: f64) -> f64 {
    let t = k / 1236.85;
    let (t2, t3) = (t * t, t * t * t);
    let dr = PI / 180.0;
    let mut jd1 = 2_415_020.759_33 + 29.530_588_68 * k + 0.000_117_8 * t2 - 0.000_000_155 * t3;
    jd1 += 0.000_33 * ((166.56 + 132.87 * t - 0.009_173 * t2) * dr).sin();
    let m = 359.2242 + 29.105_356_08 * k - 0.000_033_3 * t2 - 0.000_003_47 * t3;
    let mpr = 306.0253 + 385.816_918_06 * k + 0.010_730_6 * t2 + 0.000_012_36 * t3;
    let f = 21.2964 + 390.670_506_46 * k - 0.001_652_8 * t2 - 0.000_002_39 * t3;
    // Term by term, signs as in the source (a + b - c, not a + (b - c)).
    let c1 = (0.1734 - 0.000_393 * t) * (m * dr).sin() + 0.0021 * (2.0 * dr * m).sin()
        - 0.4068 * (mpr * dr).sin()
        + 0.0161 * (dr * 2.0 * mpr).sin()
        - 0.0004 * (dr * 3.0 * mpr).sin()
        + 0.0104 * (dr * 2.0 * f).sin()
        - 0.0051 * (dr * (m + mpr)).sin()
        - 0.0074 * (dr * (m - mpr)).sin()
        + 0.0004 * (dr * (2.0 * f + m)).sin()
        - 0.0004 * (dr * (2.0 * f - m)).sin()
        - 0.0006 * (dr * (2.0 * f + mpr)).sin()
        + 0.0010 * (dr * (2.0 * f - mpr)).sin()
        + 0.0005 * (dr * (2.0 * mpr + m)).sin();
    let delta_t = if t < -11.0 {
        0.001 + 0.000_839 * t + 0.000_226_1 * t2 - 0.000_008_45 * t3 - 0.000_000_081 * t * t3
    } else {
        -0.000_278 + 0.000_265 * t + 0.000_262 * t2
    };
    jd1 + c1 - delta_t
}

/// The local day (Julian day number) of the `k`-th new moon.
fn new_moon_day(k: i64) -> i64 {
    (new_moon(k as f64) + 0.5 + TIME_ZONE / 24.0).floor() as i64
}

/// The sun's longitude at the start of local day `day`, as a major-term index 0..=11
/// (0 = spring equinox, 9 = winter solstice).
fn sun_term(day: i64) -> i64 {
    let jdn = day as f64 - 0.5 - TIME_ZONE / 24.0;
    let t = (jdn - 2_451_545.0) / 36_525.0;
    let t2 = t * t;
    let dr = PI / 180.0;
    let m = 357.529_10 + 35_999.050_30 * t - 0.000_155_9 * t2 - 0.000_000_48 * t * t2;
    let l0 = 280.466_45 + 36_000.769_83 * t + 0.000_303_2 * t2;
    let mut dl = (1.914_600 - 0.004_817 * t - 0.000_014 * t2) * (dr * m).sin();
    dl += (0.019_993 - 0.000_101 * t) * (dr * 2.0 * m).sin() + 0.000_290 * (dr * 3.0 * m).sin();
    let mut l = (l0 + dl) * dr;
    l -= 2.0 * PI * (l / (2.0 * PI)).floor();
    (l / PI * 6.0).floor() as i64
}

/// First day of lunar month 11 (the month of the winter solstice) of solar year `year`.
fn month_11_start(year: i32) -> Option<i64> {
    let dec31 = julian_day(NaiveDate::from_ymd_opt(year, 12, 31)?);
    let k = ((dec31 - 2_415_021) as f64 / 29.530_588_853).floor() as i64;
    let nm = new_moon_day(k);
    Some(if sun_term(nm) >= 9 {
        new_moon_day(k - 1)
    } else {
        nm
    })
}

/// In a 13-month year starting at `a11`, how many months after month 11 the leap month comes.
fn leap_month_offset(a11: i64) -> i64 {
    let k = ((a11 as f64 - 2_415_021.076_998_695) / 29.530_588_853 + 0.5).floor() as i64;
    let mut i = 1;
    let mut arc = sun_term(new_moon_day(k + i));
    loop {
        let last = arc;
        i += 1;
        arc = sun_term(new_moon_day(k + i));
        if arc == last || i >= 14 {
            break;
        }
    }
    i - 1
}

/// The solar date of lunar `day`/`month` of lunar year `year` (`leap`: the leap copy of that
/// month). `None` for a day or month that does not exist.
pub fn lunar_to_solar(day: u32, month: u32, year: i32, leap: bool) -> Option<NaiveDate> {
    if !(1..=30).contains(&day) || !(1..=12).contains(&month) {
        return None;
    }
    let (a11, b11) = if month < 11 {
        (month_11_start(year - 1)?, month_11_start(year)?)
    } else {
        (month_11_start(year)?, month_11_start(year + 1)?)
    };
    let k = (0.5 + (a11 as f64 - 2_415_021.076_998_695) / 29.530_588_853).floor() as i64;
    let mut offset = i64::from(month) - 11;
    if offset < 0 {
        offset += 12;
    }
    if b11 - a11 > 365 {
        let leap_offset = leap_month_offset(a11);
        let mut leap_month = leap_offset - 2;
        if leap_month < 0 {
            leap_month += 12;
        }
        if leap && i64::from(month) != leap_month {
            return None;
        }
        if leap || offset >= leap_offset {
            offset += 1;
        }
    } else if leap {
        return None;
    }
    let month_start = new_moon_day(k + offset);
    // A 29-day month has no 30th.
    if day == 30 && new_moon_day(k + offset + 1) - month_start < 30 {
        return None;
    }
    from_julian_day(month_start + i64::from(day) - 1)
}

/// Tết Nguyên Đán: 1/1 âm lịch.
pub fn tet(year: i32) -> Option<NaiveDate> {
    lunar_to_solar(1, 1, year, false)
}

/// Giỗ Tổ Hùng Vương: 10/3 âm lịch.
pub fn hung_kings(year: i32) -> Option<NaiveDate> {
    lunar_to_solar(10, 3, year, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn tet_on_the_published_dates() {
        for (year, date) in [
            (2020, d(2020, 1, 25)),
            (2021, d(2021, 2, 12)),
            (2022, d(2022, 2, 1)),
            (2023, d(2023, 1, 22)),
            (2024, d(2024, 2, 10)),
            (2025, d(2025, 1, 29)),
            (2026, d(2026, 2, 17)),
            (2027, d(2027, 2, 6)),
        ] {
            assert_eq!(tet(year), Some(date), "Tết {year}");
        }
    }

    #[test]
    fn hung_kings_day_including_after_a_leap_month() {
        assert_eq!(hung_kings(2024), Some(d(2024, 4, 18)));
        assert_eq!(hung_kings(2025), Some(d(2025, 4, 7)));
        assert_eq!(hung_kings(2026), Some(d(2026, 4, 26)));
        // 2023 had a leap second month (tháng 2 nhuận): 10/3 came on 29 April.
        assert_eq!(hung_kings(2023), Some(d(2023, 4, 29)));
        assert_eq!(lunar_to_solar(1, 2, 2023, true), Some(d(2023, 3, 22)));
        assert_eq!(lunar_to_solar(1, 3, 2023, true), None);
        assert_eq!(lunar_to_solar(1, 2, 2024, true), None);
    }

    #[test]
    fn julian_days_round_trip() {
        let mut day = d(1990, 1, 1);
        while day < d(2100, 1, 1) {
            assert_eq!(from_julian_day(julian_day(day)), Some(day));
            day += chrono::Duration::days(97);
        }
    }

    #[test]
    fn impossible_dates_are_none() {
        assert_eq!(lunar_to_solar(0, 1, 2026, false), None);
        assert_eq!(lunar_to_solar(1, 13, 2026, false), None);
        assert_eq!(lunar_to_solar(31, 1, 2026, false), None);
    }

    #[test]
    fn tet_is_always_between_21_january_and_20_february() {
        for year in 1950..2150 {
            let t = tet(year).unwrap();
            assert!(t >= d(year, 1, 21) && t <= d(year, 2, 20), "{year}: {t}");
        }
    }
}

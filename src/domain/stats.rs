//! The statistics the IOC shows (product.md, "Statistics"): one written definition per figure,
//! implemented once, here, from additive totals.
//!
//! **Which reports.** Every figure is about the reports *submitted* in the period (local dates in
//! Asia/Ho_Chi_Minh, both ends included) and the slice (area, category, department), in the
//! state they are in *now*. A report submitted in March and resolved in April counts in March's
//! `handled`; a report reopened today moves back out of it today.
//!
//! **Status groups.** `handled` = `resolved` + `closed`; `in_progress` = `accepted` +
//! `in_progress`; `waiting` = `new` + `on_hold` + `reopened`; `rejected`; `duplicate`. They add
//! up to `received`. *Open* = `in_progress` + `waiting`.
//!
//! **On time and late.** A handled report is *on time* if its current resolution is at or before
//! its deadline (`resolved_at <= due_at`, the deadline including an extension), *late* if after.
//! An open report whose deadline has passed (marked overdue by the deadline job, within
//! `reports.deadline_check_interval_secs` of the deadline) is *late* too, so the rate cannot be
//! improved by leaving reports open. Rejected and duplicate reports are neither.
//!
//! **Durations** are measured from submission, in two units named apart: `…_hours` are calendar
//! hours, `…_working_hours` are working hours of the working-time calendar (Monday–Friday
//! 07:30–11:30 and 13:00–17:00, holidays excepted; see [`super::calendar`]). *Acknowledgement*:
//! submission → first acceptance, over the reports accepted at least once. *Resolution*:
//! submission → current resolution, over the handled reports. Medians and 90th percentiles are
//! `percentile_cont` (linear interpolation between ranks); exact when the selection holds at most
//! `stats.exact_percentiles_max` durations, otherwise interpolated from the rollup's 48-bin
//! logarithmic histograms (bins 26 % wide; `percentiles_exact` says which).
//!
//! **Reopen rate**: reports reopened at least once ÷ reports resolved at least once.
//! **Ratings**: each report's latest rating (a report reopened and resolved again may be rated
//! again; the new rating replaces the old). `rating_avg` is their mean (1–5), `satisfied_rate` the
//! share of them ≥ 4.
//!
//! Rates are fractions in 0..=1 rounded to 4 decimals, hours rounded to 2; a figure with nothing
//! to measure is `null`.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::report::ReportStatus;

/// Bins of each duration histogram (must match `phananh_stats_bin` in the statistics migration).
pub const BINS: usize = 48;

/// The four duration histograms of the rollup, in column order (`ack_h*`, `ackw_h*`, `res_h*`,
/// `resw_h*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    Ack,
    AckWorking,
    Resolve,
    ResolveWorking,
}

impl Duration {
    pub const ALL: [Duration; 4] = [
        Duration::Ack,
        Duration::AckWorking,
        Duration::Resolve,
        Duration::ResolveWorking,
    ];

    /// The rollup's column prefix.
    pub fn column_prefix(self) -> &'static str {
        match self {
            Duration::Ack => "ack",
            Duration::AckWorking => "ackw",
            Duration::Resolve => "res",
            Duration::ResolveWorking => "resw",
        }
    }
}

/// Lower edge of histogram bin `i`, in minutes: 0, then 15·2^((i−1)/3).
pub fn bin_lower_minutes(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        15.0 * 2f64.powf((i as f64 - 1.0) / 3.0)
    }
}

/// Upper edge of histogram bin `i`, in minutes (the last bin is closed at the width of its
/// predecessors, for interpolation).
pub fn bin_upper_minutes(i: usize) -> f64 {
    15.0 * 2f64.powf(i as f64 / 3.0)
}

/// The additive parts of the figures: what the rollup sums, and what a from-scratch count gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Reports per status, indexed by [`status_index`].
    pub by_status: [i64; 9],
    pub on_time: i64,
    pub late: i64,
    pub overdue_open: i64,
    pub reopened: i64,
    pub ever_resolved: i64,
    pub rated: i64,
    pub rating_sum: i64,
    pub satisfied: i64,
    /// Duration histograms, indexed like [`Duration::ALL`].
    pub hist: [[i64; BINS]; 4],
}

impl Default for Totals {
    fn default() -> Self {
        Self {
            by_status: [0; 9],
            on_time: 0,
            late: 0,
            overdue_open: 0,
            reopened: 0,
            ever_resolved: 0,
            rated: 0,
            rating_sum: 0,
            satisfied: 0,
            hist: [[0; BINS]; 4],
        }
    }
}

/// The statuses in the order of [`Totals::by_status`].
pub const STATUSES: [ReportStatus; 9] = [
    ReportStatus::New,
    ReportStatus::Accepted,
    ReportStatus::InProgress,
    ReportStatus::OnHold,
    ReportStatus::Resolved,
    ReportStatus::Closed,
    ReportStatus::Rejected,
    ReportStatus::Duplicate,
    ReportStatus::Reopened,
];

pub fn status_index(status: ReportStatus) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(0)
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        for (a, b) in self.by_status.iter_mut().zip(other.by_status) {
            *a += b;
        }
        self.on_time += other.on_time;
        self.late += other.late;
        self.overdue_open += other.overdue_open;
        self.reopened += other.reopened;
        self.ever_resolved += other.ever_resolved;
        self.rated += other.rated;
        self.rating_sum += other.rating_sum;
        self.satisfied += other.satisfied;
        for (ha, hb) in self.hist.iter_mut().zip(other.hist.iter()) {
            for (a, b) in ha.iter_mut().zip(hb) {
                *a += b;
            }
        }
    }

    fn count(&self, statuses: &[ReportStatus]) -> i64 {
        statuses
            .iter()
            .map(|s| self.by_status[status_index(*s)])
            .sum()
    }

    /// How many durations of this kind the totals hold.
    pub fn durations(&self, d: Duration) -> i64 {
        self.hist[d as usize].iter().sum()
    }

    /// All durations of all kinds (decides between exact and interpolated percentiles).
    pub fn all_durations(&self) -> i64 {
        Duration::ALL.iter().map(|d| self.durations(*d)).sum()
    }
}

/// Medians and percentiles, in hours.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub ack_median: Option<f64>,
    pub ack_median_working: Option<f64>,
    pub ack_p90: Option<f64>,
    pub ack_p90_working: Option<f64>,
    pub resolve_median: Option<f64>,
    pub resolve_median_working: Option<f64>,
    pub resolve_p90: Option<f64>,
    pub resolve_p90_working: Option<f64>,
}

impl Percentiles {
    /// Interpolated from the histograms of `totals`.
    pub fn from_histograms(totals: &Totals) -> Self {
        let h = |d: Duration, p: f64| percentile_from_histogram(&totals.hist[d as usize], p);
        Self {
            ack_median: h(Duration::Ack, 0.5),
            ack_median_working: h(Duration::AckWorking, 0.5),
            ack_p90: h(Duration::Ack, 0.9),
            ack_p90_working: h(Duration::AckWorking, 0.9),
            resolve_median: h(Duration::Resolve, 0.5),
            resolve_median_working: h(Duration::ResolveWorking, 0.5),
            resolve_p90: h(Duration::Resolve, 0.9),
            resolve_p90_working: h(Duration::ResolveWorking, 0.9),
        }
    }
}

/// `percentile_cont(p)` of the durations counted in `hist`, in hours, placing the `c` values of a
/// bin evenly inside it (the k-th of c at `lower + (k + ½)/c · width`).
pub fn percentile_from_histogram(hist: &[i64; BINS], p: f64) -> Option<f64> {
    let n: i64 = hist.iter().sum();
    if n <= 0 {
        return None;
    }
    let rank = p.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (rank.floor() as i64, rank.ceil() as i64);
    let value_at = |r: i64| -> f64 {
        let mut before = 0i64;
        for (i, c) in hist.iter().enumerate() {
            let c = *c;
            if c > 0 && r < before + c {
                let k = (r - before) as f64;
                let (a, b) = (bin_lower_minutes(i), bin_upper_minutes(i));
                return a + (b - a) * (k + 0.5) / c as f64;
            }
            before += c.max(0);
        }
        bin_upper_minutes(BINS - 1)
    };
    let (a, b) = (value_at(lo), value_at(hi));
    Some((a + (b - a) * (rank - lo as f64)) / 60.0)
}

/// The figures of one selection. Each field's description is its definition; the module
/// documentation of `src/domain/stats.rs` gives the rules they share.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// Reports submitted in the period and slice, whatever their state now.
    pub received: i64,
    /// Of those, `resolved` or `closed` now.
    pub handled: i64,
    /// Of those, `accepted` or `in_progress` now.
    pub in_progress: i64,
    /// Of those, `new`, `on_hold` or `reopened` now (waiting for the department or a third party).
    pub waiting: i64,
    /// Of those, `rejected`.
    pub rejected: i64,
    /// Of those, merged into another report as a duplicate.
    pub duplicate: i64,
    /// Handled reports resolved at or before their deadline (an extension included).
    pub on_time: i64,
    /// Handled reports resolved after their deadline, plus open reports past it (`overdue_open`).
    pub late: i64,
    /// `on_time / (on_time + late)`; null when both are 0.
    pub on_time_rate: Option<f64>,
    /// Open reports (in progress or waiting) past their deadline.
    pub overdue_open: i64,
    /// Median calendar hours from submission to first acceptance, over the reports accepted.
    pub ack_median_hours: Option<f64>,
    /// The same in working hours.
    pub ack_median_working_hours: Option<f64>,
    /// 90th percentile of the calendar hours from submission to first acceptance.
    pub ack_p90_hours: Option<f64>,
    /// The same in working hours.
    pub ack_p90_working_hours: Option<f64>,
    /// Median calendar hours from submission to resolution, over the handled reports.
    pub resolve_median_hours: Option<f64>,
    /// The same in working hours.
    pub resolve_median_working_hours: Option<f64>,
    /// 90th percentile of the calendar hours from submission to resolution (handled reports).
    pub resolve_p90_hours: Option<f64>,
    /// The same in working hours.
    pub resolve_p90_working_hours: Option<f64>,
    /// Whether the medians and percentiles are exact (`percentile_cont` over every duration) or
    /// interpolated from the rollup's histograms (large selections; bins 26 % wide).
    pub percentiles_exact: bool,
    /// Reports reopened by their reporter at least once.
    pub reopened: i64,
    /// `reopened` ÷ reports resolved at least once; null when none was.
    pub reopen_rate: Option<f64>,
    /// Reports with a rating (each report's latest rating counts, once).
    pub rating_count: i64,
    /// Mean of the latest ratings, 1–5; null when none.
    pub rating_avg: Option<f64>,
    /// Share of the latest ratings that are 4 or 5; null when none.
    pub satisfied_rate: Option<f64>,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| round(a as f64 / b as f64, 4))
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

impl Summary {
    pub fn new(t: &Totals, p: Percentiles, percentiles_exact: bool) -> Self {
        use ReportStatus as S;
        let hours = |h: Option<f64>| h.map(|h| round(h, 2));
        Summary {
            received: t.by_status.iter().sum(),
            handled: t.count(&[S::Resolved, S::Closed]),
            in_progress: t.count(&[S::Accepted, S::InProgress]),
            waiting: t.count(&[S::New, S::OnHold, S::Reopened]),
            rejected: t.count(&[S::Rejected]),
            duplicate: t.count(&[S::Duplicate]),
            on_time: t.on_time,
            late: t.late,
            on_time_rate: ratio(t.on_time, t.on_time + t.late),
            overdue_open: t.overdue_open,
            ack_median_hours: hours(p.ack_median),
            ack_median_working_hours: hours(p.ack_median_working),
            ack_p90_hours: hours(p.ack_p90),
            ack_p90_working_hours: hours(p.ack_p90_working),
            resolve_median_hours: hours(p.resolve_median),
            resolve_median_working_hours: hours(p.resolve_median_working),
            resolve_p90_hours: hours(p.resolve_p90),
            resolve_p90_working_hours: hours(p.resolve_p90_working),
            percentiles_exact,
            reopened: t.reopened,
            reopen_rate: ratio(t.reopened, t.ever_resolved),
            rating_count: t.rated,
            rating_avg: (t.rated > 0).then(|| round(t.rating_sum as f64 / t.rated as f64, 4)),
            satisfied_rate: ratio(t.satisfied, t.rated),
        }
    }
}

/// A rollup grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Month,
    Year,
}

impl Grain {
    pub fn code(self) -> &'static str {
        match self {
            Grain::Day => "d",
            Grain::Month => "m",
            Grain::Year => "y",
        }
    }
}

/// The rollup periods that cover `from..=to` exactly, with as few rows as possible: whole years,
/// then whole months, then days, never coarser than `coarsest` (a monthly time series must not
/// read yearly rows). Returns the first days of the periods, per grain.
pub fn cover(from: NaiveDate, to: NaiveDate, coarsest: Grain) -> Vec<(Grain, NaiveDate)> {
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        let year_end = NaiveDate::from_ymd_opt(d.year(), 12, 31);
        let month_end = d
            .checked_add_months(Months::new(1))
            .and_then(|x| x.with_day(1))
            .and_then(|x| x.pred_opt());
        if coarsest >= Grain::Year && d.ordinal() == 1 && year_end.is_some_and(|e| e <= to) {
            out.push((Grain::Year, d));
            d = match year_end.and_then(|e| e.succ_opt()) {
                Some(next) => next,
                None => break,
            };
        } else if coarsest >= Grain::Month && d.day() == 1 && month_end.is_some_and(|e| e <= to) {
            out.push((Grain::Month, d));
            d = match month_end.and_then(|e| e.succ_opt()) {
                Some(next) => next,
                None => break,
            };
        } else {
            out.push((Grain::Day, d));
            d = match d.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
    }
    out
}

/// Time-series bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            "month" => Some(Interval::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    /// The first day of the bucket holding `d` (weeks start on Monday).
    pub fn bucket_start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => d,
            Interval::Week => {
                d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()))
            }
            Interval::Month => d.with_day(1).unwrap_or(d),
        }
    }

    /// The first day of the next bucket after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Interval::Day => start.succ_opt(),
            Interval::Week => start.checked_add_signed(chrono::Duration::days(7)),
            Interval::Month => start.checked_add_months(Months::new(1)),
        }
    }

    /// The coarsest rollup grain whose periods never straddle two buckets.
    pub fn grain(self) -> Grain {
        match self {
            Interval::Day | Interval::Week => Grain::Day,
            Interval::Month => Grain::Month,
        }
    }
}

/// The buckets `(start, end)` (both included, clipped to the period) of `from..=to`.
pub fn buckets(from: NaiveDate, to: NaiveDate, interval: Interval) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = interval.bucket_start(from);
    while start <= to {
        let next = interval.next(start);
        let end = next.and_then(|n| n.pred_opt()).unwrap_or(to).min(to);
        out.push((start.max(from), end));
        match next {
            Some(n) => start = n,
            None => break,
        }
    }
    out
}

/// Today in Asia/Ho_Chi_Minh.
pub fn local_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&super::calendar::vietnam()).date_naive()
}

/// Start of a local date, as an instant.
pub fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    super::calendar::vietnam()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn bins_match_the_sql_definition() {
        // phananh_stats_bin: < 15 min → 0; [15·2^((i−1)/3), 15·2^(i/3)) → i.
        assert_eq!(bin_lower_minutes(1), 15.0);
        assert!((bin_upper_minutes(1) - 15.0 * 2f64.cbrt()).abs() < 1e-9);
        assert!((bin_lower_minutes(4) - 30.0).abs() < 1e-9);
        for i in 1..BINS {
            assert!((bin_lower_minutes(i) - bin_upper_minutes(i - 1)).abs() < 1e-9);
        }
        // The last bin starts about 430 days in.
        assert!((bin_lower_minutes(47) / 60.0 / 24.0 - 430.0).abs() < 1.0);
    }

    #[test]
    fn percentiles_interpolate_inside_bins() {
        let mut h = [0i64; BINS];
        assert_eq!(percentile_from_histogram(&h, 0.5), None);
        // One value in bin 4 ([30, 37.8) min): its middle.
        h[4] = 1;
        let m = percentile_from_histogram(&h, 0.5).unwrap() * 60.0;
        assert!((m - (30.0 + 30.0 * 2f64.cbrt()) / 2.0).abs() < 1e-9);
        // 3 values in bin 10, 1 in bin 20: the median (rank 1.5) is between the 2nd and 3rd of
        // bin 10.
        let mut h = [0i64; BINS];
        h[10] = 3;
        h[20] = 1;
        let (a, b) = (bin_lower_minutes(10), bin_upper_minutes(10));
        let expect = (a + (b - a) * 2.0 / 3.0) / 60.0;
        assert!((percentile_from_histogram(&h, 0.5).unwrap() - expect).abs() < 1e-9);
        // p90 of 4 values: rank 2.7, between the 3rd of bin 10 and the one of bin 20.
        let third = a + (b - a) * 2.5 / 3.0;
        let last = (bin_lower_minutes(20) + bin_upper_minutes(20)) / 2.0;
        let expect = (third + (last - third) * 0.7) / 60.0;
        assert!((percentile_from_histogram(&h, 0.9).unwrap() - expect).abs() < 1e-9);
    }

    #[test]
    fn the_cover_uses_years_months_and_days() {
        let c = cover(date(2024, 12, 30), date(2026, 2, 2), Grain::Year);
        let grains: Vec<_> = c.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            grains,
            [
                Grain::Day,
                Grain::Day,
                Grain::Year,
                Grain::Month,
                Grain::Day,
                Grain::Day
            ]
        );
        assert_eq!(c[2].1, date(2025, 1, 1));
        assert_eq!(c[3].1, date(2026, 1, 1));
        assert_eq!(c[5].1, date(2026, 2, 2));
        // Never coarser than asked.
        let c = cover(date(2025, 1, 1), date(2025, 12, 31), Grain::Month);
        assert_eq!(c.len(), 12);
        assert!(c.iter().all(|(g, _)| *g == Grain::Month));
        // Every day covered exactly once.
        let c = cover(date(2023, 3, 17), date(2026, 11, 29), Grain::Year);
        let mut days = 0;
        for (g, start) in &c {
            days += match g {
                Grain::Day => 1,
                Grain::Month => {
                    (start.checked_add_months(Months::new(1)).unwrap() - *start).num_days()
                }
                Grain::Year => (date(start.year() + 1, 1, 1) - *start).num_days(),
            };
        }
        assert_eq!(
            days,
            (date(2026, 11, 29) - date(2023, 3, 17)).num_days() + 1
        );
        assert!(cover(date(2026, 2, 2), date(2026, 2, 1), Grain::Year).is_empty());
    }

    #[test]
    fn buckets_are_clipped_to_the_period() {
        let b = buckets(date(2026, 1, 15), date(2026, 3, 10), Interval::Month);
        assert_eq!(
            b,
            [
                (date(2026, 1, 15), date(2026, 1, 31)),
                (date(2026, 2, 1), date(2026, 2, 28)),
                (date(2026, 3, 1), date(2026, 3, 10))
            ]
        );
        // 2026-11-25 is a Wednesday: its week starts Monday the 23rd.
        let b = buckets(date(2026, 11, 25), date(2026, 12, 1), Interval::Week);
        assert_eq!(
            b,
            [
                (date(2026, 11, 25), date(2026, 11, 29)),
                (date(2026, 11, 30), date(2026, 12, 1))
            ]
        );
        assert_eq!(
            buckets(date(2026, 1, 1), date(2026, 1, 3), Interval::Day).len(),
            3
        );
    }

    #[test]
    fn summary_groups_statuses_and_rates() {
        let mut t = Totals::default();
        t.by_status[status_index(ReportStatus::Closed)] = 3;
        t.by_status[status_index(ReportStatus::Resolved)] = 1;
        t.by_status[status_index(ReportStatus::New)] = 2;
        t.by_status[status_index(ReportStatus::Rejected)] = 1;
        t.on_time = 3;
        t.late = 2;
        t.rated = 3;
        t.rating_sum = 11;
        t.satisfied = 2;
        t.reopened = 1;
        t.ever_resolved = 4;
        let s = Summary::new(&t, Percentiles::default(), true);
        assert_eq!((s.received, s.handled, s.waiting, s.rejected), (7, 4, 2, 1));
        assert_eq!(s.on_time_rate, Some(0.6));
        assert_eq!(s.rating_avg, Some(3.6667));
        assert_eq!(s.satisfied_rate, Some(0.6667));
        assert_eq!(s.reopen_rate, Some(0.25));
        let empty = Summary::new(&Totals::default(), Percentiles::default(), true);
        assert_eq!(
            (empty.on_time_rate, empty.rating_avg, empty.reopen_rate),
            (None, None, None)
        );
    }
}

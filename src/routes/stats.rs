//! `/api/v1/stats`: the figures the IOC shows (definitions: [`crate::domain::stats`]), read from
//! the rollup the triggers keep, for the IOC (API key), managers and admins. Aggregates only: no
//! figure names a person, so managers see the whole district as the IOC does.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, http::header, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Authenticated, StatsReaders};
use crate::config::Settings;
use crate::db;
use crate::db::stats::{GroupBy, Selection};
use crate::domain::stats::{
    Interval, Percentiles, STATUSES, Summary, Totals, buckets, local_today,
};
use crate::error::ApiError;
use crate::routes::present;
use crate::startup::AppState;

/// At most this many buckets in one time series.
const MAX_BUCKETS: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (YYYY-MM-DD, Asia/Ho_Chi_Minh), included; from 2000-01-01. Default: the first
    /// report's day.
    #[param(pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))? *$")]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD, Asia/Ho_Chi_Minh), included; at most a year from today, not before
    /// `from`. Default: today.
    #[param(pattern = "^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))? *$")]
    pub to: Option<String>,
    /// An area (commune) code or id.
    pub area: Option<String>,
    /// A category code or id.
    pub category: Option<String>,
    /// A department code or id.
    pub department: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// `category`, `area`, `department` or `status`.
    #[param(pattern = "^ *(category|area|department|status)? *$")]
    pub by: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// `day`, `week` (Monday to Sunday) or `month`. Default `month`.
    #[param(pattern = "^ *(day|week|month)? *$")]
    pub interval: Option<String>,
}

/// The figures of the period and slice.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryResponse {
    /// First day counted (null when there are no reports at all).
    pub from: Option<NaiveDate>,
    /// Last day counted.
    pub to: NaiveDate,
    #[serde(flatten)]
    pub summary: Summary,
    pub generated_at: DateTime<Utc>,
}

/// One group of a breakdown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownItem {
    /// The group's code (category, area or department code; the status name).
    pub key: String,
    /// Its id (null for statuses).
    pub id: Option<Uuid>,
    /// Its Vietnamese name.
    pub name: String,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownResponse {
    pub by: String,
    pub from: Option<NaiveDate>,
    pub to: NaiveDate,
    /// One summary per group that has reports in the period (all nine statuses for `status`).
    pub items: Vec<BreakdownItem>,
    pub generated_at: DateTime<Utc>,
}

/// One bucket of a time series.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeseriesItem {
    /// First day of the bucket (clipped to the period).
    pub period_start: NaiveDate,
    /// Last day of the bucket (clipped to the period).
    pub period_end: NaiveDate,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeseriesResponse {
    pub interval: String,
    pub from: Option<NaiveDate>,
    pub to: NaiveDate,
    /// Every bucket of the period, empty ones included.
    pub items: Vec<TimeseriesItem>,
    pub generated_at: DateTime<Utc>,
}

fn bad(vi: &'static str, en: &'static str) -> ApiError {
    ApiError::invalid_query(vi, en)
}

fn parse_date(raw: &Option<String>, name: &'static str) -> Result<Option<NaiveDate>, ApiError> {
    present(raw)
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid_query(
                    format!("{name} phải là ngày dạng YYYY-MM-DD"),
                    format!("{name} must be a date, YYYY-MM-DD"),
                )
            })
        })
        .transpose()
}

/// A code or an id of a dimension member: the ids it names (an area code may name the commune
/// before and after the 2025 reorganisation).
async fn resolve(
    conn: &mut AsyncPgConnection,
    group: GroupBy,
    raw: &str,
    name: &'static str,
) -> Result<Vec<Uuid>, ApiError> {
    let members = db::stats::members(conn, group).await?;
    let ids: Vec<Uuid> = members
        .iter()
        .filter(|m| m.code == raw || m.id == raw)
        .filter_map(|m| m.id.parse().ok())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::invalid_query(
            format!("Không có {name} nào là {raw:?}"),
            format!("No {name} has the code or id {raw:?}"),
        ));
    }
    Ok(ids)
}

/// The period and slice asked for, with the defaults filled in.
async fn selection(
    conn: &mut AsyncPgConnection,
    q: &StatsQuery,
    now: DateTime<Utc>,
) -> Result<Selection, ApiError> {
    let from = parse_date(&q.from, "from")?;
    let to = parse_date(&q.to, "to")?.unwrap_or_else(|| local_today(now));
    // Nothing was reported before the service existed, and nothing after next year: bounding
    // the dates bounds every loop and every date the database is asked about.
    let earliest = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    let latest = local_today(now) + chrono::Duration::days(366);
    if [from, Some(to)]
        .into_iter()
        .flatten()
        .any(|d| d < earliest || d > latest)
    {
        return Err(bad(
            "Ngày phải trong khoảng từ 2000-01-01 đến một năm sau hôm nay",
            "Dates must be between 2000-01-01 and a year from today",
        ));
    }
    let from = match from {
        Some(f) => Some(f),
        None => db::stats::first_day(conn).await?.map(|f| f.min(to)),
    };
    if from.is_some_and(|f| f > to) {
        return Err(bad("from phải không sau to", "from must not be after to"));
    }
    let mut sel = Selection {
        from,
        to: Some(to),
        ..Default::default()
    };
    if let Some(raw) = present(&q.area) {
        sel.areas = Some(resolve(conn, GroupBy::Area, raw, "area").await?);
    }
    if let Some(raw) = present(&q.category) {
        sel.category = resolve(conn, GroupBy::Category, raw, "category")
            .await?
            .first()
            .copied();
    }
    if let Some(raw) = present(&q.department) {
        sel.department = resolve(conn, GroupBy::Department, raw, "department")
            .await?
            .first()
            .copied();
    }
    Ok(sel)
}

/// Summaries per group: totals from the rollup; percentiles exact when the selection is small
/// enough, else interpolated from the same totals' histograms.
pub async fn summaries(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    sel: &Selection,
    group: GroupBy,
) -> Result<Vec<(String, Summary)>, ApiError> {
    let totals = db::stats::rollup_totals(conn, sel, group).await?;
    let mut all = Totals::default();
    for (_, t) in &totals {
        all.add(t);
    }
    let exact = all.all_durations() <= settings.stats.exact_percentiles_max;
    let mut exact_values: HashMap<String, Percentiles> = if exact && all.all_durations() > 0 {
        db::stats::exact_percentiles(conn, sel, group)
            .await?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    Ok(totals
        .into_iter()
        .map(|(key, t)| {
            let p = if exact {
                exact_values.remove(&key).unwrap_or_default()
            } else {
                Percentiles::from_histograms(&t)
            };
            (key, Summary::new(&t, p, exact))
        })
        .collect())
}

fn empty_summary() -> Summary {
    Summary::new(&Totals::default(), Percentiles::default(), true)
}

/// The summary of the whole selection.
pub async fn summary_of(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    sel: &Selection,
) -> Result<Summary, ApiError> {
    Ok(summaries(conn, settings, sel, GroupBy::Nothing)
        .await?
        .pop()
        .map(|(_, s)| s)
        .unwrap_or_else(empty_summary))
}

fn parse_by(raw: Option<&str>) -> Result<(GroupBy, &'static str), ApiError> {
    match raw.unwrap_or("category") {
        "category" => Ok((GroupBy::Category, "category")),
        "area" => Ok((GroupBy::Area, "area")),
        "department" => Ok((GroupBy::Department, "department")),
        "status" => Ok((GroupBy::Status, "status")),
        _ => Err(bad(
            "by phải là category, area, department hoặc status",
            "by must be category, area, department or status",
        )),
    }
}

/// A breakdown's items, named and in a stable order (by code; statuses in lifecycle order).
pub async fn breakdown_items(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    sel: &Selection,
    group: GroupBy,
) -> Result<Vec<BreakdownItem>, ApiError> {
    let mut found: HashMap<String, Summary> = summaries(conn, settings, sel, group)
        .await?
        .into_iter()
        .collect();
    let mut items = Vec::new();
    if group == GroupBy::Status {
        for s in STATUSES {
            let summary = found.remove(s.as_str()).unwrap_or_else(empty_summary);
            items.push(BreakdownItem {
                key: s.as_str().to_owned(),
                id: None,
                name: s.name_vi().to_owned(),
                summary,
            });
        }
        return Ok(items);
    }
    for m in db::stats::members(conn, group).await? {
        if let Some(summary) = found.remove(&m.id) {
            items.push(BreakdownItem {
                key: m.code,
                id: m.id.parse().ok(),
                name: m.name,
                summary,
            });
        }
    }
    items.sort_by(|a, b| a.key.cmp(&b.key).then(a.id.cmp(&b.id)));
    Ok(items)
}

#[utoipa::path(
    tag = "stats",
    security(("bearer" = []), ("api_key" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "The figures of the period and slice; each field's description is its definition", body = SummaryResponse),
        (status = 400, description = "`invalid_query`: a malformed date, `from` after `to`, or an unknown code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or an unknown API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the IOC, a manager or an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/stats/summary")]
pub async fn stats_summary(
    _user: Authenticated<StatsReaders>,
    query: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let sel = selection(&mut conn, &query, now).await?;
    let summary = summary_of(&mut conn, &state.settings, &sel).await?;
    Ok(HttpResponse::Ok().json(SummaryResponse {
        from: sel.from,
        to: sel.to.unwrap_or_else(|| local_today(now)),
        summary,
        generated_at: now,
    }))
}

/// The breakdown asked for: shared by the JSON and CSV answers.
async fn breakdown(
    state: &AppState,
    query: &BreakdownQuery,
    filter: &StatsQuery,
) -> Result<BreakdownResponse, ApiError> {
    let now = Utc::now();
    let (group, by) = parse_by(present(&query.by))?;
    let mut conn = state.conn().await?;
    let sel = selection(&mut conn, filter, now).await?;
    let items = breakdown_items(&mut conn, &state.settings, &sel, group).await?;
    Ok(BreakdownResponse {
        by: by.to_owned(),
        from: sel.from,
        to: sel.to.unwrap_or_else(|| local_today(now)),
        items,
        generated_at: now,
    })
}

#[utoipa::path(
    tag = "stats",
    security(("bearer" = []), ("api_key" = [])),
    params(BreakdownQuery, StatsQuery),
    responses(
        (status = 200, description = "One summary per group", body = BreakdownResponse),
        (status = 400, description = "`invalid_query`: an unknown `by`, a malformed date, `from` after `to`, or an unknown code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or an unknown API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the IOC, a manager or an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/stats/breakdown")]
pub async fn stats_breakdown(
    _user: Authenticated<StatsReaders>,
    query: web::Query<BreakdownQuery>,
    filter: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(breakdown(&state, &query, &filter).await?))
}

#[utoipa::path(
    tag = "stats",
    security(("bearer" = []), ("api_key" = [])),
    params(TimeseriesQuery, StatsQuery),
    responses(
        (status = 200, description = "One summary per bucket", body = TimeseriesResponse),
        (status = 400, description = "`invalid_query`: an unknown `interval`, a malformed date, `from` after `to`, an unknown code, or more than 1000 buckets", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or an unknown API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the IOC, a manager or an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/stats/timeseries")]
pub async fn stats_timeseries(
    _user: Authenticated<StatsReaders>,
    query: web::Query<TimeseriesQuery>,
    filter: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let interval = match present(&query.interval) {
        None => Interval::Month,
        Some(raw) => Interval::parse(raw).ok_or_else(|| {
            bad(
                "interval phải là day, week hoặc month",
                "interval must be day, week or month",
            )
        })?,
    };
    let mut conn = state.conn().await?;
    let sel = selection(&mut conn, &filter, now).await?;
    let to = sel.to.unwrap_or_else(|| local_today(now));
    let periods = sel
        .from
        .map(|from| buckets(from, to, interval))
        .unwrap_or_default();
    if periods.len() > MAX_BUCKETS {
        return Err(bad(
            "Quá 1000 khoảng thời gian: hãy rút ngắn kỳ hoặc chọn interval lớn hơn",
            "More than 1000 buckets: shorten the period or choose a longer interval",
        ));
    }
    let mut found: HashMap<String, Summary> =
        summaries(&mut conn, &state.settings, &sel, GroupBy::Bucket(interval))
            .await?
            .into_iter()
            .collect();
    let items = periods
        .into_iter()
        .map(|(start, end)| TimeseriesItem {
            period_start: start,
            period_end: end,
            summary: found
                .remove(&interval.bucket_start(start).to_string())
                .unwrap_or_else(empty_summary),
        })
        .collect();
    Ok(HttpResponse::Ok().json(TimeseriesResponse {
        interval: interval.as_str().to_owned(),
        from: sel.from,
        to,
        items,
        generated_at: now,
    }))
}

/// The columns of the CSV export, after `key` and `name`, in the order of [`Summary`].
fn summary_cells(s: &Summary) -> Vec<String> {
    let int = |v: i64| v.to_string();
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    vec![
        int(s.received),
        int(s.handled),
        int(s.in_progress),
        int(s.waiting),
        int(s.rejected),
        int(s.duplicate),
        int(s.on_time),
        int(s.late),
        opt(s.on_time_rate),
        int(s.overdue_open),
        opt(s.ack_median_hours),
        opt(s.ack_median_working_hours),
        opt(s.ack_p90_hours),
        opt(s.ack_p90_working_hours),
        opt(s.resolve_median_hours),
        opt(s.resolve_median_working_hours),
        opt(s.resolve_p90_hours),
        opt(s.resolve_p90_working_hours),
        s.percentiles_exact.to_string(),
        int(s.reopened),
        opt(s.reopen_rate),
        int(s.rating_count),
        opt(s.rating_avg),
        opt(s.satisfied_rate),
    ]
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first; names come from
/// imported data) is quoted with a leading apostrophe.
fn spreadsheet_safe(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

const CSV_HEADER: [&str; 26] = [
    "key",
    "name",
    "received",
    "handled",
    "in_progress",
    "waiting",
    "rejected",
    "duplicate",
    "on_time",
    "late",
    "on_time_rate",
    "overdue_open",
    "ack_median_hours",
    "ack_median_working_hours",
    "ack_p90_hours",
    "ack_p90_working_hours",
    "resolve_median_hours",
    "resolve_median_working_hours",
    "resolve_p90_hours",
    "resolve_p90_working_hours",
    "percentiles_exact",
    "reopened",
    "reopen_rate",
    "rating_count",
    "rating_avg",
    "satisfied_rate",
];

#[utoipa::path(
    tag = "stats",
    security(("bearer" = []), ("api_key" = [])),
    params(BreakdownQuery, StatsQuery),
    responses(
        (status = 200, description = "The breakdown as CSV: UTF-8 with a byte-order mark (so spreadsheet software reads Vietnamese correctly), a header row, one row per group with the columns of the summary", body = String, content_type = "text/csv"),
        (status = 400, description = "`invalid_query`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or an unknown API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the IOC, a manager or an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/stats/export.csv")]
pub async fn stats_export_csv(
    _user: Authenticated<StatsReaders>,
    query: web::Query<BreakdownQuery>,
    filter: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let BreakdownResponse {
        by,
        from,
        to,
        items,
        ..
    } = breakdown(&state, &query, &filter).await?;
    let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: Vec<String>| {
        out.write_record(row)
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))
    };
    write(&mut out, CSV_HEADER.iter().map(|s| s.to_string()).collect())?;
    for item in items {
        let mut row = vec![spreadsheet_safe(item.key), spreadsheet_safe(item.name)];
        row.extend(summary_cells(&item.summary));
        write(&mut out, row)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e.to_string())))?;
    let name = match from {
        Some(from) => format!("phananh-{by}-{from}-{to}.csv"),
        None => format!("phananh-{by}-{to}.csv"),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(body))
}

/// The snapshot pushed to the IOC: the current year to date, its summary and its breakdowns by
/// category, area, department and status.
pub async fn snapshot(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    use chrono::Datelike;
    let to = local_today(now);
    let from = NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to);
    let sel = Selection {
        from: Some(from),
        to: Some(to),
        ..Default::default()
    };
    let summary = summary_of(conn, settings, &sel).await?;
    let mut breakdown = serde_json::Map::new();
    for (group, by) in [
        (GroupBy::Category, "category"),
        (GroupBy::Area, "area"),
        (GroupBy::Department, "department"),
        (GroupBy::Status, "status"),
    ] {
        let items = breakdown_items(conn, settings, &sel, group).await?;
        breakdown.insert(
            by.to_owned(),
            serde_json::to_value(items).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?,
        );
    }
    Ok(serde_json::json!({
        "generated_at": now,
        "period": {"from": from, "to": to},
        "summary": summary,
        "breakdown": breakdown,
    }))
}

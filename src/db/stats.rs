//! Statistics queries: the rollup (`stats_rollup`, kept by triggers), exact percentiles over
//! `reports` for small selections, and the same figures computed from scratch by a plain
//! `GROUP BY` over the raw tables (what the tests and the benchmark compare the rollup with).
//! The definitions are in [`crate::domain::stats`].

use chrono::NaiveDate;
use diesel::QueryResult;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::sql_types;
use crate::domain::report::ReportStatus;
use crate::domain::stats::{
    BINS, Duration, Grain, Interval, Percentiles, Totals, cover, local_midnight, status_index,
};

/// Which reports: submitted `from..=to` (local dates) in the slice.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Areas (a code may name an area before and after the 2025 reorganisation).
    pub areas: Option<Vec<Uuid>>,
    pub category: Option<Uuid>,
    pub department: Option<Uuid>,
}

/// How to group the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Nothing,
    Category,
    Area,
    Department,
    Status,
    Bucket(Interval),
}

impl GroupBy {
    /// The group key over `stats_rollup` rows.
    fn rollup_key(self) -> &'static str {
        match self {
            GroupBy::Nothing => "''",
            GroupBy::Category => "category_id::text",
            GroupBy::Area => "area_id::text",
            GroupBy::Department => "department_id::text",
            GroupBy::Status => "status::text",
            GroupBy::Bucket(Interval::Day) => "period::text",
            GroupBy::Bucket(Interval::Week) => "date_trunc('week', period)::date::text",
            GroupBy::Bucket(Interval::Month) => "date_trunc('month', period)::date::text",
        }
    }

    /// The same key over `reports` rows.
    fn raw_key(self) -> &'static str {
        match self {
            GroupBy::Nothing => "''",
            GroupBy::Category => "r.category_id::text",
            GroupBy::Area => "r.area_id::text",
            GroupBy::Department => "r.department_id::text",
            GroupBy::Status => "r.status::text",
            GroupBy::Bucket(i) => match i {
                Interval::Day => "(r.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date::text",
                Interval::Week => {
                    "date_trunc('week', (r.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)::date::text"
                }
                Interval::Month => {
                    "date_trunc('month', (r.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)::date::text"
                }
            },
        }
    }

    fn coarsest(self) -> Grain {
        match self {
            GroupBy::Bucket(i) => i.grain(),
            _ => Grain::Year,
        }
    }
}

/// The first day any report was submitted (local), from the rollup's day rows.
pub async fn first_day(conn: &mut AsyncPgConnection) -> QueryResult<Option<NaiveDate>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Date>)]
        day: Option<NaiveDate>,
    }
    let row: Row = diesel::sql_query(
        "SELECT min(period) AS day FROM stats_rollup WHERE grain = 'd' AND n > 0",
    )
    .get_result(conn)
    .await?;
    Ok(row.day)
}

#[derive(QueryableByName)]
struct TotalsRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = sql_types::ReportStatus)]
    status: ReportStatus,
    #[diesel(sql_type = Int8)]
    n: i64,
    #[diesel(sql_type = Int8)]
    on_time: i64,
    #[diesel(sql_type = Int8)]
    late: i64,
    #[diesel(sql_type = Int8)]
    overdue_open: i64,
    #[diesel(sql_type = Int8)]
    reopened: i64,
    #[diesel(sql_type = Int8)]
    ever_resolved: i64,
    #[diesel(sql_type = Int8)]
    rated: i64,
    #[diesel(sql_type = Int8)]
    rating_sum: i64,
    #[diesel(sql_type = Int8)]
    satisfied: i64,
    #[diesel(sql_type = Nullable<Array<Int8>>)]
    ack: Option<Vec<i64>>,
    #[diesel(sql_type = Nullable<Array<Int8>>)]
    ackw: Option<Vec<i64>>,
    #[diesel(sql_type = Nullable<Array<Int8>>)]
    res: Option<Vec<i64>>,
    #[diesel(sql_type = Nullable<Array<Int8>>)]
    resw: Option<Vec<i64>>,
}

/// Folds (group, status) rows into totals per group, in first-seen order.
fn fold(rows: Vec<TotalsRow>) -> Vec<(String, Totals)> {
    let mut out: Vec<(String, Totals)> = Vec::new();
    for row in rows {
        let i = match out.iter().position(|(k, _)| *k == row.grp) {
            Some(i) => i,
            None => {
                out.push((row.grp.clone(), Totals::default()));
                out.len() - 1
            }
        };
        let t = &mut out[i].1;
        t.by_status[status_index(row.status)] += row.n;
        t.on_time += row.on_time;
        t.late += row.late;
        t.overdue_open += row.overdue_open;
        t.reopened += row.reopened;
        t.ever_resolved += row.ever_resolved;
        t.rated += row.rated;
        t.rating_sum += row.rating_sum;
        t.satisfied += row.satisfied;
        for (h, values) in [row.ack, row.ackw, row.res, row.resw]
            .into_iter()
            .enumerate()
        {
            for (bin, v) in values
                .unwrap_or_default()
                .into_iter()
                .take(BINS)
                .enumerate()
            {
                t.hist[h][bin] += v;
            }
        }
    }
    out
}

/// Appends the slice's conditions (`prefix` is the table alias with its dot, or empty) and binds.
fn slice_sql(sel: &Selection, prefix: &str, first_bind: usize) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let mut n = first_bind;
    if let Some(areas) = &sel.areas {
        sql += &format!(" AND {prefix}area_id = ANY(${n})");
        binds.push(Bind::Uuids(areas.clone()));
        n += 1;
    }
    if let Some(c) = sel.category {
        sql += &format!(" AND {prefix}category_id = ${n}");
        binds.push(Bind::Uuid(c));
        n += 1;
    }
    if let Some(d) = sel.department {
        sql += &format!(" AND {prefix}department_id = ${n}");
        binds.push(Bind::Uuid(d));
    }
    (sql, binds)
}

enum Bind {
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
}

fn bind_all<'a>(
    mut q: diesel::query_builder::BoxedSqlQuery<
        'a,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
    binds: Vec<Bind>,
) -> diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    for b in binds {
        q = match b {
            Bind::Uuid(u) => q.bind::<SqlUuid, _>(u),
            Bind::Uuids(v) => q.bind::<Array<SqlUuid>, _>(v),
        };
    }
    q
}

/// The sums of the rollup for `sel` (which must have both dates), per group.
pub async fn rollup_totals(
    conn: &mut AsyncPgConnection,
    sel: &Selection,
    group: GroupBy,
) -> QueryResult<Vec<(String, Totals)>> {
    let (Some(from), Some(to)) = (sel.from, sel.to) else {
        return Ok(Vec::new());
    };
    let mut periods: [Vec<NaiveDate>; 3] = Default::default();
    for (grain, start) in cover(from, to, group.coarsest()) {
        periods[grain as usize].push(start);
    }
    let hist = |prefix: &str| {
        let cols: Vec<String> = (0..BINS).map(|b| format!("sum({prefix}_h{b})")).collect();
        format!("ARRAY[{}]::int8[] AS {prefix}", cols.join(", "))
    };
    let (mut slice, binds) = slice_sql(sel, "", 4);
    // The rollup also holds every cell summed over any of its dimensions ("all" = the nil
    // UUID): read the rows of exactly the dimensions filtered or grouped by.
    for (column, used) in [
        ("area_id", sel.areas.is_some() || group == GroupBy::Area),
        (
            "category_id",
            sel.category.is_some() || group == GroupBy::Category,
        ),
        (
            "department_id",
            sel.department.is_some() || group == GroupBy::Department,
        ),
    ] {
        let op = if used { "<>" } else { "=" };
        slice += &format!(" AND {column} {op} '{ALL}'");
    }
    let sql = format!(
        "SELECT {key} AS grp, status, sum(n)::int8 AS n, sum(on_time)::int8 AS on_time, \
                sum(late)::int8 AS late, sum(overdue_open)::int8 AS overdue_open, \
                sum(reopened)::int8 AS reopened, sum(ever_resolved)::int8 AS ever_resolved, \
                sum(rated)::int8 AS rated, sum(rating_sum)::int8 AS rating_sum, \
                sum(satisfied)::int8 AS satisfied, {ack}, {ackw}, {res}, {resw} \
         FROM stats_rollup \
         WHERE ((grain = 'd' AND period = ANY($1)) OR (grain = 'm' AND period = ANY($2)) \
                OR (grain = 'y' AND period = ANY($3))){slice} \
         GROUP BY 1, 2 ORDER BY 1, 2",
        key = group.rollup_key(),
        ack = hist(Duration::Ack.column_prefix()),
        ackw = hist(Duration::AckWorking.column_prefix()),
        res = hist(Duration::Resolve.column_prefix()),
        resw = hist(Duration::ResolveWorking.column_prefix()),
    );
    let [days, months, years] = periods;
    let q = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Array<Date>, _>(days)
        .bind::<Array<Date>, _>(months)
        .bind::<Array<Date>, _>(years);
    let rows: Vec<TotalsRow> = bind_all(q, binds).load(conn).await?;
    Ok(fold(rows))
}

/// "All" in a dimension of the rollup.
pub const ALL: &str = "00000000-0000-0000-0000-000000000000";

const HANDLED: &str = "r.status IN ('resolved', 'closed')";
const OPEN: &str = "r.status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened')";

#[derive(QueryableByName)]
struct PercentileRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    ack: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    ackw: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    ack90: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    ackw90: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    res: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    resw: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    res90: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Float8>)]
    resw90: Option<f64>,
}

/// Exact medians and percentiles (`percentile_cont`) per group, over `reports`.
pub async fn exact_percentiles(
    conn: &mut AsyncPgConnection,
    sel: &Selection,
    group: GroupBy,
) -> QueryResult<Vec<(String, Percentiles)>> {
    let (Some(from), Some(to)) = (sel.from, sel.to) else {
        return Ok(Vec::new());
    };
    let (slice, binds) = slice_sql(sel, "r.", 3);
    let sql = format!(
        "SELECT {key} AS grp, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.accepted_at - r.created_at) / 3600) \
             FILTER (WHERE r.accepted_at IS NOT NULL) AS ack, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(r.ack_working_minutes, 0) / 60.0) \
             FILTER (WHERE r.accepted_at IS NOT NULL) AS ackw, \
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM r.accepted_at - r.created_at) / 3600) \
             FILTER (WHERE r.accepted_at IS NOT NULL) AS ack90, \
           percentile_cont(0.9) WITHIN GROUP (ORDER BY coalesce(r.ack_working_minutes, 0) / 60.0) \
             FILTER (WHERE r.accepted_at IS NOT NULL) AS ackw90, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.resolved_at - r.created_at) / 3600) \
             FILTER (WHERE {HANDLED} AND r.resolved_at IS NOT NULL) AS res, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(r.resolve_working_minutes, 0) / 60.0) \
             FILTER (WHERE {HANDLED} AND r.resolved_at IS NOT NULL) AS resw, \
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM r.resolved_at - r.created_at) / 3600) \
             FILTER (WHERE {HANDLED} AND r.resolved_at IS NOT NULL) AS res90, \
           percentile_cont(0.9) WITHIN GROUP (ORDER BY coalesce(r.resolve_working_minutes, 0) / 60.0) \
             FILTER (WHERE {HANDLED} AND r.resolved_at IS NOT NULL) AS resw90 \
         FROM reports r \
         WHERE r.created_at >= $1 AND r.created_at < $2{slice} \
         GROUP BY 1",
        key = group.raw_key(),
    );
    let q = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Timestamptz, _>(local_midnight(from))
        .bind::<Timestamptz, _>(local_midnight(to.succ_opt().unwrap_or(to)));
    let rows: Vec<PercentileRow> = bind_all(q, binds).load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.grp,
                Percentiles {
                    ack_median: r.ack,
                    ack_median_working: r.ackw,
                    ack_p90: r.ack90,
                    ack_p90_working: r.ackw90,
                    resolve_median: r.res,
                    resolve_median_working: r.resw,
                    resolve_p90: r.res90,
                    resolve_p90_working: r.resw90,
                },
            )
        })
        .collect())
}

/// The additive figures computed from scratch: a plain `GROUP BY` over `reports` and each
/// report's latest rating, without the rollup (its histograms are left empty; pair it with
/// [`exact_percentiles`]).
pub async fn from_scratch_totals(
    conn: &mut AsyncPgConnection,
    sel: &Selection,
    group: GroupBy,
) -> QueryResult<Vec<(String, Totals)>> {
    let (Some(from), Some(to)) = (sel.from, sel.to) else {
        return Ok(Vec::new());
    };
    let (slice, binds) = slice_sql(sel, "r.", 3);
    let sql = format!(
        "SELECT {key} AS grp, r.status, count(*)::int8 AS n, \
           count(*) FILTER (WHERE {HANDLED} AND r.resolved_at <= r.due_at)::int8 AS on_time, \
           count(*) FILTER (WHERE ({HANDLED} AND r.resolved_at > r.due_at) \
                              OR ({OPEN} AND r.overdue_at IS NOT NULL))::int8 AS late, \
           count(*) FILTER (WHERE {OPEN} AND r.overdue_at IS NOT NULL)::int8 AS overdue_open, \
           count(*) FILTER (WHERE r.reopen_count > 0)::int8 AS reopened, \
           count(*) FILTER (WHERE r.resolved_at IS NOT NULL OR r.reopen_count > 0)::int8 AS ever_resolved, \
           count(lr.score)::int8 AS rated, coalesce(sum(lr.score), 0)::int8 AS rating_sum, \
           count(*) FILTER (WHERE lr.score >= 4)::int8 AS satisfied, \
           NULL::int8[] AS ack, NULL::int8[] AS ackw, NULL::int8[] AS res, NULL::int8[] AS resw \
         FROM reports r \
         LEFT JOIN LATERAL (SELECT score FROM report_ratings x WHERE x.report_id = r.id \
                            ORDER BY x.cycle DESC LIMIT 1) lr ON true \
         WHERE r.created_at >= $1 AND r.created_at < $2{slice} \
         GROUP BY 1, 2 ORDER BY 1, 2",
        key = group.raw_key(),
    );
    let q = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Timestamptz, _>(local_midnight(from))
        .bind::<Timestamptz, _>(local_midnight(to.succ_opt().unwrap_or(to)));
    let rows: Vec<TotalsRow> = bind_all(q, binds).load(conn).await?;
    Ok(fold(rows))
}

/// A dimension's members: id → (code, name).
#[derive(QueryableByName)]
pub struct Member {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub name: String,
}

pub async fn members(conn: &mut AsyncPgConnection, group: GroupBy) -> QueryResult<Vec<Member>> {
    let sql = match group {
        GroupBy::Category => "SELECT id::text AS id, code, name_vi AS name FROM categories",
        GroupBy::Area => "SELECT id::text AS id, code, name FROM areas",
        GroupBy::Department => "SELECT id::text AS id, code, name FROM departments",
        _ => return Ok(Vec::new()),
    };
    diesel::sql_query(sql).load(conn).await
}

/// Whether the rollup equals its from-scratch computation (`stats_rollup_from_scratch`). Cells
/// whose reports have all gone elsewhere stay as rows of zeros, which are ignored; any other
/// difference is counted. Returns the number of differing rows.
pub async fn rollup_differences(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Int8)]
        n: i64,
    }
    let zeros = vec!["0"; 9 + 4 * BINS].join(", ");
    let row: Row = diesel::sql_query(format!(
        "WITH live AS (SELECT * FROM stats_rollup EXCEPT ALL \
                       SELECT grain, period, area_id, category_id, department_id, status, {zeros} \
                       FROM stats_rollup), \
              want AS (SELECT * FROM stats_rollup_from_scratch) \
         SELECT ((SELECT count(*) FROM (SELECT * FROM live EXCEPT ALL SELECT * FROM want) a) + \
                 (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM live) b))::int8 AS n"
    ))
    .get_result(conn)
    .await?;
    Ok(row.n)
}

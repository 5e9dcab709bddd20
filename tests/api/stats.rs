//! Statistics for the IOC: every figure against hand-computed expectations on a small crafted
//! history, the rollup against a from-scratch computation after random operations, the figures
//! of the API against a plain GROUP BY, the interpolated percentiles of large selections, the
//! CSV export, and who may read them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{account_token, get_with};
use crate::helpers::{TestApp, TestDb, assert_problem, spawn_app, spawn_app_with};
use crate::media::citizen;
use crate::reports::{report_body, submit_ok};
use phananh::db::stats::{GroupBy, Selection};

/// Local time (UTC+7) on a day of 2026.
fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(7 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, month, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn id_of(app: &TestApp, table: &str, code: &str) -> Uuid {
    // An area code may name the commune before and after 2025: the current one.
    let order = if table == "areas" {
        " ORDER BY valid_from DESC NULLS LAST"
    } else {
        ""
    };
    app.db
        .client()
        .await
        .query_one(
            &format!("SELECT id FROM {table} WHERE code = $1{order} LIMIT 1"),
            &[&code],
        )
        .await
        .unwrap_or_else(|e| panic!("{table} {code}: {e}"))
        .get(0)
}

/// One crafted report.
#[derive(Clone)]
struct Crafted {
    status: &'static str,
    area: &'static str,
    category: &'static str,
    department: &'static str,
    created: DateTime<Utc>,
    due: DateTime<Utc>,
    /// Hours after creation, and working minutes.
    ack: Option<(i64, i32)>,
    resolved: Option<(i64, i32)>,
    overdue: bool,
    reopen_count: i32,
    /// Scores by cycle.
    ratings: Vec<i16>,
}

fn road(status: &'static str, created: DateTime<Utc>) -> Crafted {
    Crafted {
        status,
        area: "24943",
        category: "road",
        department: "24943-kinh-te",
        created,
        due: created + Duration::days(3),
        ack: None,
        resolved: None,
        overdue: false,
        reopen_count: 0,
        ratings: Vec::new(),
    }
}

async fn insert(app: &TestApp, r: &Crafted) -> Uuid {
    let id = Uuid::now_v7();
    let area = id_of(app, "areas", r.area).await;
    let category = id_of(app, "categories", r.category).await;
    let department = id_of(app, "departments", r.department).await;
    let accepted = r.ack.map(|(h, _)| r.created + Duration::hours(h));
    let resolved = r.resolved.map(|(h, _)| r.created + Duration::hours(h));
    let db = app.db.client().await;
    db.execute(
        "INSERT INTO reports (id, tracking_code, category_id, area_id, department_id, routing_reason, \
           status, description, lat, lon, consent_version, consent_at, due_at, created_at, updated_at, \
           ack_due_at, accepted_at, ack_working_minutes, resolved_at, resolve_working_minutes, \
           overdue_at, reopen_count) \
         VALUES ($1, $2, $3, $4, $5, 'test', $6::text::report_status, 'crafted', 11.74, 108.59, 'v1', $7, $8, \
           $7, $7, $7::timestamptz + interval '8 hours', $9, $10, $11, $12, $13, $14)",
        &[
            &id,
            &format!("T-{}", &id.simple().to_string()[20..]),
            &category,
            &area,
            &department,
            &r.status,
            &r.created,
            &r.due,
            &accepted,
            &r.ack.map(|(_, w)| w),
            &resolved,
            &r.resolved.map(|(_, w)| w),
            &r.overdue.then_some(r.due),
            &r.reopen_count,
        ],
    )
    .await
    .unwrap();
    for (cycle, score) in r.ratings.iter().enumerate() {
        db.execute(
            "INSERT INTO report_ratings (report_id, cycle, score) VALUES ($1, $2, $3)",
            &[&id, &(cycle as i32), score],
        )
        .await
        .unwrap();
    }
    id
}

/// The crafted history of October 2026 (and one report of September):
/// A closed on time, rated 5 · B resolved late, rated 2 · C reopened then resolved late, rated
/// 4 then 1 · D in progress past its deadline · E new · F rejected · G transferred to Văn hóa
/// and accepted · H duplicate · I on hold · J waste in xã Đơn Dương, closed on time, rated 4 ·
/// K (30 September) closed.
async fn craft(app: &TestApp) {
    let mut a = road("closed", at(10, 5, 8));
    a.ack = Some((2, 120));
    a.resolved = Some((24, 480));
    a.ratings = vec![5];
    let mut b = road("resolved", at(10, 6, 8));
    b.due = at(10, 7, 8);
    b.ack = Some((4, 240));
    b.resolved = Some((48, 960));
    b.ratings = vec![2];
    let mut c = road("resolved", at(10, 7, 8));
    c.ack = Some((1, 60));
    c.resolved = Some((100, 1500));
    c.reopen_count = 1;
    c.ratings = vec![4, 1];
    let mut d = road("in_progress", at(10, 8, 8));
    d.due = at(10, 9, 8);
    d.ack = Some((10, 300));
    d.overdue = true;
    let e = road("new", at(10, 20, 8));
    let f = road("rejected", at(10, 21, 8));
    let mut g = road("accepted", at(10, 22, 8));
    g.department = "24943-van-hoa-xa-hoi";
    g.ack = Some((3, 180));
    let h = road("duplicate", at(10, 23, 8));
    let mut i = road("on_hold", at(10, 26, 8));
    i.ack = Some((6, 360));
    let mut j = road("closed", at(10, 31, 22));
    j.area = "24931";
    j.category = "waste";
    j.department = "24931-kinh-te";
    j.ack = Some((5, 300));
    j.resolved = Some((30, 600));
    j.ratings = vec![4];
    let mut k = road("closed", at(9, 30, 23));
    k.ack = Some((1, 60));
    k.resolved = Some((10, 200));
    for r in [a, b, c, d, e, f, g, h, i, j, k] {
        insert(app, &r).await;
    }
}

async fn ioc_key(app: &TestApp) -> String {
    let key = format!("phk_stats-test-{}", Uuid::new_v4().simple());
    let hash = phananh::auth::tokens::hash_token(&key);
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO api_keys (id, name, key_hash, prefix) VALUES (gen_random_uuid(), 'ioc', $1, 'phk_stats')",
            &[&hash],
        )
        .await
        .unwrap();
    key
}

async fn stats(app: &TestApp, key: &str, path: &str) -> Value {
    let resp = app
        .client
        .get(app.url(path))
        .header("X-Api-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}: {:?}", resp.text().await);
    resp.json().await.unwrap()
}

const OCTOBER: &str = "from=2026-10-01&to=2026-10-31";

#[tokio::test]
async fn every_figure_matches_the_hand_computed_history() {
    let app = spawn_app().await;
    craft(&app).await;
    let key = ioc_key(&app).await;
    let s = stats(&app, &key, &format!("/api/v1/stats/summary?{OCTOBER}")).await;
    let expect = json!({
        "from": "2026-10-01", "to": "2026-10-31",
        "received": 10, "handled": 4, "in_progress": 2, "waiting": 2, "rejected": 1, "duplicate": 1,
        // A and J on time; B and C resolved late; D open past its deadline.
        "on_time": 2, "late": 3, "on_time_rate": 0.4, "overdue_open": 1,
        // Acknowledged after 2, 4, 1, 10, 3, 6, 5 hours (A B C D G I J): median 4.
        "ack_median_hours": 4.0, "ack_median_working_hours": 4.0,
        // p90: rank 5.4 → 6 + 0.4·4 hours; 300 + 0.4·60 working minutes.
        "ack_p90_hours": 7.6, "ack_p90_working_hours": 5.4,
        // Resolved after 24, 48, 100, 30 hours: median (30+48)/2, p90 48 + 0.7·52.
        "resolve_median_hours": 39.0, "resolve_p90_hours": 84.4,
        // 480, 960, 1500, 600 working minutes: median 780 min, p90 960 + 0.7·540 = 1338 min.
        "resolve_median_working_hours": 13.0, "resolve_p90_working_hours": 22.3,
        "percentiles_exact": true,
        // C reopened, of A B C J ever resolved.
        "reopened": 1, "reopen_rate": 0.25,
        // Latest ratings 5, 2, 1 (C's second replaces its 4), 4.
        "rating_count": 4, "rating_avg": 3.0, "satisfied_rate": 0.5,
    });
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&s[k], v, "{k} in {s:#}");
    }
    assert!(s["generated_at"].is_string());

    // Slices.
    let waste = stats(
        &app,
        &key,
        &format!("/api/v1/stats/summary?{OCTOBER}&category=waste"),
    )
    .await;
    assert_eq!(
        (waste["received"].as_i64(), waste["on_time"].as_i64()),
        (Some(1), Some(1))
    );
    let area = stats(
        &app,
        &key,
        &format!("/api/v1/stats/summary?{OCTOBER}&area=24931"),
    )
    .await;
    assert_eq!(area["received"], 1);
    let vh = stats(
        &app,
        &key,
        &format!("/api/v1/stats/summary?{OCTOBER}&department=24943-van-hoa-xa-hoi"),
    )
    .await;
    assert_eq!(
        (vh["received"].as_i64(), vh["in_progress"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(vh["ack_median_hours"], 3.0);
    // The edges of the period are local dates: J (31 October, 22:00 local, 15:00 UTC) is in
    // October, K (30 September, 23:00 local) is not; a one-day period finds each.
    let j_day = stats(
        &app,
        &key,
        "/api/v1/stats/summary?from=2026-10-31&to=2026-10-31",
    )
    .await;
    assert_eq!(j_day["received"], 1);
    let all = stats(&app, &key, "/api/v1/stats/summary?to=2026-11-29").await;
    assert_eq!(
        (all["received"].as_i64(), all["from"].as_str()),
        (Some(11), Some("2026-09-30"))
    );

    // Breakdown by department and by status.
    let by = stats(
        &app,
        &key,
        &format!("/api/v1/stats/breakdown?by=department&{OCTOBER}"),
    )
    .await;
    let items = by["items"].as_array().unwrap();
    let keys: Vec<_> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["24931-kinh-te", "24943-kinh-te", "24943-van-hoa-xa-hoi"]
    );
    assert_eq!(items[1]["received"], 8);
    assert_eq!(items[1]["late"], 3);
    assert!(items[2]["name"].as_str().unwrap().contains("Văn hóa"));
    let by = stats(
        &app,
        &key,
        &format!("/api/v1/stats/breakdown?by=status&{OCTOBER}"),
    )
    .await;
    let items = by["items"].as_array().unwrap();
    assert_eq!(items.len(), 9);
    let closed = items.iter().find(|i| i["key"] == "closed").unwrap();
    assert_eq!(
        (closed["received"].as_i64(), closed["on_time"].as_i64()),
        (Some(2), Some(2))
    );
    let resolved = items.iter().find(|i| i["key"] == "resolved").unwrap();
    assert_eq!(
        (resolved["late"].as_i64(), resolved["rating_avg"].as_f64()),
        (Some(2), Some(1.5))
    );
    let sum: i64 = items.iter().map(|i| i["received"].as_i64().unwrap()).sum();
    assert_eq!(sum, 10);
    let by = stats(
        &app,
        &key,
        &format!("/api/v1/stats/breakdown?by=category&{OCTOBER}"),
    )
    .await;
    let keys: Vec<_> = by["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["road", "waste"]);

    // Time series: September holds K, October the rest; weeks are Monday to Sunday.
    let ts = stats(
        &app,
        &key,
        "/api/v1/stats/timeseries?interval=month&from=2026-09-15&to=2026-11-10",
    )
    .await;
    let items = ts["items"].as_array().unwrap();
    let got: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i["period_start"].as_str().unwrap(),
                i["period_end"].as_str().unwrap(),
                i["received"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-09-15", "2026-09-30", 1),
            ("2026-10-01", "2026-10-31", 10),
            ("2026-11-01", "2026-11-10", 0)
        ]
    );
    assert_eq!(items[1]["late"], 3);
    let weeks = stats(
        &app,
        &key,
        "/api/v1/stats/timeseries?interval=week&from=2026-10-01&to=2026-10-11",
    )
    .await;
    let got: Vec<_> = weeks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["received"].as_i64().unwrap())
        .collect();
    // Thu 1 – Sun 4 October: none; Mon 5 – Sun 11: A B C D.
    assert_eq!(got, [0, 4]);
    let days = stats(
        &app,
        &key,
        "/api/v1/stats/timeseries?interval=day&from=2026-10-05&to=2026-10-08",
    )
    .await;
    assert_eq!(days["items"].as_array().unwrap().len(), 4);
    assert_eq!(days["items"][3]["overdue_open"], 1);

    // The same figures from a plain GROUP BY over the raw tables.
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let sel = Selection {
        from: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()),
        to: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()),
        ..Default::default()
    };
    let scratch = from_scratch(&mut conn, &sel, GroupBy::Nothing).await;
    assert_eq!(scratch.len(), 1);
    let s_scratch = serde_json::to_value(&scratch[0].1).unwrap();
    for (k, v) in s_scratch.as_object().unwrap() {
        assert_eq!(&s[k], v, "{k}: API {s} vs GROUP BY {s_scratch}");
    }
}

/// Summaries computed without the rollup: a plain GROUP BY and exact percentiles.
async fn from_scratch(
    conn: &mut diesel_async::AsyncPgConnection,
    sel: &Selection,
    group: GroupBy,
) -> Vec<(String, phananh::domain::stats::Summary)> {
    let totals = phananh::db::stats::from_scratch_totals(conn, sel, group)
        .await
        .unwrap();
    let mut pct: std::collections::HashMap<_, _> =
        phananh::db::stats::exact_percentiles(conn, sel, group)
            .await
            .unwrap()
            .into_iter()
            .collect();
    totals
        .into_iter()
        .map(|(k, t)| {
            let p = pct.remove(&k).unwrap_or_default();
            (k, phananh::domain::stats::Summary::new(&t, p, true))
        })
        .collect()
}

#[tokio::test]
async fn large_selections_interpolate_percentiles_from_the_histograms() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| s.stats.exact_percentiles_max = 0).await;
    craft(&app).await;
    let key = ioc_key(&app).await;
    let s = stats(&app, &key, &format!("/api/v1/stats/summary?{OCTOBER}")).await;
    assert_eq!(s["percentiles_exact"], false);
    // Counts are the same either way; each estimate is within its bin (26 % wide) of the exact
    // value.
    assert_eq!(
        (s["received"].as_i64(), s["late"].as_i64()),
        (Some(10), Some(3))
    );
    for (field, exact) in [
        ("ack_median_hours", 4.0),
        ("ack_median_working_hours", 4.0),
        ("ack_p90_hours", 7.6),
        ("ack_p90_working_hours", 5.4),
        ("resolve_median_hours", 39.0),
        ("resolve_median_working_hours", 13.0),
        ("resolve_p90_hours", 84.4),
        ("resolve_p90_working_hours", 22.3),
    ] {
        let got = s[field].as_f64().unwrap();
        assert!(
            (got - exact).abs() / exact < 0.27,
            "{field}: {got} vs {exact}"
        );
        assert!(got != exact, "{field} looks exact: {got}");
    }
}

#[tokio::test]
async fn the_rollup_equals_a_computation_from_scratch_after_random_operations() {
    let app = spawn_app().await;
    craft(&app).await;
    let db = app.db.client().await;
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    assert_eq!(
        phananh::db::stats::rollup_differences(&mut conn)
            .await
            .unwrap(),
        0
    );
    let statuses = [
        "new",
        "accepted",
        "in_progress",
        "on_hold",
        "resolved",
        "closed",
        "rejected",
        "duplicate",
        "reopened",
    ];
    let departments: Vec<Uuid> = db
        .query("SELECT id FROM departments", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rng = StdRng::seed_from_u64(7);
    for step in 0..240 {
        let ids: Vec<Uuid> = db
            .query("SELECT id FROM reports ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let id = ids[rng.random_range(0..ids.len())];
        let status = statuses[rng.random_range(0..statuses.len())];
        match rng.random_range(0..10) {
            0 => {
                db.execute(
                    "UPDATE reports SET status = $2::text::report_status WHERE id = $1",
                    &[&id, &status],
                )
                .await
                .unwrap();
            }
            1 => {
                let d = departments[rng.random_range(0..departments.len())];
                db.execute(
                    "UPDATE reports SET department_id = $2 WHERE id = $1",
                    &[&id, &d],
                )
                .await
                .unwrap();
            }
            2 => {
                // Moves the report to another day, month or year.
                let days = rng.random_range(-400..400i32);
                db.execute(
                    "UPDATE reports SET created_at = created_at + make_interval(days => $2) WHERE id = $1",
                    &[&id, &days],
                )
                .await
                .unwrap();
            }
            3 => {
                let hours = rng.random_range(1..300i32);
                db.execute(
                    "UPDATE reports SET resolved_at = created_at + make_interval(hours => $2), \
                       resolve_working_minutes = $2 * 20, status = 'resolved' WHERE id = $1",
                    &[&id, &hours],
                )
                .await
                .unwrap();
            }
            4 => {
                let score = rng.random_range(1..=5i16);
                db.execute(
                    "INSERT INTO report_ratings (report_id, cycle, score) \
                     SELECT $1, coalesce(max(cycle) + 1, 0), $2 FROM report_ratings WHERE report_id = $1",
                    &[&id, &score],
                )
                .await
                .unwrap();
            }
            5 => {
                db.execute(
                    "DELETE FROM report_ratings WHERE (report_id, cycle) IN \
                       (SELECT report_id, max(cycle) FROM report_ratings WHERE report_id = $1 GROUP BY 1)",
                    &[&id],
                )
                .await
                .unwrap();
            }
            6 => {
                // Several rows in one statement (like the deadline job's batches).
                db.execute(
                    "UPDATE reports SET overdue_at = CASE WHEN overdue_at IS NULL THEN now() END, \
                       reopen_count = reopen_count + (random() < 0.3)::int \
                     WHERE id IN (SELECT id FROM reports ORDER BY random() LIMIT 5)",
                    &[],
                )
                .await
                .unwrap();
            }
            7 => {
                let hours = rng.random_range(0..50i32);
                db.execute(
                    "UPDATE reports SET accepted_at = CASE WHEN accepted_at IS NULL \
                       THEN created_at + make_interval(hours => $2) END, ack_working_minutes = $2 * 30 \
                     WHERE id = $1",
                    &[&id, &hours],
                )
                .await
                .unwrap();
            }
            8 => {
                let mut r = road(
                    status,
                    at(rng.random_range(1..=12), rng.random_range(1..=28), 9),
                );
                r.ack = Some((rng.random_range(0..30), rng.random_range(0..900)));
                if rng.random_bool(0.5) {
                    r.resolved = Some((rng.random_range(30..200), rng.random_range(0..3000)));
                }
                r.ratings = (0..rng.random_range(0..3))
                    .map(|_| rng.random_range(1..=5))
                    .collect();
                insert(&app, &r).await;
            }
            _ => {
                // A report deleted with its ratings (ON DELETE CASCADE).
                if ids.len() > 5 {
                    db.execute(
                        "DELETE FROM reports WHERE id = $1 AND duplicate_of IS NULL \
                                AND NOT EXISTS (SELECT 1 FROM reports d WHERE d.duplicate_of = $1)",
                        &[&id],
                    )
                    .await
                    .unwrap();
                }
            }
        }
        if step % 20 == 19 {
            let diff = phananh::db::stats::rollup_differences(&mut conn)
                .await
                .unwrap();
            assert_eq!(diff, 0, "after step {step}");
        }
    }
    // The check can fail: one cell off by one is found.
    db.execute(
        "UPDATE stats_rollup SET late = late + 1 WHERE (grain, period, area_id, category_id, department_id, status) \
         = (SELECT grain, period, area_id, category_id, department_id, status FROM stats_rollup WHERE n > 0 LIMIT 1)",
        &[],
    )
    .await
    .unwrap();
    assert!(
        phananh::db::stats::rollup_differences(&mut conn)
            .await
            .unwrap()
            > 0
    );
    db.execute("SELECT phananh_stats_rebuild()", &[])
        .await
        .unwrap();
    assert_eq!(
        phananh::db::stats::rollup_differences(&mut conn)
            .await
            .unwrap(),
        0
    );
    // And the API's figures (from the rollup) equal the plain GROUP BY for random slices.
    let key = ioc_key(&app).await;
    for (query, group, by) in [
        (
            "from=2025-06-01&to=2027-02-01",
            GroupBy::Category,
            "category",
        ),
        (
            "from=2026-01-01&to=2026-12-31",
            GroupBy::Department,
            "department",
        ),
        ("from=2025-09-13&to=2026-10-17", GroupBy::Status, "status"),
        ("from=2024-01-01&to=2027-06-30", GroupBy::Area, "area"),
    ] {
        let api = stats(
            &app,
            &key,
            &format!("/api/v1/stats/breakdown?by={by}&{query}"),
        )
        .await;
        let (from, to) = (&query[5..15], &query[19..29]);
        let sel = Selection {
            from: Some(from.parse().unwrap()),
            to: Some(to.parse().unwrap()),
            ..Default::default()
        };
        let scratch = from_scratch(&mut conn, &sel, group).await;
        let api_items = api["items"].as_array().unwrap();
        let non_empty: Vec<_> = api_items
            .iter()
            .filter(|i| i["received"].as_i64() != Some(0))
            .collect();
        assert_eq!(non_empty.len(), scratch.len(), "{by}: {api}");
        for (k, summary) in scratch {
            let item = api_items
                .iter()
                .find(|i| {
                    i["id"].as_str() == Some(k.as_str()) || i["key"].as_str() == Some(k.as_str())
                })
                .unwrap_or_else(|| panic!("{by} {k} missing"));
            let want = serde_json::to_value(&summary).unwrap();
            for (f, v) in want.as_object().unwrap() {
                assert_eq!(&item[f], v, "{by} {k} {f}");
            }
        }
    }
}

#[tokio::test]
async fn the_lifecycle_through_the_api_moves_the_figures() {
    let app = spawn_app().await;
    let staff = account_token(&app, "staff", Some("24943-kinh-te")).await;
    let manager = account_token(&app, "manager", Some("24943-kinh-te")).await;
    let resident = citizen(&app).await;
    let report = submit_ok(&app, &resident, &report_body("road", (11.7394, 108.5884))).await;
    let id = report["id"].as_str().unwrap().to_owned();
    let summary = |token: String| {
        let app = &app;
        async move {
            let resp = get_with(app, "/api/v1/stats/summary", &token).await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let s = summary(manager.clone()).await;
    assert_eq!(
        (s["received"].as_i64(), s["waiting"].as_i64()),
        (Some(1), Some(1))
    );
    for (action, note) in [
        ("accept", None),
        ("start", None),
        ("resolve", Some("Đã vá xong")),
    ] {
        let mut body = json!({"action": action});
        if let Some(n) = note {
            body["public_note"] = json!(n);
        }
        let resp = crate::accounts::post(
            &app,
            &format!("/api/v1/tickets/{id}/transitions"),
            body,
            Some(&staff),
        )
        .await;
        assert_eq!(resp.status(), 200, "{action}: {:?}", resp.text().await);
    }
    // Working minutes recorded by the server's calendar when the moments were.
    let db = app.db.client().await;
    let row = db
        .query_one(
            "SELECT created_at, accepted_at, resolved_at, ack_working_minutes, resolve_working_minutes \
             FROM reports WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    let calendar = {
        let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
        phananh::db::holidays::load_calendar(&mut conn)
            .await
            .unwrap()
    };
    let (created, accepted, resolved): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        row.get::<_, Option<i32>>(3),
        Some(calendar.working_minutes_between(created, accepted) as i32)
    );
    assert_eq!(
        row.get::<_, Option<i32>>(4),
        Some(calendar.working_minutes_between(created, resolved) as i32)
    );
    let s = summary(manager.clone()).await;
    assert_eq!(
        (
            s["handled"].as_i64(),
            s["on_time"].as_i64(),
            s["late"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert!(s["resolve_median_hours"].as_f64().unwrap() >= 0.0);
    // Rated, reopened: no longer handled, the rating still counts, the reopen shows.
    let r = crate::accounts::post(
        &app,
        &format!("/api/v1/reports/{id}/rating"),
        json!({"score": 2}),
        Some(&resident),
    )
    .await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let r = crate::accounts::post(
        &app,
        &format!("/api/v1/reports/{id}/reopen"),
        json!({"reason": "Vẫn còn ổ gà"}),
        Some(&resident),
    )
    .await;
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let s = summary(manager.clone()).await;
    assert_eq!(
        (
            s["handled"].as_i64(),
            s["waiting"].as_i64(),
            s["reopened"].as_i64(),
            s["reopen_rate"].as_f64(),
            s["rating_avg"].as_f64()
        ),
        (Some(0), Some(1), Some(1), Some(1.0), Some(2.0))
    );
    // Resolved again and rated again in the new cycle; a second rating of that cycle is refused
    // and changes nothing.
    for body in [
        json!({"action": "start"}),
        json!({"action": "resolve", "public_note": "Đã làm lại"}),
    ] {
        let resp = crate::accounts::post(
            &app,
            &format!("/api/v1/tickets/{id}/transitions"),
            body,
            Some(&staff),
        )
        .await;
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }
    let r = crate::accounts::post(
        &app,
        &format!("/api/v1/reports/{id}/rating"),
        json!({"score": 5}),
        Some(&resident),
    )
    .await;
    assert_eq!(r.status(), 201);
    let again = crate::accounts::post(
        &app,
        &format!("/api/v1/reports/{id}/rating"),
        json!({"score": 1}),
        Some(&resident),
    )
    .await;
    assert_problem(again, 409, "already_rated").await;
    let s = summary(manager.clone()).await;
    assert_eq!(
        (
            s["handled"].as_i64(),
            s["rating_count"].as_i64(),
            s["rating_avg"].as_f64(),
            s["satisfied_rate"].as_f64()
        ),
        (Some(1), Some(1), Some(5.0), Some(1.0))
    );
    // A transfer moves the report to the other department's figures.
    let other = submit_ok(&app, &resident, &report_body("road", (11.7394, 108.5884))).await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let van_hoa: Uuid = app
        .db
        .client()
        .await
        .query_one(
            "SELECT id FROM departments WHERE code = '24943-van-hoa-xa-hoi'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let resp = crate::accounts::post(
        &app,
        &format!("/api/v1/tickets/{other_id}/transitions"),
        json!({"action": "transfer", "department_id": van_hoa, "internal_note": "Thuộc lĩnh vực văn hóa"}),
        Some(&manager),
    )
    .await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let resp = get_with(&app, "/api/v1/stats/breakdown?by=department", &manager).await;
    let by: Value = resp.json().await.unwrap();
    let got: Vec<(String, i64)> = by["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_owned(),
                i["received"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("24943-kinh-te".to_owned(), 1),
            ("24943-van-hoa-xa-hoi".to_owned(), 1)
        ]
    );
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    assert_eq!(
        phananh::db::stats::rollup_differences(&mut conn)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_rating_racing_a_change_of_its_report_lands_in_the_right_cell() {
    let app = spawn_app().await;
    craft(&app).await;
    let a = app.db.client().await;
    let b = app.db.client().await;
    let id: Uuid = a
        .query_one(
            "SELECT id FROM reports WHERE status = 'resolved' AND reopen_count = 0",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for (change, rating) in [
        (
            "UPDATE reports SET status = 'closed' WHERE id = $1",
            "INSERT INTO report_ratings (report_id, cycle, score) VALUES ($1, 7, 5)",
        ),
        (
            "UPDATE reports SET department_id = (SELECT id FROM departments WHERE code = '24943-van-hoa-xa-hoi') WHERE id = $1",
            "DELETE FROM report_ratings WHERE report_id = $1 AND cycle = 7",
        ),
    ] {
        // A changes the report and holds its transaction open while B rates it.
        a.batch_execute("BEGIN").await.unwrap();
        a.execute(change, &[&id]).await.unwrap();
        let rate = {
            let b = &b;
            async move { b.execute(rating, &[&id]).await.unwrap() }
        };
        let commit = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            a.batch_execute("COMMIT").await.unwrap();
        };
        tokio::join!(rate, commit);
        let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
        assert_eq!(
            phananh::db::stats::rollup_differences(&mut conn)
                .await
                .unwrap(),
            0,
            "{change}"
        );
    }
}

#[tokio::test]
async fn bad_queries_are_400_and_only_the_ioc_managers_and_admins_may_read() {
    let app = spawn_app().await;
    let key = ioc_key(&app).await;
    for query in [
        "/api/v1/stats/summary?from=2026-13-01",
        "/api/v1/stats/summary?to=yesterday",
        "/api/v1/stats/summary?from=2026-10-02&to=2026-10-01",
        "/api/v1/stats/summary?area=99999",
        "/api/v1/stats/summary?category=%27%3B%20DROP%20TABLE%20reports%3B--",
        "/api/v1/stats/breakdown?by=reporter",
        "/api/v1/stats/export.csv?by=phone",
        "/api/v1/stats/timeseries?interval=year",
        "/api/v1/stats/timeseries?interval=day&from=2000-01-01&to=2026-01-01",
        // Dates the calendar library or the database cannot take, or that no report can have.
        "/api/v1/stats/summary?from=%2B262142-12-01&to=%2B262142-12-31",
        "/api/v1/stats/timeseries?interval=day&from=-262143-01-01&to=2026-01-01",
        "/api/v1/stats/summary?from=1999-12-31",
        "/api/v1/stats/breakdown?to=2099-01-01",
    ] {
        let resp = app
            .client
            .get(app.url(query))
            .header("X-Api-Key", &key)
            .send()
            .await
            .unwrap();
        assert_problem(resp, 400, "invalid_query").await;
    }
    // An empty parameter is a missing one.
    let s = stats(
        &app,
        &key,
        "/api/v1/stats/summary?from=&to=&area=&category=&department=",
    )
    .await;
    assert_eq!(s["received"], 0);
    assert_eq!(s["on_time_rate"], Value::Null);
    let resp = app.get("/api/v1/stats/summary").await;
    assert_problem(resp, 401, "unauthorized").await;
    let bad = app
        .client
        .get(app.url("/api/v1/stats/summary"))
        .header("X-Api-Key", "phk_nope")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 401, "invalid_api_key").await;
    // A good key beside a forged token is not let through on the key.
    let both = app
        .client
        .get(app.url("/api/v1/stats/summary"))
        .header("X-Api-Key", &key)
        .bearer_auth("forged.token.value")
        .send()
        .await
        .unwrap();
    assert_problem(both, 401, "unauthorized").await;
    for role in ["citizen", "staff"] {
        let department = (role == "staff").then_some("24943-kinh-te");
        let token = account_token(&app, role, department).await;
        assert_problem(
            get_with(&app, "/api/v1/stats/summary", &token).await,
            403,
            "forbidden",
        )
        .await;
    }
    for role in ["manager", "admin"] {
        let department = (role == "manager").then_some("24943-kinh-te");
        let token = account_token(&app, role, department).await;
        assert_eq!(
            get_with(&app, "/api/v1/stats/breakdown?by=area", &token)
                .await
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn the_csv_export_opens_in_a_spreadsheet() {
    let app = spawn_app().await;
    craft(&app).await;
    let key = ioc_key(&app).await;
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/stats/export.csv?by=department&{OCTOBER}")))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("phananh-department-2026-10-01-2026-10-31.csv")
    );
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte-order mark");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..4], ["key", "name", "received", "handled"]);
    assert!(header.contains(&"resolve_median_working_hours".to_owned()));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let kt = rows.iter().find(|r| &r[0] == "24943-kinh-te").unwrap();
    assert_eq!(&kt[2], "8");
    let vh = rows
        .iter()
        .find(|r| &r[0] == "24943-van-hoa-xa-hoi")
        .unwrap();
    assert!(vh[1].contains("Văn hóa"), "{:?}", &vh[1]);
    // The JSON breakdown and the CSV say the same.
    let by = stats(
        &app,
        &key,
        &format!("/api/v1/stats/breakdown?by=department&{OCTOBER}"),
    )
    .await;
    let late_col = header.iter().position(|h| h == "late").unwrap();
    for item in by["items"].as_array().unwrap() {
        let row = rows
            .iter()
            .find(|r| r[0] == *item["key"].as_str().unwrap())
            .unwrap();
        assert_eq!(row[late_col], item["late"].to_string());
    }
}

//! Latency of the IOC statistics with 1 000 000 synthetic reports, each figure beside the same
//! figure computed by a plain `GROUP BY` over the raw tables in the same run.
//!
//! Loads the history with the release binary (`phananh migrate`, `seed`, `areas import` of the
//! real boundaries, `synth --reports N`) into a database of the local PostgreSQL — or reuses one
//! that already holds enough reports (`STATS_BENCH_DB`) — starts `phananh serve` on it, then for
//! each request kind times `SAMPLES` sequential HTTP requests over random periods (the same
//! seeded periods for every kind) and `BASELINE_SAMPLES` computations of the same figures from
//! scratch (`db::stats::from_scratch_totals` + `exact_percentiles`: `count(*) FILTER …`,
//! `percentile_cont` and a lateral latest-rating join over `reports`), and checks that both give
//! the same counts.
//!
//! `cargo build --release && cargo bench --bench stats_latency` (env: `REPORTS`, default
//! 1000000; `SAMPLES`, default 200; `BASELINE_SAMPLES`, default 20; `STATS_BENCH_DB`, a
//! database name to reuse and keep; `PG_ADMIN_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use phananh::db::stats::{GroupBy, Selection};
use phananh::domain::stats::Interval;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(binary: &std::path::Path, args: &[&str], db_url: &str) -> String {
    let out = Command::new(binary)
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("PHANANH_LOG__FILTER", "warn")
        .stderr(Stdio::inherit())
        .output()
        .expect("run phananh");
    assert!(out.status.success(), "phananh {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::main]
async fn main() {
    let reports: i64 = env_or("REPORTS", 1_000_000);
    let samples: usize = env_or("SAMPLES", 200);
    let baseline_samples: usize = env_or("BASELINE_SAMPLES", 20);
    let admin_url = std::env::var("PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/release/phananh");
    if !binary.exists() {
        eprintln!(
            "{} not found: run `cargo build --release` first",
            binary.display()
        );
        std::process::exit(2);
    }
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    let reuse = std::env::var("STATS_BENCH_DB").ok();
    let db_name = reuse
        .clone()
        .unwrap_or_else(|| format!("phananh_stats_bench_{}", std::process::id()));
    let exists: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&db_name],
        )
        .await
        .unwrap()
        .get(0);
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {db_name}"))
            .await
            .unwrap();
    }
    let db_url = admin_url.rsplit_once('/').unwrap().0.to_owned() + "/" + &db_name;
    run(&binary, &["migrate"], &db_url);
    let (db, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let have: i64 = db
        .query_one("SELECT count(*) FROM reports", &[])
        .await
        .unwrap()
        .get(0);
    if have < reports {
        let t0 = Instant::now();
        run(&binary, &["seed"], &db_url);
        let boundaries = root.join("../shared/data/boundaries/don-duong-communes.geojson");
        run(
            &binary,
            &["areas", "import", boundaries.to_str().unwrap()],
            &db_url,
        );
        let more = (reports - have).to_string();
        run(&binary, &["synth", "--reports", &more], &db_url);
        eprintln!(
            "loaded {more} synthetic reports in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
    }
    for table in ["reports", "stats_rollup", "report_ratings"] {
        db.batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .unwrap();
    }
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let n_reports = count("SELECT count(*) FROM reports").await;
    let n_events = count("SELECT count(*) FROM report_events").await;
    let n_ratings = count("SELECT count(*) FROM report_ratings").await;
    let n_rollup = count("SELECT count(*) FROM stats_rollup").await;
    let first: NaiveDate = db
        .query_one(
            "SELECT min(period) FROM stats_rollup WHERE grain = 'd'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let last: NaiveDate = db
        .query_one(
            "SELECT max(period) FROM stats_rollup WHERE grain = 'd'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let data_dir = tempfile::tempdir().unwrap();
    let port = 19_500 + (std::process::id() % 400) as u16;
    let server = Server(
        Command::new(&binary)
            .arg("serve")
            .env("DATABASE_URL", &db_url)
            .env("PHANANH_LISTEN", format!("127.0.0.1:{port}"))
            .env("PHANANH_DATA_DIR", data_dir.path())
            .env("PHANANH_LOG__FILTER", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let key_name = format!("bench-{}", std::process::id());
    let key = run(&binary, &["apikey", "create", "--name", &key_name], &db_url);
    let mut conn = phananh::db::connect(&db_url).await.unwrap();

    // The periods: random spans inside the history (seeded, the same for every kind), and the
    // whole history.
    let span = (last - first).num_days().max(1);
    let mut rng = StdRng::seed_from_u64(2026);
    let periods: Vec<(NaiveDate, NaiveDate)> = (0..samples.max(baseline_samples))
        .map(|_| {
            let a = first + chrono::Duration::days(rng.random_range(0..=span));
            let b = first + chrono::Duration::days(rng.random_range(0..=span));
            (a.min(b), a.max(b))
        })
        .collect();
    let whole = vec![(first, last); samples.max(baseline_samples)];

    println!(
        "{n_reports} reports, {n_events} events, {n_ratings} ratings, {n_rollup} rollup rows; history {first} … {last}"
    );
    println!(
        "API: {samples} sequential HTTP requests (rollup); GROUP BY: {baseline_samples} computations from the raw tables (same periods)"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>13} {:>13} {:>8}",
        "figure", "API p50 ms", "API p99 ms", "GROUP BY p50", "GROUP BY p99", "equal"
    );
    type Case<'a> = (&'a str, &'a str, GroupBy, &'a Vec<(NaiveDate, NaiveDate)>);
    let cases: Vec<Case> = vec![
        (
            "summary, random period",
            "/api/v1/stats/summary",
            GroupBy::Nothing,
            &periods,
        ),
        (
            "summary, whole history",
            "/api/v1/stats/summary",
            GroupBy::Nothing,
            &whole,
        ),
        (
            "breakdown by category",
            "/api/v1/stats/breakdown?by=category",
            GroupBy::Category,
            &periods,
        ),
        (
            "breakdown by area",
            "/api/v1/stats/breakdown?by=area",
            GroupBy::Area,
            &periods,
        ),
        (
            "breakdown by department",
            "/api/v1/stats/breakdown?by=department",
            GroupBy::Department,
            &periods,
        ),
        (
            "breakdown by status",
            "/api/v1/stats/breakdown?by=status",
            GroupBy::Status,
            &periods,
        ),
        (
            "timeseries, monthly",
            "/api/v1/stats/timeseries?interval=month",
            GroupBy::Bucket(Interval::Month),
            &periods,
        ),
        (
            "timeseries, monthly, whole history",
            "/api/v1/stats/timeseries?interval=month",
            GroupBy::Bucket(Interval::Month),
            &whole,
        ),
    ];
    for (name, path, group, spans) in cases {
        let sep = if path.contains('?') { '&' } else { '?' };
        let get = |from: NaiveDate, to: NaiveDate| {
            http.get(format!("{base}{path}{sep}from={from}&to={to}"))
                .header("X-Api-Key", &key)
                .send()
        };
        for &(a, b) in spans.iter().take(3) {
            get(a, b).await.unwrap().bytes().await.unwrap();
        }
        let mut api = Vec::with_capacity(samples);
        let mut bodies = Vec::new();
        for &(from, to) in spans.iter().take(samples) {
            let t = Instant::now();
            let resp = get(from, to).await.unwrap();
            assert!(resp.status().is_success(), "{name}: {}", resp.status());
            let body = resp.bytes().await.unwrap();
            api.push(t.elapsed());
            if bodies.len() < baseline_samples {
                bodies.push(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
            }
        }
        api.sort();
        let mut scratch = Vec::with_capacity(baseline_samples);
        let mut equal = 0;
        for (i, &(from, to)) in spans.iter().take(baseline_samples).enumerate() {
            let sel = Selection {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            };
            let t = Instant::now();
            let totals = phananh::db::stats::from_scratch_totals(&mut conn, &sel, group)
                .await
                .unwrap();
            let _ = phananh::db::stats::exact_percentiles(&mut conn, &sel, group)
                .await
                .unwrap();
            scratch.push(t.elapsed());
            // Same counts? (received, late, rated per group, summed over the groups.)
            let want: (i64, i64, i64) = totals.iter().fold((0, 0, 0), |acc, (_, t)| {
                (
                    acc.0 + t.by_status.iter().sum::<i64>(),
                    acc.1 + t.late,
                    acc.2 + t.rated,
                )
            });
            let body = &bodies[i];
            let got = match body["items"].as_array() {
                Some(items) => items.iter().fold((0, 0, 0), |acc, it| {
                    (
                        acc.0 + it["received"].as_i64().unwrap_or(0),
                        acc.1 + it["late"].as_i64().unwrap_or(0),
                        acc.2 + it["rating_count"].as_i64().unwrap_or(0),
                    )
                }),
                None => (
                    body["received"].as_i64().unwrap_or(0),
                    body["late"].as_i64().unwrap_or(0),
                    body["rating_count"].as_i64().unwrap_or(0),
                ),
            };
            if got == want {
                equal += 1;
            } else {
                eprintln!("{name} {from}..{to}: API {got:?} vs GROUP BY {want:?}");
            }
        }
        scratch.sort();
        println!(
            "{name:<34} {:>10.2} {:>10.2} {:>13.1} {:>13.1} {:>8}",
            percentile(&api, 0.5),
            percentile(&api, 0.99),
            percentile(&scratch, 0.5),
            percentile(&scratch, 0.99),
            format!("{equal}/{}", scratch.len()),
        );
    }

    // Percentile accuracy over the whole history (interpolated vs exact).
    let resp: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/stats/summary?from={first}&to={last}"
        ))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sel = Selection {
        from: Some(first),
        to: Some(last),
        ..Default::default()
    };
    let exact = phananh::db::stats::exact_percentiles(&mut conn, &sel, GroupBy::Nothing)
        .await
        .unwrap();
    if let Some((_, p)) = exact.first() {
        println!(
            "whole history percentiles (exact={}): interpolated vs exact hours",
            resp["percentiles_exact"]
        );
        for (field, value) in [
            ("ack_median_hours", p.ack_median),
            ("ack_median_working_hours", p.ack_median_working),
            ("resolve_median_hours", p.resolve_median),
            ("resolve_median_working_hours", p.resolve_median_working),
            ("resolve_p90_hours", p.resolve_p90),
            ("resolve_p90_working_hours", p.resolve_p90_working),
        ] {
            let got = resp[field].as_f64().unwrap_or(f64::NAN);
            let want = value.unwrap_or(f64::NAN);
            println!(
                "  {field:<30} {got:>9.2} {want:>9.2}  ({:+.2} %)",
                (got - want) / want * 100.0
            );
        }
    }
    drop(server);
    let _ = run(&binary, &["apikey", "revoke", "--name", &key_name], &db_url);
    if reuse.is_none() {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
            .await;
    }
}

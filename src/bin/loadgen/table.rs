//! `loadgen table FILE`: the markdown tables of docs/benchmarks.md from the JSON lines the runs
//! appended to FILE (`mix`, `floor`, `pipeline` from loadgen; `pgbench` written by the script as
//! `{"kind":"pgbench","clients":16,"tps":…,"latency_avg_ms":…}`).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct TableArgs {
    /// The JSON lines file
    pub file: PathBuf,
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn rate(v: Option<f64>) -> String {
    match v {
        None => "–".to_owned(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "–".to_owned(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn errors(op: &Value) -> String {
    match op["errors"].as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{} × {k}", v.as_u64().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "0".to_owned(),
    }
}

pub fn render(lines: &[Value]) -> String {
    fn of_kind<'a>(lines: &'a [Value], k: &'static str) -> impl Iterator<Item = &'a Value> {
        lines.iter().filter(move |l| l["kind"] == k)
    }
    let floor = of_kind(lines, "floor").last();
    let pgbench = of_kind(lines, "pgbench").last();
    let pipeline = of_kind(lines, "pipeline").last();
    let floor_rps = floor.and_then(|f| num(&f["ops"][0]["throughput"]));
    let pg_tps = pgbench.and_then(|p| num(&p["tps"]));
    let reports_s = pipeline.and_then(|p| num(&p["reports_per_s"]));

    let read_limit = format!(
        "pgbench -S {} TPS · HTTP floor {} req/s",
        rate(pg_tps),
        rate(floor_rps)
    );
    let submit_limit = format!(
        "photo pipeline {} reports/s ({} threads)",
        rate(reports_s),
        pipeline.map_or("?".to_owned(), |p| p["threads"].to_string())
    );

    let mut out = String::new();
    out.push_str("| run | operation | throughput (ops/s) | p50 (ms) | p99 (ms) | errors | limit, measured in the same run |\n");
    out.push_str("|---|---|---:|---:|---:|---|---|\n");
    for run in of_kind(lines, "mix") {
        let servers = run["servers"].as_u64().unwrap_or(1);
        let run_name = match run["only"].as_str() {
            Some(only) => format!("{only} alone, {servers} server(s)"),
            None => format!(
                "mix, {servers} server process{}",
                if servers == 1 { "" } else { "es" }
            ),
        };
        let clients = match num(&run["rate"]) {
            Some(r) => format!("{r} ops/s open loop"),
            None => format!("{} clients", run["concurrency"]),
        };
        for op in run["ops"].as_array().into_iter().flatten() {
            let name = op["op"].as_str().unwrap_or("?");
            let step = name.starts_with(' ');
            let limit = match name.trim() {
                "submission" => submit_limit.clone(),
                _ if step => String::new(),
                _ => read_limit.clone(),
            };
            let _ = writeln!(
                out,
                "| {run_name} ({clients}) | {} | {} | {} | {} | {} | {limit} |",
                if step {
                    format!("↳ {}", name.trim())
                } else {
                    name.to_owned()
                },
                rate(num(&op["throughput"])),
                ms(num(&op["p50_ms"])),
                ms(num(&op["p99_ms"])),
                errors(op),
            );
        }
        if run["only"].is_null() {
            let _ = writeln!(
                out,
                "| {run_name} ({clients}) | **all operations** | **{}** | | | | HTTP floor {} req/s |",
                rate(num(&run["total"]["throughput"])),
                rate(floor_rps)
            );
        }
    }

    out.push_str("\n| limit | what was measured | throughput | p50 (ms) | p99 (ms) |\n");
    out.push_str("|---|---|---:|---:|---:|\n");
    if let Some(f) = floor {
        let _ = writeln!(
            out,
            "| HTTP floor | plain actix-web \"hello\" handler, {} workers, {} clients (same client as the mix) | {} req/s | {} | {} |",
            f["workers"],
            f["concurrency"],
            rate(floor_rps),
            ms(num(&f["ops"][0]["p50_ms"])),
            ms(num(&f["ops"][0]["p99_ms"])),
        );
    }
    if let Some(p) = pgbench {
        let _ = writeln!(
            out,
            "| one-row reads | `pgbench -S -c {} -j 2` (primary-key SELECT) on this PostgreSQL | {} TPS | {} (average) | – |",
            p["clients"],
            rate(pg_tps),
            ms(num(&p["latency_avg_ms"])),
        );
    }
    if let Some(p) = pipeline {
        let _ = writeln!(
            out,
            "| photo pipeline | `media::pipeline::process` on the {} photos of a submission, {} threads | {} reports/s ({} photos/s) | {} per photo | {} per photo |",
            p["photos_per_report"],
            p["threads"],
            rate(reports_s),
            rate(num(&p["photos_per_s"])),
            ms(num(&p["ops"][0]["p50_ms"])),
            ms(num(&p["ops"][0]["p99_ms"])),
        );
    }
    out
}

pub fn run(args: TableArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("a line is not JSON")?;
    crate::write_out(&render(&lines))
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn rows_and_limits() {
        let op = |name: &str, throughput: f64| {
            json!({"op": name, "count": 10, "ok": 9, "throughput": throughput, "p50_ms": 4.3,
                   "p99_ms": 120.0, "max_ms": 130.0, "errors": {"503": 1}})
        };
        let lines = vec![
            json!({"kind": "mix", "label": "one-server", "servers": 1, "only": null,
                   "concurrency": 16, "rate": null, "total": {"throughput": 53.5},
                   "ops": [op("feed", 17.94), op("submission", 11.0), op("  (photo upload)", 22.0)]}),
            json!({"kind": "mix", "label": "feed-alone", "servers": 1, "only": "feed",
                   "concurrency": 16, "rate": null, "ops": [op("feed", 134.2)]}),
            json!({"kind": "pgbench", "clients": 16, "tps": 32611.4, "latency_avg_ms": 0.49}),
            json!({"kind": "pipeline", "threads": 2, "photos_per_report": 2, "photos_per_s": 32.2,
                   "reports_per_s": 16.1, "ops": [op("photo", 32.2)]}),
            json!({"kind": "floor", "workers": 2, "concurrency": 16, "ops": [op("hello", 66803.0)]}),
        ];
        let table = render(&lines);
        assert!(table.contains(
            "| mix, 1 server process (16 clients) | feed | 17.9 | 4.3 | 120 | 1 × 503 | pgbench -S 32611 TPS · HTTP floor 66803 req/s |"
        ), "{table}");
        assert!(table.contains("| submission | 11.0 | 4.3 | 120 | 1 × 503 | photo pipeline 16.1 reports/s (2 threads) |"), "{table}");
        assert!(table.contains("| ↳ (photo upload) | 22.0 |"), "{table}");
        assert!(
            table.contains("| feed alone, 1 server(s) (16 clients) | feed | 134 |"),
            "{table}"
        );
        assert!(
            table.contains("| **all operations** | **53.5** |"),
            "{table}"
        );
        assert!(table.contains("| one-row reads |"), "{table}");
    }
}

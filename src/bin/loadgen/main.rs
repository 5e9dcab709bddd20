//! `loadgen`: load and limits for docs/benchmarks.md and docs/soak.md (issue 10).
//!
//! - `loadgen mix --url URL [--url URL2] --concurrency 16 --duration 30s [--rate R] [--only OP]`:
//!   the realistic mix (feed 35 %, detail 30 %, staff queue 15 %, submission with two photos 20 %);
//! - `loadgen floor`: a plain actix-web handler in this process, the HTTP floor;
//! - `loadgen pipeline --threads N`: the photo pipeline alone (reports/s);
//! - `loadgen table FILE`: the markdown tables from the JSON lines the runs wrote.
//!
//! Every run prints a human-readable block and then one JSON line (also appended to
//! `--json-out FILE`).

mod drive;
mod floor;
mod mix;
mod pipeline;
mod stats;
mod table;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator and limits for phananh (docs/benchmarks.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The realistic mix against one or more server processes
    Mix(mix::MixArgs),
    /// The HTTP floor: a plain actix-web "hello" handler started in this process
    Floor(floor::FloorArgs),
    /// The photo pipeline alone, called directly on the submission photos
    Pipeline(pipeline::PipelineArgs),
    /// The markdown tables for docs/benchmarks.md from the runs' JSON lines
    Table(table::TableArgs),
}

/// `30s`, `5m`, `1h`, `250ms` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (e.g. 30s, 5m, 1h)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (ms, s, m, h)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("not a duration: {text:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The report output goes to stdout.
pub fn write_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints the human-readable block and the JSON line; appends the line to `json_out` too.
pub fn emit(text: &str, line: &serde_json::Value, json_out: Option<&Path>) -> anyhow::Result<()> {
    let line = serde_json::to_string(line)?;
    write_out(&format!("{text}{line}\n"))?;
    if let Some(path) = json_out {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Pipeline(args) => pipeline::run(args),
        Command::Table(args) => table::run(args),
        Command::Mix(args) => runtime()?.block_on(mix::run(args)),
        Command::Floor(args) => runtime()?.block_on(floor::run(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }
}

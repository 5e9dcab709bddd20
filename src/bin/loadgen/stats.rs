//! Per-operation measurements: every successful duration is kept (a 30-minute soak at 10 ops/s
//! is 18 000 values), sorted once at the end for exact percentiles; failures are counted by kind
//! (the HTTP status, or `io`, `timeout`, `overload`, …).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Default)]
struct OpData {
    ok_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

/// Collects durations and errors for a fixed list of operation names.
pub struct Recorder {
    names: Vec<&'static str>,
    data: Vec<Mutex<OpData>>,
}

impl Recorder {
    pub fn new(names: &[&'static str]) -> Self {
        Self {
            names: names.to_vec(),
            data: names.iter().map(|_| Mutex::default()).collect(),
        }
    }

    pub fn ok(&self, op: usize, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.data[op].lock().expect("recorder lock").ok_us.push(us);
    }

    pub fn error(&self, op: usize, kind: &str) {
        *self.data[op]
            .lock()
            .expect("recorder lock")
            .errors
            .entry(kind.to_owned())
            .or_insert(0) += 1;
    }

    /// (successes, errors) of one operation so far.
    pub fn counts(&self, op: usize) -> (u64, u64) {
        let d = self.data[op].lock().expect("recorder lock");
        (d.ok_us.len() as u64, d.errors.values().sum())
    }

    /// One report per operation that ran at least once (or every one when `all`).
    pub fn reports(&self, elapsed: Duration, all: bool) -> Vec<OpReport> {
        self.names
            .iter()
            .zip(&self.data)
            .filter_map(|(name, data)| {
                let mut d = data.lock().expect("recorder lock");
                let errors = d.errors.clone();
                let failed: u64 = errors.values().sum();
                if !all && d.ok_us.is_empty() && failed == 0 {
                    return None;
                }
                d.ok_us.sort_unstable();
                let ok = d.ok_us.len() as u64;
                Some(OpReport {
                    op: (*name).to_owned(),
                    count: ok + failed,
                    ok,
                    throughput: ok as f64 / elapsed.as_secs_f64(),
                    p50_ms: percentile(&d.ok_us, 0.50),
                    p99_ms: percentile(&d.ok_us, 0.99),
                    max_ms: d.ok_us.last().map(|&us| us as f64 / 1000.0),
                    errors,
                })
            })
            .collect()
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u64], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = (p * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    Some(sorted_us[index] as f64 / 1000.0)
}

/// What one operation did during a run. Latencies are of the successful ones only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpReport {
    pub op: String,
    /// Attempts: successes + errors.
    pub count: u64,
    pub ok: u64,
    /// Successes per second of the run.
    pub throughput: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Failures by kind: the HTTP status (`"503"`) or `io`, `timeout`, `overload`, `body`.
    pub errors: BTreeMap<String, u64>,
}

impl OpReport {
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".to_owned();
        }
        self.errors
            .iter()
            .map(|(k, v)| format!("{v}×{k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A human-readable block of the reports.
pub fn render(reports: &[OpReport]) -> String {
    let mut out = format!(
        "{:<20} {:>8} {:>10} {:>10} {:>10} {:>10}  errors\n",
        "operation", "count", "ok/s", "p50 ms", "p99 ms", "max ms"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for r in reports {
        out.push_str(&format!(
            "{:<20} {:>8} {:>10.1} {:>10} {:>10} {:>10}  {}\n",
            r.op,
            r.count,
            r.throughput,
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms),
            r.errors_text()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&[7000], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}

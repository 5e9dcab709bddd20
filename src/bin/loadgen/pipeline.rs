//! The photo pipeline alone: `phananh::media::pipeline::process` (what every upload runs) on the
//! same two phone photos as the mix's submissions, on N threads, no HTTP and no storage. Two
//! photos make a report, so reports/s = photos/s ÷ 2: the most submissions this machine's CPUs
//! could take.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use phananh::media::pipeline::{PhotoLimits, process};
use serde_json::json;

use crate::stats::Recorder;

#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Threads processing photos at once (default: the number of cores, the server's
    /// `media.decode_concurrency` default)
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value = "30s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    #[arg(
        long = "photo",
        num_args = 1,
        default_values = ["../shared/data/photos/phones/HMD_Nokia_8.3_5G.jpg", "../shared/data/photos/phones/iphone_hdr_YES.jpg"]
    )]
    pub photos: Vec<PathBuf>,
    #[arg(long, default_value = "pipeline")]
    pub label: String,
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

pub fn run(args: PipelineArgs) -> anyhow::Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let photos: Arc<Vec<Vec<u8>>> = Arc::new(
        args.photos
            .iter()
            .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
            .collect::<anyhow::Result<_>>()?,
    );
    let limits = PhotoLimits::default();
    for photo in photos.iter() {
        process(photo, &limits).context("the pipeline refused a benchmark photo")?;
    }
    let rec = Arc::new(Recorder::new(&["photo"]));
    let begin = Instant::now();
    let end = begin + args.duration;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (photos, rec, limits) = (photos.clone(), rec.clone(), limits.clone());
            std::thread::spawn(move || {
                let mut i = t;
                while Instant::now() < end {
                    let started = Instant::now();
                    match process(&photos[i % photos.len()], &limits) {
                        Ok(_) => rec.ok(0, started.elapsed()),
                        Err(_) => rec.error(0, "refused"),
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a pipeline thread panicked"))?;
    }
    let elapsed = begin.elapsed();
    let reports = rec.reports(elapsed, true);
    let photos_per_s = reports[0].throughput;
    let per_report = photos.len().max(1) as f64;
    let line = json!({
        "kind": "pipeline",
        "label": args.label,
        "threads": threads,
        "photos_per_report": photos.len(),
        "duration_s": elapsed.as_secs_f64(),
        "photos_per_s": photos_per_s,
        "reports_per_s": photos_per_s / per_report,
        "ops": reports,
    });
    let text = format!(
        "photo pipeline alone, {threads} threads for {:.1} s: {:.2} photos/s = {:.2} reports/s ({} photos each)\n{}",
        elapsed.as_secs_f64(),
        photos_per_s,
        photos_per_s / per_report,
        photos.len(),
        crate::stats::render(&reports)
    );
    crate::emit(&text, &line, args.json_out.as_deref())
}

//! What one photo costs: `media::pipeline::process` (sniff, DCT-scaled mozjpeg decode, Lanczos3
//! resize to 1600 px and 320 px, orientation, two baseline JPEG encodes) on a synthetic 12 MP
//! photo and two real phone photos, compared with libjpeg-turbo's own `djpeg` decoding the same
//! file at full size and at the DCT scale the pipeline picked.
//!
//!     cargo bench --bench photo_pipeline -- --warm-up-time 1 --measurement-time 5
//!
//! The `djpeg` figures are medians of 15 runs of the command minus the median of running it on an
//! 8×8 JPEG (process start-up), so they approximate decode time alone. Everything is single
//! threaded. A second group compares the two candidate resize filters on the display step.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use phananh::media::pipeline::{PhotoLimits, chosen_scale, process};

const DJPEG_RUNS: usize = 15;

struct Input {
    name: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
}

fn photos_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/photos"
    ))
}

/// 4000 × 3000 of smooth gradients, a few soft waves and fine noise, so it compresses like a
/// photo (a few MB at q90) rather than like a flat test card. 4:2:0 like phone cameras.
fn synthetic_photo(width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 58) as i32 - 32 // -32..=31
    };
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let wave = ((fx * 37.0).sin() * (fy * 23.0).cos() * 40.0) as i32;
            let base = [
                (fx * 200.0) as i32 + 30,
                (fy * 180.0) as i32 + 40,
                ((1.0 - fx) * fy * 220.0) as i32 + 20,
            ];
            let n = noise() / 3;
            for c in base {
                px.push((c + wave + n).clamp(0, 255) as u8);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder
        .encode(&px, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode synthetic photo");
    out
}

fn write_temp(bytes: &[u8]) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .suffix(".jpg")
        .tempfile()
        .expect("temp file");
    file.write_all(bytes).expect("write temp file");
    file.into_temp_path()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn djpeg_available() -> bool {
    Command::new("djpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Median wall time of `djpeg [-scale M/8] -outfile /dev/null FILE`.
fn time_djpeg(file: &Path, scale: Option<u8>) -> Duration {
    let runs = (0..DJPEG_RUNS)
        .map(|_| {
            let mut cmd = Command::new("djpeg");
            if let Some(m) = scale {
                cmd.arg("-scale").arg(format!("{m}/8"));
            }
            cmd.arg("-outfile").arg("/dev/null").arg(file);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let start = Instant::now();
            let status = cmd.status().expect("run djpeg");
            let elapsed = start.elapsed();
            assert!(status.success(), "djpeg failed on {}", file.display());
            elapsed
        })
        .collect();
    median(runs)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(c: &mut Criterion) {
    let synthetic = synthetic_photo(4000, 3000);
    let synthetic_file = write_temp(&synthetic);
    let mut inputs = vec![Input {
        name: "synthetic 4000x3000 q90",
        path: synthetic_file.to_path_buf(),
        bytes: synthetic,
    }];
    for (name, file) in [
        ("HMD_Nokia_8.3_5G.jpg", "phones/HMD_Nokia_8.3_5G.jpg"),
        ("iphone_hdr_YES.jpg", "phones/iphone_hdr_YES.jpg"),
    ] {
        let path = photos_dir().join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        inputs.push(Input { name, path, bytes });
    }

    let limits = PhotoLimits::default();
    // Per-iteration times of every sample criterion takes, kept to print the comparison table.
    let mut pipeline_times: Vec<(Duration, u32, u32)> = Vec::new();
    let mut group = c.benchmark_group("photo_pipeline");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    for input in &inputs {
        let samples: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let recorded = Arc::clone(&samples);
        group.bench_function(input.name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(process(std::hint::black_box(&input.bytes), &limits))
                        .expect("process");
                }
                let elapsed = start.elapsed();
                if let Ok(mut s) = recorded.lock() {
                    s.push(elapsed / u32::try_from(iters.max(1)).unwrap_or(u32::MAX));
                }
                elapsed
            })
        });
        let photo = process(&input.bytes, &limits).expect("process");
        let mut recorded = samples.lock().map(|s| s.clone()).unwrap_or_default();
        if recorded.is_empty() {
            // Filtered out on the command line: time a few runs directly for the table.
            recorded = (0..5)
                .map(|_| {
                    let start = Instant::now();
                    let _ = std::hint::black_box(process(&input.bytes, &limits));
                    start.elapsed()
                })
                .collect();
        }
        pipeline_times.push((median(recorded), photo.width, photo.height));
    }
    group.finish();

    bench_filters(c);

    println!();
    if !djpeg_available() {
        println!("djpeg not found on PATH (libjpeg-turbo-progs): comparison skipped.");
        for (input, (t, w, h)) in inputs.iter().zip(&pipeline_times) {
            println!("{:<26} {w}x{h}  pipeline {:.1} ms", input.name, ms(*t));
        }
        return;
    }
    let tiny = {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&[128u8; 8 * 8 * 3], 8, 8, jpeg_encoder::ColorType::Rgb)
            .expect("encode tiny");
        write_temp(&out)
    };
    let startup = time_djpeg(&tiny, None);
    println!(
        "djpeg start-up baseline (8x8 JPEG, median of {DJPEG_RUNS}): {:.2} ms, subtracted below",
        ms(startup)
    );
    println!(
        "{:<26} {:>11} {:>5} {:>12} {:>11} {:>13} {:>10} {:>12}",
        "photo",
        "size",
        "scale",
        "pipeline ms",
        "djpeg full",
        "djpeg scaled",
        "pipe/full",
        "pipe/scaled"
    );
    for (input, (pipeline, w, h)) in inputs.iter().zip(&pipeline_times) {
        let m = chosen_scale(*w, *h);
        let full = time_djpeg(&input.path, None).saturating_sub(startup);
        let scaled = time_djpeg(&input.path, Some(m)).saturating_sub(startup);
        let ratio = |d: Duration| {
            if d.is_zero() {
                f64::NAN
            } else {
                ms(*pipeline) / ms(d)
            }
        };
        println!(
            "{:<26} {:>11} {:>5} {:>12.1} {:>11.1} {:>13.1} {:>10.2} {:>12.2}",
            input.name,
            format!("{w}x{h}"),
            format!("{m}/8"),
            ms(*pipeline),
            ms(full),
            ms(scaled),
            ratio(full),
            ratio(scaled)
        );
    }
    drop(synthetic_file);
}

/// The display step on its own: a ½-scale decode of a 12 MP photo (2000 × 1500) to 1600 × 1200.
fn bench_filters(c: &mut Criterion) {
    let (w, h) = (2000u32, 1500u32);
    let src: Vec<u8> = (0..w * h * 3)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let src = ImageRef::new(w, h, &src, PixelType::U8x3).expect("source view");
    let mut group = c.benchmark_group("resize 2000x1500 -> 1600x1200");
    group.sample_size(20);
    for (name, filter) in [
        ("Lanczos3", FilterType::Lanczos3),
        ("CatmullRom", FilterType::CatmullRom),
    ] {
        let mut resizer = Resizer::new();
        let mut dst = Image::new(1600, 1200, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
        group.bench_function(name, |b| {
            b.iter(|| resizer.resize(&src, &mut dst, &options).expect("resize"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

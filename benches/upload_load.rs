//! Peak memory of the server while many residents upload large photos at once.
//!
//! Starts the release binary (`cargo build --release` first) as its own process against a fresh
//! database on the local PostgreSQL, makes a ~10 MB JPEG, fires N simultaneous uploads and samples
//! the server's resident memory (VmRSS from /proc) every 10 ms. Prints the baseline, the peak,
//! the time for all uploads and how many succeeded.
//!
//! `cargo build --release && cargo bench --bench upload_load` (env: `CLIENTS`, default 50;
//! `PG_ADMIN_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A photo-like JPEG of about `target` bytes: smooth gradients under fine noise, high quality.
fn big_jpeg(target: usize) -> Vec<u8> {
    let (w, h) = (4608u32, 3456u32); // 16 MP, a common phone sensor
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed & 0x7f) as u32;
            pixels.push(((x * 255 / w + noise) % 256) as u8);
            pixels.push(((y * 255 / h + noise / 2) % 256) as u8);
            pixels.push((((x + y) * 255 / (w + h) + noise) % 256) as u8);
        }
    }
    for quality in [100u8, 98, 96, 94, 92, 90, 85] {
        let mut out = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        encoder
            .encode(&pixels, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        if out.len() <= target {
            return out;
        }
    }
    panic!("could not make a JPEG under {target} bytes");
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let clients: usize = std::env::var("CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let admin_url = std::env::var("PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/phananh");
    if !binary.exists() {
        eprintln!(
            "{} not found: run `cargo build --release` first",
            binary.display()
        );
        std::process::exit(2);
    }

    let db_name = format!("phananh_upload_bench_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {db_name}"))
        .await
        .unwrap();
    let db_url = admin_url.rsplit_once('/').unwrap().0.to_owned() + "/" + &db_name;

    eprintln!("making a ~10 MB JPEG…");
    let photo = Arc::new(big_jpeg(10 * 1024 * 1024));
    eprintln!("photo: {:.1} MB, 4608×3456", photo.len() as f64 / 1e6);

    let data_dir = tempfile::tempdir().unwrap();
    let port = 18_000 + (std::process::id() % 1000) as u16;
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
    let pid = server.0.id();
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
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let register: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"phone": "0912000111", "password": "núi Langbiang 2026", "full_name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = register["access_token"].as_str().unwrap().to_owned();

    // Warm up: one upload, then let the allocator settle.
    let one = |photo: Arc<Vec<u8>>| {
        let http = http.clone();
        let url = format!("{base}/api/v1/media");
        let token = token.clone();
        async move {
            let part = reqwest::multipart::Part::bytes(photo.as_ref().clone())
                .file_name("big.jpg")
                .mime_str("image/jpeg")
                .unwrap();
            let form = reqwest::multipart::Form::new().part("file", part);
            http.post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(one(photo.clone()).await, 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(pid);

    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let t0 = Instant::now();
    let statuses = futures::future::join_all((0..clients).map(|_| one(photo.clone()))).await;
    let elapsed = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let ok = statuses.iter().filter(|s| **s == 201).count();

    println!(
        "{clients} simultaneous uploads of a {:.1} MB 16 MP JPEG: {ok} stored in {:.1} s ({:.2} photos/s)",
        photo.len() as f64 / 1e6,
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64()
    );
    println!(
        "server RSS: baseline {:.0} MiB, peak {:.0} MiB (+{:.0} MiB)",
        baseline as f64 / 1024.0,
        peak.load(Ordering::Relaxed) as f64 / 1024.0,
        (peak.load(Ordering::Relaxed) - baseline) as f64 / 1024.0
    );
    if ok != clients {
        let mut counts = std::collections::BTreeMap::new();
        for s in statuses {
            *counts.entry(s).or_insert(0) += 1;
        }
        println!("statuses: {counts:?}");
    }
    drop(server);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .await;
}

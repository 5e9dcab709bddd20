//! The HTTP floor: a plain actix-web handler answering "hello", with as many workers as the
//! server has, started in this process on a free port and loaded like the mix (closed loop, same
//! HTTP client). No route in the real server can be faster than this on the same machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use serde_json::json;
use tokio::time::Instant;

use crate::drive::{self, Load};
use crate::stats::Recorder;

#[derive(Debug, clap::Args)]
pub struct FloorArgs {
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[arg(long, default_value = "30s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// Worker threads of the hello server (default: PHANANH_HTTP__WORKERS, else the number of
    /// cores, as `phananh serve` does)
    #[arg(long)]
    pub workers: Option<usize>,
    #[arg(long, default_value = "floor")]
    pub label: String,
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

struct Hello {
    http: reqwest::Client,
    url: String,
    rec: Recorder,
}

impl Load for Hello {
    async fn run(self: Arc<Self>, started: Instant) {
        let result = match self.http.get(&self.url).send().await {
            Ok(r) if r.status().is_success() => {
                r.bytes().await.map(|_| ()).map_err(|_| "body".to_owned())
            }
            Ok(r) => Err(r.status().as_u16().to_string()),
            Err(e) if e.is_timeout() => Err("timeout".to_owned()),
            Err(_) => Err("io".to_owned()),
        };
        match result {
            Ok(()) => self.rec.ok(0, started.elapsed()),
            Err(kind) => self.rec.error(0, &kind),
        }
    }

    fn overload(&self) {
        self.rec.error(0, "overload");
    }
}

pub async fn run(args: FloorArgs) -> anyhow::Result<()> {
    let workers = args
        .workers
        .or_else(|| std::env::var("PHANANH_HTTP__WORKERS").ok()?.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let (tx, rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                HttpServer::new(|| App::new().route("/", web::get().to(|| async { "hello" })))
                    .workers(workers)
                    .bind(("127.0.0.1", 0))?;
            let port = server.addrs()[0].port();
            let running = server.run();
            let _ = tx.send((port, running.handle()));
            running.await
        })
    });
    let (port, handle) = rx.recv()?;
    let load = Arc::new(Hello {
        http: crate::mix::client()?,
        url: format!("http://127.0.0.1:{port}/"),
        rec: Recorder::new(&["hello"]),
    });
    let elapsed = drive::closed_loop(load.clone(), args.concurrency, args.duration).await;
    handle.stop(true).await;
    server_thread
        .join()
        .map_err(|_| anyhow::anyhow!("hello server thread panicked"))??;

    let reports = load.rec.reports(elapsed, true);
    let line = json!({
        "kind": "floor",
        "label": args.label,
        "workers": workers,
        "concurrency": args.concurrency,
        "duration_s": elapsed.as_secs_f64(),
        "ops": reports,
    });
    let text = format!(
        "HTTP floor: plain actix-web hello handler, {workers} workers, {} clients for {:.1} s\n{}",
        args.concurrency,
        elapsed.as_secs_f64(),
        crate::stats::render(&reports)
    );
    crate::emit(&text, &line, args.json_out.as_deref())
}

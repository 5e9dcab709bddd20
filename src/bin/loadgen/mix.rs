//! The realistic mix against one or more server processes: public feed pages, report details,
//! the staff queue, and submissions with two real phone photos (two uploads to `/media`, then
//! `POST /reports` with both ids — one submission is the whole sequence, timed end to end).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::drive::{self, Load};
use crate::stats::{OpReport, Recorder};

/// The operations of the mix, in the recorder's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    Feed,
    Detail,
    Queue,
    Submission,
}

impl Op {
    const ALL: [Op; 4] = [Op::Feed, Op::Detail, Op::Queue, Op::Submission];
    /// Percent of the mix: feed 35, detail 30, queue 15, submission 20.
    const WEIGHTS: [u32; 4] = [35, 30, 15, 20];

    fn index(self) -> usize {
        self as usize
    }
}

/// Recorder slots: the four operations, then the two steps of a submission (for information).
const NAMES: [&str; 6] = [
    "feed",
    "detail",
    "queue",
    "submission",
    "  (photo upload)",
    "  (report create)",
];
const UPLOAD: usize = 4;
const CREATE: usize = 5;

#[derive(Debug, clap::Args)]
pub struct MixArgs {
    /// Server base URL (repeat for several processes: requests go round-robin)
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Clients in flight (closed loop); with --rate, the most requests in flight at once is 16×
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long, e.g. 30s, 5m, 1h
    #[arg(long, default_value = "30s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// Open loop at this many operations per second (the soak); default: closed loop
    #[arg(long)]
    pub rate: Option<f64>,
    /// Run this operation alone
    #[arg(long, value_enum)]
    pub only: Option<Op>,
    /// Staff login (phone or email) for the queue
    #[arg(long, env = "LOADGEN_STAFF_LOGIN")]
    pub staff_login: String,
    /// Staff password
    #[arg(long, env = "LOADGEN_STAFF_PASSWORD", hide_env_values = true)]
    pub staff_password: String,
    /// Citizens registered at start (submissions rotate over them)
    #[arg(long, default_value_t = 4)]
    pub citizens: usize,
    /// The two photos of every submission
    #[arg(
        long = "photo",
        num_args = 1,
        default_values = ["../shared/data/photos/phones/HMD_Nokia_8.3_5G.jpg", "../shared/data/photos/phones/iphone_hdr_YES.jpg"]
    )]
    pub photos: Vec<PathBuf>,
    /// Name of this run in the JSON line (for `loadgen table`)
    #[arg(long, default_value = "mix")]
    pub label: String,
    /// Append the JSON line to this file as well
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Print cumulative counts to stderr this often (0: never)
    #[arg(long, default_value = "0s", value_parser = crate::parse_duration)]
    pub progress: Duration,
}

/// A signed-in account; the access token is renewed by signing in again before it expires.
struct Session {
    login: String,
    password: String,
    access: RwLock<String>,
}

impl Session {
    fn token(&self) -> String {
        self.access.read().expect("token lock").clone()
    }
}

/// Points inside the communes (boundaries imported), for submissions; jittered by ~±200 m.
const PLACES: [(f64, f64); 4] = [
    (11.7394, 108.5884),
    (11.7306, 108.4533),
    (11.6953, 108.5551),
    (11.8432, 108.6130),
];
/// Categories routed to each commune's economic department (the staff member's queue).
const CATEGORIES: [&str; 3] = ["road", "lighting", "water"];

struct Mix {
    http: reqwest::Client,
    urls: Vec<String>,
    next_url: AtomicUsize,
    staff: Session,
    citizens: Vec<Session>,
    next_citizen: AtomicUsize,
    photos: Vec<(String, Vec<u8>)>,
    only: Option<Op>,
    /// Report ids seen in feed pages and submissions (most recent 5 000).
    ids: Mutex<VecDeque<String>>,
    /// Follow-up page queries (`cursor` = a previous page's `next_cursor`).
    next_pages: Mutex<VecDeque<Vec<(String, String)>>>,
    rec: Recorder,
}

/// Sends `request`; an answer that is not 2xx is an error named by its status (and `step`, for
/// a step of a submission), a request that got no answer `timeout` or `io`.
async fn send_ok(
    request: reqwest::RequestBuilder,
    step: &str,
) -> Result<reqwest::Response, String> {
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "timeout".to_owned()
        } else {
            "io".to_owned()
        }
    })?;
    if !response.status().is_success() {
        return Err(format!("{}{step}", response.status().as_u16()));
    }
    Ok(response)
}

async fn json_of(response: reqwest::Response) -> Result<Value, String> {
    response
        .json::<Value>()
        .await
        .map_err(|_| "body".to_owned())
}

impl Mix {
    fn url(&self) -> &str {
        &self.urls[self.next_url.fetch_add(1, Ordering::Relaxed) % self.urls.len()]
    }

    fn pick(&self) -> Op {
        if let Some(op) = self.only {
            return op;
        }
        let total: u32 = Op::WEIGHTS.iter().sum();
        let mut draw = rand::random_range(0..total);
        for (op, w) in Op::ALL.iter().zip(Op::WEIGHTS) {
            if draw < w {
                return *op;
            }
            draw -= w;
        }
        Op::Feed
    }

    fn remember(&self, id: &str) {
        let mut ids = self.ids.lock().expect("ids lock");
        if ids.len() >= 5_000 {
            ids.pop_front();
        }
        ids.push_back(id.to_owned());
    }

    async fn feed(&self, base: &str) -> Result<(), String> {
        let follow = rand::random_range(0..3) == 0;
        let query = follow
            .then(|| self.next_pages.lock().expect("pages lock").pop_front())
            .flatten()
            .unwrap_or_else(|| {
                let mut q: Vec<(String, String)> = vec![("limit".into(), "20".into())];
                match rand::random_range(0..5) {
                    0 => {}
                    1 => q.push(("area".into(), "24943".into())),
                    2 => q.push(("status".into(), "new,accepted,in_progress".into())),
                    3 => q.push(("category".into(), "road".into())),
                    _ => q.push(("bbox".into(), "108.40,11.65,108.65,11.90".into())),
                }
                q
            });
        let response = send_ok(
            self.http.get(format!(
                "{base}/api/v1/reports?{}",
                serde_urlencoded::to_string(&query).map_err(|_| "query")?
            )),
            "",
        )
        .await?;
        let body = json_of(response).await?;
        if let Some(items) = body["items"].as_array() {
            for id in items.iter().filter_map(|i| i["id"].as_str()) {
                self.remember(id);
            }
        }
        if let Some(cursor) = body["next_cursor"].as_str() {
            let mut next: Vec<(String, String)> =
                query.into_iter().filter(|(k, _)| k != "cursor").collect();
            next.push(("cursor".into(), cursor.to_owned()));
            let mut pages = self.next_pages.lock().expect("pages lock");
            if pages.len() < 256 {
                pages.push_back(next);
            }
        }
        Ok(())
    }

    async fn detail(&self, base: &str) -> Result<(), String> {
        let id = {
            let ids = self.ids.lock().expect("ids lock");
            if ids.is_empty() {
                return Err("no_ids".into());
            }
            ids[rand::random_range(0..ids.len())].clone()
        };
        let response = send_ok(self.http.get(format!("{base}/api/v1/reports/{id}")), "").await?;
        // Read the whole body: that is part of the answer's cost.
        response.bytes().await.map_err(|_| "body".to_owned())?;
        Ok(())
    }

    async fn queue(&self, base: &str) -> Result<(), String> {
        let mut q: Vec<(&str, &str)> = vec![("limit", "50")];
        match rand::random_range(0..5) {
            0 => {}
            1 => q.push(("sort", "-created_at")),
            2 => q.push(("overdue", "true")),
            3 => q.push(("q", "duong")),
            _ => q.extend([("status", "all"), ("category", "road")]),
        }
        let response = send_ok(
            self.http
                .get(format!(
                    "{base}/api/v1/tickets?{}",
                    serde_urlencoded::to_string(&q).map_err(|_| "query")?
                ))
                .bearer_auth(self.staff.token()),
            "",
        )
        .await?;
        response.bytes().await.map_err(|_| "body".to_owned())?;
        Ok(())
    }

    async fn submission(&self, base: &str) -> Result<(), String> {
        let citizen =
            &self.citizens[self.next_citizen.fetch_add(1, Ordering::Relaxed) % self.citizens.len()];
        let token = citizen.token();
        let mut media_ids = Vec::with_capacity(self.photos.len());
        for (name, bytes) in &self.photos {
            let started = Instant::now();
            let part = reqwest::multipart::Part::bytes(bytes.clone())
                .file_name(name.clone())
                .mime_str("image/jpeg")
                .map_err(|_| "body".to_owned())?;
            let response = send_ok(
                self.http
                    .post(format!("{base}/api/v1/media"))
                    .bearer_auth(&token)
                    .multipart(reqwest::multipart::Form::new().part("file", part)),
                " (upload)",
            )
            .await?;
            let body = json_of(response).await?;
            let id = body["id"].as_str().ok_or("body")?.to_owned();
            self.rec.ok(UPLOAD, started.elapsed());
            media_ids.push(id);
        }
        let (lat, lon) = PLACES[rand::random_range(0..PLACES.len())];
        let jitter = || rand::random_range(-0.002..0.002);
        let report = json!({
            "category": CATEGORIES[rand::random_range(0..CATEGORIES.len())],
            "description": "Mặt đường hư hỏng, nhiều ổ gà sau mưa (loadgen)",
            "location": {"lat": lat + jitter(), "lon": lon + jitter(), "accuracy_m": 8.0},
            "address": "Quốc lộ 27",
            "media_ids": media_ids,
            "consent": true,
        });
        let started = Instant::now();
        let response = send_ok(
            self.http
                .post(format!("{base}/api/v1/reports"))
                .bearer_auth(&token)
                .json(&report),
            " (create)",
        )
        .await?;
        let body = json_of(response).await?;
        self.rec.ok(CREATE, started.elapsed());
        if let Some(id) = body["id"].as_str() {
            self.remember(id);
        }
        Ok(())
    }
}

impl Load for Mix {
    async fn run(self: Arc<Self>, started: Instant) {
        let op = self.pick();
        let base = self.url().to_owned();
        let result = match op {
            Op::Feed => self.feed(&base).await,
            Op::Detail => self.detail(&base).await,
            Op::Queue => self.queue(&base).await,
            Op::Submission => self.submission(&base).await,
        };
        match result {
            Ok(()) => self.rec.ok(op.index(), started.elapsed()),
            Err(kind) => self.rec.error(op.index(), &kind),
        }
    }

    fn overload(&self) {
        self.rec.error(self.pick().index(), "overload");
    }
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<(String, u64)> {
    let response = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != reqwest::StatusCode::OK {
        bail!("login as {login}: {status} {body}");
    }
    Ok((
        body["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned(),
        body["expires_in"].as_u64().unwrap_or(900),
    ))
}

async fn register_citizen(
    http: &reqwest::Client,
    base: &str,
    password: &str,
) -> anyhow::Result<Session> {
    for _ in 0..10 {
        let phone = format!("09{:08}", rand::random_range(0..100_000_000u32));
        let response = http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"phone": phone, "password": password, "full_name": "Người dùng thử tải"}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            reqwest::StatusCode::CREATED => {
                return Ok(Session {
                    login: phone,
                    password: password.to_owned(),
                    access: RwLock::new(
                        body["access_token"]
                            .as_str()
                            .context("no access_token")?
                            .to_owned(),
                    ),
                });
            }
            reqwest::StatusCode::CONFLICT => continue,
            _ => bail!("register: {status} {body}"),
        }
    }
    bail!("register: ten phone numbers taken in a row")
}

pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        // The server closes idle keep-alive connections after 5 s; drop ours first so a request
        // never races the close (which would show up as a spurious `io` error).
        .pool_idle_timeout(Duration::from_secs(3))
        .build()?)
}

pub async fn run(args: MixArgs) -> anyhow::Result<()> {
    let http = client()?;
    let urls: Vec<String> = args
        .urls
        .iter()
        .map(|u| u.trim_end_matches('/').to_owned())
        .collect();
    let photos = args
        .photos
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .map_or("photo.jpg".into(), |n| n.to_string_lossy().into_owned());
            std::fs::read(p)
                .with_context(|| format!("reading {}", p.display()))
                .map(|b| (name, b))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let (staff_token, ttl) =
        sign_in(&http, &urls[0], &args.staff_login, &args.staff_password).await?;
    let staff = Session {
        login: args.staff_login.clone(),
        password: args.staff_password.clone(),
        access: RwLock::new(staff_token),
    };
    let citizen_password = format!("núi Langbiang {}", rand::random_range(1000..9999u32));
    let mut citizens = Vec::new();
    let wants_citizens = matches!(args.only, None | Some(Op::Submission));
    for i in 0..if wants_citizens {
        args.citizens.max(1)
    } else {
        0
    } {
        citizens.push(register_citizen(&http, &urls[i % urls.len()], &citizen_password).await?);
    }

    let mix = Arc::new(Mix {
        http: http.clone(),
        next_url: AtomicUsize::new(0),
        staff,
        citizens,
        next_citizen: AtomicUsize::new(0),
        photos,
        only: args.only,
        ids: Mutex::new(VecDeque::new()),
        next_pages: Mutex::new(VecDeque::new()),
        rec: Recorder::new(&NAMES),
        urls,
    });
    // Ids for the first detail reads: one feed page (not measured).
    {
        let body: Value = http
            .get(format!("{}/api/v1/reports?limit=100", mix.urls[0]))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for id in body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str())
        {
            mix.remember(id);
        }
    }

    // Sign in again at half the token lifetime (the soak outlives a token).
    let renew = {
        let mix = mix.clone();
        tokio::spawn(async move {
            let period = Duration::from_secs((ttl / 2).max(30));
            loop {
                tokio::time::sleep(period).await;
                for s in std::iter::once(&mix.staff).chain(&mix.citizens) {
                    match sign_in(&mix.http, &mix.urls[0], &s.login, &s.password).await {
                        Ok((token, _)) => *s.access.write().expect("token lock") = token,
                        Err(e) => eprintln!("renewing a token failed: {e:#}"),
                    }
                }
            }
        })
    };
    let progress = (!args.progress.is_zero()).then(|| {
        let mix = mix.clone();
        let every = args.progress;
        tokio::spawn(async move {
            let begin = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let parts: Vec<String> = Op::ALL
                    .iter()
                    .map(|op| {
                        let (ok, err) = mix.rec.counts(op.index());
                        format!("{} {ok} ok {err} err", NAMES[op.index()])
                    })
                    .collect();
                eprintln!(
                    "[{:>5.0} s] {}",
                    begin.elapsed().as_secs_f64(),
                    parts.join(" | ")
                );
            }
        })
    });

    let elapsed = match args.rate {
        Some(rate) => {
            drive::open_loop(mix.clone(), rate, args.duration, args.concurrency * 16).await
        }
        None => drive::closed_loop(mix.clone(), args.concurrency, args.duration).await,
    };
    renew.abort();
    if let Some(p) = progress {
        p.abort();
    }

    let reports = mix.rec.reports(elapsed, false);
    let main_ops: Vec<&OpReport> = reports.iter().filter(|r| !r.op.starts_with(' ')).collect();
    let total_ok: u64 = main_ops.iter().map(|r| r.ok).sum();
    let total_count: u64 = main_ops.iter().map(|r| r.count).sum();
    let line = json!({
        "kind": "mix",
        "label": args.label,
        "servers": mix.urls.len(),
        "urls": mix.urls,
        "only": args.only.map(|o| NAMES[o.index()]),
        "concurrency": args.concurrency,
        "rate": args.rate,
        "duration_s": elapsed.as_secs_f64(),
        "total": {"count": total_count, "ok": total_ok, "throughput": total_ok as f64 / elapsed.as_secs_f64()},
        "ops": reports,
    });
    let mut text = format!(
        "mix '{}' against {} server(s), {} for {:.1} s\n",
        args.label,
        mix.urls.len(),
        match args.rate {
            Some(r) => format!("open loop at {r} ops/s"),
            None => format!("closed loop, {} clients", args.concurrency),
        },
        elapsed.as_secs_f64()
    );
    text.push_str(&crate::stats::render(&reports));
    text.push_str(&format!(
        "{:<20} {:>8} {:>10.1}   (latencies: successful operations; errors by HTTP status)\n",
        "all",
        total_count,
        total_ok as f64 / elapsed.as_secs_f64()
    ));
    crate::emit(&text, &line, args.json_out.as_deref())
}

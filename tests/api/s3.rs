//! Photos on S3, for real: moto's S3 server (PyPI `moto[server]`) started by each test on a free
//! port and killed on drop, the server configured with `media.store = "s3"` against it. What
//! the server stored is read back from moto directly (a client of its own) and compared with
//! what the API serves. Installed with pip on first use if missing (`.ci/run` installs it too).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use phananh::config::{MediaStore, Secret, Settings};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, assert_problem, spawn_app_with};
use crate::media::{citizen, expire_media, photo, upload_ok};
use crate::reports::{report_body, submit_ok};
use crate::smtp::free_port;
use crate::storage::{
    KA_DO, assert_open311_retry_later, assert_retry_after, attached, media_rows, partner_key,
    reports, request_with_photo, short_idle_client, wait_for_media_rows,
};

const BUCKET: &str = "phananh-photos";
const REGION: &str = "us-east-1";
/// moto accepts any credentials; these only have to be the same on both sides.
const KEY_ID: &str = "phananh-test";
const SECRET: &str = "phananh-test-secret";
/// How long an answer may take while S3 is down. The server gives up on S3 within seconds; with
/// object_store's default retries (10, backing off to 15 s) an upload waited minutes. A margin
/// of ten times, so a slow shared machine does not fail it.
const OUTAGE_ANSWER: Duration = Duration::from_secs(60);

static INSTALL: Once = Once::new();

fn ensure_moto() {
    INSTALL.call_once(|| {
        let have = || {
            Command::new("python3")
                .args(["-c", "import moto.server, flask"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have() {
            let _ = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "moto[server]"])
                .status();
        }
        assert!(
            have(),
            "the S3 tests need moto's server: python3 -m pip install 'moto[server]'"
        );
    });
}

/// A moto S3 server on 127.0.0.1, its bucket created.
pub struct Moto {
    pub port: u16,
    log: tempfile::TempDir,
    child: Option<Child>,
}

impl Moto {
    pub fn start() -> Moto {
        ensure_moto();
        let mut moto = Moto {
            port: free_port(),
            log: tempfile::tempdir().unwrap(),
            child: None,
        };
        moto.up();
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.log.path().join("moto.log")
    }

    /// Starts moto on `port` and creates the bucket (moto keeps everything in memory: a
    /// restarted server has none).
    fn up(&mut self) {
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start moto");
        self.child = Some(child);
        // Importing moto takes seconds on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("moto exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // moto accepts an unsigned CreateBucket.
        let url = format!("{}/{BUCKET}", self.endpoint());
        let status = create_bucket(&url);
        assert_eq!(status, 200, "create bucket: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL, as a crashed or unplugged store.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Up again on the same port, with an empty bucket.
    pub fn restart(&mut self) {
        self.kill();
        self.up();
    }

    /// A client of the test's own, to see what the server wrote.
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_bucket_name(BUCKET)
            .with_region(REGION)
            .with_access_key_id(KEY_ID)
            .with_secret_access_key(SECRET)
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// The keys under `prefix`, sorted.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .client()
            .list(Some(&ObjectPath::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    pub async fn object(&self, key: &str) -> Vec<u8> {
        self.client()
            .get(&ObjectPath::from(key))
            .await
            .unwrap_or_else(|e| panic!("{key} in moto: {e}"))
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `PUT /bucket` (CreateBucket), retried while moto is listening but not yet answering. On a
/// thread of its own with its own runtime: `up` is called from sync code inside a test's runtime.
fn create_bucket(url: &str) -> u16 {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut last = 0;
            for _ in 0..150 {
                match reqwest::Client::new().put(&url).send().await {
                    Ok(r) if r.status().is_success() => return r.status().as_u16(),
                    Ok(r) => last = r.status().as_u16(),
                    Err(_) => {}
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            last
        })
    })
    .join()
    .unwrap()
}

/// `media.store = "s3"` against `moto`.
fn use_moto(s: &mut Settings, moto: &Moto) {
    s.media.store = MediaStore::S3;
    s.media.s3_bucket = Some(BUCKET.into());
    s.media.s3_endpoint = Some(moto.endpoint());
    s.media.s3_region = REGION.into();
    s.media.s3_access_key_id = Some(KEY_ID.into());
    s.media.s3_secret_access_key = Some(Secret::new(SECRET));
    s.media.s3_allow_http = true;
}

async fn s3_app(moto: &Moto, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let mut app = spawn_app_with(db, &url, |s| {
        use_moto(s, moto);
        tweak(s);
    })
    .await;
    app.client = short_idle_client();
    app
}

fn local(app: &TestApp, url: &Value) -> String {
    url.as_str()
        .unwrap()
        .replace("http://localhost:8080", &app.address)
}

/// GET a rendition → its bytes, checking it is served as a JPEG.
async fn served(app: &TestApp, url: &Value, token: Option<&str>) -> Vec<u8> {
    let mut req = app.client.get(local(app, url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "image/jpeg", "{url}");
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn photos_are_stored_read_back_and_deleted_in_s3() {
    let moto = Moto::start();
    let app = s3_app(&moto, |s| s.media.sweep_interval_secs = 1).await;
    let token = citizen(&app).await;

    let mut stored = Vec::new();
    for file in [
        "gps/DSCN0010.jpg",
        "phones/jolla.jpg",
        "orientation/portrait_6.jpg",
    ] {
        let body = upload_ok(&app, &token, &photo(file)).await;
        let id = body["id"].as_str().unwrap();
        let display = format!("photos/{id}/display.jpg");
        let thumbnail = format!("photos/{id}/thumbnail.jpg");
        assert_eq!(
            moto.keys(&format!("photos/{id}")).await,
            vec![display.clone(), thumbnail.clone()],
            "{file}"
        );
        for (field, key) in [("url", &display), ("thumbnail_url", &thumbnail)] {
            let held = moto.object(key).await;
            assert_eq!(&held[..2], &[0xFF, 0xD8], "{key} is a JPEG");
            let bytes = served(&app, &body[field], Some(&token)).await;
            assert!(
                bytes == held,
                "{file}: the API serves what S3 holds ({field})"
            );
        }
        assert_eq!(
            body["bytes"].as_u64().unwrap(),
            moto.object(&display).await.len() as u64
        );
        stored.push(body);
    }
    // Nothing went to the local disk.
    let local_photos = crate::storage::entries(app.data_dir())
        .into_iter()
        .filter(|p| p.ends_with(".jpg"))
        .collect::<Vec<_>>();
    assert!(local_photos.is_empty(), "{local_photos:?}");

    // Two of them attached to a report: served to anyone from S3.
    let mut body = report_body("road", KA_DO);
    body["media_ids"] = json!([stored[0]["id"], stored[1]["id"]]);
    let report = submit_ok(&app, &token, &body).await;
    let public: Value = app
        .get(&format!(
            "/api/v1/reports/{}",
            report["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let photos = public["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2, "{public}");
    for p in photos {
        let id = p["id"].as_str().unwrap();
        let held = moto.object(&format!("photos/{id}/display.jpg")).await;
        assert!(served(&app, &p["url"], None).await == held);
    }

    // The third, never attached, expires: the sweeper deletes its objects, and only those.
    let expired = stored[2]["id"].as_str().unwrap();
    expire_media(&app, expired).await;
    wait_for_media_rows(&app, 2).await;
    assert_eq!(
        moto.keys(&format!("photos/{expired}")).await,
        Vec::<String>::new()
    );
    for kept in &stored[..2] {
        let id = kept["id"].as_str().unwrap();
        assert_eq!(moto.keys(&format!("photos/{id}")).await.len(), 2);
    }
    let resp = app
        .client
        .get(local(&app, &stored[2]["url"]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "not_found").await;
}

/// `POST /api/v1/media`, answered within [`OUTAGE_ANSWER`].
async fn upload_in_time(app: &TestApp, token: &str, file: &str) -> reqwest::Response {
    let path = photo(file);
    let part = reqwest::multipart::Part::bytes(std::fs::read(&path).unwrap())
        .file_name("a.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    answered_in_time(
        app.client
            .post(app.url("/api/v1/media"))
            .bearer_auth(token)
            .multipart(form),
    )
    .await
}

async fn answered_in_time(req: reqwest::RequestBuilder) -> reqwest::Response {
    let started = Instant::now();
    let resp = match req.timeout(OUTAGE_ANSWER).send().await {
        Ok(resp) => resp,
        Err(e) if e.is_timeout() => {
            panic!("no answer within {OUTAGE_ANSWER:?} while S3 is down: it must take seconds")
        }
        Err(e) => panic!("{e}"),
    };
    eprintln!(
        "{} answered {} in {:.1?}",
        resp.url().path(),
        resp.status(),
        started.elapsed()
    );
    resp
}

#[tokio::test]
async fn an_s3_outage_is_a_prompt_503_and_uploads_resume_when_it_returns() {
    let mut moto = Moto::start();
    let app = s3_app(&moto, |_| {}).await;
    let token = citizen(&app).await;
    let partner = partner_key(&app).await;
    let first = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;

    moto.kill();

    let resp = upload_in_time(&app, &token, "gps/DSCN0012.jpg").await;
    assert_retry_after(&resp);
    assert_problem(resp, 503, "storage_unavailable").await;
    assert_eq!(media_rows(&app).await, 1, "a row of the refused upload");

    // Reading a stored photo: 503 too (not 404: it is not gone, S3 is away).
    let resp = answered_in_time(
        app.client
            .get(local(&app, &first["url"]))
            .bearer_auth(&token),
    )
    .await;
    assert_retry_after(&resp);
    assert_problem(resp, 503, "storage_unavailable").await;

    // A partner's request and its photo, together: refused whole.
    let resp = answered_in_time(request_with_photo(
        &app,
        &partner,
        &photo("gps/DSCN0021.jpg"),
    ))
    .await;
    assert_open311_retry_later(resp, 503).await;
    assert_eq!(reports(&app).await, 0);
    assert_eq!(media_rows(&app).await, 1);

    // Back (empty: moto keeps nothing across restarts). Uploads work again by themselves; the
    // client's pooled connections to the dead server are the server's problem, not the user's
    // for long.
    moto.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    let again: Value = loop {
        let resp = upload_in_time(&app, &token, "gps/DSCN0012.jpg").await;
        match resp.status().as_u16() {
            201 => break resp.json().await.unwrap(),
            503 => {
                assert!(
                    Instant::now() < deadline,
                    "uploads did not resume after S3 came back"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => panic!("{other}: {:?}", resp.text().await),
        }
    };
    let id = again["id"].as_str().unwrap();
    let held = moto.object(&format!("photos/{id}/display.jpg")).await;
    assert!(served(&app, &again["url"], Some(&token)).await == held);

    let resp = request_with_photo(&app, &partner, &photo("gps/DSCN0021.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(reports(&app).await, 1);
    assert_eq!(attached(&app).await, 1);
    let attached_id: uuid::Uuid = app
        .db
        .client()
        .await
        .query_one("SELECT id FROM media WHERE report_id IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        moto.keys(&format!("photos/{attached_id}")).await.len(),
        2,
        "the request's photo is in S3"
    );
}

//! The local photo store full or unwritable. A tmpfs is mounted as `media.local_dir` and filled
//! (ENOSPC: 507 `storage_full`) or remounted read-only (EROFS: 503 `storage_unavailable`); either
//! way the upload leaves no media row and no file, and an Open311 request posted with its photo
//! is not created without it. Then space (or write access) comes back and uploads work again.
//!
//! Mounting needs root or CAP_SYS_ADMIN. Without it these tests say so loudly on stderr and test
//! a store that is unwritable without privileges (its `photos` directory replaced by a regular
//! file: ENOTDIR) instead, rather than pass without testing anything.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::accounts::{account_token, post};
use crate::helpers::{TestApp, TestDb, assert_problem, count, spawn_app_with};
use crate::media::{citizen, expire_media, photo, upload, upload_ok};

/// Near the seeded centroid of xã Ka Đô (roads and waste go to `24943-kinh-te`).
pub const KA_DO: (f64, f64) = (11.7394, 108.5884);

/// A tmpfs mounted on a fresh temporary directory; unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `8m`), or says why it cannot.
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,ro` or `rw`.
    pub fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let path = self.dir.path().to_owned();
        let ok = Command::new("umount")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a file open somewhere): detach it now, freed when the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&path).status();
        }
    }
}

/// Says loudly that the privileged case could not be tested, and with what it is replaced.
fn no_mount(why: &str, untested: &str) {
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! cannot mount a tmpfs ({why})\n\
         !!! NOT TESTED: {untested}\n\
         !!! testing an unwritable store (`photos` is a regular file: ENOTDIR) instead.\n\
         !!! Run the tests as root (or with CAP_SYS_ADMIN) to test it.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// Every file and directory under `dir`, as paths relative to it.
pub fn entries(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(read) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in read.flatten() {
            let path = entry.path();
            out.insert(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The server with its local photo store in `dir`.
async fn local_app(dir: &Path) -> TestApp {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let dir = dir.to_owned();
    let mut app = spawn_app_with(db, &url, move |s| s.media.local_dir = Some(dir)).await;
    app.client = short_idle_client();
    app
}

/// A client that drops a pooled connection after 2 s idle. The server closes idle keep-alive
/// connections after 5 s; a request sent on one just as the server closes it fails with a
/// reset, which these tests, pausing for seconds (a mount, a server restart, a sweep), would
/// otherwise hit now and then.
pub fn short_idle_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap()
}

/// A live Open311 key of a partner application.
pub async fn partner_key(app: &TestApp) -> String {
    let admin = account_token(app, "admin", None).await;
    let resp = post(
        app,
        "/api/v1/admin/api-keys",
        json!({"name": "Ứng dụng đối tác", "purpose": "open311"}),
        Some(&admin),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let body: Value = resp.json().await.unwrap();
    body["key"].as_str().unwrap().to_owned()
}

/// `POST /open311/v2/requests.json`: a request and its photo in one multipart body.
pub fn request_with_photo(app: &TestApp, key: &str, file: &Path) -> reqwest::RequestBuilder {
    let part = reqwest::multipart::Part::bytes(std::fs::read(file).unwrap())
        .file_name(file.file_name().unwrap().to_string_lossy().into_owned())
        .mime_str("image/jpeg")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("api_key", key.to_owned())
        .text("service_code", "waste")
        .text("lat", KA_DO.0.to_string())
        .text("long", KA_DO.1.to_string())
        .text("description", "Rác thải đổ trộm bên đường, bốc mùi")
        .part("media", part);
    app.client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(form)
}

/// An Open311 error answer (`[{"code": status, "description": …}]`) with a `Retry-After`.
pub async fn assert_open311_retry_later(resp: reqwest::Response, status: u16) {
    assert_eq!(resp.status().as_u16(), status);
    assert_retry_after(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["code"], status, "{body}");
    assert!(
        body[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// A `Retry-After` of a positive number of seconds.
pub fn assert_retry_after(resp: &reqwest::Response) {
    let secs = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    assert!(
        secs.is_some_and(|s| s > 0),
        "{} without a Retry-After in seconds: {:?}",
        resp.status(),
        resp.headers()
    );
}

pub async fn reports(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) FROM reports").await
}

pub async fn media_rows(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) FROM media").await
}

/// Waits (at most 30 s) for the sweeper to leave `n` photo rows.
pub async fn wait_for_media_rows(app: &TestApp, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while media_rows(app).await != n {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The photos attached to reports.
pub async fn attached(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT count(*) FROM media WHERE report_id IS NOT NULL",
    )
    .await
}

/// Writes `dir/filler` until the file system is full; asserts that it ended with ENOSPC.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    let err = loop {
        if let Err(e) = file.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    // Whatever a partial last write left fits: the store is full to the byte.
    let _ = file.flush();
    path
}

#[tokio::test]
async fn a_full_photo_store_is_507_and_no_report_is_created_without_its_photos() {
    let fs = match Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            no_mount(&why, "a full photo store (ENOSPC → 507 storage_full)");
            let dir = tempfile::tempdir().unwrap();
            return unwritable(Breaker::PhotosIsAFile(dir)).await;
        }
    };
    let app = local_app(fs.path()).await;
    let token = citizen(&app).await;
    let partner = partner_key(&app).await;
    let first = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;
    let id = first["id"].as_str().unwrap();
    assert!(fs.path().join(format!("photos/{id}/display.jpg")).exists());

    let filler = fill(fs.path());
    let before = entries(fs.path());

    let resp = upload(&app, &token, &photo("gps/DSCN0012.jpg")).await;
    assert_retry_after(&resp);
    let problem = assert_problem(resp, 507, "storage_full").await;
    // The answer names no path of the server.
    assert!(
        !problem.to_string().contains(fs.path().to_str().unwrap()),
        "{problem}"
    );
    assert_eq!(media_rows(&app).await, 1, "a row of the refused upload");
    // No half-written file, no staging file, no empty photo directory.
    assert_eq!(entries(fs.path()), before);

    // A partner's request and its photo, together: refused whole.
    let resp = request_with_photo(&app, &partner, &photo("gps/DSCN0021.jpg"))
        .send()
        .await
        .unwrap();
    assert_open311_retry_later(resp, 507).await;
    assert_eq!(reports(&app).await, 0);
    assert_eq!(media_rows(&app).await, 1);
    assert_eq!(entries(fs.path()), before);

    // The photo already stored is still served.
    let url = first["url"]
        .as_str()
        .unwrap()
        .replace("http://localhost:8080", &app.address);
    let resp = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Space again: both work, with nothing to clean up first.
    std::fs::remove_file(&filler).unwrap();
    upload_ok(&app, &token, &photo("gps/DSCN0012.jpg")).await;
    let resp = request_with_photo(&app, &partner, &photo("gps/DSCN0021.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(reports(&app).await, 1);
    assert_eq!(attached(&app).await, 1);
    assert_eq!(media_rows(&app).await, 3);
    drop(app);
}

/// How a test makes the store unwritable.
enum Breaker {
    /// A tmpfs remounted read-only (EROFS), even for root.
    ReadOnly(Tmpfs),
    /// `photos` moved aside and replaced by a regular file (ENOTDIR), for anyone.
    PhotosIsAFile(tempfile::TempDir),
}

impl Breaker {
    fn dir(&self) -> &Path {
        match self {
            Breaker::ReadOnly(fs) => fs.path(),
            Breaker::PhotosIsAFile(dir) => dir.path(),
        }
    }

    fn break_it(&self) {
        match self {
            Breaker::ReadOnly(fs) => fs.remount("ro"),
            Breaker::PhotosIsAFile(dir) => {
                let photos = dir.path().join("photos");
                if photos.exists() {
                    std::fs::rename(&photos, dir.path().join("photos.aside")).unwrap();
                }
                std::fs::write(&photos, b"in the way").unwrap();
            }
        }
    }

    fn restore(&self) {
        match self {
            Breaker::ReadOnly(fs) => fs.remount("rw"),
            Breaker::PhotosIsAFile(dir) => {
                let photos = dir.path().join("photos");
                std::fs::remove_file(&photos).unwrap();
                let aside = dir.path().join("photos.aside");
                if aside.exists() {
                    std::fs::rename(aside, photos).unwrap();
                }
            }
        }
    }
}

#[tokio::test]
async fn an_unwritable_photo_store_is_503_and_no_report_is_created_without_its_photos() {
    let breaker = match Tmpfs::mount("8m") {
        Ok(fs) => Breaker::ReadOnly(fs),
        Err(why) => {
            no_mount(&why, "a read-only photo store (EROFS → 503)");
            Breaker::PhotosIsAFile(tempfile::tempdir().unwrap())
        }
    };
    unwritable(breaker).await;
}

async fn unwritable(breaker: Breaker) {
    let app = local_app(breaker.dir()).await;
    let token = citizen(&app).await;
    let partner = partner_key(&app).await;
    let first = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;

    breaker.break_it();
    let before = entries(breaker.dir());

    let resp = upload(&app, &token, &photo("gps/DSCN0012.jpg")).await;
    assert_retry_after(&resp);
    let problem = assert_problem(resp, 503, "storage_unavailable").await;
    assert!(
        !problem
            .to_string()
            .contains(breaker.dir().to_str().unwrap()),
        "{problem}"
    );
    assert_eq!(media_rows(&app).await, 1, "a row of the refused upload");
    assert_eq!(entries(breaker.dir()), before);

    let resp = request_with_photo(&app, &partner, &photo("gps/DSCN0021.jpg"))
        .send()
        .await
        .unwrap();
    assert_open311_retry_later(resp, 503).await;
    assert_eq!(reports(&app).await, 0);
    assert_eq!(media_rows(&app).await, 1);
    assert_eq!(entries(breaker.dir()), before);

    if matches!(breaker, Breaker::ReadOnly(_)) {
        // A read-only store still serves what it holds.
        let url = first["url"]
            .as_str()
            .unwrap()
            .replace("http://localhost:8080", &app.address);
        let resp = app
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    breaker.restore();
    upload_ok(&app, &token, &photo("gps/DSCN0012.jpg")).await;
    let resp = request_with_photo(&app, &partner, &photo("gps/DSCN0021.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(reports(&app).await, 1);
    assert_eq!(attached(&app).await, 1);
    assert_eq!(media_rows(&app).await, 3);
    // The server goes before its store is unmounted.
    drop(app);
}

/// Deleting a photo's files leaves no empty directory behind (one per expired upload, forever,
/// otherwise).
#[tokio::test]
async fn swept_photos_leave_no_empty_directories() {
    let store = tempfile::tempdir().unwrap();
    let db = TestDb::new().await;
    let url = db.url.clone();
    let dir = store.path().to_owned();
    let mut app = spawn_app_with(db, &url, move |s| {
        s.media.local_dir = Some(dir);
        s.media.sweep_interval_secs = 1;
    })
    .await;
    app.client = short_idle_client();
    let token = citizen(&app).await;
    let kept = upload_ok(&app, &token, &photo("gps/DSCN0027.jpg")).await;
    let expired = upload_ok(&app, &token, &photo("gps/DSCN0029.jpg")).await;
    let expired_dir = store
        .path()
        .join("photos")
        .join(expired["id"].as_str().unwrap());
    assert!(expired_dir.join("display.jpg").exists());
    expire_media(&app, expired["id"].as_str().unwrap()).await;
    wait_for_media_rows(&app, 1).await;
    assert!(!expired_dir.exists(), "{}", expired_dir.display());
    let kept_dir = store
        .path()
        .join("photos")
        .join(kept["id"].as_str().unwrap());
    assert!(kept_dir.join("display.jpg").exists());
    assert!(kept_dir.join("thumbnail.jpg").exists());
}

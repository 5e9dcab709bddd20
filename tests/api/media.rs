//! Photo upload over HTTP with the real photos of `../shared/data/photos/` (see its README for
//! what each folder must give), and every refusal.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::accounts::account_token;
use crate::helpers::{
    TestApp, TestDb, assert_problem, count, shared_data, spawn_app, spawn_app_with,
};

pub fn photo(relative: &str) -> PathBuf {
    shared_data(&format!("photos/{relative}"))
}

pub fn photos_in(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(photo(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// A fresh resident's access token.
pub async fn citizen(app: &TestApp) -> String {
    account_token(app, "citizen", None).await
}

/// `POST /api/v1/media` with `bytes` as the `file` field.
pub async fn upload_bytes(
    app: &TestApp,
    token: Option<&str>,
    bytes: Vec<u8>,
    file_name: &str,
    content_type: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name.to_owned())
        .mime_str(content_type)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("caption", "ảnh hiện trường")
        .part("file", part);
    let mut req = app.client.post(app.url("/api/v1/media")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

/// Makes an uploaded photo look 24 hours unattached: the sweeper's next pass deletes it.
pub async fn expire_media(app: &TestApp, id: &str) {
    let id = uuid::Uuid::parse_str(id).unwrap();
    app.db
        .client()
        .await
        .execute(
            "UPDATE media SET expires_at = now() - interval '1 minute' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
}

pub async fn upload(app: &TestApp, token: &str, path: &Path) -> reqwest::Response {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    upload_bytes(
        app,
        Some(token),
        std::fs::read(path).unwrap(),
        &name,
        "image/jpeg",
        None,
    )
    .await
}

pub async fn upload_ok(app: &TestApp, token: &str, path: &Path) -> Value {
    let resp = upload(app, token, path).await;
    assert_eq!(
        resp.status(),
        201,
        "{}: {:?}",
        path.display(),
        resp.text().await
    );
    resp.json().await.unwrap()
}

async fn fetch(app: &TestApp, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// JPEG marker segments (APPn, COM) found before the image data.
fn jpeg_segments(bytes: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut i = 2;
    while i + 4 <= bytes.len() && bytes[i] == 0xFF {
        let marker = bytes[i + 1];
        if marker == 0xDA {
            break;
        }
        markers.push(marker);
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        i += 2 + len;
    }
    markers
}

fn near(v: &Value, lat: f64, lon: f64) -> bool {
    (v["lat"].as_f64().unwrap() - lat).abs() < 0.1 && (v["lon"].as_f64().unwrap() - lon).abs() < 0.1
}

#[tokio::test]
async fn camera_gps_is_returned_once_and_never_stored() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let files = photos_in("gps");
    assert_eq!(files.len(), 9);
    for file in files {
        let body = upload_ok(&app, &token, &file).await;
        assert!(
            near(&body["exif_location"], 43.47, 11.88),
            "{}: {}",
            file.display(),
            body["exif_location"]
        );
        assert_eq!(body["content_type"], "image/jpeg");
        assert!(body["width"].as_i64().unwrap() <= 1600);
        for key in ["url", "thumbnail_url"] {
            let url = body[key].as_str().unwrap();
            assert!(
                url.starts_with("http://localhost:8080/api/v1/media/"),
                "{url}"
            );
            let local = url.replace("http://localhost:8080", &app.address);
            let resp = fetch(&app, &local, Some(&token)).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "image/jpeg");
            let bytes = resp.bytes().await.unwrap();
            assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
            let markers = jpeg_segments(&bytes);
            assert!(
                !markers
                    .iter()
                    .any(|m| *m == 0xE1 || *m == 0xED || *m == 0xFE),
                "metadata segments left in {key}: {markers:x?}"
            );
            assert!(!bytes.windows(6).any(|w| w == b"Exif\0\0"));
        }
        // What the database keeps has no trace of the location either.
        let id = uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
        let row = app
            .db
            .client()
            .await
            .query_one(
                "SELECT to_jsonb(media)::text FROM media WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        let text: String = row.get(0);
        assert!(!text.contains("43.4") && !text.contains("11.8"), "{text}");
    }
}

#[tokio::test]
async fn every_exif_orientation_is_stored_the_right_way_up() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    for shape in ["landscape", "portrait"] {
        let reference =
            upload_ok(&app, &token, &photo(&format!("orientation/{shape}_1.jpg"))).await;
        let (w, h) = (
            reference["width"].as_i64().unwrap(),
            reference["height"].as_i64().unwrap(),
        );
        assert_eq!(w > h, shape == "landscape", "{reference}");
        for n in 2..=8 {
            let body = upload_ok(
                &app,
                &token,
                &photo(&format!("orientation/{shape}_{n}.jpg")),
            )
            .await;
            assert_eq!(
                (
                    body["width"].as_i64().unwrap(),
                    body["height"].as_i64().unwrap()
                ),
                (w, h),
                "{shape}_{n}"
            );
        }
    }
}

#[tokio::test]
async fn phone_photos_are_accepted_and_heic_is_refused_clearly() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    for name in ["HMD_Nokia_8.3_5G.jpg", "iphone_hdr_YES.jpg", "jolla.jpg"] {
        let body = upload_ok(&app, &token, &photo(&format!("phones/{name}"))).await;
        let longest = body["width"]
            .as_i64()
            .unwrap()
            .max(body["height"].as_i64().unwrap());
        assert_eq!(longest, 1600, "{name}: {body}");
        if name != "jolla.jpg" {
            assert!(body["exif_location"].is_object(), "{name}: {body}");
        }
    }
    let resp = upload(&app, &token, &photo("phones/iphone_13_pro_max.HEIC")).await;
    let problem = assert_problem(resp, 415, "unsupported_media_type").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("HEIC"),
        "{problem}"
    );
}

#[tokio::test]
async fn photos_with_malformed_exif_are_accepted() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let files = photos_in("odd-exif");
    assert!(files.len() >= 7);
    for file in files {
        upload_ok(&app, &token, &file).await;
    }
}

/// A PNG whose header claims `width` × `height` pixels, about a hundred bytes long.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // a zlib stream of a few zero bytes: far too little data for the claimed size
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[tokio::test]
async fn every_bad_upload_gets_its_own_clear_answer() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let t = Some(token.as_str());

    // No account: 401 before anything is read.
    let jpeg = std::fs::read(photo("gps/DSCN0010.jpg")).unwrap();
    let resp = upload_bytes(&app, None, jpeg.clone(), "a.jpg", "image/jpeg", None).await;
    assert_problem(resp, 401, "unauthorized").await;

    // Text disguised as a JPEG: the bytes decide, not the Content-Type or the name.
    let resp = upload_bytes(
        &app,
        t,
        b"hello, this is not a photo at all, just text".to_vec(),
        "a.jpg",
        "image/jpeg",
        None,
    )
    .await;
    assert_problem(resp, 415, "unsupported_media_type").await;
    let resp = upload_bytes(&app, t, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(), "a.jpg", "image/jpeg", None).await;
    assert_problem(resp, 415, "unsupported_media_type").await;

    // A JPEG cut off half-way (a dropped connection the client did not notice).
    let truncated = jpeg[..jpeg.len() * 6 / 10].to_vec();
    let resp = upload_bytes(&app, t, truncated, "a.jpg", "image/jpeg", None).await;
    assert_problem(resp, 422, "photo_unreadable").await;

    // A JPEG start followed by noise.
    let mut garbage = vec![0xFF, 0xD8, 0xFF, 0xE0];
    garbage.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let resp = upload_bytes(&app, t, garbage, "a.jpg", "image/jpeg", None).await;
    assert_problem(resp, 422, "photo_unreadable").await;

    // Empty file.
    let resp = upload_bytes(&app, t, Vec::new(), "a.jpg", "image/jpeg", None).await;
    assert_problem(resp, 422, "photo_unreadable").await;

    // Over 15 MB: refused while streaming.
    let mut big = jpeg.clone();
    big.resize(15 * 1024 * 1024 + 1, 0);
    let resp = upload_bytes(&app, t, big, "big.jpg", "image/jpeg", None).await;
    assert_problem(resp, 413, "photo_too_large").await;

    // A ~100-byte PNG claiming 100 000 × 100 000 pixels: refused from its header.
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 1024);
    let resp = upload_bytes(&app, t, bomb, "bomb.png", "image/png", None).await;
    assert_problem(resp, 413, "photo_too_large").await;

    // Not multipart at all, or multipart without a `file` field.
    let resp = app
        .client
        .post(app.url("/api/v1/media"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
    let form = reqwest::multipart::Form::new().text("note", "no photo");
    let resp = app
        .client
        .post(app.url("/api/v1/media"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "bad_request").await;

    // A bad Idempotency-Key.
    let resp = upload_bytes(
        &app,
        t,
        jpeg.clone(),
        "a.jpg",
        "image/jpeg",
        Some("has space"),
    )
    .await;
    assert_problem(resp, 400, "bad_request").await;

    // None of the refusals left a row or a file behind.
    let rows = count(&app, "SELECT count(*) FROM media").await;
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_retried_upload_with_the_same_key_is_stored_once() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let t = Some(token.as_str());
    let jpeg = std::fs::read(photo("gps/DSCN0012.jpg")).unwrap();
    let key = uuid::Uuid::now_v7().to_string();
    let first: Value = upload_bytes(&app, t, jpeg.clone(), "a.jpg", "image/jpeg", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    let again = upload_bytes(&app, t, jpeg.clone(), "a.jpg", "image/jpeg", Some(&key)).await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["exif_location"], first["exif_location"]);
    let other = std::fs::read(photo("gps/DSCN0021.jpg")).unwrap();
    let resp = upload_bytes(&app, t, other, "b.jpg", "image/jpeg", Some(&key)).await;
    assert_problem(resp, 409, "idempotency_key_reused").await;
    // Retries arriving together while the first is still being decoded: one photo, one answer.
    let key2 = uuid::Uuid::now_v7().to_string();
    let together = futures::future::join_all(
        (0..5).map(|_| upload_bytes(&app, t, jpeg.clone(), "a.jpg", "image/jpeg", Some(&key2))),
    )
    .await;
    let mut ids = std::collections::HashSet::new();
    for resp in together {
        assert_eq!(resp.status(), 201);
        let v: Value = resp.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    // Another resident's identical key is theirs, not a conflict.
    let someone = citizen(&app).await;
    let resp = upload_bytes(
        &app,
        Some(&someone),
        jpeg,
        "a.jpg",
        "image/jpeg",
        Some(&key),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let rows = count(&app, "SELECT count(*) FROM media").await;
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn an_unattached_photo_is_private_to_its_uploader_and_staff() {
    let app = spawn_app().await;
    let owner = citizen(&app).await;
    let body = upload_ok(&app, &owner, &photo("gps/DSCN0025.jpg")).await;
    let url = body["url"]
        .as_str()
        .unwrap()
        .replace("http://localhost:8080", &app.address);
    assert_eq!(fetch(&app, &url, Some(&owner)).await.status(), 200);
    let stranger = citizen(&app).await;
    assert_problem(fetch(&app, &url, Some(&stranger)).await, 404, "not_found").await;
    assert_problem(fetch(&app, &url, None).await, 404, "not_found").await;
    let bad = format!(
        "{}/api/v1/media/{}/original.jpg",
        app.address,
        body["id"].as_str().unwrap()
    );
    assert_problem(fetch(&app, &bad, Some(&owner)).await, 404, "not_found").await;
}

#[tokio::test]
async fn expired_and_half_written_photos_are_swept_with_their_files() {
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().to_owned();
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| {
        s.media.local_dir = Some(store_path.clone());
        s.media.sweep_interval_secs = 1;
    })
    .await;
    let token = citizen(&app).await;
    let kept = upload_ok(&app, &token, &photo("gps/DSCN0027.jpg")).await;
    let expired = upload_ok(&app, &token, &photo("gps/DSCN0029.jpg")).await;
    let stuck = upload_ok(&app, &token, &photo("gps/DSCN0038.jpg")).await;
    let id = |v: &Value| uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    let dir = |v: &Value| store_path.join("photos").join(v["id"].as_str().unwrap());
    assert!(dir(&expired).join("display.jpg").exists());
    expire_media(&app, expired["id"].as_str().unwrap()).await;
    let client = app.db.client().await;
    // A process that died between the row and its files leaves a pending row.
    client
        .execute(
            "UPDATE media SET status = 'pending', created_at = now() - interval '2 hours' WHERE id = $1",
            &[&id(&stuck)],
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let left: i64 = client
            .query_one("SELECT count(*) FROM media", &[])
            .await
            .unwrap()
            .get(0);
        if left == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sweeper did not run");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!dir(&expired).join("display.jpg").exists());
    assert!(!dir(&expired).join("thumbnail.jpg").exists());
    assert!(!dir(&stuck).join("display.jpg").exists());
    assert!(dir(&kept).join("display.jpg").exists());
}

#[tokio::test]
async fn an_unwritable_store_is_a_503_and_leaves_no_row() {
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().to_owned();
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| s.media.local_dir = Some(store_path.clone())).await;
    // `photos` is a file, so no photo directory can be created under it.
    std::fs::write(store_path.join("photos"), b"in the way").unwrap();
    let token = citizen(&app).await;
    let resp = upload(&app, &token, &photo("gps/DSCN0040.jpg")).await;
    let problem = assert_problem(resp, 503, "storage_unavailable").await;
    assert!(
        problem.get("detail").is_none()
            || !problem["detail"]
                .as_str()
                .unwrap()
                .contains(store_path.to_str().unwrap())
    );
    let rows = count(&app, "SELECT count(*) FROM media").await;
    assert_eq!(rows, 0);
}

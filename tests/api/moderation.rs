//! Moderation over HTTP: a report hidden from every public view (feed, GeoJSON, detail, by-code,
//! timeline, photos, Open311) and shown again; a public description replaced with the original
//! kept for staff; a photo blurred (new URLs, the original for staff only) or removed; who may do
//! it, and the audit rows.

use serde_json::{Value, json};

use crate::accounts::{account_token, get_with, post};
use crate::helpers::{TestApp, assert_problem, count, spawn_app};
use crate::media::{citizen, photo, upload_ok};
use crate::reports::{report_body, submit_ok};

/// Near the seeded centroid of xã Ka Đô: roads there go to `24943-kinh-te`.
const KA_DO: (f64, f64) = (11.7394, 108.5884);
const KINH_TE: &str = "24943-kinh-te";
const VAN_HOA: &str = "24943-van-hoa-xa-hoi";

struct Case {
    staff: String,
    resident: String,
    id: String,
    tracking_code: String,
    photo_id: String,
}

/// A road report in Ka Đô with one photo, and a clerk of the department handling it.
async fn case(app: &TestApp, description: &str) -> Case {
    let staff = account_token(app, "staff", Some(KINH_TE)).await;
    let resident = citizen(app).await;
    let photo = upload_ok(app, &resident, &photo("gps/DSCN0010.jpg")).await;
    let mut body = report_body("road", KA_DO);
    body["description"] = json!(description);
    body["media_ids"] = json!([photo["id"]]);
    let report = submit_ok(app, &resident, &body).await;
    Case {
        staff,
        resident,
        id: report["id"].as_str().unwrap().to_owned(),
        tracking_code: report["tracking_code"].as_str().unwrap().to_owned(),
        photo_id: photo["id"].as_str().unwrap().to_owned(),
    }
}

async fn anonymous(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

/// `GET url` (a URL the API answered, under the default `public_url`, or one of `app.url`).
async fn fetch(app: &TestApp, url: &str, token: Option<&str>) -> reqwest::Response {
    let url = url.replace("http://localhost:8080", &app.address);
    let mut req = app.client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn bytes_ok(app: &TestApp, url: &str, token: Option<&str>) -> Vec<u8> {
    let resp = fetch(app, url, token).await;
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    resp.bytes().await.unwrap().to_vec()
}

async fn json_ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let url = resp.url().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The report ids of the public feed (JSON).
async fn feed_ids(app: &TestApp) -> Vec<String> {
    let page = json_ok(anonymous(app, "/api/v1/reports").await).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The report ids of the public feed as GeoJSON.
async fn geojson_ids(app: &TestApp) -> Vec<String> {
    let resp = app
        .client
        .get(app.url("/api/v1/reports"))
        .header("Accept", "application/geo+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let body = json_ok(resp).await;
    body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The service request ids of Open311 `requests.json`.
async fn open311_ids(app: &TestApp, path: &str) -> Vec<String> {
    let body = json_ok(anonymous(app, &format!("/open311/v2/{path}")).await).await;
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn hide(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    post(
        app,
        &format!("/api/v1/tickets/{id}/hide"),
        body,
        Some(token),
    )
    .await
}

async fn unhide(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    post(
        app,
        &format!("/api/v1/tickets/{id}/unhide"),
        json!({"reason": "Đã xác minh, không còn thông tin cá nhân"}),
        Some(token),
    )
    .await
}

async fn redact(
    app: &TestApp,
    token: &str,
    id: &str,
    media: &str,
    body: Value,
) -> reqwest::Response {
    post(
        app,
        &format!("/api/v1/tickets/{id}/media/{media}/redact"),
        body,
        Some(token),
    )
    .await
}

async fn edit(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    post(
        app,
        &format!("/api/v1/tickets/{id}/description"),
        body,
        Some(token),
    )
    .await
}

fn actions(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_rows(app: &TestApp, action: &str, report: &str) -> Vec<(Value, Value)> {
    let report = uuid::Uuid::parse_str(report).unwrap();
    app.db
        .client()
        .await
        .query(
            "SELECT coalesce(before, 'null'::jsonb), coalesce(after, 'null'::jsonb) FROM audit_log \
             WHERE action = $1 AND report_id = $2 AND actor_id IS NOT NULL ORDER BY at",
            &[&action, &report],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn a_hidden_report_vanishes_for_the_public_and_comes_back_when_unhidden() {
    let app = spawn_app().await;
    let c = case(&app, "Đường liên thôn bị sạt lở, có ảnh mặt người").await;
    // A public step of its timeline, for servicerequestupdates.
    let accepted = post(
        &app,
        &format!("/api/v1/tickets/{}/transitions", c.id),
        json!({"action": "accept"}),
        Some(&c.staff),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    assert!(public.get("hidden").is_none(), "{public}");
    let photo_url = public["photos"][0]["url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&app, &photo_url, None).await.status(), 200);
    assert!(feed_ids(&app).await.contains(&c.id));
    assert!(geojson_ids(&app).await.contains(&c.id));
    assert!(open311_ids(&app, "requests.json").await.contains(&c.id));
    let updates = json_ok(anonymous(&app, "/open311/v2/servicerequestupdates.json").await).await;
    assert!(updates.to_string().contains(&c.id));

    let resp = hide(
        &app,
        &c.staff,
        &c.id,
        json!({"reason": "Ảnh có khuôn mặt người qua đường"}),
    )
    .await;
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let hidden = json_ok(resp).await;
    assert_eq!(hidden["id"], c.id.as_str());
    assert_eq!(hidden["hidden"], true);
    assert_eq!(hidden["hidden_reason"], "Ảnh có khuôn mặt người qua đường");
    assert!(hidden["hidden_at"].is_string());
    // Twice is a conflict.
    let again = hide(&app, &c.staff, &c.id, json!({"reason": "lần nữa"})).await;
    assert_problem(again, 409, "conflict").await;

    // The public: 404 everywhere, absent from every list.
    for path in [
        format!("/api/v1/reports/{}", c.id),
        format!("/api/v1/reports/by-code/{}", c.tracking_code),
        format!("/api/v1/reports/{}/events", c.id),
        format!("/open311/v2/requests/{}.json", c.id),
        format!("/open311/v2/tokens/{}.json", c.tracking_code),
    ] {
        assert_eq!(anonymous(&app, &path).await.status(), 404, "{path}");
    }
    assert_eq!(fetch(&app, &photo_url, None).await.status(), 404);
    assert!(!feed_ids(&app).await.contains(&c.id));
    assert!(!geojson_ids(&app).await.contains(&c.id));
    assert!(!open311_ids(&app, "requests.json").await.contains(&c.id));
    assert!(
        !open311_ids(&app, "requests.json?extensions=true")
            .await
            .contains(&c.id)
    );
    let updates = json_ok(anonymous(&app, "/open311/v2/servicerequestupdates.json").await).await;
    assert!(!updates.to_string().contains(&c.id), "{updates}");
    // Another resident is the public too.
    let stranger = citizen(&app).await;
    let resp = get_with(&app, &format!("/api/v1/reports/{}", c.id), &stranger).await;
    assert_problem(resp, 404, "not_found").await;
    assert_eq!(fetch(&app, &photo_url, Some(&stranger)).await.status(), 404);

    // Its reporter still sees it, marked hidden, with its photo; the hide is not in their
    // timeline.
    let own =
        json_ok(get_with(&app, &format!("/api/v1/reports/{}", c.id), &c.resident).await).await;
    assert_eq!(own["hidden"], true);
    assert_eq!(
        fetch(&app, &photo_url, Some(&c.resident)).await.status(),
        200
    );
    let mine = json_ok(get_with(&app, "/api/v1/me/reports", &c.resident).await).await;
    assert_eq!(mine["items"][0]["id"], c.id.as_str());
    assert_eq!(mine["items"][0]["hidden"], true);
    let events = json_ok(
        get_with(
            &app,
            &format!("/api/v1/reports/{}/events", c.id),
            &c.resident,
        )
        .await,
    )
    .await;
    assert!(!actions(&events["items"]).contains(&"hide".to_owned()));

    // The staff see it too, with why, and the internal event.
    let seen = json_ok(get_with(&app, &format!("/api/v1/reports/{}", c.id), &c.staff).await).await;
    assert_eq!(seen["hidden"], true);
    let ticket =
        json_ok(get_with(&app, &format!("/api/v1/tickets/{}", c.id), &c.staff).await).await;
    assert_eq!(ticket["hidden"], true);
    assert_eq!(ticket["hidden_reason"], "Ảnh có khuôn mặt người qua đường");
    let hide_event = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "hide")
        .expect("a hide event")
        .clone();
    assert_eq!(
        hide_event["internal_note"],
        "Ảnh có khuôn mặt người qua đường"
    );
    assert_eq!(hide_event["public_note"], Value::Null);
    let queue = json_ok(get_with(&app, "/api/v1/tickets", &c.staff).await).await;
    assert_eq!(queue["items"][0]["hidden"], true);

    let rows = audit_rows(&app, "report.hide", &c.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0["hidden"], false);
    assert_eq!(rows[0].1["hidden"], true);

    // Shown again: everything is back.
    let shown = json_ok(unhide(&app, &c.staff, &c.id).await).await;
    assert_eq!(shown["hidden"], false);
    assert_eq!(shown["hidden_reason"], Value::Null);
    assert_problem(unhide(&app, &c.staff, &c.id).await, 409, "conflict").await;
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    assert!(public.get("hidden").is_none());
    assert_eq!(
        anonymous(
            &app,
            &format!("/api/v1/reports/by-code/{}", c.tracking_code)
        )
        .await
        .status(),
        200
    );
    assert_eq!(fetch(&app, &photo_url, None).await.status(), 200);
    assert!(feed_ids(&app).await.contains(&c.id));
    assert!(geojson_ids(&app).await.contains(&c.id));
    assert!(open311_ids(&app, "requests.json").await.contains(&c.id));
    let events = json_ok(anonymous(&app, &format!("/api/v1/reports/{}/events", c.id)).await).await;
    let public_actions = actions(&events["items"]);
    assert!(
        !public_actions.contains(&"hide".to_owned())
            && !public_actions.contains(&"unhide".to_owned()),
        "{public_actions:?}"
    );
    assert_eq!(audit_rows(&app, "report.unhide", &c.id).await.len(), 1);
}

#[tokio::test]
async fn only_the_handling_department_managers_and_admins_moderate() {
    let app = spawn_app().await;
    let c = case(&app, "Đèn đường hỏng ở thôn Ka Đô Mới").await;
    let reason = json!({"reason": "Thông tin cá nhân"});
    let other = account_token(&app, "staff", Some(VAN_HOA)).await;
    let manager = account_token(&app, "manager", Some(KINH_TE)).await;
    let admin = account_token(&app, "admin", None).await;

    // Another department's staff: the ticket does not exist for them.
    assert_problem(
        hide(&app, &other, &c.id, reason.clone()).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        edit(
            &app,
            &other,
            &c.id,
            json!({"description": "x", "reason": "y"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        redact(
            &app,
            &other,
            &c.id,
            &c.photo_id,
            json!({"mode": "blur", "reason": "y"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // Residents, even the reporter: 403; nobody signed in: 401.
    assert_problem(
        hide(&app, &c.resident, &c.id, reason.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{}/hide", c.id)))
        .json(&reason)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;

    // A reason is required; bodies are checked.
    for body in [json!({}), json!({"reason": "   "}), json!({"reason": null})] {
        let resp = hide(&app, &c.staff, &c.id, body).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "reason", "{problem}");
    }
    let long = hide(&app, &c.staff, &c.id, json!({"reason": "x".repeat(1001)})).await;
    assert_problem(long, 422, "validation_failed").await;
    let unknown = hide(
        &app,
        &c.staff,
        &c.id,
        json!({"reason": "a", "public": false}),
    )
    .await;
    assert_problem(unknown, 400, "malformed_json").await;
    let no_mode = redact(&app, &c.staff, &c.id, &c.photo_id, json!({"reason": "a"})).await;
    let problem = assert_problem(no_mode, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "mode");
    let bad_mode = redact(
        &app,
        &c.staff,
        &c.id,
        &c.photo_id,
        json!({"mode": "pixelate", "reason": "a"}),
    )
    .await;
    assert_problem(bad_mode, 422, "validation_failed").await;
    let no_reason = redact(&app, &c.staff, &c.id, &c.photo_id, json!({"mode": "blur"})).await;
    assert_problem(no_reason, 422, "validation_failed").await;
    for body in [
        json!({"reason": "a"}),
        json!({"description": "  ", "reason": "a"}),
    ] {
        let problem = assert_problem(
            edit(&app, &c.staff, &c.id, body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "description");
    }
    let no_reason = edit(&app, &c.staff, &c.id, json!({"description": "Mới"})).await;
    assert_problem(no_reason, 422, "validation_failed").await;
    // A photo that is not this report's, an unknown ticket.
    let stray = upload_ok(&app, &c.resident, &photo("gps/DSCN0012.jpg")).await;
    let resp = redact(
        &app,
        &c.staff,
        &c.id,
        stray["id"].as_str().unwrap(),
        json!({"mode": "remove", "reason": "a"}),
    )
    .await;
    assert_problem(resp, 404, "not_found").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_problem(
        hide(&app, &c.staff, &unknown, reason.clone()).await,
        404,
        "not_found",
    )
    .await;

    // The department's manager hides it, an admin shows it again.
    json_ok(hide(&app, &manager, &c.id, reason.clone()).await).await;
    json_ok(unhide(&app, &admin, &c.id).await).await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM audit_log WHERE report_id = '{}' AND action IN ('report.hide', 'report.unhide')",
                c.id
            )
        )
        .await,
        2
    );
    // Nothing was written by the refused calls.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM report_events WHERE report_id = '{}' AND action IN ('hide', 'unhide', 'edit_description', 'redact')",
                c.id
            )
        )
        .await,
        2
    );
}

#[tokio::test]
async fn an_edited_description_is_public_and_the_original_stays_with_the_staff() {
    let app = spawn_app().await;
    let original = "Ông Nguyễn Văn B số 0912345678 đổ rác ra đường";
    let edited = "Rác bị đổ ra đường liên thôn";
    let c = case(&app, original).await;
    let resp = edit(
        &app,
        &c.staff,
        &c.id,
        json!({"description": edited, "reason": "Có tên và số điện thoại của người khác"}),
    )
    .await;
    let version_before = 1;
    assert!(resp.headers().contains_key("etag"));
    let ticket = json_ok(resp).await;
    assert_eq!(ticket["description"], edited);
    assert!(ticket["version"].as_i64().unwrap() > version_before);
    let event = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "edit_description")
        .expect("the edit is in the staff timeline")
        .clone();
    assert_eq!(event["description_before"], original);
    assert_eq!(event["description_after"], edited);
    assert_eq!(
        event["internal_note"],
        "Có tên và số điện thoại của người khác"
    );

    // The public sees the new text only, and nothing of the edit.
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    assert_eq!(public["description"], edited);
    let feed = json_ok(anonymous(&app, "/api/v1/reports").await).await;
    assert_eq!(feed["items"][0]["description"], edited);
    let events = anonymous(&app, &format!("/api/v1/reports/{}/events", c.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!events.contains("0912345678"), "{events}");
    assert!(!events.contains("edit_description"), "{events}");
    let o311 = anonymous(
        &app,
        &format!("/open311/v2/requests/{}.json?extensions=true", c.id),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        o311.contains(edited) && !o311.contains("0912345678"),
        "{o311}"
    );
    // The reporter neither.
    let own = get_with(
        &app,
        &format!("/api/v1/reports/{}/events", c.id),
        &c.resident,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!own.contains("0912345678"), "{own}");
    // Staff search finds the new text.
    let found = json_ok(get_with(&app, "/api/v1/tickets?q=lien%20thon", &c.staff).await).await;
    assert_eq!(found["items"][0]["id"], c.id.as_str());

    let rows = audit_rows(&app, "report.edit_description", &c.id).await;
    assert_eq!(rows.len(), 1);
    // The log keeps sizes, never the text (an edit often takes personal data out of it).
    assert_eq!(rows[0].0["characters"], original.chars().count());
    assert_eq!(rows[0].1["characters"], edited.chars().count());
    assert!(!format!("{:?}", rows[0]).contains(&original[..20]));

    // The same text again changes nothing.
    let again = edit(
        &app,
        &c.staff,
        &c.id,
        json!({"description": edited, "reason": "lần nữa"}),
    )
    .await;
    json_ok(again).await;
    assert_eq!(
        audit_rows(&app, "report.edit_description", &c.id)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_blurred_photo_gets_new_urls_and_its_original_stays_for_the_staff() {
    let app = spawn_app().await;
    let c = case(&app, "Xe tải đậu chắn lối đi, thấy rõ biển số").await;
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    let old_url = public["photos"][0]["url"].as_str().unwrap().to_owned();
    let old_thumb = public["photos"][0]["thumbnail_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let unredacted = bytes_ok(&app, &old_url, None).await;
    let unredacted_thumb = bytes_ok(&app, &old_thumb, None).await;
    let original_path = format!("/api/v1/media/{}/original.jpg", c.photo_id);
    // No original for anyone before a redaction but the staff.
    assert_eq!(anonymous(&app, &original_path).await.status(), 404);

    let resp = redact(
        &app,
        &c.staff,
        &c.id,
        &c.photo_id,
        json!({"mode": "blur", "reason": "Biển số xe"}),
    )
    .await;
    let redacted = json_ok(resp).await;
    assert_eq!(redacted["redaction"], "blurred");
    let new_url = redacted["url"].as_str().unwrap().to_owned();
    let new_thumb = redacted["thumbnail_url"].as_str().unwrap().to_owned();
    assert_ne!(new_url, old_url);
    assert_ne!(new_thumb, old_thumb);
    assert!(
        redacted["original_url"]
            .as_str()
            .unwrap()
            .ends_with(&original_path)
    );

    // The public gets the blurred copy under the new URLs, and the old URLs no longer serve
    // the unredacted image.
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    assert_eq!(public["photos"][0]["url"], new_url.as_str());
    assert!(public["photos"][0].get("original_url").is_none());
    let resp = fetch(&app, &new_url, None).await;
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let blurred = resp.bytes().await.unwrap().to_vec();
    assert_ne!(blurred, unredacted);
    assert_eq!(&blurred[..2], &[0xFF, 0xD8]);
    // A strong blur leaves little detail to encode.
    assert!(
        blurred.len() * 3 < unredacted.len(),
        "{} vs {}",
        blurred.len(),
        unredacted.len()
    );
    assert_ne!(bytes_ok(&app, &new_thumb, None).await, unredacted_thumb);
    assert_ne!(bytes_ok(&app, &old_url, None).await, unredacted);
    assert_ne!(bytes_ok(&app, &old_thumb, None).await, unredacted_thumb);

    // The original: the handling staff and admins only.
    let admin = account_token(&app, "admin", None).await;
    let other = account_token(&app, "staff", Some(VAN_HOA)).await;
    let resp = fetch(&app, &app.url(&original_path), Some(&c.staff)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), unredacted);
    assert_eq!(
        bytes_ok(&app, &app.url(&original_path), Some(&admin)).await,
        unredacted
    );
    assert_eq!(
        fetch(
            &app,
            &app.url(
                "/api/v1/media/{}/original"
                    .replace("{}", &c.photo_id)
                    .as_str()
            ),
            Some(&c.staff)
        )
        .await
        .status(),
        200
    );
    for token in [None, Some(c.resident.as_str()), Some(other.as_str())] {
        assert_eq!(
            fetch(&app, &app.url(&original_path), token).await.status(),
            404,
            "{token:?}"
        );
    }
    // The staff's view says what was done.
    let ticket =
        json_ok(get_with(&app, &format!("/api/v1/tickets/{}", c.id), &c.staff).await).await;
    assert_eq!(ticket["photos"][0]["redaction"], "blurred");
    assert!(ticket["photos"][0]["original_url"].is_string());
    let event = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "redact")
        .expect("a redact event")
        .clone();
    assert_eq!(event["media_id"], c.photo_id.as_str());
    assert_eq!(event["redaction"], "blurred");
    assert_eq!(event["internal_note"], "Biển số xe");

    // Blurring twice is a conflict.
    let again = redact(
        &app,
        &c.staff,
        &c.id,
        &c.photo_id,
        json!({"mode": "blur", "reason": "lần nữa"}),
    )
    .await;
    assert_problem(again, 409, "conflict").await;
    let rows = audit_rows(&app, "media.redact", &c.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0["redaction"], Value::Null);
    assert_eq!(rows[0].1["redaction"], "blurred");

    // Then removed altogether: gone for the public, the original still there for staff.
    let removed = json_ok(
        redact(
            &app,
            &c.staff,
            &c.id,
            &c.photo_id,
            json!({"mode": "remove", "reason": "Vẫn nhận ra được"}),
        )
        .await,
    )
    .await;
    assert_eq!(removed["redaction"], "removed");
    assert_eq!(removed["url"], Value::Null);
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    assert_eq!(public["photos"], json!([]));
    assert_eq!(fetch(&app, &new_url, None).await.status(), 404);
    assert_eq!(
        bytes_ok(&app, &app.url(&original_path), Some(&c.staff)).await,
        unredacted
    );
    // And blurred again instead: new URLs once more, the original unchanged.
    let blurred_again = json_ok(
        redact(
            &app,
            &c.staff,
            &c.id,
            &c.photo_id,
            json!({"mode": "blur", "reason": "Chỉ làm mờ"}),
        )
        .await,
    )
    .await;
    let newest = blurred_again["url"].as_str().unwrap();
    assert_ne!(newest, new_url);
    assert_ne!(bytes_ok(&app, newest, None).await, unredacted);
    assert_eq!(
        bytes_ok(&app, &app.url(&original_path), Some(&c.staff)).await,
        unredacted
    );
    assert_eq!(audit_rows(&app, "media.redact", &c.id).await.len(), 3);
    // On disk: the original pair and the current blurred pair; the first blurred pair, which no
    // row refers to any more, is gone.
    let dir = app.data_dir().join("media/photos").join(&c.photo_id);
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.contains(&"display.jpg".to_owned()), "{files:?}");
    assert!(files.contains(&"thumbnail.jpg".to_owned()), "{files:?}");
    let stamp = newest.rsplit('=').next().unwrap();
    let blurred: Vec<&String> = files.iter().filter(|f| f.contains("blurred")).collect();
    assert!(blurred.iter().all(|f| f.contains(stamp)), "{files:?}");
}

#[tokio::test]
async fn a_removed_photo_is_in_no_public_list() {
    let app = spawn_app().await;
    let c = case(&app, "Cống thoát nước bị tắc, ảnh có người").await;
    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    let url = public["photos"][0]["url"].as_str().unwrap().to_owned();
    let thumb = public["photos"][0]["thumbnail_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let unredacted = bytes_ok(&app, &url, None).await;
    json_ok(
        redact(
            &app,
            &c.staff,
            &c.id,
            &c.photo_id,
            json!({"mode": "remove", "reason": "Khuôn mặt trẻ em"}),
        )
        .await,
    )
    .await;

    let public = json_ok(anonymous(&app, &format!("/api/v1/reports/{}", c.id)).await).await;
    assert_eq!(public["photos"], json!([]));
    let feed = json_ok(anonymous(&app, "/api/v1/reports").await).await;
    assert_eq!(feed["items"][0]["photos"], json!([]));
    let own =
        json_ok(get_with(&app, &format!("/api/v1/reports/{}", c.id), &c.resident).await).await;
    assert_eq!(own["photos"], json!([]));
    let events = json_ok(anonymous(&app, &format!("/api/v1/reports/{}/events", c.id)).await).await;
    assert_eq!(events["items"][0]["photos"], json!([]));
    let o311 = json_ok(
        anonymous(
            &app,
            &format!("/open311/v2/requests/{}.json?extensions=true", c.id),
        )
        .await,
    )
    .await;
    assert_eq!(o311[0]["media_url"], Value::Null);
    assert!(!o311.to_string().contains(&c.photo_id), "{o311}");
    for u in [&url, &thumb] {
        assert_eq!(fetch(&app, u, None).await.status(), 404);
        assert_eq!(fetch(&app, u, Some(&c.resident)).await.status(), 404);
    }
    // The staff keep it, listed and readable.
    let ticket =
        json_ok(get_with(&app, &format!("/api/v1/tickets/{}", c.id), &c.staff).await).await;
    assert_eq!(ticket["photos"][0]["redaction"], "removed");
    let original = ticket["photos"][0]["original_url"].as_str().unwrap();
    assert_eq!(bytes_ok(&app, original, Some(&c.staff)).await, unredacted);
    assert_eq!(fetch(&app, &url, Some(&c.staff)).await.status(), 200);
    let rows = audit_rows(&app, "media.redact", &c.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1["redaction"], "removed");
}

//! Report intake and reads over HTTP: submission with routing, deadline and duplicates; every
//! refusal; idempotent retries arriving together; the public feed never leaking who reported.

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use serde_json::{Value, json};

use crate::accounts::{account_token, get_with, post};
use crate::helpers::{TestApp, assert_problem, count, import_areas, shared_data, spawn_app};
use crate::media::{citizen, photo, upload_ok};

/// Near the seeded centroid of xã Ka Đô (no boundaries imported: nearest centroid wins).
const KA_DO: (f64, f64) = (11.7394, 108.5884);

pub fn report_body(category: &str, at: (f64, f64)) -> Value {
    json!({
        "category": category,
        "description": "Đường liên thôn bị sạt lở, xe máy không qua được",
        "location": {"lat": at.0, "lon": at.1, "accuracy_m": 8.5},
        "address": "Thôn Ka Đô Mới",
        "media_ids": [],
        "consent": true,
    })
}

pub async fn submit(
    app: &TestApp,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/reports"))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

pub async fn submit_ok(app: &TestApp, token: &str, body: &Value) -> Value {
    let resp = submit(app, token, body, None).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

/// A point `metres` north of `at`.
fn north(at: (f64, f64), metres: f64) -> (f64, f64) {
    (at.0 + metres / 111_320.0, at.1)
}

#[tokio::test]
async fn a_report_is_routed_given_a_deadline_and_readable_by_its_code() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let photo1 = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;
    let mut body = report_body("road", KA_DO);
    body["media_ids"] = json!([photo1["id"]]);
    let resp = submit(&app, &token, &body, None).await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let report: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/reports/{}", report["id"].as_str().unwrap())
    );
    assert_eq!(report["status"], "new");
    assert_eq!(report["category"], "road");
    assert_eq!(report["area"]["code"], "24943");
    assert_eq!(report["area"]["name"], "Ka Đô");
    let department = report["department"]["name"].as_str().unwrap();
    assert!(department.contains("Kinh tế"), "{department}");
    let reason = report["routing_reason"].as_str().unwrap();
    assert!(
        reason.contains("xã Ka Đô") && reason.contains(department) && reason.contains("quy tắc #"),
        "{reason}"
    );
    assert_eq!(report["photos"].as_array().unwrap().len(), 1);
    assert_eq!(report["possible_duplicates"], json!([]));

    // Five working days by the holidays table, landing on a working weekday in Vietnam.
    let created: DateTime<Utc> = report["created_at"].as_str().unwrap().parse().unwrap();
    let due: DateTime<Utc> = report["due_at"].as_str().unwrap().parse().unwrap();
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let calendar = phananh::db::holidays::load_calendar(&mut conn)
        .await
        .unwrap();
    let expected = calendar.due_at(created, 5, phananh::domain::DeadlineUnit::WorkingDays);
    assert!(
        (due - expected).num_seconds().abs() <= 1,
        "{created} → {due}, expected {expected}"
    );
    assert!(
        due - created >= chrono::Duration::days(4),
        "{created} → {due}"
    );
    let local = due.with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap());
    assert!(local.weekday().number_from_monday() <= 5, "{local}");

    // The tracking code reads back in the forms people type it.
    let code = report["tracking_code"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    let typed = format!("{}-{}", &code[..5], &code[5..]).to_lowercase();
    let by_code = app.get(&format!("/api/v1/reports/by-code/{typed}")).await;
    assert_eq!(by_code.status(), 200);
    let public: Value = by_code.json().await.unwrap();
    assert_eq!(public["id"], report["id"]);
    assert!(public.get("tracking_code").is_none() && public.get("reporter").is_none());
    let mut wrong = code.to_owned().into_bytes();
    wrong[3] = if wrong[3] == b'A' { b'B' } else { b'A' };
    let misread = app
        .get(&format!(
            "/api/v1/reports/by-code/{}",
            String::from_utf8(wrong).unwrap()
        ))
        .await;
    assert_problem(misread, 404, "not_found").await;

    // The owner sees the private fields; the photo is now public with its report.
    let mine: Value = get_with(&app, &location, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["tracking_code"], code);
    assert_eq!(mine["routing_reason"], reason);
    assert_eq!(mine["location"]["accuracy_m"], 8.5);
    assert_eq!(mine["consent"]["version"], "2026-01-01");
    let photo_url = public["photos"][0]["url"]
        .as_str()
        .unwrap()
        .replace("http://localhost:8080", &app.address);
    assert_eq!(
        app.client.get(&photo_url).send().await.unwrap().status(),
        200
    );

    // The timeline starts with the creation.
    let events: Value = app
        .get(&format!("{location}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["action"], "created");
    assert_eq!(events["items"][0]["to_status"], "new");
    assert!(events["items"][0].get("internal_note").is_none());

    // An attached photo cannot be attached again.
    let mut again = report_body("road", KA_DO);
    again["media_ids"] = json!([photo1["id"]]);
    let resp = submit(&app, &token, &again, None).await;
    assert_problem(resp, 422, "invalid_media").await;
}

#[tokio::test]
async fn every_invalid_submission_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let other = citizen(&app).await;
    let theirs = upload_ok(&app, &other, &photo("gps/DSCN0012.jpg")).await;

    let cases: Vec<(Value, u16, &str)> = vec![
        (
            {
                let mut b = report_body("road", KA_DO);
                b.as_object_mut().unwrap().remove("consent");
                b
            },
            422,
            "consent_required",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["consent"] = json!(false);
                b
            },
            422,
            "consent_required",
        ),
        (
            report_body("no_such_category", KA_DO),
            422,
            "unknown_category",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["description"] = json!("đ".repeat(2001));
                b
            },
            422,
            "description_too_long",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["description"] = json!("   ");
                b
            },
            422,
            "validation_failed",
        ),
        (report_body("road", (91.0, 108.5)), 422, "validation_failed"),
        (report_body("road", (11.7, 181.0)), 422, "validation_failed"),
        // Hà Nội: a real place, but not ours.
        (
            report_body("road", (21.0285, 105.8542)),
            422,
            "location_outside_jurisdiction",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["media_ids"] = json!([theirs["id"]]);
                b
            },
            422,
            "invalid_media",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["media_ids"] = json!([uuid::Uuid::now_v7()]);
                b
            },
            422,
            "invalid_media",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["location"]["lat"] = json!("11.7");
                b
            },
            400,
            "malformed_json",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["surprise"] = json!(1);
                b
            },
            400,
            "malformed_json",
        ),
        (
            {
                let mut b = report_body("road", KA_DO);
                b["address"] = json!("a\u{0}b");
                b
            },
            422,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let resp = submit(&app, &token, &body, None).await;
        let problem = assert_problem(resp, status, code).await;
        if status == 422 {
            assert!(
                problem["errors"].as_array().is_some_and(|e| !e.is_empty())
                    || code == "location_outside_jurisdiction",
                "{problem}"
            );
        }
    }
    let bad_lat = assert_problem(
        submit(&app, &token, &report_body("road", (91.0, 108.5)), None).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(bad_lat["errors"][0]["field"], "location.lat");
    // NaN and Infinity are not JSON.
    let resp = app
        .client
        .post(app.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"category":"road","description":"x","location":{"lat":NaN,"lon":108.5},"consent":true}"#)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "malformed_json").await;
    // Not signed in.
    let resp = post(&app, "/api/v1/reports", report_body("road", KA_DO), None).await;
    assert_problem(resp, 401, "unauthorized").await;

    assert_eq!(count(&app, "SELECT count(*) FROM reports").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM report_events").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM media WHERE report_id IS NOT NULL"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn twenty_simultaneous_retries_of_one_key_make_one_report() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let key = uuid::Uuid::now_v7().to_string();
    let body = report_body("waste", KA_DO);
    let responses =
        futures::future::join_all((0..20).map(|_| submit(&app, &token, &body, Some(&key)))).await;
    let mut ids = std::collections::HashSet::new();
    for resp in responses {
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
        let v: Value = resp.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
        assert_eq!(v["tracking_code"].as_str().unwrap().len(), 10);
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(count(&app, "SELECT count(*) FROM reports").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM report_events").await, 1);

    // Later retries too; a different body under the same key is a conflict.
    let later: Value = submit(&app, &token, &body, Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["id"].as_str().unwrap(), ids.iter().next().unwrap());
    let mut changed = body.clone();
    changed["description"] = json!("Một phản ánh khác");
    let resp = submit(&app, &token, &changed, Some(&key)).await;
    assert_problem(resp, 409, "idempotency_key_reused").await;
    assert_eq!(count(&app, "SELECT count(*) FROM reports").await, 1);
}

#[tokio::test]
async fn points_inside_each_real_commune_reach_that_communes_department() {
    let app = spawn_app().await;
    let file = shared_data("boundaries/don-duong-communes.geojson");
    let out = import_areas(&file, &app.db.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = citizen(&app).await;
    let fc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let client = app.db.client().await;
    for feature in fc["features"].as_array().unwrap() {
        let code = feature["properties"]["code"].as_str().unwrap();
        let point = phananh::domain::Boundary::from_geojson(&feature["geometry"])
            .unwrap()
            .interior_point();
        for (category, kind) in [
            ("road", "kinh-te"),
            ("health", "van-hoa-xa-hoi"),
            ("traffic_safety", "cong-an"),
        ] {
            let report =
                submit_ok(&app, &token, &report_body(category, (point.lat, point.lon))).await;
            assert_eq!(report["area"]["code"], code, "{category} at {point:?}");
            let id = uuid::Uuid::parse_str(report["department"]["id"].as_str().unwrap()).unwrap();
            let dept: String = client
                .query_one("SELECT code FROM departments WHERE id = $1", &[&id])
                .await
                .unwrap()
                .get(0);
            assert_eq!(dept, format!("{code}-{kind}"), "{category} in {code}");
        }
    }
    // A vertex that Đơn Dương and Quảng Lập share, at the 6 decimals a phone sends: one of them.
    let on_border = submit_ok(&app, &token, &report_body("road", (11.725121, 108.466524))).await;
    let code = on_border["area"]["code"].as_str().unwrap();
    assert!(code == "24931" || code == "24955", "{on_border}");
}

#[tokio::test]
async fn open_reports_of_the_same_category_nearby_are_offered_as_duplicates() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let first = submit_ok(&app, &token, &report_body("lighting", KA_DO)).await;
    let second = submit_ok(&app, &token, &report_body("lighting", north(KA_DO, 60.0))).await;
    let dups = second["possible_duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1, "{second}");
    assert_eq!(dups[0]["id"], first["id"]);
    let d = dups[0]["distance_m"].as_f64().unwrap();
    assert!((55.0..=65.0).contains(&d), "{d}");
    assert_eq!(dups[0]["status"], "new");
    // Further than 150 m, another category, or a closed report: not offered.
    let far = submit_ok(&app, &token, &report_body("lighting", north(KA_DO, 400.0))).await;
    assert_eq!(far["possible_duplicates"], json!([]));
    let other = submit_ok(&app, &token, &report_body("waste", north(KA_DO, 10.0))).await;
    assert_eq!(other["possible_duplicates"], json!([]));
    app.db
        .client()
        .await
        .execute("UPDATE reports SET status = 'resolved'", &[])
        .await
        .unwrap();
    let later = submit_ok(&app, &token, &report_body("lighting", north(KA_DO, 20.0))).await;
    assert_eq!(later["possible_duplicates"], json!([]));
}

#[tokio::test]
async fn the_duplicate_and_bbox_search_can_use_the_location_index() {
    let app = spawn_app().await;
    let client = app.db.client().await;
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    let plan: Vec<String> = client
        .query(
            "EXPLAIN SELECT id FROM reports WHERE point(reports.lon, reports.lat) <@ box(point(108.58, 11.73), point(108.59, 11.74)) AND status IN ('new','accepted')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("reports_location"), "{plan}");
}

#[tokio::test]
async fn the_public_feed_never_shows_who_reported_or_private_categories() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let me: Value = get_with(&app, "/api/v1/me", &token)
        .await
        .json()
        .await
        .unwrap();
    let phone = me["phone"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = submit_ok(
            &app,
            &token,
            &report_body("road", north(KA_DO, 1000.0 * f64::from(i))),
        )
        .await;
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    let secret = submit_ok(&app, &token, &report_body("security", KA_DO)).await;

    // Page through with limit=2: every public report once, newest first, nothing else.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/reports?limit=2&cursor={c}"),
            None => "/api/v1/reports?limit=2".to_owned(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        let text = page.to_string();
        assert!(
            !text.contains(&phone) && !text.contains("Nguyễn Văn A"),
            "{text}"
        );
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("reporter").is_none() && item.get("tracking_code").is_none());
            assert!(item["location"].get("accuracy_m").is_none());
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    assert!(!seen.contains(&secret["id"].as_str().unwrap().to_owned()));
    // The security report exists only for its reporter (and staff).
    let path = format!("/api/v1/reports/{}", secret["id"].as_str().unwrap());
    assert_problem(app.get(&path).await, 404, "not_found").await;
    assert_eq!(get_with(&app, &path, &token).await.status(), 200);
    let mine: Value = get_with(&app, "/api/v1/me/reports", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 6);
    assert_eq!(mine["items"][0]["id"], secret["id"]);
    assert!(mine["items"][0]["tracking_code"].is_string());

    // Filters: bbox, status, category, area, since.
    let (lat, lon) = KA_DO;
    let bbox = format!(
        "{},{},{},{}",
        lon - 0.001,
        lat - 0.001,
        lon + 0.001,
        lat + 0.001
    );
    let page: Value = app
        .get(&format!("/api/v1/reports?bbox={bbox}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page: Value = app
        .get("/api/v1/reports?status=resolved")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
    let page: Value = app
        .get("/api/v1/reports?status=new,accepted&category=road&area=24943")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let page: Value = app
        .get("/api/v1/reports?since=2999-01-01")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
    for bad in [
        "bbox=1,2,3",
        "status=open",
        "limit=0",
        "limit=101",
        "cursor=xyz",
        "since=yesterday",
        "colour=red",
    ] {
        assert_problem(
            app.get(&format!("/api/v1/reports?{bad}")).await,
            400,
            "invalid_query",
        )
        .await;
    }

    // GeoJSON.
    let resp = app
        .client
        .get(app.url("/api/v1/reports?limit=3"))
        .header("Accept", "application/geo+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let fc: Value = resp.json().await.unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    assert_eq!(features[0]["geometry"]["type"], "Point");
    let coords = features[0]["geometry"]["coordinates"].as_array().unwrap();
    assert!((coords[0].as_f64().unwrap() - 108.5884).abs() < 0.1);
    assert!(fc["next_cursor"].is_string());
    assert!(!fc.to_string().contains(&phone));
}

#[tokio::test]
async fn a_private_reports_photos_are_seen_only_by_its_reporter_and_handling_staff() {
    let app = spawn_app().await;
    let token = citizen(&app).await;
    let shot = upload_ok(&app, &token, &photo("gps/DSCN0042.jpg")).await;
    let mut body = report_body("security", KA_DO);
    body["media_ids"] = json!([shot["id"]]);
    body["anonymous"] = json!(true);
    let report = submit_ok(&app, &token, &body).await;
    let police = report["department"]["id"].as_str().unwrap().to_owned();
    let url = report["photos"][0]["url"]
        .as_str()
        .unwrap()
        .replace("http://localhost:8080", &app.address);
    let fetch = |t: Option<String>| {
        let mut req = app.client.get(&url);
        if let Some(t) = t {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(fetch(Some(token.clone())).await.unwrap().status(), 200);
    let handling = account_token(&app, "staff", Some("24943-cong-an")).await;
    assert_eq!(fetch(Some(handling.clone())).await.unwrap().status(), 200);
    let elsewhere = account_token(&app, "staff", Some("24943-van-hoa-xa-hoi")).await;
    assert_eq!(fetch(Some(elsewhere.clone())).await.unwrap().status(), 404);
    assert_eq!(
        fetch(Some(citizen(&app).await)).await.unwrap().status(),
        404
    );
    assert_eq!(fetch(None).await.unwrap().status(), 404);

    // The handling staff see the report's private fields but not the identity of a reporter
    // who asked to stay anonymous; staff elsewhere see nothing of it.
    let path = format!("/api/v1/reports/{}", report["id"].as_str().unwrap());
    let seen: Value = get_with(&app, &path, &handling).await.json().await.unwrap();
    assert_eq!(seen["department"]["id"], police.as_str());
    assert!(seen["tracking_code"].is_string());
    assert!(seen.get("reporter").is_none(), "{seen}");
    assert_problem(get_with(&app, &path, &elsewhere).await, 404, "not_found").await;
    // A report that is not anonymous shows its reporter to the handling staff only.
    let open = submit_ok(&app, &token, &report_body("security", KA_DO)).await;
    let path = format!("/api/v1/reports/{}", open["id"].as_str().unwrap());
    let seen: Value = get_with(&app, &path, &handling).await.json().await.unwrap();
    assert_eq!(seen["reporter"]["full_name"], "Nguyễn Văn A");
}

//! Administration of areas: create, read, change, end, delete what nothing refers to, and the
//! import of a real boundary file through the API — the same import as `phananh areas import` —
//! after which reports are routed by the imported boundaries.

use phananh::domain::{Boundary, Coordinates};
use serde_json::{Value, json};

use crate::accounts::account_token;
use crate::helpers::{TestApp, assert_problem, count, shared_data, spawn_app};
use crate::reports::{report_body, submit, submit_ok};

/// A request with any method, an optional bearer token and an optional JSON body.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// `(action, before, after)` of every audit line about `entity_type` `entity_id`, oldest first.
pub async fn audit_rows(
    app: &TestApp,
    entity_type: &str,
    entity_id: &str,
) -> Vec<(String, Option<Value>, Option<Value>)> {
    app.db
        .client()
        .await
        .query(
            "SELECT action, before, after FROM audit_log WHERE entity_type = $1 AND entity_id = $2 ORDER BY at, id",
            &[&entity_type, &entity_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Tokens of every role that is not an admin (anonymous: `None`).
pub async fn outsiders(app: &TestApp) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("anonymous", None),
        ("citizen", Some(account_token(app, "citizen", None).await)),
        (
            "staff",
            Some(account_token(app, "staff", Some("24943-kinh-te")).await),
        ),
        (
            "manager",
            Some(account_token(app, "manager", Some("24943-kinh-te")).await),
        ),
        ("ioc", Some(account_token(app, "ioc", None).await)),
    ]
}

/// Asserts that only admins pass: anonymous 401, every other role 403.
pub async fn only_admins(
    app: &TestApp,
    who: &[(&'static str, Option<String>)],
    method: &str,
    path: &str,
    body: Option<Value>,
) {
    for (role, token) in who {
        let resp = call(app, method, path, token.as_deref(), body.clone()).await;
        let (status, code) = if token.is_none() {
            (401, "unauthorized")
        } else {
            (403, "forbidden")
        };
        assert_eq!(resp.status().as_u16(), status, "{method} {path} as {role}");
        assert_problem(resp, status, code).await;
    }
}

fn square(lon: f64, lat: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
}

#[tokio::test]
async fn areas_are_created_read_changed_and_deleted_with_an_audit_line_each() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());

    let resp = call(
        &app,
        "POST",
        "/api/v1/admin/areas",
        a,
        Some(json!({"code": "99001", "name": "Thử", "full_name": "Phường Thử", "centroid": {"lat": 11.6, "lon": 108.4}})),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        resp.headers()["cache-control"].to_str().unwrap(),
        "private, no-store"
    );
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/admin/areas/{id}"));
    assert_eq!(created["code"], "99001");
    assert_eq!(created["kind"], "ward", "read off the full name");
    assert_eq!(created["valid_from"], "2025-07-01");
    assert_eq!(created["has_boundary"], false);
    assert_eq!(created["boundary"], Value::Null);
    assert_eq!(created["centroid"], json!({"lat": 11.6, "lon": 108.4}));

    let read: Value = call(&app, "GET", &location, a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);
    let list: Value = call(&app, "GET", "/api/v1/admin/areas", a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 5, "4 seeded + 1");
    assert_eq!(list["next_cursor"], Value::Null);
    assert!(
        list["items"][0].get("boundary").is_none(),
        "no polygons in the list"
    );

    let audit = audit_rows(&app, "area", &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "area.create");
    assert_eq!(audit[0].1, None);
    assert_eq!(audit[0].2.as_ref().unwrap()["code"], "99001");

    // The same code in force twice: 409.
    let dup = call(
        &app,
        "POST",
        "/api/v1/admin/areas",
        a,
        Some(json!({"code": "99001", "name": "Khác", "centroid": {"lat": 11.5, "lon": 108.3}})),
    )
    .await;
    let body = assert_problem(dup, 409, "conflict").await;
    assert!(body["detail"].as_str().unwrap().contains("99001"), "{body}");
    // ... but an earlier period under the same code is history, and allowed.
    let older = call(
        &app,
        "POST",
        "/api/v1/admin/areas",
        a,
        Some(json!({"code": "99001", "name": "Cũ", "valid_from": "2010-01-01", "valid_to": "2025-07-01", "centroid": {"lat": 11.5, "lon": 108.3}})),
    )
    .await;
    assert_eq!(older.status(), 201);

    // Values that are not acceptable: 422 naming each field.
    for (body, field) in [
        (
            json!({"code": "99 002", "name": "A", "centroid": {"lat": 11.6, "lon": 108.4}}),
            "code",
        ),
        (
            json!({"code": "99002", "name": "  ", "centroid": {"lat": 11.6, "lon": 108.4}}),
            "name",
        ),
        (
            json!({"code": "99002", "name": "A", "kind": "village", "centroid": {"lat": 11.6, "lon": 108.4}}),
            "kind",
        ),
        (
            json!({"code": "99002", "name": "A", "valid_from": "2026-13-01", "centroid": {"lat": 11.6, "lon": 108.4}}),
            "valid_from",
        ),
        (
            json!({"code": "99002", "name": "A", "valid_from": "2026-01-01", "valid_to": "2025-01-01", "centroid": {"lat": 11.6, "lon": 108.4}}),
            "valid_to",
        ),
        (json!({"code": "99002", "name": "A"}), "centroid"),
        (
            json!({"code": "99002", "name": "A", "centroid": {"lat": 95.0, "lon": 108.4}}),
            "centroid",
        ),
        (
            json!({"code": "99002", "name": "A", "boundary": {"type": "Point", "coordinates": [108.4, 11.6]}}),
            "boundary",
        ),
    ] {
        let resp = call(&app, "POST", "/api/v1/admin/areas", a, Some(body.clone())).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body} → {problem}"
        );
    }
    // Unknown fields: 400.
    assert_problem(
        call(&app, "POST", "/api/v1/admin/areas", a, Some(json!({"code": "99002", "name": "A", "centroid": {"lat": 11.6, "lon": 108.4}, "colour": "red"}))).await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        call(&app, "PATCH", &location, a, Some(json!({"code": "99003"}))).await,
        400,
        "malformed_json",
    )
    .await;

    // A boundary and a new name: centroid and bbox follow the polygon; before → after audited.
    let resp = call(
        &app,
        "PATCH",
        &location,
        a,
        Some(json!({"name": "Thử Mới", "boundary": square(108.40, 11.60, 0.02), "name_en": "Thu Moi"})),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let patched: Value = resp.json().await.unwrap();
    assert_eq!(patched["name"], "Thử Mới");
    assert_eq!(patched["has_boundary"], true);
    assert_eq!(patched["bbox"], json!([108.40, 11.60, 108.42, 11.62]));
    assert!((patched["centroid"]["lat"].as_f64().unwrap() - 11.61).abs() < 1e-6);
    assert_eq!(patched["boundary"]["type"], "MultiPolygon");
    let audit = audit_rows(&app, "area", &id).await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].0, "area.update");
    assert_eq!(audit[1].1.as_ref().unwrap()["name"], "Thử");
    assert_eq!(audit[1].2.as_ref().unwrap()["name"], "Thử Mới");
    assert_eq!(audit[1].2.as_ref().unwrap()["has_boundary"], true);
    // null clears a nullable field; an empty PATCH changes nothing and writes no line.
    let cleared: Value = call(&app, "PATCH", &location, a, Some(json!({"name_en": null})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["name_en"], Value::Null);
    let same = call(&app, "PATCH", &location, a, Some(json!({}))).await;
    assert_eq!(same.status(), 200);
    let same_again = call(
        &app,
        "PATCH",
        &location,
        a,
        Some(json!({"name": "Thử Mới"})),
    )
    .await;
    assert_eq!(same_again.status(), 200);
    assert_eq!(audit_rows(&app, "area", &id).await.len(), 3);
    // A period that ends before it starts, or overlaps the older 99001: refused.
    assert_problem(
        call(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"valid_to": "2025-01-01"})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        call(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"valid_from": "2020-01-01"})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let unknown = format!("/api/v1/admin/areas/{}", uuid::Uuid::now_v7());
    assert_problem(call(&app, "GET", &unknown, a, None).await, 404, "not_found").await;
    assert_problem(
        call(&app, "PATCH", &unknown, a, Some(json!({"name": "X"}))).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        call(&app, "DELETE", &unknown, a, None).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        call(&app, "GET", "/api/v1/admin/areas/not-a-uuid", a, None).await,
        404,
        "not_found",
    )
    .await;

    // Deleting what nothing refers to: 204, audited with what it was.
    let del = call(&app, "DELETE", &location, a, None).await;
    assert_eq!(del.status(), 204);
    assert_problem(
        call(&app, "GET", &location, a, None).await,
        404,
        "not_found",
    )
    .await;
    let audit = audit_rows(&app, "area", &id).await;
    assert_eq!(audit.last().unwrap().0, "area.delete");
    assert_eq!(audit.last().unwrap().1.as_ref().unwrap()["code"], "99001");
    assert_eq!(audit.last().unwrap().2, None);

    // A seeded commune has departments and routing rules: 409, end it instead.
    let ka_do: uuid::Uuid = app
        .db
        .client()
        .await
        .query_one("SELECT id FROM areas WHERE code = '24943'", &[])
        .await
        .unwrap()
        .get(0);
    let body = assert_problem(
        call(
            &app,
            "DELETE",
            &format!("/api/v1/admin/areas/{ka_do}"),
            a,
            None,
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("valid_to"),
        "{body}"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM areas WHERE code = '24943'").await,
        1
    );

    // An area a report was routed to (and nothing else): 409 too.
    let new: Value = call(
        &app,
        "POST",
        "/api/v1/admin/areas",
        a,
        Some(json!({"code": "99009", "name": "Mới", "centroid": {"lat": 11.65, "lon": 108.45}})),
    )
    .await
    .json()
    .await
    .unwrap();
    let citizen = account_token(&app, "citizen", None).await;
    let report = submit_ok(&app, &citizen, &report_body("road", (11.65, 108.45))).await;
    assert_eq!(
        report["area"]["code"], "99009",
        "the new area takes reports at once"
    );
    let path = format!("/api/v1/admin/areas/{}", new["id"].as_str().unwrap());
    assert_problem(call(&app, "DELETE", &path, a, None).await, 409, "conflict").await;
    // Ending it instead: no new reports there, the old one keeps it.
    let ended = call(
        &app,
        "PATCH",
        &path,
        a,
        Some(json!({"valid_to": "2026-01-01"})),
    )
    .await;
    assert_eq!(ended.status(), 200);
    let later = submit(&app, &citizen, &report_body("road", (11.65, 108.45)), None).await;
    if later.status() == 201 {
        let later: Value = later.json().await.unwrap();
        assert_ne!(later["area"]["code"], "99009");
    } else {
        assert_problem(later, 422, "location_outside_jurisdiction").await;
    }

    // Only admins.
    let who = outsiders(&app).await;
    only_admins(&app, &who, "GET", "/api/v1/admin/areas", None).await;
    only_admins(&app, &who, "GET", &path, None).await;
    only_admins(
        &app,
        &who,
        "POST",
        "/api/v1/admin/areas",
        Some(json!({"code": "99010", "name": "A", "centroid": {"lat": 11.6, "lon": 108.4}})),
    )
    .await;
    only_admins(&app, &who, "PATCH", &path, Some(json!({"name": "B"}))).await;
    only_admins(&app, &who, "DELETE", &path, None).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM areas WHERE code = '99010'").await,
        0
    );
}

/// A point inside commune `code`'s real boundary whose nearest seeded centroid is another
/// commune's: before the import the nearest centroid decides, after it the boundary does.
fn point_decided_by_the_boundary(
    fc: &Value,
    centroids: &[(String, f64, f64)],
) -> (String, Coordinates) {
    for feature in fc["features"].as_array().unwrap() {
        let code = feature["properties"]["code"].as_str().unwrap();
        let shape = Boundary::from_geojson(&feature["geometry"]).unwrap();
        let b = shape.bbox();
        for i in 1..40 {
            for j in 1..40 {
                let lat = b.min_lat + (b.max_lat - b.min_lat) * f64::from(i) / 40.0;
                let lon = b.min_lon + (b.max_lon - b.min_lon) * f64::from(j) / 40.0;
                let at = Coordinates::parse(lat, lon).unwrap();
                if !shape.contains(at) {
                    continue;
                }
                let nearest = centroids
                    .iter()
                    .min_by(|x, y| {
                        let dx =
                            (x.1 - lat).powi(2) + ((x.2 - lon) * lat.to_radians().cos()).powi(2);
                        let dy =
                            (y.1 - lat).powi(2) + ((y.2 - lon) * lat.to_radians().cos()).powi(2);
                        dx.total_cmp(&dy)
                    })
                    .unwrap();
                if nearest.0 != code {
                    return (code.to_owned(), at);
                }
            }
        }
    }
    panic!("no point of one commune is nearer another's centroid");
}

#[tokio::test]
async fn the_real_boundary_file_imported_through_the_api_routes_the_next_report() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let citizen = account_token(&app, "citizen", None).await;
    let file = std::fs::read(shared_data("boundaries/don-duong-communes.geojson")).unwrap();
    let fc: Value = serde_json::from_slice(&file).unwrap();
    let centroids: Vec<(String, f64, f64)> = app
        .db
        .client()
        .await
        .query("SELECT code, centroid_lat, centroid_lon FROM areas", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let (commune, at) = point_decided_by_the_boundary(&fc, &centroids);

    // Before: the nearest centroid (another commune), or nowhere if every centroid is too far.
    let before = submit(&app, &citizen, &report_body("road", (at.lat, at.lon)), None).await;
    if before.status() == 201 {
        let before: Value = before.json().await.unwrap();
        assert_ne!(before["area"]["code"], commune.as_str());
    }

    let import = |content_type: &'static str, body: Vec<u8>, token: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/admin/areas/import"))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // Refusals change nothing.
    let half = file[..file.len() / 2].to_vec();
    assert_problem(
        import("application/geo+json", half, Some(admin.clone()))
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    let point = br#"{"type": "Point", "coordinates": [108.5, 11.7]}"#.to_vec();
    assert_problem(
        import("application/json", point, Some(admin.clone()))
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let mut broken = fc.clone();
    broken["features"][1]["geometry"] = Value::Null;
    let body = assert_problem(
        import(
            "application/geo+json",
            serde_json::to_vec(&broken).unwrap(),
            Some(admin.clone()),
        )
        .await
        .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("24934"), "{body}");
    assert_problem(
        import("text/plain", b"{}".to_vec(), Some(admin.clone()))
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    for (role, token) in outsiders(&app).await {
        let small = br#"{"type": "FeatureCollection", "features": []}"#.to_vec();
        let resp = import("application/geo+json", small, token.clone())
            .await
            .unwrap();
        let status = if token.is_none() { 401 } else { 403 };
        assert_eq!(resp.status().as_u16(), status, "{role}");
    }
    assert_eq!(count(&app, "SELECT count(boundary) FROM areas").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'area.import'"
        )
        .await,
        0
    );

    // The real file (301 kB, over the JSON body limit of other endpoints).
    let resp = import("application/geo+json", file.clone(), Some(admin.clone()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let result: Value = resp.json().await.unwrap();
    assert_eq!(result, json!({"imported": 4, "created": 0, "updated": 4}));
    assert_eq!(count(&app, "SELECT count(boundary) FROM areas").await, 4);
    let audit = app
        .db
        .client()
        .await
        .query_one(
            "SELECT actor_id::text, after FROM audit_log WHERE action = 'area.import'",
            &[],
        )
        .await
        .unwrap();
    let after: Value = audit.get(1);
    assert_eq!(after["created"], 0);
    assert_eq!(after["updated"], 4);
    assert_eq!(after["codes"], json!(["24931", "24934", "24943", "24955"]));
    assert!(
        audit.get::<_, Option<String>>(0).is_some(),
        "the admin is the actor"
    );

    // The next report at the point goes to the commune whose boundary holds it.
    let after = submit_ok(&app, &citizen, &report_body("road", (at.lat, at.lon))).await;
    assert_eq!(after["area"]["code"], commune.as_str(), "{after}");
    assert!(
        !after["routing_reason"]
            .as_str()
            .unwrap()
            .contains("gần trung tâm"),
        "{after}"
    );
    let department: String = app
        .db
        .client()
        .await
        .query_one(
            "SELECT code FROM departments WHERE id = $1",
            &[&uuid::Uuid::parse_str(after["department"]["id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(department, format!("{commune}-kinh-te"));
    // Importing again updates in place.
    let again: Value = import("application/json", file, Some(admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, json!({"imported": 4, "created": 0, "updated": 4}));
}

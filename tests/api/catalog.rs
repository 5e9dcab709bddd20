//! GET /api/v1/categories, /areas, /departments.

use serde_json::Value;

use crate::helpers::{assert_problem, import_areas, shared_data, spawn_app};

#[tokio::test]
async fn categories_are_the_eighteen_of_the_seed_with_deadlines() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/categories").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Vec<Value> = resp.json().await.unwrap();
    assert_eq!(body.len(), 18);
    let by = |code: &str| body.iter().find(|c| c["code"] == code).cloned().unwrap();
    let road = by("road");
    assert_eq!(road["name_vi"], "Giao thông, đường sá, cầu cống");
    assert_eq!(road["name_en"], "Roads, bridges, culverts");
    assert_eq!(road["deadline"]["amount"], 5);
    assert_eq!(road["deadline"]["unit"], "working_days");
    assert_eq!(road["public"], true);
    assert_eq!(road["urgent"], false);
    assert!(road["description"].as_str().is_some_and(|d| !d.is_empty()));
    let security = by("security");
    assert_eq!(security["public"], false);
    assert_eq!(security["urgent"], true);
    assert_eq!(security["deadline"]["amount"], 1);
    assert_eq!(by("land")["deadline"]["amount"], 10);
    assert_eq!(by("lighting")["deadline"]["amount"], 3);
    // Display order is the seed's order.
    assert_eq!(body[0]["code"], "road");
    assert_eq!(body[17]["code"], "other");
}

#[tokio::test]
async fn inactive_categories_are_not_offered() {
    let app = spawn_app().await;
    app.db
        .client()
        .await
        .execute(
            "UPDATE categories SET active = false WHERE code = 'education'",
            &[],
        )
        .await
        .unwrap();
    let body: Vec<Value> = app.get("/api/v1/categories").await.json().await.unwrap();
    assert_eq!(body.len(), 17);
    assert!(body.iter().all(|c| c["code"] != "education"));
}

#[tokio::test]
async fn areas_are_the_four_communes_in_force() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/areas").await;
    assert_eq!(resp.status(), 200);
    let body: Vec<Value> = resp.json().await.unwrap();
    let codes: Vec<&str> = body.iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["24931", "24934", "24943", "24955"]);
    let ka_do = &body[2];
    assert_eq!(ka_do["name"], "Ka Đô");
    assert_eq!(ka_do["full_name"], "Xã Ka Đô");
    assert_eq!(ka_do["kind"], "commune");
    assert_eq!(ka_do["valid_from"], "2025-07-01");
    assert_eq!(ka_do["valid_to"], Value::Null);
    assert_eq!(ka_do["centroid"]["lat"], 11.7394);
    assert_eq!(ka_do["centroid"]["lon"], 108.5884);
    assert_eq!(ka_do["has_boundary"], false);
    assert!(uuid::Uuid::parse_str(ka_do["id"].as_str().unwrap()).is_ok());
    // Never the boundary in the plain listing.
    assert!(ka_do.get("boundary").is_none() && ka_do.get("geometry").is_none());
}

#[tokio::test]
async fn areas_follow_their_validity_period() {
    let app = spawn_app().await;
    // Before the 2025 reorganisation these communes did not exist.
    let before: Vec<Value> = app
        .get("/api/v1/areas?valid_on=2025-06-30")
        .await
        .json()
        .await
        .unwrap();
    assert!(before.is_empty(), "{before:?}");
    // A replaced area: no longer listed today, still listed with all=true.
    app.db
        .client()
        .await
        .execute(
            "UPDATE areas SET valid_to = '2026-01-01' WHERE code = '24955'",
            &[],
        )
        .await
        .unwrap();
    let today: Vec<Value> = app.get("/api/v1/areas").await.json().await.unwrap();
    assert_eq!(today.len(), 3);
    let on_day: Vec<Value> = app
        .get("/api/v1/areas?valid_on=2025-12-31")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(on_day.len(), 4);
    let all: Vec<Value> = app
        .get("/api/v1/areas?all=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    // Empty parameters are the same as missing ones.
    let empty: Vec<Value> = app
        .get("/api/v1/areas?valid_on=&format=&all=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty.len(), 3);
}

#[tokio::test]
async fn bad_area_parameters_are_400_problems() {
    let app = spawn_app().await;
    for q in [
        "format=xml",
        "valid_on=yesterday",
        "valid_on=2025-02-30",
        "all=yes",
        "valid_on=%00",
        "format=%FF%FE",
    ] {
        let resp = app.get(&format!("/api/v1/areas?{q}")).await;
        assert_problem(resp, 400, "invalid_query").await;
    }
}

#[tokio::test]
async fn geojson_before_and_after_importing_the_real_boundaries() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/areas?format=geojson").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let fc: Value = resp.json().await.unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 4);
    assert!(
        features
            .iter()
            .all(|f| f["type"] == "Feature" && f["geometry"].is_null())
    );

    let file = shared_data("boundaries/don-duong-communes.geojson");
    let out = import_areas(&file, &app.db.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("imported 4 areas") && stdout.contains("0 created, 4 updated"),
        "{stdout}"
    );

    // Asked for by Accept header this time.
    let resp = app
        .client
        .get(app.url("/api/v1/areas"))
        .header("Accept", "application/geo+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let fc: Value = resp.json().await.unwrap();
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 4);
    for f in features {
        let geometry = &f["geometry"];
        assert_eq!(
            geometry["type"], "MultiPolygon",
            "{}",
            f["properties"]["code"]
        );
        let rings = geometry["coordinates"][0][0].as_array().unwrap();
        assert!(rings.len() > 1000, "full-detail boundary kept");
        let bbox: Vec<f64> = serde_json::from_value(f["bbox"].clone()).unwrap();
        let props = &f["properties"];
        assert_eq!(props["has_boundary"], true);
        let (lat, lon) = (
            props["centroid"]["lat"].as_f64().unwrap(),
            props["centroid"]["lon"].as_f64().unwrap(),
        );
        assert!(
            bbox[0] < lon && lon < bbox[2] && bbox[1] < lat && lat < bbox[3],
            "centroid inside bbox"
        );
        // The communes are in Đơn Dương, Lâm Đồng.
        assert!((108.3..108.8).contains(&lon) && (11.5..12.0).contains(&lat));
    }
    let ka_do = features
        .iter()
        .find(|f| f["properties"]["code"] == "24943")
        .unwrap();
    assert_eq!(ka_do["properties"]["name"], "Ka Đô");
    assert_eq!(ka_do["properties"]["name_en"], "Ka Do");
}

#[tokio::test]
async fn departments_are_four_per_commune_plus_triage() {
    let app = spawn_app().await;
    let all: Vec<Value> = app.get("/api/v1/departments").await.json().await.unwrap();
    assert_eq!(all.len(), 17);
    let triage = all.iter().find(|d| d["code"] == "triage").unwrap();
    assert_eq!(triage["area_code"], Value::Null);
    assert_eq!(triage["kind"], "triage");

    let ka_do: Vec<Value> = app
        .get("/api/v1/departments?area=24943")
        .await
        .json()
        .await
        .unwrap();
    let mut codes: Vec<&str> = ka_do.iter().map(|d| d["code"].as_str().unwrap()).collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "24943-cong-an",
            "24943-kinh-te",
            "24943-van-hoa-xa-hoi",
            "24943-van-phong"
        ]
    );
    assert!(ka_do.iter().all(|d| d["area_code"] == "24943"));
    let kinh_te = ka_do.iter().find(|d| d["code"] == "24943-kinh-te").unwrap();
    assert_eq!(kinh_te["name"], "Phòng Kinh tế xã Ka Đô");
    let police = ka_do.iter().find(|d| d["code"] == "24943-cong-an").unwrap();
    assert_eq!(police["name"], "Công an xã Ka Đô");

    let none: Vec<Value> = app
        .get("/api/v1/departments?area=99999")
        .await
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    let all_again: Vec<Value> = app
        .get("/api/v1/departments?area=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all_again.len(), 17);
    assert_problem(
        app.get("/api/v1/departments?area=24943%27%20OR%201=1--")
            .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn the_seeded_routing_rules_realise_the_product_table() {
    let app = spawn_app().await;
    let db = app.db.client().await;
    // One rule per commune and category, to the department of the category's kind in that commune.
    let rows = db
        .query(
            "SELECT c.code, a.code, d.code FROM routing_rules r
               JOIN categories c ON c.id = r.category_id
               JOIN areas a ON a.id = r.area_id
               JOIN departments d ON d.id = r.department_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 18 * 4);
    let rule = |cat: &str, area: &str| -> String {
        rows.iter()
            .find(|r| r.get::<_, String>(0) == cat && r.get::<_, String>(1) == area)
            .map(|r| r.get(2))
            .unwrap()
    };
    assert_eq!(rule("road", "24943"), "24943-kinh-te");
    assert_eq!(rule("security", "24931"), "24931-cong-an");
    assert_eq!(rule("traffic_safety", "24934"), "24934-cong-an");
    assert_eq!(rule("health", "24955"), "24955-van-hoa-xa-hoi");
    assert_eq!(rule("disaster", "24943"), "24943-van-phong");
    assert_eq!(rule("other", "24931"), "24931-van-phong");
    // And the catch-all to the triage desk.
    let fallback: String = db
        .query_one(
            "SELECT d.code FROM routing_rules r JOIN departments d ON d.id = r.department_id
              WHERE r.category_id IS NULL AND r.area_id IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fallback, "triage");
}

#[tokio::test]
async fn catalog_answers_are_cacheable_and_compressible() {
    let app = spawn_app().await;
    let first = app.get("/api/v1/categories").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let again = app
        .client
        .get(app.url("/api/v1/categories"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    // A change gives a new tag.
    app.db
        .client()
        .await
        .execute(
            "UPDATE categories SET name_en = 'Roads' WHERE code = 'road'",
            &[],
        )
        .await
        .unwrap();
    let changed = app
        .client
        .get(app.url("/api/v1/categories"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    // gzip on request: what a phone on 3G sends.
    let gz = app
        .client
        .get(app.url("/api/v1/areas?format=geojson"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
}

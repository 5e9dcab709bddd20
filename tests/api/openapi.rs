//! The OpenAPI document: committed, current, complete, and served with offline docs.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{manifest_dir, spawn_app};

const REGENERATE: &str = "cargo run -- openapi > openapi/openapi.json";

#[test]
fn committed_openapi_json_is_current() {
    let path = manifest_dir().join("openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = phananh::routes::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "openapi/openapi.json is stale. Regenerate it with:\n    {REGENERATE}\n(or UPDATE_OPENAPI=1 cargo test committed_openapi_json_is_current)"
    );
}

/// (METHOD, path) of every actix route attribute under src/routes.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let dir = manifest_dir().join("src/routes");
    let mut files = vec![dir.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for line in text.lines() {
            let line = line.trim();
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let path = rest.split('"').next().unwrap().to_owned();
                    found.insert((method.to_uppercase(), path));
                }
            }
        }
    }
    found
}

fn routes_in_spec(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.insert((method.to_uppercase(), path.clone()));
        }
    }
    found
}

#[test]
fn every_registered_route_is_in_the_spec_and_back() {
    let doc: Value = serde_json::from_str(&phananh::routes::openapi_json()).unwrap();
    let source = routes_in_source();
    let spec = routes_in_spec(&doc);
    assert!(source.len() >= 5, "the scan found the handlers: {source:?}");
    let undocumented: Vec<_> = source.difference(&spec).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI spec (add #[utoipa::path] and register them in routes::configure): {undocumented:?}"
    );
    let unrouted: Vec<_> = spec.difference(&source).collect();
    assert!(
        unrouted.is_empty(),
        "operations in the spec without a handler: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_actually_routed() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (method, path) in routes_in_spec(&doc) {
        if path.contains('{') {
            continue; // needs a real id; covered by the resource's own tests
        }
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&resp.status().as_u16()),
            "{method} {path} is documented but answers {}",
            resp.status()
        );
        // Every documented status is one the operation declares.
        let status = resp.status().as_u16().to_string();
        let declared = &doc["paths"][&path][method.to_lowercase()]["responses"];
        assert!(
            declared.get(&status).is_some(),
            "{method} {path} answered undocumented {status}"
        );
    }
}

#[tokio::test]
async fn served_spec_matches_the_generated_one_and_names_the_product() {
    let app = spawn_app().await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let generated: Value = serde_json::from_str(&phananh::routes::openapi_json()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["info"]["title"], "phananh");
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
    assert!(served["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn docs_work_without_internet() {
    let app = spawn_app().await;
    let resp = app.get("/docs").await;
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], "/docs/");
    let resp = app.get("/docs/").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"));
    // Every script and stylesheet comes from us, not a CDN.
    for attr in ["src=\"", "href=\""] {
        for chunk in html.split(attr).skip(1) {
            let url = chunk.split('"').next().unwrap();
            assert!(
                !url.starts_with("http") && !url.starts_with("//"),
                "external asset {url}"
            );
            let asset = app
                .get(&format!("/docs/{}", url.trim_start_matches("./")))
                .await;
            assert_eq!(asset.status(), 200, "asset {url}");
        }
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
}

/// The schema of one parameter of one operation.
fn parameter_schema(doc: &Value, path: &str, method: &str, name: &str) -> Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map(|p| p["schema"].clone())
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
}

/// (path, method, parameter, values it must allow, values it must refuse).
type ParameterCase<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [&'a str]);

#[test]
fn parameter_descriptions_take_the_values_clients_send_and_refuse_the_others() {
    let doc = serde_json::to_value(phananh::routes::openapi()).unwrap();
    let id = "0190a8f0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
    let cases: &[ParameterCase] = &[
        (
            "/api/v1/reports",
            "get",
            "since",
            &[
                "2026-01-31",
                "2024-02-29T23:59:59.5+07:00",
                "2026-11-30T00:00:00Z",
                "",
            ],
            &["yesterday", "2026-13-01", "2026-01-32"],
        ),
        (
            "/api/v1/reports",
            "get",
            "bbox",
            // What map libraries send: long decimals, the whole world.
            &[
                "108.39171712345678,11.651845123456,108.5,11.8",
                "-180,-90,180,90",
                "",
            ],
            &["1,2,3", "a,b,c,d", "181,0,182,1"],
        ),
        (
            "/api/v1/reports",
            "get",
            "status",
            &["new", "new, accepted", ""],
            &["open", "new,,accepted"],
        ),
        (
            "/api/v1/reports",
            "get",
            "category",
            &["road", ""],
            &["ro\u{0}ad"],
        ),
        (
            "/api/v1/stats/summary",
            "get",
            "from",
            &["2026-01-31", "2027-12-31", ""],
            &["31-01-2026", "2026-1-3"],
        ),
        (
            "/api/v1/tickets/{id}/transitions",
            "post",
            "If-Match",
            &["\"7\"", "W/\"7\"", "*", "7"],
            &["\"7", "yesterday", "\"-1\""],
        ),
        ("/api/v1/admin/audit", "get", "report", &[id, ""], &["x"]),
        (
            "/api/v1/areas",
            "get",
            "valid_on",
            &["2026-01-31", "2024-02-29", ""],
            &["2026/01/31"],
        ),
        (
            "/api/v1/tickets",
            "get",
            "assignee",
            &["me", "none", id, ""],
            &["someone"],
        ),
        (
            "/open311/v2/requests.{format}",
            "get",
            "page",
            &["1", "250", ""],
            &["0", "-1", "x"],
        ),
    ];
    for (path, method, name, good, bad) in cases {
        let schema = parameter_schema(&doc, path, method, name);
        let validator = jsonschema::validator_for(&schema).unwrap();
        for value in *good {
            assert!(
                validator.is_valid(&Value::from(*value)),
                "{method} {path} {name}: {value:?} should be allowed by {schema}"
            );
        }
        for value in *bad {
            assert!(
                !validator.is_valid(&Value::from(*value)),
                "{method} {path} {name}: {value:?} should be refused by {schema}"
            );
        }
    }
    // A query or header parameter is absent or text, never JSON null.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let nullable = p["schema"]["type"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "null"));
                assert!(!nullable, "{method} {path} {}: {}", p["name"], p["schema"]);
            }
        }
    }
}

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

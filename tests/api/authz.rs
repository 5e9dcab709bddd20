//! The authorisation matrix: for every operation the server documents (and so registers — see
//! openapi.rs), who may call it. An operation added without a decision here fails the test.

use serde_json::{Value, json};

use crate::accounts::account_token;
use crate::helpers::{TestApp, spawn_app};

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Only these roles; anonymous callers get 401 and other roles 403.
    Roles(&'static [&'static str]),
    /// Only an Open311 partner application's `api_key`: every role here (the IOC's key included)
    /// gets 403.
    PartnerKey,
}

const ACCOUNTS: &[&str] = &["citizen", "staff", "manager", "admin"];
const STAFF: &[&str] = &["staff", "manager", "admin"];
const MANAGERS: &[&str] = &["manager", "admin"];

fn decision(method: &str, path: &str) -> Option<Access> {
    use Access::*;
    Some(match (method, path) {
        ("GET", "/healthz" | "/readyz" | "/metrics") => Public,
        ("GET", "/api/v1/categories" | "/api/v1/areas" | "/api/v1/departments") => Public,
        ("POST", "/api/v1/auth/register" | "/api/v1/auth/login" | "/api/v1/auth/refresh") => Public,
        ("POST", "/api/v1/auth/password-reset" | "/api/v1/auth/password-reset/confirm") => Public,
        ("POST", "/api/v1/auth/logout") => Roles(ACCOUNTS),
        ("GET" | "PATCH" | "DELETE", "/api/v1/me") => Roles(ACCOUNTS),
        ("POST", "/api/v1/me/devices") => Roles(ACCOUNTS),
        ("DELETE", "/api/v1/me/devices/{token}") => Roles(ACCOUNTS),
        ("GET", "/api/v1/me/reports") => Roles(ACCOUNTS),
        ("GET", "/api/v1/me/export") => Roles(ACCOUNTS),
        ("POST", "/api/v1/media" | "/api/v1/reports") => Roles(ACCOUNTS),
        ("GET", "/api/v1/media/{id}/{rendition}") => Public,
        ("GET", "/api/v1/reports" | "/api/v1/reports/{id}" | "/api/v1/reports/{id}/events") => {
            Public
        }
        ("GET", "/api/v1/reports/by-code/{tracking_code}") => Public,
        ("POST", "/api/v1/reports/{id}/rating" | "/api/v1/reports/{id}/reopen") => Roles(ACCOUNTS),
        ("POST" | "DELETE", "/api/v1/reports/{id}/follow") => Roles(ACCOUNTS),
        ("GET", "/api/v1/tickets" | "/api/v1/tickets/{id}") => Roles(STAFF),
        ("POST", "/api/v1/tickets/{id}/transitions") => Roles(STAFF),
        ("POST", "/api/v1/tickets/{id}/assign") => Roles(MANAGERS),
        (
            "POST",
            "/api/v1/tickets/{id}/hide"
            | "/api/v1/tickets/{id}/unhide"
            | "/api/v1/tickets/{id}/description"
            | "/api/v1/tickets/{id}/media/{media_id}/redact",
        ) => Roles(STAFF),
        (
            "GET",
            "/api/v1/stats/summary"
            | "/api/v1/stats/breakdown"
            | "/api/v1/stats/timeseries"
            | "/api/v1/stats/export.csv",
        ) => Roles(&["manager", "admin", "ioc"]),
        ("GET", "/api/v1/admin/outbox") => Roles(&["admin"]),
        ("GET", "/api/v1/admin/audit") => Roles(&["admin"]),
        ("POST", "/api/v1/admin/outbox/{id}/retry") => Roles(&["admin"]),
        (
            "GET",
            "/open311/v2/discovery.{format}"
            | "/open311/v2/services.{format}"
            | "/open311/v2/services/{service_code}.{format}"
            | "/open311/v2/requests.{format}"
            | "/open311/v2/requests/{service_request_id}.{format}"
            | "/open311/v2/tokens/{token}.{format}"
            | "/open311/v2/servicerequestupdates.{format}",
        ) => Public,
        ("POST", "/open311/v2/requests.{format}") => PartnerKey,
        ("POST", "/api/v1/admin/api-keys") => Roles(&["admin"]),
        ("GET", "/api/v1/admin/routing/explain") => Roles(&["admin"]),
        ("GET", "/api/v1/admin/api-keys") => Roles(&["admin"]),
        ("DELETE", "/api/v1/admin/api-keys/{id}") => Roles(&["admin"]),
        (
            "GET" | "POST",
            "/api/v1/admin/categories"
            | "/api/v1/admin/departments"
            | "/api/v1/admin/routing-rules",
        ) => Roles(&["admin"]),
        (
            "GET" | "PATCH" | "DELETE",
            "/api/v1/admin/categories/{id}"
            | "/api/v1/admin/departments/{id}"
            | "/api/v1/admin/routing-rules/{id}",
        ) => Roles(&["admin"]),
        ("GET" | "POST", "/api/v1/admin/areas") => Roles(&["admin"]),
        ("GET" | "PATCH" | "DELETE", "/api/v1/admin/areas/{id}") => Roles(&["admin"]),
        ("POST", "/api/v1/admin/areas/import") => Roles(&["admin"]),
        ("GET" | "POST", "/api/v1/admin/holidays") => Roles(&["admin"]),
        ("GET" | "PATCH" | "DELETE", "/api/v1/admin/holidays/{day}") => Roles(&["admin"]),
        ("POST", "/api/v1/admin/holidays/suggest") => Roles(&["admin"]),
        ("POST", "/api/v1/admin/users") => Roles(&["admin"]),
        ("GET", "/api/v1/admin/users" | "/api/v1/admin/users/{id}") => Roles(MANAGERS),
        ("PATCH" | "DELETE", "/api/v1/admin/users/{id}") => Roles(&["admin"]),
        ("POST", "/api/v1/admin/users/{id}/password-reset") => Roles(&["admin"]),
        _ => return None,
    })
}

/// Credentials for one role: a header name and value.
async fn credentials(app: &TestApp, role: &str) -> Option<(&'static str, String)> {
    if role == "anonymous" {
        return None;
    }
    if role == "ioc" {
        let key = "phk_matrix-test-key-for-the-ioc-0123456789";
        let hash = phananh::auth::tokens::hash_token(key);
        app.db
            .client()
            .await
            .execute("INSERT INTO api_keys (id, name, key_hash, prefix) VALUES (gen_random_uuid(), 'ioc', $1, 'phk_matrix')", &[&hash])
            .await
            .unwrap();
        return Some(("X-Api-Key", key.to_owned()));
    }
    let department = matches!(role, "staff" | "manager").then_some("24943-kinh-te");
    let token = account_token(app, role, department).await;
    Some(("Authorization", format!("Bearer {token}")))
}

#[tokio::test]
async fn every_operation_has_a_decision_and_the_server_enforces_it() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut undecided = Vec::new();
    let mut failures = Vec::new();
    let roles = ["anonymous", "citizen", "staff", "manager", "admin", "ioc"];
    let mut creds = Vec::new();
    for role in roles {
        creds.push((role, credentials(&app, role).await));
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let Some(access) = decision(&method, path) else {
                undecided.push(format!("{method} {path}"));
                continue;
            };
            let concrete = path
                .replace("{token}", "some-token")
                .replace("{day}", "2031-01-01")
                .replace("{rendition}", "display.jpg")
                .replace("{tracking_code}", "7KXM4R2QHD")
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{media_id}", &uuid::Uuid::now_v7().to_string())
                .replace("{format}", "json")
                .replace("{service_code}", "road")
                .replace("{service_request_id}", &uuid::Uuid::now_v7().to_string());
            for (role, cred) in &creds {
                // Destructive calls last would change who is signed in; DELETE /me is checked
                // with a throwaway account instead.
                let cred = if method == "DELETE"
                    && path == "/api/v1/me"
                    && *role != "anonymous"
                    && *role != "ioc"
                {
                    credentials(&app, role).await
                } else {
                    cred.clone()
                };
                let mut req = app
                    .client
                    .request(method.parse().unwrap(), app.url(&concrete));
                if method != "GET" && method != "DELETE" {
                    req = req.json(&json!({}));
                }
                if let Some((name, value)) = &cred {
                    req = req.header(*name, value);
                }
                let status = req.send().await.unwrap().status().as_u16();
                let ok = status < 500
                    && match access {
                        Access::Public => status != 401 && status != 403,
                        Access::Roles(allowed) if allowed.contains(role) => {
                            status != 401 && status != 403
                        }
                        Access::Roles(_) if *role == "anonymous" => status == 401,
                        Access::Roles(_) => status == 403,
                        Access::PartnerKey => status == 403,
                    };
                if !ok {
                    failures.push(format!(
                        "{method} {path} as {role}: {status} (expected {access:?})"
                    ));
                }
            }
        }
    }
    assert!(
        undecided.is_empty(),
        "operations without an access decision in tests/api/authz.rs: {undecided:?}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

//! The error model over HTTP: problem+json everywhere, the right status, nothing internal leaked,
//! and a database outage answered 503 while liveness holds.

use std::time::{Duration, Instant};

use crate::helpers::{DbProxy, TestDb, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_routes_are_404_problems_carrying_the_request_id() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/v1/categories/road/extra",
        "/api/v2/categories",
        "/api/v1/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let resp = app.get(path).await;
        let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = assert_problem(resp, 404, "not_found").await;
        assert_eq!(body["request_id"], request_id);
    }
}

/// Sent raw: an HTTP client library would normalise these paths before sending them.
#[tokio::test]
async fn traversal_and_garbage_paths_are_404_not_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    for target in [
        "/api/v1/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/categories%00",
        "/api/v1/%c0%ae%c0%ae/",
        "/docs/../../../etc/passwd",
        "/docs/%2e%2e/%2e%2e/Cargo.toml",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status_line = response.lines().next().unwrap_or_default();
        assert!(status_line.contains(" 404 "), "{target}: {status_line}");
        assert!(
            !response.contains("root:") && !response.contains("[package]"),
            "{target} leaked a file"
        );
    }
}

#[tokio::test]
async fn head_is_get_without_a_body() {
    let app = spawn_app().await;
    let resp = app
        .client
        .head(app.url("/api/v1/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("etag"));
    assert!(resp.bytes().await.unwrap().is_empty());
    assert_eq!(
        app.client
            .head(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("POST", "/api/v1/categories", "GET, HEAD"),
        ("DELETE", "/api/v1/areas", "GET, HEAD"),
        ("PUT", "/healthz", "GET, HEAD"),
        ("PATCH", "/api/v1/departments", "GET, HEAD"),
        // A fixed path beside a templated one (`/admin/areas/{id}`): still 405, not a 404 for
        // an "id" that does not parse, and before any question of who is asking.
        ("GET", "/api/v1/admin/areas/import", "POST"),
        ("DELETE", "/api/v1/admin/areas/import", "POST"),
        ("PATCH", "/api/v1/admin/holidays/suggest", "POST"),
        ("GET", "/api/v1/admin/holidays/suggest", "POST"),
    ] {
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
        assert_problem(resp, 405, "method_not_allowed").await;
    }
    // The templated sibling itself still routes (and wants an admin).
    let resp = app
        .get("/api/v1/admin/areas/0190a8f0-0000-7000-8000-000000000000")
        .await;
    assert_problem(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_nul_in_the_query_string_is_a_400_wherever_it_is() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/reports?category=road%00",
        "/api/v1/reports?area=%00",
        "/api/v1/departments?area=24931%00",
        "/api/v1/areas?x=%00",
    ] {
        assert_problem(app.get(path).await, 400, "invalid_query").await;
    }
    // Signed-in endpoints too, before anything else is asked of the caller.
    assert_problem(
        app.get("/api/v1/tickets?q=%C4%91%00").await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(app.get("/api/v1/reports?category=road").await.status(), 200);
}

#[tokio::test]
async fn messages_follow_accept_language_vietnamese_by_default() {
    let app = spawn_app().await;
    let vi = assert_problem(app.get("/nope").await, 404, "not_found").await;
    assert_eq!(vi["title"], "Không tìm thấy");
    let en = app
        .client
        .get(app.url("/nope"))
        .header("Accept-Language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap();
    let en = assert_problem(en, 404, "not_found").await;
    assert_eq!(en["title"], "Not found");
    let detail = app
        .client
        .get(app.url("/api/v1/areas?format=kml"))
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    let detail = assert_problem(detail, 400, "invalid_query").await;
    assert_eq!(detail["detail"], "format must be json or geojson");
}

#[tokio::test]
async fn a_client_request_id_is_not_trusted_but_every_response_has_one() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "<script>")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

/// PostgreSQL goes away under a running server: requests that need it get 503 with
/// `Retry-After`, `/healthz` stays 200, `/readyz` turns 503, and it all recovers by itself.
#[tokio::test]
async fn database_outage_is_503_and_recovers_without_restart() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start(db.server_config()).await;
    let via_proxy = proxy.conn_string(db.server_config(), &db.name);
    let app = spawn_app_with(db, &via_proxy, |_| {}).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.get("/api/v1/categories").await.status(), 200);

    proxy.cut();
    let started = Instant::now();
    let resp = app.get("/api/v1/categories").await;
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = assert_problem(resp, 503, "database_unavailable").await;
    let text = body.to_string();
    for leak in ["tokio", "postgres", "connection", "127.0.0.1", "diesel"] {
        assert!(!text.to_lowercase().contains(leak), "{leak} leaked: {text}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within the acquire timeout"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_problem(app.get("/readyz").await, 503, "database_unavailable").await;
    assert_problem(app.get("/api/v1/areas").await, 503, "database_unavailable").await;

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if app.get("/readyz").await.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resp = app.get("/api/v1/categories").await;
    assert_eq!(resp.status(), 200);
}

/// The database is there but the pool is exhausted by slow work: callers wait the bounded time
/// and get 503, never a hang.
#[tokio::test]
async fn pool_exhaustion_is_a_prompt_503() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    // A lock held by the test makes every catalog query wait.
    let locker = db.client().await;
    let app = spawn_app_with(db, &url, |s| {
        s.database.pool_size = 1;
        s.database.acquire_timeout_ms = 500;
    })
    .await;
    locker
        .batch_execute("BEGIN; LOCK TABLE categories IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let slow = {
        let client = app.client.clone();
        let url = app.url("/api/v1/categories");
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let resp = app.get("/api/v1/departments").await;
    assert_problem(resp, 503, "database_unavailable").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    locker.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        slow.await.unwrap(),
        200,
        "the waiting request completes once the lock goes"
    );
}

/// A statement stuck behind a lock is cancelled by the server's own timeouts: the caller gets a
/// prompt 503 and the connection goes back to the pool.
#[tokio::test]
async fn a_query_stuck_on_a_lock_is_cancelled_with_503() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let locker = db.client().await;
    let app = spawn_app_with(db, &url, |s| {
        s.database.statement_timeout_ms = 1_000;
    })
    .await;
    locker
        .batch_execute("BEGIN; LOCK TABLE categories IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let resp = app.get("/api/v1/categories").await;
    assert_problem(resp, 503, "database_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // Other work is unaffected meanwhile.
    assert_eq!(app.get("/api/v1/departments").await.status(), 200);
    locker.batch_execute("COMMIT").await.unwrap();
    assert_eq!(app.get("/api/v1/categories").await.status(), 200);
}

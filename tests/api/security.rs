//! The HTTP surface under attack: security headers, the CORS policy, the write rate limit,
//! slow clients, oversized heads and bodies, and secrets kept out of the log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::{PASSWORD, account_token, post, register};
use crate::helpers::{TestApp, TestDb, assert_problem, phananh_command, spawn_app, spawn_app_with};

async fn app_with(tweak: impl FnOnce(&mut phananh::config::Settings)) -> TestApp {
    let db = TestDb::new().await;
    let url = db.url.clone();
    spawn_app_with(db, &url, tweak).await
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    // A JSON answer, a problem, a photo-less 404 and the documentation page.
    for path in [
        "/api/v1/categories",
        "/api/v1/reports/not-a-uuid",
        "/nowhere",
        "/healthz",
    ] {
        let resp = app.get(path).await;
        assert!(resp.status().as_u16() < 500, "{path}: {}", resp.status());
        assert_eq!(
            header(&resp, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&resp, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(&resp, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        let csp = header(&resp, "content-security-policy").unwrap_or_default();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        // Served over plain HTTP (the test's public URL): no HSTS.
        assert_eq!(header(&resp, "strict-transport-security"), None, "{path}");
    }
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let csp = header(&docs, "content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

    // An HTTPS deployment adds HSTS.
    let https = app_with(|s| s.public_url = "https://phananh.example.vn".into()).await;
    let resp = https.get("/api/v1/categories").await;
    assert_eq!(
        header(&resp, "strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

async fn with_origin(app: &TestApp, method: reqwest::Method, origin: &str) -> reqwest::Response {
    app.client
        .request(method, app.url("/api/v1/categories"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_follows_the_deployment_s_origin_list() {
    // Default: no origin is allowed, and nothing says otherwise.
    let app = spawn_app().await;
    let resp = with_origin(&app, reqwest::Method::GET, "https://evil.example").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), None);

    let console = "https://console.dondong.example.vn";
    let app = app_with(|s| {
        s.http.cors_allowed_origins = vec![format!("{console}/"), "https://ioc.example.vn".into()]
    })
    .await;
    let resp = with_origin(&app, reqwest::Method::GET, console).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(console));
    assert!(header(&resp, "vary").unwrap_or_default().contains("Origin"));
    let exposed = header(&resp, "access-control-expose-headers").unwrap_or_default();
    for h in ["location", "retry-after", "etag", "x-request-id"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    assert_eq!(header(&resp, "access-control-allow-credentials"), None);

    // Another origin: answered, but without the headers a browser needs to hand it to the page.
    let resp = with_origin(&app, reqwest::Method::GET, "https://evil.example").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    assert!(header(&resp, "vary").unwrap_or_default().contains("Origin"));

    // Preflight: 204 with the methods and headers the console needs; refused origins get none.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/reports"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let resp = preflight("https://ioc.example.vn").await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        Some("https://ioc.example.vn")
    );
    let methods = header(&resp, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let allowed = header(&resp, "access-control-allow-headers").unwrap_or_default();
    for h in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
    ] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let resp = preflight("https://evil.example").await.unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    assert_eq!(
        header(&resp, "content-type"),
        Some("application/problem+json")
    );

    // `*`: any origin, still without credentials.
    let app = app_with(|s| s.http.cors_allowed_origins = vec!["*".into()]).await;
    let resp = with_origin(&app, reqwest::Method::GET, "https://anyone.example").await;
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
}

async fn add_device(app: &TestApp, token: &str, n: usize) -> reqwest::Response {
    post(
        app,
        "/api/v1/me/devices",
        json!({"fcm_token": format!("device-{n}-{}", uuid::Uuid::new_v4()), "platform": "android"}),
        Some(token),
    )
    .await
}

#[tokio::test]
async fn writes_are_limited_per_account_and_per_address() {
    let app = app_with(|s| s.http.writes_per_minute = 3).await;
    // Registration and sign-in have their own limits and do not spend the write budget.
    let alice = register(&app, "0912000001").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = register(&app, "0912000002").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..3 {
        let resp = add_device(&app, &alice, n).await;
        assert!(resp.status().is_success(), "write {n}: {}", resp.status());
    }
    let resp = add_device(&app, &alice, 3).await;
    let retry_after: u64 = header(&resp, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_problem(resp, 429, "too_many_requests").await;
    assert_eq!(
        crate::helpers::count(&app, "SELECT count(*) FROM devices").await,
        3,
        "the refused write did nothing"
    );
    // Reads are not limited; another account on the same address has its own budget.
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert!(add_device(&app, &bob, 0).await.status().is_success());

    // Without a valid token, writes count against the address, whatever token is made up.
    for n in 0..3 {
        let resp = app
            .client
            .post(app.url("/api/v1/reports"))
            .bearer_auth(format!("made-up-{n}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "anonymous write {n}");
    }
    let resp = app
        .client
        .post(app.url("/api/v1/reports"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 429, "too_many_requests").await;
    // Sign-in still works from that address: it is throttled by its own rule.
    let login = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "0912000001", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(login.status(), 200);
}

/// Sends `head` (and `body`) on a raw connection, then waits for the answer or the close.
fn raw_exchange(port: u16, head: &str, body: &[u8]) -> (Duration, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

fn port_of(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let app = app_with(|s| {
        s.http.client_request_timeout_ms = 500;
        s.http.body_idle_timeout_secs = 1;
    })
    .await;
    let token = account_token(&app, "citizen", None).await;
    let port = port_of(&app);

    // A head that never ends: 408 and the connection closed, not held.
    let (took, answer) = tokio::task::spawn_blocking(move || {
        raw_exchange(port, "GET /api/v1/categories HTTP/1.1\r\nHost: x\r\n", b"")
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");

    // A JSON body that stops half-way: 408 `request_timeout` as problem+json.
    let (_, answer) = tokio::task::spawn_blocking(move || {
        raw_exchange(
            port,
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 200\r\n\r\n",
            b"{\"login\": \"09",
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // A photo upload that stalls: the same, and nothing is kept of it.
    let head = format!(
        "POST /api/v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n"
    );
    let (_, answer) = tokio::task::spawn_blocking(move || {
        raw_exchange(
            port,
            &head,
            b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\
              Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0",
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert_eq!(
        crate::helpers::count(&app, "SELECT count(*) FROM media").await,
        0
    );
    // The server is still there for everyone else.
    assert_eq!(app.get("/api/v1/categories").await.status(), 200);
}

#[tokio::test]
async fn oversized_heads_and_bodies_are_refused_and_the_server_carries_on() {
    let app = spawn_app().await;
    // A JSON body over `http.json_limit_bytes`.
    let big = "x".repeat(300 * 1024);
    let resp = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": big, "password": "p"}),
        None,
    )
    .await;
    assert_problem(resp, 413, "payload_too_large").await;
    // A header block over the HTTP layer's limit, and too many headers: 431, never a 5xx.
    let port = port_of(&app);
    let (_, answer) = tokio::task::spawn_blocking(move || {
        let head = format!(
            "GET /api/v1/categories HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "a".repeat(64 * 1024)
        );
        raw_exchange(port, &head, b"")
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{:?}",
        &answer[..answer.len().min(80)]
    );
    assert!(
        answer.contains("\"code\":\"headers_too_large\""),
        "{answer}"
    );
    // Just under the limit is fine.
    let (_, answer) = tokio::task::spawn_blocking(move || {
        let head = format!(
            "GET /api/v1/categories HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "a".repeat(12 * 1024)
        );
        raw_exchange(port, &head, b"")
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{:?}",
        &answer[..answer.len().min(80)]
    );
    let (_, answer) = tokio::task::spawn_blocking(move || {
        let mut head =
            String::from("GET /api/v1/categories HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..200 {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("\r\n");
        raw_exchange(port, &head, b"")
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{:?}",
        &answer[..answer.len().min(80)]
    );
    assert_eq!(app.get("/api/v1/categories").await.status(), 200);
}

#[tokio::test]
async fn password_reset_does_not_tell_who_has_an_account() {
    let app = spawn_app().await;
    let r = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "lan@example.vn", "password": PASSWORD, "full_name": "Lan"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 201);
    let mut answers = Vec::new();
    for email in ["lan@example.vn", "nobody@example.vn", "not an email"] {
        let resp = post(
            &app,
            "/api/v1/auth/password-reset",
            json!({ "email": email }),
            None,
        )
        .await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        answers.push((status, body));
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "the same answer whoever asks: {answers:?}"
    );
    assert_eq!(answers[0].0, 202);
}

/// A `phananh serve` child whose every log line is kept.
struct LoggedServer {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl LoggedServer {
    fn start(env: &[(&str, &str)]) -> LoggedServer {
        let mut env = env.to_vec();
        env.push(("PHANANH_LISTEN", "127.0.0.1:0"));
        env.push(("PHANANH_HTTP__WORKERS", "1"));
        let mut child = phananh_command(&["serve"], &env)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for (stream, is_stderr) in [
            (
                Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
                true,
            ),
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                false,
            ),
        ] {
            let lines = lines.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if is_stderr
                        && let Ok(v) = serde_json::from_str::<Value>(&line)
                        && v["message"] == "listening"
                    {
                        let _ = tx.send(v["port"].as_u64().unwrap() as u16);
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let port = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("server did not report its port");
        LoggedServer { child, port, lines }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn tokens_passwords_and_keys_never_reach_the_log() {
    let db = TestDb::new().await;
    let data = tempfile::tempdir().unwrap();
    let key_out = phananh_command(
        &["apikey", "create", "--name", "ioc-log-test"],
        &[("DATABASE_URL", db.url.as_str())],
    )
    .output()
    .unwrap();
    assert!(key_out.status.success(), "{key_out:?}");
    let api_key = String::from_utf8(key_out.stdout).unwrap();
    let api_key = api_key
        .split_whitespace()
        .find(|w| w.len() > 20)
        .expect("the key is printed")
        .to_owned();
    let server = LoggedServer::start(&[
        ("DATABASE_URL", db.url.as_str()),
        ("PHANANH_DATA_DIR", data.path().to_str().unwrap()),
        // What an operator chasing a problem would turn on for our own code.
        ("PHANANH_LOG__FILTER", "info,phananh=debug"),
    ]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::Client::new();
    let password = "Mật khẩu bí mật 2026!";
    let fcm_token = format!("fcm-secret-{}", uuid::Uuid::new_v4());
    let reg: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "hoa@example.vn", "password": password, "full_name": "Hoa"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = reg["access_token"].as_str().unwrap().to_owned();
    let refresh = reg["refresh_token"].as_str().unwrap().to_owned();
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": "hoa@example.vn", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    // A wrong password, and a malformed body carrying the password.
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": "hoa@example.vn", "password": format!("{password}x")}))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"login\": 5, \"password\": \"{password}\""))
        .send()
        .await
        .unwrap();
    let refreshed: Value = client
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access2 = refreshed["access_token"].as_str().unwrap().to_owned();
    let resp = client
        .post(format!("{base}/api/v1/me/devices"))
        .bearer_auth(&access2)
        .json(&json!({"fcm_token": fcm_token, "platform": "android"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let resp = client
        .delete(format!("{base}/api/v1/me/devices/{fcm_token}"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    // The old access token still verifies until it expires; a forged one is refused.
    client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(format!("{access}x"))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/api/v1/auth/password-reset"))
        .json(&json!({"email": "hoa@example.vn"}))
        .send()
        .await
        .unwrap();
    // The IOC's key, in the header and (Open311 style) in the query string.
    let stats = client
        .get(format!("{base}/api/v1/stats/summary"))
        .header("X-Api-Key", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), 200);
    client
        .get(format!("{base}/open311/v2/requests.json?api_key={api_key}"))
        .send()
        .await
        .unwrap();
    client
        .get(format!("{base}/api/v1/stats/summary"))
        .header("X-Api-Key", format!("{api_key}x"))
        .send()
        .await
        .unwrap();

    // Let the last request lines be written.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = server.lines.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if server.lines.lock().unwrap().len() == seen || Instant::now() > deadline {
            break;
        }
    }
    let log = server.lines.lock().unwrap().join("\n");
    // The log is there and does record the requests, so the search below means something.
    assert!(log.contains("/api/v1/me/devices"), "requests are logged");
    for (what, secret) in [
        ("password", password),
        ("access token", access.as_str()),
        ("refreshed access token", access2.as_str()),
        ("refresh token", refresh.as_str()),
        ("API key", api_key.as_str()),
        ("push token", fcm_token.as_str()),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log");
    }
    // Nor a recognisable piece of one (a JWT's signature, the key's secret part).
    let signature = access.rsplit('.').next().unwrap();
    assert!(!log.contains(signature));
}

//! A local stand-in for Google's OAuth2 token endpoint and FCM HTTP v1, checking the exact
//! requests the real ones would get: a JWT-bearer grant signed RS256 with the service account's
//! key (issuer, audience, scope, lifetime), then `messages:send` with that access token and a
//! v1 message (string-only `data`, a token, a notification). It answers like FCM, including
//! `UNREGISTERED` for a dead device token and a 503 once for a flaky one; 500 to everything
//! while a test holds it in an outage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

pub const ACCESS_TOKEN: &str = "ya29.fake-access-token";
pub const PROJECT: &str = "phananh-test";
pub const CLIENT_EMAIL: &str = "push@phananh-test.iam.gserviceaccount.com";

#[derive(Default)]
pub struct Seen {
    pub token_requests: usize,
    /// Accepted messages (the `message` object).
    pub messages: Vec<Value>,
    /// Requests that the real service would have refused, and why.
    pub violations: Vec<String>,
    attempts: HashMap<String, usize>,
    /// When each device's requests arrived.
    pub arrivals: HashMap<String, Vec<std::time::Instant>>,
    /// While set, every well-formed send is answered 500 `INTERNAL` (FCM having a bad time).
    pub outage: bool,
    /// Sends answered 500 because of `outage`.
    pub refused: usize,
}

pub struct FakeFcm {
    pub base_url: String,
    pub seen: Arc<Mutex<Seen>>,
    pub key_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
}

struct Shared {
    seen: Arc<Mutex<Seen>>,
    public_pem: Vec<u8>,
    token_uri: String,
}

fn openssl(args: &[&str]) {
    let ok = std::process::Command::new("openssl")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the push tests need the openssl command to make a service-account key");
    assert!(ok.success(), "openssl {args:?}");
}

async fn token(
    shared: web::Data<Shared>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut seen = shared.seen.lock().unwrap();
    seen.token_requests += 1;
    let mut problems = Vec::new();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        problems.push(format!("grant_type {:?}", form.get("grant_type")));
    }
    // gcp_auth pads its base64url segments (Google accepts that), and the signature covers the
    // segments as sent: verify RS256 over them, then read the claims.
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&shared.public_pem).unwrap();
    let segments: Vec<&str> = assertion.split('.').collect();
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
    };
    if segments.len() != 3 {
        problems.push("assertion is not a JWS".into());
    } else {
        let header: Value = b64(segments[0])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if header["alg"] != "RS256" {
            problems.push(format!("alg {}", header["alg"]));
        }
        let message = format!("{}.{}", segments[0], segments[1]);
        let signature = segments[2].trim_end_matches('=');
        let valid = jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &key,
            jsonwebtoken::Algorithm::RS256,
        )
        .unwrap_or(false);
        if !valid {
            problems
                .push("assertion signature does not verify with the service account's key".into());
        }
        let claims: Value = b64(segments[1])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if claims["iss"] != CLIENT_EMAIL {
            problems.push(format!("iss {}", claims["iss"]));
        }
        if claims["aud"] != shared.token_uri.as_str() {
            problems.push(format!("aud {}", claims["aud"]));
        }
        let scope = claims["scope"].as_str().unwrap_or_default();
        if !scope
            .split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/firebase.messaging")
        {
            problems.push(format!("scope {scope:?}"));
        }
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        let now = chrono::Utc::now().timestamp();
        if !(1..=3600).contains(&(exp - iat)) || exp < now || iat > now + 60 {
            problems.push(format!("iat {iat} exp {exp} (now {now})"));
        }
    }
    if !problems.is_empty() {
        seen.violations.extend(problems);
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
    }
    HttpResponse::Ok()
        .json(json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}))
}

fn check_message(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let m = &body["message"];
    if m["token"].as_str().is_none_or(str::is_empty) {
        problems.push("message.token".into());
    }
    for key in ["title", "body"] {
        if !m["notification"][key].is_string() {
            problems.push(format!("message.notification.{key}"));
        }
    }
    match m["data"].as_object() {
        Some(data) => {
            if let Some((k, _)) = data.iter().find(|(_, v)| !v.is_string()) {
                problems.push(format!("message.data.{k} is not a string (FCM refuses it)"));
            }
            for key in ["report_id", "status", "message_id"] {
                if !data.contains_key(key) {
                    problems.push(format!("message.data.{key} missing"));
                }
            }
        }
        None => problems.push("message.data".into()),
    }
    if !m["android"]["notification"]["body_loc_key"].is_string() {
        problems.push("message.android.notification.body_loc_key".into());
    }
    if let Some(extra) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "message" && *k != "validate_only"))
    {
        problems.push(format!("unknown top-level field {extra}"));
    }
    problems
}

async fn send(
    shared: web::Data<Shared>,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let mut seen = shared.seen.lock().unwrap();
    if path.as_str() != PROJECT {
        seen.violations.push(format!("project {path}"));
        return HttpResponse::NotFound().finish();
    }
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if auth != format!("Bearer {ACCESS_TOKEN}") {
        seen.violations.push(format!("authorization {auth:?}"));
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}));
    }
    let problems = check_message(&body);
    if !problems.is_empty() {
        seen.violations.extend(problems);
        return HttpResponse::BadRequest().json(
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad message"}}),
        );
    }
    if seen.outage {
        seen.refused += 1;
        return HttpResponse::InternalServerError().json(
            json!({"error": {"code": 500, "status": "INTERNAL", "message": "Internal error encountered."}}),
        );
    }
    let device = body["message"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let attempt = {
        let n = seen.attempts.entry(device.clone()).or_default();
        *n += 1;
        *n
    };
    seen.arrivals
        .entry(device.clone())
        .or_default()
        .push(std::time::Instant::now());
    match device.as_str() {
        "dead-token" => HttpResponse::NotFound().json(json!({"error": {
            "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]
        }})),
        "busy-token" if attempt == 1 => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "1"))
            .json(json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}})),
        "flaky-token" if attempt == 1 => HttpResponse::ServiceUnavailable().json(json!({"error": {"code": 503, "status": "UNAVAILABLE"}})),
        _ => {
            seen.messages.push(body["message"].clone());
            HttpResponse::Ok().json(json!({"name": format!("projects/{PROJECT}/messages/{}", seen.messages.len())}))
        }
    }
}

impl FakeFcm {
    pub async fn start() -> FakeFcm {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("key.pem");
        let public = dir.path().join("pub.pem");
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            private.to_str().unwrap(),
        ]);
        openssl(&[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base_url = format!("http://127.0.0.1:{port}");
        let token_uri = format!("{base_url}/token");
        let key_file = dir.path().join("service-account.json");
        std::fs::write(
            &key_file,
            serde_json::to_vec(&json!({
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test-key-1",
                "private_key": std::fs::read_to_string(&private).unwrap(),
                "client_email": CLIENT_EMAIL,
                "client_id": "1234567890",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": token_uri,
            }))
            .unwrap(),
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = web::Data::new(Shared {
            seen: seen.clone(),
            public_pem: std::fs::read(&public).unwrap(),
            token_uri,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/token", web::post().to(token))
                .route("/v1/projects/{project}/messages:send", web::post().to(send))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeFcm {
            base_url,
            seen,
            key_file,
            _dir: dir,
            handle,
        }
    }
}

impl Drop for FakeFcm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

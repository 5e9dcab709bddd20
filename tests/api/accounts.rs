//! Accounts over HTTP: register, login, refresh, logout, reset, /me, devices, abuse controls.

use std::time::Instant;

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, assert_problem, phananh_command, spawn_app, spawn_app_with};

pub const PASSWORD: &str = "núi Langbiang 2026";

pub async fn post(
    app: &TestApp,
    path: &str,
    body: Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

pub async fn get_with(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// An access token for a fresh account with `role`, in `department` (a department code) for
/// staff and managers: registered over HTTP, promoted in SQL, signed in again so the token is
/// the new role's.
pub async fn account_token(app: &TestApp, role: &str, department: Option<&str>) -> String {
    let phone = format!("09{:08}", uuid::Uuid::new_v4().as_u128() % 100_000_000);
    let body = register(app, &phone).await;
    if role == "citizen" {
        return body["access_token"].as_str().unwrap().to_owned();
    }
    let id = uuid::Uuid::parse_str(body["user"]["id"].as_str().unwrap()).unwrap();
    app.db
        .client()
        .await
        .execute(
            "UPDATE users SET role = $2::text::user_role, \
             department_id = (SELECT id FROM departments WHERE code = $3) WHERE id = $1",
            &[&id, &role, &department],
        )
        .await
        .unwrap();
    let login: Value = post(
        app,
        "/api/v1/auth/login",
        json!({"login": phone, "password": PASSWORD}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// Registers a resident and returns the token response.
pub async fn register(app: &TestApp, phone: &str) -> Value {
    let resp = post(
        app,
        "/api/v1/auth/register",
        json!({"phone": phone, "password": PASSWORD, "full_name": "Nguyễn Văn A"}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn register_then_me_and_the_same_phone_in_another_spelling_is_a_conflict() {
    let app = spawn_app().await;
    let body = register(&app, "0912 345 678").await;
    assert_eq!(body["user"]["phone"], "+84912345678");
    assert_eq!(body["user"]["role"], "citizen");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert!(body["user"].get("password_hash").is_none());
    let token = body["access_token"].as_str().unwrap();
    let me: Value = get_with(&app, "/api/v1/me", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["full_name"], "Nguyễn Văn A");

    for spelling in [
        "+84912345678",
        "84912345678",
        "0912.345.678",
        "(+84) 912 345 678",
    ] {
        let resp = post(
            &app,
            "/api/v1/auth/register",
            json!({"phone": spelling, "password": PASSWORD, "full_name": "B"}),
            None,
        )
        .await;
        assert_problem(resp, 409, "account_exists").await;
    }
    // Emails are case-insensitive too.
    let a = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "Lan@Example.vn", "password": PASSWORD, "full_name": "Lan"}),
        None,
    )
    .await;
    assert_eq!(a.status(), 201);
    let b = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": " lan@example.VN ", "password": PASSWORD, "full_name": "Lan"}),
        None,
    )
    .await;
    assert_problem(b, 409, "account_exists").await;
}

#[tokio::test]
async fn registration_refuses_bad_values_field_by_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"phone": "12345", "password": PASSWORD, "full_name": "A"}),
            "phone",
            "invalid_phone",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "full_name": "A"}),
            "email",
            "invalid_email",
        ),
        (
            json!({"password": PASSWORD, "full_name": "A"}),
            "phone",
            "phone_or_email_required",
        ),
        (
            json!({"phone": "0912345670", "password": "short", "full_name": "A"}),
            "password",
            "password_too_short",
        ),
        (
            json!({"phone": "0912345670", "password": "1234567890", "full_name": "A"}),
            "password",
            "password_too_common",
        ),
        (
            json!({"phone": "0912345670", "password": "QWERTYUIOP", "full_name": "A"}),
            "password",
            "password_too_common",
        ),
        (
            json!({"phone": "0912345670", "password": PASSWORD, "full_name": "   "}),
            "full_name",
            "invalid_name",
        ),
    ];
    for (body, field, code) in cases {
        let resp = post(&app, "/api/v1/auth/register", body.clone(), None).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{body}: {problem}"
        );
    }
    for raw in ["{", "[]", "{\"phone\": 5}"] {
        let resp = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_problem(resp, 400, "malformed_json").await;
    }
}

#[tokio::test]
async fn login_is_the_same_answer_and_cost_for_unknown_accounts() {
    let app = spawn_app().await;
    register(&app, "0987654321").await;
    let ok = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "+84 987 654 321", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let r = post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "0987654321", "password": "wrong password!"}),
            None,
        )
        .await;
        wrong.push(t.elapsed());
        let w = assert_problem(r, 401, "invalid_credentials").await;
        let t = Instant::now();
        let r = post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "0911111111", "password": "wrong password!"}),
            None,
        )
        .await;
        unknown.push(t.elapsed());
        let u = assert_problem(r, 401, "invalid_credentials").await;
        assert_eq!((&w["title"], &w["detail"]), (&u["title"], &u["detail"]));
    }
    // Both pay for one password hash; a shortcut for unknown accounts would be ~100x faster.
    wrong.sort();
    unknown.sort();
    let ratio = unknown[1].as_secs_f64() / wrong[1].as_secs_f64();
    assert!(ratio > 0.4, "unknown {unknown:?} vs wrong {wrong:?}");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let first = register(&app, "0901234567").await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let second: Value = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": r1}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(get_with(&app, "/api/v1/me", a2).await.status(), 200);
    // The stolen copy of r1 is presented: reuse detected.
    assert_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r1}),
            None,
        )
        .await,
        401,
        "refresh_token_reused",
    )
    .await;
    // The whole family is dead: the legitimate r2, and the access tokens of the session.
    assert_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r2}),
            None,
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert_problem(
        get_with(&app, "/api/v1/me", a2).await,
        401,
        "session_revoked",
    )
    .await;
    assert_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": "made-up"}),
            None,
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // Other sessions of the same person are unaffected.
    let other: Value = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "0901234567", "password": PASSWORD}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        get_with(&app, "/api/v1/me", other["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn two_simultaneous_refreshes_of_one_token_yield_one_winner() {
    let app = spawn_app().await;
    let first = register(&app, "0901234568").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r1}),
            None
        ),
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r1}),
            None
        )
    );
    let (winner, loser) = if a.status() == 200 { (a, b) } else { (b, a) };
    assert_eq!(winner.status(), 200);
    assert_problem(loser, 401, "refresh_token_reused").await;
    // The replay revoked the family: the winner's new refresh token is dead too.
    let next: Value = winner.json().await.unwrap();
    let resp = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": next["refresh_token"]}),
        None,
    )
    .await;
    assert_problem(resp, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = spawn_app().await;
    let t = register(&app, "0901234569").await;
    let (access, refresh) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let resp = post(
        &app,
        "/api/v1/auth/logout",
        json!({"refresh_token": refresh}),
        Some(access),
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_problem(
        get_with(&app, "/api/v1/me", access).await,
        401,
        "session_revoked",
    )
    .await;
    assert_problem(
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": refresh}),
            None,
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn a_disabled_user_is_stopped_on_the_next_request() {
    let app = spawn_app().await;
    let t = register(&app, "0901234570").await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(get_with(&app, "/api/v1/me", access).await.status(), 200);
    app.db
        .client()
        .await
        .execute(
            "UPDATE users SET status = 'disabled' WHERE phone = '+84901234570'",
            &[],
        )
        .await
        .unwrap();
    assert_problem(
        get_with(&app, "/api/v1/me", access).await,
        401,
        "account_disabled",
    )
    .await;
    let resp = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "0901234570", "password": PASSWORD}),
        None,
    )
    .await;
    assert_problem(resp, 401, "invalid_credentials").await;
    let resp = post(
        &app,
        "/api/v1/auth/refresh",
        json!({"refresh_token": t["refresh_token"]}),
        None,
    )
    .await;
    assert_problem(resp, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| {
        s.auth.lockout_after_failures = 3;
        s.auth.lockout_secs = 120;
    })
    .await;
    register(&app, "0901234571").await;
    for _ in 0..3 {
        let r = post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "0901234571", "password": "guess guess guess"}),
            None,
        )
        .await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    // Even the right password waits now.
    let r = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "0901234571", "password": PASSWORD}),
        None,
    )
    .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((100..=120).contains(&retry), "{retry}");
    let known = assert_problem(r, 429, "too_many_requests").await;
    // An identifier with no account locks the same way: the lock-out reveals nothing.
    for _ in 0..3 {
        let r = post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "0901234599", "password": "guess guess guess"}),
            None,
        )
        .await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    let r = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "0901234599", "password": "guess guess guess"}),
        None,
    )
    .await;
    let unknown = assert_problem(r, 429, "too_many_requests").await;
    assert_eq!(
        (&known["title"], &known["detail"]),
        (&unknown["title"], &unknown["detail"])
    );
    // Parallel guesses are counted before they are checked: of 10 at once on a fresh
    // identifier, 3 get a password check (401) and the rest are refused (429).
    register(&app, "0901234576").await;
    let guesses = (0..10).map(|_| {
        post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "0901234576", "password": "parallel guess"}),
            None,
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn login_and_registration_are_throttled_per_address() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| {
        s.auth.login_per_minute_per_ip = 3;
        s.auth.register_per_hour_per_ip = 2;
    })
    .await;
    for _ in 0..3 {
        let r = post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "0911111112", "password": "whatever pass"}),
            None,
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let r = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "0911111112", "password": "whatever pass"}),
        None,
    )
    .await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "too_many_requests").await;
    register(&app, "0911111113").await;
    register(&app, "0911111114").await;
    let r = post(
        &app,
        "/api/v1/auth/register",
        json!({"phone": "0911111115", "password": PASSWORD, "full_name": "C"}),
        None,
    )
    .await;
    assert_problem(r, 429, "too_many_requests").await;
}

#[tokio::test]
async fn password_reset_round_trip_through_the_outbox() {
    let app = spawn_app().await;
    let r = post(
        &app,
        "/api/v1/auth/register",
        json!({"email": "mai@example.vn", "password": PASSWORD, "full_name": "Mai"}),
        None,
    )
    .await;
    let old: Value = r.json().await.unwrap();
    // Unknown and malformed addresses get the same 202, and nothing is sent.
    for email in ["nobody@example.vn", "not an email"] {
        assert_eq!(
            post(
                &app,
                "/api/v1/auth/password-reset",
                json!({"email": email}),
                None
            )
            .await
            .status(),
            202
        );
    }
    let db = app.db.client().await;
    let count: i64 = db
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);

    assert_eq!(
        post(
            &app,
            "/api/v1/auth/password-reset",
            json!({"email": "MAI@example.vn"}),
            None
        )
        .await
        .status(),
        202
    );
    let row = db
        .query_one("SELECT kind::text, payload FROM outbox", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "email");
    let payload: Value = row.get(1);
    assert_eq!(payload["to"], "mai@example.vn");
    let link = payload["link"].as_str().unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(payload["text"].as_str().unwrap().contains(link));
    // A second request within the minute sends nothing more.
    assert_eq!(
        post(
            &app,
            "/api/v1/auth/password-reset",
            json!({"email": "mai@example.vn"}),
            None
        )
        .await
        .status(),
        202
    );
    let count: i64 = db
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    // Only the hash is kept in the reset table.
    let stored: i64 = db.query_one("SELECT count(*) FROM password_resets WHERE token_hash = sha256(convert_to($1, 'UTF8'))", &[&token]).await.unwrap().get(0);
    assert_eq!(stored, 1);

    let weak = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": "123"}),
        None,
    )
    .await;
    assert_problem(weak, 422, "validation_failed").await;
    let new_password = "Đà Lạt sương mù 77";
    let ok = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": new_password}),
        None,
    )
    .await;
    assert_eq!(ok.status(), 204);
    let again = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": new_password}),
        None,
    )
    .await;
    assert_problem(again, 400, "invalid_reset_token").await;
    // Old sessions ended; the new password works, the old does not.
    assert_problem(
        get_with(&app, "/api/v1/me", old["access_token"].as_str().unwrap()).await,
        401,
        "session_revoked",
    )
    .await;
    assert_eq!(
        post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "mai@example.vn", "password": new_password}),
            None
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        post(
            &app,
            "/api/v1/auth/login",
            json!({"login": "mai@example.vn", "password": PASSWORD}),
            None
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn forged_and_expired_tokens_get_their_own_codes() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let secret = "a test secret that is long enough!!";
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| {
        s.auth.jwt_secret = Some(phananh::config::Secret::new(secret))
    })
    .await;
    let t = register(&app, "0901234572").await;
    let valid = t["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(valid.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let sign = |c: &Value, alg: jsonwebtoken::Algorithm, key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            c,
            &jsonwebtoken::EncodingKey::from_secret(key).unwrap(),
        )
        .unwrap()
    };
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let cases = [
        (
            sign(
                &with("exp", json!(now - 3600)),
                jsonwebtoken::Algorithm::HS256,
                secret.as_bytes(),
            ),
            "token_expired",
        ),
        (
            sign(
                &claims,
                jsonwebtoken::Algorithm::HS256,
                b"another secret, also long enough!",
            ),
            "token_invalid_signature",
        ),
        (
            sign(
                &with("iss", json!("someone-else")),
                jsonwebtoken::Algorithm::HS256,
                secret.as_bytes(),
            ),
            "token_invalid_issuer",
        ),
        (
            sign(
                &with("aud", json!("another-api")),
                jsonwebtoken::Algorithm::HS256,
                secret.as_bytes(),
            ),
            "token_invalid_audience",
        ),
        (none, "token_invalid_algorithm"),
        (
            sign(&claims, jsonwebtoken::Algorithm::HS384, secret.as_bytes()),
            "token_invalid_algorithm",
        ),
        ("garbage".to_owned(), "token_malformed"),
    ];
    for (token, code) in cases {
        assert_problem(get_with(&app, "/api/v1/me", &token).await, 401, code).await;
    }
    assert_eq!(get_with(&app, "/api/v1/me", valid).await.status(), 200);
    let raw = app
        .client
        .get(app.url("/api/v1/me"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_problem(raw, 401, "token_malformed").await;
    assert_problem(app.get("/api/v1/me").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn profile_changes_devices_and_deletion() {
    let app = spawn_app().await;
    register(&app, "0901234573").await;
    let t = register(&app, "0901234574").await;
    let access = t["access_token"].as_str().unwrap();
    let patch = async |body: Value| {
        app.client
            .patch(app.url("/api/v1/me"))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let me: Value = patch(json!({"full_name": "  Trần   Thị  B "}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["full_name"], "Trần Thị B");
    // Changing the login needs the current password.
    let problem = assert_problem(
        patch(json!({"phone": "0901 234 575"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["code"], "current_password_required");
    assert_problem(
        patch(json!({"phone": "0901 234 575", "current_password": "not it at all"})).await,
        403,
        "wrong_password",
    )
    .await;
    assert_problem(
        patch(json!({"phone": "0901 234 573", "current_password": PASSWORD})).await,
        409,
        "account_exists",
    )
    .await;
    let moved: Value = patch(json!({"phone": "0901 234 575", "current_password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["phone"], "+84901234575");
    assert_problem(
        patch(json!({"email": "bad"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(patch(json!({"role": "admin"})).await, 400, "malformed_json").await;

    let add = async |body: Value| {
        app.client
            .post(app.url("/api/v1/me/devices"))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(
        add(json!({"fcm_token": "fcm-token-1", "platform": "android"}))
            .await
            .status(),
        201
    );
    assert_eq!(
        add(json!({"fcm_token": "fcm-token-1", "platform": "android"}))
            .await
            .status(),
        201,
        "idempotent"
    );
    assert_problem(
        add(json!({"fcm_token": "x", "platform": "symbian"})).await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        add(json!({"fcm_token": "", "platform": "ios"})).await,
        422,
        "validation_failed",
    )
    .await;
    let del = async |token: &'static str| {
        app.client
            .delete(app.url(&format!("/api/v1/me/devices/{token}")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(del("fcm-token-1").await.status(), 204);
    assert_problem(del("fcm-token-1").await, 404, "not_found").await;
    assert_problem(del("bad%00token").await, 404, "not_found").await;

    add(json!({"fcm_token": "fcm-token-2", "platform": "ios"})).await;
    let resp = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let db = app.db.client().await;
    let row = db.query_one("SELECT phone, email, full_name, status::text, (SELECT count(*) FROM devices) FROM users WHERE id = $1", &[&uuid::Uuid::parse_str(t["user"]["id"].as_str().unwrap()).unwrap()]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, String>(2), "");
    assert_eq!(row.get::<_, String>(3), "deleted");
    assert_eq!(row.get::<_, i64>(4), 0);
    assert_problem(
        get_with(&app, "/api/v1/me", access).await,
        401,
        "session_revoked",
    )
    .await;
    // The number is free again.
    register(&app, "0901234574").await;
}

#[tokio::test]
async fn cli_bootstraps_an_admin_staff_and_an_ioc_key() {
    use std::io::Write;
    use std::process::Stdio;
    let app = spawn_app().await;
    let create = |args: &[&str], password: &str| {
        let mut child = phananh_command(args, &[("DATABASE_URL", &app.db.url)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = create(
        &[
            "user",
            "create",
            "--role",
            "admin",
            "--email",
            "admin@dondương.vn",
            "--password-stdin",
        ],
        "quản trị viên 2026\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login: Value = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "admin@dondương.vn", "password": "quản trị viên 2026"}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(login["user"]["role"], "admin");
    // The only admin cannot delete their account.
    let resp = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(resp, 409, "conflict").await;

    let out = create(
        &[
            "user",
            "create",
            "--role",
            "staff",
            "--department",
            "24943-kinh-te",
            "--phone",
            "0263 3822 111",
            "--password-stdin",
        ],
        "cán bộ kinh tế 01\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staff: Value = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": "02633822111", "password": "cán bộ kinh tế 01"}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(staff["user"]["role"], "staff");
    assert!(staff["user"]["department_id"].is_string());
    // Refusals: staff without a department, a weak password, an unknown department.
    for (args, pw) in [
        (
            vec![
                "user",
                "create",
                "--role",
                "staff",
                "--email",
                "s@x.vn",
                "--password-stdin",
            ],
            "a good long password",
        ),
        (
            vec![
                "user",
                "create",
                "--role",
                "admin",
                "--email",
                "a2@x.vn",
                "--password-stdin",
            ],
            "1234567890",
        ),
        (
            vec![
                "user",
                "create",
                "--role",
                "manager",
                "--department",
                "nope",
                "--email",
                "m@x.vn",
                "--password-stdin",
            ],
            "a good long password",
        ),
    ] {
        let out = create(&args, pw);
        assert!(!out.status.success(), "{args:?}");
    }

    let out = phananh_command(
        &["apikey", "create", "--name", "ioc"],
        &[("DATABASE_URL", &app.db.url)],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("phk_") && key.len() > 40, "{key}");
    // Only the hash is stored: the key appears in no column.
    let db = app.db.client().await;
    let secret_part = key[12..].to_owned();
    let plain: i64 = db
        .query_one("SELECT count(*) FROM api_keys k WHERE k::text LIKE '%' || $1 || '%' OR encode(k.key_hash, 'escape') LIKE '%' || $1 || '%'", &[&secret_part])
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, 0);
    let stored: i64 = db
        .query_one("SELECT count(*) FROM api_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
    // The IOC is not an account: /me is forbidden to it, an unknown key is unauthorised.
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap();
    assert_problem(me, 403, "forbidden").await;
    let bad = app
        .client
        .get(app.url("/api/v1/me"))
        .header("X-Api-Key", "phk_nope")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 401, "invalid_api_key").await;
    let out = phananh_command(
        &["apikey", "revoke", "--name", "ioc"],
        &[("DATABASE_URL", &app.db.url)],
    )
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revoked 1 key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked = app
        .client
        .get(app.url("/api/v1/me"))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap();
    assert_problem(revoked, 401, "invalid_api_key").await;
    // Disabling through the CLI ends the staff member's sessions at once.
    let staff_token = staff["access_token"].as_str().unwrap();
    assert_eq!(
        get_with(&app, "/api/v1/me", staff_token).await.status(),
        200
    );
    let out = phananh_command(
        &["user", "disable", "--phone", "02633822111"],
        &[("DATABASE_URL", &app.db.url)],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_problem(
        get_with(&app, "/api/v1/me", staff_token).await,
        401,
        "account_disabled",
    )
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| {
        s.auth.login_per_minute_per_ip = 2;
        s.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let login_from = async |client: &str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", client)
            .json(&json!({"login": "0911111119", "password": "whatever pass"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(login_from("198.51.100.1").await, 401);
    assert_eq!(login_from("198.51.100.1").await, 401);
    assert_eq!(
        login_from("198.51.100.1").await,
        429,
        "the third from one client is throttled"
    );
    assert_eq!(
        login_from("198.51.100.2").await,
        401,
        "another client behind the same proxy is not"
    );
}

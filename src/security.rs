//! Defences of the HTTP surface that belong to no one resource: security headers on every
//! answer, the CORS policy a deployment configures, the per-client write rate limit, and the
//! idle timeout on request bodies (a client that stops sending half-way through a body does not
//! hold its connection for ever).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::config::HttpSettings;
use crate::error::ApiError;
use crate::startup::AppState;

/// Content-Security-Policy of everything but the documentation: the API serves data, never a
/// page, so nothing may be loaded, framed or submitted on its behalf.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The Swagger UI under `/docs` loads its own scripts, styles and images, nothing from elsewhere.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                        script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; \
                        base-uri 'none'; form-action 'none'";

/// Headers every answer carries unless its handler chose otherwise.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = req.path() == "/docs" || req.path().starts_with("/docs/");
    let https = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.public_url.starts_with("https://"));
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let defaults: [(&str, &str); 5] = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "content-security-policy",
            if docs { DOCS_CSP } else { API_CSP },
        ),
    ];
    for (name, value) in defaults {
        set_if_absent(headers, name, value);
    }
    // Browsers ignore HSTS over plain HTTP; send it only where the deployment is HTTPS.
    if https {
        set_if_absent(
            headers,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    Ok(res)
}

fn set_if_absent(headers: &mut HeaderMap, name: &'static str, value: &'static str) {
    let name = HeaderName::from_static(name);
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The cross-origin policy from `http.cors_allowed_origins`.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    any: bool,
    origins: Vec<String>,
}

/// Request headers a browser client may send cross-origin.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, accept, accept-language, idempotency-key, if-match, if-none-match, x-api-key";
/// Response headers a browser client may read.
const CORS_EXPOSE_HEADERS: &str =
    "location, retry-after, etag, x-request-id, content-disposition, link";
const CORS_ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

impl CorsPolicy {
    pub fn new(settings: &HttpSettings) -> Self {
        let any = settings
            .cors_allowed_origins
            .iter()
            .any(|o| o.trim() == "*");
        let origins = settings
            .cors_allowed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty() && o != "*")
            .collect();
        Self { any, origins }
    }

    fn enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    /// The `Access-Control-Allow-Origin` value for this `Origin`, if it is allowed.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        let origin_str = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin_str))
            .then(|| origin.clone())
    }
}

/// CORS: allowed origins get the `Access-Control-*` headers and their preflights a 204; other
/// origins get no CORS headers at all, so the browser keeps the answer from the page (the
/// request itself is answered as usual: CORS protects browsers' users, not the server).
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let policy = req
        .app_data::<web::Data<CorsPolicy>>()
        .map(|p| p.get_ref().clone())
        .unwrap_or_default();
    if !policy.enabled() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| policy.allow(o));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight && let Some(origin) = &allowed {
        let response = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, CORS_ALLOW_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_ALLOW_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"))
            .finish();
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSE_HEADERS),
        );
    }
    // The answer depends on the Origin (allowed or not): caches must keep them apart.
    if !policy.any {
        let vary = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
            Some(existing) if !existing.is_empty() => format!("{existing}, Origin"),
            _ => "Origin".to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&vary) {
            headers.insert(header::VARY, value);
        }
    }
    Ok(res.map_into_left_body())
}

/// Who a write is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteClient {
    /// A caller whose access token verifies: its account, wherever it writes from (residents
    /// behind one carrier-grade NAT do not share a budget).
    Account(Uuid),
    /// Anyone else: the client address (see `http.trusted_proxies`).
    Address(IpAddr),
}

/// `http.writes_per_minute` per client, per process (GCRA; a burst of the whole minute's budget,
/// then one every 60/N seconds).
pub struct WriteLimiter {
    limiter: Option<DefaultKeyedRateLimiter<WriteClient>>,
    checks: AtomicU64,
}

impl WriteLimiter {
    pub fn new(settings: &HttpSettings) -> Self {
        Self {
            limiter: NonZeroU32::new(settings.writes_per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            checks: AtomicU64::new(0),
        }
    }

    /// How long `client` must wait, or `None` when the write may go ahead.
    pub fn check(&self, client: WriteClient) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        // Forget idle clients now and then, so the table does not grow with every address seen.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&client)
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Paths with limits of their own: sign-in, registration and password reset are throttled per
/// address in `auth::throttle`, and a refresh needs a 256-bit secret, so counting them here too
/// would only lock out residents who share a carrier's address.
fn has_own_limit(path: &str) -> bool {
    path.starts_with("/api/v1/auth/")
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// 429 `too_many_requests` with `Retry-After` once a client has spent its write budget.
pub async fn limit_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !is_write(req.method()) || has_own_limit(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let client = write_client(&req, &state);
    if let Some(wait) = state.writes.check(client) {
        metrics::counter!("phananh_writes_throttled_total").increment(1);
        let err = ApiError::rate_limited(wait);
        let response = err.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn write_client(req: &ServiceRequest, state: &AppState) -> WriteClient {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(claims) = bearer.and_then(|t| state.tokens.verify(t.trim()).ok()) {
        return WriteClient::Account(claims.sub);
    }
    WriteClient::Address(crate::routes::auth::client_ip(req.request()))
}

/// 400 `invalid_query` for a query string that carries a NUL character (`%00`), before any
/// handler: no text of ours can hold one (PostgreSQL cannot store or compare it), and the API
/// description says so on every free-text parameter. Open311 answers in its own format.
pub async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.path().starts_with("/api/") && req.query_string().contains("%00") {
        let err = ApiError::invalid_query(
            "Tham số truy vấn chứa ký tự NUL",
            "The query string contains a NUL character (%00)",
        );
        return Ok(req
            .into_response(err.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// 431 `headers_too_large` when the request line and headers exceed `http.max_header_bytes`.
/// (The HTTP layer buffers up to 128 KiB of head; we keep handlers and logs to far less.)
pub async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |s| s.settings.http.max_header_bytes);
    let size = req.method().as_str().len()
        + req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if size > limit {
        let err = ApiError::new(crate::error::ErrorCode::HeadersTooLarge).with_detail(
            format!("Phần đầu yêu cầu vượt quá {limit} byte"),
            format!("The request line and headers exceed {limit} bytes"),
        );
        return Ok(req
            .into_response(err.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// A request body must keep arriving: `http.body_idle_timeout_secs` without a byte ends it with
/// 408 `request_timeout` (the handler sees a timed-out payload), and the connection is freed.
pub async fn body_idle_timeout(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let idle = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_secs(s.settings.http.body_idle_timeout_secs))
        .filter(|d| !d.is_zero());
    if has_body && let Some(idle) = idle {
        let payload = req.take_payload();
        let stream = futures_util::stream::unfold(Some(payload), move |state| async move {
            let mut payload = state?;
            match tokio::time::timeout(idle, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => Some((Err(timed_out()), None)),
            }
        });
        // Readers (multipart) may poll again after the end: a fused stream keeps answering None.
        req.set_payload(Payload::Stream {
            payload: Box::pin(stream.fuse()),
        });
    }
    next.call(req).await
}

fn timed_out() -> actix_web::error::PayloadError {
    actix_web::error::PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the client stopped sending the body",
    ))
}

/// Whether a payload error is the idle timeout above (the handler answers 408, not 400).
pub fn is_body_timeout(err: &actix_web::error::PayloadError) -> bool {
    matches!(err, actix_web::error::PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

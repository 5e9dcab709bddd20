//! Building and running the HTTP server; shared by `main` and the tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, middleware, web};
use anyhow::Context;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::db::embedded::PrivateCluster;
use crate::db::{self, DatabaseLocation, PgPool, PooledConn};
use crate::error::{ApiError, ErrorCode};
use crate::http_context::{self, Lang, RequestContext};
use crate::routes::{self, fallback::RouteTable};

/// What every handler can reach.
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub tokens: crate::auth::tokens::TokenKeys,
    pub hasher: crate::auth::password::PasswordHasher,
    pub throttle: crate::auth::throttle::Throttle,
    pub photos: crate::media::store::PhotoStore,
    /// Where uploads stream to before they are decoded.
    pub upload_dir: std::path::PathBuf,
    /// Photo decodes running at once (each may take a few hundred MB).
    pub decode_slots: Arc<tokio::sync::Semaphore>,
    pub areas: Arc<crate::db::areas::AreaIndexCache>,
    /// SMTP, when `smtp.url` is set.
    pub mailer: Option<Arc<crate::notify::email::Mailer>>,
    /// FCM, when `fcm.credentials` is set.
    pub pusher: Option<Arc<crate::notify::push::Pusher>>,
    /// The IOC webhook, when `ioc.push_url` is set.
    pub ioc: Option<Arc<crate::notify::ioc::IocPusher>>,
    /// `http.writes_per_minute`, per client.
    pub writes: crate::security::WriteLimiter,
}

impl AppState {
    /// A pooled connection, or a 503 within the configured acquire timeout.
    pub async fn conn(&self) -> Result<PooledConn, ApiError> {
        Ok(self.pool.get().await?)
    }

    /// Decodes and re-encodes a photo on the blocking pool, at most `decode_slots` at a time, so
    /// fifty simultaneous uploads wait their turn instead of exhausting memory.
    pub async fn decode(
        &self,
        path: &std::path::Path,
        limits: crate::media::pipeline::PhotoLimits,
    ) -> Result<
        Result<crate::media::pipeline::ProcessedPhoto, crate::media::pipeline::PhotoError>,
        ApiError,
    > {
        // The permit moves into the blocking task: if the client goes away, the decode still
        // runs to its end, and still holds its slot until then.
        let slot = self
            .decode_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("decode pool closed: {e}")))?;
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let data = std::fs::read(&path)?;
            Ok::<_, std::io::Error>(crate::media::pipeline::process(&data, &limits))
        })
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("photo decoder failed: {e}")))?
        .map_err(ApiError::storage_unavailable)
    }
}

/// `<data_dir>/uploads`, emptied of what dead processes left there.
fn prepare_upload_dir(settings: &Settings) -> anyhow::Result<std::path::PathBuf> {
    let dir = settings.data_dir.join("uploads");
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the upload directory {}", dir.display()))?;
    let removed = crate::media::upload::sweep_temp_dir(&dir);
    if removed > 0 {
        tracing::info!(removed, "removed uploads left by stopped processes");
    }
    Ok(dir)
}

pub struct Application {
    port: u16,
    server: Server,
    cluster: Option<PrivateCluster>,
}

impl Application {
    /// Finds the database (see [`db::locate`]), migrates it, seeds an empty one, and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let location = db::locate(&settings, false).await?;
        Self::build_with_database(settings, location).await
    }

    pub async fn build_with_database(
        settings: Settings,
        location: DatabaseLocation,
    ) -> anyhow::Result<Self> {
        let url = location.url.expose().to_owned();
        prepare_database(&url).await?;
        let pool = db::build_pool(&url, &settings.database)?;

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(%address, port = address.port(), "listening");

        crate::telemetry::metrics(); // install the recorder before the first request
        let settings = Arc::new(settings);
        let state = web::Data::new(AppState {
            pool,
            tokens: crate::auth::tokens::TokenKeys::load(&settings.auth, &settings.data_dir)?,
            hasher: crate::auth::password::PasswordHasher::new(settings.auth.hash_concurrency),
            throttle: crate::auth::throttle::Throttle::new(&settings.auth),
            photos: crate::media::store::PhotoStore::from_settings(&settings)?,
            upload_dir: prepare_upload_dir(&settings)?,
            decode_slots: Arc::new(tokio::sync::Semaphore::new(
                settings
                    .media
                    .decode_concurrency
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
                    .max(1),
            )),
            areas: Arc::new(crate::db::areas::AreaIndexCache::default()),
            mailer: crate::notify::email::Mailer::new(&settings.smtp)?.map(Arc::new),
            pusher: crate::notify::push::Pusher::new(&settings.fcm)?.map(Arc::new),
            ioc: crate::notify::ioc::IocPusher::new(&settings.ioc)?.map(Arc::new),
            writes: crate::security::WriteLimiter::new(&settings.http),
            settings: settings.clone(),
        });
        crate::jobs::spawn(state.clone().into_inner());
        let openapi = routes::openapi();
        let route_table = web::Data::new(RouteTable::from_openapi(&openapi));
        let json_limit = settings.http.json_limit_bytes;
        let cors = web::Data::new(crate::security::CorsPolicy::new(&settings.http));

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(routes::fallback::fixed_path_methods))
                .wrap(middleware::from_fn(crate::security::refuse_nul_in_query))
                .wrap(middleware::from_fn(crate::security::limit_writes))
                .wrap(middleware::from_fn(crate::security::body_idle_timeout))
                .wrap(middleware::Compress::default())
                .wrap(middleware::from_fn(crate::security::limit_headers))
                .wrap_fn(|mut req, srv| {
                    // HEAD is GET without the body (RFC 9110 §9.3.2): route it as GET; the
                    // HTTP layer still knows the request was HEAD and sends no body.
                    if req.method() == Method::HEAD {
                        req.head_mut().method = Method::GET;
                    }
                    let request_id = req
                        .extensions()
                        .get::<RequestId>()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let ctx = RequestContext {
                        lang: Lang::negotiate(req.headers()),
                        request_id: request_id.clone(),
                    };
                    let method = req.method().to_string();
                    let started = std::time::Instant::now();
                    let fut = srv.call(req);
                    async move {
                        let mut res = http_context::scope(ctx, fut).await?;
                        crate::telemetry::record_request(
                            &method,
                            res.request()
                                .match_pattern()
                                .as_deref()
                                .unwrap_or("unmatched"),
                            res.status().as_u16(),
                            started.elapsed().as_secs_f64(),
                        );
                        if let Ok(value) = HeaderValue::from_str(&request_id) {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), value);
                        }
                        Ok(res)
                    }
                })
                .wrap(middleware::from_fn(crate::security::cors))
                .wrap(middleware::from_fn(crate::security::security_headers))
                .wrap(TracingLogger::<crate::telemetry::RedactingRootSpan>::new())
                .app_data(json_config(json_limit))
                .app_data(cors.clone())
                .app_data(query_config())
                .app_data(path_config())
                .app_data(state.clone())
                .app_data(route_table.clone())
                .configure(|cfg| {
                    routes::configure(&mut utoipa_actix_web::service_config::ServiceConfig::new(
                        cfg,
                    ))
                })
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
                .route("/docs", web::get().to(docs_redirect))
                .default_service(web::to(routes::fallback::not_found_or_method_not_allowed))
        })
        .client_request_timeout(Duration::from_millis(
            settings.http.client_request_timeout_ms,
        ))
        .client_disconnect_timeout(Duration::from_millis(
            settings.http.client_disconnect_timeout_ms,
        ))
        .keep_alive(Duration::from_secs(settings.http.keep_alive_secs))
        .max_connections(settings.http.max_connections_per_worker.max(1))
        .listen(listener)?
        .shutdown_timeout(settings.http.shutdown_timeout_secs);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers.max(1));
        }
        Ok(Application {
            port: address.port(),
            server: server.run(),
            cluster: location.cluster,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM (in-flight requests finish, up to `http.shutdown_timeout_secs`) or
    /// SIGINT/SIGQUIT (immediate), then stops a private cluster we started.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            mut cluster,
            ..
        } = self;
        let result = server.await;
        tracing::info!("server stopped");
        if let Some(mut cluster) = cluster.take() {
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
        result
    }
}

/// Migrations, then the default seed if this database has never had it (what was seeded, if anything).
pub async fn prepare_database(url: &str) -> anyhow::Result<Option<db::seed::SeedSummary>> {
    db::check_server_version(url).await?;
    let applied = db::run_migrations(url).await?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    let mut conn = db::connect(url).await?;
    let seeded =
        db::with_migration_lock(&mut conn, async |conn| db::seed::apply_once(conn).await).await?;
    if let Some(summary) = seeded {
        tracing::info!(
            areas = summary.areas,
            categories = summary.categories,
            departments = summary.departments,
            routing_rules = summary.routing_rules,
            "applied the default seed"
        );
    }
    Ok(seeded)
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    use actix_web::error::JsonPayloadError as E;
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            let api = match &err {
                E::Overflow { .. } | E::OverflowKnownLength { .. } => {
                    ApiError::new(ErrorCode::PayloadTooLarge).with_detail(
                        format!("Dữ liệu vượt quá giới hạn {limit} byte"),
                        format!("The body exceeds the limit of {limit} bytes"),
                    )
                }
                E::ContentType => ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
                    "Nội dung phải là application/json",
                    "The body must be application/json",
                ),
                E::Payload(p) if crate::security::is_body_timeout(p) => ApiError::body_timeout(),
                E::Deserialize(e) => {
                    let (vi, en) = describe_json_error(e);
                    ApiError::new(ErrorCode::MalformedJson).with_detail(vi, en)
                }
                _ => ApiError::new(ErrorCode::MalformedJson),
            };
            api.into()
        })
}

/// Reads a JSON body already parsed as a value into `T`, the way JSON Schema reads numbers: `1.0`
/// *is* the integer 1 (the OpenAPI description says `integer`, and clients such as JavaScript's
/// `JSON.stringify` or a Python float may write it so), while `1.5` stays a number that an integer
/// field refuses. Errors are the same problem+json `malformed_json` as a body that fails to parse.
pub fn from_json_value<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
) -> Result<T, ApiError> {
    integral_floats_to_integers(&mut value);
    serde_json::from_value(value).map_err(|e| {
        let (vi, en) = describe_json_error(&e);
        ApiError::new(ErrorCode::MalformedJson).with_detail(vi, en)
    })
}

fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    // Beyond 2^53 a float no longer holds every integer: leave it as it is.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= EXACT
            {
                *n = (f as i64).into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// Where and roughly why a body failed to parse, without echoing the value (it may be a
/// password) or naming our Rust types.
fn describe_json_error(e: &serde_json::Error) -> (String, String) {
    use serde_json::error::Category;
    // A value read from an already-parsed body has no position.
    let at = if e.line() == 0 {
        String::new()
    } else {
        format!(" (line {} column {})", e.line(), e.column())
    };
    let text = e.to_string();
    // "missing field `x`" / "unknown field `x`" name a field of the contract: worth saying.
    let field = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .find(|p| text.starts_with(**p))
        .and_then(|_| text.split('`').nth(1))
        .map(str::to_owned);
    match (e.classify(), field) {
        (_, Some(f)) if text.starts_with("missing") => (
            format!("Thiếu trường `{f}`"),
            format!("Missing field `{f}`"),
        ),
        (_, Some(f)) => (
            format!("Trường `{f}` không được chấp nhận{at}"),
            format!("Field `{f}` is not accepted here{at}"),
        ),
        (Category::Data, None) => (
            format!("Giá trị sai kiểu hoặc không hợp lệ{at}"),
            format!("A value has the wrong type or is not allowed{at}"),
        ),
        (Category::Eof, None) => ("JSON bị cắt cụt".into(), "The JSON ends too early".into()),
        _ => (
            format!("JSON không hợp lệ{at}"),
            format!("Not valid JSON{at}"),
        ),
    }
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::invalid_query(
            format!("Tham số truy vấn không hợp lệ: {err}"),
            format!("Invalid query string: {err}"),
        )
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    // A path segment that cannot even be parsed (a malformed id) names nothing that exists.
    // Under /open311 in the specification's error shape.
    web::PathConfig::default().error_handler(|_err, req| {
        if req.path().starts_with("/open311/") {
            let response = routes::open311::unmatched(req, None);
            actix_web::error::InternalError::from_response("unreadable path", response).into()
        } else {
            ApiError::not_found().into()
        }
    })
}

#[cfg(test)]
mod tests {
    //! The extractor error mappings every JSON endpoint inherits (issue 2 has no JSON endpoint of
    //! its own yet, so they are exercised on a probe route with the same configuration).
    use actix_web::{App, HttpResponse, test, web};
    use serde::Deserialize;

    use super::{json_config, path_config, query_config};

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Body {
        lat: f64,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Query {
        n: u32,
    }

    async fn probe(_b: web::Json<Body>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn by_id(_id: web::Path<uuid::Uuid>, _q: web::Query<Query>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn call(req: test::TestRequest) -> (u16, serde_json::Value, String) {
        let app = test::init_service(
            App::new()
                .app_data(json_config(1024))
                .app_data(query_config())
                .app_data(path_config())
                .route("/probe", web::post().to(probe))
                .route("/things/{id}", web::get().to(by_id)),
        )
        .await;
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = test::read_body(resp).await;
        (
            status,
            serde_json::from_slice(&body).unwrap_or_default(),
            ct,
        )
    }

    fn post(body: &'static [u8], content_type: &str) -> test::TestRequest {
        test::TestRequest::post()
            .uri("/probe")
            .insert_header(("content-type", content_type))
            .set_payload(body)
    }

    #[actix_web::test]
    async fn malformed_json_is_400() {
        for body in [
            &b"{\"lat\": "[..],
            b"not json",
            b"[1,2]",
            b"{\"lat\": \"north\"}",
            b"",
        ] {
            let (status, problem, ct) = call(post(body, "application/json")).await;
            assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(ct, "application/problem+json");
            assert_eq!(problem["code"], "malformed_json");
        }
        let (status, _, _) = call(post(b"{\"lat\": 11.7}", "application/json")).await;
        assert_eq!(status, 200);
    }

    #[actix_web::test]
    async fn parse_errors_never_echo_values_or_type_names() {
        let (status, problem, _) =
            call(post(b"{\"lat\": \"hunter2-secret\"}", "application/json")).await;
        assert_eq!(status, 400);
        let text = problem.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("struct") && !text.contains("Body"),
            "{text}"
        );
        let (_, problem, _) = call(post(b"{}", "application/json")).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("`lat`"),
            "{problem}"
        );
    }

    #[actix_web::test]
    async fn oversized_json_is_413() {
        let big: &'static [u8] = Box::leak(
            format!("{{\"lat\": 1, \"pad\": \"{}\"}}", "x".repeat(4096))
                .into_bytes()
                .into_boxed_slice(),
        );
        let (status, problem, _) = call(post(big, "application/json")).await;
        assert_eq!(status, 413);
        assert_eq!(problem["code"], "payload_too_large");
    }

    #[actix_web::test]
    async fn non_json_content_type_is_415() {
        let (status, problem, _) = call(post(b"lat=1", "application/x-www-form-urlencoded")).await;
        assert_eq!(status, 415);
        assert_eq!(problem["code"], "unsupported_media_type");
    }

    #[actix_web::test]
    async fn bad_query_is_400_and_bad_path_id_is_404() {
        let id = uuid::Uuid::now_v7();
        let (status, problem, _) =
            call(test::TestRequest::get().uri(&format!("/things/{id}?n=-1"))).await;
        assert_eq!(status, 400);
        assert_eq!(problem["code"], "invalid_query");
        let (status, problem, _) =
            call(test::TestRequest::get().uri("/things/not-a-uuid?n=1")).await;
        assert_eq!(status, 404);
        assert_eq!(problem["code"], "not_found");
        let (status, _, _) = call(test::TestRequest::get().uri(&format!("/things/{id}?n=1"))).await;
        assert_eq!(status, 200);
    }

    #[actix_web::test]
    async fn integral_floats_are_integers_as_json_schema_says_and_fractions_are_not() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Rating {
            score: u8,
            weights: Vec<i32>,
            lat: f64,
        }
        let ok: Rating = super::from_json_value(
            serde_json::json!({"score": 5.0, "weights": [1, -2.0, 0.0], "lat": 11}),
        )
        .unwrap();
        assert_eq!(
            ok,
            Rating {
                score: 5,
                weights: vec![1, -2, 0],
                lat: 11.0
            }
        );
        for bad in [
            serde_json::json!({"score": 4.5, "weights": [], "lat": 1.0}),
            serde_json::json!({"score": 300.0, "weights": [], "lat": 1.0}),
            serde_json::json!({"score": 1e300, "weights": [], "lat": 1.0}),
            serde_json::json!({"score": "5", "weights": [], "lat": 1.0}),
        ] {
            let err = super::from_json_value::<Rating>(bad.clone()).unwrap_err();
            assert_eq!(err.code(), "malformed_json", "{bad}");
        }
    }
}

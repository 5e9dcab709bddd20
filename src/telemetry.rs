//! Structured logs: JSON lines by default (one object per event, with the request id of the span
//! it happened in), human-readable with `log.format = "pretty"`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Logs go to stderr so that a subcommand's own output on stdout
/// (an API key, the OpenAPI document) stays machine-readable. Calling it twice is harmless.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE);
    let result = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // Already installed (tests start many servers in one process): keep the first.
    let _ = result;
}

/// The process-wide Prometheus recorder (installed once, however many servers a test process
/// starts). `None` if another recorder was installed first.
pub fn metrics() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Counts and times one HTTP request. `route` is the matched path template (bounded
/// cardinality), never the raw path.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    // Any token is a valid HTTP method: only the standard ones become labels, or anyone could
    // grow the metrics without bound.
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    };
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("phananh_http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "phananh_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(seconds);
}

/// The request spans of [`tracing_actix_web`], with secrets taken out of the logged target:
/// Open311 clients may send `api_key` in the query string, and a phone unregisters its push
/// token with `DELETE /api/v1/me/devices/{token}`.
pub struct RedactingRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let span = tracing_actix_web::root_span!(level = tracing::Level::INFO, request);
        let target = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("");
        let redacted = redact_query(target);
        if redacted != target {
            span.record("http.target", redacted.as_str());
        }
        span
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 4] = ["api_key", "token", "access_token", "refresh_token"];
/// Paths whose last segment is a credential (a device's push token).
const SECRET_PATH_PREFIXES: [&str; 1] = ["/api/v1/me/devices/"];

/// `path?a=1&api_key=secret` → `path?a=1&api_key=REDACTED`, and
/// `/api/v1/me/devices/<fcm token>` → `/api/v1/me/devices/REDACTED`.
pub fn redact_query(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let path = match SECRET_PATH_PREFIXES
        .iter()
        .find(|prefix| path.starts_with(**prefix) && path.len() > prefix.len())
    {
        Some(prefix) => format!("{prefix}REDACTED"),
        None => path.to_owned(),
    };
    let Some(query) = query else {
        return path;
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                format!("{k}=REDACTED")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

#[cfg(test)]
mod redaction_tests {
    use super::redact_query;

    #[test]
    fn api_keys_never_reach_the_log() {
        assert_eq!(
            redact_query("/open311/v2/requests.json?api_key=phk_secret&x=1"),
            "/open311/v2/requests.json?api_key=REDACTED&x=1"
        );
        assert_eq!(redact_query("/a?b=1"), "/a?b=1");
        assert_eq!(
            redact_query("/api/v1/me/devices/fcm:secret-token"),
            "/api/v1/me/devices/REDACTED"
        );
        assert_eq!(
            redact_query("/x?token=abc&refresh_token=def"),
            "/x?token=REDACTED&refresh_token=REDACTED"
        );
        assert_eq!(redact_query("/a"), "/a");
    }
}

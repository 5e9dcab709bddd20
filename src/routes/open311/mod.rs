//! Open311 GeoReport v2 (`/open311/v2`), to the letter of the specification
//! (<http://wiki.open311.org/GeoReport_v2>), over the same reports, categories and timeline as the
//! app: `discovery`, `services`, `services/{code}`, `requests` (GET, POST), `requests/{id}`,
//! `tokens/{token}` and mySociety's `servicerequestupdates`, each as `.json` (bare arrays) and
//! `.xml`. Errors are the specification's `[{"code", "description"}]` / `<errors>`, not
//! problem+json: Open311 clients parse those.

mod requests;
mod services;
mod updates;
pub mod xml;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use requests::{get_request, list_requests, post_request, token};
pub use services::{list_services, service_definition};
pub use updates::list_updates;

use crate::domain::calendar::vietnam;
use crate::error::ApiError;
use crate::startup::AppState;
use xml::{ToXml, Xml};

/// The specification this endpoint follows.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// Longest window of `start_date`…`end_date`, as the specification allows.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// Deepest offset `page` × `page_size` may reach: past it, narrow the window instead.
const MAX_OFFSET: i64 = 100_000;
/// When this endpoint's behaviour last changed (discovery's `changeset`).
const CHANGESET: &str = "2026-11-30T00:00:00+07:00";

/// The response format, from the path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `json` or `xml`; anything else is not a resource here (404, answered in JSON).
    pub fn parse(raw: &str) -> Result<Format, Open311Error> {
        match raw {
            "json" => Ok(Format::Json),
            "xml" => Ok(Format::Xml),
            _ => Err(Open311Error::new(
                Format::Json,
                StatusCode::NOT_FOUND,
                "Unknown format: use .json or .xml",
            )),
        }
    }

    /// The format an error about `path` is answered in: XML when it asks for XML.
    pub fn of_path(path: &str) -> Format {
        if path.ends_with(".xml") {
            Format::Xml
        } else {
            Format::Json
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// One error of an Open311 error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    /// The HTTP status.
    pub code: u16,
    pub description: String,
}

impl ToXml for ErrorItem {
    fn to_xml(&self, x: &mut Xml) {
        x.text("code", self.code);
        x.text("description", &self.description);
    }
}

/// An error as Open311 clients expect it: `[{"code": 400, "description": "..."}]` or
/// `<errors><error>…</error></errors>`, the HTTP status equal to `code`.
#[derive(Debug)]
pub struct Open311Error {
    format: Format,
    status: StatusCode,
    description: String,
    retry_after_secs: Option<u32>,
}

impl Open311Error {
    pub fn new(format: Format, status: StatusCode, description: impl Into<String>) -> Self {
        Open311Error {
            format,
            status,
            description: description.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(format: Format, description: impl Into<String>) -> Self {
        Self::new(format, StatusCode::BAD_REQUEST, description)
    }

    pub fn not_found(format: Format, description: impl Into<String>) -> Self {
        Self::new(format, StatusCode::NOT_FOUND, description)
    }

    /// The application's error in Open311's terms: 404, 403 (any authentication failure), 409,
    /// 413, 429 and 5xx keep their status; every other client error is the specification's 400.
    /// The description is the problem's detail (or title) with the fields at fault.
    pub fn from_api(format: Format, err: ApiError) -> Self {
        let status = match err.status() {
            s @ (StatusCode::NOT_FOUND
            | StatusCode::CONFLICT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::TOO_MANY_REQUESTS) => s,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => StatusCode::FORBIDDEN,
            s if s.is_server_error() => {
                tracing::warn!(error = %err, "open311 request failed");
                s
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let problem = err.problem();
        let mut description = problem.detail.unwrap_or(problem.title);
        for f in &problem.errors {
            description.push_str(&format!(" [{}: {}]", f.field, f.message));
        }
        Open311Error {
            format,
            status,
            description,
            retry_after_secs: err.retry_after_secs(),
        }
    }
}

impl std::fmt::Display for Open311Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.description)
    }
}

impl ResponseError for Open311Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let errors = [ErrorItem {
            code: self.status.as_u16(),
            description: self.description.clone(),
        }];
        let mut response = render(
            self.format,
            self.status,
            "errors",
            |x| x.element("error", |x| errors[0].to_xml(x)),
            &errors,
        );
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// An answer in the requested format: `json` serialised, or an XML document with root `root`
/// written by `xml`.
fn render<T: Serialize + ?Sized>(
    format: Format,
    status: StatusCode,
    root: &str,
    xml: impl FnOnce(&mut Xml),
    json: &T,
) -> HttpResponse {
    let body = match format {
        Format::Json => serde_json::to_vec(json).unwrap_or_else(|_| b"[]".to_vec()),
        Format::Xml => Xml::document(root, xml).into_bytes(),
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, format.content_type()))
        .insert_header((header::VARY, "Accept-Language"))
        .body(body)
}

/// A list answer: a bare JSON array, or `<root><item>…</item>…</root>`.
fn render_list<T: Serialize + ToXml>(
    format: Format,
    status: StatusCode,
    root: &str,
    item: &str,
    values: &[T],
) -> HttpResponse {
    render(
        format,
        status,
        root,
        |x| {
            for v in values {
                x.element(item, |x| v.to_xml(x));
            }
        },
        values,
    )
}

/// Query (and form) parameters as Open311 clients send them: unknown ones ignored, an empty one
/// the same as a missing one, the last of a repeated one winning.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_query(req: &HttpRequest) -> Params {
        Params(serde_urlencoded::from_str(req.query_string()).unwrap_or_default())
    }

    pub fn extend(&mut self, more: Vec<(String, String)>) {
        self.0.extend(more);
    }

    /// The value of `name`, trimmed, if not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }
}

/// `jurisdiction_id`: any value when none is configured; otherwise the configured one (or none).
fn check_jurisdiction(
    state: &AppState,
    params: &Params,
    format: Format,
) -> Result<(), Open311Error> {
    match (
        &state.settings.open311.jurisdiction_id,
        params.get("jurisdiction_id"),
    ) {
        (Some(ours), Some(asked)) if !ours.eq_ignore_ascii_case(asked) => Err(
            Open311Error::not_found(format, format!("jurisdiction_id {asked} not found")),
        ),
        _ => Ok(()),
    }
}

/// The format from the path, then the jurisdiction: what every Open311 handler checks first.
fn begin(state: &AppState, raw_format: &str, params: &Params) -> Result<Format, Open311Error> {
    let format = Format::parse(raw_format)?;
    check_jurisdiction(state, params, format)?;
    Ok(format)
}

/// W3C date-time with the district's offset, whole seconds: `2026-11-29T10:00:00+07:00`.
pub fn w3c(t: DateTime<Utc>) -> String {
    t.with_timezone(&vietnam())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A date-time parameter: RFC 3339 (a `+` that arrived as a space too), a local date-time, or a
/// day (its start, or its end when `end_of_day`), local times in Vietnam.
pub fn parse_time(raw: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let repaired = raw.replace(' ', "+");
    for candidate in [raw, repaired.as_str()] {
        if let Ok(t) = DateTime::parse_from_rfc3339(candidate) {
            return Some(t.with_timezone(&Utc)).filter(plausible);
        }
    }
    let local = |naive: NaiveDateTime| {
        naive
            .and_local_timezone(vietnam())
            .single()
            .map(|t| t.with_timezone(&Utc))
            .filter(plausible)
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(raw, fmt) {
            return local(naive);
        }
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let naive = if end_of_day {
        day.and_hms_micro_opt(23, 59, 59, 999_999)?
    } else {
        day.and_hms_opt(0, 0, 0)?
    };
    local(naive)
}

/// Within what PostgreSQL stores and this service can have written.
fn plausible(t: &DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (2000..=9999).contains(&t.year())
}

/// A date-time parameter, or 400 naming it.
fn time_param(
    params: &Params,
    name: &str,
    end_of_day: bool,
    format: Format,
) -> Result<Option<DateTime<Utc>>, Open311Error> {
    params
        .get(name)
        .map(|raw| {
            parse_time(raw, end_of_day).ok_or_else(|| {
                Open311Error::bad_request(
                    format,
                    format!("{name} must be a W3C date-time such as 2026-11-29T08:00:00+07:00"),
                )
            })
        })
        .transpose()
}

/// `page` (from 1) and `page_size` (1–1000, default 50): offset and limit.
fn paging(params: &Params, format: Format) -> Result<(i64, i64), Open311Error> {
    let page = match params.get("page") {
        None => 1,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| {
                Open311Error::bad_request(format, "page must be a whole number from 1")
            })?,
    };
    let size = match params.get("page_size") {
        None => 50,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|s| (1..=1000).contains(s))
            .ok_or_else(|| Open311Error::bad_request(format, "page_size must be 1 to 1000"))?,
    };
    let offset = (page - 1) * size;
    if offset > MAX_OFFSET {
        return Err(Open311Error::bad_request(
            format,
            format!(
                "page × page_size may reach at most {MAX_OFFSET} requests: narrow the dates instead"
            ),
        ));
    }
    Ok((offset, size))
}

/// The application's errors in this endpoint's format.
trait OrOpen311<T> {
    fn or_open311(self, format: Format) -> Result<T, Open311Error>;
}

impl<T, E: Into<ApiError>> OrOpen311<T> for Result<T, E> {
    fn or_open311(self, format: Format) -> Result<T, Open311Error> {
        self.map_err(|e| Open311Error::from_api(format, e.into()))
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// One endpoint of this deployment.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryEndpoint {
    pub specification: String,
    pub url: String,
    pub changeset: String,
    /// `production`.
    #[serde(rename = "type")]
    pub kind: String,
    pub formats: Vec<String>,
}

/// The discovery document (an object, as the specification gives it).
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    pub changeset: String,
    pub contact: String,
    pub key_service: String,
    pub endpoints: Vec<DiscoveryEndpoint>,
}

/// Where this Open311 endpoint is, what it speaks, and whom to ask for an `api_key`.
#[utoipa::path(
    tag = "open311",
    params(
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
    ),
    responses(
        (status = 200, description = "The discovery document", content(
            (Discovery = "application/json"),
            (String = "text/xml")
        )),
        (status = 404, description = "Unknown format or jurisdiction", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/discovery.{format}")]
pub async fn discovery(
    path: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let params = Params::from_query(&req);
    let format = begin(&state, &path, &params)?;
    let settings = &state.settings.open311;
    let doc = Discovery {
        changeset: CHANGESET.into(),
        contact: settings.contact.clone(),
        key_service: settings.key_service.clone(),
        endpoints: vec![DiscoveryEndpoint {
            specification: SPECIFICATION.into(),
            url: format!(
                "{}/open311/v2",
                state.settings.public_url.trim_end_matches('/')
            ),
            changeset: CHANGESET.into(),
            kind: "production".into(),
            formats: vec!["text/xml".into(), "application/json".into()],
        }],
    };
    Ok(render(
        format,
        StatusCode::OK,
        "discovery",
        |x| {
            x.text("changeset", &doc.changeset);
            x.text("contact", &doc.contact);
            x.text("key_service", &doc.key_service);
            x.element("endpoints", |x| {
                for e in &doc.endpoints {
                    x.element("endpoint", |x| {
                        x.text("specification", &e.specification);
                        x.text("url", &e.url);
                        x.text("changeset", &e.changeset);
                        x.text("type", &e.kind);
                        x.element("formats", |x| {
                            for f in &e.formats {
                                x.text("format", f);
                            }
                        });
                    });
                }
            });
        },
        &doc,
    ))
}

/// What answers a path under `/open311/v2` that matched no route (a wrong method included):
/// the specification's error shape, not problem+json.
pub fn unmatched(req: &HttpRequest, allowed: Option<&[String]>) -> HttpResponse {
    let format = Format::of_path(req.path());
    match allowed {
        Some(methods) if !methods.is_empty() => {
            let mut response = Open311Error::new(
                format,
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Method not allowed here; use {}", methods.join(", ")),
            )
            .error_response();
            if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            response
        }
        _ => Open311Error::not_found(
            format,
            "No such Open311 resource: see /open311/v2/discovery.json",
        )
        .error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_form_clients_send() {
        let t = |raw| parse_time(raw, false).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2026-11-29T10:00:00+07:00").as_deref(),
            Some("2026-11-29T03:00:00+00:00")
        );
        // `+` decoded as a space by a client that did not encode it.
        assert_eq!(
            t("2026-11-29T10:00:00 07:00").as_deref(),
            Some("2026-11-29T03:00:00+00:00")
        );
        assert_eq!(
            t("2026-11-29T03:00:00Z").as_deref(),
            Some("2026-11-29T03:00:00+00:00")
        );
        assert_eq!(
            t("2026-11-29T10:00:00").as_deref(),
            Some("2026-11-29T03:00:00+00:00")
        );
        assert_eq!(
            t("2026-11-29").as_deref(),
            Some("2026-11-28T17:00:00+00:00")
        );
        assert_eq!(
            parse_time("2026-11-29", true)
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2026-11-29T16:59:59.999999+00:00")
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "0001-01-01T00:00:00Z",
            "29/11/2026",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_written_with_the_district_offset() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T03:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(w3c(t), "2026-11-29T10:00:00+07:00");
    }

    #[test]
    fn empty_and_repeated_parameters() {
        let p = Params(vec![
            ("status".into(), "".into()),
            ("page".into(), "1".into()),
            ("page".into(), " 2 ".into()),
            ("page".into(), "".into()),
        ]);
        assert_eq!(p.get("status"), None);
        assert_eq!(p.get("page"), Some("2"));
        assert_eq!(p.get("other"), None);
    }
}

//! `services` and `services/{service_code}`: the categories residents can report under.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::xml::{ToXml, Xml};
use super::{ErrorItem, Format, Open311Error, OrOpen311, Params, begin, render, render_list};
use crate::db;
use crate::http_context::Lang;
use crate::startup::AppState;

/// A service: one category (`service_code` = the category code).
#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    pub service_code: String,
    /// The category's name, Vietnamese unless `Accept-Language` prefers English.
    pub service_name: String,
    pub description: Option<String>,
    /// Always false: no service asks for attributes beyond the standard fields.
    pub metadata: bool,
    /// Always `realtime`: a request is routed and gets its id at once.
    #[serde(rename = "type")]
    pub kind: String,
    /// Comma-separated.
    pub keywords: Option<String>,
    /// The kind of department that handles it.
    pub group: Option<String>,
}

impl ToXml for Service {
    fn to_xml(&self, x: &mut Xml) {
        x.text("service_code", &self.service_code);
        x.text("service_name", &self.service_name);
        x.opt("description", self.description.as_ref());
        x.text("metadata", self.metadata);
        x.text("type", &self.kind);
        x.opt("keywords", self.keywords.as_ref());
        x.opt("group", self.group.as_ref());
    }
}

/// The definition of a service: its extra attributes (none here).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDefinition {
    pub service_code: String,
    /// Always empty: every service takes the standard fields only.
    pub attributes: Vec<serde_json::Value>,
}

/// The services: every active category, in display order.
#[utoipa::path(
    tag = "open311",
    params(
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
        ("Accept-Language" = Option<String>, Header, description = "`en` for English names"),
    ),
    responses(
        (status = 200, description = "The services (XML: `<services><service>`)", content(
            (Vec<Service> = "application/json"),
            (String = "text/xml")
        )),
        (status = 404, description = "Unknown format or jurisdiction", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database unreachable", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/services.{format}")]
pub async fn list_services(
    path: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let params = Params::from_query(&req);
    let format = begin(&state, &path, &params)?;
    let lang = Lang::negotiate(req.headers());
    let mut conn = state.conn().await.or_open311(format)?;
    let categories = db::categories::list_active(&mut conn)
        .await
        .or_open311(format)?;
    let groups = db::routing_rules::department_kind_by_category(&mut conn)
        .await
        .or_open311(format)?;
    let services: Vec<Service> = categories
        .into_iter()
        .map(|c| Service {
            service_name: match lang {
                Lang::Vi => c.name_vi.clone(),
                Lang::En => c.name_en.clone(),
            },
            description: Some(c.description.clone()).filter(|d| !d.trim().is_empty()),
            metadata: false,
            kind: "realtime".into(),
            keywords: Some(c.name_en.to_lowercase()),
            group: groups
                .get(&c.id)
                .and_then(|k| k.group())
                .map(|(vi, en)| match lang {
                    Lang::Vi => vi.to_owned(),
                    Lang::En => en.to_owned(),
                }),
            service_code: c.code,
        })
        .collect();
    Ok(render_list(
        format,
        StatusCode::OK,
        "services",
        "service",
        &services,
    ))
}

/// A service's definition: no extra attributes.
#[utoipa::path(
    tag = "open311",
    params(
        ("service_code" = String, Path, description = "A category code"),
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
    ),
    responses(
        (status = 200, description = "The definition (XML: `<service_definition>`)", content(
            (ServiceDefinition = "application/json"),
            (String = "text/xml")
        )),
        (status = 404, description = "No active service has this code", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database unreachable", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/services/{service_code}.{format}")]
pub async fn service_definition(
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let (code, raw_format) = path.into_inner();
    let params = Params::from_query(&req);
    let format = begin(&state, &raw_format, &params)?;
    let mut conn = state.conn().await.or_open311(format)?;
    let category = db::categories::find_by_code(&mut conn, &code)
        .await
        .or_open311(format)?
        .filter(|c| c.active)
        .ok_or_else(|| Open311Error::not_found(format, format!("service_code {code} not found")))?;
    let definition = ServiceDefinition {
        service_code: category.code,
        attributes: Vec::new(),
    };
    Ok(render(
        format,
        StatusCode::OK,
        "service_definition",
        |x| {
            x.text("service_code", &definition.service_code);
            x.element("attributes", |_| {});
        },
        &definition,
    ))
}

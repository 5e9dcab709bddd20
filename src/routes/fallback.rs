//! What answers when no route matched: 405 with `Allow` when the path exists under other methods,
//! else 404. The known paths come from the OpenAPI document, the same list the router is built from.

use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// Path templates and the methods each accepts.
pub struct RouteTable(Vec<(ResourceDef, Vec<String>)>);

impl RouteTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .map(|o| {
                        let mut m: Vec<String> = o
                            .keys()
                            .filter(|k| {
                                matches!(
                                    k.as_str(),
                                    "get"
                                        | "put"
                                        | "post"
                                        | "delete"
                                        | "options"
                                        | "head"
                                        | "patch"
                                        | "trace"
                                )
                            })
                            .map(|k| k.to_ascii_uppercase())
                            .collect();
                        if m.iter().any(|x| x == "GET") {
                            m.push("HEAD".into());
                        }
                        m.sort();
                        m
                    })
                    .unwrap_or_default();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        RouteTable(routes)
    }

    /// Methods the path accepts, if it is a known path.
    pub fn allowed(&self, path: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, m)| m.as_slice())
    }
}

pub async fn not_found_or_method_not_allowed(
    req: HttpRequest,
    table: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    if req.path().starts_with("/open311/") {
        return Ok(super::open311::unmatched(&req, table.allowed(req.path())));
    }
    match table.allowed(req.path()) {
        Some(methods) if !methods.is_empty() => {
            Err(ApiError::method_not_allowed(methods.join(", ")))
        }
        _ => Err(ApiError::not_found()),
    }
}

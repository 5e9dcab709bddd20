//! What answers when no route matched: 405 with `Allow` when the path exists under other methods,
//! else 404. The known paths come from the OpenAPI document, the same list the router is built from.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

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

    /// For a fixed path (no `{parameter}`) that does not accept `method`: the methods it does.
    /// The router would otherwise hand `GET /admin/areas/import` to `GET /admin/areas/{id}`, whose
    /// id does not parse, and answer 404 for a path that exists.
    pub fn fixed_path_refusing(&self, path: &str, method: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(def, _)| !def.is_prefix() && def.pattern() == Some(path) && !path.contains('{'))
            .map(|(_, m)| m.as_slice())
            .filter(|m| !m.is_empty() && !m.iter().any(|x| x == method))
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

/// 405 with `Allow` for a method a fixed path does not accept, before the router can match the
/// path against a templated sibling (see [`RouteTable::fixed_path_refusing`]).
pub async fn fixed_path_methods(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = req.app_data::<web::Data<RouteTable>>().and_then(|table| {
        table
            .fixed_path_refusing(req.path(), req.method().as_str())
            .map(|methods| methods.join(", "))
    });
    match refused {
        Some(allow) if !req.path().starts_with("/open311/") => {
            let err = ApiError::method_not_allowed(allow);
            Ok(req
                .into_response(err.error_response())
                .map_into_right_body())
        }
        _ => Ok(next.call(req).await?.map_into_left_body()),
    }
}

//! HTTP routes, one module per resource. Every handler carries `#[utoipa::path]` and is registered
//! through [`configure`] with `.service(...)`, so the OpenAPI document and the router are built
//! from the same list and cannot drift apart.

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod fallback;
pub mod feedback;
pub mod health;
mod http_cache;
pub mod me;
pub mod media;
pub mod moderation;
pub mod open311;
pub mod reports;
pub mod stats;
pub mod tickets;

use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

/// A query parameter with something in it: an empty one is the same as a missing one.
pub(crate) fn present(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Registers every documented route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(catalog::list_categories)
        .service(catalog::list_areas)
        .service(catalog::list_departments)
        .service(auth::register)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::password_reset)
        .service(auth::password_reset_confirm)
        .service(me::get_me)
        .service(me::patch_me)
        .service(me::delete_me)
        .service(me::export_me)
        .service(me::add_device)
        .service(me::remove_device)
        .service(reports::my_reports)
        .service(media::upload_media)
        .service(media::get_media_file)
        .service(reports::submit_report)
        .service(reports::list_reports)
        .service(reports::get_report_by_code)
        .service(reports::get_report)
        .service(reports::get_report_events)
        .service(feedback::rate_report)
        .service(feedback::reopen_report)
        .service(feedback::follow_report)
        .service(feedback::unfollow_report)
        .service(tickets::list_tickets)
        .service(tickets::get_ticket)
        .service(tickets::transition_ticket)
        .service(tickets::assign_ticket)
        .service(moderation::hide_ticket)
        .service(moderation::unhide_ticket)
        .service(moderation::edit_description)
        .service(moderation::redact_photo)
        .service(stats::stats_summary)
        .service(stats::stats_breakdown)
        .service(stats::stats_timeseries)
        .service(stats::stats_export_csv)
        .service(admin::outbox::list_outbox)
        .service(admin::outbox::retry_outbox)
        .service(admin::api_keys::create_api_key)
        .service(admin::api_keys::list_api_keys)
        .service(admin::api_keys::revoke_api_key)
        .service(admin::routing::explain_routing)
        .service(admin::audit::list_audit)
        .service(admin::categories::create_category)
        .service(admin::categories::list_categories)
        .service(admin::categories::get_category)
        .service(admin::categories::update_category)
        .service(admin::categories::deactivate_category)
        .service(admin::departments::create_department)
        .service(admin::departments::list_departments)
        .service(admin::departments::get_department)
        .service(admin::departments::update_department)
        .service(admin::departments::deactivate_department)
        .service(admin::routing_rules::create_routing_rule)
        .service(admin::routing_rules::list_routing_rules)
        .service(admin::routing_rules::get_routing_rule)
        .service(admin::routing_rules::update_routing_rule)
        .service(admin::routing_rules::deactivate_routing_rule)
        .service(admin::areas::import_areas)
        .service(admin::areas::create_area)
        .service(admin::areas::list_areas)
        .service(admin::areas::get_area)
        .service(admin::areas::update_area)
        .service(admin::areas::delete_area)
        .service(admin::holidays::suggest_holidays)
        .service(admin::holidays::create_holiday)
        .service(admin::holidays::list_holidays)
        .service(admin::holidays::get_holiday)
        .service(admin::holidays::update_holiday)
        .service(admin::holidays::delete_holiday)
        .service(admin::users::create_user)
        .service(admin::users::list_users)
        .service(admin::users::get_user)
        .service(admin::users::update_user)
        .service(admin::users::disable_user)
        .service(admin::users::reset_user_password)
        .service(open311::discovery)
        .service(open311::list_services)
        .service(open311::service_definition)
        .service(open311::list_requests)
        .service(open311::post_request)
        .service(open311::get_request)
        .service(open311::token)
        .service(open311::list_updates);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "phananh",
        description = "Backend of Đơn Dương trực tuyến: residents report problems with photos and GPS, \
reports are routed to the department that must handle them, staff resolve them against legal \
deadlines, and the statistics feed the district's Intelligent Operations Center.\n\n\
Conventions: JSON in snake_case; ids are UUIDv7; times are RFC 3339 with offset; coordinates are \
WGS84 `{\"lat\", \"lon\"}`. Every error is `application/problem+json` (RFC 9457) with a machine-readable \
`code`. Messages are Vietnamese by default; send `Accept-Language: en` for English.",
        license(name = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "accounts", description = "Sign-up, sign-in, tokens, password reset, the caller's own profile and devices"),
        (name = "catalog", description = "Public reference data: categories, areas (communes), departments"),
        (name = "reports", description = "Photos, report submission, the public feed, report detail and timeline"),
        (name = "tickets", description = "The staff view: the department's queue, one ticket in full, lifecycle transitions and assignment, moderation of what the public sees (hide, description, photo redaction)"),
        (name = "stats", description = "Statistics for the IOC: the figures of any period and slice, each with its definition. Every figure counts the reports submitted in the period (local dates, Asia/Ho_Chi_Minh) in the state they are in now. Durations are in calendar hours (`…_hours`) and working hours (`…_working_hours`) apart. Callers: the IOC (`X-Api-Key`), managers, admins."),
        (name = "administration", description = "Running the deployment: the outbox of outgoing messages, API keys"),
        (name = "open311", description = "Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over the same reports: every resource as `.json` (bare arrays) and `.xml`; errors as `[{\"code\", \"description\"}]`; `api_key` (an API key of purpose `open311`) to submit; the mySociety `servicerequestupdates` extension."),
        (name = "operations", description = "Liveness and readiness for orchestrators and load balancers"),
    ),
    components(schemas(
        crate::error::Problem,
        crate::error::ProblemField,
        crate::error::ErrorCode,
        // Named by parameters (`value_type`) rather than by a body, so not collected on their own.
        open311::Format,
        media::Rendition,
    )),
    modifiers(&Security)
)]
struct ApiDoc;

/// Declares how callers authenticate: a user's access token, or the IOC's API key.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// The OpenAPI document of everything [`configure`] registers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    tidy_parameters(doc)
}

/// What the generated parameter schemas do not say by themselves:
/// - a header or query parameter is absent or a string, never JSON `null` (an `Option` would
///   otherwise be described as `["string", "null"]`);
/// - text never holds a NUL character (PostgreSQL cannot store or compare one; such a filter
///   is refused 400), said as a pattern on our own free-text query parameters.
fn tidy_parameters(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in ops.into_iter().flatten() {
            for param in op.parameters.iter_mut().flatten() {
                let RefOr::T(param) = param else {
                    continue;
                };
                let place = &param.parameter_in;
                if !matches!(place, ParameterIn::Query | ParameterIn::Header) {
                    continue;
                }
                let in_query = matches!(place, ParameterIn::Query);
                let Some(RefOr::T(Schema::Object(schema))) = param.schema.as_mut() else {
                    continue;
                };
                if let SchemaType::Array(types) = &schema.schema_type
                    && let [one, Type::Null] = types.as_slice()
                {
                    schema.schema_type = SchemaType::Type(one.clone());
                }
                let free_text = schema.schema_type == SchemaType::Type(Type::String)
                    && schema.pattern.is_none()
                    && schema.format.is_none()
                    && schema.enum_values.is_none();
                if in_query && path.starts_with("/api/v1/") && free_text {
                    schema.pattern = Some("^[^\\u0000]*$".to_owned());
                }
            }
        }
    }
    doc
}

/// The committed form of the document (`openapi/openapi.json`).
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

//! Conditional GET for catalog responses: an `ETag` from the body, `304` when the phone already
//! has it. The catalog changes rarely and a commune boundary file is large on 3G.

use std::hash::{Hash, Hasher};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// How long clients may reuse a catalog answer without asking again. Short, so admin changes
/// reach phones within a minute; the ETag makes the re-check cheap.
const MAX_AGE_SECS: u32 = 60;

pub fn respond(req: &HttpRequest, content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    // SipHash with fixed keys: the same body gives the same tag in every process of this binary.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    body.hash(&mut hasher);
    // Weak: the same representation may travel gzip-compressed or not (RFC 9110 §8.8.1).
    let etag = format!("W/\"{:016x}\"", hasher.finish());
    // If-None-Match compares weakly: `W/"x"` and `"x"` match the same tag.
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(&etag);
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| opaque(t) == ours || t.trim() == "*"));
    let mut builder = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={MAX_AGE_SECS}"),
        ))
        .insert_header((header::VARY, HeaderValue::from_static("Accept")));
    if matches {
        builder.finish()
    } else {
        builder.content_type(content_type).body(body)
    }
}

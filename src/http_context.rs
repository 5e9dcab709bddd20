//! Per-request facts that deep code (error rendering) needs without threading the request through:
//! the caller's language and the request id. Set by a middleware for the duration of the request.

use actix_web::http::header::{ACCEPT_LANGUAGE, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese, the default.
    #[default]
    Vi,
    En,
}

impl Lang {
    /// Picks from `Accept-Language`: the first of `vi`/`en` by preference; anything else is Vietnamese.
    pub fn negotiate(headers: &HeaderMap) -> Lang {
        let Some(value) = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Lang::Vi;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in value.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag == "vi" || tag.starts_with("vi-") {
                Lang::Vi
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub lang: Lang,
    pub request_id: String,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// Runs `fut` with `ctx` as the current request context.
pub async fn scope<F: Future>(ctx: RequestContext, fut: F) -> F::Output {
    CONTEXT.scope(ctx, fut).await
}

pub fn lang() -> Lang {
    CONTEXT.try_with(|c| c.lang).unwrap_or_default()
}

pub fn request_id() -> Option<String> {
    CONTEXT.try_with(|c| c.request_id.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with(value: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        Lang::negotiate(&h)
    }

    #[test]
    fn negotiation_follows_preference_and_defaults_to_vietnamese() {
        assert_eq!(Lang::negotiate(&HeaderMap::new()), Lang::Vi);
        assert_eq!(with("en"), Lang::En);
        assert_eq!(with("en-US,en;q=0.9"), Lang::En);
        assert_eq!(with("vi-VN,vi;q=0.9,en;q=0.8"), Lang::Vi);
        assert_eq!(with("fr,en;q=0.5"), Lang::En);
        assert_eq!(with("fr"), Lang::Vi);
        assert_eq!(with("vi;q=0.2,en;q=0.8"), Lang::En);
        assert_eq!(with("en;q=0"), Lang::Vi);
    }
}

//! Statistics snapshots pushed to the district's Intelligent Operations Center (api.md,
//! "Statistics (IOC)"): `POST {ioc.push_url}` with the snapshot as the body,
//! `X-Phananh-Signature: sha256=<hex HMAC-SHA256 of the body with ioc.push_secret>` and
//! `X-Phananh-Delivery: <outbox message id>`.
//!
//! The body is serialised once, when the snapshot is queued, and kept as text in the outbox, so
//! every retry sends the same bytes under the same delivery id and the IOC can drop repeats. The
//! signature is computed at delivery, with the secret configured then: a rotated secret signs
//! what is still queued.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::Failure;
use crate::config::{IocSettings, Secret};

pub const SIGNATURE_HEADER: &str = "X-Phananh-Signature";
pub const DELIVERY_HEADER: &str = "X-Phananh-Delivery";

/// A snapshot as the outbox stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IocPayload {
    /// `ioc_snapshot` (what the admin's outbox list shows as the template).
    pub template: String,
    /// Where it was meant to go when queued (shown to admins; delivery uses the URL configured
    /// at the time of the attempt).
    pub to: String,
    /// Start of the push period this snapshot stands for (RFC 3339).
    pub slot: String,
    /// The exact JSON text sent.
    pub body: String,
}

pub struct IocPusher {
    url: String,
    secret: Secret,
    http: reqwest::Client,
}

/// `sha256=<lowercase hex HMAC-SHA256 of body under secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

impl IocPusher {
    /// `None` when `ioc.push_url` is unset (push is off). Settings are validated at load: a URL
    /// comes with a secret.
    pub fn new(settings: &IocSettings) -> anyhow::Result<Option<IocPusher>> {
        let Some(url) = &settings.push_url else {
            return Ok(None);
        };
        let secret = settings
            .push_secret
            .clone()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| anyhow::anyhow!("ioc.push_url is set but ioc.push_secret is not"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Some(IocPusher {
            url: url.clone(),
            secret,
            http,
        }))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send(&self, id: Uuid, payload: &IocPayload) -> Result<(), Failure> {
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose(), payload.body.as_bytes()),
            )
            .header(DELIVERY_HEADER, id.to_string())
            .body(payload.body.clone())
            .send()
            .await
            .map_err(|e| Failure::transient(format!("IOC unreachable: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        let text = response.text().await.unwrap_or_default();
        let detail = format!(
            "IOC {status}: {}",
            text.chars().take(300).collect::<String>()
        );
        // 408 and 429 say "later"; other 4xx say this request will never be accepted (a wrong
        // URL, a signature the IOC does not take): retrying cannot help, an admin can.
        if status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            return Err(Failure::permanent(detail));
        }
        Err(Failure {
            retry_after,
            ..Failure::transient(detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

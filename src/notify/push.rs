//! Push to residents' phones through Firebase Cloud Messaging HTTP v1 (the legacy API is shut
//! down). Access tokens come from the service-account key by the OAuth2 JWT-bearer grant
//! (`gcp_auth`, which honours the key's `token_uri` and caches the token until it expires);
//! the message goes to `{fcm.base_url}/v1/projects/{project_id}/messages:send`, so tests point
//! both at a local server.

use std::sync::Arc;
use std::time::Duration;

use gcp_auth::TokenProvider;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Failure;
use crate::config::FcmSettings;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A push message as the outbox stores it: one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushPayload {
    /// The device's FCM registration token.
    pub token: String,
    pub user_id: Uuid,
    /// `status_changed`.
    pub template: String,
    /// Vietnamese, shown as is by clients that do not localise.
    pub title: String,
    pub body: String,
    /// Keys into the app's strings, and their arguments, for clients that localise.
    pub title_loc_key: String,
    pub body_loc_key: String,
    pub loc_args: Vec<String>,
    /// For the app to deep-link: `report_id`, `status`, `tracking_code`.
    pub data: std::collections::BTreeMap<String, String>,
}

pub struct Pusher {
    tokens: Arc<gcp_auth::CustomServiceAccount>,
    send_url: String,
    http: reqwest::Client,
}

impl Pusher {
    /// `None` when `fcm.credentials` is unset (push is off).
    pub fn new(settings: &FcmSettings) -> anyhow::Result<Option<Pusher>> {
        let Some(path) = &settings.credentials else {
            return Ok(None);
        };
        let account = gcp_auth::CustomServiceAccount::from_file(path).map_err(|e| {
            anyhow::anyhow!(
                "fcm.credentials {}: not a service-account key: {e}",
                path.display()
            )
        })?;
        let project = account
            .project_id()
            .ok_or_else(|| anyhow::anyhow!("fcm.credentials {}: no project_id", path.display()))?
            .to_owned();
        let send_url = format!(
            "{}/v1/projects/{project}/messages:send",
            settings.base_url.trim_end_matches('/')
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Some(Pusher {
            tokens: Arc::new(account),
            send_url,
            http,
        }))
    }

    /// The FCM v1 request body for `message`.
    pub fn body(id: Uuid, message: &PushPayload) -> serde_json::Value {
        let mut data = message.data.clone();
        // Receivers drop repeats by this (delivery is at least once).
        data.insert("message_id".into(), id.to_string());
        serde_json::json!({
            "message": {
                "token": message.token,
                "notification": {"title": message.title, "body": message.body},
                "data": data,
                "android": {
                    "priority": "high",
                    "notification": {
                        "title_loc_key": message.title_loc_key,
                        "body_loc_key": message.body_loc_key,
                        "body_loc_args": message.loc_args,
                        "tag": message.data.get("report_id"),
                    }
                },
                "apns": {
                    "headers": {"apns-collapse-id": message.data.get("report_id")},
                    "payload": {"aps": {"alert": {
                        "title-loc-key": message.title_loc_key,
                        "loc-key": message.body_loc_key,
                        "loc-args": message.loc_args,
                    }}}
                }
            }
        })
    }

    pub async fn send(&self, id: Uuid, message: &PushPayload) -> Result<(), Failure> {
        let token = self
            .tokens
            .token(&[SCOPE])
            .await
            .map_err(|e| Failure::transient(format!("no FCM access token: {e}")))?;
        let response = self
            .http
            .post(&self.send_url)
            .bearer_auth(token.as_str())
            .json(&Self::body(id, message))
            .send()
            .await
            .map_err(|e| Failure::transient(format!("FCM unreachable: {e}")))?;
        let status = response.status();
        // `Retry-After` in seconds (FCM sends it with 429 and 503).
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let detail = format!(
            "FCM {status}: {}",
            text.chars().take(300).collect::<String>()
        );
        if device_is_gone(status.as_u16(), &text) {
            return Err(Failure {
                permanent: true,
                forget_device: true,
                message: detail,
                retry_after: None,
            });
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(Failure {
                retry_after,
                ..Failure::transient(detail)
            });
        }
        // 401/403: our credentials or project are wrong; an operator can fix that, so retry.
        if matches!(status.as_u16(), 401 | 403) {
            return Err(Failure::transient(detail));
        }
        Err(Failure::permanent(detail))
    }
}

/// Whether FCM's error says the device's token is dead for good: `UNREGISTERED` (app
/// uninstalled, token rotated), `SENDER_ID_MISMATCH` (token of another project), or
/// `INVALID_ARGUMENT` naming `message.token`. Any other 400/404 (a wrong project, a payload this
/// server got wrong) is not the phone's fault and must not cost the resident their device.
pub fn device_is_gone(status: u16, body: &str) -> bool {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let details = json["error"]["details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let code = |c: &str| details.iter().any(|d| d["errorCode"] == c);
    if code("UNREGISTERED") || code("SENDER_ID_MISMATCH") {
        return true;
    }
    status == 400
        && json["error"]["status"] == "INVALID_ARGUMENT"
        && details.iter().any(|d| {
            d["fieldViolations"]
                .as_array()
                .is_some_and(|v| v.iter().any(|f| f["field"] == "message.token"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_about_the_token_forget_the_device() {
        let unregistered = r#"{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}"#;
        assert!(device_is_gone(404, unregistered));
        let bad_token = r#"{"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]}]}}"#;
        assert!(device_is_gone(400, bad_token));
        let bad_payload = r#"{"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.android.ttl"}]}]}}"#;
        assert!(!device_is_gone(400, bad_payload));
        let wrong_project = r#"{"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found."}}"#;
        assert!(!device_is_gone(404, wrong_project));
        assert!(!device_is_gone(404, "<html>not found</html>"));
        let mismatch = r#"{"error": {"code": 403, "status": "PERMISSION_DENIED", "details": [{"errorCode": "SENDER_ID_MISMATCH"}]}}"#;
        assert!(device_is_gone(403, mismatch));
    }
}

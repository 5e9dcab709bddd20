//! The outbox worker: delivers what the outbox holds, in every `serve` process at once.
//!
//! Each pass claims a batch of due messages with a lease (`db::outbox::claim`: `FOR UPDATE SKIP
//! LOCKED`, committed at once), delivers them concurrently without holding a transaction, and
//! settles each: delivered; or retried later with exponential backoff and jitter; or `dead`
//! after `outbox.max_attempts` or a permanent refusal. A process that dies mid-batch leaves its
//! claims to expire, and another delivers them again (at least once; the outbox id travels as
//! the message's id so receivers can drop the repeat). Only kinds this process can deliver are
//! claimed: with email off, emails wait for a process that has SMTP.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::config::OutboxSettings;
use crate::db::outbox::{OutboxMessage, kind_label};
use crate::db::{self, PgPool};
use crate::domain::account::OutboxKind;
use crate::notify::Failure;
use crate::notify::email::{EmailPayload, Mailer};
use crate::notify::ioc::{IocPayload, IocPusher};
use crate::notify::push::{PushPayload, Pusher};
use crate::startup::AppState;

/// The delivery adapters this process has.
#[derive(Clone, Default)]
pub struct Deliverers {
    pub mailer: Option<Arc<Mailer>>,
    pub pusher: Option<Arc<Pusher>>,
    pub ioc: Option<Arc<IocPusher>>,
}

impl Deliverers {
    pub fn kinds(&self) -> Vec<OutboxKind> {
        let mut kinds = Vec::new();
        if self.mailer.is_some() {
            kinds.push(OutboxKind::Email);
        }
        if self.pusher.is_some() {
            kinds.push(OutboxKind::Push);
        }
        if self.ioc.is_some() {
            kinds.push(OutboxKind::IocSnapshot);
        }
        kinds
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), Failure> {
        match message.kind {
            OutboxKind::Email => {
                let mailer = self
                    .mailer
                    .as_ref()
                    .ok_or_else(|| Failure::transient("email is off in this process"))?;
                let email: EmailPayload = serde_json::from_value(message.payload.clone())
                    .map_err(|e| Failure::permanent(format!("not an email payload: {e}")))?;
                mailer.send(message.id, &email).await
            }
            OutboxKind::Push => {
                let pusher = self
                    .pusher
                    .as_ref()
                    .ok_or_else(|| Failure::transient("push is off in this process"))?;
                let push: PushPayload = serde_json::from_value(message.payload.clone())
                    .map_err(|e| Failure::permanent(format!("not a push payload: {e}")))?;
                pusher.send(message.id, &push).await
            }
            OutboxKind::IocSnapshot => {
                let ioc = self
                    .ioc
                    .as_ref()
                    .ok_or_else(|| Failure::transient("IOC push is off in this process"))?;
                let snapshot: IocPayload = serde_json::from_value(message.payload.clone())
                    .map_err(|e| Failure::permanent(format!("not an IOC payload: {e}")))?;
                ioc.send(message.id, &snapshot).await
            }
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
}

pub async fn run(state: Arc<AppState>) {
    let deliverers = Deliverers {
        mailer: state.mailer.clone(),
        pusher: state.pusher.clone(),
        ioc: state.ioc.clone(),
    };
    if deliverers.kinds().is_empty() {
        tracing::info!(
            "outbox: no delivery configured in this process (smtp.url, fcm.credentials and ioc.push_url unset); messages stay queued"
        );
        return;
    }
    let settings = state.settings.outbox.clone();
    let idle = Duration::from_millis(settings.poll_interval_ms.max(10));
    loop {
        match pass(&state.pool, &deliverers, &settings, Utc::now()).await {
            // A full batch: there may be more right away.
            Ok(p) if p.claimed >= settings.batch_size.max(1) as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox pass failed; retrying later"),
        }
        tokio::time::sleep(idle).await;
    }
}

/// How long before attempt `attempts + 1`: base · 2^(attempts − 1), capped, times a random
/// factor in [0.5, 1.5) so that a burst of failures does not come back as a burst.
pub fn backoff(settings: &OutboxSettings, attempts: i32, jitter: f64) -> chrono::Duration {
    let exponent = attempts.clamp(1, 30) as u32 - 1;
    let raw = settings
        .retry_base_ms
        .saturating_mul(1u64 << exponent.min(40))
        .min(settings.retry_max_ms);
    chrono::Duration::milliseconds((raw as f64 * jitter.clamp(0.5, 1.5)) as i64)
}

/// Records a failed attempt: dead, or another try later. (Deliveries are recorded for the
/// whole batch at once in [`pass`].)
async fn settle_failure(
    conn: &mut diesel_async::AsyncPgConnection,
    settings: &OutboxSettings,
    message: &OutboxMessage,
    failure: Failure,
    pass: &mut Pass,
) -> diesel::QueryResult<()> {
    let kind = kind_label(message.kind);
    let lease_end = message.next_attempt_at;
    match failure {
        failure if failure.permanent || message.attempts >= settings.max_attempts as i32 => {
            if failure.forget_device
                && let Some(token) = message.payload.get("token").and_then(|t| t.as_str())
            {
                let n = db::devices::forget_token(conn, token).await?;
                tracing::info!(message = %message.id, forgotten = n, "push token unregistered; device forgotten");
            }
            tracing::warn!(message = %message.id, kind, attempts = message.attempts, error = %failure.message, "outbox message dead");
            if db::outbox::mark_dead(conn, message.id, lease_end, &failure.message).await? {
                metrics::counter!("phananh_outbox_dead_total", "kind" => kind).increment(1);
                pass.dead += 1;
            }
        }
        failure => {
            let jitter = rand::rng().random_range(0.5..1.5);
            let mut wait = backoff(settings, message.attempts, jitter);
            if let Some(asked) = failure
                .retry_after
                .and_then(|d| chrono::Duration::from_std(d).ok())
            {
                wait = wait.max(asked);
            }
            let at = Utc::now() + wait;
            tracing::info!(message = %message.id, kind, attempts = message.attempts, retry_at = %at, error = %failure.message, "outbox delivery failed; will retry");
            if db::outbox::schedule_retry(conn, message.id, lease_end, at, &failure.message).await?
            {
                metrics::counter!("phananh_outbox_retried_total", "kind" => kind).increment(1);
                pass.retried += 1;
            }
        }
    }
    Ok(())
}

/// Claims one batch, delivers it, settles it.
pub async fn pass(
    pool: &PgPool,
    deliverers: &Deliverers,
    settings: &OutboxSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Pass> {
    let kinds = deliverers.kinds();
    if kinds.is_empty() {
        return Ok(Pass::default());
    }
    let claimed = {
        let mut conn = pool.get().await?;
        db::outbox::claim(
            &mut conn,
            &kinds,
            now,
            chrono::Duration::seconds(settings.lease_secs as i64),
            i64::from(settings.batch_size.max(1)),
        )
        .await?
    };
    let mut pass = Pass {
        claimed: claimed.len(),
        ..Pass::default()
    };
    if claimed.is_empty() {
        return Ok(pass);
    }
    // Each delivery gets at most half the lease: a hung mail server or token endpoint fails
    // this attempt instead of holding the batch (and every message in it) past its lease.
    let limit = Duration::from_secs((settings.lease_secs / 2).max(1));
    let results = futures_util::future::join_all(claimed.iter().map(|m| async move {
        match tokio::time::timeout(limit, deliverers.deliver(m)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::transient(format!(
                "no answer within {} s",
                limit.as_secs()
            ))),
        }
    }))
    .await;
    let mut conn = pool.get().await?;
    // Delivered ones in one statement (they share the claim's lease); failures one by one.
    let mut delivered: Vec<&OutboxMessage> = Vec::new();
    for (message, result) in claimed.iter().zip(results) {
        let Err(failure) = result else {
            delivered.push(message);
            continue;
        };
        // One message's settle failing (the database went away) must not abandon the others:
        // those not settled stay leased and are delivered again after the lease (at least once).
        if let Err(e) = settle_failure(&mut conn, settings, message, failure, &mut pass).await {
            tracing::warn!(message = %message.id, error = %e, "cannot record a delivery outcome; it will be retried after its lease");
        }
    }
    if let Some(first) = delivered.first() {
        let ids: Vec<_> = delivered.iter().map(|m| m.id).collect();
        match db::outbox::mark_delivered_many(&mut conn, &ids, first.next_attempt_at, Utc::now())
            .await
        {
            Ok(n) => {
                for m in &delivered {
                    metrics::counter!("phananh_outbox_delivered_total", "kind" => kind_label(m.kind))
                        .increment(1);
                }
                pass.delivered += n;
            }
            Err(e) => {
                // Sent, but not recorded: they go out again after the lease (at least once).
                tracing::warn!(count = ids.len(), error = %e, "cannot record deliveries; they will be sent again after their lease");
            }
        }
    }
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_within_the_jitter() {
        let s = crate::config::Settings::default().outbox;
        assert_eq!(backoff(&s, 1, 1.0), chrono::Duration::seconds(10));
        assert_eq!(backoff(&s, 2, 1.0), chrono::Duration::seconds(20));
        assert_eq!(backoff(&s, 4, 1.0), chrono::Duration::seconds(80));
        assert_eq!(backoff(&s, 30, 1.0), chrono::Duration::hours(1));
        assert_eq!(backoff(&s, 1, 0.5), chrono::Duration::seconds(5));
        assert_eq!(backoff(&s, 1, 9.0), chrono::Duration::seconds(15));
        assert_eq!(backoff(&s, i32::MAX, 1.0), chrono::Duration::hours(1));
        assert_eq!(backoff(&s, -3, 1.0), chrono::Duration::seconds(10));
    }
}

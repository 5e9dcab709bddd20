//! Email over SMTP with lettre: `smtp://` (plain; `?tls=required` for STARTTLS) or `smtps://`
//! (TLS), with a connection pool. The outbox id is the `Message-ID`, so a message delivered twice
//! (at-least-once) is recognisably the same message.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Failure;
use crate::config::SmtpSettings;

/// An email as the outbox stores it: rendered when its cause happened, one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailPayload {
    pub to: String,
    /// Which template made it (`new_ticket`, `ticket_overdue`, `ticket_reopened`,
    /// `password_reset`).
    pub template: String,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The link the message is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Right-hand side of Message-IDs.
    domain: String,
}

impl Mailer {
    /// `None` when `smtp.url` is unset (email is off).
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Option<Mailer>> {
        let Some(url) = &settings.url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| anyhow::anyhow!("smtp.url is not a usable SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp.from {:?} is not an address: {e}", settings.from))?;
        // The sender's domain (ASCII in practice; a public URL may be an IDN, which a
        // Message-ID cannot carry).
        let domain = from.email.domain().to_owned();
        Ok(Some(Mailer {
            transport,
            from,
            domain,
        }))
    }

    pub async fn send(&self, id: Uuid, email: &EmailPayload) -> Result<(), Failure> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| Failure::permanent(format!("bad recipient {:?}: {e}", email.to)))?;
        let builder = Message::builder()
            .message_id(Some(format!("<{id}@{}>", self.domain)))
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject);
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(email.text.clone()),
            ),
        }
        .map_err(|e| Failure::permanent(format!("cannot build the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if refuses_the_recipient(&e) => Err(Failure::permanent(format!("refused: {e}"))),
            // Server-wide refusals (530 authentication required, 554 relay denied, …) are the
            // configuration's fault, not the message's: retried until an operator fixes it.
            Err(e) => Err(Failure::transient(format!("{e}"))),
        }
    }
}

/// A permanent (5xx) reply about this recipient or address: retrying cannot help.
fn refuses_the_recipient(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent()
        && e.status()
            .is_some_and(|code| matches!(code.to_string().as_str(), "550" | "551" | "553" | "501"))
}

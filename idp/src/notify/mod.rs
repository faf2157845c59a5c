//! Outgoing e-mails (SMTP, through `lettre`) and SMS (an HTTP gateway). Messages are written
//! to the outbox with the change that causes them; a worker on each node claims the due ones,
//! sends them, and retries with a growing delay while SMTP or the gateway is down. A message
//! accepted once is never sent again; one that keeps failing is given up after a day.

pub mod messages;
pub mod sms;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use crate::app::Clock;
use crate::config::NotifyConfig;
use crate::store::{Channel, OutboxMessage, OutboxStore};

/// How long a claimed message is reserved for the worker that claimed it.
const LEASE_SECONDS: i64 = 120;
/// A message still failing this long after it was written is given up.
const GIVE_UP_AFTER: i64 = 24 * 3600;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (server down, timeout, 4xx SMTP reply, 5xx gateway reply).
    #[error("{0}")]
    Transient(String),
    /// Will never work (address refused, bad request).
    #[error("{0}")]
    Permanent(String),
    /// No transport is configured for this channel: the message stays in the outbox.
    #[error("no transport configured")]
    NotConfigured,
}

/// The SMTP side.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of Message-IDs (the issuer's host).
    domain: String,
}

impl Mailer {
    pub fn new(url: &str, from: &str, domain: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("notify.email.smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(Self {
            transport,
            from: from
                .parse()
                .map_err(|e| anyhow::anyhow!("notify.email.from « {from} »: {e}"))?,
            domain: domain.to_owned(),
        })
    }

    async fn send(&self, m: &OutboxMessage) -> Result<(), SendError> {
        let to: Mailbox = m
            .message
            .recipient
            .parse()
            .map_err(|e| SendError::Permanent(format!("address: {e}")))?;
        let body = match &m.message.body_html {
            Some(html) => {
                MultiPart::alternative_plain_html(m.message.body_text.clone(), html.clone())
            }
            None => MultiPart::mixed().singlepart(
                lettre::message::SinglePart::builder()
                    .header(header::ContentType::TEXT_PLAIN)
                    .body(m.message.body_text.clone()),
            ),
        };
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&m.message.subject)
            // the same id at every attempt: a receiver can drop a duplicate
            .message_id(Some(format!(
                "<outbox-{}.{}@{}>",
                m.id, m.created_at, self.domain
            )))
            .multipart(body)
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}

/// Sends what the outbox holds.
pub struct Notifier {
    outbox: Arc<dyn OutboxStore>,
    mailer: Option<Mailer>,
    sms: Option<sms::Gateway>,
    clock: Arc<dyn Clock>,
    wake: Notify,
}

impl Notifier {
    pub fn from_config(
        config: &NotifyConfig,
        issuer_host: &str,
        outbox: Arc<dyn OutboxStore>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let mailer = match config.email.smtp_url()? {
            Some(url) => Some(Mailer::new(&url, &config.email.from, issuer_host)?),
            None => None,
        };
        let sms = match &config.sms.gateway_url {
            Some(url) => Some(sms::Gateway::new(url.clone(), &config.sms)?),
            None => None,
        };
        Ok(Self {
            outbox,
            mailer,
            sms,
            clock,
            wake: Notify::new(),
        })
    }

    /// Whether messages of this channel leave the machine (else they stay in the outbox,
    /// which the demo shows at `/dev/outbox`).
    pub fn delivers(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.mailer.is_some(),
            Channel::Sms => self.sms.is_some(),
        }
    }

    /// Asks the worker to look at the outbox now (after a message was queued).
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    async fn send(&self, m: &OutboxMessage) -> Result<(), SendError> {
        match m.message.channel {
            Channel::Email => match &self.mailer {
                Some(mailer) => mailer.send(m).await,
                None => Err(SendError::NotConfigured),
            },
            Channel::Sms => match &self.sms {
                Some(gateway) => gateway.send(&m.message).await,
                None => Err(SendError::NotConfigured),
            },
        }
    }

    /// One pass over the due messages; returns how many were sent.
    pub async fn run_once(&self) -> usize {
        let now = self.clock.now();
        let due = match self.outbox.claim_due(now, LEASE_SECONDS, 20).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                return 0;
            }
        };
        let mut sent = 0;
        for m in due {
            let result = self.send(&m).await;
            let now = self.clock.now();
            let outcome = match &result {
                Ok(()) => self.outbox.mark_sent(m.id, now).await,
                Err(SendError::NotConfigured) => {
                    // kept for the outbox page; looked at again in an hour
                    self.outbox
                        .mark_failed(
                            m.id,
                            now,
                            "not sent: no transport configured",
                            Some(now + 3600),
                        )
                        .await
                }
                Err(SendError::Permanent(e)) => self.outbox.mark_failed(m.id, now, e, None).await,
                Err(SendError::Transient(e)) => {
                    let retry_at = retry_at(m.created_at, m.attempts, now);
                    self.outbox.mark_failed(m.id, now, e, retry_at).await
                }
            };
            match (&result, outcome) {
                (Ok(()), Ok(())) => {
                    sent += 1;
                    tracing::info!(
                        id = m.id,
                        channel = m.message.channel.as_str(),
                        "message sent"
                    );
                }
                (Err(SendError::NotConfigured), _) => {}
                (Err(e), Ok(())) => tracing::warn!(
                    id = m.id,
                    channel = m.message.channel.as_str(),
                    attempts = m.attempts,
                    error = %e,
                    "message not sent"
                ),
                (_, Err(e)) => tracing::warn!(id = m.id, error = %e, "cannot update the outbox"),
            }
        }
        sent
    }

    /// Runs the worker for the life of the process: a pass every second, or at once when
    /// poked. Without any transport there is nothing to do: messages stay in the outbox.
    pub fn spawn(self: &Arc<Self>) {
        if self.mailer.is_none() && self.sms.is_none() {
            return;
        }
        let notifier = self.clone();
        tokio::spawn(async move {
            loop {
                notifier.run_once().await;
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), notifier.wake.notified()).await;
            }
        });
    }
}

/// When to try a failing message again: 15 s, 30 s, 1 min … up to 30 min between attempts;
/// `None` once it has been failing for a day.
pub fn retry_at(created_at: i64, attempts: i64, now: i64) -> Option<i64> {
    if now - created_at >= GIVE_UP_AFTER {
        return None;
    }
    let exponent = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    Some(now + (15_i64 << exponent).min(1800))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_slow_down_then_give_up() {
        assert_eq!(retry_at(0, 1, 10), Some(25));
        assert_eq!(retry_at(0, 2, 10), Some(40));
        assert_eq!(retry_at(0, 8, 10), Some(1810));
        assert_eq!(retry_at(0, 30, 10), Some(1810));
        assert_eq!(retry_at(0, 3, GIVE_UP_AFTER), None);
    }
}

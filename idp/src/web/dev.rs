//! `/dev/outbox`, for the demo and development only (`notify.outbox_page`): the messages the
//! IdP wrote, newest first, with their codes and links, so that a journey that sends an
//! e-mail or an SMS can be followed without a mail server or a phone.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::app::SharedState;
use crate::error::AppError;

struct Shown {
    channel: &'static str,
    recipient: String,
    subject: String,
    body: String,
    links: Vec<String>,
    status: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dev_outbox.html")]
pub struct OutboxPage {
    messages: Vec<Shown>,
}

pub async fn outbox(State(state): State<SharedState>) -> Result<OutboxPage, AppError> {
    let messages = state
        .outbox
        .recent(50)
        .await?
        .into_iter()
        .map(|m| Shown {
            channel: match m.message.channel {
                crate::store::Channel::Email => "Courriel",
                crate::store::Channel::Sms => "SMS",
            },
            links: m
                .message
                .body_text
                .split_whitespace()
                .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
                .map(str::to_owned)
                .collect(),
            status: match (m.sent_at, m.failed_at) {
                (Some(_), _) => "envoyé".into(),
                (None, Some(_)) => format!(
                    "abandonné : {}",
                    m.last_error.as_deref().unwrap_or("erreur")
                ),
                (None, None) if state.notifier.delivers(m.message.channel) => {
                    format!("en attente ({} essai(s))", m.attempts)
                }
                (None, None) => "gardé ici (aucun envoi configuré)".into(),
            },
            recipient: m.message.recipient,
            subject: m.message.subject,
            body: m.message.body_text,
        })
        .collect();
    Ok(OutboxPage { messages })
}

//! Confirming an e-mail address by the link mailed to it. Opening the link shows a button
//! (a POST with CSRF): mail scanners that fetch links do not confirm anything by themselves.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::MessagePage;
use super::http::{client_ip, verify_csrf, with_csrf};
use crate::app::SharedState;
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::error::AppError;

/// How long a confirmation link works.
pub const CONFIRMATION_TTL: i64 = 24 * 3600;

#[derive(Template, WebTemplate)]
#[template(path = "email_confirm.html")]
struct ConfirmPage {
    csrf: String,
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    jeton: String,
}

/// GET /confirmer-email?jeton=…
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        ConfirmPage {
            csrf,
            token: q.jeton,
        }
        .into_response()
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    jeton: String,
}

/// POST /confirmer-email
pub async fn confirm(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let now = state.clock.now();
    let confirmed = if form.jeton.is_empty() || form.jeton.len() > 128 {
        None
    } else {
        let hash = state.secret.hash_generated_secret(&form.jeton);
        state.accounts.confirm_email(&hash, now).await?
    };
    let Some((account_id, _address)) = confirmed else {
        let page = MessagePage {
            lang: "fr",
            title: "Lien expiré ou déjà utilisé".into(),
            message: "Ce lien de confirmation n'est plus valable : il a déjà servi, ou plus de 24 heures ont passé. Connectez-vous et indiquez de nouveau votre adresse dans « Mon compte » pour recevoir un nouveau lien.".into(),
            link: Some(("/login".into(), "Se connecter".into())),
        };
        return Ok((StatusCode::GONE, page).into_response());
    };
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::EmailConfirmed,
            actor: Actor::Account(account_id),
            subject: Some(account_id),
            source_address: Some(client_ip(&state, peer, &headers).to_string()),
            details: json!({}),
        })
        .await?;
    Ok(MessagePage {
        lang: "fr",
        title: "Adresse électronique confirmée".into(),
        message: "Merci : votre adresse électronique est confirmée. Elle vous permettra de retrouver votre identifiant ou de choisir un nouveau mot de passe si vous les oubliez.".into(),
        link: Some(("/".into(), "Accéder à mes services".into())),
    }
    .into_response())
}

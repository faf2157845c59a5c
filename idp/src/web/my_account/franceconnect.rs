//! "Se connecter aussi avec FranceConnect" in "Mon compte": linking FranceConnect to an
//! account that signs in with its password.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{PasswordCheck, TOO_MANY_TRIES, confirm_password};
use crate::app::SharedState;
use crate::domain::account::{Account, AccountKind};
use crate::domain::session::AuthOrigin;
use crate::error::AppError;
use crate::web::http::{client_ip, csrf_token, verify_csrf};

/// The provider linked from "Mon compte" (the first one offered).
fn offered_provider(state: &SharedState) -> Option<(String, String)> {
    state.upstream.offered().into_iter().next()
}

#[derive(Template, WebTemplate)]
#[template(path = "link_upstream.html")]
struct LinkUpstreamPage {
    label: String,
    csrf: String,
    error: Option<String>,
}

/// The signed-in guardian who may link a provider: signed in with the password, and
/// without an identity there yet.
async fn linking_guardian(
    state: &SharedState,
    headers: &HeaderMap,
    provider: &str,
) -> Result<Result<Account, Response>, AppError> {
    let Some((_, session)) = crate::protocol::oidc::current_session(state, headers).await? else {
        let next =
            url::form_urlencoded::byte_serialize(b"/compte/franceconnect").collect::<String>();
        return Ok(Err(Redirect::to(&format!(
            "/login?profil=responsable&next={next}"
        ))
        .into_response()));
    };
    let account = state.accounts.by_id(session.account_id).await?;
    let Some(account) = account.filter(|a| a.kind == AccountKind::Responsable) else {
        return Ok(Err(Redirect::to("/").into_response()));
    };
    if session.origin != AuthOrigin::Local
        || state
            .external
            .providers_of(account.id)
            .await?
            .iter()
            .any(|p| p == provider)
    {
        return Ok(Err(Redirect::to("/").into_response()));
    }
    Ok(Ok(account))
}

async fn page(
    state: &SharedState,
    headers: &HeaderMap,
    (provider, label): (&str, String),
    error: Option<String>,
) -> Result<Response, AppError> {
    let (csrf, browser_cookie) = csrf_token(state, headers).await?;
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = (status, LinkUpstreamPage { label, csrf, error }).into_response();
    // the form's answer sends the browser to the provider
    let targets = state
        .upstream
        .get(provider)
        .map(|p| p.form_targets())
        .unwrap_or_default();
    crate::web::let_forms_lead_to(&mut response, targets.iter().map(String::as_str));
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

/// GET /compte/franceconnect: the password asked before FranceConnect is linked.
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some((provider, label)) = offered_provider(&state) else {
        return Err(AppError::NotFound);
    };
    if let Err(away) = linking_guardian(&state, &headers, &provider).await? {
        return Ok(away);
    }
    page(&state, &headers, (&provider, label), None).await
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// POST /compte/franceconnect: the password checked (throttled like a sign-in), then off to
/// the provider; its callback links the identity if it names this account's holder.
pub async fn submit(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let Some((provider, label)) = offered_provider(&state) else {
        return Err(AppError::NotFound);
    };
    let account = match linking_guardian(&state, &headers, &provider).await? {
        Ok(account) => account,
        Err(away) => return Ok(away),
    };
    let ip = client_ip(&state, peer, &headers);
    let refusal = match confirm_password(&state, &headers, &account, ip, &form.password).await? {
        PasswordCheck::Confirmed => None,
        PasswordCheck::Wrong => Some("Mot de passe incorrect."),
        PasswordCheck::TooManyTries => Some(TOO_MANY_TRIES),
    };
    if let Some(refusal) = refusal {
        return page(&state, &headers, (&provider, label), Some(refusal.into())).await;
    }
    crate::protocol::upstream::begin(&state, &headers, &provider, Some("/"), Some(account.id)).await
}

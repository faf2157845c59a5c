//! The pages of a sign-in through an upstream provider: off to the provider, back at the
//! callback, then either straight to the service (an identity already linked) or through
//! "Rattacher des élèves" (the children's birth dates) and a summary of the account.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{callback_error_message, failure_message};
use crate::app::SharedState;
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::{AccountKind, AccountState};
use crate::domain::session::{AuthOrigin, UpstreamLogin};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::logout::LogoutPlan;
use crate::web::MessagePage;
use crate::web::http::{browser_binding, client_ip, is_bound_browser, local_return_path};
use crate::web::signin::open_session;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/upstream/{provider}/login", get(start))
        .route("/upstream/{provider}/callback", get(callback))
        .route("/upstream/{provider}/logout-callback", get(logout_callback))
        .merge(super::linking::routes())
}

/// How long a sign-in at the provider, or the linking that follows, may take.
pub(super) const FLOW_TTL: Duration = Duration::from_secs(15 * 60);

fn flow_key(state: &str) -> String {
    format!("upstream-flow:{}", storage_key(state))
}

fn logout_key(state: &str) -> String {
    format!("upstream-logout:{}", storage_key(state))
}

/// A sign-in sent to the provider, waiting for its callback.
#[derive(Debug, Serialize, Deserialize)]
struct PendingSignIn {
    provider: String,
    nonce: String,
    next: String,
    /// The browser that started it (hash of its browser cookie): a callback elsewhere is
    /// refused, so nobody can be signed in with someone else's identity.
    browser: String,
    /// Set when a signed-in account asked to link this provider (after its password).
    #[serde(default)]
    link_account: Option<i64>,
}

pub(super) fn message(
    status: StatusCode,
    title: &str,
    text: String,
    link: Option<(&str, &str)>,
) -> Response {
    (
        status,
        MessagePage {
            lang: "fr",
            title: title.to_owned(),
            message: text,
            link: link.map(|(href, label)| (href.to_owned(), label.to_owned())),
        },
    )
        .into_response()
}

pub(super) fn back_to_sign_in(status: StatusCode, title: &str, text: String) -> Response {
    message(
        status,
        title,
        text,
        Some(("/login?profil=responsable", "Retour à la connexion")),
    )
}

pub(super) const EXPIRED: &str =
    "Cette connexion a expiré ou a déjà servi. Recommencez depuis la page de connexion.";

#[derive(Debug, Default, Deserialize)]
struct StartQuery {
    next: Option<String>,
}

/// GET /upstream/{provider}/login: off to the provider.
async fn start(
    State(state): State<SharedState>,
    Path(provider_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Result<Response, AppError> {
    begin(&state, &headers, &provider_id, q.next.as_deref(), None).await
}

/// Sends the browser to the provider with a fresh state and nonce (43 characters each),
/// remembered for this browser; `link_account`: the sign-in links the provider to this
/// (signed-in) account instead of opening a session.
pub async fn begin(
    state: &SharedState,
    headers: &HeaderMap,
    provider_id: &str,
    next: Option<&str>,
    link_account: Option<i64>,
) -> Result<Response, AppError> {
    let Some(provider) = state.upstream.get(provider_id) else {
        return Err(AppError::NotFound);
    };
    let (browser, set_browser) = browser_binding(state, headers);
    let flow_state = random_token(32);
    let nonce = random_token(32);
    let url = match provider.authorization_url(&flow_state, &nonce).await {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(provider = %provider_id, error = %e, "upstream sign-in cannot start");
            return Ok(back_to_sign_in(
                StatusCode::BAD_GATEWAY,
                "Connexion impossible",
                failure_message(&e, &provider.config.label),
            ));
        }
    };
    let pending = PendingSignIn {
        provider: provider_id.to_owned(),
        nonce,
        next: local_return_path(next),
        browser,
        link_account,
    };
    let json = serde_json::to_string(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&flow_key(&flow_state), &json, FLOW_TTL)
        .await?;
    let mut response = Redirect::to(&url).into_response();
    if let Some(c) = set_browser {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// RFC 9207: who answered, when the provider says so.
    iss: Option<String>,
}

/// GET /upstream/{provider}/callback: the provider's answer. The state is used up at once; an
/// identity already linked signs in, a new one is matched to guardian records.
async fn callback(
    State(state): State<SharedState>,
    Path(provider_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let Some(provider) = state.upstream.get(&provider_id) else {
        return Err(AppError::NotFound);
    };
    let label = provider.config.label.clone();
    let pending = match q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
    {
        Some(s) => state.ephemeral.take(&flow_key(s)).await?,
        None => None,
    }
    .and_then(|j| serde_json::from_str::<PendingSignIn>(&j).ok())
    .filter(|p| p.provider == provider_id && is_bound_browser(&headers, &p.browser));
    let Some(pending) = pending else {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion expirée",
            EXPIRED.to_owned(),
        ));
    };
    // a provider that names itself must be the one asked (mix-up defence, RFC 9207)
    let expected_issuer = provider.config.issuer.as_str().trim_end_matches('/');
    let iss_wrong = match q.iss.as_deref() {
        Some(iss) => iss.trim_end_matches('/') != expected_issuer,
        None => provider.names_itself_in_responses().await,
    };
    if iss_wrong {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion impossible",
            format!(
                "Cette réponse ne vient pas de {label} : par sécurité, vous n'êtes pas connecté. Réessayez."
            ),
        ));
    }
    if let Some(error) = q.error.as_deref() {
        return Ok(back_to_sign_in(
            StatusCode::UNAUTHORIZED,
            "Connexion annulée",
            callback_error_message(error, &label),
        ));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion impossible",
            callback_error_message("invalid_request", &label),
        ));
    };
    let identity = match provider
        .finish(code, &pending.nonce, state.clock.now())
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(provider = %provider_id, error = %e, "upstream sign-in refused");
            state
                .audit
                .append(&NewAuditEvent {
                    at: state.clock.now(),
                    kind: AuditKind::SignInRefused,
                    actor: Actor::Anonymous,
                    subject: None,
                    source_address: Some(client_ip(&state, peer, &headers).to_string()),
                    details: json!({ "reason": "upstream_refused", "provider": provider_id, "detail": e.to_string() }),
                })
                .await?;
            return Ok(back_to_sign_in(
                StatusCode::BAD_GATEWAY,
                "Connexion impossible",
                failure_message(&e, &label),
            ));
        }
    };
    let peer = SocketAddr::new(client_ip(&state, peer, &headers), peer.port());
    if let Some(account_id) = pending.link_account {
        return super::linking::link_to_account(
            &state, &headers, peer, account_id, &provider, &identity,
        )
        .await;
    }
    let login = UpstreamLogin {
        provider: provider_id.clone(),
        id_token: identity.id_token.clone(),
    };
    // next times: straight through
    if let Some(account) = state
        .external
        .account_for_external(&provider_id, &identity.subject)
        .await?
    {
        if account.state != AccountState::Active || account.kind != AccountKind::Responsable {
            return Ok(back_to_sign_in(
                StatusCode::FORBIDDEN,
                "Compte désactivé",
                "Le compte relié à cette identité est désactivé. Contactez l'établissement de votre enfant.".into(),
            ));
        }
        let c = open_session(
            &state,
            &headers,
            peer,
            &account,
            AuthOrigin::FranceConnect,
            Some(login),
        )
        .await?;
        let next = crate::web::my_account::after_sign_in(&state, &account, &pending.next).await?;
        let mut response = Redirect::to(&next).into_response();
        response.headers_mut().append(header::SET_COOKIE, c);
        return Ok(response);
    }
    // the first time: the guardian records of this person
    super::linking::first_time(&state, &provider, identity, pending.browser, pending.next).await
}

/// Ends the provider's session at the end of a logout: the browser goes to the provider's
/// end-session endpoint and comes back to `logout-callback`, which finishes the logout.
/// `None` when the provider cannot be asked (unknown, no endpoint, unreachable).
pub async fn end_session_redirect(
    state: &SharedState,
    login: &UpstreamLogin,
    plan: &LogoutPlan,
) -> Result<Option<Response>, AppError> {
    let Some(provider) = state.upstream.get(&login.provider) else {
        return Ok(None);
    };
    let continuation = random_token(32);
    let back = format!(
        "{}/upstream/{}/logout-callback",
        state.issuer, login.provider
    );
    let Some(url) = provider
        .end_session_url(&login.id_token, &continuation, &back)
        .await
    else {
        return Ok(None);
    };
    let json = serde_json::to_string(plan).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&logout_key(&continuation), &json, FLOW_TTL)
        .await?;
    Ok(Some(Redirect::to(&url).into_response()))
}

#[derive(Debug, Default, Deserialize)]
struct LogoutCallbackQuery {
    state: Option<String>,
}

/// GET /upstream/{provider}/logout-callback: back from the provider's end-session endpoint;
/// the logout goes on where it was.
async fn logout_callback(
    State(state): State<SharedState>,
    Query(q): Query<LogoutCallbackQuery>,
) -> Result<Response, AppError> {
    let plan = match q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
    {
        Some(s) => state.ephemeral.take(&logout_key(s)).await?,
        None => None,
    }
    .and_then(|j| serde_json::from_str::<LogoutPlan>(&j).ok());
    match plan {
        Some(plan) => crate::protocol::logout::finish(&state, plan).await,
        None => Ok(Redirect::to("/login?deconnecte=1").into_response()),
    }
}

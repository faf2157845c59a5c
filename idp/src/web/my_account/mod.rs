//! "Mon compte" (SPEC §2.6, seed 001): the account holder's own pages. "Mes informations"
//! (password, e-mail, mobile), "Mes enfants" (the children, taking those of another account,
//! a child's new temporary password), "Historique", the new pupil an import found, and
//! linking FranceConnect.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::{AppState, SharedState};
use crate::domain::account::{Account, AccountKind, AccountState};
use crate::domain::session::SsoSession;
use crate::error::AppError;

mod children;
mod franceconnect;
mod history;
mod information;
mod regroup;

pub use regroup::after_sign_in;

/// A signed-in person's password typed again (to change her password or contacts, to link
/// FranceConnect), throttled like a sign-in and held to her trusted device's count there.
enum PasswordCheck {
    Confirmed,
    Wrong,
    TooManyTries,
}

const TOO_MANY_TRIES: &str = "Trop d'essais : réessayez dans quelques minutes.";

async fn confirm_password(
    state: &AppState,
    headers: &HeaderMap,
    account: &Account,
    ip: std::net::IpAddr,
    typed: &str,
) -> Result<PasswordCheck, AppError> {
    let identifier = &account.identifier;
    let device = super::device::trusted(state, headers, identifier, state.clock.now());
    let Some(attempt) = state
        .throttle
        .check_on_device(identifier, ip, device)
        .await?
        .attempt()
    else {
        return Ok(PasswordCheck::TooManyTries);
    };
    let typed: String = typed.chars().take(256).collect();
    let hash = account.password_hash.as_deref();
    if super::signin::verify_for(state, &attempt, &typed, hash).await? {
        state.throttle.record_success_on(identifier, device).await?;
        Ok(PasswordCheck::Confirmed)
    } else {
        state.throttle.record_failure(ip).await?;
        Ok(PasswordCheck::Wrong)
    }
}

/// The routes of "Mon compte".
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/compte", get(information::show))
        .route("/compte/mot-de-passe", post(information::change_password))
        .route("/compte/email", post(information::change_email))
        .route("/compte/email/renvoyer", post(information::resend_email))
        .route("/compte/portable", post(information::change_mobile))
        .route(
            "/compte/portable/code",
            get(information::show_code).post(information::submit_code),
        )
        .route("/compte/portable/renvoyer", post(information::resend_code))
        .route("/compte/enfants", get(children::show))
        .route("/compte/enfants/regrouper", post(children::merge))
        .route(
            "/compte/enfants/mot-de-passe",
            post(children::reset_child_password),
        )
        .route("/compte/historique", get(history::show))
        .route(
            "/compte/nouvel-eleve",
            get(regroup::show).post(regroup::answer),
        )
        .route(
            "/compte/franceconnect",
            get(franceconnect::show).post(franceconnect::submit),
        )
}

/// The signed-in holder of an open account, with their session and its cookie value.
pub struct Holder {
    pub session_id: String,
    pub session: SsoSession,
    pub account: Account,
}

impl Holder {
    pub fn is_guardian(&self) -> bool {
        self.account.kind == AccountKind::Responsable
    }
}

/// The holder of the session, or the way to the sign-in page (coming back to `here`).
async fn holder(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
) -> Result<Result<Holder, Response>, AppError> {
    let to_sign_in = || {
        let next = url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
        Redirect::to(&format!("/login?next={next}")).into_response()
    };
    let Some((session_id, session)) =
        crate::protocol::oidc::current_session(state, headers).await?
    else {
        return Ok(Err(to_sign_in()));
    };
    let account = state.accounts.by_id(session.account_id).await?;
    let Some(account) = account.filter(|a| a.state == AccountState::Active) else {
        return Ok(Err(to_sign_in()));
    };
    Ok(Ok(Holder {
        session_id,
        session,
        account,
    }))
}

/// A guardian signed in, or the way elsewhere: the sign-in page, or "Mes informations" for a
/// pupil.
async fn guardian(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
) -> Result<Result<Holder, Response>, AppError> {
    Ok(match holder(state, headers, here).await? {
        Ok(h) if h.is_guardian() => Ok(h),
        Ok(_) => Err(Redirect::to("/compte").into_response()),
        Err(away) => Err(away),
    })
}

/// Where a sign-in asked by a page of "Mon compte" comes back to: the page itself, or for a
/// form the page "Mes informations" (a form's address cannot be opened again).
fn return_path(parts: &Parts) -> String {
    if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map_or("/compte", |p| p.as_str())
            .to_owned()
    } else {
        "/compte".to_owned()
    }
}

/// The holder of an open account signed in, as a handler's argument; without one the
/// answer is the way to the sign-in page.
pub struct SignedIn(pub Holder);

impl FromRequestParts<SharedState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        match holder(state, &parts.headers, &return_path(parts)).await {
            Ok(Ok(h)) => Ok(Self(h)),
            Ok(Err(away)) => Err(away),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A guardian signed in, as a handler's argument; a pupil is sent to "Mes informations".
pub struct Guardian(pub Holder);

impl FromRequestParts<SharedState> for Guardian {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        match guardian(state, &parts.headers, &return_path(parts)).await {
            Ok(Ok(h)) => Ok(Self(h)),
            Ok(Err(away)) => Err(away),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The tabs of "Mon compte", the one shown marked.
pub struct Tabs {
    pub current: &'static str,
    pub guardian: bool,
}

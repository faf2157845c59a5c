//! The signed-in home: who is signed in, and for a guardian the children with school and class.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::http::{SESSION_COOKIE, cookie, csrf_token};
use crate::app::SharedState;
use crate::domain::account::AccountKind;
use crate::error::AppError;
use crate::store::{ChildSummary, Placement};

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    name: String,
    identifier: String,
    /// The account's kind, named in the page's language.
    profile: String,
    is_guardian: bool,
    placement: Option<Placement>,
    children: Vec<ChildSummary>,
    csrf: String,
    /// Signed in through this provider: the password is changed there (seed 001).
    via_upstream: Option<String>,
    /// A provider this guardian may link ("Se connecter aussi avec FranceConnect").
    may_link: Option<String>,
    /// An e-mail or a mobile given but not confirmed yet ("Vous devez confirmer …").
    pending_email: bool,
    pending_mobile: bool,
}

/// GET /: the home page, or the sign-in page when nobody is signed in.
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(id) => state.sessions.load(id, now).await?,
        None => None,
    };
    let Some(session) = session else {
        return Ok(Redirect::to("/login").into_response());
    };
    let Some(account) = state.accounts.by_id(session.account_id).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let is_guardian = account.kind == AccountKind::Responsable;
    let (children, placement) = if is_guardian {
        (state.accounts.children_of(account.id).await?, None)
    } else {
        (Vec::new(), state.accounts.placement_of(account.id).await?)
    };
    let offered = state.upstream.offered().into_iter().next();
    let via_upstream = session.upstream.as_ref().map(|u| {
        state
            .upstream
            .get(&u.provider)
            .map_or_else(|| u.provider.clone(), |p| p.config.label.clone())
    });
    let may_link = match &offered {
        Some((id, label)) if is_guardian && via_upstream.is_none() => {
            let linked = state.external.providers_of(account.id).await?;
            (!linked.contains(id)).then(|| label.clone())
        }
        _ => None,
    };
    let logout_to = super::logout_destinations(&state, &session);
    let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
    let mut response = HomePage {
        pending_email: account.pending_email.is_some(),
        pending_mobile: account.pending_mobile.is_some(),
        via_upstream,
        may_link,
        name: account.display_name(),
        identifier: account.identifier.clone(),
        profile: super::i18n::account_kind(account.kind.as_str()),
        is_guardian,
        placement,
        children,
        csrf,
    }
    .into_response();
    // its logout form leads on to the provider's end-session endpoint
    super::let_forms_lead_to(&mut response, logout_to.iter().map(String::as_str));
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

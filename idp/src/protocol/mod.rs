//! The protocols through which relying parties reach the IdP. Each keeps its rules pure (a
//! request, the registration, the stored state and the time in; a decision out) and its HTTP
//! handlers thin.

pub mod cas;
pub mod logout;
pub mod oidc;
pub mod saml;
pub mod upstream;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::domain::account::{AccountKind, AccountState};
use crate::domain::identity::Person;
use crate::error::AppError;

#[derive(Template, WebTemplate)]
#[template(path = "protocol_error.html")]
struct ProtocolErrorPage {
    message: String,
}

/// A request from a relying party that cannot be trusted or served: a 400 page, never a
/// redirect to an address that was not verified.
pub fn error_page(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        ProtocolErrorPage {
            message: message.into(),
        },
    )
        .into_response()
}

/// Where a sign-in that goes on at `next` (a local path) sends the browser in the end: the
/// relying-party address of the pending flow it resumes, if any.
pub async fn return_url(state: &AppState, next: &str) -> Result<Option<String>, AppError> {
    let Ok(url) = url::Url::parse("http://idp.invalid/").and_then(|base| base.join(next)) else {
        return Ok(None);
    };
    let Some(flow) = url
        .query_pairs()
        .find(|(k, _)| k == "flow")
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(None);
    };
    match url.path() {
        "/oidc/authorize/resume" => oidc::return_url(state, &flow).await,
        "/cas/resume" => cas::return_url(state, &flow).await,
        // SAML answers with a page that posts to the ACS: that page names it itself
        _ => Ok(None),
    }
}

/// Whether an account exists and may still sign in.
pub async fn account_is_active(state: &AppState, account_id: i64) -> Result<bool, AppError> {
    Ok(state
        .accounts
        .by_id(account_id)
        .await?
        .is_some_and(|a| a.state == AccountState::Active))
}

/// The person behind an account, as released to relying parties; `None` if the account can
/// no longer sign in.
pub async fn load_person(state: &AppState, account_id: i64) -> Result<Option<Person>, AppError> {
    let Some(account) = state.accounts.by_id(account_id).await? else {
        return Ok(None);
    };
    if account.state != AccountState::Active {
        return Ok(None);
    }
    let (placement, children, guardian_records) = match account.kind {
        AccountKind::Eleve => (
            state.accounts.placement_of(account.id).await?,
            Vec::new(),
            Vec::new(),
        ),
        AccountKind::Responsable => (
            None,
            state.accounts.children_of(account.id).await?,
            state.accounts.guardian_records_of(account.id).await?,
        ),
    };
    Ok(Some(Person {
        account,
        placement,
        children,
        guardian_records,
    }))
}

//! The OpenID Connect endpoints: thin handlers that extract, call the rules, and answer. This
//! file: the routes, discovery, the JWKS and what the others share; flow.rs: authorization and
//! consent; token.rs: the token endpoint and client authentication; resource.rs: userinfo,
//! revocation, introspection; end_session.rs: RP-initiated logout.

mod end_session;
mod flow;
mod resource;
mod token;

use end_session::{end_session_get, end_session_post};
pub use flow::return_url;
use flow::{authorize_get, authorize_post, consent_page, consent_submit, resume};
pub use resource::verify_access_token;
use resource::{introspect, revoke, userinfo_get, userinfo_post};
use token::token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::authorize::{self, AuthRequest, AuthorizeError, AuthorizeParams, Next};
use super::claims::{self, ClaimContext};
use super::client_auth::{self, Presented};
use super::logout::{self, HintClaims, subject_for};
use super::token::{
    AccessTokenClaims, CodeRecord, IdTokenClaims, TokenResponse, check_code_exchange, half_hash,
};
use super::*;
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::session::{AuthOrigin, Participant, SsoSession};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::logout::{AfterLogout, end_sso_session};
use crate::protocol::{account_is_active, error_page, load_person};
use crate::registry::{GrantType, OidcClient};
use crate::store::{Grant, NewRefreshToken, RefreshUse};
use crate::web::http::{SESSION_COOKIE, cookie, csrf_token, verify_csrf};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize_get).post(authorize_post))
        .route("/oidc/authorize/resume", get(resume))
        .route("/oidc/consent", get(consent_page).post(consent_submit))
        .route("/oidc/token", axum::routing::post(token))
        .route("/oidc/userinfo", get(userinfo_get).post(userinfo_post))
        .route("/oidc/revoke", axum::routing::post(revoke))
        .route("/oidc/introspect", axum::routing::post(introspect))
        .route("/oidc/logout", get(end_session_get).post(end_session_post))
}

fn endpoint(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.issuer)
}

async fn discovery(State(state): State<SharedState>) -> impl IntoResponse {
    let claims: Vec<&str> = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
    ]
    .into_iter()
    .chain(crate::registry::known_claims())
    .collect();
    let e = |p: &str| endpoint(&state, p);
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({
            "issuer": state.issuer,
            "authorization_endpoint": e("/oidc/authorize"),
            "token_endpoint": e("/oidc/token"),
            "userinfo_endpoint": e("/oidc/userinfo"),
            "jwks_uri": e("/oidc/jwks"),
            "end_session_endpoint": e("/oidc/logout"),
            "revocation_endpoint": e("/oidc/revoke"),
            "introspection_endpoint": e("/oidc/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise", "public"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "userinfo_signing_alg_values_supported": [],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": crate::registry::SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            "claims_supported": claims,
            "acr_values_supported": ["eleve", "responsable"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
            "ui_locales_supported": ["fr"],
        })),
    )
}

async fn jwks(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(
            state
                .keys
                .current()
                .jwks(state.clock.now(), RETIRED_KEY_KEEP),
        ),
    )
}

/// What a POSTed authorization or logout form becomes.
pub(super) enum PostedForm<T> {
    Params(T),
    /// Send the browser to this GET of the same parameters.
    AsGet(String),
}

/// A form POSTed from another site arrives without the SameSite=Lax session cookie. Such a
/// request is sent on as a top-level GET of the same parameters, which carries the cookie:
/// otherwise a signed-in person would look signed out (and a logout would do nothing).
pub(super) fn posted_form<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> Result<PostedForm<T>, AppError> {
    let query =
        std::str::from_utf8(body).map_err(|_| AppError::BadRequest("form is not UTF-8".into()))?;
    if cookie(headers, SESSION_COOKIE).is_none() {
        return Ok(PostedForm::AsGet(format!("{path}?{query}")));
    }
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| AppError::BadRequest("malformed form".into()))?;
    Query::<T>::try_from_uri(&uri)
        .map(|Query(params)| PostedForm::Params(params))
        .map_err(|_| AppError::BadRequest("malformed form".into()))
}

/// The browser's live SSO session, with its cookie value.
pub async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, SsoSession)>, AppError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .sessions
        .load(id, state.clock.now())
        .await?
        .map(|s| (id.to_owned(), s)))
}

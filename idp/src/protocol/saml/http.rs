//! The SAML endpoints: thin handlers around the request rules and the response builder.
//!
//! Whatever the binding, a valid request is stored and the browser is sent on to a GET of
//! `/idp/profile/SAML2/resume`: a request POSTed from the SP's site carries no SameSite=Lax
//! session cookie, the top-level GET does.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::attributes::{self, AttributeContext};
use super::request::{self, ValidRequest};
use super::response::{self, NAMEID_PERSISTENT, NAMEID_TRANSIENT, ResponseContent};
use super::{FLOW_TTL, REQUEST_ID_TTL};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::AccountKind;
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::load_person;
use crate::protocol::oidc::current_session;
use crate::registry::NameIdFormat;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/idp/metadata", get(metadata))
        .route("/idp/profile/SAML2/Redirect/SSO", get(sso_redirect))
        .route("/idp/profile/SAML2/POST/SSO", axum::routing::post(sso_post))
        .route("/idp/profile/SAML2/resume", get(resume))
}

fn entity_id(state: &AppState) -> String {
    format!("{}/idp", state.issuer)
}

fn sso_endpoints(state: &AppState) -> Vec<String> {
    vec![
        format!("{}/idp/profile/SAML2/Redirect/SSO", state.issuer),
        format!("{}/idp/profile/SAML2/POST/SSO", state.issuer),
    ]
}

async fn metadata(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        super::metadata::idp_metadata(
            &entity_id(&state),
            &state.issuer,
            state.saml.cert.der_data(),
        ),
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "oidc_error.html")]
struct ErrorPage {
    message: String,
}

fn error_page(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        ErrorPage {
            message: message.into(),
        },
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct SsoParams {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
    /// Profile preselected by the SP (`eleve` or `responsable`).
    profil: Option<String>,
}

/// A request waiting for the person to sign in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SamlFlow {
    sp: String,
    request_id: String,
    acs_url: String,
    relay_state: Option<String>,
    force_authn: bool,
    profile: Option<AccountKind>,
    /// With ForceAuthn: the session a new sign-in must replace (empty if none).
    reauth_from: Option<String>,
}

fn flow_key(flow: &str) -> String {
    format!("saml-flow:{}", storage_key(flow))
}

async fn sso_redirect(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    Query(params): Query<SsoParams>,
) -> Result<Response, AppError> {
    let Some(saml_request) = params.saml_request.as_deref() else {
        return Ok(error_page("La demande d'authentification est absente."));
    };
    let outcome = request::decode_redirect(saml_request).and_then(|xml| {
        let parsed = request::parse(&xml)?;
        let sp = request::sender(&parsed, &state.registry)?;
        let signed = request::verify_redirect_signature(raw.as_deref().unwrap_or_default(), &sp)?;
        if sp.metadata.authn_requests_signed && !signed {
            return Err("Ce service doit signer ses demandes d'authentification.".to_owned());
        }
        request::validate(&parsed, sp, &sso_endpoints(&state), state.clock.now())
    });
    accept(&state, outcome, params).await
}

async fn sso_post(
    State(state): State<SharedState>,
    axum::Form(params): axum::Form<SsoParams>,
) -> Result<Response, AppError> {
    let Some(saml_request) = params.saml_request.as_deref() else {
        return Ok(error_page("La demande d'authentification est absente."));
    };
    let outcome = request::decode_post(saml_request).and_then(|xml| {
        let claimed = request::parse(&xml)?;
        let sp = request::sender(&claimed, &state.registry)?;
        let parsed = if xml.contains("SignatureValue") {
            // only what the signature covers is read
            request::parse(&request::verify_post_signature(&xml, &sp)?)?
        } else if sp.metadata.authn_requests_signed {
            return Err("Ce service doit signer ses demandes d'authentification.".to_owned());
        } else {
            claimed
        };
        request::validate(&parsed, sp, &sso_endpoints(&state), state.clock.now())
    });
    accept(&state, outcome, params).await
}

/// Stores a valid request (once: a replayed ID is refused) and sends the browser on.
async fn accept(
    state: &SharedState,
    outcome: Result<ValidRequest, String>,
    params: SsoParams,
) -> Result<Response, AppError> {
    let valid = match outcome {
        Ok(v) => v,
        Err(message) => return Ok(error_page(message)),
    };
    let replay_key = format!(
        "saml-request:{}",
        storage_key(&format!("{}\n{}", valid.sp.entity_id, valid.id))
    );
    if !state
        .ephemeral
        .put_new(&replay_key, "1", Duration::from_secs(REQUEST_ID_TTL))
        .await?
    {
        return Ok(error_page(
            "Cette demande d'authentification a déjà été utilisée.",
        ));
    }
    if valid.is_passive {
        // Answering IsPassive with a NoPassive status is not built yet: say so plainly.
        return Ok(error_page(
            "La connexion silencieuse (IsPassive) n'est pas encore proposée par ce fournisseur d'identité.",
        ));
    }
    if params.relay_state.as_ref().is_some_and(|r| r.len() > 1024) {
        return Ok(error_page("Le paramètre RelayState est trop long."));
    }
    let flow = SamlFlow {
        sp: valid.sp.entity_id.clone(),
        request_id: valid.id,
        acs_url: valid.acs_url,
        relay_state: params.relay_state,
        force_authn: valid.force_authn,
        profile: params.profil.as_deref().and_then(AccountKind::parse),
        reauth_from: None,
    };
    let id = random_token(24);
    save_flow(state, &id, &flow).await?;
    Ok(Redirect::to(&format!("/idp/profile/SAML2/resume?flow={id}")).into_response())
}

async fn save_flow(state: &AppState, id: &str, flow: &SamlFlow) -> Result<(), AppError> {
    let json = serde_json::to_string(flow).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&flow_key(id), &json, Duration::from_secs(FLOW_TTL))
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct FlowQuery {
    #[serde(default)]
    flow: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "saml_post.html")]
struct PostPage {
    acs_url: String,
    saml_response: String,
    relay_state: Option<String>,
}

const FLOW_EXPIRED: &str = "Cette demande de connexion a expiré ou a déjà servi. Retournez sur le service que vous vouliez utiliser et recommencez.";

/// GET /idp/profile/SAML2/resume: signs in if needed, then answers the SP.
async fn resume(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let Some(json) = state.ephemeral.get(&flow_key(&q.flow)).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    let mut flow: SamlFlow =
        serde_json::from_str(&json).map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(sp) = state.registry.saml_provider(&flow.sp) else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    let session = current_session(&state, &headers).await?.map(|(_, s)| s);
    if flow.force_authn && flow.reauth_from.is_none() {
        flow.reauth_from = Some(session.as_ref().map(|s| s.sid.clone()).unwrap_or_default());
        save_flow(&state, &q.flow, &flow).await?;
    }
    let person = match &session {
        Some(s) if flow.reauth_from.as_deref().is_none_or(|old| old != s.sid) => {
            load_person(&state, s.account_id).await?
        }
        _ => None,
    };
    let (Some(session), Some(person)) = (session, person) else {
        let mut login = url::form_urlencoded::Serializer::new(String::new());
        if let Some(kind) = flow.profile {
            login.append_pair("profil", kind.as_str());
        }
        login.append_pair(
            "next",
            &format!("/idp/profile/SAML2/resume?flow={}", q.flow),
        );
        return Ok(Redirect::to(&format!("/login?{}", login.finish())).into_response());
    };
    // single use from here on
    if state.ephemeral.take(&flow_key(&q.flow)).await?.is_none() {
        return Ok(error_page(FLOW_EXPIRED));
    }
    let now = state.clock.now();
    let idp_entity = entity_id(&state);
    let logout_url = format!("{}/logout", state.issuer);
    let attrs = attributes::attributes(
        &person,
        &sp.attributes,
        &AttributeContext {
            salt: &state.subjects,
            sp_entity_id: &sp.entity_id,
            auth_time: session.auth_time,
            logout_url: &logout_url,
        },
    );
    let (name_id, format) = match sp.name_id_format {
        NameIdFormat::Transient => (
            format!("_{}", hex::encode(random_token(16))),
            NAMEID_TRANSIENT,
        ),
        NameIdFormat::Persistent => (
            state.subjects.saml_id(&sp.entity_id, person.account.id),
            NAMEID_PERSISTENT,
        ),
    };
    let content = ResponseContent {
        idp_entity_id: &idp_entity,
        sp_entity_id: &sp.entity_id,
        acs_url: &flow.acs_url,
        in_response_to: Some(&flow.request_id),
        name_id: &name_id,
        name_id_format: format,
        session_index: &session.sid,
        auth_instant: session.auth_time,
        attributes: attrs,
        now,
    };
    let xml = response::signed_response(&content, &state.saml.cert, state.saml.key_der())
        .map_err(AppError::Internal)?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::TokenIssued,
            actor: Actor::Client(sp.entity_id.clone()),
            subject: Some(person.account.id),
            source_address: None,
            details: json!({ "protocol": "saml", "in_response_to": flow.request_id }),
        })
        .await?;
    let origin = url::Url::parse(&flow.acs_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut page = PostPage {
        acs_url: flow.acs_url.clone(),
        saml_response: STANDARD.encode(xml),
        relay_state: flow.relay_state.clone(),
    }
    .into_response();
    // this page posts a form to the SP's registered address, and nowhere else
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        page.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(page)
}

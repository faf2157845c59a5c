//! The SAML endpoints: thin handlers around the request rules and the response builder.
//!
//! Whatever the binding, a valid request is stored and the browser is sent on to a GET of
//! `/idp/profile/SAML2/resume`: a request POSTed from the SP's site carries no SameSite=Lax
//! session cookie, the top-level GET does.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
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
use crate::protocol::oidc::{current_session, end_sso_session};
use crate::protocol::{error_page, load_person};
use crate::registry::NameIdFormat;
use crate::web::http::{SESSION_COOKIE, clear_cookie};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/idp/metadata", get(metadata))
        .route("/idp/profile/SAML2/Redirect/SSO", get(sso_redirect))
        .route("/idp/profile/SAML2/POST/SSO", axum::routing::post(sso_post))
        .route("/idp/profile/SAML2/resume", get(resume))
        .route("/idp/profile/SAML2/Unsolicited/SSO", get(unsolicited))
        .route("/idp/profile/SAML2/Redirect/SLO", get(slo_redirect))
        .route("/idp/profile/SAML2/POST/SLO", axum::routing::post(slo_post))
        .route("/idp/profile/SAML2/logout", get(slo_resume))
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
    /// The AuthnRequest's ID; none for IdP-initiated SSO.
    request_id: Option<String>,
    acs_url: String,
    relay_state: Option<String>,
    force_authn: bool,
    #[serde(default)]
    is_passive: bool,
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
        let sp = request::sender(parsed.issuer.as_ref(), &state.registry)?;
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
        let sp = request::sender(claimed.issuer.as_ref(), &state.registry)?;
        let parsed = if xml.contains("SignatureValue") {
            // only what the signature covers is read, and it must be the whole request
            let signed = request::parse(&request::verify_post_signature(&xml, &sp)?)?;
            if signed.id != claimed.id {
                return Err(request::NOT_THE_SIGNED_ELEMENT.to_owned());
            }
            signed
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
    if params.relay_state.as_ref().is_some_and(|r| r.len() > 1024) {
        return Ok(error_page("Le paramètre RelayState est trop long."));
    }
    let flow = SamlFlow {
        sp: valid.sp.entity_id.clone(),
        request_id: Some(valid.id),
        acs_url: valid.acs_url,
        relay_state: params.relay_state,
        force_authn: valid.force_authn,
        is_passive: valid.is_passive,
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

#[derive(Debug, Deserialize)]
struct UnsolicitedParams {
    #[serde(rename = "providerId", default)]
    provider_id: String,
    /// The ACS to use (Shibboleth's name); it must be in the SP's metadata.
    shire: Option<String>,
    /// Becomes the RelayState.
    target: Option<String>,
    profil: Option<String>,
}

/// GET /idp/profile/SAML2/Unsolicited/SSO?providerId=…: IdP-initiated SSO (a link from a
/// portal straight to a service), answered without InResponseTo.
async fn unsolicited(
    State(state): State<SharedState>,
    Query(p): Query<UnsolicitedParams>,
) -> Result<Response, AppError> {
    let Some(sp) = state.registry.saml_provider(&p.provider_id) else {
        return Ok(error_page(
            "Ce service n'est pas enregistré auprès du fournisseur d'identité.",
        ));
    };
    let Some(acs) = sp.metadata.consumer_service(p.shire.as_deref(), None) else {
        return Ok(error_page(
            "L'adresse de retour demandée n'est pas dans les métadonnées du service.",
        ));
    };
    if p.target.as_ref().is_some_and(|t| t.len() > 1024) {
        return Ok(error_page("Le paramètre target est trop long."));
    }
    let flow = SamlFlow {
        sp: sp.entity_id.clone(),
        request_id: None,
        acs_url: acs.location.clone(),
        relay_state: p.target,
        force_authn: false,
        is_passive: false,
        profile: p.profil.as_deref().and_then(AccountKind::parse),
        reauth_from: None,
    };
    let id = random_token(24);
    save_flow(&state, &id, &flow).await?;
    Ok(Redirect::to(&format!("/idp/profile/SAML2/resume?flow={id}")).into_response())
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
        if flow.is_passive {
            // nobody is signed in and the SP asked not to interact: answer NoPassive
            if state.ephemeral.take(&flow_key(&q.flow)).await?.is_none() {
                return Ok(error_page(FLOW_EXPIRED));
            }
            let xml = response::signed_status_response(
                &entity_id(&state),
                &flow.acs_url,
                flow.request_id.as_deref(),
                "NoPassive",
                state.clock.now(),
                &state.saml.cert,
                state.saml.key_der(),
            )
            .map_err(AppError::Internal)?;
            return Ok(post_page(&flow.acs_url, flow.relay_state.as_deref(), xml));
        }
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
        in_response_to: flow.request_id.as_deref(),
        name_id: &name_id,
        name_id_format: format,
        session_index: &session.sid,
        auth_instant: session.auth_time,
        attributes: attrs,
        now,
        encrypt_for: sp.metadata.encryption_cert.as_deref().map(|cert| {
            (
                cert,
                super::encryption::choose_algorithm(&sp.metadata.encryption_methods),
            )
        }),
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
    if let Some((cookie_id, _)) = current_session(&state, &headers).await? {
        // remembered so that a later logout knows every service of the session
        state
            .sessions
            .add_client(&cookie_id, &sp.entity_id, now)
            .await?;
    }
    Ok(post_page(&flow.acs_url, flow.relay_state.as_deref(), xml))
}

/// The page that POSTs a response to the SP (HTTP-POST binding).
fn post_page(target: &str, relay_state: Option<&str>, xml: String) -> Response {
    let origin = url::Url::parse(target)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut page = PostPage {
        acs_url: target.to_owned(),
        saml_response: STANDARD.encode(xml),
        relay_state: relay_state.map(str::to_owned),
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
    page
}

fn slo_endpoints(state: &AppState) -> Vec<String> {
    vec![
        format!("{}/idp/profile/SAML2/Redirect/SLO", state.issuer),
        format!("{}/idp/profile/SAML2/POST/SLO", state.issuer),
    ]
}

#[derive(Debug, Default, Deserialize)]
struct SloParams {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A verified LogoutRequest, waiting for the GET that carries the session cookie.
#[derive(Debug, Serialize, Deserialize)]
struct LogoutFlow {
    sp: String,
    request_id: String,
    session_index: Option<String>,
    relay_state: Option<String>,
}

fn logout_flow_key(flow: &str) -> String {
    format!("saml-logout:{}", storage_key(flow))
}

const LOGOUT_MUST_BE_SIGNED: &str = "Les demandes de déconnexion doivent être signées.";

/// GET /idp/profile/SAML2/Redirect/SLO: a LogoutRequest (always signed).
async fn slo_redirect(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    Query(p): Query<SloParams>,
) -> Result<Response, AppError> {
    let Some(saml_request) = p.saml_request.as_deref() else {
        return Ok(error_page("La demande de déconnexion est absente."));
    };
    let outcome = request::decode_redirect(saml_request).and_then(|xml| {
        let parsed = request::parse_logout(&xml)?;
        let sp = request::sender(parsed.issuer.as_ref(), &state.registry)?;
        if !request::verify_redirect_signature(raw.as_deref().unwrap_or_default(), &sp)? {
            return Err(LOGOUT_MUST_BE_SIGNED.to_owned());
        }
        request::validate_logout(&parsed, sp, &slo_endpoints(&state), state.clock.now())
    });
    accept_logout(&state, outcome, p.relay_state).await
}

/// POST /idp/profile/SAML2/POST/SLO: a LogoutRequest with an enveloped signature.
async fn slo_post(
    State(state): State<SharedState>,
    axum::Form(p): axum::Form<SloParams>,
) -> Result<Response, AppError> {
    let Some(saml_request) = p.saml_request.as_deref() else {
        return Ok(error_page("La demande de déconnexion est absente."));
    };
    let outcome = request::decode_post(saml_request).and_then(|xml| {
        let claimed = request::parse_logout(&xml)?;
        let sp = request::sender(claimed.issuer.as_ref(), &state.registry)?;
        if !xml.contains("SignatureValue") {
            return Err(LOGOUT_MUST_BE_SIGNED.to_owned());
        }
        let parsed = request::parse_logout(&request::verify_post_signature(&xml, &sp)?)?;
        if parsed.id != claimed.id {
            return Err(request::NOT_THE_SIGNED_ELEMENT.to_owned());
        }
        request::validate_logout(&parsed, sp, &slo_endpoints(&state), state.clock.now())
    });
    accept_logout(&state, outcome, p.relay_state).await
}

async fn accept_logout(
    state: &SharedState,
    outcome: Result<request::ValidLogout, String>,
    relay_state: Option<String>,
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
            "Cette demande de déconnexion a déjà été utilisée.",
        ));
    }
    if relay_state.as_ref().is_some_and(|r| r.len() > 1024) {
        return Ok(error_page("Le paramètre RelayState est trop long."));
    }
    let flow = LogoutFlow {
        sp: valid.sp.entity_id.clone(),
        request_id: valid.id,
        session_index: valid.session_index,
        relay_state,
    };
    let id = random_token(24);
    let json = serde_json::to_string(&flow).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&logout_flow_key(&id), &json, Duration::from_secs(FLOW_TTL))
        .await?;
    Ok(Redirect::to(&format!("/idp/profile/SAML2/logout?flow={id}")).into_response())
}

/// GET /idp/profile/SAML2/logout: ends the SSO session named by the request (OIDC clients are
/// told by back-channel) and answers the SP with a signed LogoutResponse.
async fn slo_resume(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let Some(json) = state.ephemeral.take(&logout_flow_key(&q.flow)).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    let flow: LogoutFlow =
        serde_json::from_str(&json).map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(sp) = state.registry.saml_provider(&flow.sp) else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    let mut ended = false;
    if let Some((cookie_id, session)) = current_session(&state, &headers).await?
        && flow
            .session_index
            .as_deref()
            .is_none_or(|i| i == session.sid)
    {
        end_sso_session(&state, &cookie_id, peer, Some(&sp.entity_id)).await?;
        ended = true;
    }
    let now = state.clock.now();
    let idp_entity = entity_id(&state);
    // the Redirect binding if the SP offers it, else POST
    let service = sp
        .metadata
        .logout_services
        .iter()
        .find(|s| s.binding == super::metadata::BINDING_REDIRECT)
        .or_else(|| sp.metadata.logout_services.first())
        .ok_or_else(|| AppError::Internal("SP without logout service".into()))?;
    let mut answer = if service.binding == super::metadata::BINDING_REDIRECT {
        let (_, xml) = response::logout_response(
            &idp_entity,
            &service.response_location,
            &flow.request_id,
            now,
        );
        let url = response::redirect_binding_url(
            &service.response_location,
            "SAMLResponse",
            &xml,
            flow.relay_state.as_deref(),
            state.saml.key_der(),
        )
        .map_err(AppError::Internal)?;
        Redirect::to(&url).into_response()
    } else {
        let xml = response::signed_logout_response(
            &idp_entity,
            &service.response_location,
            &flow.request_id,
            now,
            &state.saml.cert,
            state.saml.key_der(),
        )
        .map_err(AppError::Internal)?;
        post_page(&service.response_location, flow.relay_state.as_deref(), xml)
    };
    if ended {
        answer
            .headers_mut()
            .append(header::SET_COOKIE, clear_cookie(&state, SESSION_COOKIE));
    }
    Ok(answer)
}

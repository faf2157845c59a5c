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
use crate::domain::session::Participant;
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::oidc::current_session;
use crate::protocol::{error_page, load_person};
use crate::registry::NameIdFormat;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/idp/metadata", get(metadata))
        .route("/idp/profile/SAML2/Redirect/SSO", get(sso_redirect))
        .route("/idp/profile/SAML2/POST/SSO", axum::routing::post(sso_post))
        .route("/idp/profile/SAML2/resume", get(resume))
        .route("/idp/profile/SAML2/Unsolicited/SSO", get(unsolicited))
        .merge(super::slo::routes())
}

pub(super) fn entity_id(state: &AppState) -> String {
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
pub(super) struct FlowQuery {
    #[serde(default)]
    pub(super) flow: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "saml_post.html")]
struct PostPage {
    title: &'static str,
    acs_url: String,
    /// SAMLResponse or SAMLRequest.
    field: &'static str,
    saml_response: String,
    relay_state: Option<String>,
}

pub(super) const FLOW_EXPIRED: &str = "Cette demande de connexion a expiré ou a déjà servi. Retournez sur le service que vous vouliez utiliser et recommencez.";

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
        // one transient NameID per SP and session: the SP's logout then names one session
        NameIdFormat::Transient => (
            state.subjects.saml_transient(&session.sid, &sp.entity_id),
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
        session_index: &state.subjects.session_index(&session.sid, &sp.entity_id),
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
    state.metrics.issued(crate::metrics::Issued::SamlAssertion);
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::TokenIssued,
            actor: Actor::Client(sp.entity_id.clone()),
            subject: Some(person.account.id),
            source_address: None,
            details: json!({
                "protocol": "saml",
                "in_response_to": flow.request_id,
                "origin": session.origin.as_str(),
            }),
        })
        .await?;
    // remembered so that a later logout tells every service of the session
    state
        .sessions
        .add_participant(
            &session,
            &Participant::Saml {
                entity_id: sp.entity_id.clone(),
                name_id: name_id.clone(),
                name_id_format: format.to_owned(),
            },
            now,
        )
        .await?;
    Ok(post_page(&flow.acs_url, flow.relay_state.as_deref(), xml))
}

/// The page that POSTs a response to the SP (HTTP-POST binding).
pub(super) fn post_page(target: &str, relay_state: Option<&str>, xml: String) -> Response {
    post_message(
        "Connexion en cours…",
        target,
        "SAMLResponse",
        relay_state,
        &xml,
        "'none'",
    )
}

/// A page that POSTs a SAML message (`field`) to an SP's registered address, and nowhere
/// else; `frame_ancestors` says who may show it in a frame (the logout page does).
pub(super) fn post_message(
    title: &'static str,
    target: &str,
    field: &'static str,
    relay_state: Option<&str>,
    xml: &str,
    frame_ancestors: &str,
) -> Response {
    let origin = url::Url::parse(target)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut page = PostPage {
        title,
        acs_url: target.to_owned(),
        field,
        saml_response: STANDARD.encode(xml),
        relay_state: relay_state.map(str::to_owned),
    }
    .into_response();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin}; frame-ancestors {frame_ancestors}; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        page.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    page
}

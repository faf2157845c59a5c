//! SAML single logout. An SP's LogoutRequest (Redirect or POST binding, always signed) ends the
//! SSO session; the other SPs of the session are sent LogoutRequests from frames of the logout
//! page (see `protocol::logout`), their signed LogoutResponses come back here, and the
//! initiator gets its LogoutResponse last (PartialLogout if some SP did not confirm).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::REQUEST_ID_TTL;
use super::http::{FLOW_EXPIRED, FlowQuery, entity_id as idp_entity_id, post_message, post_page};
use super::metadata::{BINDING_REDIRECT, LogoutService};
use super::request;
use super::response::{self, LogoutRequestContent};
use crate::app::{AppState, SharedState};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::error_page;
use crate::protocol::logout::{
    AfterLogout, Notice, PLAN_TTL, confirmed_key, end_sso_session, proceed, sent_key, stored_plan,
};
use crate::protocol::oidc::current_session;
use crate::registry::SamlServiceProvider;
use crate::web::http::{SESSION_COOKIE, clear_cookie};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/idp/profile/SAML2/Redirect/SLO", get(slo_redirect))
        .route("/idp/profile/SAML2/POST/SLO", axum::routing::post(slo_post))
        .route("/idp/profile/SAML2/logout", get(slo_resume))
        .route("/idp/profile/SAML2/logout/send", get(send_request))
}

fn slo_endpoints(state: &AppState) -> Vec<String> {
    vec![
        format!("{}/idp/profile/SAML2/Redirect/SLO", state.issuer),
        format!("{}/idp/profile/SAML2/POST/SLO", state.issuer),
    ]
}

/// The SP's logout service: the Redirect binding if it offers it, else POST.
fn logout_service(sp: &SamlServiceProvider) -> Option<&LogoutService> {
    sp.metadata
        .logout_services
        .iter()
        .find(|s| s.binding == BINDING_REDIRECT)
        .or_else(|| sp.metadata.logout_services.first())
}

/// The origins a logout frame for this SP goes through (for the logout page's frame-src).
pub fn logout_origins(state: &AppState, entity_id: &str) -> Vec<String> {
    state
        .registry
        .saml_provider(entity_id)
        .and_then(|sp| logout_service(&sp).and_then(|s| url::Url::parse(&s.location).ok()))
        .map(|u| vec![u.origin().ascii_serialization()])
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
struct SloParams {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A verified LogoutRequest, waiting for the GET that carries the session cookie.
#[derive(Debug, Serialize, Deserialize)]
struct LogoutFlow {
    sp: String,
    request_id: String,
    session_indexes: Vec<String>,
    relay_state: Option<String>,
}

fn logout_flow_key(flow: &str) -> String {
    format!("saml-logout:{}", storage_key(flow))
}

const LOGOUT_MUST_BE_SIGNED: &str = "Les messages de déconnexion doivent être signés.";

/// GET /idp/profile/SAML2/Redirect/SLO: a LogoutRequest, or an SP's answer to one the IdP
/// sent (always signed).
async fn slo_redirect(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    Query(p): Query<SloParams>,
) -> Result<Response, AppError> {
    let raw = raw.unwrap_or_default();
    if let Some(answer) = p.saml_response.as_deref() {
        let outcome = request::decode_redirect(answer).and_then(|xml| {
            let parsed = request::parse_logout_response(&xml)?;
            let answer =
                request::validate_logout_response(&parsed, &slo_endpoints(&state), now(&state))?;
            let sp = answering_sp(&state, &answer)?;
            if !request::verify_redirect_signature(&raw, &sp)? {
                return Err(LOGOUT_MUST_BE_SIGNED.to_owned());
            }
            Ok(answer)
        });
        return record_answer(&state, outcome).await;
    }
    let Some(saml_request) = p.saml_request.as_deref() else {
        return Ok(error_page("La demande de déconnexion est absente."));
    };
    let outcome = request::decode_redirect(saml_request).and_then(|xml| {
        let parsed = request::parse_logout(&xml)?;
        let sp = request::sender(parsed.request.issuer.as_ref(), &state.registry)?;
        if !request::verify_redirect_signature(&raw, &sp)? {
            return Err(LOGOUT_MUST_BE_SIGNED.to_owned());
        }
        request::validate_logout(&parsed, sp, &slo_endpoints(&state), now(&state))
    });
    accept_logout(&state, outcome, p.relay_state).await
}

/// POST /idp/profile/SAML2/POST/SLO: the same with enveloped signatures.
async fn slo_post(
    State(state): State<SharedState>,
    axum::Form(p): axum::Form<SloParams>,
) -> Result<Response, AppError> {
    if let Some(answer) = p.saml_response.as_deref() {
        let outcome = request::decode_post(answer).and_then(|xml| {
            let claimed = request::parse_logout_response(&xml)?;
            let answer =
                request::validate_logout_response(&claimed, &slo_endpoints(&state), now(&state))?;
            let sp = answering_sp(&state, &answer)?;
            if !xml.contains("SignatureValue") {
                return Err(LOGOUT_MUST_BE_SIGNED.to_owned());
            }
            let signed =
                request::parse_logout_response(&request::verify_post_signature(&xml, &sp)?)?;
            if signed.id != claimed.id {
                return Err(request::NOT_THE_SIGNED_ELEMENT.to_owned());
            }
            Ok(answer)
        });
        return record_answer(&state, outcome).await;
    }
    let Some(saml_request) = p.saml_request.as_deref() else {
        return Ok(error_page("La demande de déconnexion est absente."));
    };
    let outcome = request::decode_post(saml_request).and_then(|xml| {
        let claimed = request::parse_logout(&xml)?;
        let sp = request::sender(claimed.request.issuer.as_ref(), &state.registry)?;
        if !xml.contains("SignatureValue") {
            return Err(LOGOUT_MUST_BE_SIGNED.to_owned());
        }
        let parsed = request::parse_logout(&request::verify_post_signature(&xml, &sp)?)?;
        if parsed.request.id != claimed.request.id {
            return Err(request::NOT_THE_SIGNED_ELEMENT.to_owned());
        }
        request::validate_logout(&parsed, sp, &slo_endpoints(&state), now(&state))
    });
    accept_logout(&state, outcome, p.relay_state).await
}

fn now(state: &AppState) -> i64 {
    state.clock.now()
}

/// The registered SP that claims to answer; whether it was the one asked is checked when the
/// answer is recorded.
fn answering_sp(
    state: &AppState,
    answer: &request::LogoutAnswer,
) -> Result<Arc<SamlServiceProvider>, String> {
    state.registry.saml_provider(&answer.issuer).ok_or_else(|| {
        "Ce service n'est pas enregistré auprès du fournisseur d'identité.".to_owned()
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "logout_frame.html")]
struct LogoutFrame {
    confirmed: bool,
    message: String,
}

/// Shown in the logout page's frame once the SP answered (the page reads `confirmed`).
fn frame_page(confirmed: bool, message: impl Into<String>) -> Response {
    let mut page = LogoutFrame {
        confirmed,
        message: message.into(),
    }
    .into_response();
    let headers = page.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; frame-ancestors 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    page
}

/// An SP's LogoutResponse: single use, from the SP the request was sent to.
async fn record_answer(
    state: &SharedState,
    outcome: Result<request::LogoutAnswer, String>,
) -> Result<Response, AppError> {
    let answer = match outcome {
        Ok(a) => a,
        Err(message) => return Ok(frame_page(false, message)),
    };
    let not_pending = "Cette réponse de déconnexion ne correspond à aucune demande en cours.";
    let Some(sent_to) = state
        .ephemeral
        .get(&sent_key(&answer.in_response_to))
        .await?
    else {
        return Ok(frame_page(false, not_pending));
    };
    // checked before the request is used up: another SP cannot cancel this one's answer
    if sent_to != answer.issuer {
        return Ok(frame_page(
            false,
            "Cette réponse de déconnexion ne vient pas du service interrogé.",
        ));
    }
    if state
        .ephemeral
        .take(&sent_key(&answer.in_response_to))
        .await?
        .is_none()
    {
        return Ok(frame_page(false, not_pending));
    }
    if !answer.success {
        return Ok(frame_page(false, "Le service n'a pas pu vous déconnecter."));
    }
    state
        .ephemeral
        .put(
            &confirmed_key(&answer.in_response_to),
            "1",
            Duration::from_secs(PLAN_TTL),
        )
        .await?;
    Ok(frame_page(true, "Déconnecté"))
}

#[derive(Debug, Deserialize)]
struct SendQuery {
    id: String,
    n: usize,
}

/// GET /idp/profile/SAML2/logout/send: in a frame of the logout page, the signed
/// LogoutRequest for one SP of the ended session.
async fn send_request(
    State(state): State<SharedState>,
    Query(q): Query<SendQuery>,
) -> Result<Response, AppError> {
    let plan = stored_plan(&state, &q.id).await?;
    let line = plan
        .as_ref()
        .and_then(|p| p.services.get(q.n).map(|s| (p, &s.notice)));
    let Some((
        plan,
        Notice::Saml {
            entity_id,
            name_id,
            name_id_format,
            request_id,
        },
    )) = line
    else {
        return Ok(frame_page(false, "Cette déconnexion a expiré."));
    };
    let Some(sp) = state.registry.saml_provider(entity_id) else {
        return Ok(frame_page(false, "Ce service n'est plus enregistré."));
    };
    let Some(service) = logout_service(&sp) else {
        return Ok(frame_page(false, "Ce service ne peut pas être prévenu."));
    };
    state
        .ephemeral
        .put(
            &sent_key(request_id),
            &sp.entity_id,
            Duration::from_secs(PLAN_TTL),
        )
        .await?;
    let idp_entity = idp_entity_id(&state);
    let content = LogoutRequestContent {
        idp_entity_id: &idp_entity,
        destination: &service.location,
        request_id,
        name_id,
        name_id_format,
        session_index: &state.subjects.session_index(&plan.sid, &sp.entity_id),
        now: now(&state),
    };
    if service.binding == BINDING_REDIRECT {
        let url = response::redirect_binding_url(
            &service.location,
            "SAMLRequest",
            &response::logout_request(&content),
            None,
            state.saml.key_der(),
        )
        .map_err(AppError::Internal)?;
        Ok(Redirect::to(&url).into_response())
    } else {
        let xml = response::signed_logout_request(&content, &state.saml.cert, state.saml.key_der())
            .map_err(AppError::Internal)?;
        Ok(post_message(
            "Déconnexion en cours…",
            &service.location,
            "SAMLRequest",
            None,
            &xml,
            "'self'",
        ))
    }
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
        session_indexes: valid.session_indexes,
        relay_state,
    };
    let id = random_token(24);
    let json = serde_json::to_string(&flow).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(
            &logout_flow_key(&id),
            &json,
            Duration::from_secs(super::FLOW_TTL),
        )
        .await?;
    Ok(Redirect::to(&format!("/idp/profile/SAML2/logout?flow={id}")).into_response())
}

/// GET /idp/profile/SAML2/logout: ends the SSO session named by the request; every other
/// service of the session is told, then the SP gets a signed LogoutResponse.
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
    let mut plan = None;
    if let Some((cookie_id, session)) = current_session(&state, &headers).await?
        && (flow.session_indexes.is_empty()
            || flow
                .session_indexes
                .contains(&state.subjects.session_index(&session.sid, &sp.entity_id)))
    {
        plan = end_sso_session(&state, &cookie_id, peer, Some(&sp.entity_id)).await?;
    }
    let Some(mut plan) = plan else {
        // no such session here (any more): nothing else to tell
        return answer_logout(
            &state,
            &sp,
            &flow.request_id,
            flow.relay_state.as_deref(),
            false,
        );
    };
    plan.then = AfterLogout::SamlResponse {
        entity_id: sp.entity_id.clone(),
        request_id: flow.request_id,
        relay_state: flow.relay_state,
    };
    let mut answer = proceed(&state, plan).await?;
    answer
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state, SESSION_COOKIE));
    Ok(answer)
}

/// The signed LogoutResponse to the SP that asked for the logout.
pub fn answer_logout(
    state: &AppState,
    sp: &SamlServiceProvider,
    request_id: &str,
    relay_state: Option<&str>,
    partial: bool,
) -> Result<Response, AppError> {
    let service =
        logout_service(sp).ok_or_else(|| AppError::Internal("SP without logout service".into()))?;
    let idp_entity = idp_entity_id(state);
    let now = now(state);
    if service.binding == BINDING_REDIRECT {
        let (_, xml) = response::logout_response(
            &idp_entity,
            &service.response_location,
            request_id,
            partial,
            now,
        );
        let url = response::redirect_binding_url(
            &service.response_location,
            "SAMLResponse",
            &xml,
            relay_state,
            state.saml.key_der(),
        )
        .map_err(AppError::Internal)?;
        Ok(Redirect::to(&url).into_response())
    } else {
        let xml = response::signed_logout_response(
            &idp_entity,
            &service.response_location,
            request_id,
            partial,
            now,
            &state.saml.cert,
            state.saml.key_der(),
        )
        .map_err(AppError::Internal)?;
        Ok(post_page(&service.response_location, relay_state, xml))
    }
}

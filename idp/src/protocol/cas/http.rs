//! The CAS endpoints: thin handlers around the ticket rules and response builders.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    CasError, CasErrorCode, PGT_TTL, ProxyGrantingTicket, ServiceTicket, TICKET_TTL, Validated,
    check_endpoint, check_proxy_callback, check_ticket, failure_json, failure_xml, logout_request,
    proxy_json, proxy_xml, refuse, success_json, success_xml, ticket_kind,
};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::session::{Participant, SsoSession};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::logout::{AfterLogout, end_sso_session, proceed};
use crate::protocol::oidc::current_session;
use crate::protocol::saml::attributes::{AttributeContext, released_values};
use crate::protocol::{error_page, load_person};
use crate::registry::CasService;
use crate::web::http::{SESSION_COOKIE, clear_cookie};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/cas/login", get(login))
        .route("/cas/resume", get(resume))
        .route("/cas/serviceValidate", get(service_validate))
        .route("/cas/p3/serviceValidate", get(service_validate))
        .route("/cas/proxyValidate", get(proxy_validate))
        .route("/cas/p3/proxyValidate", get(proxy_validate))
        .route("/cas/proxy", get(proxy))
        .route("/cas/logout", get(logout))
}

/// How long a CAS login waits for the person to sign in.
const FLOW_TTL: u64 = 30 * 60;

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1" | "yes"))
}

fn not_trusted(service: &str) -> Response {
    error_page(format!("{service} n'est pas une url de confiance."))
}

#[derive(Debug, Default, Deserialize)]
struct LoginParams {
    service: Option<String>,
    renew: Option<String>,
    gateway: Option<String>,
    method: Option<String>,
}

/// A CAS login waiting for the person to sign in.
#[derive(Debug, Serialize, Deserialize)]
struct CasFlow {
    registration: String,
    service: String,
    renew: bool,
    post: bool,
    /// When the login started: with `renew`, only a sign-in after this counts.
    started_at: i64,
    /// The session that was there when the login started: a sign-in replaces it.
    replaces: Option<String>,
}

fn flow_key(id: &str) -> String {
    format!("cas-flow:{}", storage_key(id))
}

fn ticket_key(ticket: &str) -> String {
    format!("cas-ticket:{}", storage_key(ticket))
}

fn pgt_key(pgt: &str) -> String {
    format!("cas-pgt:{}", storage_key(pgt))
}

/// GET /cas/login: a ticket for the service at once when signed in (unless `renew`), the
/// service without a ticket for `gateway` when not, the sign-in page otherwise.
async fn login(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(p): Query<LoginParams>,
) -> Result<Response, AppError> {
    let Some(service) = p.service.filter(|s| !s.is_empty()) else {
        return Ok(Redirect::to("/").into_response());
    };
    let Some(registration) = state.registry.cas_service_for(&service) else {
        return Ok(not_trusted(&service));
    };
    let post = match p.method.as_deref() {
        None | Some("GET") => false,
        Some("POST") => true,
        Some(_) => return Ok(error_page("Méthode de retour inconnue (GET ou POST).")),
    };
    let renew = truthy(p.renew.as_deref());
    let session = signed_in(&state, &headers).await?;
    if let Some(session) = &session
        && !renew
    {
        return issue(&state, session, &registration, &service, false, post).await;
    }
    if session.is_none() && !renew && truthy(p.gateway.as_deref()) {
        // gateway: nobody is signed in and the service asked not to interact
        return Ok(Redirect::to(&service).into_response());
    }
    let flow = CasFlow {
        registration: registration.id.clone(),
        service,
        renew,
        post,
        started_at: state.clock.now(),
        replaces: session.map(|s| s.sid),
    };
    let id = random_token(24);
    let json = serde_json::to_string(&flow).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&flow_key(&id), &json, Duration::from_secs(FLOW_TTL))
        .await?;
    Ok(to_sign_in(&id))
}

/// The service a pending CAS login returns to.
pub async fn return_url(state: &AppState, flow: &str) -> Result<Option<String>, AppError> {
    Ok(state
        .ephemeral
        .get(&flow_key(flow))
        .await?
        .and_then(|json| serde_json::from_str::<CasFlow>(&json).ok())
        .map(|f| f.service))
}

fn to_sign_in(flow: &str) -> Response {
    let next = format!("/cas/resume?flow={flow}");
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("next", &next);
    Redirect::to(&format!("/login?{}", login.finish())).into_response()
}

/// The SSO session of the request, if its account may still sign in.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<SsoSession>, AppError> {
    let Some((_, session)) = current_session(state, headers).await? else {
        return Ok(None);
    };
    Ok(
        crate::protocol::account_is_active(state, session.account_id)
            .await?
            .then_some(session),
    )
}

#[derive(Debug, Deserialize)]
struct FlowQuery {
    #[serde(default)]
    flow: String,
}

/// GET /cas/resume: back from the sign-in page.
async fn resume(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let expired = "Cette demande de connexion a expiré ou a déjà servi. Retournez sur le service que vous vouliez utiliser et recommencez.";
    let Some(json) = state.ephemeral.get(&flow_key(&q.flow)).await? else {
        return Ok(error_page(expired));
    };
    let flow: CasFlow =
        serde_json::from_str(&json).map_err(|e| AppError::Internal(e.to_string()))?;
    // a sign-in made for this login: a new session (every sign-in makes one) since it started
    let fresh = |s: &SsoSession| {
        s.auth_time >= flow.started_at && flow.replaces.as_deref() != Some(s.sid.as_str())
    };
    let session = match signed_in(&state, &headers).await? {
        Some(s) if !flow.renew || fresh(&s) => s,
        _ => return Ok(to_sign_in(&q.flow)),
    };
    if state.ephemeral.take(&flow_key(&q.flow)).await?.is_none() {
        return Ok(error_page(expired));
    }
    let Some(registration) = state.registry.cas_service(&flow.registration) else {
        return Ok(not_trusted(&flow.service));
    };
    let from_new_login = fresh(&session);
    issue(
        &state,
        &session,
        &registration,
        &flow.service,
        from_new_login,
        flow.post,
    )
    .await
}

#[derive(Template, WebTemplate)]
#[template(path = "cas_post.html")]
struct PostPage {
    service: String,
    ticket: String,
}

/// Issues a service ticket and sends the browser back to the service with it.
async fn issue(
    state: &SharedState,
    session: &SsoSession,
    registration: &CasService,
    service: &str,
    from_new_login: bool,
    post: bool,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let ticket = format!("ST-{}", random_token(32));
    let record = ServiceTicket {
        registration: registration.id.clone(),
        service: service.to_owned(),
        account_id: session.account_id,
        sid: session.sid.clone(),
        auth_time: session.auth_time,
        from_new_login,
        issued_at: now,
        proxies: Vec::new(),
    };
    store_ticket(state, &ticket, &record).await?;
    state
        .metrics
        .issued(crate::metrics::Issued::CasServiceTicket);
    // remembered so that a later logout tells the service (its session is named by the ticket)
    state
        .sessions
        .add_participant(
            session,
            &Participant::Cas {
                registration: registration.id.clone(),
                service: service.to_owned(),
                ticket: ticket.clone(),
            },
            now,
        )
        .await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::TokenIssued,
            actor: Actor::Client(registration.id.clone()),
            subject: Some(session.account_id),
            source_address: None,
            details: json!({
                "protocol": "cas",
                "renew": from_new_login,
                "origin": session.origin.as_str(),
            }),
        })
        .await?;
    if post {
        let origin = url::Url::parse(service)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let mut page = PostPage {
            service: service.to_owned(),
            ticket,
        }
        .into_response();
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            page.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
        return Ok(page);
    }
    let mut url = url::Url::parse(service).map_err(|e| AppError::Internal(e.to_string()))?;
    url.query_pairs_mut().append_pair("ticket", &ticket);
    Ok(Redirect::to(url.as_str()).into_response())
}

async fn store_ticket(
    state: &AppState,
    ticket: &str,
    record: &ServiceTicket,
) -> Result<(), AppError> {
    let json = serde_json::to_string(record).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(
            &ticket_key(ticket),
            &json,
            Duration::from_secs(TICKET_TTL as u64 + 5),
        )
        .await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct ValidateParams {
    ticket: Option<String>,
    service: Option<String>,
    renew: Option<String>,
    format: Option<String>,
    #[serde(rename = "pgtUrl")]
    pgt_url: Option<String>,
}

fn wants_json(format: Option<&str>) -> bool {
    format.is_some_and(|f| f.eq_ignore_ascii_case("json"))
}

/// GET /cas/serviceValidate and /cas/p3/serviceValidate: the user and attributes of a service
/// ticket, once.
async fn service_validate(
    State(state): State<SharedState>,
    Query(p): Query<ValidateParams>,
) -> Result<Response, AppError> {
    validation_response(&state, &p, false).await
}

/// GET /cas/proxyValidate and /cas/p3/proxyValidate: the same for service and proxy tickets,
/// with the proxies a proxy ticket went through.
async fn proxy_validate(
    State(state): State<SharedState>,
    Query(p): Query<ValidateParams>,
) -> Result<Response, AppError> {
    validation_response(&state, &p, true).await
}

async fn validation_response(
    state: &SharedState,
    p: &ValidateParams,
    proxy_endpoint: bool,
) -> Result<Response, AppError> {
    let outcome = validate(state, p, proxy_endpoint).await?;
    Ok(match (outcome, wants_json(p.format.as_deref())) {
        (Ok(v), false) => xml_response(success_xml(&v)),
        (Err(e), false) => xml_response(failure_xml(&e)),
        (Ok(v), true) => axum::Json(success_json(&v)).into_response(),
        (Err(e), true) => axum::Json(failure_json(&e)).into_response(),
    })
}

fn xml_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn validate(
    state: &SharedState,
    p: &ValidateParams,
    proxy_endpoint: bool,
) -> Result<Result<Validated, CasError>, AppError> {
    let (Some(ticket), Some(service)) = (
        p.ticket.as_deref().filter(|t| !t.is_empty()),
        p.service.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Ok(Err(refuse(
            CasErrorCode::InvalidRequest,
            "ticket and service are required",
        )));
    };
    let record = match ticket_kind(ticket) {
        Some(kind) => {
            if let Err(e) = check_endpoint(kind, proxy_endpoint) {
                return Ok(Err(e));
            }
            // taken whatever the outcome: a ticket is tried once
            state
                .ephemeral
                .take(&ticket_key(ticket))
                .await?
                .and_then(|j| serde_json::from_str::<ServiceTicket>(&j).ok())
        }
        None => None,
    };
    let now = state.clock.now();
    if let Err(e) = check_ticket(record.as_ref(), service, truthy(p.renew.as_deref()), now) {
        return Ok(Err(e));
    }
    let Some(record) = record else {
        return Ok(Err(refuse(
            CasErrorCode::InvalidTicket,
            "ticket not recognized",
        )));
    };
    let registration = state.registry.cas_service(&record.registration);
    let person = load_person(state, record.account_id).await?;
    let (Some(registration), Some(person)) = (registration, person) else {
        return Ok(Err(refuse(
            CasErrorCode::InvalidTicket,
            "the account or the service is no longer valid",
        )));
    };
    let pgt_iou = match p.pgt_url.as_deref().filter(|u| !u.is_empty()) {
        Some(pgt_url) => {
            if let Err(e) = check_proxy_callback(&registration, pgt_url) {
                return Ok(Err(e));
            }
            grant_proxy(state, &record, ticket, pgt_url).await?
        }
        None => None,
    };
    let audience = format!("cas:{}", registration.id);
    let logout_url = format!("{}/cas/logout", state.issuer);
    let attributes = released_values(
        &person,
        &registration.attributes,
        &AttributeContext {
            salt: &state.subjects,
            sp_entity_id: &audience,
            auth_time: record.auth_time,
            logout_url: &logout_url,
        },
    );
    Ok(Ok(Validated {
        user: state.subjects.saml_id(&audience, person.account.id),
        attributes,
        pgt_iou,
        proxies: record.proxies,
    }))
}

/// Gives the service a proxy-granting ticket: sent to its `pgtUrl` with an IOU (CAS 3.0
/// §2.5.4), kept only if the callback answers 200. Returns the IOU for the validation
/// response, or `None` when the callback failed (the validation still succeeds).
async fn grant_proxy(
    state: &SharedState,
    validated: &ServiceTicket,
    ticket: &str,
    pgt_url: &str,
) -> Result<Option<String>, AppError> {
    let pgt = format!("PGT-{}", random_token(32));
    let iou = format!("PGTIOU-{}", random_token(32));
    let Ok(mut callback) = url::Url::parse(pgt_url) else {
        return Ok(None);
    };
    callback
        .query_pairs_mut()
        .append_pair("pgtId", &pgt)
        .append_pair("pgtIou", &iou);
    let answered = state
        .http
        .get(callback.as_str())
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    match answered {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {}
        Ok(r) => {
            tracing::warn!(service = %validated.registration, status = %r.status(), "CAS proxy callback refused the ticket");
            return Ok(None);
        }
        Err(e) => {
            // without its URL: the query carries the proxy-granting ticket
            let e = e.without_url();
            tracing::warn!(service = %validated.registration, error = %e, "CAS proxy callback unreachable");
            return Ok(None);
        }
    }
    let mut proxies = vec![pgt_url.to_owned()];
    proxies.extend(validated.proxies.iter().cloned());
    let record = ProxyGrantingTicket {
        registration: validated.registration.clone(),
        account_id: validated.account_id,
        sid: validated.sid.clone(),
        auth_time: validated.auth_time,
        proxies,
        origin_ticket: ticket.to_owned(),
        origin_service: validated.service.clone(),
        issued_at: state.clock.now(),
    };
    let json = serde_json::to_string(&record).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&pgt_key(&pgt), &json, Duration::from_secs(PGT_TTL as u64))
        .await?;
    state
        .metrics
        .issued(crate::metrics::Issued::CasProxyGrantingTicket);
    Ok(Some(iou))
}

#[derive(Debug, Default, Deserialize)]
struct ProxyParams {
    pgt: Option<String>,
    #[serde(rename = "targetService")]
    target_service: Option<String>,
    format: Option<String>,
}

/// GET /cas/proxy: a proxy ticket for `targetService`, given a proxy-granting ticket.
async fn proxy(
    State(state): State<SharedState>,
    Query(p): Query<ProxyParams>,
) -> Result<Response, AppError> {
    let outcome = proxy_ticket(&state, &p).await?;
    Ok(if wants_json(p.format.as_deref()) {
        axum::Json(proxy_json(&outcome)).into_response()
    } else {
        xml_response(proxy_xml(&outcome))
    })
}

async fn proxy_ticket(
    state: &SharedState,
    p: &ProxyParams,
) -> Result<Result<String, CasError>, AppError> {
    let (Some(pgt), Some(target)) = (
        p.pgt
            .as_deref()
            .filter(|t| t.starts_with("PGT-") && t.len() <= 256),
        p.target_service.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Ok(Err(refuse(
            CasErrorCode::InvalidRequest,
            "pgt and targetService are required",
        )));
    };
    let now = state.clock.now();
    let record = state
        .ephemeral
        .get(&pgt_key(pgt))
        .await?
        .and_then(|j| serde_json::from_str::<ProxyGrantingTicket>(&j).ok())
        .filter(|r| !r.is_expired(now));
    let Some(record) = record else {
        return Ok(Err(refuse(
            CasErrorCode::InvalidTicket,
            "proxy-granting ticket not recognized or expired",
        )));
    };
    // the PGT lives only as long as its SSO session: gone once the session was logged out
    let origin = state.registry.cas_service(&record.registration);
    let origin_participant = Participant::Cas {
        registration: record.registration.clone(),
        service: record.origin_service.clone(),
        ticket: record.origin_ticket.clone(),
    };
    let live = state
        .sessions
        .has_participant(&record.sid, &origin_participant)
        .await?;
    if !live || origin.is_none() {
        state.ephemeral.delete(&pgt_key(pgt)).await?;
        return Ok(Err(refuse(
            CasErrorCode::InvalidTicket,
            "the session of this proxy-granting ticket has ended",
        )));
    }
    let Some(target_registration) = state.registry.cas_service_for(target) else {
        return Ok(Err(refuse(
            CasErrorCode::UnauthorizedService,
            "targetService is not a registered service",
        )));
    };
    let ticket = format!("PT-{}", random_token(32));
    let issued = ServiceTicket {
        registration: target_registration.id.clone(),
        service: target.to_owned(),
        account_id: record.account_id,
        sid: record.sid.clone(),
        auth_time: record.auth_time,
        from_new_login: false,
        issued_at: now,
        proxies: record.proxies.clone(),
    };
    store_ticket(state, &ticket, &issued).await?;
    state.metrics.issued(crate::metrics::Issued::CasProxyTicket);
    // the target is now a service of the session too: told at logout
    state
        .sessions
        .add_participant_to(
            &record.sid,
            &Participant::Cas {
                registration: target_registration.id.clone(),
                service: target.to_owned(),
                ticket: ticket.clone(),
            },
            Duration::from_secs(PGT_TTL as u64),
        )
        .await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::TokenIssued,
            actor: Actor::Client(record.registration.clone()),
            subject: Some(record.account_id),
            source_address: None,
            details: json!({
                "protocol": "cas",
                "proxy_ticket_for": target_registration.id,
                "proxies": record.proxies,
            }),
        })
        .await?;
    Ok(Ok(ticket))
}

#[derive(Debug, Default, Deserialize)]
struct LogoutParams {
    service: Option<String>,
}

/// GET /cas/logout: ends the SSO session and tells every service of it; then back to
/// `service` if it is a registered CAS service, else the logout page.
async fn logout(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(p): Query<LogoutParams>,
) -> Result<Response, AppError> {
    let back = p
        .service
        .filter(|s| state.registry.cas_service_for(s).is_some());
    let plan = match current_session(&state, &headers).await? {
        Some((cookie_id, _)) => end_sso_session(&state, &cookie_id, peer, None).await?,
        None => None,
    };
    let mut response = match plan {
        Some(mut plan) => {
            plan.then = back.map_or(AfterLogout::Page, AfterLogout::Redirect);
            proceed(&state, plan).await?
        }
        None => Redirect::to(back.as_deref().unwrap_or("/login?deconnecte=1")).into_response(),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state, SESSION_COOKIE));
    Ok(response)
}

/// CAS single logout: POSTs the LogoutRequest naming `ticket` to the service, in the
/// background, with a timeout and one retry, so a failing service blocks nobody.
pub fn send_logout(state: &Arc<AppState>, service: &str, ticket: &str) {
    let now = chrono::DateTime::from_timestamp(state.clock.now(), 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let message = logout_request(&format!("LR-{}", random_token(16)), ticket, &now);
    let http = state.http.clone();
    let service = service.to_owned();
    tokio::spawn(async move {
        for attempt in 0..2 {
            let sent = http
                .post(&service)
                .timeout(Duration::from_secs(5))
                .form(&[("logoutRequest", message.as_str())])
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() || r.status().is_redirection() => return,
                Ok(r) => {
                    tracing::warn!(service = %service, status = %r.status(), attempt, "CAS logout refused")
                }
                Err(e) => {
                    tracing::warn!(service = %service, error = %e, attempt, "CAS logout failed")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

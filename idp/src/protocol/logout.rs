//! Single logout across protocols. Ending the SSO session tells every relying party it signed
//! in to, each by its own protocol: OpenID Connect clients by back-channel logout token (in the
//! background, so a failing one blocks nobody), SAML service providers by a LogoutRequest
//! carried by the browser in a frame of the logout page (each frame on its own, so a silent SP
//! only leaves its line unconfirmed). The page lists the services left, then the person goes
//! back to the service that asked, if one did.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::session::{Participant, UpstreamLogin};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};

/// How long a logout page (and the answers to its LogoutRequests) stays usable.
pub const PLAN_TTL: u64 = 10 * 60;

/// What a logout did and still has to do, kept for the logout page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutPlan {
    /// The ended session's public id (SAML SessionIndex).
    pub sid: String,
    pub services: Vec<SignedOutService>,
    pub then: AfterLogout,
    /// The upstream provider's session to end (FranceConnect), through the browser, last:
    /// if the provider never sends the browser back, every service was told already.
    #[serde(default)]
    pub upstream: Option<UpstreamLogin>,
    /// The logout page's frames have had their turn (the page is shown for the record only).
    #[serde(default)]
    pub frames_done: bool,
}

/// One relying party of the ended session, and how it is told.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedOutService {
    pub name: String,
    pub notice: Notice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// The service asked for the logout: it is answered last.
    Initiator,
    /// Told server to server (OpenID Connect back-channel logout).
    BackChannel,
    /// Sent a SAML LogoutRequest through the browser, in a frame of the logout page.
    Saml {
        entity_id: String,
        name_id: String,
        name_id_format: String,
        /// Chosen now, so that the SP's LogoutResponse can be matched to this line.
        request_id: String,
    },
    /// Registered no way of being told: the person is asked to close it.
    Unreachable,
}

/// Where the person goes once every service was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AfterLogout {
    /// The logout page is the end.
    Page,
    /// An OpenID Connect client's registered post-logout address.
    Redirect(String),
    /// A LogoutResponse to the SAML SP that asked.
    SamlResponse {
        entity_id: String,
        request_id: String,
        relay_state: Option<String>,
    },
}

impl LogoutPlan {
    /// Whether the browser has to carry messages (a page with frames is needed).
    pub fn needs_front_channel(&self) -> bool {
        self.services
            .iter()
            .any(|s| matches!(s.notice, Notice::Saml { .. }))
    }

    /// The SAML LogoutRequests sent, by request ID.
    pub fn saml_request_ids(&self) -> impl Iterator<Item = &str> {
        self.services.iter().filter_map(|s| match &s.notice {
            Notice::Saml { request_id, .. } => Some(request_id.as_str()),
            _ => None,
        })
    }
}

fn plan_key(id: &str) -> String {
    format!("logout-plan:{}", storage_key(id))
}

/// Where the LogoutRequest with this ID was sent (to check who answers it).
pub fn sent_key(request_id: &str) -> String {
    format!("saml-logout-sent:{}", storage_key(request_id))
}

/// Set once the SP confirmed the LogoutRequest with this ID.
pub fn confirmed_key(request_id: &str) -> String {
    format!("saml-logout-done:{}", storage_key(request_id))
}

/// Ends the SSO session behind a cookie: back-channel notices go out at once, grants bound to
/// the session are revoked, the logout is audited. Returns what the logout page must show and
/// do, or `None` when there was no live session.
pub async fn end_sso_session(
    state: &SharedState,
    cookie_id: &str,
    peer: SocketAddr,
    initiator: Option<&str>,
) -> Result<Option<LogoutPlan>, AppError> {
    let Some((session, participants)) = state.sessions.end(cookie_id).await? else {
        return Ok(None);
    };
    // notify first: a failing audit write must not leave the clients signed in
    let mut services = Vec::new();
    for participant in participants {
        let service = match participant {
            Participant::Oidc { client_id } => {
                let Some(client) = state.registry.oidc_client(&client_id) else {
                    continue;
                };
                let notice = if Some(client_id.as_str()) == initiator {
                    Notice::Initiator
                } else if super::oidc::logout::notify_backchannel(state, &session, &client) {
                    Notice::BackChannel
                } else {
                    Notice::Unreachable
                };
                SignedOutService {
                    name: client.name.clone(),
                    notice,
                }
            }
            Participant::Saml {
                entity_id,
                name_id,
                name_id_format,
            } => {
                let Some(sp) = state.registry.saml_provider(&entity_id) else {
                    continue;
                };
                let notice = if Some(entity_id.as_str()) == initiator {
                    Notice::Initiator
                } else if sp.metadata.logout_services.is_empty() {
                    Notice::Unreachable
                } else {
                    Notice::Saml {
                        entity_id,
                        name_id,
                        name_id_format,
                        request_id: format!("_{}", hex::encode(random_token(20))),
                    }
                };
                SignedOutService {
                    name: sp.name.clone(),
                    notice,
                }
            }
            Participant::Cas {
                registration,
                service,
                ticket,
            } => {
                let Some(registration) = state.registry.cas_service(&registration) else {
                    continue;
                };
                let notice = if registration.single_logout {
                    super::cas::send_logout(state, &service, &ticket);
                    Notice::BackChannel
                } else {
                    Notice::Unreachable
                };
                SignedOutService {
                    name: registration.name.clone(),
                    notice,
                }
            }
        };
        services.push(service);
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    state
        .grants
        .revoke_session_grants(&session.sid, state.clock.now())
        .await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: state.clock.now(),
            kind: AuditKind::SignOut,
            actor: Actor::Account(session.account_id),
            subject: Some(session.account_id),
            source_address: Some(peer.ip().to_string()),
            details: json!({
                "initiator": initiator,
                "services": services.iter().map(|s| &s.name).collect::<Vec<_>>(),
            }),
        })
        .await?;
    Ok(Some(LogoutPlan {
        sid: session.sid,
        services,
        then: AfterLogout::Page,
        upstream: session.upstream,
        frames_done: false,
    }))
}

/// Carries a logout on: straight to its end when nothing is left for the browser to do,
/// otherwise through the logout page.
pub async fn proceed(state: &SharedState, plan: LogoutPlan) -> Result<Response, AppError> {
    if !plan.needs_front_channel() && plan.then != AfterLogout::Page {
        return finish(state, plan).await;
    }
    show_page(state, &plan).await
}

/// Stores the plan and sends the browser to the logout page.
async fn show_page(state: &SharedState, plan: &LogoutPlan) -> Result<Response, AppError> {
    let id = random_token(24);
    let json = serde_json::to_string(plan).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .ephemeral
        .put(&plan_key(&id), &json, Duration::from_secs(PLAN_TTL))
        .await?;
    Ok(Redirect::to(&format!("/deconnexion?id={id}")).into_response())
}

/// A stored plan, for the logout page and the frames it holds.
pub async fn stored_plan(state: &AppState, id: &str) -> Result<Option<LogoutPlan>, AppError> {
    let Some(json) = state.ephemeral.get(&plan_key(id)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&json).ok())
}

/// The end of a logout, once every service was told: the upstream provider's session ends
/// (its end-session endpoint sends the browser back here to finish), then the browser goes
/// where the logout leads.
pub async fn finish(state: &SharedState, mut plan: LogoutPlan) -> Result<Response, AppError> {
    if let Some(login) = plan.upstream.take()
        && let Some(response) = super::upstream::end_session_redirect(state, &login, &plan).await?
    {
        return Ok(response);
    }
    match plan.then {
        // the list again, for the record, when the page was left for the provider
        AfterLogout::Page if plan.frames_done => show_page(state, &plan).await,
        AfterLogout::Page => Ok(Redirect::to("/login?deconnecte=1").into_response()),
        AfterLogout::Redirect(uri) => Ok(Redirect::to(&uri).into_response()),
        AfterLogout::SamlResponse {
            ref entity_id,
            ref request_id,
            ref relay_state,
        } => {
            let mut partial = false;
            for id in plan.saml_request_ids() {
                if state.ephemeral.get(&confirmed_key(id)).await?.is_none() {
                    partial = true;
                }
            }
            let Some(sp) = state.registry.saml_provider(entity_id) else {
                return Ok(Redirect::to("/login?deconnecte=1").into_response());
            };
            super::saml::answer_logout(state, &sp, request_id, relay_state.as_deref(), partial)
        }
    }
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/deconnexion", get(page))
        .route("/deconnexion/suite", get(next))
}

#[derive(Debug, Deserialize)]
struct PlanQuery {
    id: String,
}

/// A line of the logout page.
struct Line {
    name: String,
    /// What the page says of it before any frame answers.
    status: &'static str,
    /// The frame that carries the SAML LogoutRequest, if any.
    frame: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "logout_done.html")]
struct LogoutPage {
    lines: Vec<Line>,
    /// Where to go on, when a service is waiting for the person.
    next: Option<String>,
}

/// GET /deconnexion: the services signed out; SAML ones are told from frames of this page.
async fn page(
    State(state): State<SharedState>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, AppError> {
    let Some(plan) = stored_plan(&state, &q.id).await? else {
        return Ok(Redirect::to("/login?deconnecte=1").into_response());
    };
    let mut frame_origins = Vec::new();
    let mut lines = Vec::with_capacity(plan.services.len());
    for (n, s) in plan.services.iter().enumerate() {
        let (status, frame) = match &s.notice {
            Notice::Initiator | Notice::BackChannel => ("Déconnecté", None),
            Notice::Unreachable => (
                "Ce service ne peut pas être prévenu : fermez-le vous-même",
                None,
            ),
            // shown again once the frames had their turn: what the SP answered
            Notice::Saml { request_id, .. } if plan.frames_done => {
                let confirmed = state.ephemeral.get(&confirmed_key(request_id)).await?;
                let status = if confirmed.is_some() {
                    "Déconnecté"
                } else {
                    "Déconnexion non confirmée par le service"
                };
                (status, None)
            }
            Notice::Saml { entity_id, .. } => {
                frame_origins.extend(super::saml::logout_origins(&state, entity_id));
                (
                    "Déconnexion en cours…",
                    Some(format!("/idp/profile/SAML2/logout/send?id={}&n={n}", q.id)),
                )
            }
        };
        lines.push(Line {
            name: s.name.clone(),
            status,
            frame,
        });
    }
    // on to the service that asked, or to the provider's end-session endpoint
    let goes_on = plan.then != AfterLogout::Page || plan.upstream.is_some();
    let next = (goes_on && !plan.frames_done).then(|| format!("/deconnexion/suite?id={}", q.id));
    let mut response = LogoutPage { lines, next }.into_response();
    // the frames start here and go on to the SPs' logout services
    frame_origins.sort();
    frame_origins.dedup();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self' {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        frame_origins.join(" ")
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(response)
}

/// GET /deconnexion/suite: back to the service that asked for the logout (once).
async fn next(
    State(state): State<SharedState>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, AppError> {
    let Some(json) = state.ephemeral.take(&plan_key(&q.id)).await? else {
        return Ok(Redirect::to("/login?deconnecte=1").into_response());
    };
    let mut plan: LogoutPlan =
        serde_json::from_str(&json).map_err(|e| AppError::Internal(e.to_string()))?;
    plan.frames_done = true;
    finish(&state, plan).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(notice: Notice) -> SignedOutService {
        SignedOutService {
            name: "x".into(),
            notice,
        }
    }

    #[test]
    fn only_saml_services_need_the_browser() {
        let mut plan = LogoutPlan {
            sid: "s".into(),
            services: vec![
                service(Notice::BackChannel),
                service(Notice::Initiator),
                service(Notice::Unreachable),
            ],
            then: AfterLogout::Page,
            upstream: None,
            frames_done: false,
        };
        assert!(!plan.needs_front_channel());
        assert_eq!(plan.saml_request_ids().count(), 0);
        plan.services.push(service(Notice::Saml {
            entity_id: "sp".into(),
            name_id: "n".into(),
            name_id_format: "f".into(),
            request_id: "_r".into(),
        }));
        assert!(plan.needs_front_channel());
        assert_eq!(plan.saml_request_ids().collect::<Vec<_>>(), ["_r"]);
    }
}

//! The staff sign-in: identifier and password, then the code of the authenticator app (TOTP,
//! RFC 6238). At the first sign-in the app is enrolled from a QR code; the secret is stored
//! only once a code proved the app holds it. Failures go through the sign-in throttle, and
//! an unknown identifier costs the same argon2 verification as a known one.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::json;

use super::{PENDING_COOKIE, STAFF_COOKIE};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::identifier::normalize_typed;
use crate::domain::totp;
use crate::ephemeral::staff::PendingStaffSignIn;
use crate::ephemeral::throttle::ThrottleVerdict;
use crate::error::AppError;
use crate::web::http::{clear_cookie, client_ip, cookie, set_cookie, verify_csrf, with_csrf};

const WRONG: &str = "Identifiant ou mot de passe incorrect.";

#[derive(Template, WebTemplate)]
#[template(path = "admin_signin.html")]
struct SignInPage {
    csrf: String,
    identifier: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_code.html")]
struct CodePage {
    csrf: String,
    /// At the first sign-in: the QR code (an SVG data URI) and the secret to type by hand.
    enrolment: Option<(String, String)>,
    error: Option<String>,
}

/// Staff identifiers are kept apart from pupils' and guardians' in the throttle.
fn throttle_key(identifier: &str) -> String {
    format!("staff:{identifier}")
}

fn sign_in_page(csrf: String, identifier: &str, error: Option<&str>) -> Response {
    SignInPage {
        csrf,
        identifier: identifier.chars().take(64).collect(),
        error: error.map(str::to_owned),
        notice: None,
    }
    .into_response()
}

/// Why the sign-in page is shown again, as its `info` parameter says (never text from the
/// address itself).
#[derive(Debug, Clone, Copy)]
enum StartAgain {
    Expired,
    TooManyCodes,
    EnrolledMeanwhile,
}

impl StartAgain {
    fn code(self) -> &'static str {
        match self {
            Self::Expired => "expire",
            Self::TooManyCodes => "essais",
            Self::EnrolledMeanwhile => "application",
        }
    }
    fn message(code: &str) -> Option<&'static str> {
        Some(match code {
            "expire" => "La connexion a expiré. Recommencez.",
            "essais" => {
                "Trop de codes incorrects. Saisissez à nouveau votre identifiant et votre mot de passe."
            }
            "application" => {
                "Une autre connexion a enregistré l'application entre-temps. Recommencez."
            }
            "deconnecte" => "Vous êtes déconnecté.",
            _ => return None,
        })
    }
}

fn start_again(why: StartAgain) -> Response {
    Redirect::to(&format!("/admin/connexion?info={}", why.code())).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    info: Option<String>,
}

/// GET /admin/connexion.
pub async fn show(
    State(state): State<SharedState>,
    Query(q): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let notice = q.info.as_deref().and_then(StartAgain::message);
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        SignInPage {
            csrf,
            identifier: String::new(),
            error: None,
            notice: notice.map(str::to_owned),
        }
        .into_response()
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
}

/// POST /admin/connexion: the password; then the code.
pub async fn submit(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let ip = client_ip(&state, peer, &headers);
    let identifier = normalize_typed(&form.identifier);
    let again = |status: StatusCode, error: &str| {
        let mut r = sign_in_page(form.csrf.clone(), &form.identifier, Some(error));
        *r.status_mut() = status;
        r
    };
    if identifier.is_empty() || form.password.is_empty() {
        return Ok(again(
            StatusCode::OK,
            "Saisissez votre identifiant et votre mot de passe.",
        ));
    }
    let key = throttle_key(&identifier);
    if state.throttle.check(&key, ip).await? != ThrottleVerdict::Allowed {
        return Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives de connexion. Patientez quelques minutes avant de réessayer.",
        ));
    }
    let oversized = identifier.len() > 64 || form.password.len() > 256;
    let staff = if oversized {
        None
    } else {
        state.staff.staff_by_identifier(&identifier).await?
    };
    let stored = staff.as_ref().and_then(|s| s.password_hash.as_deref());
    let matched = state
        .hasher
        .verify(if oversized { "" } else { &form.password }, stored)
        .await?;
    let now = state.clock.now();
    let Some(staff) = staff.filter(|s| matched && s.active) else {
        state.throttle.record_failure(&key, ip).await?;
        state
            .audit
            .append(&NewAuditEvent {
                at: now,
                kind: AuditKind::StaffSignInFailed,
                actor: Actor::Anonymous,
                subject: None,
                source_address: Some(ip.to_string()),
                details: json!({ "reason": "wrong_credentials" }),
            })
            .await?;
        return Ok(again(StatusCode::OK, WRONG));
    };
    let enrolment_secret = staff.sealed_totp_secret.is_none().then(|| {
        let mut secret = [0u8; totp::SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        totp::base32(&secret)
    });
    let token = state
        .staff_sessions
        .start_pending(&PendingStaffSignIn {
            staff_id: staff.id,
            enrolment_secret,
        })
        .await?;
    let mut response = Redirect::to("/admin/connexion/code").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, PENDING_COOKIE, &token, None),
    );
    Ok(response)
}

fn code_page(
    csrf: String,
    pending: &PendingStaffSignIn,
    identifier: &str,
    error: Option<String>,
) -> Response {
    let enrolment = pending.enrolment_secret.as_ref().map(|secret| {
        let bytes = totp::from_base32(secret).unwrap_or_default();
        let uri = totp::otpauth_uri(crate::web::SERVICE_NAME, identifier, &bytes);
        let image = totp::qr_svg(&uri)
            .map(|svg| {
                format!(
                    "data:image/svg+xml;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(svg)
                )
            })
            .unwrap_or_default();
        // typed by hand in groups of four
        let grouped = secret
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        (image, grouped)
    });
    CodePage {
        csrf,
        enrolment,
        error,
    }
    .into_response()
}

async fn pending_step(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, PendingStaffSignIn)>, AppError> {
    let Some(token) = cookie(headers, PENDING_COOKIE).filter(|t| t.len() <= 64) else {
        return Ok(None);
    };
    Ok(state
        .staff_sessions
        .pending(token)
        .await?
        .map(|p| (token.to_owned(), p)))
}

/// GET /admin/connexion/code.
pub async fn show_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some((_, pending)) = pending_step(&state, &headers).await? else {
        return Ok(Redirect::to("/admin/connexion").into_response());
    };
    let identifier = state
        .staff
        .staff_by_id(pending.staff_id)
        .await?
        .map(|s| s.identifier)
        .unwrap_or_default();
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        code_page(csrf, &pending, &identifier, None)
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// POST /admin/connexion/code: the code of the app; at the first sign-in it also enrols it.
pub async fn submit_code(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let Some((token, pending)) = pending_step(&state, &headers).await? else {
        return Ok(start_again(StartAgain::Expired));
    };
    let ip = client_ip(&state, peer, &headers);
    let Some(staff) = state
        .staff
        .staff_by_id(pending.staff_id)
        .await?
        .filter(|s| s.active)
    else {
        return Ok(start_again(StartAgain::Expired));
    };
    let key = throttle_key(&staff.identifier);
    let now = state.clock.now();
    if !state.staff_sessions.use_try(&token).await? {
        state.throttle.record_failure(&key, ip).await?;
        return Ok(start_again(StartAgain::TooManyCodes));
    }
    let accepted = match (&pending.enrolment_secret, &staff.sealed_totp_secret) {
        (Some(secret), None) => {
            let bytes = totp::from_base32(secret)
                .ok_or_else(|| AppError::Internal("enrolment secret is not base32".into()))?;
            match totp::matching_step(&bytes, &form.code, now, None) {
                Some(step) => {
                    let sealed = crate::admin::seal_totp_secret(&state.secret, &bytes)?;
                    if !state.staff.enrol_totp(staff.id, &sealed, step).await? {
                        return Ok(start_again(StartAgain::EnrolledMeanwhile));
                    }
                    state
                        .audit
                        .append(&NewAuditEvent {
                            at: now,
                            kind: AuditKind::StaffSecondFactorEnrolled,
                            actor: Actor::Staff(staff.id),
                            subject: None,
                            source_address: Some(ip.to_string()),
                            details: json!({ "staff": staff.identifier }),
                        })
                        .await?;
                    true
                }
                None => false,
            }
        }
        (None, Some(sealed)) => {
            let bytes = crate::admin::unseal_totp_secret(&state.secret, sealed)?;
            match totp::matching_step(&bytes, &form.code, now, staff.totp_last_step) {
                // recorded on the shared database: the same code on another node fails too
                Some(step) => state.staff.use_totp_step(staff.id, step).await?,
                None => false,
            }
        }
        // enrolled or reset since the password was typed
        _ => return Ok(start_again(StartAgain::Expired)),
    };
    if !accepted {
        state
            .audit
            .append(&NewAuditEvent {
                at: now,
                kind: AuditKind::StaffSignInFailed,
                actor: Actor::Anonymous,
                subject: None,
                source_address: Some(ip.to_string()),
                details: json!({ "reason": "wrong_code", "staff": staff.identifier }),
            })
            .await?;
        let mut r = code_page(
            form.csrf.clone(),
            &pending,
            &staff.identifier,
            Some(
                "Code incorrect ou déjà utilisé. Saisissez le code affiché par votre application."
                    .into(),
            ),
        );
        *r.status_mut() = StatusCode::OK;
        return Ok(r);
    }
    if state.staff_sessions.take_pending(&token).await?.is_none() {
        return Ok(start_again(StartAgain::Expired));
    }
    state.throttle.record_success(&key).await?;
    let session = state.staff_sessions.open(staff.id, now).await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::StaffSignIn,
            actor: Actor::Staff(staff.id),
            subject: None,
            source_address: Some(ip.to_string()),
            details: json!({ "staff": staff.identifier, "role": staff.role.as_str() }),
        })
        .await?;
    let mut response = Redirect::to("/admin").into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&state, STAFF_COOKIE, &session, None),
    );
    h.append(header::SET_COOKIE, clear_cookie(&state, PENDING_COOKIE));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// POST /admin/deconnexion.
pub async fn sign_out(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    if let Some(token) = cookie(&headers, STAFF_COOKIE) {
        state.staff_sessions.close(token).await?;
    }
    let mut response = Redirect::to("/admin/connexion?info=deconnecte").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state, STAFF_COOKIE));
    Ok(response)
}

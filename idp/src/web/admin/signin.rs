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
use crate::error::AppError;
use crate::store::StaffMember;
use crate::web::http::{client_ip, cookie, set_admin_cookie, verify_csrf, with_csrf};

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
    let Some(attempt) = state.throttle.check(&key, ip).await?.attempt() else {
        return Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives de connexion. Patientez quelques minutes avant de réessayer.",
        ));
    };
    let oversized = identifier.len() > 64 || form.password.len() > 256;
    let staff = if oversized {
        None
    } else {
        state.staff.staff_by_identifier(&identifier).await?
    };
    let stored = staff.as_ref().and_then(|s| s.password_hash.as_deref());
    let typed = if oversized { "" } else { &form.password };
    let matched = crate::web::signin::verify_for(&state, &attempt, typed, stored).await?;
    let Some(staff) = staff.filter(|s| matched && s.active) else {
        state.throttle.record_failure(ip).await?;
        audit(
            &state,
            AuditKind::StaffSignInFailed,
            Actor::Anonymous,
            ip,
            json!({ "reason": "wrong_credentials" }),
        )
        .await?;
        return Ok(again(StatusCode::OK, WRONG));
    };
    let sealed_enrolment_secret = match staff.sealed_totp_secret {
        Some(_) => None,
        None => {
            let mut secret = [0u8; totp::SECRET_BYTES];
            rand::rng().fill_bytes(&mut secret);
            Some(crate::admin::seal_totp_secret(&state.secret, &secret)?)
        }
    };
    let token = state
        .staff_sessions
        .start_pending(&PendingStaffSignIn {
            staff_id: staff.id,
            sealed_enrolment_secret,
        })
        .await?;
    let mut response = Redirect::to("/admin/connexion/code").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_admin_cookie(&state, PENDING_COOKIE, &token, None),
    );
    Ok(response)
}

fn code_page(
    state: &AppState,
    csrf: String,
    pending: &PendingStaffSignIn,
    identifier: &str,
    error: Option<String>,
) -> Result<Response, AppError> {
    let enrolment = match &pending.sealed_enrolment_secret {
        None => None,
        Some(sealed) => {
            let secret = crate::admin::unseal_totp_secret(&state.secret, sealed)?;
            let uri = totp::otpauth_uri(crate::web::SERVICE_NAME, identifier, &secret);
            let image = totp::qr_svg(&uri)
                .map(|svg| {
                    format!(
                        "data:image/svg+xml;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(svg)
                    )
                })
                .unwrap_or_default();
            // typed by hand in groups of four
            let grouped = totp::base32(&secret)
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            Some((image, grouped))
        }
    };
    Ok(CodePage {
        csrf,
        enrolment,
        error,
    }
    .into_response())
}

/// A staff sign-in event.
async fn audit(
    state: &AppState,
    kind: AuditKind,
    actor: Actor,
    ip: std::net::IpAddr,
    details: serde_json::Value,
) -> Result<(), AppError> {
    state
        .audit
        .append(&NewAuditEvent {
            at: state.clock.now(),
            kind,
            actor,
            subject: None,
            source_address: Some(ip.to_string()),
            details,
        })
        .await?;
    Ok(())
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
    let (csrf, browser_cookie) = crate::web::http::csrf_token(&state, &headers).await?;
    let mut response = code_page(&state, csrf, &pending, &identifier, None)?;
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
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
    // the sign-in throttle counts wrong codes too: five a step, then the password again,
    // and the identifier's limit over all steps
    if !state.staff_sessions.use_try(&token).await?
        || state.throttle.check(&key, ip).await?.attempt().is_none()
    {
        state.staff_sessions.take_pending(&token).await?;
        return Ok(start_again(StartAgain::TooManyCodes));
    }
    let Some(accepted) = check_code(&state, &staff, &pending, &form.code, ip).await? else {
        // enrolled or reset since the password was typed
        return Ok(start_again(StartAgain::EnrolledMeanwhile));
    };
    if !accepted {
        state.throttle.record_failure(ip).await?;
        audit(
            &state,
            AuditKind::StaffSignInFailed,
            Actor::Anonymous,
            ip,
            json!({ "reason": "wrong_code", "staff": staff.identifier }),
        )
        .await?;
        return code_page(
            &state,
            form.csrf.clone(),
            &pending,
            &staff.identifier,
            Some(
                "Code incorrect ou déjà utilisé. Saisissez le code affiché par votre application."
                    .into(),
            ),
        );
    }
    if state.staff_sessions.take_pending(&token).await?.is_none() {
        return Ok(start_again(StartAgain::Expired));
    }
    state.throttle.record_success(&key).await?;
    let session = state
        .staff_sessions
        .open(staff.id, state.clock.now())
        .await?;
    audit(
        &state,
        AuditKind::StaffSignIn,
        Actor::Staff(staff.id),
        ip,
        json!({ "staff": staff.identifier, "role": staff.role.as_str() }),
    )
    .await?;
    let mut response = Redirect::to("/admin").into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_admin_cookie(&state, STAFF_COOKIE, &session, None),
    );
    h.append(
        header::SET_COOKIE,
        set_admin_cookie(&state, PENDING_COOKIE, "", Some(0)),
    );
    Ok(response)
}

/// Whether the code is right: at the first sign-in it enrols the app (the secret goes to the
/// database with the code's step), else it must be a code of the enrolled secret not used
/// yet. `None`: the staff member was enrolled or reset since the password was typed.
async fn check_code(
    state: &AppState,
    staff: &StaffMember,
    pending: &PendingStaffSignIn,
    code: &str,
    ip: std::net::IpAddr,
) -> Result<Option<bool>, AppError> {
    let now = state.clock.now();
    match (&pending.sealed_enrolment_secret, &staff.sealed_totp_secret) {
        (Some(sealed), None) => {
            let secret = crate::admin::unseal_totp_secret(&state.secret, sealed)?;
            let Some(step) = totp::matching_step(&secret, code, now, None) else {
                return Ok(Some(false));
            };
            if !state.staff.enrol_totp(staff.id, sealed, step).await? {
                return Ok(None);
            }
            audit(
                state,
                AuditKind::StaffSecondFactorEnrolled,
                Actor::Staff(staff.id),
                ip,
                json!({ "staff": staff.identifier }),
            )
            .await?;
            Ok(Some(true))
        }
        (None, Some(sealed)) => {
            let secret = crate::admin::unseal_totp_secret(&state.secret, sealed)?;
            Ok(Some(
                match totp::matching_step(&secret, code, now, staff.totp_last_step) {
                    // recorded on the shared database: the same code on another node fails too
                    Some(step) => state.staff.use_totp_step(staff.id, step).await?,
                    None => false,
                },
            ))
        }
        _ => Ok(None),
    }
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// POST /admin/deconnexion.
pub async fn sign_out(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    if let Some(token) = cookie(&headers, STAFF_COOKIE).filter(|t| t.len() <= 64)
        && let Some(session) = state
            .staff_sessions
            .current(token, state.clock.now())
            .await?
    {
        state.staff_sessions.close(token).await?;
        let ip = client_ip(&state, peer, &headers);
        audit(
            &state,
            AuditKind::StaffSignOut,
            Actor::Staff(session.staff_id),
            ip,
            json!({}),
        )
        .await?;
    }
    let mut response = Redirect::to("/admin/connexion?info=deconnecte").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_admin_cookie(&state, STAFF_COOKIE, "", Some(0)),
    );
    Ok(response)
}

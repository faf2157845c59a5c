//! Sign-in (SPEC §2.1): profile choice, identifier and password, SSO session; and sign-out.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::MessagePage;
use super::http::{
    PROFILE_COOKIE, SESSION_COOKIE, clear_cookie, client_ip, cookie, csrf_token, local_return_path,
    set_cookie, verify_csrf,
};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::{Account, AccountKind, SecretCheck, SignInOutcome, decide_sign_in};
use crate::domain::identifier::normalize_typed;
use crate::domain::session::{AuthOrigin, SsoSession, UpstreamLogin};
use crate::ephemeral::throttle::Attempt;
use crate::error::AppError;
use crate::metrics::SignInResult;
use crate::protocol::logout::AfterLogout;

/// Longest identifier and password read from the form; longer input is a wrong credential.
const MAX_IDENTIFIER_LEN: usize = 64;
const MAX_PASSWORD_LEN: usize = 256;
/// The profile cookie lives a year, like ÉduConnect's.
const PROFILE_COOKIE_SECONDS: i64 = 365 * 24 * 3600;

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
struct SignInPage {
    profile: Option<AccountKind>,
    csrf: String,
    identifier: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
    /// Upstream providers offered to guardians, first: (id, label).
    upstream: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
struct LogoutPage {
    csrf: String,
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    /// `eleve` or `responsable`: the profile chosen (or preselected by a relying party).
    profil: Option<String>,
    /// Show the profile choice again.
    changer: Option<String>,
    next: Option<String>,
    deconnecte: Option<String>,
    /// Identifier to prefill (OIDC `login_hint`).
    identifiant: Option<String>,
}

/// GET /login: the profile choice, or the form for the chosen profile.
pub async fn show(
    State(state): State<SharedState>,
    Query(q): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let from_query = q.profil.as_deref().and_then(AccountKind::parse);
    let remembered = cookie(&headers, PROFILE_COOKIE).and_then(AccountKind::parse);
    let profile = if q.changer.is_some() {
        None
    } else {
        from_query.or(remembered)
    };
    let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
    let page = SignInPage {
        profile,
        csrf,
        identifier: q
            .identifiant
            .unwrap_or_default()
            .chars()
            .take(MAX_IDENTIFIER_LEN)
            .collect(),
        next: local_return_path(q.next.as_deref()),
        error: None,
        notice: q
            .deconnecte
            .map(|_| "Vous êtes déconnecté. À bientôt !".to_owned()),
        upstream: state.upstream.offered(),
    };
    let destination = crate::protocol::return_url(&state, &page.next).await?;
    let mut response = page.into_response();
    super::let_forms_lead_to(&mut response, destination.as_deref());
    let h = response.headers_mut();
    if let Some(c) = browser_cookie {
        h.append(header::SET_COOKIE, c);
    }
    if let Some(kind) = from_query {
        h.append(
            header::SET_COOKIE,
            set_cookie(
                &state,
                PROFILE_COOKIE,
                kind.as_str(),
                Some(PROFILE_COOKIE_SECONDS),
            ),
        );
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    /// ÉduConnect's hidden profile field.
    #[serde(rename = "typeUser", default)]
    type_user: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Checks the typed secret with exactly one argon2 verification whatever the account, so that
/// an unknown identifier, an activated account and one with only a temporary password all
/// take the same time.
/// A password checked for an attempt the throttle let through: when the hashing queue is full
/// ("réessayez dans quelques secondes"), the attempt is released first, so that the retry does
/// not count twice.
pub(crate) async fn verify_for(
    state: &AppState,
    attempt: &Attempt,
    password: &str,
    hash: Option<&str>,
) -> Result<bool, AppError> {
    match state.hasher.verify(password, hash).await {
        Err(crate::hashing::HashingError::Busy) => {
            state.throttle.release(attempt).await?;
            Err(AppError::Busy)
        }
        other => Ok(other?),
    }
}

pub(crate) async fn check_secret(
    state: &AppState,
    attempt: &Attempt,
    account: Option<&Account>,
    password: &str,
) -> Result<SecretCheck, AppError> {
    let stored = account.and_then(|a| a.password_hash.as_deref());
    let password_matched = verify_for(state, attempt, password, stored).await?;
    if password_matched {
        return Ok(SecretCheck::Password);
    }
    let temporary = account.and_then(|a| a.temporary_secret_hash.as_deref());
    Ok(match temporary {
        Some(hash) if state.secret.verify_generated_secret(password, hash) => {
            SecretCheck::Temporary
        }
        _ => SecretCheck::NoMatch,
    })
}

/// POST /login. A page shown again (wrong password …) keeps the form able to lead on to the
/// relying party.
pub async fn submit(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let destination =
        crate::protocol::return_url(&state, &local_return_path(Some(&form.next))).await?;
    let mut response = sign_in(state, peer, headers, form).await?;
    super::let_forms_lead_to(&mut response, destination.as_deref());
    Ok(response)
}

async fn sign_in(
    state: SharedState,
    peer: SocketAddr,
    headers: HeaderMap,
    form: SignInForm,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let profile = AccountKind::parse(&form.type_user)
        .ok_or_else(|| AppError::BadRequest("unknown typeUser".into()))?;
    let ip = client_ip(&state, peer, &headers);
    let now = state.clock.now();
    let identifier = normalize_typed(&form.identifier);
    let next = local_return_path(Some(&form.next));
    let page = |error: String| SignInPage {
        profile: Some(profile),
        csrf: form.csrf.clone(),
        identifier: form.identifier.chars().take(MAX_IDENTIFIER_LEN).collect(),
        next: next.clone(),
        error: Some(error),
        notice: None,
        upstream: state.upstream.offered(),
    };

    if identifier.is_empty() || form.password.is_empty() {
        return Ok(page(crate::t("sign-in-empty")).into_response());
    }
    let device = super::device::trusted(&state, &headers, &identifier, now);
    let Some(attempt) = state
        .throttle
        .check_on_device(&identifier, ip, device)
        .await?
        .attempt()
    else {
        state.metrics.sign_in(SignInResult::Throttled);
        let message = crate::t("sign-in-throttled");
        return Ok((StatusCode::TOO_MANY_REQUESTS, page(message)).into_response());
    };

    let oversized = identifier.len() > MAX_IDENTIFIER_LEN || form.password.len() > MAX_PASSWORD_LEN;
    let account = if oversized {
        None
    } else {
        state.accounts.by_identifier(&identifier).await?
    };
    let password = if oversized {
        ""
    } else {
        form.password.as_str()
    };
    let check = match check_secret(&state, &attempt, account.as_ref(), password).await {
        Err(AppError::Busy) => {
            state.metrics.sign_in(SignInResult::Busy);
            return Err(AppError::Busy);
        }
        check => check?,
    };
    let outcome = decide_sign_in(account.as_ref(), check, profile, now);
    state.metrics.sign_in(match outcome {
        SignInOutcome::Success => SignInResult::Success,
        SignInOutcome::WrongCredentials => SignInResult::WrongCredentials,
        SignInOutcome::WrongProfile(_) => SignInResult::WrongProfile,
        SignInOutcome::ActivationRequired => SignInResult::ActivationRequired,
        SignInOutcome::TemporaryExpired => SignInResult::TemporaryExpired,
        SignInOutcome::Disabled => SignInResult::Disabled,
        SignInOutcome::Locked { .. } => SignInResult::Locked,
    });

    let audit = |kind: AuditKind, actor: Actor, reason: &str| NewAuditEvent {
        at: now,
        kind,
        actor,
        subject: account.as_ref().map(|a| a.id),
        source_address: Some(ip.to_string()),
        details: json!({ "reason": reason, "profile": profile.as_str() }),
    };

    let refusal = match outcome {
        SignInOutcome::Success => {
            let Some(account) = account.as_ref() else {
                return Err(AppError::Internal("success without account".into()));
            };
            state
                .throttle
                .record_success_on(&identifier, device)
                .await?;
            let peer = SocketAddr::new(ip, peer.port());
            let cookie =
                open_session(&state, &headers, peer, account, AuthOrigin::Local, None).await?;
            let next = super::my_account::after_sign_in(&state, account, &next).await?;
            let mut response = Redirect::to(&next).into_response();
            let h = response.headers_mut();
            h.append(header::SET_COOKIE, cookie);
            h.append(
                header::SET_COOKIE,
                super::device::trust(&state, &identifier, now),
            );
            return Ok(response);
        }
        SignInOutcome::WrongCredentials => {
            state.throttle.record_failure(ip).await?;
            state
                .audit
                .append(&audit(
                    AuditKind::SignInFailed,
                    Actor::Anonymous,
                    "wrong_credentials",
                ))
                .await?;
            return Ok(page(crate::t("sign-in-wrong")).into_response());
        }
        SignInOutcome::WrongProfile(kind) => {
            // the right password: not a guess
            state.throttle.release(&attempt).await?;
            let profile = super::i18n::account_kind(kind.as_str());
            let message = super::i18n::t_args("sign-in-wrong-profile", &[("profile", &profile)]);
            return Ok(page(message).into_response());
        }
        SignInOutcome::ActivationRequired => {
            let Some(account) = account.as_ref() else {
                return Err(AppError::Internal("activation without account".into()));
            };
            // the first-connection steps, then on to where the sign-in was going
            return super::activation::start(&state, &headers, ip, account, &next).await;
        }
        SignInOutcome::TemporaryExpired => (
            "temporary_expired",
            MessagePage {
                lang: crate::web::i18n::lang().as_str(),
                title: crate::t("temporary-expired-title"),
                message: crate::t("temporary-expired"),
                link: Some(("/login".into(), crate::t("back-to-sign-in"))),
            },
        ),
        SignInOutcome::Disabled => (
            "disabled",
            MessagePage {
                lang: crate::web::i18n::lang().as_str(),
                title: crate::t("disabled-title"),
                message: crate::t("disabled"),
                link: Some(("/login".into(), crate::t("back-to-sign-in"))),
            },
        ),
        SignInOutcome::Locked { .. } => (
            "locked",
            MessagePage {
                lang: crate::web::i18n::lang().as_str(),
                title: crate::t("locked-title"),
                message: crate::t("locked"),
                link: Some(("/login".into(), crate::t("back-to-sign-in"))),
            },
        ),
    };
    let (reason, message) = refusal;
    state
        .audit
        .append(&audit(AuditKind::SignInRefused, Actor::Anonymous, reason))
        .await?;
    Ok(message.into_response())
}

/// Opens an SSO session for an account that just proved who it is, and returns the cookie to
/// set. A new session id at every sign-in: a cookie planted before cannot be reused. The
/// previous session of the browser ends properly: its OpenID Connect and CAS services are told
/// in the background. (Its SAML SPs would need the browser, which is busy signing in: their
/// own sessions end with their timeouts.)
pub async fn open_session(
    state: &SharedState,
    headers: &HeaderMap,
    peer: SocketAddr,
    account: &Account,
    origin: AuthOrigin,
    upstream: Option<UpstreamLogin>,
) -> Result<axum::http::HeaderValue, AppError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE)
        && let Some(plan) = crate::protocol::logout::end_sso_session(state, old, peer, None).await?
        && let Some(login) = plan.upstream
    {
        // the browser is busy signing in: the provider's own session ends with its timeout
        tracing::info!(provider = %login.provider, "a new sign-in replaced a session that came through an upstream provider");
    }
    let now = state.clock.now();
    let mut session = SsoSession::new(
        crate::keys::random_token(16),
        account.id,
        account.kind,
        origin,
        now,
    );
    let method = match &upstream {
        Some(u) => u.provider.clone(),
        None => "password".to_owned(),
    };
    session.upstream = upstream;
    let id = state.sessions.create(&session).await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::SignIn,
            actor: Actor::Account(account.id),
            subject: Some(account.id),
            source_address: Some(peer.ip().to_string()),
            details: json!({ "reason": method, "profile": account.kind.as_str() }),
        })
        .await?;
    Ok(set_cookie(state, SESSION_COOKIE, &id, None))
}

/// GET /logout: a confirmation form (sign-out changes state, so it is a POST).
pub async fn confirm_logout(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
    let upstream = crate::protocol::oidc::current_session(&state, &headers)
        .await?
        .map(|(_, s)| super::logout_destinations(&state, &s))
        .unwrap_or_default();
    let mut response = LogoutPage {
        csrf,
        client_id: String::new(),
        post_logout_redirect_uri: String::new(),
        state: String::new(),
    }
    .into_response();
    super::let_forms_lead_to(&mut response, upstream.iter().map(String::as_str));
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
    /// When a relying party asked for the logout: where to go back afterwards.
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// POST /logout: ends the SSO session.
pub async fn logout(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let back = crate::protocol::oidc::logout::checked_redirect(
        &state.registry,
        None,
        form.client_id.as_deref(),
        form.post_logout_redirect_uri.as_deref(),
        form.state.as_deref(),
    )
    .map_err(AppError::BadRequest)?;
    let plan = match cookie(&headers, SESSION_COOKIE) {
        Some(id) => {
            let peer = SocketAddr::new(client_ip(&state, peer, &headers), peer.port());
            crate::protocol::logout::end_sso_session(&state, id, peer, None).await?
        }
        None => None,
    };
    let mut response = match plan {
        Some(mut plan) => {
            plan.then = back.map_or(AfterLogout::Page, AfterLogout::Redirect);
            crate::protocol::logout::proceed(&state, plan).await?
        }
        None => Redirect::to(back.as_deref().unwrap_or("/login?deconnecte=1")).into_response(),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state, SESSION_COOKIE));
    Ok(response)
}

//! Recovery (SPEC §2.5, seeds 000 and 002). "Mot de passe oublié ?": the identifier, then a
//! single-use link by e-mail (30 minutes) or a 6-digit code by SMS (10 minutes, 5 tries),
//! then a new password. Only a confirmed e-mail, or a mobile the account confirmed or a
//! school recorded, is used. "Identifiant oublié ?": an e-mail or a mobile, to which the
//! identifiers are sent. Every answer on the page is the same whether an account exists or
//! not; what is known is said only through the channel, to the person who holds it.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::MessagePage;
use super::http::{browser_binding, client_ip, form_field, verify_csrf, with_csrf};
use super::steps::{load, save};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::{Account, AccountState};
use crate::domain::contact::{is_email, normalize_mobile};
use crate::domain::identifier::normalize_typed;
use crate::domain::password_policy::PasswordOwner;
use crate::error::AppError;
use crate::keys::{constant_time_eq, random_token, storage_key};
use crate::notify::messages::{identifiers_reminder, password_reset, sms};

/// How long an e-mailed link works.
const LINK_TTL: i64 = 30 * 60;
/// How long an SMS code works, and how many tries it has.
const CODE_TTL: i64 = 10 * 60;
const CODE_TRIES: u32 = 5;
/// Recovery messages for one identifier, or to one address, in a day.
const SENDS_PER_DAY: u64 = 3;
/// Recovery requests from one network address in an hour.
const REQUESTS_PER_ADDRESS_PER_HOUR: u64 = 30;

/// A recovery in progress: the account, and the SMS code if one was sent.
#[derive(Debug, Serialize, Deserialize)]
struct Recovery {
    /// `None`: nothing was sent (no account, or no way to reach it); no code works.
    account_id: Option<i64>,
    /// The browser the SMS recovery began in (an e-mailed link works in any browser).
    browser: Option<String>,
    expires_at: i64,
    code_hash: Option<String>,
    tries_left: u32,
    /// The code was right (or the link was opened): a new password may be chosen.
    proven: bool,
}

impl super::steps::Steps for Recovery {
    const PREFIX: &'static str = "recovery";
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn browser(&self) -> Option<&str> {
        self.browser.as_deref()
    }
}

fn page(status: StatusCode, title: &str, message: &str, link: (&str, &str)) -> Response {
    (
        status,
        MessagePage {
            lang: crate::web::i18n::lang().as_str(),
            title: title.into(),
            message: message.into(),
            link: Some((link.0.into(), link.1.into())),
        },
    )
        .into_response()
}

fn expired() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        &crate::t("recovery-password-title"),
        &crate::t("recovery-expired"),
        ("/mot-de-passe-oublie", &crate::t("start-again")),
    )
}

/// Counts a request against its limits; false when one is reached.
async fn within_limits(
    state: &AppState,
    ip: std::net::IpAddr,
    target: &str,
) -> Result<bool, AppError> {
    let hour = Duration::from_secs(3600);
    let day = Duration::from_secs(24 * 3600);
    let by_address = state
        .ephemeral
        .incr(&format!("recovery-ip:{ip}"), hour)
        .await?;
    let by_target = state
        .ephemeral
        .incr(&format!("recovery-to:{}", storage_key(target)), day)
        .await?;
    Ok(by_address <= REQUESTS_PER_ADDRESS_PER_HOUR && by_target <= SENDS_PER_DAY)
}

fn too_many() -> Response {
    page(
        StatusCode::TOO_MANY_REQUESTS,
        &crate::t("recovery-too-many-title"),
        &crate::t("recovery-too-many"),
        ("/login", &crate::t("back-to-sign-in")),
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_start.html")]
struct StartPage {
    csrf: String,
    error: Option<String>,
}

/// GET /mot-de-passe-oublie
pub async fn show_password(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        StartPage { csrf, error: None }.into_response()
    })
    .await
}

/// Whether a password may be reset for this account: open, and activated (a never activated
/// account is told to use its letter).
fn resettable(account: &Account) -> bool {
    account.state == AccountState::Active && account.activated_at.is_some()
}

/// POST /mot-de-passe-oublie: the identifier and the channel.
pub async fn submit_password(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let identifier = normalize_typed(field("identifiant"));
    let by_sms = field("canal") == "sms";
    if identifier.is_empty() || identifier.len() > 64 {
        return with_csrf(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, |csrf| {
            StartPage {
                csrf,
                error: Some(crate::t("recovery-identifier-missing")),
            }
            .into_response()
        })
        .await;
    }
    let ip = client_ip(&state, peer, &headers);
    if !within_limits(&state, ip, &format!("{identifier}/{by_sms}")).await? {
        return Ok(too_many());
    }
    let now = state.clock.now();
    let account = state.accounts.by_identifier(&identifier).await?;
    let account = account.filter(|a| a.state == AccountState::Active);
    let mut sent = false;
    let mut recovery = Recovery {
        account_id: None,
        browser: None,
        expires_at: now + CODE_TTL,
        code_hash: None,
        tries_left: CODE_TRIES,
        proven: false,
    };
    if let Some(account) = &account {
        if by_sms {
            let mobiles = state.accounts.recovery_mobiles(account.id).await?;
            // one phone is enough: the account's own, else the first the schools recorded
            if let Some(mobile) = mobiles.first() {
                let text = if resettable(account) {
                    let code = format!(
                        "{:06}",
                        rand::Rng::random_range(&mut rand::rng(), 0..1_000_000u32)
                    );
                    recovery.code_hash = Some(state.secret.hash_generated_secret(&code));
                    recovery.account_id = Some(account.id);
                    format!(
                        "Votre code pour choisir un nouveau mot de passe : {code}. Valable 10 minutes. Ne le communiquez à personne."
                    )
                } else {
                    "Votre compte n'a jamais été activé : connectez-vous avec l'identifiant et le mot de passe provisoire du courrier de l'établissement, ou demandez-en un nouveau à l'établissement.".to_owned()
                };
                state.outbox.enqueue(&sms(mobile, text), now).await?;
                sent = true;
            }
        } else if let (Some(email), true) = (&account.email, account.email_confirmed)
            && resettable(account)
        {
            let token = random_token(32);
            let link_recovery = Recovery {
                account_id: Some(account.id),
                browser: None,
                expires_at: now + LINK_TTL,
                code_hash: None,
                tries_left: CODE_TRIES,
                proven: true,
            };
            save(&state, &token, &link_recovery).await?;
            let link = format!("{}/mot-de-passe-oublie/nouveau?jeton={token}", state.issuer);
            let message = password_reset(
                account.id,
                email,
                &account.first_name,
                &account.identifier,
                &link,
            );
            state.outbox.enqueue(&message, now).await?;
            sent = true;
        }
    }
    if sent {
        state.notifier.poke();
    }
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::RecoveryRequested,
            actor: Actor::Anonymous,
            subject: account.as_ref().map(|a| a.id),
            source_address: Some(ip.to_string()),
            details: json!({ "channel": if by_sms { "sms" } else { "email" }, "sent": sent }),
        })
        .await?;
    if !by_sms {
        return Ok(page(
            StatusCode::OK,
            &crate::t("recovery-check-mail-title"),
            &crate::t("recovery-check-mail"),
            ("/login", &crate::t("back-to-sign-in")),
        ));
    }
    let (browser, set_browser) = browser_binding(&state, &headers);
    recovery.browser = Some(browser);
    let id = random_token(24);
    save(&state, &id, &recovery).await?;
    let mut response = Redirect::to(&format!("/mot-de-passe-oublie/code?id={id}")).into_response();
    if let Some(c) = set_browser {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_code.html")]
struct CodePage {
    csrf: String,
    id: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RecoveryQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    jeton: String,
}

/// GET /mot-de-passe-oublie/code?id=…
pub async fn show_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<RecoveryQuery>,
) -> Result<Response, AppError> {
    if load::<Recovery>(&state, &headers, &q.id, false)
        .await?
        .is_none()
    {
        return Ok(expired());
    }
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        CodePage {
            csrf,
            id: q.id,
            error: None,
        }
        .into_response()
    })
    .await
}

/// POST /mot-de-passe-oublie/code
pub async fn submit_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let id = field("id").to_owned();
    let Some(mut recovery) = load::<Recovery>(&state, &headers, &id, true).await? else {
        return Ok(expired());
    };
    let typed: String = field("code").chars().filter(char::is_ascii_digit).collect();
    let right = recovery.code_hash.as_deref().is_some_and(|hash| {
        constant_time_eq(
            state.secret.hash_generated_secret(&typed).as_bytes(),
            hash.as_bytes(),
        )
    });
    if !right {
        recovery.tries_left = recovery.tries_left.saturating_sub(1);
        if recovery.tries_left == 0 {
            return Ok(expired());
        }
        save(&state, &id, &recovery).await?;
        let tries = recovery.tries_left.to_string();
        let error = crate::web::i18n::t_args("recovery-wrong-code", &[("tries", &tries)]);
        return with_csrf(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, |csrf| {
            CodePage {
                csrf,
                id,
                error: Some(error),
            }
            .into_response()
        })
        .await;
    }
    recovery.proven = true;
    recovery.code_hash = None;
    save(&state, &id, &recovery).await?;
    Ok(Redirect::to(&format!("/mot-de-passe-oublie/nouveau?id={id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_password.html")]
struct PasswordPage {
    csrf: String,
    /// `id` (SMS) or `jeton` (e-mail link), and its value.
    key: &'static str,
    value: String,
    min_length: usize,
    max_length: usize,
    errors: Vec<String>,
}

fn which(q: &RecoveryQuery) -> (&'static str, String) {
    if q.jeton.is_empty() {
        ("id", q.id.clone())
    } else {
        ("jeton", q.jeton.clone())
    }
}

/// GET /mot-de-passe-oublie/nouveau?jeton=… (link) or ?id=… (after the SMS code)
pub async fn show_new(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<RecoveryQuery>,
) -> Result<Response, AppError> {
    let (key, value) = which(&q);
    match load::<Recovery>(&state, &headers, &value, false).await? {
        Some(r) if r.proven => {}
        _ => return Ok(expired()),
    }
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        PasswordPage {
            csrf,
            key,
            value,
            min_length: state.policy.min_length,
            max_length: state.policy.max_length,
            errors: Vec::new(),
        }
        .into_response()
    })
    .await
}

/// POST /mot-de-passe-oublie/nouveau: the new password; every session of the account ends.
pub async fn submit_new(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let q = RecoveryQuery {
        id: field("id").to_owned(),
        jeton: field("jeton").to_owned(),
    };
    let (key, value) = which(&q);
    let Some(recovery) = load::<Recovery>(&state, &headers, &value, true).await? else {
        return Ok(expired());
    };
    let account = match recovery.account_id.filter(|_| recovery.proven) {
        Some(id) => state.accounts.by_id(id).await?.filter(resettable),
        None => None,
    };
    let Some(account) = account else {
        return Ok(expired());
    };
    let problems = state.policy.check(
        field("password"),
        field("confirmation"),
        PasswordOwner {
            first_name: &account.first_name,
            last_name: &account.last_name,
            identifier: &account.identifier,
        },
    );
    if !problems.is_empty() {
        save(&state, &value, &recovery).await?;
        let errors = problems.iter().map(super::i18n::password_problem).collect();
        return with_csrf(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, |csrf| {
            PasswordPage {
                csrf,
                key,
                value,
                min_length: state.policy.min_length,
                max_length: state.policy.max_length,
                errors,
            }
            .into_response()
        })
        .await;
    }
    let hash = state.hasher.hash(field("password")).await?;
    let now = state.clock.now();
    state.accounts.set_password(account.id, &hash, now).await?;
    let ended = state.sessions.end_all_for(account.id).await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::PasswordReset,
            actor: Actor::Account(account.id),
            subject: Some(account.id),
            source_address: Some(client_ip(&state, peer, &headers).to_string()),
            details: json!({ "by": key, "sessions_ended": ended }),
        })
        .await?;
    Ok(page(
        StatusCode::OK,
        &crate::t("recovery-changed-title"),
        &crate::web::i18n::t_args("recovery-changed", &[("identifier", &account.identifier)]),
        ("/login", &crate::t("sign-in")),
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_identifier.html")]
struct IdentifierPage {
    csrf: String,
    error: Option<String>,
}

/// GET /identifiant-oublie
pub async fn show_identifier(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        IdentifierPage { csrf, error: None }.into_response()
    })
    .await
}

/// POST /identifiant-oublie: an e-mail or a mobile; the identifiers are sent there.
pub async fn submit_identifier(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let typed = field("contact").trim().to_lowercase();
    let email = is_email(&typed).then(|| typed.clone());
    let mobile = if email.is_none() {
        normalize_mobile(&typed)
    } else {
        None
    };
    let target = match (&email, &mobile) {
        (Some(e), _) => e.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => {
            return with_csrf(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, |csrf| {
                IdentifierPage {
                    csrf,
                    error: Some(crate::t("recovery-contact-missing")),
                }
                .into_response()
            })
            .await;
        }
    };
    let ip = client_ip(&state, peer, &headers);
    if !within_limits(&state, ip, &target).await? {
        return Ok(too_many());
    }
    let now = state.clock.now();
    let identifiers = match (&email, &mobile) {
        (Some(e), _) => state.accounts.identifiers_by_email(e).await?,
        (None, Some(m)) => state.accounts.identifiers_by_mobile(m).await?,
        (None, None) => Vec::new(),
    };
    if !identifiers.is_empty() {
        let message = match (&email, &mobile) {
            (Some(e), _) => identifiers_reminder(e, &identifiers),
            _ => sms(
                &target,
                format!("Votre identifiant : {}.", identifiers.join(", ")),
            ),
        };
        state.outbox.enqueue(&message, now).await?;
        state.notifier.poke();
    }
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::RecoveryRequested,
            actor: Actor::Anonymous,
            subject: None,
            source_address: Some(ip.to_string()),
            details: json!({ "identifier_reminder": if email.is_some() { "email" } else { "sms" }, "sent": !identifiers.is_empty() }),
        })
        .await?;
    Ok(page(
        StatusCode::OK,
        &crate::t("recovery-identifier-title"),
        &crate::t(if email.is_some() {
            "recovery-identifier-sent-email"
        } else {
            "recovery-identifier-sent-sms"
        }),
        ("/login", &crate::t("back-to-sign-in")),
    ))
}

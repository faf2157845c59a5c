//! First connection of an account the school provisioned (SPEC §2.2, seed 003): signed in
//! with the temporary password, the person chooses their own password (twice, by the
//! policy), then confirms their birth date (a pupil) or each child's (a guardian, who may
//! say "Je ne suis pas le représentant légal de cet élève"); the account is then activated
//! and the sign-in goes on where it was going (a relying party's flow included).

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
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::{Account, AccountKind, AccountState};
use crate::domain::matching::typed_birth_date;
use crate::domain::password_policy::PasswordOwner;
use crate::domain::session::AuthOrigin;
use crate::error::AppError;
use crate::keys::random_token;
use crate::store::{Activation, PendingEmail};

/// How long the first-connection steps may take, from the sign-in, however used.
const ACTIVATION_TTL: i64 = 30 * 60;
/// Wrong birth dates allowed before the steps must start again from the sign-in.
const DATE_TRIES: u32 = 5;
/// Wrong birth dates allowed for one account in a day, over every sign-in.
const DATE_FAILURES_PER_DAY: u64 = 2 * DATE_TRIES as u64;

fn failures_key(account_id: i64) -> String {
    format!("activation-failures:{account_id}")
}

/// First-connection steps in progress (kept in the ephemeral store).
#[derive(Debug, Serialize, Deserialize)]
struct Steps {
    account_id: i64,
    /// The temporary secret the steps began with: another one since (a new letter) ends them.
    temporary_secret_hash: String,
    /// When the steps end, however used.
    expires_at: i64,
    /// Hash of the browser cookie of the sign-in: the steps go on in that browser only.
    browser: String,
    /// Where the sign-in was going.
    next: String,
    /// The chosen password (argon2id), once chosen.
    password_hash: Option<String>,
    tries_left: u32,
}

/// Whether an account is still as first-connection steps need it: active, never activated,
/// not locked, with the same temporary secret, not expired.
fn still_activatable(account: &Account, temporary_secret_hash: &str, now: i64) -> bool {
    account.state == AccountState::Active
        && account.password_hash.is_none()
        && account.activated_at.is_none()
        && account.temporary_secret_hash.as_deref() == Some(temporary_secret_hash)
        && account.temporary_expires_at.is_some_and(|e| e > now)
        && account.locked_until.is_none_or(|l| l <= now)
}

fn contact_school(title: &str, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        MessagePage {
            lang: crate::web::i18n::lang().as_str(),
            title: title.into(),
            message: message.into(),
            link: Some(("/login".into(), crate::t("back-to-sign-in"))),
        },
    )
        .into_response()
}

fn suspended() -> Response {
    contact_school(
        &crate::t("activation-suspended-title"),
        &crate::t("activation-suspended"),
    )
}

async fn failures_today(state: &AppState, account_id: i64) -> Result<u64, AppError> {
    Ok(crate::ephemeral::counter(state.ephemeral.as_ref(), &failures_key(account_id)).await?)
}

/// Called by the sign-in when a temporary password was right: the first-connection steps,
/// unless there is nothing the person could confirm (then the school must help).
pub async fn start(
    state: &SharedState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    account: &Account,
    next: &str,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let Some(temporary_secret_hash) = account.temporary_secret_hash.clone() else {
        return Ok(expired());
    };
    if failures_today(state, account.id).await? >= DATE_FAILURES_PER_DAY {
        return Ok(suspended());
    }
    let nothing_to_confirm = match account.kind {
        AccountKind::Eleve => account.birth_date.is_none(),
        AccountKind::Responsable => state.accounts.children_of(account.id).await?.is_empty(),
    };
    if nothing_to_confirm {
        return Ok(contact_school(
            &crate::t("activation-impossible-title"),
            &crate::t("activation-impossible"),
        ));
    }
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::ActivationStarted,
            actor: Actor::Account(account.id),
            subject: Some(account.id),
            source_address: Some(ip.to_string()),
            details: json!({ "profile": account.kind.as_str() }),
        })
        .await?;
    let (browser, set_browser) = browser_binding(state, headers);
    let id = random_token(24);
    let activation = Steps {
        account_id: account.id,
        temporary_secret_hash,
        expires_at: now + ACTIVATION_TTL,
        browser,
        next: next.to_owned(),
        password_hash: None,
        tries_left: DATE_TRIES,
    };
    put(state, &id, &activation).await?;
    let mut response = Redirect::to(&format!("/premiere-connexion?id={id}")).into_response();
    if let Some(c) = set_browser {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

impl super::steps::Steps for Steps {
    const PREFIX: &'static str = "activation";
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn browser(&self) -> Option<&str> {
        Some(&self.browser)
    }
}

async fn put(state: &AppState, id: &str, activation: &Steps) -> Result<(), AppError> {
    super::steps::save(state, id, activation).await
}

/// The steps in progress for this browser and the account they are for, while the account is
/// still as they found it. `take`: used up (a submit that counts a try), so that two submits
/// at once cannot share one.
async fn load(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    take: bool,
) -> Result<Option<(Steps, Account)>, AppError> {
    let Some(activation) = super::steps::load::<Steps>(state, headers, id, take).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let account = state.accounts.by_id(activation.account_id).await?;
    Ok(account
        .filter(|a| still_activatable(a, &activation.temporary_secret_hash, now))
        .map(|a| (activation, a)))
}

fn expired() -> Response {
    (
        StatusCode::BAD_REQUEST,
        MessagePage {
            lang: crate::web::i18n::lang().as_str(),
            title: crate::t("activation-title"),
            message: crate::t("activation-expired"),
            link: Some(("/login".into(), crate::t("back-to-sign-in"))),
        },
    )
        .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "activation_password.html")]
struct PasswordPage {
    id: String,
    csrf: String,
    name: String,
    identifier: String,
    min_length: usize,
    max_length: usize,
    errors: Vec<String>,
}

/// A child to confirm, on the guardian's confirmation page.
struct ChildLine {
    pupil_id: i64,
    label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "activation_confirm.html")]
struct ConfirmPage {
    id: String,
    csrf: String,
    is_guardian: bool,
    children: Vec<ChildLine>,
    error: Option<String>,
}

async fn password_page(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    account: &Account,
    errors: Vec<String>,
) -> Result<Response, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    with_csrf(state, headers, status, |csrf| {
        PasswordPage {
            id,
            csrf,
            name: account.display_name(),
            identifier: account.identifier.clone(),
            min_length: state.policy.min_length,
            max_length: state.policy.max_length,
            errors,
        }
        .into_response()
    })
    .await
}

async fn confirm_page(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    account: &Account,
    error: Option<String>,
) -> Result<Response, AppError> {
    let is_guardian = account.kind == AccountKind::Responsable;
    let children = if is_guardian {
        state
            .accounts
            .children_of(account.id)
            .await?
            .into_iter()
            // the first name and an initial: enough to say "not mine", little to learn
            .map(|c| ChildLine {
                pupil_id: c.pupil_id,
                label: format!(
                    "{} {}.",
                    c.first_name,
                    c.last_name.chars().next().unwrap_or(' ')
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_csrf(state, headers, status, |csrf| {
        ConfirmPage {
            id,
            csrf,
            is_guardian,
            children,
            error,
        }
        .into_response()
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct StepQuery {
    #[serde(default)]
    id: String,
}

/// GET /premiere-connexion: the step the person is at.
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<StepQuery>,
) -> Result<Response, AppError> {
    let Some((activation, account)) = load(&state, &headers, &q.id, false).await? else {
        return Ok(expired());
    };
    if activation.password_hash.is_none() {
        password_page(&state, &headers, q.id, &account, Vec::new()).await
    } else {
        confirm_page(&state, &headers, q.id, &account, None).await
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

/// POST /premiere-connexion/mot-de-passe: the new password, checked by the policy, kept
/// hashed until the confirmation step.
pub async fn choose_password(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    // read, not taken: a refusal or a busy hasher leaves the step as it was
    let Some((mut activation, account)) = load(&state, &headers, &form.id, false).await? else {
        return Ok(expired());
    };
    let problems = state.policy.check(
        &form.password,
        &form.confirmation,
        PasswordOwner {
            first_name: &account.first_name,
            last_name: &account.last_name,
            identifier: &account.identifier,
        },
    );
    if !problems.is_empty() {
        let errors = problems.iter().map(super::i18n::password_problem).collect();
        return password_page(&state, &headers, form.id, &account, errors).await;
    }
    activation.password_hash = Some(state.hasher.hash(&form.password).await?);
    put(&state, &form.id, &activation).await?;
    Ok(Redirect::to(&format!("/premiere-connexion?id={}", form.id)).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "activation_done.html")]
struct DonePage {
    identifier: String,
    next: String,
    disputed: bool,
    /// The address a confirmation link was sent to.
    email: Option<String>,
}

/// POST /premiere-connexion/confirmer: the birth date (a pupil's own, or each child's for a
/// guardian); right, the account is activated with the chosen password and signed in.
pub async fn confirm(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let id = field("id").to_owned();
    let Some((mut activation, account)) = load(&state, &headers, &id, true).await? else {
        return Ok(expired());
    };
    let Some(password_hash) = activation.password_hash.clone() else {
        return Ok(expired());
    };
    let ip = client_ip(&state, peer, &headers);
    // what has to be right, and the children the guardian says are not theirs
    let mut disputed = Vec::new();
    let right = if account.kind == AccountKind::Responsable {
        let children = state.accounts.children_of(account.id).await?;
        let mut right = true;
        for child in &children {
            if field(&format!("pas-responsable-{}", child.pupil_id)) == "1" {
                disputed.push(child.pupil_id);
                continue;
            }
            right &= typed_birth_date(field(&format!("naissance-{}", child.pupil_id))).as_deref()
                == Some(child.birth_date.as_str());
        }
        if disputed.len() == children.len() {
            // nothing left to confirm: not a wrong date, and nothing activated
            put(&state, &id, &activation).await?;
            let error = "Vous déclarez n'être le représentant légal d'aucun de ces élèves : le compte ne peut pas être activé. Contactez l'établissement, qui corrigera son dossier.".to_owned();
            return confirm_page(&state, &headers, id, &account, Some(error)).await;
        }
        right
    } else {
        typed_birth_date(field("naissance")) == account.birth_date
    };
    let now = state.clock.now();
    let email = field("email").trim().to_lowercase();
    if !email.is_empty() && !crate::domain::contact::is_email(&email) {
        put(&state, &id, &activation).await?;
        let error = format!(
            "L'adresse électronique « {email} » n'est pas valide (par exemple prenom.nom@exemple.fr). Corrigez-la ou laissez le champ vide."
        );
        return confirm_page(&state, &headers, id, &account, Some(error)).await;
    }
    if !right {
        let failures = state
            .ephemeral
            .incr(&failures_key(account.id), Duration::from_secs(24 * 3600))
            .await?;
        state
            .audit
            .append(&NewAuditEvent {
                at: now,
                kind: AuditKind::ActivationRefused,
                actor: Actor::Anonymous,
                subject: Some(account.id),
                source_address: Some(ip.to_string()),
                details: json!({ "reason": "birth_date", "failures_today": failures }),
            })
            .await?;
        activation.tries_left = activation.tries_left.saturating_sub(1);
        if failures >= DATE_FAILURES_PER_DAY {
            return Ok(suspended());
        }
        if activation.tries_left == 0 {
            return Ok(contact_school(
                &crate::t("activation-interrupted-title"),
                &crate::t("activation-interrupted"),
            ));
        }
        put(&state, &id, &activation).await?;
        let tries = activation.tries_left.to_string();
        let error = super::i18n::t_args("activation-date-mismatch", &[("tries", &tries)]);
        return confirm_page(&state, &headers, id, &account, Some(error)).await;
    }
    // the e-mail is the account's once its holder opens the link mailed to it
    let token = random_token(32);
    let token_hash = state.secret.hash_generated_secret(&token);
    let message = crate::notify::messages::email_confirmation(
        account.id,
        &email,
        &account.first_name,
        &account.identifier,
        &format!("{}/confirmer-email?jeton={token}", state.issuer),
    );
    let pending = (!email.is_empty()).then(|| PendingEmail {
        address: &email,
        token_hash: &token_hash,
        expires_at: now + super::email::CONFIRMATION_TTL,
        message: &message,
    });
    let activated = state
        .accounts
        .activate(&Activation {
            account_id: account.id,
            temporary_secret_hash: &activation.temporary_secret_hash,
            password_hash: &password_hash,
            disputed_pupils: &disputed,
            email: pending,
            now,
        })
        .await?;
    if !email.is_empty() {
        state.notifier.poke();
    }
    if !activated {
        // activated, disabled, locked or given a new letter since the steps began
        return Ok(expired());
    }
    state.throttle.record_success(&account.identifier).await?;
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::AccountActivated,
            actor: Actor::Account(account.id),
            subject: Some(account.id),
            source_address: Some(ip.to_string()),
            details: json!({ "disputed_pupils": disputed, "email_given": !email.is_empty() }),
        })
        .await?;
    let peer = SocketAddr::new(ip, peer.port());
    let cookie =
        super::signin::open_session(&state, &headers, peer, &account, AuthOrigin::Local, None)
            .await?;
    let mut response = DonePage {
        identifier: account.identifier.clone(),
        next: activation.next,
        disputed: !disputed.is_empty(),
        email: (!email.is_empty()).then_some(email),
    }
    .into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

//! "Je n'ai pas de compte": a guardian creates their account alone (SPEC §2.3, seed 003
//! method B). Last name, first name and mobile must be those a school recorded for a guardian;
//! a one-time code sent by SMS to that mobile proves it is theirs; each child's birth date
//! confirms the records; the chosen password makes the account, whose identifier is shown.
//! The answer to the first step never says whether a record was found: the SMS does, to the
//! holder of the phone only.

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
use crate::domain::contact::normalize_mobile;
use crate::domain::matching::{PivotNames, typed_birth_date};
use crate::domain::names::fold_for_matching;
use crate::domain::password_policy::PasswordOwner;
use crate::domain::session::AuthOrigin;
use crate::error::AppError;
use crate::keys::{constant_time_eq, random_token, storage_key};
use crate::notify::messages::sms;
use crate::store::{LinkableChild, SignUp, StoreError};

/// How long the whole sign-up may take.
const STEPS_TTL: i64 = 30 * 60;
/// How long a code is valid.
const CODE_TTL: i64 = 10 * 60;
/// Wrong codes allowed for one code.
const CODE_TRIES: u32 = 5;
/// Codes sent to one mobile in a day.
const CODES_PER_MOBILE_PER_DAY: u64 = 3;
/// Sign-ups started from one address in an hour.
const STARTS_PER_ADDRESS_PER_HOUR: u64 = 20;
/// Wrong birth dates allowed.
const DATE_TRIES: u32 = 5;

/// A sign-up in progress (ephemeral store).
#[derive(Debug, Serialize, Deserialize)]
struct Steps {
    browser: String,
    expires_at: i64,
    first_name: String,
    last_name: String,
    mobile: String,
    /// The records found for these names and mobile, without an account; empty when none
    /// (the steps then go on the same way and no code ever works).
    guardian_ids: Vec<i64>,
    code_hash: Option<String>,
    code_expires_at: i64,
    code_tries_left: u32,
    mobile_proven: bool,
    date_tries_left: u32,
    children_confirmed: bool,
}

impl super::steps::Steps for Steps {
    const PREFIX: &'static str = "signup";
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
    fn browser(&self) -> Option<&str> {
        Some(&self.browser)
    }
}

fn expired() -> Response {
    (
        StatusCode::BAD_REQUEST,
        MessagePage {
            lang: "fr",
            title: "Création de compte".into(),
            message:
                "Cette étape a expiré ou a déjà servi. Recommencez la création de votre compte."
                    .into(),
            link: Some(("/inscription".into(), "Recommencer".into())),
        },
    )
        .into_response()
}

fn stopped(message: &str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        MessagePage {
            lang: "fr",
            title: "Création de compte".into(),
            message: message.into(),
            link: Some(("/login".into(), "Retour à la connexion".into())),
        },
    )
        .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "signup_start.html")]
struct StartPage {
    csrf: String,
    last_name: String,
    first_name: String,
    mobile: String,
    error: Option<String>,
}

async fn start_page(
    state: &AppState,
    headers: &HeaderMap,
    (last_name, first_name, mobile): (&str, &str, &str),
    error: Option<String>,
) -> Result<Response, AppError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_csrf(state, headers, status, |csrf| {
        StartPage {
            csrf,
            last_name: last_name.to_owned(),
            first_name: first_name.to_owned(),
            mobile: mobile.to_owned(),
            error,
        }
        .into_response()
    })
    .await
}

/// GET /inscription
pub async fn show_start(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    start_page(&state, &headers, ("", "", ""), None).await
}

/// POST /inscription: names and mobile; a code is sent if they name a guardian without an
/// account. The answer is the same whatever was found.
pub async fn submit_start(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name).trim();
    verify_csrf(&state, &headers, field("csrf")).await?;
    let (last_name, first_name, typed_mobile) = (field("nom"), field("prenom"), field("portable"));
    let typed = (last_name, first_name, typed_mobile);
    if fold_for_matching(last_name).is_empty() || fold_for_matching(first_name).is_empty() {
        let error = "Indiquez votre nom et votre prénom, tels que l'établissement les connaît.";
        return start_page(&state, &headers, typed, Some(error.into())).await;
    }
    let Some(mobile) = normalize_mobile(typed_mobile) else {
        let error =
            "Indiquez un numéro de téléphone portable (06 ou 07, par exemple 06 12 34 56 78).";
        return start_page(&state, &headers, typed, Some(error.into())).await;
    };
    let ip = client_ip(&state, peer, &headers);
    let hour = Duration::from_secs(3600);
    if state
        .ephemeral
        .incr(&format!("signup-starts:{ip}"), hour)
        .await?
        > STARTS_PER_ADDRESS_PER_HOUR
    {
        return Ok(stopped(
            "Trop de demandes depuis cette connexion. Réessayez dans une heure.",
        ));
    }
    let day = Duration::from_secs(24 * 3600);
    if state
        .ephemeral
        .incr(&format!("signup-codes:{}", storage_key(&mobile)), day)
        .await?
        > CODES_PER_MOBILE_PER_DAY
    {
        return Ok(stopped(
            "Trois codes ont déjà été envoyés à ce numéro aujourd'hui. Réessayez demain, ou adressez-vous à l'établissement.",
        ));
    }

    let person = PivotNames {
        given_names: first_name.to_owned(),
        family_name: last_name.to_owned(),
        usage_name: None,
        gender: None,
    };
    let keep =
        |first: &str, last: &str, _civility: Option<&str>| person.matches_record(first, last, None);
    let records: Vec<_> = state
        .external
        .guardians_named(&person.last_names(), &keep)
        .await?
        .into_iter()
        .filter(|g| g.mobile.as_deref() == Some(mobile.as_str()))
        .collect();
    let now = state.clock.now();
    let free: Vec<i64> = records
        .iter()
        .filter(|g| g.account_id.is_none())
        .map(|g| g.guardian_id)
        .collect();
    let known_account = records.iter().find_map(|g| g.account_id);
    let code = crate::keys::one_time_code();
    let code_hash = match (free.is_empty(), known_account) {
        (false, None) => {
            let text = format!(
                "Votre code de création de compte : {code}. Il est valable 10 minutes. Ne le communiquez à personne."
            );
            state.outbox.enqueue(&sms(&mobile, text), now).await?;
            Some(state.secret.hash_generated_secret(&code))
        }
        (_, Some(account_id)) => {
            // they have an account already: the holder of the phone is told which
            if let Some(account) = state.accounts.by_id(account_id).await? {
                let text = format!(
                    "Vous avez déjà un compte, identifiant : {}. Mot de passe oublié ? Utilisez « Mot de passe oublié » sur la page de connexion.",
                    account.identifier
                );
                state.outbox.enqueue(&sms(&mobile, text), now).await?;
            }
            None
        }
        (true, None) => None,
    };
    state.notifier.poke();
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::SignUpStarted,
            actor: Actor::Anonymous,
            subject: known_account,
            source_address: Some(ip.to_string()),
            details: json!({ "records": free.len(), "code_sent": code_hash.is_some() }),
        })
        .await?;
    let (browser, set_browser) = browser_binding(&state, &headers);
    let id = random_token(24);
    let steps = Steps {
        browser,
        expires_at: now + STEPS_TTL,
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        mobile,
        guardian_ids: if code_hash.is_some() {
            free
        } else {
            Vec::new()
        },
        code_hash,
        code_expires_at: now + CODE_TTL,
        code_tries_left: CODE_TRIES,
        mobile_proven: false,
        date_tries_left: DATE_TRIES,
        children_confirmed: false,
    };
    save(&state, &id, &steps).await?;
    let mut response = Redirect::to(&format!("/inscription/etape?id={id}")).into_response();
    if let Some(c) = set_browser {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Template, WebTemplate)]
#[template(path = "signup_code.html")]
struct CodePage {
    csrf: String,
    id: String,
    /// The last two digits of the mobile.
    mobile_end: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signup_children.html")]
struct ChildrenPage {
    csrf: String,
    id: String,
    children: Vec<i64>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signup_password.html")]
struct PasswordPage {
    csrf: String,
    id: String,
    min_length: usize,
    max_length: usize,
    errors: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signup_done.html")]
struct DonePage {
    identifier: String,
    mobile: String,
    children: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StepQuery {
    #[serde(default)]
    id: String,
}

async fn children_of(state: &AppState, steps: &Steps) -> Result<Vec<LinkableChild>, AppError> {
    let person = PivotNames {
        given_names: steps.first_name.clone(),
        family_name: steps.last_name.clone(),
        usage_name: None,
        gender: None,
    };
    let keep = |first: &str, last: &str, _: Option<&str>| person.matches_record(first, last, None);
    let mut children: Vec<LinkableChild> = state
        .external
        .guardians_named(&person.last_names(), &keep)
        .await?
        .into_iter()
        .filter(|g| steps.guardian_ids.contains(&g.guardian_id))
        .flat_map(|g| g.children)
        .collect();
    children.sort_by(|a, b| (&a.birth_date, a.pupil_id).cmp(&(&b.birth_date, b.pupil_id)));
    children.dedup_by_key(|c| c.pupil_id);
    Ok(children)
}

/// The page of the step the sign-up is at.
async fn step_page(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    steps: &Steps,
    error: Option<String>,
) -> Result<Response, AppError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    if !steps.mobile_proven {
        // a normalized mobile is ASCII: digits, maybe a leading +
        let mobile_end = steps.mobile[steps.mobile.len().saturating_sub(2)..].to_owned();
        return with_csrf(state, headers, status, |csrf| {
            CodePage {
                csrf,
                id,
                mobile_end,
                error,
            }
            .into_response()
        })
        .await;
    }
    if !steps.children_confirmed {
        let children = children_of(state, steps)
            .await?
            .iter()
            .map(|c| c.pupil_id)
            .collect();
        return with_csrf(state, headers, status, |csrf| {
            ChildrenPage {
                csrf,
                id,
                children,
                error,
            }
            .into_response()
        })
        .await;
    }
    let errors = error.into_iter().collect();
    with_csrf(state, headers, status, |csrf| {
        PasswordPage {
            csrf,
            id,
            min_length: state.policy.min_length,
            max_length: state.policy.max_length,
            errors,
        }
        .into_response()
    })
    .await
}

/// GET /inscription/etape?id=…
pub async fn show_step(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<StepQuery>,
) -> Result<Response, AppError> {
    match load::<Steps>(&state, &headers, &q.id, false).await? {
        Some(steps) => step_page(&state, &headers, q.id, &steps, None).await,
        None => Ok(expired()),
    }
}

/// POST /inscription/etape: the code, then the children's birth dates, then the password.
pub async fn submit_step(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let id = field("id").to_owned();
    let Some(mut steps) = load::<Steps>(&state, &headers, &id, true).await? else {
        return Ok(expired());
    };
    let now = state.clock.now();
    if !steps.mobile_proven {
        let typed: String = field("code").chars().filter(char::is_ascii_digit).collect();
        let right = steps.code_expires_at > now
            && steps.code_hash.as_deref().is_some_and(|hash| {
                constant_time_eq(
                    state.secret.hash_generated_secret(&typed).as_bytes(),
                    hash.as_bytes(),
                )
            });
        if !right {
            steps.code_tries_left = steps.code_tries_left.saturating_sub(1);
            if steps.code_tries_left == 0 || steps.code_expires_at <= now {
                return Ok(stopped(
                    "Le code est expiré ou a été mal saisi trop de fois. Recommencez la création de votre compte pour recevoir un nouveau code.",
                ));
            }
            save(&state, &id, &steps).await?;
            let error = format!(
                "Code incorrect. Vérifiez le SMS reçu (6 chiffres). Essais restants : {}.",
                steps.code_tries_left
            );
            return step_page(&state, &headers, id, &steps, Some(error)).await;
        }
        steps.mobile_proven = true;
        steps.code_hash = None;
        save(&state, &id, &steps).await?;
        return Ok(Redirect::to(&format!("/inscription/etape?id={id}")).into_response());
    }
    if !steps.children_confirmed {
        let children = children_of(&state, &steps).await?;
        let right = !children.is_empty()
            && children.iter().all(|c| {
                typed_birth_date(field(&format!("naissance-{}", c.pupil_id))).as_deref()
                    == Some(c.birth_date.as_str())
            });
        if !right {
            steps.date_tries_left = steps.date_tries_left.saturating_sub(1);
            if steps.date_tries_left == 0 {
                return Ok(stopped(
                    "Les dates de naissance saisies ne correspondent pas au dossier de l'établissement. Vérifiez-les auprès de l'établissement avant de recommencer.",
                ));
            }
            save(&state, &id, &steps).await?;
            let error = format!(
                "Au moins une date de naissance ne correspond pas au dossier de l'établissement. Essais restants : {}.",
                steps.date_tries_left
            );
            return step_page(&state, &headers, id, &steps, Some(error)).await;
        }
        steps.children_confirmed = true;
        save(&state, &id, &steps).await?;
        return Ok(Redirect::to(&format!("/inscription/etape?id={id}")).into_response());
    }

    let (password, confirmation) = (field("password"), field("confirmation"));
    let base = crate::domain::identifier::base_identifier(&steps.first_name, &steps.last_name)
        .unwrap_or_default();
    let errors: Vec<String> = state
        .policy
        .check(
            password,
            confirmation,
            PasswordOwner {
                first_name: &steps.first_name,
                last_name: &steps.last_name,
                identifier: &base,
            },
        )
        .iter()
        .map(super::i18n::password_problem)
        .collect();
    if !errors.is_empty() {
        save(&state, &id, &steps).await?;
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return with_csrf(&state, &headers, status, |csrf| {
            PasswordPage {
                csrf,
                id,
                min_length: state.policy.min_length,
                max_length: state.policy.max_length,
                errors,
            }
            .into_response()
        })
        .await;
    }
    let children = children_of(&state, &steps).await?;
    let password_hash = state.hasher.hash(password).await?;
    let created = state
        .accounts
        .sign_up(&SignUp {
            guardian_ids: &steps.guardian_ids,
            first_name: &steps.first_name,
            last_name: &steps.last_name,
            mobile: &steps.mobile,
            password_hash: &password_hash,
            now,
        })
        .await;
    let created = match created {
        Ok(created) => created,
        Err(StoreError::Conflict(_)) => return Ok(expired()),
        Err(e) => return Err(e.into()),
    };
    let ip = client_ip(&state, peer, &headers);
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::AccountCreated,
            actor: Actor::Account(created.account_id),
            subject: Some(created.account_id),
            source_address: Some(ip.to_string()),
            details: json!({ "by": "mobile", "records": steps.guardian_ids.len() }),
        })
        .await?;
    let Some(account) = state.accounts.by_id(created.account_id).await? else {
        return Ok(expired());
    };
    let peer = SocketAddr::new(ip, peer.port());
    let cookie =
        super::signin::open_session(&state, &headers, peer, &account, AuthOrigin::Local, None)
            .await?;
    let mut response = DonePage {
        identifier: created.identifier,
        mobile: steps.mobile,
        children: children
            .iter()
            .map(|c| match &c.class_name {
                Some(class) => format!(
                    "{} {} ({class}, {})",
                    c.first_name, c.last_name, c.school_name
                ),
                None => format!("{} {} ({})", c.first_name, c.last_name, c.school_name),
            })
            .collect(),
    }
    .into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

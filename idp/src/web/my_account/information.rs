//! "Mes informations": the password (current one, then the new one twice), the e-mail address
//! (pending until the link mailed to it is opened) and the mobile (pending until the code sent
//! by SMS is typed). None of it is written back to the schools' records; the page says so.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Guardian, Holder, PasswordCheck, SignedIn, TOO_MANY_TRIES, Tabs, confirm_password};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::contact::{is_email, normalize_mobile};
use crate::domain::password_policy::PasswordOwner;
use crate::error::AppError;
use crate::keys::{one_time_code, random_token, storage_key};
use crate::notify::messages::{email_confirmation, sms};
use crate::store::{MobileConfirmation, PendingEmail, PendingMobile};
use crate::web::MessagePage;
use crate::web::http::{client_ip, form_field, verify_csrf, with_csrf};

/// How long a code sent to a new mobile is valid.
const CODE_TTL: i64 = 10 * 60;
/// Wrong codes allowed for one code.
const CODE_TRIES: i64 = 5;
/// Codes sent for one account in a day, and to one number in a day.
const CODES_PER_DAY: u64 = 3;
/// Confirmation mails sent for one account in a day.
const MAILS_PER_DAY: u64 = 5;

#[derive(Template, WebTemplate)]
#[template(path = "account_information.html")]
struct InformationPage {
    tabs: Tabs,
    csrf: String,
    name: String,
    identifier: String,
    profile: &'static str,
    is_guardian: bool,
    email: Option<String>,
    pending_email: Option<String>,
    mobile: Option<String>,
    pending_mobile: Option<String>,
    has_password: bool,
    /// Signs in only through this provider: its password is changed there (seed 001).
    provider_only: Option<String>,
    min_length: usize,
    max_length: usize,
    /// What the last action did.
    done: Option<&'static str>,
    password_errors: Vec<String>,
    email_error: Option<String>,
    mobile_error: Option<String>,
    /// What was typed in the e-mail and mobile fields, shown again with their error.
    typed_email: String,
    typed_mobile: String,
}

/// Errors to show on the page, one form's at a time.
#[derive(Default)]
struct Problems {
    password: Vec<String>,
    email: Option<String>,
    mobile: Option<String>,
    typed_email: String,
    typed_mobile: String,
}

fn done_message(key: &str) -> Option<&'static str> {
    Some(match key {
        "mot-de-passe" => {
            "Votre mot de passe est changé. Il sera demandé à votre prochaine connexion ; vos autres connexions en cours ont été fermées."
        }
        "email" => {
            "Un lien de confirmation vient d'être envoyé à votre nouvelle adresse. Ouvrez-le dans les 24 heures pour la valider."
        }
        "email-renvoye" => "Le mail de confirmation a été renvoyé.",
        "portable" => "Votre numéro de téléphone portable est confirmé.",
        "deja" => "Cette adresse est déjà celle de votre compte.",
        _ => return None,
    })
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    holder: &Holder,
    done: Option<&'static str>,
    problems: Problems,
) -> Result<Response, AppError> {
    let account = &holder.account;
    let provider_only = if account.password_hash.is_none() {
        let linked = state.external.providers_of(account.id).await?;
        let from_session = holder.session.upstream.as_ref().map(|u| u.provider.clone());
        from_session
            .or_else(|| linked.first().cloned())
            .map(|p| state.upstream.get(&p).map_or(p, |u| u.config.label.clone()))
    } else {
        None
    };
    let status =
        if problems.password.is_empty() && problems.email.is_none() && problems.mobile.is_none() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
    with_csrf(state, headers, status, |csrf| {
        InformationPage {
            tabs: Tabs {
                current: "informations",
                guardian: holder.is_guardian(),
            },
            csrf,
            name: account.display_name(),
            identifier: account.identifier.clone(),
            profile: account.kind.label_fr(),
            is_guardian: holder.is_guardian(),
            email: account.email.clone().filter(|_| account.email_confirmed),
            pending_email: account.pending_email.clone(),
            mobile: account.mobile.clone(),
            pending_mobile: account.pending_mobile.clone(),
            has_password: account.password_hash.is_some(),
            provider_only,
            min_length: state.policy.min_length,
            max_length: state.policy.max_length,
            done,
            password_errors: problems.password,
            email_error: problems.email,
            mobile_error: problems.mobile,
            typed_email: problems.typed_email,
            typed_mobile: problems.typed_mobile,
        }
        .into_response()
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    fait: String,
}

/// GET /compte: "Mes informations".
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
    SignedIn(holder): SignedIn,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let done = done_message(&q.fait);
    page(&state, &headers, &holder, done, Problems::default()).await
}

fn audit(
    holder: &Holder,
    ip: std::net::IpAddr,
    kind: AuditKind,
    now: i64,
    details: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        at: now,
        kind,
        actor: Actor::Account(holder.account.id),
        subject: Some(holder.account.id),
        source_address: Some(ip.to_string()),
        details,
    }
}

/// POST /compte/mot-de-passe: the current password, then the new one twice. The other
/// sessions of the account end; this browser stays signed in.
pub async fn change_password(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    SignedIn(holder): SignedIn,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let refuse = |message: &str| Problems {
        password: vec![message.to_owned()],
        ..Problems::default()
    };
    let account = &holder.account;
    let Some(current_hash) = account.password_hash.clone() else {
        let problems = refuse(
            "Votre compte n'a pas de mot de passe ici : changez-le auprès du compte que vous utilisez avec FranceConnect.",
        );
        return page(&state, &headers, &holder, None, problems).await;
    };
    let ip = client_ip(&state, peer, &headers);
    let wrong = "Votre mot de passe actuel est incorrect.";
    if let Some(refusal) =
        holder_proven(&state, &headers, &holder, ip, field("current"), wrong).await?
    {
        return page(&state, &headers, &holder, None, refuse(&refusal)).await;
    }
    let current = field("current");
    let (password, confirmation) = (field("password"), field("confirmation"));
    let mut errors: Vec<String> = state
        .policy
        .check(
            password,
            confirmation,
            PasswordOwner {
                first_name: &account.first_name,
                last_name: &account.last_name,
                identifier: &account.identifier,
            },
        )
        .iter()
        .map(crate::web::i18n::password_problem)
        .collect();
    if errors.is_empty() && password == current {
        errors.push("Le nouveau mot de passe doit être différent de l'actuel.".into());
    }
    if !errors.is_empty() {
        let problems = Problems {
            password: errors,
            ..Problems::default()
        };
        return page(&state, &headers, &holder, None, problems).await;
    }
    let new_hash = state.hasher.hash(password).await?;
    let now = state.clock.now();
    if !state
        .accounts
        .change_password(
            account.id,
            &current_hash,
            &new_hash,
            &holder.session.sid,
            now,
        )
        .await?
    {
        let problems = refuse(
            "Votre mot de passe a été changé entre-temps. Recommencez avec le mot de passe actuel.",
        );
        return page(&state, &headers, &holder, None, problems).await;
    }
    let ended = state
        .sessions
        .end_all_but(account.id, &holder.session_id)
        .await?;
    state
        .audit
        .append(&audit(
            &holder,
            ip,
            AuditKind::PasswordChanged,
            now,
            json!({ "sessions_ended": ended }),
        ))
        .await?;
    Ok(Redirect::to("/compte?fait=mot-de-passe").into_response())
}

/// The current password typed with a change of password, e-mail or mobile, checked as a
/// sign-in is (throttled): a session left open on a shared computer must not be enough to
/// take the account or its recovery channels. An account without a password (FranceConnect
/// only) has nothing to type. `Some(refusal)` when it is not proven (`wrong`: the answer to a
/// wrong password).
async fn holder_proven(
    state: &AppState,
    headers: &HeaderMap,
    holder: &Holder,
    ip: std::net::IpAddr,
    typed: &str,
    wrong: &str,
) -> Result<Option<String>, AppError> {
    if holder.account.password_hash.is_none() {
        return Ok(None);
    }
    Ok(
        match confirm_password(state, headers, &holder.account, ip, typed).await? {
            PasswordCheck::Confirmed => None,
            PasswordCheck::Wrong => Some(wrong.to_owned()),
            PasswordCheck::TooManyTries => Some(TOO_MANY_TRIES.to_owned()),
        },
    )
}

/// What a change of e-mail or mobile answers to a wrong current password.
const WRONG_FOR_CONTACT: &str =
    "Votre mot de passe actuel est incorrect : il est demandé pour changer d'adresse ou de numéro.";

/// Counts one more of something limited per day; false once over `limit`.
async fn within_daily_limit(state: &AppState, key: &str, limit: u64) -> Result<bool, AppError> {
    let day = Duration::from_secs(24 * 3600);
    Ok(state.ephemeral.incr(key, day).await? <= limit)
}

/// Sends the confirmation link for `address` and makes it the pending e-mail.
async fn send_confirmation(
    state: &AppState,
    holder: &Holder,
    address: &str,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let token = random_token(32);
    let token_hash = state.secret.hash_generated_secret(&token);
    let message = email_confirmation(
        holder.account.id,
        address,
        &holder.account.first_name,
        &holder.account.identifier,
        &format!("{}/confirmer-email?jeton={token}", state.issuer),
    );
    state
        .accounts
        .request_email(
            holder.account.id,
            &PendingEmail {
                address,
                token_hash: &token_hash,
                expires_at: now + crate::web::email::CONFIRMATION_TTL,
                message: &message,
            },
            now,
        )
        .await?;
    state.notifier.poke();
    Ok(())
}

/// Confirmation mails are limited per account and per address.
async fn mails_allowed(state: &AppState, holder: &Holder, address: &str) -> Result<bool, AppError> {
    let per_account = format!("email-requests:{}", holder.account.id);
    let per_address = format!("email-requests-to:{}", storage_key(address));
    Ok(
        within_daily_limit(state, &per_account, MAILS_PER_DAY).await?
            && within_daily_limit(state, &per_address, MAILS_PER_DAY).await?,
    )
}

const TOO_MANY_MAILS: &str =
    "Trop de mails de confirmation ont été envoyés aujourd'hui. Réessayez demain.";

/// POST /compte/email: a new e-mail address, confirmed by the link mailed to it.
pub async fn change_email(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let typed: String = field("email").trim().chars().take(254).collect();
    let address = typed.to_lowercase();
    let refuse = |message: String| Problems {
        email: Some(message),
        typed_email: typed.clone(),
        ..Problems::default()
    };
    if !is_email(&address) {
        let problems = refuse(format!(
            "L'adresse électronique « {typed} » n'est pas valide (par exemple prenom.nom@exemple.fr)."
        ));
        return page(&state, &headers, &holder, None, problems).await;
    }
    let account = &holder.account;
    if account.email_confirmed && account.email.as_deref() == Some(address.as_str()) {
        return Ok(Redirect::to("/compte?fait=deja").into_response());
    }
    let ip = client_ip(&state, peer, &headers);
    if let Some(refusal) = holder_proven(
        &state,
        &headers,
        &holder,
        ip,
        field("current"),
        WRONG_FOR_CONTACT,
    )
    .await?
    {
        return page(&state, &headers, &holder, None, refuse(refusal)).await;
    }
    if !mails_allowed(&state, &holder, &address).await? {
        let problems = refuse(TOO_MANY_MAILS.into());
        return page(&state, &headers, &holder, None, problems).await;
    }
    send_confirmation(&state, &holder, &address).await?;
    let now = state.clock.now();
    state
        .audit
        .append(&audit(
            &holder,
            ip,
            AuditKind::EmailChangeRequested,
            now,
            json!({}),
        ))
        .await?;
    Ok(Redirect::to("/compte?fait=email").into_response())
}

/// POST /compte/email/renvoyer: "Renvoyer le mail" for the pending address (a new link; the
/// previous one stops working).
pub async fn resend_email(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, form_field(&form, "csrf")).await?;
    let Some(address) = holder.account.pending_email.clone() else {
        return Ok(Redirect::to("/compte").into_response());
    };
    if !mails_allowed(&state, &holder, &address).await? {
        let problems = Problems {
            email: Some(TOO_MANY_MAILS.into()),
            ..Problems::default()
        };
        return page(&state, &headers, &holder, None, problems).await;
    }
    send_confirmation(&state, &holder, &address).await?;
    Ok(Redirect::to("/compte?fait=email-renvoye").into_response())
}

/// Sends a new code to `number` and makes it the pending mobile; `Err` with the refusal when
/// too many codes went out today.
async fn send_code(
    state: &AppState,
    holder: &Holder,
    number: &str,
) -> Result<Result<(), String>, AppError> {
    let per_account = format!("mobile-codes:{}", holder.account.id);
    let per_number = format!("mobile-codes-to:{}", storage_key(number));
    if !within_daily_limit(state, &per_account, CODES_PER_DAY).await?
        || !within_daily_limit(state, &per_number, CODES_PER_DAY).await?
    {
        return Ok(Err(
            "Trois codes ont déjà été envoyés aujourd'hui. Réessayez demain.".into(),
        ));
    }
    let now = state.clock.now();
    let code = one_time_code();
    let code_hash = state.secret.hash_generated_secret(&code);
    let mut message = sms(
        number,
        format!(
            "Votre code de confirmation de numéro : {code}. Il est valable 10 minutes. Ne le communiquez à personne."
        ),
    );
    message.account_id = Some(holder.account.id);
    state
        .accounts
        .request_mobile(
            holder.account.id,
            &PendingMobile {
                number,
                code_hash: &code_hash,
                expires_at: now + CODE_TTL,
                tries: CODE_TRIES,
                message: &message,
            },
            now,
        )
        .await?;
    state.notifier.poke();
    Ok(Ok(()))
}

/// POST /compte/portable: a new mobile, confirmed by the code sent to it.
pub async fn change_mobile(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let typed: String = field("portable").trim().chars().take(32).collect();
    let refuse = |message: String| Problems {
        mobile: Some(message),
        typed_mobile: typed.clone(),
        ..Problems::default()
    };
    let Some(number) = normalize_mobile(&typed) else {
        let problems = refuse(
            "Indiquez un numéro de téléphone portable (06 ou 07, par exemple 06 12 34 56 78)."
                .into(),
        );
        return page(&state, &headers, &holder, None, problems).await;
    };
    if holder.account.mobile.as_deref() == Some(number.as_str()) {
        let problems = refuse("Ce numéro est déjà celui de votre compte.".into());
        return page(&state, &headers, &holder, None, problems).await;
    }
    let ip = client_ip(&state, peer, &headers);
    if let Some(refusal) = holder_proven(
        &state,
        &headers,
        &holder,
        ip,
        field("current"),
        WRONG_FOR_CONTACT,
    )
    .await?
    {
        return page(&state, &headers, &holder, None, refuse(refusal)).await;
    }
    if let Err(refusal) = send_code(&state, &holder, &number).await? {
        return page(&state, &headers, &holder, None, refuse(refusal)).await;
    }
    let now = state.clock.now();
    state
        .audit
        .append(&audit(
            &holder,
            ip,
            AuditKind::MobileChangeRequested,
            now,
            json!({}),
        ))
        .await?;
    Ok(Redirect::to("/compte/portable/code").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "account_mobile_code.html")]
struct CodePage {
    tabs: Tabs,
    csrf: String,
    /// The last two digits of the pending mobile.
    mobile_end: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn code_page(
    state: &AppState,
    headers: &HeaderMap,
    holder: &Holder,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let Some(number) = holder.account.pending_mobile.as_deref() else {
        return Ok(Redirect::to("/compte").into_response());
    };
    // a normalized mobile is ASCII: digits, maybe a leading +
    let mobile_end = number[number.len().saturating_sub(2)..].to_owned();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_csrf(state, headers, status, |csrf| {
        CodePage {
            tabs: Tabs {
                current: "informations",
                guardian: true,
            },
            csrf,
            mobile_end,
            notice,
            error,
        }
        .into_response()
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    renvoye: String,
}

/// GET /compte/portable/code
pub async fn show_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Query(q): Query<CodeQuery>,
) -> Result<Response, AppError> {
    let notice = (!q.renvoye.is_empty()).then_some("Un nouveau code vient d'être envoyé.");
    code_page(&state, &headers, &holder, notice, None).await
}

/// POST /compte/portable/code: the code received by SMS.
pub async fn submit_code(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    if holder.account.pending_mobile.is_none() {
        return Ok(Redirect::to("/compte").into_response());
    }
    let typed: String = field("code")
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let now = state.clock.now();
    let hash = state.secret.hash_generated_secret(&typed);
    match state
        .accounts
        .confirm_mobile(holder.account.id, &hash, now)
        .await?
    {
        MobileConfirmation::Confirmed(_) => {
            let ip = client_ip(&state, peer, &headers);
            state
                .audit
                .append(&audit(
                    &holder,
                    ip,
                    AuditKind::MobileConfirmed,
                    now,
                    json!({}),
                ))
                .await?;
            Ok(Redirect::to("/compte?fait=portable").into_response())
        }
        MobileConfirmation::Wrong { tries_left } if tries_left > 0 => {
            let error = format!(
                "Code incorrect. Vérifiez le SMS reçu (6 chiffres). Essais restants : {tries_left}."
            );
            code_page(&state, &headers, &holder, None, Some(error)).await
        }
        MobileConfirmation::Wrong { .. } | MobileConfirmation::Expired => {
            let error = "Ce code n'est plus valable : il a expiré ou a été mal saisi trop de fois. Cliquez sur « Je n'ai pas reçu le code par SMS » pour en recevoir un nouveau.".to_owned();
            code_page(&state, &headers, &holder, None, Some(error)).await
        }
    }
}

/// POST /compte/portable/renvoyer: "Je n'ai pas reçu le code par SMS".
pub async fn resend_code(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, form_field(&form, "csrf")).await?;
    let Some(number) = holder.account.pending_mobile.clone() else {
        return Ok(Redirect::to("/compte").into_response());
    };
    match send_code(&state, &holder, &number).await? {
        Ok(()) => Ok(Redirect::to("/compte/portable/code?renvoye=1").into_response()),
        Err(refusal) => {
            let page = MessagePage {
                lang: "fr",
                title: "Code non envoyé".into(),
                message: refusal,
                link: Some(("/compte".into(), "Retour à Mon compte".into())),
            };
            Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response())
        }
    }
}

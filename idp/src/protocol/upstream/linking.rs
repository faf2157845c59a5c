//! "Rattacher des élèves" (SPEC §2.4): the first sign-in of an upstream identity is matched to
//! the schools' guardian records, then every child's birth date must be given before the
//! identity is linked (to the records' account, or a new one); and "Relier FranceConnect"
//! from an account signed in with its password.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http::{EXPIRED, FLOW_TTL, back_to_sign_in, message};
use super::{LINK_TRIES, UpstreamIdentity, UpstreamProvider, pivot};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::matching::{RecordMatch, resolve, typed_birth_date};
use crate::domain::session::{AuthOrigin, UpstreamLogin};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::store::{ExternalLink, GuardianCandidate, StoreError};
use crate::web::http::{client_ip, csrf_token, form_field, is_bound_browser, verify_csrf};
use crate::web::signin::open_session;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/rattacher-des-eleves", get(link_intro))
        .route(
            "/rattacher-des-eleves/dates",
            get(link_form).post(link_submit),
        )
}

fn link_key(id: &str) -> String {
    format!("upstream-link:{}", storage_key(id))
}

/// A child to confirm. Before the dates are right, the form shows only its rank by age:
/// someone who merely shares a guardian's names learns nothing of the children.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChildToConfirm {
    pupil_id: i64,
    /// First name and initial ("Léa M."), for the summary once linked.
    label: String,
    school: String,
    class: Option<String>,
    birth_date: String,
}

/// A provider's identity matched to one person's guardian records, waiting for the
/// children's birth dates.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLink {
    provider: String,
    subject: String,
    id_token: String,
    browser: String,
    next: String,
    guardian_ids: Vec<i64>,
    account_id: Option<i64>,
    first_name: String,
    last_name: String,
    mobile: Option<String>,
    children: Vec<ChildToConfirm>,
    tries_left: u32,
}

/// The first sign-in of an identity at `provider`: its guardian records, then off to
/// "Rattacher des élèves"; or a page that says why not.
pub(super) async fn first_time(
    state: &SharedState,
    provider: &UpstreamProvider,
    identity: UpstreamIdentity,
    browser: String,
    next: String,
) -> Result<Response, AppError> {
    let label = provider.config.label.clone();
    let provider_id = provider.config.id.clone();
    let Some(pivot) = pivot(&identity.claims, &provider.config.claims) else {
        return Ok(back_to_sign_in(
            StatusCode::BAD_GATEWAY,
            "Connexion impossible",
            format!(
                "{label} n'a pas transmis vos nom et prénoms : votre compte ne peut pas être retrouvé."
            ),
        ));
    };
    let names = pivot.names.clone();
    let candidates: Vec<GuardianCandidate> = state
        .external
        .guardians_named(&names.last_names(), &move |first, last, civility| {
            names.matches_record(first, last, civility)
        })
        .await?;
    let records = match resolve(candidates, |g| g.account_id) {
        RecordMatch::One(records) => records,
        RecordMatch::Nobody => {
            return Ok(message(
                StatusCode::OK,
                "Aucun dossier trouvé",
                format!(
                    "Aucun établissement n'a enregistré de représentant légal à votre nom ({} {}). Vérifiez auprès de l'établissement de votre enfant que vos nom et prénom y sont bien enregistrés, ou créez un compte avec le numéro de portable que vous avez donné à l'établissement.",
                    pivot.names.given_names, pivot.names.family_name
                ),
                Some(("/inscription", "Je n'ai pas de compte")),
            ));
        }
        RecordMatch::Several => {
            return Ok(message(
                StatusCode::OK,
                "Plusieurs dossiers possibles",
                "Plusieurs représentants légaux portent vos nom et prénom dans les établissements : votre identité ne permet pas de retrouver votre dossier avec certitude. Connectez-vous avec votre identifiant et votre mot de passe, ou créez un compte avec le numéro de portable que vous avez donné à l'établissement.".into(),
                Some(("/inscription", "Je n'ai pas de compte")),
            ));
        }
    };
    let first = &records[0];
    let guardian_ids: Vec<i64> = records.iter().map(|r| r.guardian_id).collect();
    if link_failures(state, &guardian_ids).await? >= LINK_FAILURES_PER_DAY {
        return Ok(too_many_failures());
    }
    let mut children: Vec<ChildToConfirm> = Vec::new();
    for record in &records {
        for child in &record.children {
            if children.iter().any(|c| c.pupil_id == child.pupil_id) {
                continue;
            }
            children.push(ChildToConfirm {
                pupil_id: child.pupil_id,
                label: format!(
                    "{} {}.",
                    child.first_name,
                    child.last_name.chars().next().unwrap_or(' ')
                ),
                school: child.school_name.clone(),
                class: child.class_name.clone(),
                birth_date: child.birth_date.clone(),
            });
        }
    }
    // the form names them only by their order: who they are is shown once proven
    children.sort_by(|a, b| {
        a.birth_date
            .cmp(&b.birth_date)
            .then(a.pupil_id.cmp(&b.pupil_id))
    });
    if children.is_empty() {
        return Ok(message(
            StatusCode::OK,
            "Aucun élève à rattacher",
            "Votre dossier de représentant légal ne compte plus d'élève scolarisé : il n'y a rien à rattacher. Contactez l'établissement si votre enfant y est inscrit.".into(),
            Some(("/login?profil=responsable", "Retour à la connexion")),
        ));
    }
    let link = PendingLink {
        provider: provider_id,
        subject: identity.subject,
        id_token: identity.id_token,
        browser,
        next,
        guardian_ids,
        account_id: first.account_id,
        first_name: first.first_name.clone(),
        last_name: first.last_name.clone(),
        mobile: first.mobile.clone(),
        children,
        tries_left: LINK_TRIES,
    };
    let id = random_token(24);
    store_link(state, &id, &link).await?;
    Ok(Redirect::to(&format!("/rattacher-des-eleves?id={id}")).into_response())
}

/// The end of "Relier FranceConnect" from a signed-in account: the identity must name the
/// account's holder, and be nobody else's.
pub(super) async fn link_to_account(
    state: &SharedState,
    headers: &HeaderMap,
    peer: SocketAddr,
    account_id: i64,
    provider: &super::UpstreamProvider,
    identity: &super::UpstreamIdentity,
) -> Result<Response, AppError> {
    let label = &provider.config.label;
    let home = Some(("/", "Retour à mes services"));
    // the same account must still be signed in in this browser
    let session = crate::protocol::oidc::current_session(state, headers).await?;
    let Some(account) = state.accounts.by_id(account_id).await? else {
        return Err(AppError::NotFound);
    };
    if session.map(|(_, s)| s.account_id) != Some(account_id) {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion expirée",
            EXPIRED.into(),
        ));
    }
    let names_match = pivot(&identity.claims, &provider.config.claims).is_some_and(|p| {
        p.names
            .matches_record(&account.first_name, &account.last_name, None)
    });
    if !names_match {
        return Ok(message(
            StatusCode::FORBIDDEN,
            "Identité différente",
            format!(
                "L'identité transmise par {label} ne correspond pas au titulaire de ce compte ({}) : elle n'a pas été reliée.",
                account.display_name()
            ),
            home,
        ));
    }
    let provider_id = &provider.config.id;
    match state
        .external
        .add_external_identity(
            provider_id,
            &identity.subject,
            account_id,
            state.clock.now(),
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Ok(message(
                StatusCode::CONFLICT,
                "Déjà relié",
                format!(
                    "Cette identité {label} est déjà reliée à un compte, ou ce compte à une autre identité {label}."
                ),
                home,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit
        .append(&NewAuditEvent {
            at: state.clock.now(),
            kind: AuditKind::ExternalIdentityLinked,
            actor: Actor::Account(account_id),
            subject: Some(account_id),
            source_address: Some(peer.ip().to_string()),
            details: json!({ "provider": provider_id, "from": "account" }),
        })
        .await?;
    Ok(message(
        StatusCode::OK,
        "FranceConnect est relié à votre compte",
        format!("Vous pourrez désormais vous connecter avec {label}, sans votre mot de passe."),
        home,
    ))
}

/// Wrong birth dates allowed for one set of guardian records in a day, over every attempt
/// (signing in again gives a new attempt, not new tries).
const LINK_FAILURES_PER_DAY: u64 = 2 * LINK_TRIES as u64;

fn failures_key(guardian_ids: &[i64]) -> String {
    let mut ids = guardian_ids.to_vec();
    ids.sort_unstable();
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("upstream-link-failures:{}", ids.join(","))
}

/// The wrong birth dates given today for these records.
async fn link_failures(state: &AppState, guardian_ids: &[i64]) -> Result<u64, AppError> {
    Ok(crate::ephemeral::counter(state.ephemeral.as_ref(), &failures_key(guardian_ids)).await?)
}

fn too_many_failures() -> Response {
    back_to_sign_in(
        StatusCode::TOO_MANY_REQUESTS,
        "Rattachement suspendu",
        "Trop de dates de naissance erronées ont été saisies pour ce dossier aujourd'hui. Par sécurité, le rattachement est suspendu jusqu'à demain ; vous pouvez aussi contacter l'établissement de votre enfant.".into(),
    )
}

async fn store_link(state: &AppState, id: &str, link: &PendingLink) -> Result<(), AppError> {
    let json = serde_json::to_string(link).map_err(|e| AppError::Internal(e.to_string()))?;
    state.ephemeral.put(&link_key(id), &json, FLOW_TTL).await?;
    Ok(())
}

async fn load_link(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Option<PendingLink>, AppError> {
    Ok(state
        .ephemeral
        .get(&link_key(id))
        .await?
        .and_then(|j| serde_json::from_str::<PendingLink>(&j).ok())
        .filter(|l| is_bound_browser(headers, &l.browser)))
}

#[derive(Debug, Default, Deserialize)]
struct LinkQuery {
    #[serde(default)]
    id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "link_intro.html")]
struct LinkIntroPage {
    id: String,
    label: String,
    first_name: String,
}

/// GET /rattacher-des-eleves: the guardian was recognised; the next step is to link the
/// children.
async fn link_intro(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Result<Response, AppError> {
    let Some(link) = load_link(&state, &headers, &q.id).await? else {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion expirée",
            EXPIRED.into(),
        ));
    };
    let label = state
        .upstream
        .get(&link.provider)
        .map(|p| p.config.label.clone())
        .unwrap_or_default();
    Ok(LinkIntroPage {
        id: q.id,
        label,
        first_name: link.first_name.clone(),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "link_dates.html")]
struct LinkDatesPage {
    id: String,
    csrf: String,
    children: Vec<ChildToConfirm>,
    error: Option<String>,
}

async fn dates_page(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    link: &PendingLink,
    error: Option<String>,
) -> Result<Response, AppError> {
    let (csrf, browser_cookie) = csrf_token(state, headers).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        LinkDatesPage {
            id,
            csrf,
            children: link.children.clone(),
            error,
        },
    )
        .into_response();
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

/// GET /rattacher-des-eleves/dates: one birth date to give per child.
async fn link_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Result<Response, AppError> {
    let Some(link) = load_link(&state, &headers, &q.id).await? else {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion expirée",
            EXPIRED.into(),
        ));
    };
    dates_page(&state, &headers, q.id, &link, None).await
}

#[derive(Template, WebTemplate)]
#[template(path = "link_summary.html")]
struct SummaryPage {
    identifier: String,
    created: bool,
    email: Option<String>,
    mobile: Option<String>,
    children: Vec<ChildToConfirm>,
    next: String,
}

/// POST /rattacher-des-eleves/dates: every child's birth date must be right; then the
/// identity is linked (an account is created if the records had none), the session opens
/// and the summary shows what the account holds.
async fn link_submit(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let id = field("id").to_owned();
    // taken, so that two submits at once cannot both use the same tries
    let Some(mut link) = state
        .ephemeral
        .take(&link_key(&id))
        .await?
        .and_then(|j| serde_json::from_str::<PendingLink>(&j).ok())
        .filter(|l| is_bound_browser(&headers, &l.browser))
    else {
        return Ok(back_to_sign_in(
            StatusCode::BAD_REQUEST,
            "Connexion expirée",
            EXPIRED.into(),
        ));
    };
    let all_right = link.children.iter().all(|c| {
        typed_birth_date(field(&format!("naissance-{}", c.pupil_id))).as_deref()
            == Some(c.birth_date.as_str())
    });
    if !all_right {
        let day = Duration::from_secs(24 * 3600);
        let failures = state
            .ephemeral
            .incr(&failures_key(&link.guardian_ids), day)
            .await?;
        link.tries_left = link.tries_left.saturating_sub(1);
        if failures >= LINK_FAILURES_PER_DAY {
            return Ok(too_many_failures());
        }
        if link.tries_left == 0 {
            return Ok(back_to_sign_in(
                StatusCode::FORBIDDEN,
                "Rattachement impossible",
                "Les dates de naissance saisies ne correspondent pas aux dossiers des établissements. Par sécurité, le rattachement est interrompu. Vérifiez les dates auprès de l'établissement, puis recommencez.".into(),
            ));
        }
        store_link(&state, &id, &link).await?;
        let error = format!(
            "Au moins une date de naissance ne correspond pas au dossier de l'établissement. Vérifiez-les (jour, mois, année) et réessayez. Essais restants : {}.",
            link.tries_left
        );
        return dates_page(&state, &headers, id, &link, Some(error)).await;
    }
    let now = state.clock.now();
    let linked = match state
        .external
        .link_external(&ExternalLink {
            provider: &link.provider,
            subject: &link.subject,
            guardian_ids: &link.guardian_ids,
            account_id: link.account_id,
            first_name: &link.first_name,
            last_name: &link.last_name,
            mobile: link.mobile.as_deref(),
            now,
        })
        .await
    {
        Ok(linked) => linked,
        Err(StoreError::Conflict(detail)) => {
            tracing::warn!(%detail, "upstream link refused");
            return Ok(back_to_sign_in(
                StatusCode::CONFLICT,
                "Rattachement impossible",
                "Ce dossier vient d'être rattaché à un autre compte. Connectez-vous à nouveau ; si le problème continue, contactez l'établissement.".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let peer = SocketAddr::new(client_ip(&state, peer, &headers), peer.port());
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::ExternalIdentityLinked,
            actor: Actor::Account(linked.account_id),
            subject: Some(linked.account_id),
            source_address: Some(peer.ip().to_string()),
            details: json!({
                "provider": link.provider,
                "account_created": linked.created,
                "guardian_records": link.guardian_ids,
                "pupils": link.children.iter().map(|c| c.pupil_id).collect::<Vec<_>>(),
            }),
        })
        .await?;
    let Some(account) = state.accounts.by_id(linked.account_id).await? else {
        return Err(AppError::Internal("the linked account vanished".into()));
    };
    let c = open_session(
        &state,
        &headers,
        peer,
        &account,
        AuthOrigin::FranceConnect,
        Some(UpstreamLogin {
            provider: link.provider.clone(),
            id_token: link.id_token.clone(),
        }),
    )
    .await?;
    let mut response = SummaryPage {
        identifier: linked.identifier,
        created: linked.created,
        // what the account holds now (a school's e-mail is not taken as confirmed)
        email: account.email.clone(),
        mobile: account.mobile.clone(),
        children: link.children.clone(),
        // other children an import found for this account are proposed before going on
        next: crate::web::my_account::after_sign_in(&state, &account, &link.next).await?,
    }
    .into_response();
    response.headers_mut().append(header::SET_COOKIE, c);
    Ok(response)
}

//! Automatic regrouping (SPEC §2.6): an import found a new guardian record whose names and
//! e-mail or mobile are those of an account in use. At the next sign-in its holder reads "Un
//! nouvel élève a été trouvé : voulez-vous l'ajouter à votre compte ?" and confirms each
//! child's birth date; the children are named only once the dates are right.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Guardian, Holder};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::{Account, AccountKind};
use crate::domain::matching::typed_birth_date;
use crate::error::AppError;
use crate::store::RegroupProposal;
use crate::web::MessagePage;
use crate::web::http::{client_ip, form_field, local_return_path, verify_csrf, with_csrf};

fn encoded(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

/// Where a sign-in goes on to: the proposals first, when a guardian has some.
pub async fn after_sign_in(
    state: &AppState,
    account: &Account,
    next: &str,
) -> Result<String, AppError> {
    if account.kind == AccountKind::Responsable
        && !state
            .grouping
            .regroup_proposals(account.id)
            .await?
            .is_empty()
    {
        return Ok(format!("/compte/nouvel-eleve?suite={}", encoded(next)));
    }
    Ok(next.to_owned())
}

#[derive(Template, WebTemplate)]
#[template(path = "account_regroup.html")]
struct ProposalPage {
    csrf: String,
    suite: String,
    guardian_id: i64,
    school_name: String,
    /// The children's classes, in the order their dates are asked (not their names yet).
    children: Vec<(i64, Option<String>)>,
    error: Option<String>,
}

async fn proposal_page(
    state: &AppState,
    headers: &HeaderMap,
    suite: String,
    proposal: &RegroupProposal,
    error: Option<String>,
) -> Result<Response, AppError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let destination = crate::protocol::return_url(state, &suite).await?;
    let mut response = with_csrf(state, headers, status, |csrf| {
        ProposalPage {
            csrf,
            suite: suite.clone(),
            guardian_id: proposal.guardian_id,
            school_name: proposal.school_name.clone(),
            children: proposal
                .children
                .iter()
                .map(|c| (c.pupil_id, c.class_name.clone()))
                .collect(),
            error,
        }
        .into_response()
    })
    .await?;
    // every answer may lead on to the relying party the sign-in was for
    crate::web::let_forms_lead_to(&mut response, destination.as_deref());
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
pub struct SuiteQuery {
    #[serde(default)]
    suite: String,
}

async fn first_proposal(
    state: &AppState,
    holder: &Holder,
) -> Result<Option<RegroupProposal>, AppError> {
    Ok(state
        .grouping
        .regroup_proposals(holder.account.id)
        .await?
        .into_iter()
        .next())
}

/// GET /compte/nouvel-eleve?suite=…: the first proposal, or on to `suite` when none is left.
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Query(q): Query<SuiteQuery>,
) -> Result<Response, AppError> {
    let suite = local_return_path(Some(&q.suite));
    match first_proposal(&state, &holder).await? {
        Some(proposal) => proposal_page(&state, &headers, suite, &proposal, None).await,
        None => Ok(Redirect::to(&suite).into_response()),
    }
}

/// POST /compte/nouvel-eleve: "Ajouter" (with the birth dates), "Plus tard" or "Ce ne sont
/// pas mes enfants".
pub async fn answer(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let suite = local_return_path(Some(field("suite")));
    let guardian_id: i64 = field("proposition").parse().unwrap_or(-1);
    let proposal = state
        .grouping
        .regroup_proposals(holder.account.id)
        .await?
        .into_iter()
        .find(|p| p.guardian_id == guardian_id);
    let Some(proposal) = proposal else {
        return Ok(
            Redirect::to(&format!("/compte/nouvel-eleve?suite={}", encoded(&suite)))
                .into_response(),
        );
    };
    let account_id = holder.account.id;
    let now = state.clock.now();
    let ip = client_ip(&state, peer, &headers);
    match field("reponse") {
        "plus-tard" => Ok(Redirect::to(&suite).into_response()),
        "refuser" => {
            state
                .grouping
                .decline_regroup(account_id, guardian_id, now)
                .await?;
            state
                .audit
                .append(&NewAuditEvent {
                    at: now,
                    kind: AuditKind::RegroupDeclined,
                    actor: Actor::Account(account_id),
                    subject: Some(account_id),
                    source_address: Some(ip.to_string()),
                    details: json!({ "guardian_record": guardian_id, "reason": "not_mine" }),
                })
                .await?;
            Ok(
                Redirect::to(&format!("/compte/nouvel-eleve?suite={}", encoded(&suite)))
                    .into_response(),
            )
        }
        _ => {
            let right = proposal.children.iter().all(|c| {
                typed_birth_date(field(&format!("naissance-{}", c.pupil_id))).as_deref()
                    == Some(c.birth_date.as_str())
            });
            if !right {
                let Some(left) = state
                    .grouping
                    .regroup_mistyped(account_id, guardian_id, now)
                    .await?
                else {
                    // answered meanwhile (another tab): on to what is left
                    let next = format!("/compte/nouvel-eleve?suite={}", encoded(&suite));
                    return Ok(Redirect::to(&next).into_response());
                };
                if left > 0 {
                    let error = format!(
                        "Au moins une date de naissance ne correspond pas au dossier de l'établissement. Essais restants : {left}."
                    );
                    return proposal_page(&state, &headers, suite, &proposal, Some(error)).await;
                }
                state
                    .audit
                    .append(&NewAuditEvent {
                        at: now,
                        kind: AuditKind::RegroupDeclined,
                        actor: Actor::Account(account_id),
                        subject: Some(account_id),
                        source_address: Some(ip.to_string()),
                        details: json!({ "guardian_record": guardian_id, "reason": "birth_dates" }),
                    })
                    .await?;
                let page = MessagePage {
                    lang: "fr",
                    title: "Élève non ajouté".into(),
                    message: format!(
                        "Les dates de naissance saisies ne correspondent pas au dossier de l'établissement ({}). Par sécurité, l'élève n'a pas été ajouté : adressez-vous à l'établissement.",
                        proposal.school_name
                    ),
                    link: Some((suite, "Continuer".into())),
                };
                return Ok((StatusCode::FORBIDDEN, page).into_response());
            }
            let added = state
                .grouping
                .accept_regroup(account_id, guardian_id, Some(&ip.to_string()), now)
                .await?;
            let next = format!("/compte/nouvel-eleve?suite={}", encoded(&suite));
            if !added {
                let page = MessagePage {
                    lang: "fr",
                    title: "Élève non ajouté".into(),
                    message: "Cette proposition n'est plus valable : l'élève a été rattaché à un compte entre-temps. Adressez-vous à l'établissement si ce n'est pas le vôtre.".into(),
                    link: Some((next, "Continuer".into())),
                };
                return Ok((StatusCode::CONFLICT, page).into_response());
            }
            let names: Vec<String> = proposal
                .children
                .iter()
                .map(|c| match &c.class_name {
                    Some(class) => format!("{} {} ({class})", c.first_name, c.last_name),
                    None => format!("{} {}", c.first_name, c.last_name),
                })
                .collect();
            Ok(MessagePage {
                lang: "fr",
                title: "Élève ajouté à votre compte".into(),
                message: format!(
                    "{} : {} est maintenant rattaché(e) à votre compte.",
                    proposal.school_name,
                    names.join(", ")
                ),
                link: Some((next, "Continuer".into())),
            }
            .into_response())
        }
    }
}

//! "Mes enfants": the children linked, with school and class; "Ajouter des élèves depuis un
//! autre compte" (the other account's identifier and password, the same names: its children
//! move here and it is closed); a child's new temporary password (seed 000), shown once.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Guardian, Holder, Tabs};
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::account::{AccountKind, AccountState};
use crate::domain::identifier::normalize_typed;
use crate::domain::identity::french_long_date;
use crate::domain::merge::decide_merge;
use crate::error::AppError;
use crate::store::{ChildSummary, GuardianRank, Merge, MergeResult};
use crate::web::MessagePage;
use crate::web::http::{client_ip, form_field, verify_csrf, with_csrf};
use crate::web::signin::check_secret;

/// New temporary passwords a guardian may give one child in a day.
const RESETS_PER_CHILD_PER_DAY: u64 = 3;

/// A child as the page lists it.
struct ChildLine {
    pupil_id: i64,
    name: String,
    school: String,
    class: Option<String>,
    /// A legal guardian (rank 1 or 2) of a child with an account may give a new password.
    may_reset: bool,
}

fn may_reset(child: &ChildSummary) -> bool {
    child.account_id.is_some() && matches!(child.rank, GuardianRank::First | GuardianRank::Second)
}

#[derive(Template, WebTemplate)]
#[template(path = "account_children.html")]
struct ChildrenPage {
    tabs: Tabs,
    csrf: String,
    children: Vec<ChildLine>,
    /// Proposals of the automatic regrouping not answered yet.
    proposals: usize,
    done: Option<String>,
    merge_error: Option<String>,
    typed_identifier: String,
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    holder: &Holder,
    done: Option<String>,
    merge_error: Option<(StatusCode, String, String)>,
) -> Result<Response, AppError> {
    let children = state
        .accounts
        .children_of(holder.account.id)
        .await?
        .iter()
        .map(|c| ChildLine {
            pupil_id: c.pupil_id,
            name: format!("{} {}", c.first_name, c.last_name),
            school: c.school_name.clone(),
            class: c.class_name.clone(),
            may_reset: may_reset(c),
        })
        .collect();
    let proposals = state
        .grouping
        .regroup_proposals(holder.account.id)
        .await?
        .len();
    let (status, merge_error, typed_identifier) = match merge_error {
        Some((status, message, typed)) => (status, Some(message), typed),
        None => (StatusCode::OK, None, String::new()),
    };
    with_csrf(state, headers, status, |csrf| {
        ChildrenPage {
            tabs: Tabs {
                current: "enfants",
                guardian: true,
            },
            csrf,
            children,
            proposals,
            done,
            merge_error,
            typed_identifier,
        }
        .into_response()
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    /// Set after a merge, whose result waits a few minutes for this account: a link cannot
    /// make the page say anything.
    #[serde(default)]
    regroupe: String,
}

/// Where the identifier of the account a merge just closed waits for the page that says so.
fn merged_key(account_id: i64) -> String {
    format!("merged:{account_id}")
}

/// GET /compte/enfants
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let closed = if q.regroupe.is_empty() {
        None
    } else {
        state.ephemeral.take(&merged_key(holder.account.id)).await?
    };
    let done = closed.map(|closed| {
        format!(
            "Les élèves du compte {closed} sont maintenant sur votre compte. Ce compte est fermé : connectez-vous désormais avec l'identifiant {}.",
            holder.account.identifier
        )
    });
    page(&state, &headers, &holder, done, None).await
}

/// POST /compte/enfants/regrouper: "Ajouter des élèves depuis un autre compte".
pub async fn merge(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let typed: String = field("identifiant").trim().chars().take(64).collect();
    let identifier = normalize_typed(&typed);
    let password: String = field("password").chars().take(256).collect();
    let refuse =
        |status: StatusCode, message: &str| Some((status, message.to_owned(), typed.clone()));
    if identifier.is_empty() || password.is_empty() {
        let error = refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Saisissez l'identifiant et le mot de passe de l'autre compte.",
        );
        return page(&state, &headers, &holder, None, error).await;
    }
    let ip = client_ip(&state, peer, &headers);
    let Some(attempt) = state.throttle.check(&identifier, ip).await?.attempt() else {
        let error = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop d'essais : réessayez dans quelques minutes.",
        );
        return page(&state, &headers, &holder, None, error).await;
    };
    let other = state.accounts.by_identifier(&identifier).await?;
    let check = check_secret(&state, &attempt, other.as_ref(), &password).await?;
    let now = state.clock.now();
    let audit = |kind, details| NewAuditEvent {
        at: now,
        kind,
        actor: Actor::Account(holder.account.id),
        subject: Some(holder.account.id),
        source_address: Some(ip.to_string()),
        details,
    };
    let (other, refusal) = match decide_merge(&holder.account, other.as_ref(), check, now) {
        Ok(()) => (other, None),
        Err(refusal) => (other, Some(refusal)),
    };
    if let Some(refusal) = refusal {
        if refusal == crate::domain::merge::MergeRefusal::WrongCredentials {
            state.throttle.record_failure(ip).await?;
        } else {
            // the other account's right password (a child's, a closed account…): not a guess
            state.throttle.release(&attempt).await?;
        }
        state
            .audit
            .append(&audit(
                AuditKind::MergeRefused,
                json!({ "reason": refusal.as_str() }),
            ))
            .await?;
        let error = refuse(StatusCode::UNPROCESSABLE_ENTITY, refusal.message_fr());
        return page(&state, &headers, &holder, None, error).await;
    }
    let Some(other) = other else {
        return Err(AppError::Internal("a merge allowed without account".into()));
    };
    let result = state
        .grouping
        .merge_accounts(&Merge {
            into: holder.account.id,
            from: other.id,
            source_address: Some(&ip.to_string()),
            now,
        })
        .await?;
    match result {
        MergeResult::Merged {
            closed_identifier, ..
        } => {
            state.throttle.record_success(&identifier).await?;
            // the closed account's sessions end with it (its grants were revoked with the merge)
            state.sessions.end_all_for(other.id).await?;
            state
                .ephemeral
                .put(
                    &merged_key(holder.account.id),
                    &closed_identifier,
                    Duration::from_secs(300),
                )
                .await?;
            Ok(Redirect::to("/compte/enfants?regroupe=1").into_response())
        }
        MergeResult::Stale => {
            state.throttle.release(&attempt).await?;
            let error = refuse(
                StatusCode::CONFLICT,
                "Ce compte vient d'être regroupé ou fermé. Actualisez la page pour voir vos enfants.",
            );
            page(&state, &headers, &holder, None, error).await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account_child_password.html")]
struct ChildPasswordPage {
    tabs: Tabs,
    name: String,
    identifier: String,
    password: String,
    valid_until: String,
    issuer: String,
}

fn refused(title: &str, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        MessagePage {
            lang: "fr",
            title: title.into(),
            message: message.into(),
            link: Some(("/compte/enfants".into(), "Retour à Mes enfants".into())),
        },
    )
        .into_response()
}

/// POST /compte/enfants/mot-de-passe: a new temporary password for a linked child, shown once
/// on a page made to be printed. The child chooses a password of their own at the next
/// sign-in (the first connection again).
pub async fn reset_child_password(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Guardian(holder): Guardian,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| form_field(&form, name);
    verify_csrf(&state, &headers, field("csrf")).await?;
    let pupil_id: i64 = field("eleve").parse().unwrap_or(-1);
    let children = state.accounts.children_of(holder.account.id).await?;
    let Some(child) = children.iter().find(|c| c.pupil_id == pupil_id) else {
        return Ok(refused(
            "Élève inconnu",
            "Cet élève n'est pas rattaché à votre compte.",
        ));
    };
    if !may_reset(child) {
        return Ok(refused(
            "Réinitialisation impossible",
            "Seul un représentant légal peut donner un nouveau mot de passe à cet élève. Adressez-vous à l'établissement.",
        ));
    }
    let account = match child.account_id {
        Some(id) => state.accounts.by_id(id).await?,
        None => None,
    };
    let Some(account) = account.filter(|a| a.kind == AccountKind::Eleve) else {
        return Ok(refused(
            "Réinitialisation impossible",
            "Cet élève n'a pas encore de compte. Adressez-vous à l'établissement.",
        ));
    };
    if account.state != AccountState::Active {
        return Ok(refused(
            "Compte désactivé",
            "Le compte de cet élève est désactivé. Adressez-vous à l'établissement.",
        ));
    }
    let day = Duration::from_secs(24 * 3600);
    if state
        .ephemeral
        .incr(&format!("child-resets:{}", account.id), day)
        .await?
        > RESETS_PER_CHILD_PER_DAY
    {
        return Ok(refused(
            "Réinitialisation impossible aujourd'hui",
            "Le mot de passe de cet élève a déjà été réinitialisé plusieurs fois aujourd'hui. Réessayez demain ou adressez-vous à l'établissement.",
        ));
    }
    let now = state.clock.now();
    let password = crate::keys::temporary_password();
    let expires_at = now + i64::from(state.config.password.temporary_validity_days) * 86_400;
    let issued = state
        .accounts
        .issue_temporary_password(
            account.id,
            &state.secret.hash_generated_secret(&password),
            expires_at,
            now,
        )
        .await?;
    if !issued {
        return Ok(refused(
            "Compte désactivé",
            "Le compte de cet élève est désactivé. Adressez-vous à l'établissement.",
        ));
    }
    let ended = state.sessions.end_all_for(account.id).await?;
    let ip = client_ip(&state, peer, &headers);
    state
        .audit
        .append(&NewAuditEvent {
            at: now,
            kind: AuditKind::TemporaryPasswordIssued,
            actor: Actor::Account(holder.account.id),
            subject: Some(account.id),
            source_address: Some(ip.to_string()),
            details: json!({
                "by": "guardian",
                "by_label": "par votre responsable",
                "sessions_ended": ended,
            }),
        })
        .await?;
    let mut response = ChildPasswordPage {
        tabs: Tabs {
            current: "enfants",
            guardian: true,
        },
        name: format!("{} {}", child.first_name, child.last_name),
        identifier: account.identifier,
        password,
        valid_until: french_long_date(expires_at),
        issuer: state.issuer.clone(),
    }
    .into_response();
    // the page's "Imprimer" button runs this site's print script
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    Ok(response)
}

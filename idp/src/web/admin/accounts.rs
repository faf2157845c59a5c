//! The search of a school's accounts (seed 004): criteria, 20 results a page, a state per
//! row, a selection; "Pour la sélection…": régénérer le mot de passe (after a confirmation;
//! the result as a message to copy and as PDF letters), débloquer, désactiver, activer.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{Frame, StaffSignedIn};
use crate::admin::{self, Listed};
use crate::app::{AppState, SharedState};
use crate::domain::account::AccountKind;
use crate::domain::staff::{Criteria, Page, SchoolAccount};
use crate::error::AppError;
use crate::import::letters::{self, Letter};
use crate::keys::signing::{seal, unseal};
use crate::keys::{random_token, storage_key};
use crate::store::{AccountChange, School};
use crate::web::http::{client_ip, form_field, verify_csrf, with_csrf};

/// How long the letters of a regeneration can be downloaded.
const LETTERS_TTL: Duration = Duration::from_secs(15 * 60);
const LETTERS_SEAL: &str = "admin-letters";

/// The search criteria as the form and the addresses carry them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    nom: String,
    #[serde(default)]
    prenom: String,
    #[serde(default)]
    identifiant: String,
    #[serde(default)]
    profil: String,
    #[serde(default)]
    classe: String,
    page: Option<usize>,
    /// What was just done (`regenere`, `debloque`, `desactive`, `active`) and to how many.
    fait: Option<String>,
    n: Option<usize>,
    erreur: Option<String>,
}

impl SearchQuery {
    fn from_form(form: &[(String, String)]) -> Self {
        Self {
            nom: form_field(form, "nom").to_owned(),
            prenom: form_field(form, "prenom").to_owned(),
            identifiant: form_field(form, "identifiant").to_owned(),
            profil: form_field(form, "profil").to_owned(),
            classe: form_field(form, "classe").to_owned(),
            page: form_field(form, "page").parse().ok(),
            ..Self::default()
        }
    }

    fn criteria(&self) -> Criteria {
        Criteria {
            last_name: self.nom.chars().take(100).collect(),
            first_name: self.prenom.chars().take(100).collect(),
            identifier: self
                .identifiant
                .trim()
                .to_lowercase()
                .chars()
                .take(64)
                .collect(),
            kind: AccountKind::parse(&self.profil),
            class: Some(self.classe.clone()).filter(|c| !c.is_empty()),
        }
    }

    /// The query string of these criteria, for links to other pages.
    fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("nom", &self.nom),
            ("prenom", &self.prenom),
            ("identifiant", &self.identifiant),
            ("profil", &self.profil),
            ("classe", &self.classe),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    fn notice(&self) -> Option<String> {
        let n = self.n.unwrap_or(0);
        let done = match self.fait.as_deref()? {
            "debloque" => "débloqué",
            "desactive" => "désactivé",
            "reactive" => "réactivé",
            _ => return None,
        };
        Some(match n {
            0 => "Aucun compte n'était dans cet état : rien n'a changé.".to_owned(),
            1 => format!("1 compte {done}."),
            n => format!("{n} comptes {done}s."),
        })
    }

    fn error(&self) -> Option<&'static str> {
        match self.erreur.as_deref()? {
            "vide" => Some("Sélectionnez au moins un compte, ou « tous les résultats »."),
            "action" => Some("Choisissez une action « Pour la sélection… »."),
            _ => None,
        }
    }
}

/// A row of the results.
struct Row {
    id: i64,
    identifier: String,
    last_name: String,
    first_name: String,
    /// A guardian's children at the school.
    children: String,
    profile: &'static str,
    classes: String,
    status: &'static str,
    /// `operationnel`, `non-active`, `bloque`, `desactive`: the row's style.
    status_class: &'static str,
}

fn row(l: &Listed) -> Row {
    let a = &l.account;
    Row {
        id: a.account_id,
        identifier: a.identifier.clone(),
        last_name: a.last_name.clone(),
        first_name: a.first_name.clone(),
        children: a.children.join(", "),
        profile: match a.kind {
            AccountKind::Eleve => "Élève",
            AccountKind::Responsable => "Responsable",
        },
        classes: a.classes.join(", "),
        status: l.status.label_fr(),
        status_class: match l.status {
            crate::domain::staff::Status::Operational => "operationnel",
            crate::domain::staff::Status::NotActivated => "non-active",
            crate::domain::staff::Status::Locked => "bloque",
            crate::domain::staff::Status::Disabled => "desactive",
        },
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_search.html")]
struct SearchPage {
    frame: Frame,
    uai: String,
    query: SearchQuery,
    classes: Vec<String>,
    rows: Vec<Row>,
    page: usize,
    last: usize,
    total: usize,
    /// The criteria as a query string, for the paging links.
    criteria: String,
    notice: Option<String>,
    error: Option<&'static str>,
}

/// GET /admin/{uai}/comptes.
pub async fn search(
    State(state): State<SharedState>,
    Path(uai): Path<String>,
    Query(query): Query<SearchQuery>,
    headers: HeaderMap,
    signed_in: StaffSignedIn,
) -> Result<Response, AppError> {
    let school = admin::school(&state, &signed_in.admin, &uai).await?;
    let found: Page<Listed> =
        admin::search(&state, &school, &query.criteria(), query.page.unwrap_or(1)).await?;
    let classes = state.directory.classes(&school.uai).await?;
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        SearchPage {
            uai: school.uai.clone(),
            frame: Frame::new(&signed_in, Some(school), "comptes", csrf),
            classes,
            rows: found.items.iter().map(row).collect(),
            page: found.number,
            last: found.last,
            total: found.total,
            criteria: query.to_query(),
            notice: query.notice(),
            error: query.error(),
            query,
        }
        .into_response()
    })
    .await
}

fn back_to_search(uai: &str, query: &SearchQuery, extra: &str) -> Response {
    let criteria = query.to_query();
    let mut address = format!("/admin/{uai}/comptes?{criteria}");
    if let Some(page) = query.page {
        address.push_str(&format!("&page={page}"));
    }
    address.push('&');
    address.push_str(extra);
    Redirect::to(&address).into_response()
}

/// The accounts a form names: `seul` (a row's own button), every result of the criteria
/// (`portee=tous`), or the boxes ticked (`compte`). `Forbidden` for an id not of the school.
async fn chosen(
    state: &AppState,
    school: &School,
    form: &[(String, String)],
) -> Result<Vec<SchoolAccount>, AppError> {
    let ids = |name: &str| -> Vec<i64> {
        form.iter()
            .filter(|(k, _)| k == name)
            .filter_map(|(_, v)| v.parse().ok())
            .collect()
    };
    let only = ids("seul");
    if !only.is_empty() {
        return admin::selected(state, school, &only).await;
    }
    if form_field(form, "portee") == "tous" {
        let query = SearchQuery::from_form(form);
        return admin::matching(state, school, &query.criteria()).await;
    }
    admin::selected(state, school, &ids("compte")).await
}

/// What a confirmation page asks before a change of many accounts.
struct Confirmation {
    title: String,
    /// What the change does, in a sentence or two.
    warning: String,
    button: &'static str,
    /// Where the confirmed form goes.
    target: String,
    /// The action field the confirmed form carries again, if it goes back to the search's form.
    action: Option<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_confirm.html")]
struct ConfirmPage {
    frame: Frame,
    confirmation: Confirmation,
    rows: Vec<Row>,
    /// Back to the search, criteria kept.
    back: String,
}

fn accounts_phrase(n: usize) -> String {
    if n > 1 {
        format!("{n} comptes")
    } else {
        format!("{n} compte")
    }
}

/// POST /admin/{uai}/comptes: "Pour la sélection…", or a row's "Régénérer le mot de passe".
pub async fn act(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(uai): Path<String>,
    headers: HeaderMap,
    signed_in: StaffSignedIn,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, form_field(&form, "csrf")).await?;
    let school = admin::school(&state, &signed_in.admin, &uai).await?;
    let query = SearchQuery::from_form(&form);
    let accounts = chosen(&state, &school, &form).await?;
    let action = if form.iter().any(|(k, _)| k == "seul") {
        "regenerer"
    } else {
        form_field(&form, "action")
    };
    let change = match action {
        "regenerer" => None,
        "debloquer" => Some((AccountChange::Unlock, "debloque")),
        "desactiver" => Some((AccountChange::Disable, "desactive")),
        "reactiver" => Some((AccountChange::Enable, "reactive")),
        _ => return Ok(back_to_search(&school.uai, &query, "erreur=action")),
    };
    if accounts.is_empty() {
        return Ok(back_to_search(&school.uai, &query, "erreur=vide"));
    }
    // disabling cuts people off their services: asked first, like a regeneration
    let confirmed = form_field(&form, "confirme") == "1";
    if let Some((change, done)) = change
        && (confirmed || change != AccountChange::Disable)
    {
        let ip = client_ip(&state, peer, &headers).to_string();
        let n = admin::change(
            &state,
            &signed_in.admin,
            &school,
            &accounts,
            change,
            Some(&ip),
        )
        .await?;
        return Ok(back_to_search(
            &school.uai,
            &query,
            &format!("fait={done}&n={n}"),
        ));
    }
    let n = accounts_phrase(accounts.len());
    let confirmation = if change.is_some() {
        Confirmation {
            title: format!("Désactiver {n}"),
            warning: "Ces comptes ne pourront plus se connecter, et leurs connexions en cours \
                      seront fermées, jusqu'à ce que vous les réactiviez."
                .into(),
            button: "Désactiver les comptes",
            target: format!("/admin/{}/comptes", school.uai),
            action: Some("desactiver"),
        }
    } else {
        let now = state.clock.now();
        let valid_until = crate::domain::identity::french_long_date(
            now + i64::from(state.config.password.temporary_validity_days) * 86_400,
        );
        Confirmation {
            title: format!("Régénérer le mot de passe de {n}"),
            warning: format!(
                "Chaque compte reçoit un nouveau mot de passe provisoire, valable jusqu'au \
                 {valid_until}. Son mot de passe actuel ne fonctionnera plus et ses connexions \
                 en cours seront fermées : à la prochaine connexion, il choisira son propre mot \
                 de passe. Les comptes désactivés ne sont pas modifiés."
            ),
            button: "Régénérer les mots de passe",
            target: format!("/admin/{}/mots-de-passe", school.uai),
            action: None,
        }
    };
    let listed = admin::with_status(&state, accounts).await?;
    let back = format!("/admin/{}/comptes?{}", school.uai, query.to_query());
    with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        ConfirmPage {
            frame: Frame::new(&signed_in, Some(school), "comptes", csrf),
            confirmation,
            rows: listed.iter().map(row).collect(),
            back,
        }
        .into_response()
    })
    .await
}

/// The letters of a regeneration, kept sealed in the ephemeral store for their download.
#[derive(Serialize, Deserialize)]
struct LetterBatch {
    staff_id: i64,
    uai: String,
    file_name: String,
    letters: Vec<Letter>,
}

fn batch_key(lot: &str) -> String {
    format!("admin-letters:{}", storage_key(lot))
}

/// One new password as the result page shows it.
struct IssuedLine {
    name: String,
    profile: &'static str,
    identifier: String,
    password: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_passwords.html")]
struct PasswordsPage {
    frame: Frame,
    issued: Vec<IssuedLine>,
    skipped: Vec<String>,
    message: String,
    /// The PDF's address; `None` when there is nothing to print or it could not be kept.
    letters_url: Option<String>,
}

/// The file name of a batch's letters: the class's when every account is of one class.
fn letters_file_name(uai: &str, done: &admin::Regenerated) -> String {
    let mut classes: Vec<&str> = done
        .issued
        .iter()
        .flat_map(|i| i.account.classes.iter().map(String::as_str))
        .collect();
    classes.sort_unstable();
    classes.dedup();
    match classes.as_slice() {
        [one] => letters::file_name(uai, one),
        _ => letters::file_name(uai, "selection"),
    }
}

/// Keeps a batch's letters, sealed, for their download; returns its address.
async fn keep_letters(
    state: &AppState,
    staff_id: i64,
    school: &School,
    done: &admin::Regenerated,
) -> Result<String, AppError> {
    let batch = LetterBatch {
        staff_id,
        uai: school.uai.clone(),
        file_name: letters_file_name(&school.uai, done),
        letters: done.letters(school, &format!("{}/", state.issuer)),
    };
    let json = serde_json::to_vec(&batch).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed =
        seal(&state.secret, LETTERS_SEAL, &json).map_err(|e| AppError::Internal(e.to_string()))?;
    let lot = random_token(24);
    state
        .ephemeral
        .put(&batch_key(&lot), &sealed, LETTERS_TTL)
        .await?;
    Ok(format!("/admin/{}/courriers/{lot}", school.uai))
}

/// POST /admin/{uai}/mots-de-passe: the confirmed regeneration; the result page holds the
/// passwords (shown once) and the link to the letters.
pub async fn regenerate(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(uai): Path<String>,
    headers: HeaderMap,
    signed_in: StaffSignedIn,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, form_field(&form, "csrf")).await?;
    let school = admin::school(&state, &signed_in.admin, &uai).await?;
    let accounts = chosen(&state, &school, &form).await?;
    if accounts.is_empty() {
        return Ok(back_to_search(
            &school.uai,
            &SearchQuery::default(),
            "erreur=vide",
        ));
    }
    let (csrf, browser_cookie) = crate::web::http::csrf_token(&state, &headers).await?;
    let ip = client_ip(&state, peer, &headers).to_string();
    let done = admin::regenerate(&state, &signed_in.admin, &school, accounts, Some(&ip)).await?;
    // the passwords are set: whatever happens to the letters, the page shows them
    let letters_url = if done.issued.is_empty() {
        None
    } else {
        match keep_letters(&state, signed_in.staff.id, &school, &done).await {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::warn!(error = %e, "the letters of a regeneration could not be kept");
                None
            }
        }
    };
    let mut response = PasswordsPage {
        issued: done
            .issued
            .iter()
            .map(|i| IssuedLine {
                name: format!("{} {}", i.account.first_name, i.account.last_name),
                profile: i.account.kind.label_fr(),
                identifier: i.account.identifier.clone(),
                password: i.password.clone(),
            })
            .collect(),
        skipped: done
            .skipped
            .iter()
            .map(|a| format!("{} {}", a.first_name, a.last_name))
            .collect(),
        message: done.message(&format!("{}/", state.issuer)),
        letters_url,
        frame: Frame::new(&signed_in, Some(school), "comptes", csrf),
    }
    .into_response();
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

/// GET /admin/{uai}/courriers/{lot}: the PDF of a regeneration, one page per account, for
/// the staff member who made it, for 15 minutes.
pub async fn letters(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((uai, lot)): Path<(String, String)>,
    headers: HeaderMap,
    signed_in: StaffSignedIn,
) -> Result<Response, AppError> {
    let school = admin::school(&state, &signed_in.admin, &uai).await?;
    let Some(sealed) = state.ephemeral.get(&batch_key(&lot)).await? else {
        return Err(AppError::NotFound);
    };
    let json = unseal(&state.secret, LETTERS_SEAL, &sealed)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let batch: LetterBatch =
        serde_json::from_slice(&json).map_err(|e| AppError::Internal(e.to_string()))?;
    if batch.staff_id != signed_in.staff.id || batch.uai != school.uai {
        return Err(AppError::NotFound);
    }
    // the letters hold live passwords: who took them, and when, is kept
    state
        .audit
        .append(&crate::audit::NewAuditEvent {
            at: state.clock.now(),
            kind: crate::audit::AuditKind::LettersDownloaded,
            actor: signed_in.admin.actor.clone(),
            subject: None,
            source_address: Some(client_ip(&state, peer, &headers).to_string()),
            details: serde_json::json!({
                "staff": signed_in.admin.by,
                "uai": school.uai,
                "letters": batch.letters.len(),
                "file": batch.file_name,
            }),
        })
        .await?;
    let mut response = letters::pdf(&batch.letters).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", batch.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

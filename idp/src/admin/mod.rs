//! School administration (SPEC §2.7): what an administrator does to a school's accounts, the
//! same for the pages (`web::admin`) and the JSON API (`admin::api`). Every operation starts
//! from a school the administrator's scope covers, and only reaches accounts with a current
//! record there: the store's statements name the school too.

use crate::app::AppState;
use crate::audit::Actor;
use crate::domain::account::{AccountKind, AccountState};
use crate::domain::identity::french_long_date;
use crate::domain::staff::{self, Criteria, Page, SchoolAccount, SchoolScope, Status};
use crate::error::AppError;
use crate::import::letters::{self, Letter};
use crate::store::{AccountChange, School, StaffAction};

pub mod api;

/// Accounts one regeneration may take (a whole school of the largest size fits).
pub const MAX_BATCH: usize = 5000;

/// Who administers: a signed-in staff member or an académie tool with an API token.
#[derive(Debug, Clone)]
pub struct Administrator {
    pub actor: Actor,
    /// The staff member's identifier or the client's id, for the audit.
    pub by: String,
    pub scope: SchoolScope,
}

/// An account with the state its row shows.
#[derive(Debug, Clone)]
pub struct Listed {
    pub account: SchoolAccount,
    pub status: Status,
}

/// The school, if the administrator's scope covers it. Outside the scope the answer is the
/// same whether the school exists or not.
pub async fn school(
    state: &AppState,
    admin: &Administrator,
    uai: &str,
) -> Result<School, AppError> {
    if !admin.scope.covers(uai) {
        return Err(AppError::Forbidden);
    }
    state.directory.school(uai).await?.ok_or(AppError::NotFound)
}

/// The schools an administrator may choose from, by name.
pub async fn schools(state: &AppState, admin: &Administrator) -> Result<Vec<School>, AppError> {
    let mut all = state.schools.schools().await?;
    all.retain(|s| admin.scope.covers(&s.uai));
    Ok(all)
}

/// The accounts of a school answering the criteria, by name.
pub async fn matching(
    state: &AppState,
    school: &School,
    criteria: &Criteria,
) -> Result<Vec<SchoolAccount>, AppError> {
    let accounts = state.schools.school_accounts(&school.uai).await?;
    Ok(staff::select(accounts, criteria))
}

/// The states of these accounts now: a lock is the account's own or the sign-in throttle's.
pub async fn with_status(
    state: &AppState,
    accounts: Vec<SchoolAccount>,
) -> Result<Vec<Listed>, AppError> {
    let now = state.clock.now();
    let mut listed = Vec::with_capacity(accounts.len());
    for account in accounts {
        let throttled = account.state == AccountState::Active
            && state
                .throttle
                .identifier_limited(&account.identifier)
                .await?;
        let status = account.status(now, throttled);
        listed.push(Listed { account, status });
    }
    Ok(listed)
}

/// One page of the search.
pub async fn search(
    state: &AppState,
    school: &School,
    criteria: &Criteria,
    page_number: usize,
) -> Result<Page<Listed>, AppError> {
    let found = staff::page(
        matching(state, school, criteria).await?,
        page_number,
        staff::PAGE_SIZE,
    );
    Ok(Page {
        items: with_status(state, found.items).await?,
        number: found.number,
        last: found.last,
        total: found.total,
    })
}

/// The accounts of the school with these ids; `Forbidden` if one of them is not the school's
/// (another school's account, or an id made up), so a forged form reaches nothing.
pub async fn selected(
    state: &AppState,
    school: &School,
    ids: &[i64],
) -> Result<Vec<SchoolAccount>, AppError> {
    let mut accounts: std::collections::HashMap<i64, SchoolAccount> = state
        .schools
        .school_accounts(&school.uai)
        .await?
        .into_iter()
        .map(|a| (a.account_id, a))
        .collect();
    if ids.iter().any(|id| !accounts.contains_key(id)) {
        return Err(AppError::Forbidden);
    }
    // an id given twice is taken once
    let chosen = ids.iter().filter_map(|id| accounts.remove(id)).collect();
    Ok(staff::select(chosen, &Criteria::default()))
}

fn action<'a>(
    admin: &'a Administrator,
    school: &'a School,
    source_address: Option<&'a str>,
    now: i64,
) -> StaffAction<'a> {
    StaffAction {
        actor: &admin.actor,
        by: &admin.by,
        uai: &school.uai,
        source_address,
        now,
    }
}

/// Undoes what a change left in the ephemeral store (sessions, throttle counts) once the
/// database has committed: a failure here is logged, never turned into an error page, since
/// the change itself is done (and, for a regeneration, its passwords must still be shown).
fn after_commit(result: Result<impl Sized, crate::ephemeral::EphemeralError>, what: &str) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "{what} after a change by staff failed");
    }
}

/// A temporary password just given.
#[derive(Debug, Clone)]
pub struct Issued {
    pub account: SchoolAccount,
    pub password: String,
}

/// What a regeneration did.
#[derive(Debug, Clone)]
pub struct Regenerated {
    pub issued: Vec<Issued>,
    /// Disabled accounts, left as they are.
    pub skipped: Vec<SchoolAccount>,
    pub expires_at: i64,
}

impl Regenerated {
    /// One letter per account (the PDF).
    pub fn letters(&self, school: &School, sign_in_url: &str) -> Vec<Letter> {
        let valid_until = french_long_date(self.expires_at);
        self.issued
            .iter()
            .map(|i| {
                let a = &i.account;
                let (addressee, context) = match a.kind {
                    AccountKind::Eleve => (
                        format!("{} {}", a.first_name, a.last_name),
                        letters::pupil_context(a.classes.first().map(String::as_str)),
                    ),
                    AccountKind::Responsable => (
                        letters::guardian_addressee(
                            a.civility.as_deref(),
                            &a.first_name,
                            &a.last_name,
                        ),
                        letters::guardian_context(&a.children),
                    ),
                };
                Letter {
                    school_name: school.name.clone(),
                    uai: school.uai.clone(),
                    addressee,
                    context,
                    profile: a.kind.label_fr().to_owned(),
                    identifier: a.identifier.clone(),
                    temporary_password: i.password.clone(),
                    valid_until: valid_until.clone(),
                    sign_in_url: sign_in_url.to_owned(),
                    renewal: true,
                }
            })
            .collect()
    }

    /// The message to copy and paste (seed 004), one paragraph per account.
    pub fn message(&self, sign_in_url: &str) -> String {
        let valid_until = french_long_date(self.expires_at);
        self.issued
            .iter()
            .map(|i| {
                let a = &i.account;
                format!(
                    "Bonjour {} {},\n\
                     Voici votre nouveau mot de passe provisoire pour vous connecter sur {} \
                     (profil « {} ») :\n\
                     Identifiant : {}\n\
                     Mot de passe provisoire : {}\n\
                     Il est valable jusqu'au {}. À la connexion, vous choisirez votre propre \
                     mot de passe.",
                    a.first_name,
                    a.last_name,
                    sign_in_url,
                    a.kind.label_fr(),
                    a.identifier,
                    i.password,
                    valid_until,
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// "Régénérer le mot de passe": a new temporary password for each active account given, in
/// one transaction (all or none); their own passwords, sessions, grants and locks end.
pub async fn regenerate(
    state: &AppState,
    admin: &Administrator,
    school: &School,
    accounts: Vec<SchoolAccount>,
    source_address: Option<&str>,
) -> Result<Regenerated, AppError> {
    if accounts.len() > MAX_BATCH {
        return Err(AppError::BadRequest(format!(
            "au plus {MAX_BATCH} comptes à la fois"
        )));
    }
    let now = state.clock.now();
    let expires_at = now + i64::from(state.config.password.temporary_validity_days) * 86_400;
    let (active, skipped): (Vec<_>, Vec<_>) = accounts
        .into_iter()
        .partition(|a| a.state == AccountState::Active);
    let issued: Vec<Issued> = active
        .into_iter()
        .map(|account| Issued {
            account,
            password: crate::keys::temporary_password(),
        })
        .collect();
    let hashes: Vec<(i64, String)> = issued
        .iter()
        .map(|i| {
            (
                i.account.account_id,
                state.secret.hash_generated_secret(&i.password),
            )
        })
        .collect();
    state
        .schools
        .regenerate_passwords(
            &action(admin, school, source_address, now),
            &hashes,
            expires_at,
        )
        .await
        .map_err(|e| match e {
            // an account left the school or was disabled since the page was shown
            crate::store::StoreError::Conflict(_) => AppError::Stale,
            other => other.into(),
        })?;
    for i in &issued {
        after_commit(
            state.sessions.end_all_for(i.account.account_id).await,
            "ending the sessions",
        );
        after_commit(
            state.throttle.record_success(&i.account.identifier).await,
            "clearing the throttle",
        );
    }
    Ok(Regenerated {
        issued,
        skipped,
        expires_at,
    })
}

/// Unlocks, disables or enables accounts of the school, in one transaction; returns how many
/// changed (an account already in the state asked is left as it is). A lock is the account's
/// own or the sign-in throttle's: unlocking lifts both.
pub async fn change(
    state: &AppState,
    admin: &Administrator,
    school: &School,
    accounts: &[SchoolAccount],
    change: AccountChange,
    source_address: Option<&str>,
) -> Result<usize, AppError> {
    if accounts.len() > MAX_BATCH {
        return Err(AppError::BadRequest(format!(
            "au plus {MAX_BATCH} comptes à la fois"
        )));
    }
    let mut throttled = Vec::new();
    if change == AccountChange::Unlock {
        for account in accounts {
            if state
                .throttle
                .identifier_limited(&account.identifier)
                .await?
            {
                throttled.push(account.account_id);
            }
        }
    }
    let ids: Vec<i64> = accounts.iter().map(|a| a.account_id).collect();
    let now = state.clock.now();
    let changed = state
        .schools
        .change_accounts(&action(admin, school, source_address, now), &ids, change)
        .await?;
    for account in accounts {
        match change {
            AccountChange::Unlock if throttled.contains(&account.account_id) => after_commit(
                state.throttle.record_success(&account.identifier).await,
                "clearing the throttle",
            ),
            AccountChange::Disable if changed.contains(&account.account_id) => after_commit(
                state.sessions.end_all_for(account.account_id).await,
                "ending the sessions",
            ),
            _ => {}
        }
    }
    Ok(accounts
        .iter()
        .filter(|a| changed.contains(&a.account_id) || throttled.contains(&a.account_id))
        .count())
}

/// A staff password made here (`idp staff add`, `idp staff reset`): typed once by its holder,
/// long enough (about 118 bits) never to be guessed.
pub fn generated_staff_password() -> String {
    format!(
        "{}-{}",
        crate::keys::temporary_password(),
        crate::keys::temporary_password()
    )
}

/// Creates a staff member with a generated password (returned, to show once); the second
/// factor is enrolled at the first sign-in.
pub async fn add_staff(
    state: &AppState,
    identifier: &str,
    first_name: &str,
    last_name: &str,
    email: Option<&str>,
    role: crate::domain::staff::StaffRole,
    schools: &[String],
) -> anyhow::Result<String> {
    let identifier = crate::domain::identifier::normalize_typed(identifier);
    anyhow::ensure!(
        !identifier.is_empty() && identifier.len() <= 64,
        "the identifier must have 1 to 64 characters"
    );
    anyhow::ensure!(
        role == crate::domain::staff::StaffRole::PlatformAdmin || !schools.is_empty(),
        "a school administrator needs at least one --uai"
    );
    let password = generated_staff_password();
    let hash = state.hasher.hash(&password).await?;
    let now = state.clock.now();
    let id = state
        .staff
        .add_staff(&crate::store::NewStaff {
            identifier: &identifier,
            first_name,
            last_name,
            email,
            role,
            password_hash: &hash,
            schools,
            now,
        })
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => {
                anyhow::anyhow!("the identifier {identifier} is taken")
            }
            other => anyhow::anyhow!(other),
        })?;
    state
        .audit
        .append(&crate::audit::NewAuditEvent {
            at: now,
            kind: crate::audit::AuditKind::StaffAdded,
            actor: Actor::System,
            subject: None,
            source_address: None,
            details: serde_json::json!({
                "staff": identifier,
                "staff_id": id,
                "role": role.as_str(),
                "schools": schools,
            }),
        })
        .await?;
    Ok(password)
}

/// A new generated password (returned) and no second factor: for a staff member who lost
/// either. The next sign-in enrols the app again.
pub async fn reset_staff(state: &AppState, identifier: &str) -> anyhow::Result<String> {
    let identifier = crate::domain::identifier::normalize_typed(identifier);
    let password = generated_staff_password();
    let hash = state.hasher.hash(&password).await?;
    let id = state
        .staff
        .reset_staff(&identifier, &hash)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no staff member has the identifier {identifier}"))?;
    // a session opened with the lost phone must not come back once a new one is enrolled
    let ended = state.staff_sessions.end_all_for(id).await?;
    audit_staff_change(
        state,
        crate::audit::AuditKind::StaffReset,
        &identifier,
        id,
        ended,
    )
    .await?;
    Ok(password)
}

/// Stops (or allows again) a staff member's sign-ins; stopping ends their sessions.
pub async fn set_staff_active(
    state: &AppState,
    identifier: &str,
    active: bool,
) -> anyhow::Result<()> {
    let identifier = crate::domain::identifier::normalize_typed(identifier);
    let id = state
        .staff
        .set_staff_active(&identifier, active)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no staff member has the identifier {identifier}"))?;
    let ended = if active {
        0
    } else {
        state.staff_sessions.end_all_for(id).await?
    };
    let kind = if active {
        crate::audit::AuditKind::StaffEnabled
    } else {
        crate::audit::AuditKind::StaffDisabled
    };
    audit_staff_change(state, kind, &identifier, id, ended).await
}

async fn audit_staff_change(
    state: &AppState,
    kind: crate::audit::AuditKind,
    identifier: &str,
    id: i64,
    sessions_ended: usize,
) -> anyhow::Result<()> {
    state
        .audit
        .append(&crate::audit::NewAuditEvent {
            at: state.clock.now(),
            kind,
            actor: Actor::System,
            subject: None,
            source_address: None,
            details: serde_json::json!({
                "staff": identifier,
                "staff_id": id,
                "sessions_ended": sessions_ended,
            }),
        })
        .await?;
    Ok(())
}

/// Seals a staff member's TOTP secret for the database (AES-GCM under the server secret).
pub fn seal_totp_secret(
    secret: &crate::keys::ServerSecret,
    totp: &[u8],
) -> Result<String, AppError> {
    crate::keys::signing::seal(secret, "staff-totp", totp)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// The TOTP secret [`seal_totp_secret`] sealed.
pub fn unseal_totp_secret(
    secret: &crate::keys::ServerSecret,
    sealed: &str,
) -> Result<Vec<u8>, AppError> {
    crate::keys::signing::unseal(secret, "staff-totp", sealed)
        .map_err(|e| AppError::Internal(e.to_string()))
}

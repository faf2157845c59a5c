//! The schools' records: a school's snapshot is compared with what is stored and only the
//! differences are written, in one transaction. The existing records of the school are read
//! once, so an import that changes nothing costs a few queries whatever its size.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{SqlStore, db_error};
use crate::domain::account::AccountKind;
use crate::domain::identifier::{base_identifier, first_free};
use crate::domain::names::fold_for_matching;
use crate::store::*;

/// Hands out free identifiers within one transaction: the identifiers issued for a base are
/// read once, then kept up to date here.
#[derive(Default)]
pub(super) struct Identifiers {
    taken: HashMap<String, Vec<String>>,
}

impl Identifiers {
    async fn allocate(&mut self, tx: &mut AnyConnection, base: &str) -> StoreResult<String> {
        if !self.taken.contains_key(base) {
            let issued: Vec<String> = sqlx::query(
                "SELECT identifier FROM accounts WHERE identifier_base = $1 OR identifier = $1",
            )
            .bind(base)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get("identifier"))
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
            self.taken.insert(base.to_owned(), issued);
        }
        let taken = self.taken.get_mut(base).expect("loaded above");
        let identifier = first_free(base, taken.iter().map(String::as_str));
        taken.push(identifier.clone());
        Ok(identifier)
    }
}

/// The person an account is created for.
pub(super) struct NewHolder<'a> {
    pub kind: AccountKind,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub birth_date: Option<&'a str>,
}

/// Creates the account a record asks for, or finds the existing one; returns its id and, when
/// created, its identifier.
pub(super) async fn provision_account(
    tx: &mut AnyConnection,
    identifiers: &mut Identifiers,
    provision: &AccountProvision,
    holder: &NewHolder<'_>,
    now: i64,
) -> StoreResult<(i64, Option<String>)> {
    let (preferred, credential, email, mobile) = match provision {
        AccountProvision::Existing { identifier } => {
            let id: Option<i64> = sqlx::query("SELECT id FROM accounts WHERE identifier = $1")
                .bind(identifier)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .map(|r| r.try_get("id"))
                .transpose()
                .map_err(db_error)?;
            let id = id.ok_or_else(|| {
                StoreError::Invalid(format!("no account {identifier} to link to"))
            })?;
            return Ok((id, None));
        }
        AccountProvision::New {
            preferred,
            credential,
            email,
            mobile,
        } => (preferred, credential, email, mobile),
    };
    let base = match preferred {
        Some(p) => p.clone(),
        None => base_identifier(holder.first_name, holder.last_name).ok_or_else(|| {
            StoreError::Invalid(format!(
                "cannot make an identifier from « {} {} »",
                holder.first_name, holder.last_name
            ))
        })?,
    };
    let identifier = identifiers.allocate(tx, &base).await?;
    let (password_hash, temporary_hash, temporary_expiry, activated_at) = match credential {
        ProvisionedCredential::Password { hash } => (Some(hash.as_str()), None, None, Some(now)),
        ProvisionedCredential::Temporary {
            secret_hash,
            expires_at,
        } => (None, Some(secret_hash.as_str()), Some(*expires_at), None),
        ProvisionedCredential::ExternalOnly => (None, None, None, Some(now)),
    };
    let id: i64 = sqlx::query(
        "INSERT INTO accounts (identifier, identifier_base, kind, state, first_name, last_name, \
             birth_date, password_hash, temporary_secret_hash, temporary_expires_at, email, \
             email_confirmed, mobile, created_at, updated_at, activated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14) \
         RETURNING id",
    )
    .bind(&identifier)
    .bind(&base)
    .bind(holder.kind.as_str())
    .bind(holder.first_name)
    .bind(holder.last_name)
    .bind(holder.birth_date)
    .bind(password_hash)
    .bind(temporary_hash)
    .bind(temporary_expiry)
    .bind(email.as_deref())
    .bind(i64::from(email.is_some()))
    .bind(mobile.as_deref())
    .bind(now)
    .bind(activated_at)
    .fetch_one(&mut *tx)
    .await
    .and_then(|r| r.try_get("id"))
    .map_err(db_error)?;
    Ok((id, Some(identifier)))
}

/// A pupil record as stored.
struct StoredPupil {
    id: i64,
    ine: Option<String>,
    last_name: String,
    first_name: String,
    birth_date: String,
    class_id: Option<i64>,
    level: Option<String>,
    account_id: Option<i64>,
    left_at: Option<i64>,
}

/// A guardian record as stored.
struct StoredGuardian {
    id: i64,
    civility: Option<String>,
    last_name: String,
    first_name: String,
    email: Option<String>,
    mobile: Option<String>,
    account_id: Option<i64>,
}

async fn stored_pupils(
    tx: &mut AnyConnection,
    uai: &str,
) -> StoreResult<HashMap<String, StoredPupil>> {
    let rows = sqlx::query(
        "SELECT id, source_id, ine, last_name, first_name, birth_date, class_id, level, \
             account_id, left_at \
         FROM pupils WHERE uai = $1",
    )
    .bind(uai)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("source_id").map_err(db_error)?,
                StoredPupil {
                    id: r.try_get("id").map_err(db_error)?,
                    ine: r.try_get("ine").map_err(db_error)?,
                    last_name: r.try_get("last_name").map_err(db_error)?,
                    first_name: r.try_get("first_name").map_err(db_error)?,
                    birth_date: r.try_get("birth_date").map_err(db_error)?,
                    class_id: r.try_get("class_id").map_err(db_error)?,
                    level: r.try_get("level").map_err(db_error)?,
                    account_id: r.try_get("account_id").map_err(db_error)?,
                    left_at: r.try_get("left_at").map_err(db_error)?,
                },
            ))
        })
        .collect()
}

async fn stored_guardians(
    tx: &mut AnyConnection,
    uai: &str,
) -> StoreResult<HashMap<String, StoredGuardian>> {
    let rows = sqlx::query(
        "SELECT id, source_id, civility, last_name, first_name, email, mobile, account_id \
         FROM guardians WHERE uai = $1",
    )
    .bind(uai)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("source_id").map_err(db_error)?,
                StoredGuardian {
                    id: r.try_get("id").map_err(db_error)?,
                    civility: r.try_get("civility").map_err(db_error)?,
                    last_name: r.try_get("last_name").map_err(db_error)?,
                    first_name: r.try_get("first_name").map_err(db_error)?,
                    email: r.try_get("email").map_err(db_error)?,
                    mobile: r.try_get("mobile").map_err(db_error)?,
                    account_id: r.try_get("account_id").map_err(db_error)?,
                },
            ))
        })
        .collect()
}

/// The school's links as stored: (pupil id, guardian id) → rank.
async fn stored_links(
    tx: &mut AnyConnection,
    uai: &str,
) -> StoreResult<HashMap<(i64, i64), String>> {
    let rows = sqlx::query(
        "SELECT l.pupil_id, l.guardian_id, l.rank FROM guardianships l \
         JOIN pupils p ON p.id = l.pupil_id WHERE p.uai = $1",
    )
    .bind(uai)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            Ok((
                (
                    r.try_get("pupil_id").map_err(db_error)?,
                    r.try_get("guardian_id").map_err(db_error)?,
                ),
                r.try_get("rank").map_err(db_error)?,
            ))
        })
        .collect()
}

/// The account of a pupil enrolled before in another school, found by INE: a pupil who
/// moves keeps their account.
async fn account_by_ine(tx: &mut AnyConnection, uai: &str, ine: &str) -> StoreResult<Option<i64>> {
    sqlx::query(
        "SELECT account_id FROM pupils WHERE ine = $1 AND uai <> $2 AND account_id IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(ine)
    .bind(uai)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?
    .map(|r| r.try_get("account_id"))
    .transpose()
    .map_err(db_error)
}

/// Enables again the account of a pupil who is enrolled again, if leaving had disabled it.
async fn enable_returning(tx: &mut AnyConnection, account_id: i64, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET state = 'active', disabled_reason = NULL, updated_at = $1 \
         WHERE id = $2 AND state = 'disabled' AND disabled_reason = 'left_school'",
    )
    .bind(now)
    .bind(account_id)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// What the automatic regrouping says about a guardian record without an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Regrouping {
    /// No proposal: the record gets the account the snapshot asks for.
    None,
    /// A proposal waits for its answer: no account meanwhile.
    Waiting,
    /// Propose the record to this account in use.
    Propose(i64),
}

/// How long a proposal keeps a record without an account of its own: past it (the holder
/// never answered), the next import gives the record its account and letter.
const PROPOSAL_WAIT: i64 = 60 * 86_400;

async fn regrouping(
    tx: &mut AnyConnection,
    holders: &HoldersInUse,
    guardian_id: i64,
    g: &GuardianRecord,
    provision: &AccountProvision,
    now: i64,
) -> StoreResult<Regrouping> {
    let proposal = sqlx::query(
        "SELECT r.declined_at, r.created_at, a.state FROM regroup_proposals r \
         JOIN accounts a ON a.id = r.account_id WHERE r.guardian_id = $1",
    )
    .bind(guardian_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    let waiting = match &proposal {
        Some(r) => {
            let declined: Option<i64> = r.try_get("declined_at").map_err(db_error)?;
            let created: i64 = r.try_get("created_at").map_err(db_error)?;
            let state: String = r.try_get("state").map_err(db_error)?;
            Some(declined.is_none() && state == "active" && now - created < PROPOSAL_WAIT)
        }
        None => None,
    };
    Ok(match waiting {
        Some(true) => Regrouping::Waiting,
        // declined, unanswered for too long, or its account closed: the record gets an
        // account of its own now
        Some(false) => Regrouping::None,
        None => match holders.holder_of(g, provision) {
            Some(account_id) => Regrouping::Propose(account_id),
            None => Regrouping::None,
        },
    })
}

/// Accounts in use (activated, open guardian accounts) by the contacts that know them: an
/// e-mail confirmed on the account, its mobile, or an e-mail or mobile a school recorded on
/// one of its records. Loaded once per import for the records that may need it, in batches:
/// a first import asks it for every guardian record.
#[derive(Default)]
struct HoldersInUse {
    /// Contact → (account id, folded first name, folded last name).
    by_contact: HashMap<String, Vec<(i64, String, String)>>,
}

/// Contacts looked up per query (each is bound once and used by the four lookups).
const CONTACTS_PER_QUERY: usize = 500;

fn contacts_of(g: &GuardianRecord) -> impl Iterator<Item = String> + '_ {
    g.email
        .as_deref()
        .map(str::to_lowercase)
        .into_iter()
        .chain(g.mobile.clone())
}

impl HoldersInUse {
    async fn load<'a>(
        tx: &mut AnyConnection,
        records: impl Iterator<Item = &'a GuardianRecord>,
    ) -> StoreResult<Self> {
        let mut contacts: Vec<String> = records.flat_map(contacts_of).collect();
        contacts.sort();
        contacts.dedup();
        let mut holders = Self::default();
        const IN_USE: &str =
            "a.kind = 'responsable' AND a.state = 'active' AND a.activated_at IS NOT NULL";
        for chunk in contacts.chunks(CONTACTS_PER_QUERY) {
            let list = super::placeholders(1, chunk.len());
            // one indexed lookup per way of knowing a contact (an e-mail never equals a
            // mobile, so one list serves the four)
            let sql = format!(
                "SELECT a.email AS contact, a.id, a.first_name, a.last_name FROM accounts a \
                     WHERE a.email IN ({list}) AND a.email_confirmed = 1 AND {IN_USE} \
                 UNION SELECT a.mobile, a.id, a.first_name, a.last_name FROM accounts a \
                     WHERE a.mobile IN ({list}) AND {IN_USE} \
                 UNION SELECT g.email, a.id, a.first_name, a.last_name FROM guardians g \
                     JOIN accounts a ON a.id = g.account_id WHERE g.email IN ({list}) AND {IN_USE} \
                 UNION SELECT g.mobile, a.id, a.first_name, a.last_name FROM guardians g \
                     JOIN accounts a ON a.id = g.account_id WHERE g.mobile IN ({list}) AND {IN_USE}"
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for contact in chunk {
                query = query.bind(contact);
            }
            for r in query.fetch_all(&mut *tx).await.map_err(db_error)? {
                let contact: String = r.try_get("contact").map_err(db_error)?;
                let first: String = r.try_get("first_name").map_err(db_error)?;
                let last: String = r.try_get("last_name").map_err(db_error)?;
                let id: i64 = r.try_get("id").map_err(db_error)?;
                holders.by_contact.entry(contact).or_default().push((
                    id,
                    fold_for_matching(&first),
                    fold_for_matching(&last),
                ));
            }
        }
        Ok(holders)
    }

    /// The account in use of the person a guardian record without an account names: the
    /// same folded names, and the record's e-mail or mobile known for that account. Only for
    /// a record the snapshot would give a new account, and only one such account: two would
    /// be a guess.
    fn holder_of(&self, g: &GuardianRecord, provision: &AccountProvision) -> Option<i64> {
        if !matches!(provision, AccountProvision::New { .. }) {
            return None;
        }
        let (first, last) = (
            fold_for_matching(&g.first_name),
            fold_for_matching(&g.last_name),
        );
        let mut holders: Vec<i64> = contacts_of(g)
            .filter_map(|c| self.by_contact.get(&c))
            .flatten()
            .filter(|(_, f, l)| *f == first && *l == last)
            .map(|(id, _, _)| *id)
            .collect();
        holders.sort_unstable();
        holders.dedup();
        match holders.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// Records a proposal, and tells the audit log of the account it is for.
async fn propose(
    tx: &mut AnyConnection,
    guardian_id: i64,
    account_id: i64,
    uai: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO regroup_proposals (guardian_id, account_id, created_at, tries_left) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(guardian_id)
    .bind(account_id)
    .bind(now)
    .bind(super::grouping::REGROUP_TRIES)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    super::audit_in(
        tx,
        &crate::audit::NewAuditEvent {
            at: now,
            kind: crate::audit::AuditKind::RegroupProposed,
            actor: crate::audit::Actor::System,
            subject: Some(account_id),
            source_address: None,
            details: serde_json::json!({ "guardian_record": guardian_id, "uai": uai }),
        },
    )
    .await
}

impl SqlStore {
    async fn provision_in(
        tx: &mut AnyConnection,
        snapshot: &SchoolSnapshot,
        now: i64,
        leaving_grace: i64,
    ) -> StoreResult<ProvisionReport> {
        let school = &snapshot.school;
        let uai = school.uai.as_str();
        sqlx::query(
            "INSERT INTO schools (uai, name, academie, degree) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (uai) DO UPDATE SET name = excluded.name, academie = excluded.academie, \
                 degree = excluded.degree",
        )
        .bind(uai)
        .bind(&school.name)
        .bind(&school.academie)
        .bind(school.degree.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;

        let mut class_ids: HashMap<String, i64> = HashMap::new();
        for row in sqlx::query("SELECT id, name FROM classes WHERE uai = $1")
            .bind(uai)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?
        {
            class_ids.insert(
                row.try_get("name").map_err(db_error)?,
                row.try_get("id").map_err(db_error)?,
            );
        }
        for name in &snapshot.classes {
            if class_ids.contains_key(name) {
                continue;
            }
            let id: i64 =
                sqlx::query("INSERT INTO classes (uai, name) VALUES ($1, $2) RETURNING id")
                    .bind(uai)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get("id"))
                    .map_err(db_error)?;
            class_ids.insert(name.clone(), id);
        }

        let mut report = ProvisionReport::default();
        let mut identifiers = Identifiers::default();
        let mut pupils = stored_pupils(tx, uai).await?;
        let mut pupil_ids = HashMap::new();
        for p in &snapshot.pupils {
            let class_id = match &p.class_name {
                Some(name) => Some(*class_ids.get(name).ok_or_else(|| {
                    StoreError::Invalid(format!("pupil {} is in unknown class {name}", p.source_id))
                })?),
                None => None,
            };
            let holder = NewHolder {
                kind: AccountKind::Eleve,
                first_name: &p.first_name,
                last_name: &p.last_name,
                birth_date: Some(&p.birth_date),
            };
            let id = match pupils.remove(&p.source_id) {
                Some(stored) => {
                    let changed = stored.ine != p.ine
                        || stored.last_name != p.last_name
                        || stored.first_name != p.first_name
                        || stored.birth_date != p.birth_date
                        || stored.class_id != class_id
                        || stored.level != p.level
                        || stored.left_at.is_some();
                    if changed {
                        report.updated += 1;
                        sqlx::query(
                            "UPDATE pupils SET ine = $1, last_name = $2, first_name = $3, \
                                 birth_date = $4, class_id = $5, level = $6, left_at = NULL \
                             WHERE id = $7",
                        )
                        .bind(p.ine.as_deref())
                        .bind(&p.last_name)
                        .bind(&p.first_name)
                        .bind(&p.birth_date)
                        .bind(class_id)
                        .bind(p.level.as_deref())
                        .bind(stored.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        if let Some(account_id) = stored.account_id {
                            // the school's records are the source of truth for names and
                            // birth dates
                            sqlx::query(
                                "UPDATE accounts SET first_name = $1, last_name = $2, \
                                     birth_date = $3, updated_at = $4 \
                                 WHERE id = $5 AND kind = 'eleve'",
                            )
                            .bind(&p.first_name)
                            .bind(&p.last_name)
                            .bind(&p.birth_date)
                            .bind(now)
                            .bind(account_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                            if stored.left_at.is_some() {
                                enable_returning(tx, account_id, now).await?;
                            }
                        }
                    }
                    if let (None, Some(provision)) = (stored.account_id, &p.account) {
                        let (account_id, identifier) =
                            provision_account(tx, &mut identifiers, provision, &holder, now)
                                .await?;
                        sqlx::query("UPDATE pupils SET account_id = $1 WHERE id = $2")
                            .bind(account_id)
                            .bind(stored.id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        report.note_created(AccountKind::Eleve, &p.source_id, identifier);
                    }
                    stored.id
                }
                None => {
                    report.created += 1;
                    let moved = match &p.ine {
                        Some(ine) => account_by_ine(tx, uai, ine).await?,
                        None => None,
                    };
                    let account_id = match (moved, &p.account) {
                        (Some(account_id), _) => {
                            enable_returning(tx, account_id, now).await?;
                            Some(account_id)
                        }
                        (None, Some(provision)) => {
                            let (account_id, identifier) =
                                provision_account(tx, &mut identifiers, provision, &holder, now)
                                    .await?;
                            report.note_created(AccountKind::Eleve, &p.source_id, identifier);
                            Some(account_id)
                        }
                        (None, None) => None,
                    };
                    let id: i64 = sqlx::query(
                        "INSERT INTO pupils (uai, source_id, ine, last_name, first_name, \
                             birth_date, class_id, level, account_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    )
                    .bind(uai)
                    .bind(&p.source_id)
                    .bind(p.ine.as_deref())
                    .bind(&p.last_name)
                    .bind(&p.first_name)
                    .bind(&p.birth_date)
                    .bind(class_id)
                    .bind(p.level.as_deref())
                    .bind(account_id)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get("id"))
                    .map_err(db_error)?;
                    id
                }
            };
            pupil_ids.insert(p.source_id.as_str(), id);
        }
        // the school's records no longer list these pupils: they left
        for stored in pupils.values().filter(|p| p.left_at.is_none()) {
            report.left += 1;
            sqlx::query("UPDATE pupils SET left_at = $1 WHERE id = $2")
                .bind(now)
                .bind(stored.id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }

        let mut guardians = stored_guardians(tx, uai).await?;
        // the records that would get a new account: new ones, and known ones still without
        let holders = HoldersInUse::load(
            tx,
            snapshot.guardians.iter().filter(|g| {
                matches!(g.account, Some(AccountProvision::New { .. }))
                    && guardians
                        .get(&g.source_id)
                        .is_none_or(|stored| stored.account_id.is_none())
            }),
        )
        .await?;
        let mut guardian_ids = HashMap::new();
        for g in &snapshot.guardians {
            let id = match guardians.remove(&g.source_id) {
                Some(stored) => {
                    let changed = stored.civility != g.civility
                        || stored.last_name != g.last_name
                        || stored.first_name != g.first_name
                        || stored.email != g.email
                        || stored.mobile != g.mobile;
                    if changed {
                        report.updated += 1;
                        sqlx::query(
                            "UPDATE guardians SET civility = $1, last_name = $2, first_name = $3, \
                                 email = $4, mobile = $5, match_last_name = $6 WHERE id = $7",
                        )
                        .bind(g.civility.as_deref())
                        .bind(&g.last_name)
                        .bind(&g.first_name)
                        .bind(g.email.as_deref())
                        .bind(g.mobile.as_deref())
                        .bind(fold_for_matching(&g.last_name))
                        .bind(stored.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    let proposal = match (stored.account_id, &g.account) {
                        (None, Some(provision)) => {
                            regrouping(tx, &holders, stored.id, g, provision, now).await?
                        }
                        _ => Regrouping::None,
                    };
                    if let Regrouping::Propose(account_id) = proposal {
                        propose(tx, stored.id, account_id, uai, now).await?;
                        report.regroupings_proposed += 1;
                    }
                    if let (None, Some(provision), Regrouping::None) =
                        (stored.account_id, &g.account, proposal)
                    {
                        let holder = NewHolder {
                            kind: AccountKind::Responsable,
                            first_name: &g.first_name,
                            last_name: &g.last_name,
                            birth_date: None,
                        };
                        let (account_id, identifier) =
                            provision_account(tx, &mut identifiers, provision, &holder, now)
                                .await?;
                        sqlx::query("UPDATE guardians SET account_id = $1 WHERE id = $2")
                            .bind(account_id)
                            .bind(stored.id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        report.note_created(AccountKind::Responsable, &g.source_id, identifier);
                    }
                    stored.id
                }
                None => {
                    report.created += 1;
                    let holder_in_use = g
                        .account
                        .as_ref()
                        .and_then(|provision| holders.holder_of(g, provision));
                    let account_id = match &g.account {
                        Some(_) if holder_in_use.is_some() => None,
                        Some(provision) => {
                            let holder = NewHolder {
                                kind: AccountKind::Responsable,
                                first_name: &g.first_name,
                                last_name: &g.last_name,
                                birth_date: None,
                            };
                            let (account_id, identifier) =
                                provision_account(tx, &mut identifiers, provision, &holder, now)
                                    .await?;
                            report.note_created(AccountKind::Responsable, &g.source_id, identifier);
                            Some(account_id)
                        }
                        None => None,
                    };
                    let id = sqlx::query(
                        "INSERT INTO guardians (uai, source_id, civility, last_name, first_name, \
                             email, mobile, match_last_name, account_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    )
                    .bind(uai)
                    .bind(&g.source_id)
                    .bind(g.civility.as_deref())
                    .bind(&g.last_name)
                    .bind(&g.first_name)
                    .bind(g.email.as_deref())
                    .bind(g.mobile.as_deref())
                    .bind(fold_for_matching(&g.last_name))
                    .bind(account_id)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get::<i64, _>("id"))
                    .map_err(db_error)?;
                    if let Some(holder) = holder_in_use {
                        propose(tx, id, holder, uai, now).await?;
                        report.regroupings_proposed += 1;
                    }
                    id
                }
            };
            guardian_ids.insert(g.source_id.as_str(), id);
        }

        let mut links = stored_links(tx, uai).await?;
        let mut listed = HashSet::new();
        for link in &snapshot.links {
            let pupil = *pupil_ids
                .get(link.pupil_source_id.as_str())
                .ok_or_else(|| {
                    StoreError::Invalid(format!("link to unknown pupil {}", link.pupil_source_id))
                })?;
            let guardian = *guardian_ids
                .get(link.guardian_source_id.as_str())
                .ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "link to unknown guardian {}",
                        link.guardian_source_id
                    ))
                })?;
            if !listed.insert((pupil, guardian)) {
                return Err(StoreError::Invalid(format!(
                    "link {} – {} listed twice",
                    link.pupil_source_id, link.guardian_source_id
                )));
            }
            match links.remove(&(pupil, guardian)) {
                Some(rank) if rank == link.rank.as_str() => {}
                Some(_) => {
                    report.updated += 1;
                    sqlx::query(
                        "UPDATE guardianships SET rank = $1 WHERE pupil_id = $2 AND guardian_id = $3",
                    )
                    .bind(link.rank.as_str())
                    .bind(pupil)
                    .bind(guardian)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                None => {
                    report.created += 1;
                    sqlx::query(
                        "INSERT INTO guardianships (pupil_id, guardian_id, rank) VALUES ($1, $2, $3)",
                    )
                    .bind(pupil)
                    .bind(guardian)
                    .bind(link.rank.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
            }
        }
        // links the school no longer records are removed
        for (pupil, guardian) in links.keys() {
            report.updated += 1;
            sqlx::query("DELETE FROM guardianships WHERE pupil_id = $1 AND guardian_id = $2")
                .bind(pupil)
                .bind(guardian)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }

        report.disabled = Self::disable_departed(tx, uai, now, leaving_grace).await?;
        Ok(report)
    }

    /// Disables the accounts of this school's pupils who left more than `leaving_grace`
    /// seconds ago and are enrolled nowhere else.
    async fn disable_departed(
        tx: &mut AnyConnection,
        uai: &str,
        now: i64,
        leaving_grace: i64,
    ) -> StoreResult<usize> {
        let done = sqlx::query(
            "UPDATE accounts SET state = 'disabled', disabled_reason = 'left_school', \
                 updated_at = $1 \
             WHERE state = 'active' AND kind = 'eleve' \
               AND id IN (SELECT account_id FROM pupils \
                          WHERE uai = $2 AND left_at IS NOT NULL AND left_at <= $3) \
               AND NOT EXISTS (SELECT 1 FROM pupils live \
                               WHERE live.account_id = accounts.id AND live.left_at IS NULL)",
        )
        .bind(now)
        .bind(uai)
        .bind(now - leaving_grace)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }
}

impl ProvisionReport {
    fn note_created(&mut self, kind: AccountKind, source_id: &str, identifier: Option<String>) {
        if let Some(identifier) = identifier {
            self.accounts_created.push(CreatedAccount {
                kind,
                source_id: source_id.to_owned(),
                identifier,
            });
        }
    }
}

#[async_trait]
impl DirectoryStore for SqlStore {
    async fn provision_school(
        &self,
        snapshot: &SchoolSnapshot,
        now: i64,
        leaving_grace: i64,
    ) -> StoreResult<ProvisionReport> {
        let mut tx = self.begin_write().await?;
        // On error the transaction is dropped, which rolls it back.
        let report = Self::provision_in(&mut tx, snapshot, now, leaving_grace).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(report)
    }

    async fn school(&self, uai: &str) -> StoreResult<Option<School>> {
        let row = sqlx::query("SELECT uai, name, academie, degree FROM schools WHERE uai = $1")
            .bind(uai)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(school_from_row).transpose()
    }

    async fn classes(&self, uai: &str) -> StoreResult<Vec<String>> {
        sqlx::query("SELECT name FROM classes WHERE uai = $1 ORDER BY name")
            .bind(uai)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get("name").map_err(db_error))
            .collect()
    }
}

pub(super) fn school_from_row(r: &sqlx::any::AnyRow) -> StoreResult<School> {
    let degree: String = r.try_get("degree").map_err(db_error)?;
    Ok(School {
        uai: r.try_get("uai").map_err(db_error)?,
        name: r.try_get("name").map_err(db_error)?,
        academie: r.try_get("academie").map_err(db_error)?,
        degree: Degree::parse(&degree)
            .ok_or_else(|| StoreError::Corrupt(format!("degree {degree}")))?,
    })
}

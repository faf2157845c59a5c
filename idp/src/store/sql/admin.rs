//! School administration: staff accounts, and a school's accounts as its administrators see
//! and change them. Every statement that reads or writes an account names the school, so an
//! administrator of one school can never reach another's accounts whatever id is sent.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::directory::school_from_row;
use super::{SqlStore, audit_in, db_error, revoke_account_grants};
use crate::audit::Actor;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::domain::account::{AccountKind, AccountState};
use crate::domain::names::fold_for_matching;
use crate::domain::staff::{SchoolAccount, StaffRole};
use crate::store::{
    AccountChange, NewStaff, School, SchoolAdminStore, StaffAction, StaffMember, StaffStore,
    StoreError, StoreResult,
};

/// The condition that the account being updated is the school's, whose UAI is the parameter
/// `$n`: a pupil enrolled there, or a guardian of a pupil enrolled there (by a link the
/// guardian did not dispute). A guardian record whose children all left is not enough.
fn in_school(n: usize) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM pupils p WHERE p.account_id = accounts.id AND p.uai = ${n} \
                  AND p.left_at IS NULL) \
          OR EXISTS (SELECT 1 FROM guardians g \
                  JOIN guardianships gs ON gs.guardian_id = g.id AND gs.disputed_at IS NULL \
                  JOIN pupils p ON p.id = gs.pupil_id AND p.uai = ${n} AND p.left_at IS NULL \
                  WHERE g.account_id = accounts.id AND g.uai = ${n}))"
    )
}

const STAFF_COLUMNS: &str = "id, identifier, first_name, last_name, email, role, state, \
     password_hash, totp_secret, totp_last_step";

impl SqlStore {
    async fn staff_where(
        &self,
        condition: &str,
        value: StaffKey<'_>,
    ) -> StoreResult<Option<StaffMember>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE {condition} = $1");
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = match value {
            StaffKey::Id(id) => query.bind(id),
            StaffKey::Identifier(identifier) => query.bind(identifier),
        };
        let Some(row) = query.fetch_optional(&self.pool).await.map_err(db_error)? else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id").map_err(db_error)?;
        let schools = sqlx::query("SELECT uai FROM staff_schools WHERE staff_id = $1 ORDER BY uai")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get("uai").map_err(db_error))
            .collect::<StoreResult<Vec<String>>>()?;
        let role: String = row.try_get("role").map_err(db_error)?;
        let state: String = row.try_get("state").map_err(db_error)?;
        Ok(Some(StaffMember {
            id,
            identifier: row.try_get("identifier").map_err(db_error)?,
            first_name: row.try_get("first_name").map_err(db_error)?,
            last_name: row.try_get("last_name").map_err(db_error)?,
            email: row.try_get("email").map_err(db_error)?,
            role: StaffRole::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("staff role {role}")))?,
            active: state == "active",
            password_hash: row.try_get("password_hash").map_err(db_error)?,
            sealed_totp_secret: row.try_get("totp_secret").map_err(db_error)?,
            totp_last_step: row.try_get("totp_last_step").map_err(db_error)?,
            schools,
        }))
    }
}

enum StaffKey<'a> {
    Id(i64),
    Identifier(&'a str),
}

#[async_trait]
impl StaffStore for SqlStore {
    async fn staff_by_identifier(&self, identifier: &str) -> StoreResult<Option<StaffMember>> {
        self.staff_where("identifier", StaffKey::Identifier(identifier))
            .await
    }

    async fn staff_by_id(&self, id: i64) -> StoreResult<Option<StaffMember>> {
        self.staff_where("id", StaffKey::Id(id)).await
    }

    async fn add_staff(&self, s: &NewStaff<'_>) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        for uai in s.schools {
            let known = sqlx::query("SELECT uai FROM schools WHERE uai = $1")
                .bind(uai)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            if known.is_none() {
                return Err(StoreError::Invalid(format!("unknown school {uai}")));
            }
        }
        let id: i64 = sqlx::query(
            "INSERT INTO staff (identifier, first_name, last_name, email, password_hash, role, \
                 state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7) RETURNING id",
        )
        .bind(s.identifier)
        .bind(s.first_name)
        .bind(s.last_name)
        .bind(s.email)
        .bind(s.password_hash)
        .bind(s.role.as_str())
        .bind(s.now)
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get("id"))
        .map_err(db_error)?;
        for uai in s.schools {
            sqlx::query("INSERT INTO staff_schools (staff_id, uai) VALUES ($1, $2)")
                .bind(id)
                .bind(uai)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(id)
    }

    async fn enrol_totp(&self, staff_id: i64, sealed_secret: &str, step: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE staff SET totp_secret = $1, totp_last_step = $2 \
             WHERE id = $3 AND totp_secret IS NULL",
        )
        .bind(sealed_secret)
        .bind(step)
        .bind(staff_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_totp_step(&self, staff_id: i64, step: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE staff SET totp_last_step = $1 \
             WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(staff_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reset_staff(&self, identifier: &str, password_hash: &str) -> StoreResult<Option<i64>> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE staff SET password_hash = $1, totp_secret = NULL, totp_last_step = NULL \
             WHERE identifier = $2 RETURNING id",
        )
        .bind(password_hash)
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .map(|r| r.try_get("id").map_err(db_error))
        .transpose()
    }

    async fn set_staff_active(&self, identifier: &str, active: bool) -> StoreResult<Option<i64>> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE staff SET state = $1 WHERE identifier = $2 RETURNING id")
            .bind(if active { "active" } else { "disabled" })
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|r| r.try_get("id").map_err(db_error))
            .transpose()
    }

    async fn all_staff(&self) -> StoreResult<Vec<StaffMember>> {
        let ids = sqlx::query("SELECT id FROM staff ORDER BY identifier")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut all = Vec::with_capacity(ids.len());
        for row in &ids {
            let id: i64 = row.try_get("id").map_err(db_error)?;
            all.extend(self.staff_by_id(id).await?);
        }
        Ok(all)
    }
}

/// Columns of an account as the administration lists it, from `accounts a`.
const LISTED: &str = "a.id, a.identifier, a.kind, a.first_name, a.last_name, a.state, \
     a.activated_at, a.locked_until, \
     (SELECT COUNT(*) FROM external_identities e WHERE e.account_id = a.id) AS upstream";

fn listed_account(r: &AnyRow) -> StoreResult<SchoolAccount> {
    let kind: String = r.try_get("kind").map_err(db_error)?;
    let state: String = r.try_get("state").map_err(db_error)?;
    let activated_at: Option<i64> = r.try_get("activated_at").map_err(db_error)?;
    let upstream: i64 = r.try_get("upstream").map_err(db_error)?;
    Ok(SchoolAccount {
        account_id: r.try_get("id").map_err(db_error)?,
        identifier: r.try_get("identifier").map_err(db_error)?,
        kind: AccountKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("account kind {kind}")))?,
        first_name: r.try_get("first_name").map_err(db_error)?,
        last_name: r.try_get("last_name").map_err(db_error)?,
        civility: None,
        classes: Vec::new(),
        children: Vec::new(),
        state: AccountState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("account state {state}")))?,
        // an account that comes through FranceConnect is in use, password or not
        activated: activated_at.is_some() || upstream > 0,
        locked_until: r.try_get("locked_until").map_err(db_error)?,
        franceconnect: upstream > 0,
    })
}

#[async_trait]
impl SchoolAdminStore for SqlStore {
    async fn schools(&self) -> StoreResult<Vec<School>> {
        let mut schools = sqlx::query("SELECT uai, name, academie, degree FROM schools")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(school_from_row)
            .collect::<StoreResult<Vec<School>>>()?;
        // sorted here: the backends' collations differ
        schools.sort_by_cached_key(|s| (fold_for_matching(&s.name), s.uai.clone()));
        Ok(schools)
    }

    async fn school_accounts(&self, uai: &str) -> StoreResult<Vec<SchoolAccount>> {
        let mut accounts: BTreeMap<i64, SchoolAccount> = BTreeMap::new();
        let pupils = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LISTED}, c.name AS class_name \
             FROM pupils p JOIN accounts a ON a.id = p.account_id \
             LEFT JOIN classes c ON c.id = p.class_id \
             WHERE p.uai = $1 AND p.left_at IS NULL AND a.state <> 'closed'"
        )))
        .bind(uai)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        for row in &pupils {
            let account = listed_account(row)?;
            let class: Option<String> = row.try_get("class_name").map_err(db_error)?;
            let entry = accounts.entry(account.account_id).or_insert(account);
            entry.classes.extend(class);
        }
        // one row per guardian record and child at school there (a guardian whose children
        // all left, or who disputed the link, is not the school's any more)
        let guardians = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LISTED}, g.civility, c.name AS class_name, \
                 p.first_name AS child_first, p.last_name AS child_last \
             FROM guardians g JOIN accounts a ON a.id = g.account_id \
             JOIN guardianships gs ON gs.guardian_id = g.id AND gs.disputed_at IS NULL \
             JOIN pupils p ON p.id = gs.pupil_id AND p.uai = $1 AND p.left_at IS NULL \
             LEFT JOIN classes c ON c.id = p.class_id \
             WHERE g.uai = $1 AND a.state <> 'closed'"
        )))
        .bind(uai)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        for row in &guardians {
            let account = listed_account(row)?;
            let civility: Option<String> = row.try_get("civility").map_err(db_error)?;
            let class: Option<String> = row.try_get("class_name").map_err(db_error)?;
            let child_first: Option<String> = row.try_get("child_first").map_err(db_error)?;
            let child_last: Option<String> = row.try_get("child_last").map_err(db_error)?;
            let entry = accounts.entry(account.account_id).or_insert(account);
            if entry.civility.is_none() {
                entry.civility = civility;
            }
            if let Some(class) = &class
                && !entry.classes.contains(class)
            {
                entry.classes.push(class.clone());
            }
            if let (Some(first), Some(last)) = (child_first, child_last) {
                let child = match &class {
                    Some(class) => format!("{first} {last} ({class})"),
                    None => format!("{first} {last}"),
                };
                if !entry.children.contains(&child) {
                    entry.children.push(child);
                }
            }
        }
        let mut accounts: Vec<SchoolAccount> = accounts.into_values().collect();
        for account in &mut accounts {
            // the same order on both backends
            account.classes.sort();
            account
                .children
                .sort_by_cached_key(|c| fold_for_matching(c));
        }
        Ok(accounts)
    }

    async fn regenerate_passwords(
        &self,
        action: &StaffAction<'_>,
        passwords: &[(i64, String)],
        expires_at: i64,
    ) -> StoreResult<()> {
        // dropped without commit on any error: nothing is written
        let mut tx = self.begin_write().await?;
        // the staff give the stuck a way in: a lock ends with the new password
        let sql = super::temporary_password_update(
            "locked_until = NULL",
            &format!("state = 'active' AND {}", in_school(5)),
        );
        for (account_id, secret_hash) in passwords {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(secret_hash)
                .bind(expires_at)
                .bind(action.now)
                .bind(account_id)
                .bind(action.uai)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "account {account_id} is not an active account of {}",
                    action.uai
                )));
            }
            revoke_account_grants(&mut tx, *account_id, None, action.now).await?;
            audit_in(
                &mut tx,
                &NewAuditEvent {
                    at: action.now,
                    kind: AuditKind::TemporaryPasswordIssued,
                    actor: action.actor.clone(),
                    subject: Some(*account_id),
                    source_address: action.source_address.map(str::to_owned),
                    details: json!({
                        "by": "staff",
                        "by_label": by_label(action.actor),
                        "staff": action.by,
                        "uai": action.uai,
                        "batch": passwords.len(),
                    }),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn change_accounts(
        &self,
        action: &StaffAction<'_>,
        account_ids: &[i64],
        change: AccountChange,
    ) -> StoreResult<Vec<i64>> {
        let (set, applies, kind) = match change {
            AccountChange::Unlock => (
                "locked_until = NULL",
                "state = 'active' AND locked_until IS NOT NULL",
                AuditKind::AccountUnlocked,
            ),
            AccountChange::Disable => (
                "state = 'disabled', disabled_reason = 'staff'",
                "state = 'active'",
                AuditKind::AccountDisabled,
            ),
            // only what staff disabled: a pupil who left is enabled again by the import
            AccountChange::Enable => (
                "state = 'active', disabled_reason = NULL",
                "state = 'disabled' AND disabled_reason = 'staff'",
                AuditKind::AccountEnabled,
            ),
        };
        let sql = format!(
            "UPDATE accounts SET {set}, updated_at = $1 WHERE id = $2 AND {applies} AND {}",
            in_school(3)
        );
        // dropped without commit on any error: nothing is written
        let mut tx = self.begin_write().await?;
        let mut changed = Vec::new();
        for account_id in account_ids {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(action.now)
                .bind(account_id)
                .bind(action.uai)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            if done.rows_affected() != 1 {
                continue;
            }
            if change == AccountChange::Disable {
                revoke_account_grants(&mut tx, *account_id, None, action.now).await?;
            }
            audit_in(
                &mut tx,
                &NewAuditEvent {
                    at: action.now,
                    kind,
                    actor: action.actor.clone(),
                    subject: Some(*account_id),
                    source_address: action.source_address.map(str::to_owned),
                    details: json!({ "staff": action.by, "uai": action.uai }),
                },
            )
            .await?;
            changed.push(*account_id);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(changed)
    }
}

/// How the holder's history names who gave a new password.
fn by_label(actor: &Actor) -> &'static str {
    match actor {
        Actor::Client(_) => "par l'académie",
        _ => "par votre établissement",
    }
}

//! SQL for identities at upstream providers (FranceConnect) and the guardian records they are
//! matched to.

use async_trait::async_trait;
use sqlx::Row;

use super::directory::{Identifiers, NewHolder, provision_account};
use super::{ACCOUNT_COLUMNS, SqlStore, account_from_row, db_error};
use crate::domain::account::{Account, AccountKind};
use crate::store::*;

#[async_trait]
impl ExternalIdentityStore for SqlStore {
    async fn account_for_external(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<Account>> {
        let columns = ACCOUNT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM external_identities e JOIN accounts a ON a.id = e.account_id \
             WHERE e.provider = $1 AND e.subject = $2"
        )))
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn guardians_named(
        &self,
        folded_last_names: &[String],
        keep: &(dyn for<'n> Fn(&'n str, &'n str, Option<&'n str>) -> bool + Send + Sync),
    ) -> StoreResult<Vec<GuardianCandidate>> {
        if folded_last_names.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = super::placeholders(1, folded_last_names.len());
        let sql = format!(
            "SELECT g.id, g.uai, s.name AS school_name, g.civility, g.first_name, g.last_name, \
                 g.email, g.mobile, \
                 COALESCE(g.account_id, (SELECT r.account_id FROM regroup_proposals r \
                     JOIN accounts a ON a.id = r.account_id \
                     WHERE r.guardian_id = g.id AND r.declined_at IS NULL \
                       AND a.state = 'active')) AS account_id \
             FROM guardians g JOIN schools s ON s.uai = g.uai \
             WHERE g.match_last_name IN ({placeholders}) ORDER BY g.id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for name in folded_last_names {
            query = query.bind(name);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
        let mut candidates = Vec::new();
        for row in rows {
            let candidate = GuardianCandidate {
                guardian_id: row.try_get("id").map_err(db_error)?,
                uai: row.try_get("uai").map_err(db_error)?,
                school_name: row.try_get("school_name").map_err(db_error)?,
                civility: row.try_get("civility").map_err(db_error)?,
                first_name: row.try_get("first_name").map_err(db_error)?,
                last_name: row.try_get("last_name").map_err(db_error)?,
                email: row.try_get("email").map_err(db_error)?,
                mobile: row.try_get("mobile").map_err(db_error)?,
                account_id: row.try_get("account_id").map_err(db_error)?,
                children: Vec::new(),
            };
            // a common name brings many records: the children only of those that match
            if keep(
                &candidate.first_name,
                &candidate.last_name,
                candidate.civility.as_deref(),
            ) {
                candidates.push(candidate);
            }
        }
        for candidate in &mut candidates {
            candidate.children = sqlx::query(
                "SELECT p.id, p.first_name, p.last_name, p.birth_date, s.name AS school_name, \
                     c.name AS class_name \
                 FROM guardianships gs JOIN pupils p ON p.id = gs.pupil_id \
                 JOIN schools s ON s.uai = p.uai LEFT JOIN classes c ON c.id = p.class_id \
                 WHERE gs.guardian_id = $1 AND p.left_at IS NULL AND gs.disputed_at IS NULL \
                 ORDER BY p.birth_date, p.id",
            )
            .bind(candidate.guardian_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| {
                Ok(LinkableChild {
                    pupil_id: r.try_get("id").map_err(db_error)?,
                    first_name: r.try_get("first_name").map_err(db_error)?,
                    last_name: r.try_get("last_name").map_err(db_error)?,
                    birth_date: r.try_get("birth_date").map_err(db_error)?,
                    school_name: r.try_get("school_name").map_err(db_error)?,
                    class_name: r.try_get("class_name").map_err(db_error)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        }
        Ok(candidates)
    }

    async fn link_external(&self, link: &ExternalLink<'_>) -> StoreResult<LinkedAccount> {
        if link.guardian_ids.is_empty() {
            return Err(StoreError::Invalid("no guardian record to link".into()));
        }
        // dropped without commit on any error: nothing is written
        let mut tx = self.begin_write().await?;
        // one identity per account and provider, one account per identity
        let taken = sqlx::query(
            "SELECT 1 AS n FROM external_identities \
             WHERE provider = $1 AND (subject = $2 OR account_id = $3)",
        )
        .bind(link.provider)
        .bind(link.subject)
        .bind(link.account_id.unwrap_or(-1))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if taken.is_some() {
            return Err(StoreError::Conflict(
                "this upstream identity, or the account, is already linked".into(),
            ));
        }
        let (account_id, identifier, created) = match link.account_id {
            Some(id) => {
                let row = sqlx::query(
                    "SELECT identifier FROM accounts \
                     WHERE id = $1 AND kind = 'responsable' AND state = 'active'",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or_else(|| {
                    StoreError::Conflict("the guardian's account is no longer active".into())
                })?;
                (id, row.try_get("identifier").map_err(db_error)?, false)
            }
            None => {
                let provision = AccountProvision::New {
                    preferred: None,
                    credential: ProvisionedCredential::ExternalOnly,
                    email: None,
                    mobile: link.mobile.map(str::to_owned),
                };
                let holder = NewHolder {
                    kind: AccountKind::Responsable,
                    first_name: link.first_name,
                    last_name: link.last_name,
                    birth_date: None,
                };
                let (id, identifier) = provision_account(
                    &mut tx,
                    &mut Identifiers::default(),
                    &provision,
                    &holder,
                    link.now,
                )
                .await?;
                let identifier = identifier.ok_or_else(|| {
                    StoreError::Corrupt("a new account without identifier".into())
                })?;
                (id, identifier, true)
            }
        };
        for guardian_id in link.guardian_ids {
            let updated = sqlx::query(
                "UPDATE guardians SET account_id = $1 \
                 WHERE id = $2 AND (account_id IS NULL OR account_id = $1)",
            )
            .bind(account_id)
            .bind(guardian_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "guardian record {guardian_id} was linked to another account"
                )));
            }
            // a proposal of the automatic regrouping is answered by this link
            sqlx::query("DELETE FROM regroup_proposals WHERE guardian_id = $1")
                .bind(guardian_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query(
            "INSERT INTO external_identities (provider, subject, account_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(link.provider)
        .bind(link.subject)
        .bind(account_id)
        .bind(link.now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(LinkedAccount {
            account_id,
            identifier,
            created,
        })
    }

    async fn providers_of(&self, account_id: i64) -> StoreResult<Vec<String>> {
        sqlx::query(
            "SELECT provider FROM external_identities WHERE account_id = $1 ORDER BY provider",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get("provider").map_err(db_error))
        .collect()
    }

    async fn add_external_identity(
        &self,
        provider: &str,
        subject: &str,
        account_id: i64,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(
            "SELECT 1 AS n FROM external_identities \
             WHERE provider = $1 AND (subject = $2 OR account_id = $3)",
        )
        .bind(provider)
        .bind(subject)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if existing.is_some() {
            return Err(StoreError::Conflict(
                "this identity or this account is already linked at this provider".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO external_identities (provider, subject, account_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(provider)
        .bind(subject)
        .bind(account_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}

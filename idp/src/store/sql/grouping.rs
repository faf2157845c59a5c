//! Bringing a guardian's children onto one account: merging two accounts, and the proposals
//! of the automatic regrouping.

use async_trait::async_trait;
use serde_json::json;
use sqlx::Row;

use super::{SqlStore, audit_in, db_error, revoke_account_grants};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::store::{
    GroupingStore, LinkableChild, Merge, MergeResult, RegroupProposal, StoreError, StoreResult,
};

/// Wrong birth dates allowed for one proposal.
pub const REGROUP_TRIES: i64 = 5;

#[async_trait]
impl GroupingStore for SqlStore {
    async fn merge_accounts(&self, m: &Merge<'_>) -> StoreResult<MergeResult> {
        if m.into == m.from {
            return Err(StoreError::Invalid(
                "an account cannot be merged into itself".into(),
            ));
        }
        // dropped without commit on any error or refusal: nothing is written
        let mut tx = self.begin_write().await?;
        // A write first, so that SQLite takes the write lock at once (a concurrent merge
        // waits, then sees the accounts as this one left them), and PostgreSQL locks both
        // rows: the second of two merges of the same accounts finds one of them closed.
        let open = sqlx::query(
            "UPDATE accounts SET updated_at = $1 \
             WHERE id IN ($2, $3) AND state = 'active' AND kind = 'responsable'",
        )
        .bind(m.now)
        .bind(m.into)
        .bind(m.from)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if open.rows_affected() != 2 {
            return Ok(MergeResult::Stale);
        }
        let closed_identifier: String = sqlx::query(
            "UPDATE accounts SET state = 'closed', merged_into = $1, password_hash = NULL, \
                 temporary_secret_hash = NULL, temporary_expires_at = NULL, \
                 pending_email = NULL, pending_email_token_hash = NULL, \
                 pending_email_expires_at = NULL, pending_mobile = NULL, \
                 pending_mobile_code_hash = NULL, pending_mobile_expires_at = NULL \
             WHERE id = $2 RETURNING identifier",
        )
        .bind(m.into)
        .bind(m.from)
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get("identifier"))
        .map_err(db_error)?;
        let records = sqlx::query("UPDATE guardians SET account_id = $1 WHERE account_id = $2")
            .bind(m.into)
            .bind(m.from)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        // proposals made to the closed account are about the same person
        sqlx::query("UPDATE regroup_proposals SET account_id = $1 WHERE account_id = $2")
            .bind(m.into)
            .bind(m.from)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        // an identity at a provider where the account kept has none moves with the children;
        // the others cannot (one identity per provider and account) and are dropped
        sqlx::query(
            "UPDATE external_identities SET account_id = $1 \
             WHERE account_id = $2 AND provider NOT IN \
                 (SELECT provider FROM external_identities WHERE account_id = $1)",
        )
        .bind(m.into)
        .bind(m.from)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("DELETE FROM external_identities WHERE account_id = $1")
            .bind(m.from)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let grants = revoke_account_grants(&mut tx, m.from, None, m.now).await?;
        let event = |kind, subject, details| NewAuditEvent {
            at: m.now,
            kind,
            actor: Actor::Account(m.into),
            subject: Some(subject),
            source_address: m.source_address.map(str::to_owned),
            details,
        };
        audit_in(
            &mut tx,
            &event(
                AuditKind::AccountsMerged,
                m.into,
                json!({ "closed_account": m.from, "closed_identifier": closed_identifier, "records": records }),
            ),
        )
        .await?;
        audit_in(
            &mut tx,
            &event(
                AuditKind::AccountClosed,
                m.from,
                json!({ "merged_into": m.into, "records": records, "grants_revoked": grants }),
            ),
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(MergeResult::Merged {
            records: usize::try_from(records).unwrap_or(usize::MAX),
            closed_identifier,
        })
    }

    async fn regroup_proposals(&self, account_id: i64) -> StoreResult<Vec<RegroupProposal>> {
        let rows = sqlx::query(
            "SELECT r.guardian_id, r.tries_left, g.uai, s.name AS school_name \
             FROM regroup_proposals r \
             JOIN guardians g ON g.id = r.guardian_id \
             JOIN schools s ON s.uai = g.uai \
             WHERE r.account_id = $1 AND r.declined_at IS NULL AND g.account_id IS NULL \
             ORDER BY r.created_at, r.guardian_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut proposals = Vec::with_capacity(rows.len());
        for r in &rows {
            let guardian_id: i64 = r.try_get("guardian_id").map_err(db_error)?;
            let children = sqlx::query(
                "SELECT p.id, p.first_name, p.last_name, p.birth_date, s.name AS school_name, \
                        c.name AS class_name \
                 FROM guardianships l \
                 JOIN pupils p ON p.id = l.pupil_id \
                 JOIN schools s ON s.uai = p.uai \
                 LEFT JOIN classes c ON c.id = p.class_id \
                 WHERE l.guardian_id = $1 AND p.left_at IS NULL AND l.disputed_at IS NULL \
                 ORDER BY p.birth_date, p.id",
            )
            .bind(guardian_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|c| {
                Ok(LinkableChild {
                    pupil_id: c.try_get("id").map_err(db_error)?,
                    first_name: c.try_get("first_name").map_err(db_error)?,
                    last_name: c.try_get("last_name").map_err(db_error)?,
                    birth_date: c.try_get("birth_date").map_err(db_error)?,
                    school_name: c.try_get("school_name").map_err(db_error)?,
                    class_name: c.try_get("class_name").map_err(db_error)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
            if children.is_empty() {
                continue;
            }
            proposals.push(RegroupProposal {
                guardian_id,
                uai: r.try_get("uai").map_err(db_error)?,
                school_name: r.try_get("school_name").map_err(db_error)?,
                tries_left: r.try_get("tries_left").map_err(db_error)?,
                children,
            });
        }
        Ok(proposals)
    }

    async fn accept_regroup(
        &self,
        account_id: i64,
        guardian_id: i64,
        source_address: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // the account first, as a merge does: a merge at the same moment either ran before
        // (this finds the account closed) or waits for this one (and then moves the record)
        let open = sqlx::query(
            "UPDATE accounts SET updated_at = $1 \
             WHERE id = $2 AND state = 'active' AND kind = 'responsable'",
        )
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if open.rows_affected() != 1 {
            return Ok(false);
        }
        let ended = sqlx::query(
            "DELETE FROM regroup_proposals \
             WHERE guardian_id = $1 AND account_id = $2 AND declined_at IS NULL AND tries_left > 0",
        )
        .bind(guardian_id)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if ended.rows_affected() != 1 {
            return Ok(false);
        }
        let attached = sqlx::query(
            "UPDATE guardians SET account_id = $1 WHERE id = $2 AND account_id IS NULL \
             RETURNING uai",
        )
        .bind(account_id)
        .bind(guardian_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(attached) = attached else {
            return Ok(false);
        };
        let uai: String = attached.try_get("uai").map_err(db_error)?;
        let school: Option<String> = sqlx::query("SELECT name FROM schools WHERE uai = $1")
            .bind(&uai)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .map(|r| r.try_get("name"))
            .transpose()
            .map_err(db_error)?;
        audit_in(
            &mut tx,
            &NewAuditEvent {
                at: now,
                kind: AuditKind::RegroupAccepted,
                actor: Actor::Account(account_id),
                subject: Some(account_id),
                source_address: source_address.map(str::to_owned),
                details: json!({ "guardian_record": guardian_id, "uai": uai, "school": school }),
            },
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn regroup_mistyped(
        &self,
        account_id: i64,
        guardian_id: i64,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(
            "UPDATE regroup_proposals SET tries_left = tries_left - 1, \
                 declined_at = CASE WHEN tries_left <= 1 THEN $1 ELSE declined_at END \
             WHERE guardian_id = $2 AND account_id = $3 AND declined_at IS NULL AND tries_left > 0 \
             RETURNING tries_left",
        )
        .bind(now)
        .bind(guardian_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| r.try_get("tries_left").map_err(db_error))
            .transpose()
    }

    async fn decline_regroup(
        &self,
        account_id: i64,
        guardian_id: i64,
        now: i64,
    ) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE regroup_proposals SET declined_at = $1 \
             WHERE guardian_id = $2 AND account_id = $3 AND declined_at IS NULL",
        )
        .bind(now)
        .bind(guardian_id)
        .bind(account_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

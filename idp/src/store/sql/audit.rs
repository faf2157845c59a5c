//! The audit log's hash chain: sealing the events waiting in `audit_unsealed`, and checking
//! the whole chain again (`idp audit verify`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, audit_event_from_row, db_error, placeholders};
use crate::audit::{AuditEvent, ChainLink, chain_hash, verify_links};
use crate::store::{AuditChain, ChainReport, StoreResult};

/// Links read at a time by the verification.
const VERIFY_PAGE: i64 = 1000;

const EVENT_COLUMNS: &str = "e.id, e.at, e.event, e.actor, e.subject_account_id, \
     e.source_address, e.details";

fn link_from_row(r: &AnyRow) -> StoreResult<ChainLink> {
    Ok(ChainLink {
        seq: r.try_get("seq").map_err(db_error)?,
        event_id: r.try_get("event_id").map_err(db_error)?,
        prev_hash: r.try_get("prev_hash").map_err(db_error)?,
        hash: r.try_get("hash").map_err(db_error)?,
    })
}

async fn count(tx: &mut sqlx::AnyConnection, sql: &'static str) -> StoreResult<i64> {
    sqlx::query(sql)
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(db_error)
}

#[async_trait]
impl AuditChain for SqlStore {
    async fn seal(&self, limit: i64, now: i64) -> StoreResult<usize> {
        let mut tx = self.begin_write().await?;
        // a write first: PostgreSQL locks the chain's end, SQLite takes its write lock; a
        // sealer on another node waits here, then sees what this one sealed
        let mut prev: String = sqlx::query(
            "UPDATE audit_chain_head SET sealed = sealed WHERE id = 1 RETURNING last_hash",
        )
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get("last_hash"))
        .map_err(db_error)?;
        let waiting: Vec<AuditEvent> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_unsealed u JOIN audit_events e ON e.id = u.event_id \
             ORDER BY u.event_id LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?
        .iter()
        .map(audit_event_from_row)
        .collect::<StoreResult<_>>()?;
        if waiting.is_empty() {
            return Ok(0);
        }
        for event in &waiting {
            let hash = chain_hash(&prev, event);
            sqlx::query(
                "INSERT INTO audit_chain (event_id, prev_hash, hash, sealed_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(event.id)
            .bind(&prev)
            .bind(&hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            prev = hash;
        }
        let ids: Vec<i64> = waiting.iter().map(|e| e.id).collect();
        let sql = format!(
            "DELETE FROM audit_unsealed WHERE event_id IN ({})",
            placeholders(1, ids.len())
        );
        let mut delete = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            delete = delete.bind(id);
        }
        delete.execute(&mut *tx).await.map_err(db_error)?;
        sqlx::query(
            "UPDATE audit_chain_head SET last_hash = $1, sealed = sealed + $2 WHERE id = 1",
        )
        .bind(&prev)
        .bind(i64::try_from(ids.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(waiting.len())
    }

    async fn verify_chain(&self) -> StoreResult<ChainReport> {
        // one snapshot for the counts and the links, while sealers go on
        let mut tx = self.begin_write().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let events = count(&mut tx, "SELECT COUNT(*) AS n FROM audit_events").await?;
        let waiting = count(&mut tx, "SELECT COUNT(*) AS n FROM audit_unsealed").await?;
        let sealed = count(&mut tx, "SELECT COUNT(*) AS n FROM audit_chain").await?;
        let report = |broken| ChainReport {
            events,
            sealed,
            waiting,
            outside: events - sealed - waiting,
            broken,
        };
        let mut prev = crate::audit::GENESIS_HASH.to_owned();
        let mut after = 0;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT c.seq, c.event_id, c.prev_hash, c.hash, {EVENT_COLUMNS} \
                 FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id \
                 WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"
            )))
            .bind(after)
            .bind(VERIFY_PAGE)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
            if rows.is_empty() {
                break;
            }
            let mut page = Vec::with_capacity(rows.len());
            for row in &rows {
                let link = link_from_row(row)?;
                let present: Option<i64> = row.try_get("id").map_err(db_error)?;
                let event = match present {
                    Some(_) => Some(audit_event_from_row(row)?),
                    None => None,
                };
                page.push((link, event));
            }
            match verify_links(prev, page.iter().map(|(l, e)| (l, e.as_ref()))) {
                Ok(end) => prev = end,
                Err(broken) => return Ok(report(Some(broken))),
            }
            after = page.last().map_or(after, |(l, _)| l.seq);
        }
        let head: String = sqlx::query("SELECT last_hash FROM audit_chain_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get("last_hash"))
            .map_err(db_error)?;
        let broken = (head != prev).then(|| crate::audit::BrokenLink {
            seq: after,
            event_id: 0,
            reason: "the chain's end is not its last link (links removed from the end)".into(),
        });
        Ok(report(broken))
    }
}

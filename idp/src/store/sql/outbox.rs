//! The outbox table. A claim is a compare-and-set on `next_attempt_at`, which reads the same
//! on SQLite and PostgreSQL and lets several nodes run workers side by side.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{SqlStore, db_error};
use crate::store::*;

/// Queues a message inside the caller's transaction.
pub(super) async fn enqueue_in(
    tx: &mut AnyConnection,
    m: &NewMessage,
    now: i64,
) -> StoreResult<i64> {
    sqlx::query(
        "INSERT INTO outbox (channel, recipient, subject, body_text, body_html, account_id, \
             created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(m.channel.as_str())
    .bind(&m.recipient)
    .bind(&m.subject)
    .bind(&m.body_text)
    .bind(m.body_html.as_deref())
    .bind(m.account_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .and_then(|r| r.try_get("id"))
    .map_err(db_error)
}

const COLUMNS: &str = "id, channel, recipient, subject, body_text, body_html, account_id, \
     created_at, attempts, sent_at, failed_at, last_error";

fn message_from_row(r: &AnyRow) -> StoreResult<OutboxMessage> {
    let channel: String = r.try_get("channel").map_err(db_error)?;
    Ok(OutboxMessage {
        id: r.try_get("id").map_err(db_error)?,
        message: NewMessage {
            channel: Channel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("channel {channel}")))?,
            recipient: r.try_get("recipient").map_err(db_error)?,
            subject: r.try_get("subject").map_err(db_error)?,
            body_text: r.try_get("body_text").map_err(db_error)?,
            body_html: r.try_get("body_html").map_err(db_error)?,
            account_id: r.try_get("account_id").map_err(db_error)?,
        },
        created_at: r.try_get("created_at").map_err(db_error)?,
        attempts: r.try_get("attempts").map_err(db_error)?,
        sent_at: r.try_get("sent_at").map_err(db_error)?,
        failed_at: r.try_get("failed_at").map_err(db_error)?,
        last_error: r.try_get("last_error").map_err(db_error)?,
    })
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn backlog(&self) -> StoreResult<OutboxBacklog> {
        // the partial index `outbox_due` holds exactly these rows
        let row = sqlx::query(
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(OutboxBacklog {
            waiting: row.try_get("waiting").map_err(db_error)?,
            oldest_created_at: row.try_get("oldest").map_err(db_error)?,
        })
    }

    async fn enqueue(&self, message: &NewMessage, now: i64) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        enqueue_in(&mut conn, message, now).await
    }

    async fn claim_due(&self, now: i64, lease: i64, limit: i64) -> StoreResult<Vec<OutboxMessage>> {
        let due = sqlx::query(
            "SELECT id, next_attempt_at FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut claimed = Vec::new();
        for row in due {
            let id: i64 = row.try_get("id").map_err(db_error)?;
            let seen: i64 = row.try_get("next_attempt_at").map_err(db_error)?;
            let _turn = self.write_turn().await;
            let won = sqlx::query(
                "UPDATE outbox SET next_attempt_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND next_attempt_at = $3 AND sent_at IS NULL AND failed_at IS NULL",
            )
            .bind(now + lease)
            .bind(id)
            .bind(seen)
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected()
                == 1;
            if won {
                let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                claimed.push(message_from_row(&row)?);
            }
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, id: i64, now: i64) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE outbox SET sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> StoreResult<()> {
        let (next, failed) = match retry_at {
            Some(at) => (at, None),
            None => (now, Some(now)),
        };
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, failed_at = $2, last_error = $3 \
             WHERE id = $4 AND sent_at IS NULL",
        )
        .bind(next)
        .bind(failed)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn recent(&self, limit: i64) -> StoreResult<Vec<OutboxMessage>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(message_from_row)
            .collect()
    }
}

//! SQL for signing keys, settings, grants, refresh tokens and consents.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{SqlStore, db_error};
use crate::store::*;

fn key_from_row(r: &AnyRow) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: r.try_get("kid").map_err(db_error)?,
        alg: r.try_get("alg").map_err(db_error)?,
        sealed_private_key: r.try_get("sealed_private_key").map_err(db_error)?,
        created_at: r.try_get("created_at").map_err(db_error)?,
        retired_at: r.try_get("retired_at").map_err(db_error)?,
    })
}

async fn insert_keys(tx: &mut AnyConnection, keys: &[StoredSigningKey]) -> StoreResult<()> {
    for k in keys {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, sealed_private_key, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.sealed_private_key)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        sqlx::query(
            "SELECT kid, alg, sealed_private_key, created_at, retired_at FROM signing_keys \
             ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn add_initial_signing_keys(&self, keys: &[StoredSigningKey]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // Serializes first starts: only one node's keys are kept.
        let claimed = sqlx::query(
            "INSERT INTO settings (name, value) VALUES ('signing_keys_initialised', '1') \
             ON CONFLICT (name) DO NOTHING",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            == 1;
        if !claimed {
            return Ok(false);
        }
        insert_keys(&mut tx, keys).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn rotate_signing_keys(&self, keys: &[StoredSigningKey], now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_keys(&mut tx, keys).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|r| r.try_get("value").map_err(db_error))
            .transpose()
    }

    async fn setting_or_insert(&self, name: &str, value_if_absent: &str) -> StoreResult<String> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value_if_absent)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("value"))
            .map_err(db_error)
    }
}

const GRANT_COLUMNS: &str = "id, client_id, account_id, scope, auth_time, origin, session_id, \
     created_at, expires_at, revoked_at";

fn grant_from_row(r: &AnyRow) -> StoreResult<Grant> {
    Ok(Grant {
        id: r.try_get("id").map_err(db_error)?,
        client_id: r.try_get("client_id").map_err(db_error)?,
        account_id: r.try_get("account_id").map_err(db_error)?,
        scope: r.try_get("scope").map_err(db_error)?,
        auth_time: r.try_get("auth_time").map_err(db_error)?,
        origin: r.try_get("origin").map_err(db_error)?,
        session_id: r.try_get("session_id").map_err(db_error)?,
        created_at: r.try_get("created_at").map_err(db_error)?,
        expires_at: r.try_get("expires_at").map_err(db_error)?,
        revoked_at: r.try_get("revoked_at").map_err(db_error)?,
    })
}

async fn grant_in(c: &mut AnyConnection, id: &str) -> StoreResult<Option<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM oidc_grants WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(grant_from_row)
        .transpose()
}

async fn insert_refresh(
    c: &mut AnyConnection,
    grant_id: &str,
    token: NewRefreshToken<'_>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token.hash)
    .bind(grant_id)
    .bind(now)
    .bind(token.expires_at)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn revoke_in(c: &mut AnyConnection, id: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE oidc_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn create_grant(
        &self,
        g: &Grant,
        refresh: Option<NewRefreshToken<'_>>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO oidc_grants (id, client_id, account_id, scope, auth_time, origin, \
                 session_id, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(g.account_id)
        .bind(&g.scope)
        .bind(g.auth_time)
        .bind(&g.origin)
        .bind(g.session_id.as_deref())
        .bind(g.created_at)
        .bind(g.expires_at)
        .bind(g.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some(token) = refresh {
            insert_refresh(&mut tx, &g.id, token, g.created_at).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        let mut c = self.pool.acquire().await.map_err(db_error)?;
        grant_in(&mut c, id).await
    }

    async fn revoke_grant(&self, id: &str, now: i64) -> StoreResult<()> {
        let mut c = self.pool.acquire().await.map_err(db_error)?;
        revoke_in(&mut c, id, now).await
    }

    async fn revoke_session_grants(&self, session_id: &str, now: i64) -> StoreResult<u64> {
        let _turn = self.write_turn().await;
        Ok(sqlx::query(
            "UPDATE oidc_grants SET revoked_at = $1 \
             WHERE session_id = $2 AND revoked_at IS NULL \
               AND (' ' || scope || ' ') NOT LIKE '% offline_access %'",
        )
        .bind(now)
        .bind(session_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected())
    }

    async fn rotate_refresh_token(
        &self,
        hash: &str,
        client_id: &str,
        successor: NewRefreshToken<'_>,
        now: i64,
    ) -> StoreResult<RefreshUse> {
        // read first, outside the write turn (readers do not wait for the writer): the token
        // and its grant in one statement; then the turn is held for two statements only
        let grant_columns: Vec<String> = GRANT_COLUMNS
            .split(',')
            .map(|c| format!("g.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT t.expires_at AS token_expires_at, t.used_at, {} \
             FROM refresh_tokens t JOIN oidc_grants g ON g.id = t.grant_id \
             WHERE t.token_hash = $1",
            grant_columns.join(", ")
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
        else {
            return Ok(RefreshUse::Invalid);
        };
        let grant = grant_from_row(&row)?;
        let expires_at: i64 = row.try_get("token_expires_at").map_err(db_error)?;
        let used_at: Option<i64> = row.try_get("used_at").map_err(db_error)?;
        if grant.client_id != client_id {
            return Ok(RefreshUse::Invalid);
        }
        let mut tx = self.begin_write().await?;
        // A spent token presented again, or lost to a concurrent use: revoke the family.
        let spent_now = used_at.is_none()
            && sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected()
                == 1;
        if !spent_now {
            revoke_in(&mut tx, &grant.id, now).await?;
            tx.commit().await.map_err(db_error)?;
            return Ok(RefreshUse::Reused(grant));
        }
        if expires_at <= now || !grant.is_live(now) {
            tx.commit().await.map_err(db_error)?;
            return Ok(RefreshUse::Invalid);
        }
        // the successor only while the grant is still unrevoked, as of this transaction (it
        // may have been revoked since the read above)
        let inserted = sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS \
                 (SELECT 1 FROM oidc_grants WHERE id = $5 AND revoked_at IS NULL)",
        )
        .bind(successor.hash)
        .bind(&grant.id)
        .bind(now)
        .bind(successor.expires_at)
        .bind(&grant.id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        tx.commit().await.map_err(db_error)?;
        if inserted == 0 {
            return Ok(RefreshUse::Invalid);
        }
        Ok(RefreshUse::Fresh(grant))
    }

    async fn live_refresh_token(&self, hash: &str, now: i64) -> StoreResult<Option<(Grant, i64)>> {
        let mut c = self.pool.acquire().await.map_err(db_error)?;
        let Some(row) = sqlx::query(
            "SELECT grant_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_error)?
        else {
            return Ok(None);
        };
        let expires_at: i64 = row.try_get("expires_at").map_err(db_error)?;
        let used_at: Option<i64> = row.try_get("used_at").map_err(db_error)?;
        if used_at.is_some() || expires_at <= now {
            return Ok(None);
        }
        let grant_id: String = row.try_get("grant_id").map_err(db_error)?;
        Ok(grant_in(&mut c, &grant_id)
            .await?
            .filter(|g| g.is_live(now))
            .map(|g| (g, expires_at)))
    }

    async fn consent(&self, account_id: i64, client_id: &str) -> StoreResult<Option<String>> {
        sqlx::query("SELECT scope FROM consents WHERE account_id = $1 AND client_id = $2")
            .bind(account_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|r| r.try_get("scope").map_err(db_error))
            .transpose()
    }

    async fn save_consent(
        &self,
        account_id: i64,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO consents (account_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, client_id) DO UPDATE SET scope = excluded.scope, \
                 granted_at = excluded.granted_at",
        )
        .bind(account_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

//! SSO sessions in the ephemeral store. The cookie carries a random id; the store keeps the
//! session under the SHA-256 of that id, and an index of each account's sessions so that all
//! of them can be ended at once (password reset, merge, closure).

use std::sync::Arc;
use std::time::Duration;

use super::{Ephemeral, EphemeralError, EphemeralResult};
use crate::domain::session::{SessionLimits, SsoSession};
use crate::keys::{random_token, storage_key};

#[derive(Clone)]
pub struct SessionStore {
    kv: Arc<dyn Ephemeral>,
    limits: SessionLimits,
}

fn session_key(hashed_id: &str) -> String {
    format!("sso:{hashed_id}")
}

fn account_index_key(account_id: i64) -> String {
    format!("sso-account:{account_id}")
}

fn seconds(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0).max(1))
}

impl SessionStore {
    pub fn new(kv: Arc<dyn Ephemeral>, limits: SessionLimits) -> Self {
        Self { kv, limits }
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Stores a new session under a fresh random id and returns the id for the cookie.
    pub async fn create(&self, session: &SsoSession) -> EphemeralResult<String> {
        let id = random_token(32);
        let hashed = storage_key(&id);
        self.write(&hashed, session, session.created_at, true)
            .await?;
        self.kv
            .set_add(
                &account_index_key(session.account_id),
                &hashed,
                seconds(self.limits.absolute),
            )
            .await?;
        Ok(id)
    }

    /// Writes a session: a new one (`create`), or an existing one only if it still exists.
    async fn write(
        &self,
        hashed: &str,
        session: &SsoSession,
        now: i64,
        create: bool,
    ) -> EphemeralResult<()> {
        let json = serde_json::to_string(session).map_err(|e| EphemeralError::Corrupt {
            key: session_key(hashed),
            message: e.to_string(),
        })?;
        let ttl = seconds(session.remaining(self.limits, now));
        if create {
            self.kv.put(&session_key(hashed), &json, ttl).await
        } else {
            // a concurrent logout wins: the session is not written back
            self.kv
                .replace(&session_key(hashed), &json, ttl)
                .await
                .map(|_| ())
        }
    }

    /// The live session for a cookie value, refreshing its idle timer when due.
    pub async fn load(&self, id: &str, now: i64) -> EphemeralResult<Option<SsoSession>> {
        let hashed = storage_key(id);
        let Some(json) = self.kv.get(&session_key(&hashed)).await? else {
            return Ok(None);
        };
        let mut session: SsoSession =
            serde_json::from_str(&json).map_err(|e| EphemeralError::Corrupt {
                key: session_key(&hashed),
                message: e.to_string(),
            })?;
        if !session.is_live(self.limits, now) {
            self.kv.delete(&session_key(&hashed)).await?;
            return Ok(None);
        }
        if session.needs_touch(now) {
            session.last_seen = now;
            self.write(&hashed, &session, now, false).await?;
        }
        Ok(Some(session))
    }

    /// Records that the session signed in to a relying party (for logout).
    pub async fn add_client(&self, id: &str, client_id: &str, now: i64) -> EphemeralResult<()> {
        let hashed = storage_key(id);
        let Some(json) = self.kv.get(&session_key(&hashed)).await? else {
            return Ok(());
        };
        let mut session: SsoSession =
            serde_json::from_str(&json).map_err(|e| EphemeralError::Corrupt {
                key: session_key(&hashed),
                message: e.to_string(),
            })?;
        if !session.clients.iter().any(|c| c == client_id) {
            session.clients.push(client_id.to_owned());
            self.write(&hashed, &session, now, false).await?;
        }
        Ok(())
    }

    /// Ends one session; returns it if it existed.
    pub async fn end(&self, id: &str) -> EphemeralResult<Option<SsoSession>> {
        let hashed = storage_key(id);
        let Some(json) = self.kv.take(&session_key(&hashed)).await? else {
            return Ok(None);
        };
        let session: Option<SsoSession> = serde_json::from_str(&json).ok();
        if let Some(s) = &session {
            self.kv
                .set_remove(&account_index_key(s.account_id), &hashed)
                .await?;
        }
        Ok(session)
    }

    /// Ends every session of an account; returns how many were live.
    pub async fn end_all_for(&self, account_id: i64) -> EphemeralResult<usize> {
        let index = account_index_key(account_id);
        let mut ended = 0;
        for hashed in self.kv.set_members(&index).await? {
            if self.kv.take(&session_key(&hashed)).await?.is_some() {
                ended += 1;
            }
        }
        self.kv.delete(&index).await?;
        Ok(ended)
    }
}

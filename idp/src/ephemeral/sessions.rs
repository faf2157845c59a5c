//! SSO sessions in the ephemeral store. The cookie carries a random id; the store keeps the
//! session under the SHA-256 of that id, and an index of each account's sessions so that all
//! of them can be ended at once (password reset, merge, closure).

use std::sync::Arc;
use std::time::Duration;

use super::{Ephemeral, EphemeralError, EphemeralResult};
use crate::domain::session::{Participant, SessionLimits, SsoSession};
use crate::keys::{random_token, storage_key};

#[derive(Clone)]
pub struct SessionStore {
    kv: Arc<dyn Ephemeral>,
    limits: SessionLimits,
}

fn session_key(hashed_id: &str) -> String {
    format!("sso:{hashed_id}")
}

fn participants_key(sid: &str) -> String {
    format!("sso-participants:{sid}")
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

    /// Records that the session signed in to a relying party (for logout). A set add, so two
    /// relying parties signing in at the same moment are both kept.
    pub async fn add_participant(
        &self,
        session: &SsoSession,
        participant: &Participant,
        now: i64,
    ) -> EphemeralResult<()> {
        let ttl = seconds(session.created_at + self.limits.absolute - now);
        self.add_participant_to(&session.sid, participant, ttl)
            .await
    }

    /// Records a relying party of the session `sid` (a CAS proxy ticket's service: only the
    /// session's id is known). The set's expiry is only ever extended.
    pub async fn add_participant_to(
        &self,
        sid: &str,
        participant: &Participant,
        ttl: Duration,
    ) -> EphemeralResult<()> {
        let member = serde_json::to_string(participant).map_err(|e| EphemeralError::Corrupt {
            key: participants_key(sid),
            message: e.to_string(),
        })?;
        self.kv.set_add(&participants_key(sid), &member, ttl).await
    }

    /// The relying parties a session signed in to.
    pub async fn participants(&self, sid: &str) -> EphemeralResult<Vec<Participant>> {
        let members = self.kv.set_members(&participants_key(sid)).await?;
        Ok(members
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect())
    }

    /// Whether the session `sid` signed in to this relying party and has not ended: one
    /// member looked up, however many services the session used.
    pub async fn has_participant(
        &self,
        sid: &str,
        participant: &Participant,
    ) -> EphemeralResult<bool> {
        let member = serde_json::to_string(participant).map_err(|e| EphemeralError::Corrupt {
            key: participants_key(sid),
            message: e.to_string(),
        })?;
        self.kv.set_contains(&participants_key(sid), &member).await
    }

    /// Ends one session; returns it, with the relying parties it signed in to, if it existed.
    pub async fn end(&self, id: &str) -> EphemeralResult<Option<(SsoSession, Vec<Participant>)>> {
        let hashed = storage_key(id);
        let Some(json) = self.kv.take(&session_key(&hashed)).await? else {
            return Ok(None);
        };
        let Ok(session) = serde_json::from_str::<SsoSession>(&json) else {
            return Ok(None);
        };
        self.kv
            .set_remove(&account_index_key(session.account_id), &hashed)
            .await?;
        let participants = self.participants(&session.sid).await?;
        self.kv.delete(&participants_key(&session.sid)).await?;
        Ok(Some((session, participants)))
    }

    /// Ends every session of an account; returns how many were live.
    pub async fn end_all_for(&self, account_id: i64) -> EphemeralResult<usize> {
        let ended = self.end_others(account_id, None).await?;
        self.kv.delete(&account_index_key(account_id)).await?;
        Ok(ended)
    }

    /// Ends every session of an account but the one of this cookie value (a password changed
    /// from "Mon compte": the browser that changed it stays signed in).
    pub async fn end_all_but(&self, account_id: i64, kept: &str) -> EphemeralResult<usize> {
        self.end_others(account_id, Some(&storage_key(kept))).await
    }

    async fn end_others(&self, account_id: i64, kept: Option<&str>) -> EphemeralResult<usize> {
        let index = account_index_key(account_id);
        let mut ended = 0;
        for hashed in self.kv.set_members(&index).await? {
            if kept == Some(hashed.as_str()) {
                continue;
            }
            self.kv.set_remove(&index, &hashed).await?;
            if let Some(json) = self.kv.take(&session_key(&hashed)).await? {
                ended += 1;
                if let Ok(session) = serde_json::from_str::<SsoSession>(&json) {
                    self.kv.delete(&participants_key(&session.sid)).await?;
                }
            }
        }
        Ok(ended)
    }
}

//! Staff sign-in state: the step between the password and the second factor, and the staff
//! session. Separate from the SSO sessions of pupils and guardians: a staff session never
//! reaches a relying party, ends after 30 minutes without use and after 8 hours in any case.
//! Only hashes of the cookies' values are keys, as for SSO sessions.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Ephemeral, EphemeralError, EphemeralResult};
use crate::keys::{random_token, storage_key};

/// A staff session ends after this long without a request…
pub const IDLE_SECONDS: i64 = 30 * 60;
/// …and this long after the sign-in in any case.
pub const ABSOLUTE_SECONDS: i64 = 8 * 3600;
/// Time to type the code once the password was right.
pub const PENDING_SECONDS: u64 = 5 * 60;
/// Codes that may be typed for one password.
pub const CODE_TRIES: u64 = 5;

/// A signed-in staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffSession {
    pub staff_id: i64,
    pub signed_in_at: i64,
}

/// The password was right; the second factor comes next.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStaffSignIn {
    pub staff_id: i64,
    /// For a staff member without a second factor yet: the secret offered to enrol, sealed
    /// with the server secret; it goes to the database only once a code proved the app holds
    /// it.
    pub sealed_enrolment_secret: Option<String>,
}

#[derive(Clone)]
pub struct StaffSessions {
    kv: Arc<dyn Ephemeral>,
}

fn session_key(token: &str) -> String {
    format!("staff-session:{}", storage_key(token))
}

fn pending_key(token: &str) -> String {
    format!("staff-pending:{}", storage_key(token))
}

/// The sessions of a staff member (their keys), so that a reset or a disabling ends them all.
fn sessions_of_key(staff_id: i64) -> String {
    format!("staff-sessions-of:{staff_id}")
}

fn tries_key(token: &str) -> String {
    format!("staff-pending-tries:{}", storage_key(token))
}

fn seconds(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(1))
}

fn parse<T: for<'de> Deserialize<'de>>(key: &str, text: &str) -> EphemeralResult<T> {
    serde_json::from_str(text).map_err(|e| EphemeralError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

impl StaffSessions {
    pub fn new(kv: Arc<dyn Ephemeral>) -> Self {
        Self { kv }
    }

    /// Starts the second-factor step; returns its cookie value.
    pub async fn start_pending(&self, pending: &PendingStaffSignIn) -> EphemeralResult<String> {
        let token = random_token(32);
        let value = serde_json::to_string(pending).expect("serializable");
        self.kv
            .put(
                &pending_key(&token),
                &value,
                Duration::from_secs(PENDING_SECONDS),
            )
            .await?;
        Ok(token)
    }

    pub async fn pending(&self, token: &str) -> EphemeralResult<Option<PendingStaffSignIn>> {
        let key = pending_key(token);
        match self.kv.get(&key).await? {
            Some(text) => Ok(Some(parse(&key, &text)?)),
            None => Ok(None),
        }
    }

    /// Counts one code typed; false once the tries are used up (the step is then over: the
    /// password must be typed again). Atomic, so parallel guesses count too.
    pub async fn use_try(&self, token: &str) -> EphemeralResult<bool> {
        let tries = self
            .kv
            .incr(&tries_key(token), Duration::from_secs(PENDING_SECONDS))
            .await?;
        if tries > CODE_TRIES {
            self.kv.delete(&pending_key(token)).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Ends the step, once: the second of two requests with the same cookie gets `None`.
    pub async fn take_pending(&self, token: &str) -> EphemeralResult<Option<PendingStaffSignIn>> {
        let key = pending_key(token);
        match self.kv.take(&key).await? {
            Some(text) => Ok(Some(parse(&key, &text)?)),
            None => Ok(None),
        }
    }

    /// Opens a session; returns its cookie value.
    pub async fn open(&self, staff_id: i64, now: i64) -> EphemeralResult<String> {
        let token = random_token(32);
        let session = StaffSession {
            staff_id,
            signed_in_at: now,
        };
        let value = serde_json::to_string(&session).expect("serializable");
        let key = session_key(&token);
        self.kv
            .set_add(&sessions_of_key(staff_id), &key, seconds(ABSOLUTE_SECONDS))
            .await?;
        self.kv.put(&key, &value, seconds(IDLE_SECONDS)).await?;
        Ok(token)
    }

    /// Ends every session of a staff member (a reset, a disabling); returns how many.
    pub async fn end_all_for(&self, staff_id: i64) -> EphemeralResult<usize> {
        let index = sessions_of_key(staff_id);
        let keys = self.kv.set_members(&index).await?;
        for key in &keys {
            self.kv.delete(key).await?;
        }
        self.kv.delete(&index).await?;
        Ok(keys.len())
    }

    /// The live session of this cookie value, its idle time restarted.
    pub async fn current(&self, token: &str, now: i64) -> EphemeralResult<Option<StaffSession>> {
        let key = session_key(token);
        let Some(text) = self.kv.get(&key).await? else {
            return Ok(None);
        };
        let session: StaffSession = parse(&key, &text)?;
        let left = session.signed_in_at + ABSOLUTE_SECONDS - now;
        if left <= 0 {
            self.kv.delete(&key).await?;
            return Ok(None);
        }
        let ttl = seconds(left.min(IDLE_SECONDS));
        // a session ended meanwhile (sign-out) is not brought back
        if !self.kv.replace(&key, &text, ttl).await? {
            return Ok(None);
        }
        Ok(Some(session))
    }

    pub async fn close(&self, token: &str) -> EphemeralResult<()> {
        self.kv.delete(&session_key(token)).await
    }
}

//! Anti-CSRF tokens (synchronizer pattern). A browser gets a random id in an HttpOnly cookie;
//! the store keeps one token per browser id; every form carries the token and every POST is
//! refused unless the token matches the one stored for the cookie it came with.

use std::sync::Arc;
use std::time::Duration;

use super::{Ephemeral, EphemeralResult};
use crate::keys::{constant_time_eq, random_token, storage_key};

/// How long a form may stay open before its token is forgotten.
const TOKEN_TTL: Duration = Duration::from_secs(4 * 3600);

#[derive(Clone)]
pub struct CsrfTokens {
    kv: Arc<dyn Ephemeral>,
}

fn key(browser_id: &str) -> String {
    format!("csrf:{}", storage_key(browser_id))
}

impl CsrfTokens {
    pub fn new(kv: Arc<dyn Ephemeral>) -> Self {
        Self { kv }
    }

    /// The token for this browser, created if it has none yet; its lifetime is renewed.
    pub async fn token_for(&self, browser_id: &str) -> EphemeralResult<String> {
        let key = key(browser_id);
        let token = match self.kv.get(&key).await? {
            Some(token) => token,
            None => {
                let fresh = random_token(32);
                if self.kv.put_new(&key, &fresh, TOKEN_TTL).await? {
                    return Ok(fresh);
                }
                // another request of the same browser created it first
                self.kv.get(&key).await?.unwrap_or(fresh)
            }
        };
        self.kv.put(&key, &token, TOKEN_TTL).await?;
        Ok(token)
    }

    /// Whether `presented` is this browser's token.
    pub async fn verify(&self, browser_id: &str, presented: &str) -> EphemeralResult<bool> {
        if presented.is_empty() {
            return Ok(false);
        }
        Ok(match self.kv.get(&key(browser_id)).await? {
            Some(expected) => constant_time_eq(expected.as_bytes(), presented.as_bytes()),
            None => false,
        })
    }
}

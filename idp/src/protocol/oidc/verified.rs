//! Access tokens whose signature this node already checked. A resource server introspects
//! or calls userinfo with the same token many times during its ten minutes; checking an
//! ES256 signature costs about a fifth of such a request, a lookup here a few hundred
//! nanoseconds. Only the signature and the claims are remembered, until the token's `exp`:
//! whether the token or its grant was revoked is asked again at every use.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::token::AccessTokenClaims;

/// Tokens remembered at most; past it, the expired ones go, or all when none has expired.
pub const CAPACITY: usize = 20_000;

pub struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], AccessTokenClaims>>,
    capacity: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// The claims of `token` if its signature was checked here and it has not expired.
    pub fn get(&self, token: &str, now: i64) -> Option<AccessTokenClaims> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&key(token)).filter(|c| c.exp > now).cloned()
    }

    /// Remembers a token whose signature was just checked.
    pub fn insert(&self, token: &str, claims: &AccessTokenClaims, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, c| c.exp > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key(token), claims.clone());
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str, exp: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://idp.example".into(),
            sub: "s".into(),
            aud: "ent".into(),
            exp,
            iat: exp - 600,
            jti: jti.into(),
            client_id: "ent".into(),
            scope: "openid".into(),
            auth_time: None,
            gid: Some("g".into()),
        }
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_and_only_that_token() {
        let cache = VerifiedTokens::default();
        cache.insert("token-a", &claims("a", 1_600), 1_000);
        assert_eq!(cache.get("token-a", 1_599).unwrap().jti, "a");
        assert!(cache.get("token-a", 1_600).is_none(), "expired");
        assert!(cache.get("token-b", 1_000).is_none());
        assert!(cache.get("token-a ", 1_000).is_none(), "another string");
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_then_everything() {
        let cache = VerifiedTokens::with_capacity(2);
        cache.insert("old", &claims("old", 1_100), 1_000);
        cache.insert("new", &claims("new", 2_000), 1_000);
        cache.insert("third", &claims("third", 2_000), 1_500);
        assert!(cache.get("old", 1_000).is_none(), "the expired one went");
        assert!(cache.get("new", 1_500).is_some());
        assert!(cache.get("third", 1_500).is_some());
        cache.insert("fourth", &claims("fourth", 2_000), 1_500);
        assert_eq!(cache.len(), 1, "none had expired: all went");
        assert!(cache.get("fourth", 1_500).is_some());
    }
}

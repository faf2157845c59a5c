//! Slow password hashing (argon2id), bounded: it runs on blocking threads, at most one hash per
//! worker slot, and a caller that cannot get a slot in time is refused (the handler answers 503
//! with Retry-After) instead of piling up. Unknown identifiers are checked against a dummy hash
//! so that every failure costs one verification.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every slot stayed busy for the whole queue timeout.
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Counters for metrics and for tests that check the constant-work rule.
#[derive(Debug, Default)]
pub struct HashingStats {
    pub verifications: AtomicU64,
    pub hashes: AtomicU64,
    pub refused: AtomicU64,
}

/// The bounded argon2id service shared by every request.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    dummy_hash: Arc<String>,
    pub stats: Arc<HashingStats>,
}

impl PasswordHasher {
    pub fn new(config: &PasswordConfig) -> Result<Self, HashingError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| HashingError::Internal(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let workers = if config.hashing_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            config.hashing_workers
        };
        // The dummy hash has the same parameters as real ones, so checking it costs the same.
        let dummy = argon2
            .hash_password(crate::keys::random_token(16).as_bytes())
            .map_err(|e| HashingError::Internal(e.to_string()))?
            .to_string();
        Ok(Self {
            argon2: Arc::new(argon2),
            slots: Arc::new(Semaphore::new(workers)),
            queue_timeout: Duration::from_millis(config.hashing_queue_timeout_ms),
            dummy_hash: Arc::new(dummy),
            stats: Arc::default(),
        })
    }

    /// Hashes a newly chosen password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashingError> {
        let password = password.to_owned();
        let argon2 = self.argon2.clone();
        self.stats.hashes.fetch_add(1, Ordering::Relaxed);
        self.run(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashingError::Internal(e.to_string()))
        })
        .await?
    }

    /// Verifies a password against a stored PHC string, or against the dummy hash when
    /// `stored` is `None`, so that the time taken does not tell whether the account exists.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashingError> {
        let real = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.to_owned();
        let argon2 = self.argon2.clone();
        self.stats.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self
            .run(move || match PasswordHash::new(&stored) {
                Ok(hash) => argon2.verify_password(password.as_bytes(), &hash).is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(real && matched)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let permit = match tokio::time::timeout(
            self.queue_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return Err(HashingError::Busy);
            }
        };
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| HashingError::Internal(e.to_string()))
    }

    /// Sign-ins currently waiting for a slot or hashing.
    pub fn available_slots(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PasswordConfig {
        PasswordConfig {
            hashing_workers: 1,
            hashing_queue_timeout_ms: 5_000,
            ..PasswordConfig::default()
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(&config()).unwrap();
        let stored = h.hash("Cartable-2026").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("Cartable-2026", Some(&stored)).await.unwrap());
        assert!(!h.verify("Cartable-2025", Some(&stored)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_account_costs_one_verification_and_never_matches() {
        let h = PasswordHasher::new(&config()).unwrap();
        let before = h.stats.verifications.load(Ordering::Relaxed);
        assert!(!h.verify("anything", None).await.unwrap());
        assert_eq!(h.stats.verifications.load(Ordering::Relaxed), before + 1);
    }

    #[tokio::test]
    async fn saturated_hasher_refuses_quickly() {
        let h = PasswordHasher::new(&PasswordConfig {
            hashing_workers: 1,
            hashing_queue_timeout_ms: 1,
            ..PasswordConfig::default()
        })
        .unwrap();
        // hold the only slot
        let permit = h.slots.clone().acquire_owned().await.unwrap();
        assert!(matches!(h.verify("x", None).await, Err(HashingError::Busy)));
        assert_eq!(h.stats.refused.load(Ordering::Relaxed), 1);
        drop(permit);
        assert!(!h.verify("x", None).await.unwrap());
    }
}

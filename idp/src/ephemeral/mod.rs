//! Short-lived state shared by every node: SSO sessions, CSRF tokens, rate-limit counters,
//! one-time codes. One small key-value trait with two implementations (in this process, or
//! Redis); the typed services in the submodules are written once on top of it.

use std::time::Duration;

use async_trait::async_trait;

pub mod csrf;
pub mod memory;
pub mod redis;
pub mod sessions;
pub mod staff;
pub mod throttle;

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("ephemeral store unavailable: {0}")]
    Unavailable(String),
    #[error("ephemeral store holds a malformed value under {key}: {message}")]
    Corrupt { key: String, message: String },
}

pub type EphemeralResult<T> = Result<T, EphemeralError>;

/// The key-value operations every short-lived feature is built from. Every key expires.
#[async_trait]
pub trait Ephemeral: Send + Sync + 'static {
    /// Sets `key` to `value`, replacing what was there, for `ttl`.
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<()>;
    /// Sets `key` only if it is absent; true if it was set.
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool>;
    /// Sets `key` only if it is present (and live); true if it was replaced. A session being
    /// refreshed can thus never come back after a concurrent logout deleted it.
    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool>;
    async fn get(&self, key: &str) -> EphemeralResult<Option<String>>;
    /// Reads and deletes in one step: what single-use codes and tickets are made of.
    async fn take(&self, key: &str) -> EphemeralResult<Option<String>>;
    async fn delete(&self, key: &str) -> EphemeralResult<()>;
    /// Adds one to a counter, creating it with `window` to live; returns the new count.
    async fn incr(&self, key: &str, window: Duration) -> EphemeralResult<u64>;
    /// Takes one from a counter that is above zero (a counted attempt that did not happen).
    async fn decr(&self, key: &str) -> EphemeralResult<()>;
    /// Adds a member to a set, and makes the set live at least `ttl` from now.
    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphemeralResult<()>;
    async fn set_remove(&self, key: &str, member: &str) -> EphemeralResult<()>;
    async fn set_members(&self, key: &str) -> EphemeralResult<Vec<String>>;
    /// Whether `member` is in the set, without reading the set.
    async fn set_contains(&self, key: &str, member: &str) -> EphemeralResult<bool>;
    /// Checks that the store answers (readiness).
    async fn ping(&self) -> EphemeralResult<()>;
}

/// Opens the store the configuration asks for: Redis when a URL is given, else this process.
/// The value of a counter kept with `incr` (0 when absent or expired).
pub async fn counter(kv: &dyn Ephemeral, key: &str) -> EphemeralResult<u64> {
    Ok(kv.get(key).await?.and_then(|n| n.parse().ok()).unwrap_or(0))
}

pub async fn open(
    redis_url: Option<&str>,
    key_prefix: &str,
) -> EphemeralResult<std::sync::Arc<dyn Ephemeral>> {
    Ok(match redis_url {
        Some(url) => std::sync::Arc::new(redis::RedisStore::connect(url, key_prefix).await?),
        None => std::sync::Arc::new(memory::MemoryStore::new()),
    })
}

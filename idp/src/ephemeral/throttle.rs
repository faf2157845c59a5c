//! Sign-in throttling: failures are counted per identifier, per source address and per trusted
//! device in a sliding window (two fixed buckets, the older one weighted by how much of it the
//! window still covers), in the ephemeral store, so every node sees the same counts. It is
//! progressive: after a few failures of an identifier, each attempt waits before its password
//! is checked, twice as long at every further failure; past the limit, attempts are refused.
//! Both happen whether the identifier exists or not (so they reveal nothing).
//!
//! An attempt counts as a failure of its identifier (or trusted device) from the moment it is
//! let through, by an atomic increment whose result decides: guesses sent in parallel each
//! get their own count, so they cannot all slip under the limit. A success clears the count;
//! an attempt refused before the password check is not counted, so a lock fades within two
//! windows. Addresses are counted when an attempt fails, and get no delay, only a limit: a
//! whole school signs in from one address at 8h50.
//!
//! An attacker could still keep an identifier locked by failing again each time the lock
//! fades. A browser where the account signed in before carries a trusted-device cookie
//! (`web::device`): there, neither the identifier's lock nor the address's applies, only that
//! device's own count. So a pupil is never locked out on the devices they use, even when
//! someone at the same school keeps the school's address or her identifier locked.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Ephemeral, EphemeralResult};
use crate::config::ThrottleConfig;
use crate::keys::storage_key;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleVerdict {
    /// Let through, and counted: see [`Attempt`].
    Allowed(Attempt),
    /// Too many failures for this identifier (or on this trusted device); retry later.
    IdentifierLimited,
    /// Too many failures from this address.
    AddressLimited,
}

impl ThrottleVerdict {
    /// The attempt, when it was let through.
    pub fn attempt(self) -> Option<Attempt> {
        match self {
            Self::Allowed(attempt) => Some(attempt),
            _ => None,
        }
    }
}

/// An attempt let through. It was counted as a failure in one counter (the identifier's or
/// the trusted device's, in the bucket of the moment), which a success clears; an attempt
/// that turns out not to be a guess (the right password with the wrong profile, a full
/// hashing queue) is released from that very counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    counter: String,
}

#[derive(Clone)]
pub struct SignInThrottle {
    kv: Arc<dyn Ephemeral>,
    config: ThrottleConfig,
}

/// The failures of the sliding window that ends now: all of the current bucket, and the
/// share of the previous one the window still covers (`elapsed` seconds into the current
/// bucket of `window` seconds), rounded up: a bucket ending does not drop a lock at once.
pub fn sliding_count(previous: u64, current: u64, elapsed: u64, window: u64) -> u64 {
    let window = window.max(1);
    let covered = window.saturating_sub(elapsed.min(window));
    current + (previous * covered).div_ceil(window)
}

/// How long an attempt waits before its password is checked, for an identifier (or trusted
/// device) that failed `failures` times in the window: nothing for the first `after`, then
/// `first`, doubling at every further failure, never more than `max`. A pupil who mistypes
/// twice waits nothing; a guesser waits longer at each try until the lock.
pub fn progressive_delay(failures: u64, after: u64, first: Duration, max: Duration) -> Duration {
    if failures < after {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - after).unwrap_or(u32::MAX).min(20);
    first.saturating_mul(1 << doublings).min(max)
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SignInThrottle {
    pub fn new(kv: Arc<dyn Ephemeral>, config: ThrottleConfig) -> Self {
        Self { kv, config }
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.config.window_minutes * 60)
    }

    fn window_seconds(&self) -> u64 {
        self.config.window_minutes * 60
    }

    /// The key of a counter's bucket `bucket`.
    fn key(base: &str, bucket: u64) -> String {
        format!("{base}:{bucket}")
    }

    /// What one bucket holds (nothing: 0).
    async fn bucket_value(&self, key: &str) -> EphemeralResult<u64> {
        Ok(self
            .kv
            .get(key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    async fn count(&self, base: &str) -> EphemeralResult<u64> {
        let window = self.window_seconds();
        let now = now_seconds();
        let bucket = now / window.max(1);
        let current = self.bucket_value(&Self::key(base, bucket)).await?;
        let previous = self
            .bucket_value(&Self::key(base, bucket.saturating_sub(1)))
            .await?;
        Ok(sliding_count(
            previous,
            current,
            now % window.max(1),
            window,
        ))
    }

    /// Adds one to a counter; returns the bucket's key and the sliding count with that one
    /// included.
    async fn add(&self, base: &str) -> EphemeralResult<(String, u64)> {
        let window = self.window_seconds();
        let now = now_seconds();
        let bucket = now / window.max(1);
        // a bucket is read for two windows: as the current one, then as the previous one
        let counter = Self::key(base, bucket);
        let current = self
            .kv
            .incr(&counter, Duration::from_secs(2 * window))
            .await?;
        let previous = self
            .bucket_value(&Self::key(base, bucket.saturating_sub(1)))
            .await?;
        let count = sliding_count(previous, current, now % window.max(1), window);
        Ok((counter, count))
    }

    async fn clear(&self, base: &str) -> EphemeralResult<()> {
        let bucket = now_seconds() / self.window_seconds().max(1);
        self.kv.delete(&Self::key(base, bucket)).await?;
        self.kv
            .delete(&Self::key(base, bucket.saturating_sub(1)))
            .await
    }

    /// Whether an attempt with this identifier from this address may go on to the password
    /// check; when it may, it is counted, and goes on after the identifier's progressive delay.
    pub async fn check(
        &self,
        identifier: &str,
        address: IpAddr,
    ) -> EphemeralResult<ThrottleVerdict> {
        self.check_on_device(identifier, address, None).await
    }

    /// The same, from a browser that carries a trusted-device cookie for this identifier
    /// (`device`, the cookie's value): the identifier's own lock is replaced by the device's.
    pub async fn check_on_device(
        &self,
        identifier: &str,
        address: IpAddr,
        device: Option<&str>,
    ) -> EphemeralResult<ThrottleVerdict> {
        // a trusted device is held to its own count alone: one pupil guessing from the
        // school's address must not lock everyone's phones out with it
        if device.is_none()
            && self.count(&address_key(address)).await? >= self.config.failures_per_address
        {
            return Ok(ThrottleVerdict::AddressLimited);
        }
        let key = match device {
            Some(device) => device_key(device),
            None => identifier_key(identifier),
        };
        let limit = self.config.failures_per_identifier;
        if self.count(&key).await? >= limit {
            return Ok(ThrottleVerdict::IdentifierLimited);
        }
        // counted now: of guesses sent together, those past the limit are refused here (and
        // released: a refused attempt is not counted)
        let (counter, with_this_one) = self.add(&key).await?;
        let attempt = Attempt { counter };
        if with_this_one > limit {
            self.release(&attempt).await?;
            return Ok(ThrottleVerdict::IdentifierLimited);
        }
        if device.is_some() {
            // so that staff's unlocking, and "Bloqué", reach her devices too
            let ttl = Duration::from_secs(2 * self.window_seconds());
            self.kv.set_add(&devices_key(identifier), &key, ttl).await?;
        }
        let delay = progressive_delay(
            with_this_one - 1,
            self.config.delay_after_failures,
            Duration::from_millis(self.config.first_delay_ms),
            Duration::from_millis(self.config.max_delay_ms),
        );
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(ThrottleVerdict::Allowed(attempt))
    }

    /// An attempt let through failed: it was counted for its identifier (or device) when it
    /// began; the address's count is added.
    /// (Addresses are not counted in advance: a school's sign-ins at 8h50 come from one
    /// address, so parallel guesses from it may overshoot its limit by those in flight, which
    /// the hashing queue bounds.)
    pub async fn record_failure(&self, address: IpAddr) -> EphemeralResult<()> {
        self.add(&address_key(address)).await.map(drop)
    }

    /// Whether sign-ins with this identifier are refused now for its failures, on untrusted
    /// browsers or on one of its trusted devices: the account shows as "Bloqué" to staff.
    pub async fn identifier_limited(&self, identifier: &str) -> EphemeralResult<bool> {
        let limit = self.config.failures_per_identifier;
        if self.count(&identifier_key(identifier)).await? >= limit {
            return Ok(true);
        }
        for device in self.kv.set_members(&devices_key(identifier)).await? {
            if self.count(&device).await? >= limit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A successful sign-in on an untrusted browser, or staff's unlocking, clears the
    /// identifier's failures and its devices', not the address's.
    pub async fn record_success(&self, identifier: &str) -> EphemeralResult<()> {
        self.clear(&identifier_key(identifier)).await?;
        let devices = devices_key(identifier);
        for device in self.kv.set_members(&devices).await? {
            self.clear(&device).await?;
        }
        self.kv.delete(&devices).await
    }

    /// A password proven on the browser the attempt came from: on her trusted device
    /// (`device`) only that device's count is cleared, as the lock others ran into elsewhere
    /// stays; elsewhere, as [`Self::record_success`].
    pub async fn record_success_on(
        &self,
        identifier: &str,
        device: Option<&str>,
    ) -> EphemeralResult<()> {
        match device {
            Some(device) => self.clear(&device_key(device)).await,
            None => self.record_success(identifier).await,
        }
    }

    /// Takes back an attempt that was not a guess (module documentation).
    pub async fn release(&self, attempt: &Attempt) -> EphemeralResult<()> {
        self.kv.decr(&attempt.counter).await
    }
}

fn identifier_key(identifier: &str) -> String {
    format!("fail-id:{}", storage_key(identifier))
}

fn address_key(address: IpAddr) -> String {
    format!("fail-ip:{address}")
}

fn device_key(device: &str) -> String {
    format!("fail-dev:{}", storage_key(device))
}

/// The device counters an identifier was counted in.
fn devices_key(identifier: &str) -> String {
    format!("fail-devs:{}", storage_key(identifier))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{progressive_delay, sliding_count};

    #[test]
    fn the_delay_starts_after_a_few_failures_and_doubles_up_to_its_maximum() {
        let delays: Vec<u64> = (0..10)
            .map(|failures| {
                let d =
                    progressive_delay(failures, 3, Duration::from_secs(1), Duration::from_secs(8));
                d.as_secs()
            })
            .collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 8, 8, 8]);
        assert_eq!(
            progressive_delay(u64::MAX, 0, Duration::from_secs(1), Duration::from_secs(8)),
            Duration::from_secs(8),
            "no overflow"
        );
        assert_eq!(
            progressive_delay(5, 3, Duration::ZERO, Duration::from_secs(8)),
            Duration::ZERO,
            "no delay configured"
        );
    }

    #[test]
    fn the_window_slides_over_two_buckets() {
        // at the start of a bucket the previous one counts whole, at its end not at all
        assert_eq!(sliding_count(10, 0, 0, 300), 10);
        assert_eq!(sliding_count(10, 0, 150, 300), 5);
        assert_eq!(sliding_count(10, 0, 299, 300), 1, "rounded up");
        assert_eq!(
            sliding_count(3, 0, 1, 300),
            3,
            "just after the bucket changed"
        );
        assert_eq!(sliding_count(10, 0, 300, 300), 0);
        assert_eq!(sliding_count(10, 3, 60, 300), 11);
        assert_eq!(
            sliding_count(0, 4, 10, 0),
            4,
            "a zero window does not divide by zero"
        );
    }
}

//! Sign-in throttling: failures are counted per identifier and per source address in a fixed
//! window. Past the limit, attempts are refused until the window ends, whether the identifier
//! exists or not (so the refusal reveals nothing), and never for longer than the window (so an
//! attacker cannot keep a pupil out of school for long).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Ephemeral, EphemeralResult};
use crate::config::ThrottleConfig;
use crate::keys::storage_key;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleVerdict {
    Allowed,
    /// Too many failures for this identifier; retry after the window.
    IdentifierLimited,
    /// Too many failures from this address.
    AddressLimited,
}

#[derive(Clone)]
pub struct SignInThrottle {
    kv: Arc<dyn Ephemeral>,
    config: ThrottleConfig,
}

fn identifier_key(identifier: &str) -> String {
    format!("fail-id:{}", storage_key(identifier))
}

fn address_key(address: IpAddr) -> String {
    format!("fail-ip:{address}")
}

impl SignInThrottle {
    pub fn new(kv: Arc<dyn Ephemeral>, config: ThrottleConfig) -> Self {
        Self { kv, config }
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.config.window_minutes * 60)
    }

    async fn count(&self, key: &str) -> EphemeralResult<u64> {
        Ok(self
            .kv
            .get(key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub async fn check(
        &self,
        identifier: &str,
        address: IpAddr,
    ) -> EphemeralResult<ThrottleVerdict> {
        if self.count(&address_key(address)).await? >= self.config.failures_per_address {
            return Ok(ThrottleVerdict::AddressLimited);
        }
        if self.count(&identifier_key(identifier)).await? >= self.config.failures_per_identifier {
            return Ok(ThrottleVerdict::IdentifierLimited);
        }
        Ok(ThrottleVerdict::Allowed)
    }

    pub async fn record_failure(&self, identifier: &str, address: IpAddr) -> EphemeralResult<()> {
        let window = self.window();
        self.kv.incr(&identifier_key(identifier), window).await?;
        self.kv.incr(&address_key(address), window).await?;
        Ok(())
    }

    /// Whether sign-ins with this identifier are refused now for its failures: the account
    /// shows as "Bloqué" to staff.
    pub async fn identifier_limited(&self, identifier: &str) -> EphemeralResult<bool> {
        Ok(self.count(&identifier_key(identifier)).await? >= self.config.failures_per_identifier)
    }

    /// A successful sign-in clears the identifier's failures (not the address's).
    pub async fn record_success(&self, identifier: &str) -> EphemeralResult<()> {
        self.kv.delete(&identifier_key(identifier)).await
    }
}

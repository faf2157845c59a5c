//! The single sign-on session: what it holds and when it ends.

use serde::{Deserialize, Serialize};

use super::account::AccountKind;

/// How the person proved who they are (ÉduConnect's `FrEduOrigAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthOrigin {
    /// Local account: identifier and password.
    #[serde(rename = "ECT")]
    Local,
    /// FranceConnect.
    #[serde(rename = "FC")]
    FranceConnect,
}

impl AuthOrigin {
    /// `ECT` or `FC`, as `FrEduOrigAuth` and the audit log write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "ECT",
            Self::FranceConnect => "FC",
        }
    }
}

/// An SSO session, kept in the ephemeral store under a hash of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSession {
    /// Public id of the session (OIDC `sid`; each SAML SP gets its own SessionIndex derived
    /// from it); not the cookie value.
    pub sid: String,
    pub account_id: i64,
    pub kind: AccountKind,
    pub origin: AuthOrigin,
    /// When the person last typed a secret (OIDC `auth_time`).
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen: i64,
    /// When the person came through an upstream provider: what ending its session needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamLogin>,
}

/// A sign-in at an upstream provider (FranceConnect), kept to end its session at logout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamLogin {
    /// The provider's id in the configuration.
    pub provider: String,
    /// Its ID token, the `id_token_hint` of its end-session request.
    pub id_token: String,
}

/// A relying party the session signed in to, with what its protocol needs to sign it out.
/// Kept in a set beside the session, so that two sign-ins at once never lose one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum Participant {
    /// An OpenID Connect client (told by back-channel logout token).
    Oidc { client_id: String },
    /// A SAML service provider (sent a LogoutRequest through the browser), with the NameID
    /// it was given: a transient one cannot be computed again.
    Saml {
        entity_id: String,
        name_id: String,
        name_id_format: String,
    },
    /// A CAS service (POSTed a LogoutRequest naming the ticket it validated).
    Cas {
        registration: String,
        service: String,
        ticket: String,
    },
}

/// The two timeouts of an SSO session, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: i64,
    pub absolute: i64,
}

impl SsoSession {
    pub fn new(
        sid: String,
        account_id: i64,
        kind: AccountKind,
        origin: AuthOrigin,
        now: i64,
    ) -> Self {
        Self {
            sid,
            account_id,
            kind,
            origin,
            auth_time: now,
            created_at: now,
            last_seen: now,
            upstream: None,
        }
    }

    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, limits: SessionLimits, now: i64) -> bool {
        now < self.created_at + limits.absolute && now < self.last_seen + limits.idle
    }

    /// Seconds the session may still live if unused from `now`, never past its absolute end.
    pub fn remaining(&self, limits: SessionLimits, now: i64) -> i64 {
        (self.created_at + limits.absolute - now)
            .min(limits.idle)
            .max(0)
    }

    /// Whether `last_seen` is old enough to be worth writing again (saves a write per request).
    pub fn needs_touch(&self, now: i64) -> bool {
        now - self.last_seen >= 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SessionLimits = SessionLimits {
        idle: 100,
        absolute: 1000,
    };

    #[test]
    fn idle_and_absolute_timeouts() {
        let mut s = SsoSession::new("sid".into(), 1, AccountKind::Eleve, AuthOrigin::Local, 0);
        assert!(s.is_live(LIMITS, 99));
        assert!(!s.is_live(LIMITS, 100));
        s.last_seen = 950;
        assert!(s.is_live(LIMITS, 999));
        assert!(
            !s.is_live(LIMITS, 1000),
            "absolute limit wins over activity"
        );
        assert_eq!(s.remaining(LIMITS, 950), 50);
        assert_eq!(s.remaining(LIMITS, 100), 100);
    }

    #[test]
    fn touch_only_after_a_minute() {
        let s = SsoSession::new("sid".into(), 1, AccountKind::Eleve, AuthOrigin::Local, 0);
        assert!(!s.needs_touch(59));
        assert!(s.needs_touch(60));
    }

    #[test]
    fn origin_serializes_as_freduorigauth() {
        assert_eq!(
            serde_json::to_string(&AuthOrigin::Local).unwrap(),
            "\"ECT\""
        );
        assert_eq!(
            serde_json::to_string(&AuthOrigin::FranceConnect).unwrap(),
            "\"FC\""
        );
    }
}

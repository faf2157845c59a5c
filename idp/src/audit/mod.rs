//! The append-only audit log: every security-relevant event, with who, whom, when and from
//! where (SPEC §4). Events are written through [`crate::store::AuditLog`].

use serde::{Deserialize, Serialize};

/// What happened. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    SignIn,
    SignInFailed,
    SignInRefused,
    SignOut,
    SchoolProvisioned,
    SchoolImportRefused,
    TokenIssued,
    TokenRevoked,
    SigningKeysRotated,
    ExternalIdentityLinked,
    AccountActivated,
    AccountCreated,
    SignUpStarted,
    RecoveryRequested,
    PasswordReset,
    EmailConfirmed,
    ActivationStarted,
    ActivationRefused,
    PasswordChanged,
    EmailChangeRequested,
    MobileChangeRequested,
    MobileConfirmed,
    AccountsMerged,
    AccountClosed,
    MergeRefused,
    RegroupProposed,
    RegroupAccepted,
    RegroupDeclined,
    TemporaryPasswordIssued,
    StaffAdded,
    StaffReset,
    StaffDisabled,
    StaffEnabled,
    StaffSignIn,
    StaffSignOut,
    LettersDownloaded,
    StaffSignInFailed,
    StaffSecondFactorEnrolled,
    AccountUnlocked,
    AccountDisabled,
    AccountEnabled,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignInRefused => "sign_in_refused",
            Self::SignOut => "sign_out",
            Self::SchoolProvisioned => "school_provisioned",
            Self::SchoolImportRefused => "school_import_refused",
            Self::TokenIssued => "token_issued",
            Self::TokenRevoked => "token_revoked",
            Self::SigningKeysRotated => "signing_keys_rotated",
            Self::ExternalIdentityLinked => "external_identity_linked",
            Self::AccountActivated => "account_activated",
            Self::AccountCreated => "account_created",
            Self::SignUpStarted => "sign_up_started",
            Self::RecoveryRequested => "recovery_requested",
            Self::PasswordReset => "password_reset",
            Self::EmailConfirmed => "email_confirmed",
            Self::ActivationStarted => "activation_started",
            Self::ActivationRefused => "activation_refused",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::MobileChangeRequested => "mobile_change_requested",
            Self::MobileConfirmed => "mobile_confirmed",
            Self::AccountsMerged => "accounts_merged",
            Self::AccountClosed => "account_closed",
            Self::MergeRefused => "merge_refused",
            Self::RegroupProposed => "regroup_proposed",
            Self::RegroupAccepted => "regroup_accepted",
            Self::RegroupDeclined => "regroup_declined",
            Self::TemporaryPasswordIssued => "temporary_password_issued",
            Self::StaffAdded => "staff_added",
            Self::StaffReset => "staff_reset",
            Self::StaffDisabled => "staff_disabled",
            Self::StaffEnabled => "staff_enabled",
            Self::StaffSignOut => "staff_sign_out",
            Self::LettersDownloaded => "letters_downloaded",
            Self::StaffSignIn => "staff_sign_in",
            Self::StaffSignInFailed => "staff_sign_in_failed",
            Self::StaffSecondFactorEnrolled => "staff_second_factor_enrolled",
            Self::AccountUnlocked => "account_unlocked",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
        }
    }
}

/// Who acted: a person signed in with an account, a staff member, the system, or an
/// anonymous visitor (a failed sign-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Account(i64),
    Staff(i64),
    /// A relying party (OIDC client id).
    Client(String),
    System,
    Anonymous,
}

impl Actor {
    pub fn to_text(&self) -> String {
        match self {
            Self::Account(id) => format!("account:{id}"),
            Self::Staff(id) => format!("staff:{id}"),
            Self::Client(id) => format!("client:{id}"),
            Self::System => "system".into(),
            Self::Anonymous => "anonymous".into(),
        }
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: i64,
    pub kind: AuditKind,
    pub actor: Actor,
    /// The account the event is about, if any.
    pub subject: Option<i64>,
    pub source_address: Option<String>,
    /// Extra facts as JSON (never a secret).
    pub details: serde_json::Value,
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub subject: Option<i64>,
    pub source_address: Option<String>,
    pub details: String,
}

/// The hash before the first sealed event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The link of an event in the tamper-evident chain: SHA-256 (hex) of the previous link and
/// of every stored field of the event, the id included, in a fixed JSON form. Changing,
/// removing or reordering any sealed event changes every link after it.
pub fn chain_hash(prev_hash: &str, event: &AuditEvent) -> String {
    use sha2::{Digest, Sha256};
    let fields = serde_json::json!([
        event.id,
        event.at,
        event.event,
        event.actor,
        event.subject,
        event.source_address,
        event.details,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(fields.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// A sealed event as the chain keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: i64,
    pub event_id: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// Where a chain first stops holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub event_id: i64,
    pub reason: String,
}

/// Checks a stretch of the chain that follows `prev_hash`: each link must name the hash before
/// it and be the hash of its event as stored now (`None`: the event is gone). Returns the hash
/// at its end, or the first link that does not hold.
pub fn verify_links<'a>(
    mut prev_hash: String,
    links: impl IntoIterator<Item = (&'a ChainLink, Option<&'a AuditEvent>)>,
) -> Result<String, BrokenLink> {
    for (link, event) in links {
        let broken = |reason: &str| BrokenLink {
            seq: link.seq,
            event_id: link.event_id,
            reason: reason.to_owned(),
        };
        if link.prev_hash != prev_hash {
            return Err(broken(
                "the link does not follow the one before it (a link removed or reordered)",
            ));
        }
        let Some(event) = event else {
            return Err(broken("the event is gone"));
        };
        if chain_hash(&prev_hash, event) != link.hash {
            return Err(broken("the event was changed after it was sealed"));
        }
        prev_hash = link.hash.clone();
    }
    Ok(prev_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, details: &str) -> AuditEvent {
        AuditEvent {
            id,
            at: 1_790_000_000 + id,
            event: "sign_in".into(),
            actor: format!("account:{id}"),
            subject: Some(id),
            source_address: Some("192.0.2.1".into()),
            details: details.into(),
        }
    }

    fn chain(events: &[AuditEvent]) -> Vec<ChainLink> {
        let mut prev = GENESIS_HASH.to_owned();
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let hash = chain_hash(&prev, e);
                let link = ChainLink {
                    seq: i as i64 + 1,
                    event_id: e.id,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                link
            })
            .collect()
    }

    #[test]
    fn a_chain_holds_until_an_event_changes_or_a_link_goes() {
        let events: Vec<AuditEvent> = (1..=4).map(|i| event(i, "{}")).collect();
        let links = chain(&events);
        let pairs = |events: &[AuditEvent]| -> Vec<(ChainLink, Option<AuditEvent>)> {
            links
                .iter()
                .map(|l| {
                    (
                        l.clone(),
                        events.iter().find(|e| e.id == l.event_id).cloned(),
                    )
                })
                .collect()
        };
        let check = |pairs: &[(ChainLink, Option<AuditEvent>)]| {
            verify_links(
                GENESIS_HASH.to_owned(),
                pairs.iter().map(|(l, e)| (l, e.as_ref())),
            )
        };
        assert_eq!(check(&pairs(&events)), Ok(links[3].hash.clone()));

        let mut changed = events.clone();
        changed[2].details = r#"{"reason":"edited"}"#.into();
        let broken = check(&pairs(&changed)).unwrap_err();
        assert_eq!((broken.seq, broken.event_id), (3, 3));
        assert!(broken.reason.contains("changed"));

        let gone: Vec<AuditEvent> = events.iter().filter(|e| e.id != 2).cloned().collect();
        assert!(check(&pairs(&gone)).unwrap_err().reason.contains("gone"));

        let mut skipped = pairs(&events);
        skipped.remove(1);
        let broken = check(&skipped).unwrap_err();
        assert_eq!(broken.event_id, 3, "the link after the removed one");
        assert!(broken.reason.contains("removed"));
    }

    #[test]
    fn the_hash_covers_every_field() {
        let base = event(1, "{}");
        let h = chain_hash(GENESIS_HASH, &base);
        let variants = [
            AuditEvent {
                id: 2,
                ..base.clone()
            },
            AuditEvent {
                at: 0,
                ..base.clone()
            },
            AuditEvent {
                event: "x".into(),
                ..base.clone()
            },
            AuditEvent {
                actor: "x".into(),
                ..base.clone()
            },
            AuditEvent {
                subject: None,
                ..base.clone()
            },
            AuditEvent {
                source_address: None,
                ..base.clone()
            },
            AuditEvent {
                details: "{\"a\":1}".into(),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(chain_hash(GENESIS_HASH, &v), h, "{v:?}");
        }
        assert_ne!(chain_hash(&"1".repeat(64), &base), h);
    }
}

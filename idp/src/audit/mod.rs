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

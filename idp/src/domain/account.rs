//! Accounts of pupils and guardians, and the sign-in decision once the secret is checked.

use serde::{Deserialize, Serialize};

/// The two kinds of people who sign in on the public pages (ÉduConnect's `typeUser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// Élève.
    Eleve,
    /// Représentant légal / responsable d'élève.
    Responsable,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eleve => "eleve",
            Self::Responsable => "responsable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "eleve" => Some(Self::Eleve),
            "responsable" => Some(Self::Responsable),
            _ => None,
        }
    }

    /// The profile's name on the pages.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Eleve => "Élève",
            Self::Responsable => "Responsable d'élève",
        }
    }
}

/// Administrative state of an account. "Not yet activated" is not a state: it is an account
/// that still has only its temporary password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountState {
    Active,
    /// Disabled by the school or because the pupil left; may be enabled again.
    Disabled,
    /// Closed for good (merged into another account); the identifier is never reused.
    Closed,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub identifier: String,
    pub kind: AccountKind,
    pub state: AccountState,
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`, from the school's records.
    pub birth_date: Option<String>,
    /// argon2id PHC string of the password the person chose.
    pub password_hash: Option<String>,
    /// Keyed fast hash of the temporary password handed out by the school.
    pub temporary_secret_hash: Option<String>,
    pub temporary_expires_at: Option<i64>,
    pub email: Option<String>,
    pub email_confirmed: bool,
    pub mobile: Option<String>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub locked_until: Option<i64>,
    /// An e-mail address given by the holder, waiting for its link to be opened.
    pub pending_email: Option<String>,
    /// A mobile given by the holder, waiting for the code sent to it.
    pub pending_mobile: Option<String>,
}

impl Account {
    /// An account is activated once its owner has chosen a password.
    pub fn is_activated(&self) -> bool {
        self.password_hash.is_some()
    }

    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// What checking the typed secret against the account found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// The person's own password matched.
    Password,
    /// The temporary password from the school matched.
    Temporary,
    NoMatch,
}

/// What a sign-in attempt leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Open an SSO session.
    Success,
    /// Unknown identifier or wrong secret: one answer for both.
    WrongCredentials,
    /// Right secret, but the other profile was chosen on the sign-in page.
    WrongProfile(AccountKind),
    /// Right temporary password: the first-connection steps must come first.
    ActivationRequired,
    /// Right temporary password, but its three months are over.
    TemporaryExpired,
    Disabled,
    Locked {
        until: i64,
    },
}

/// Decides a sign-in once the secret has been checked (the check itself is slow and lives
/// outside the rules). Nothing about the account is revealed unless the secret matched.
pub fn decide_sign_in(
    account: Option<&Account>,
    check: SecretCheck,
    chosen_profile: AccountKind,
    now: i64,
) -> SignInOutcome {
    let Some(account) = account else {
        return SignInOutcome::WrongCredentials;
    };
    if check == SecretCheck::NoMatch {
        return SignInOutcome::WrongCredentials;
    }
    match account.state {
        AccountState::Active => {}
        AccountState::Disabled => return SignInOutcome::Disabled,
        // a closed account's secrets were revoked with it; answer as for a wrong secret
        AccountState::Closed => return SignInOutcome::WrongCredentials,
    }
    if let Some(until) = account.locked_until
        && until > now
    {
        return SignInOutcome::Locked { until };
    }
    if account.kind != chosen_profile {
        return SignInOutcome::WrongProfile(account.kind);
    }
    match check {
        SecretCheck::Password => SignInOutcome::Success,
        SecretCheck::Temporary => match account.temporary_expires_at {
            Some(expiry) if expiry > now => SignInOutcome::ActivationRequired,
            _ => SignInOutcome::TemporaryExpired,
        },
        SecretCheck::NoMatch => SignInOutcome::WrongCredentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn lea() -> Account {
        Account {
            id: 1,
            identifier: "lea.martin".into(),
            kind: AccountKind::Eleve,
            state: AccountState::Active,
            first_name: "Léa".into(),
            last_name: "MARTIN".into(),
            birth_date: Some("2012-03-14".into()),
            password_hash: Some("$argon2id$…".into()),
            temporary_secret_hash: None,
            temporary_expires_at: None,
            email: None,
            email_confirmed: false,
            mobile: None,
            created_at: NOW - 1000,
            activated_at: Some(NOW - 500),
            locked_until: None,
            pending_email: None,
            pending_mobile: None,
        }
    }

    use AccountKind::*;
    use SignInOutcome::*;

    #[test]
    fn unknown_and_wrong_secret_are_the_same_answer() {
        assert_eq!(
            decide_sign_in(None, SecretCheck::NoMatch, Eleve, NOW),
            WrongCredentials
        );
        assert_eq!(
            decide_sign_in(None, SecretCheck::Password, Eleve, NOW),
            WrongCredentials
        );
        let a = lea();
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::NoMatch, Eleve, NOW),
            WrongCredentials
        );
    }

    #[test]
    fn nothing_is_revealed_without_the_secret() {
        let mut a = lea();
        a.state = AccountState::Disabled;
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::NoMatch, Eleve, NOW),
            WrongCredentials
        );
        let mut a = lea();
        a.locked_until = Some(NOW + 60);
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::NoMatch, Eleve, NOW),
            WrongCredentials
        );
        assert_eq!(
            decide_sign_in(Some(&lea()), SecretCheck::NoMatch, Responsable, NOW),
            WrongCredentials
        );
    }

    #[test]
    fn success_needs_the_right_profile() {
        assert_eq!(
            decide_sign_in(Some(&lea()), SecretCheck::Password, Eleve, NOW),
            Success
        );
        assert_eq!(
            decide_sign_in(Some(&lea()), SecretCheck::Password, Responsable, NOW),
            WrongProfile(Eleve)
        );
    }

    #[test]
    fn states_and_locks() {
        let mut a = lea();
        a.state = AccountState::Disabled;
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::Password, Eleve, NOW),
            Disabled
        );
        a.state = AccountState::Closed;
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::Password, Eleve, NOW),
            WrongCredentials
        );
        let mut a = lea();
        a.locked_until = Some(NOW + 60);
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::Password, Eleve, NOW),
            Locked { until: NOW + 60 }
        );
        a.locked_until = Some(NOW - 1);
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::Password, Eleve, NOW),
            Success
        );
    }

    #[test]
    fn temporary_password_leads_to_activation_until_it_expires() {
        let mut a = lea();
        a.password_hash = None;
        a.temporary_secret_hash = Some("hmac".into());
        a.temporary_expires_at = Some(NOW + 10);
        assert!(!a.is_activated());
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::Temporary, Eleve, NOW),
            ActivationRequired
        );
        assert_eq!(
            decide_sign_in(Some(&a), SecretCheck::Temporary, Eleve, NOW + 10),
            TemporaryExpired
        );
    }
}

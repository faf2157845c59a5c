//! "Ajouter des élèves depuis un autre compte" (SPEC §2.6, seed 001): when a guardian may take
//! the children of another account into the one being used. The other account's secret is
//! checked first, so that nothing about it (kind, names, state) is told to someone who does
//! not hold it.

use super::account::{Account, AccountKind, AccountState, SecretCheck};
use super::names::fold_for_matching;

/// Why the children of the other account cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeRefusal {
    /// Unknown identifier, wrong password, or an account closed already: one answer for all.
    WrongCredentials,
    /// The identifier typed is the account being used.
    SameAccount,
    /// The other account is a pupil's.
    PupilAccount,
    /// The last or first names of the two accounts differ.
    DifferentNames,
    /// The other account's temporary password is over its three months.
    TemporaryExpired,
    /// The school disabled the other account.
    Disabled,
}

impl MergeRefusal {
    /// What the guardian reads.
    pub fn message_fr(self) -> &'static str {
        match self {
            Self::WrongCredentials => {
                "Identifiant ou mot de passe incorrect pour l'autre compte. Vérifiez l'identifiant et le mot de passe (provisoire ou personnel) que l'établissement vous a remis."
            }
            Self::SameAccount => {
                "Cet identifiant est celui du compte que vous utilisez. Indiquez l'identifiant de l'autre compte, celui dont vous voulez reprendre les élèves."
            }
            Self::PupilAccount => {
                "Ce compte est un compte élève : seuls les élèves d'un autre compte de responsable peuvent être ajoutés au vôtre. Pour le mot de passe de votre enfant, utilisez « Réinitialiser le mot de passe » dans la liste de vos enfants."
            }
            Self::DifferentNames => {
                "Les nom et prénom des deux comptes ne sont pas identiques : les comptes ne peuvent pas être regroupés. Demandez aux établissements de corriger votre nom ou votre prénom, ou contactez l'assistance."
            }
            Self::TemporaryExpired => {
                "Le mot de passe provisoire de l'autre compte n'est plus valable. Demandez-en un nouveau à l'établissement qui vous l'a remis."
            }
            Self::Disabled => {
                "L'autre compte est désactivé : il ne peut pas être regroupé. Contactez l'établissement qui l'a créé."
            }
        }
    }

    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongCredentials => "wrong_credentials",
            Self::SameAccount => "same_account",
            Self::PupilAccount => "pupil_account",
            Self::DifferentNames => "different_names",
            Self::TemporaryExpired => "temporary_expired",
            Self::Disabled => "disabled",
        }
    }
}

/// Two names are the same once case, accents, hyphens, apostrophes and spaces are folded.
pub fn same_names(a: &Account, b: &Account) -> bool {
    fold_for_matching(&a.last_name) == fold_for_matching(&b.last_name)
        && fold_for_matching(&a.first_name) == fold_for_matching(&b.first_name)
}

/// Decides whether `current` may take the children of `other`, once the typed secret was
/// checked against `other` (`check`).
pub fn decide_merge(
    current: &Account,
    other: Option<&Account>,
    check: SecretCheck,
    now: i64,
) -> Result<(), MergeRefusal> {
    let Some(other) = other else {
        return Err(MergeRefusal::WrongCredentials);
    };
    if check == SecretCheck::NoMatch || other.state == AccountState::Closed {
        return Err(MergeRefusal::WrongCredentials);
    }
    if other.id == current.id {
        return Err(MergeRefusal::SameAccount);
    }
    if other.kind != AccountKind::Responsable {
        return Err(MergeRefusal::PupilAccount);
    }
    if other.state == AccountState::Disabled {
        return Err(MergeRefusal::Disabled);
    }
    if check == SecretCheck::Temporary && other.temporary_expires_at.is_none_or(|end| end <= now) {
        return Err(MergeRefusal::TemporaryExpired);
    }
    if !same_names(current, other) {
        return Err(MergeRefusal::DifferentNames);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn guardian(id: i64, first: &str, last: &str) -> Account {
        Account {
            id,
            identifier: format!("compte{id}"),
            kind: AccountKind::Responsable,
            state: AccountState::Active,
            first_name: first.into(),
            last_name: last.into(),
            birth_date: None,
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

    #[test]
    fn names_are_compared_folded() {
        let claire = guardian(1, "Claire", "MARTIN");
        assert!(same_names(&claire, &guardian(2, "claire", "Martin")));
        assert!(same_names(
            &guardian(1, "Hélène", "LE GOFF"),
            &guardian(2, "HELENE", "le-goff")
        ));
        assert!(!same_names(&claire, &guardian(2, "Claire", "MARTINEZ")));
        assert!(!same_names(&claire, &guardian(2, "Clara", "MARTIN")));
    }

    #[test]
    fn nothing_is_told_without_the_other_secret() {
        let claire = guardian(1, "Claire", "MARTIN");
        let mut pupil = guardian(2, "Léa", "MARTIN");
        pupil.kind = AccountKind::Eleve;
        for other in [None, Some(&pupil), Some(&claire)] {
            assert_eq!(
                decide_merge(&claire, other, SecretCheck::NoMatch, NOW),
                Err(MergeRefusal::WrongCredentials)
            );
        }
        let mut closed = guardian(3, "Claire", "MARTIN");
        closed.state = AccountState::Closed;
        assert_eq!(
            decide_merge(&claire, Some(&closed), SecretCheck::Password, NOW),
            Err(MergeRefusal::WrongCredentials)
        );
    }

    #[test]
    fn each_refusal_once_the_secret_matched() {
        let claire = guardian(1, "Claire", "MARTIN");
        assert_eq!(
            decide_merge(&claire, Some(&claire), SecretCheck::Password, NOW),
            Err(MergeRefusal::SameAccount)
        );
        let mut pupil = guardian(2, "Claire", "MARTIN");
        pupil.kind = AccountKind::Eleve;
        assert_eq!(
            decide_merge(&claire, Some(&pupil), SecretCheck::Password, NOW),
            Err(MergeRefusal::PupilAccount)
        );
        let mut disabled = guardian(3, "Claire", "MARTIN");
        disabled.state = AccountState::Disabled;
        assert_eq!(
            decide_merge(&claire, Some(&disabled), SecretCheck::Password, NOW),
            Err(MergeRefusal::Disabled)
        );
        let mut provisional = guardian(4, "Claire", "MARTIN");
        provisional.temporary_expires_at = Some(NOW);
        assert_eq!(
            decide_merge(&claire, Some(&provisional), SecretCheck::Temporary, NOW),
            Err(MergeRefusal::TemporaryExpired)
        );
        provisional.temporary_expires_at = Some(NOW + 1);
        assert_eq!(
            decide_merge(&claire, Some(&provisional), SecretCheck::Temporary, NOW),
            Ok(())
        );
        assert_eq!(
            decide_merge(
                &claire,
                Some(&guardian(5, "Claire", "DURAND")),
                SecretCheck::Password,
                NOW
            ),
            Err(MergeRefusal::DifferentNames)
        );
        assert_eq!(
            decide_merge(
                &claire,
                Some(&guardian(6, "CLAIRE", "Martin")),
                SecretCheck::Password,
                NOW
            ),
            Ok(())
        );
    }
}

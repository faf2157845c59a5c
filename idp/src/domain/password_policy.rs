//! The password policy of SPEC §4 (seed 000): 8 to 32 characters, at least one digit and one
//! letter, none of the person's names or identifier inside, and not a very common password.

use super::names::fold_letters;

/// The configurable part of the policy.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// zxcvbn score (0 to 4) to reach.
    pub min_strength: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 32,
            min_strength: 2,
        }
    }
}

/// Who is choosing the password: the policy refuses passwords that contain these.
#[derive(Debug, Clone, Copy)]
pub struct PasswordOwner<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub identifier: &'a str,
}

/// Why a password was refused; each has a French sentence for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort(usize),
    TooLong(usize),
    NoDigit,
    NoLetter,
    ContainsName,
    ContainsIdentifier,
    TooCommon,
    Mismatch,
}

impl PasswordProblem {
    /// The message shown next to the field, in French.
    pub fn message_fr(&self) -> String {
        match self {
            Self::TooShort(n) => format!("Le mot de passe doit contenir au moins {n} caractères."),
            Self::TooLong(n) => format!("Le mot de passe doit contenir au plus {n} caractères."),
            Self::NoDigit => "Le mot de passe doit contenir au moins un chiffre.".into(),
            Self::NoLetter => "Le mot de passe doit contenir au moins une lettre.".into(),
            Self::ContainsName => {
                "Le mot de passe ne doit contenir ni votre nom ni votre prénom.".into()
            }
            Self::ContainsIdentifier => {
                "Le mot de passe ne doit pas contenir votre identifiant.".into()
            }
            Self::TooCommon => {
                "Ce mot de passe est trop courant ou trop facile à deviner : choisissez-en un autre."
                    .into()
            }
            Self::Mismatch => "Les deux mots de passe saisis ne sont pas identiques.".into(),
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password typed twice; returns every problem found, in a stable order.
    pub fn check(
        &self,
        password: &str,
        confirmation: &str,
        owner: PasswordOwner<'_>,
    ) -> Vec<PasswordProblem> {
        let mut problems = Vec::new();
        let length = password.chars().count();
        if length < self.min_length {
            problems.push(PasswordProblem::TooShort(self.min_length));
        }
        if length > self.max_length {
            problems.push(PasswordProblem::TooLong(self.max_length));
        }
        if !password.chars().any(|c| c.is_ascii_digit()) {
            problems.push(PasswordProblem::NoDigit);
        }
        if !password.chars().any(char::is_alphabetic) {
            problems.push(PasswordProblem::NoLetter);
        }
        let folded = fold_letters(password);
        let contains = |part: &str| {
            let f = fold_letters(part);
            // very short names (« Li », « Bo ») would forbid too much
            f.len() >= 3 && folded.contains(&f)
        };
        if owner
            .first_name
            .split([' ', '-'])
            .chain(owner.last_name.split([' ', '-']))
            .chain([owner.first_name, owner.last_name])
            .any(contains)
        {
            problems.push(PasswordProblem::ContainsName);
        }
        if !owner.identifier.is_empty()
            && password
                .to_lowercase()
                .contains(&owner.identifier.to_lowercase())
        {
            problems.push(PasswordProblem::ContainsIdentifier);
        }
        if problems.is_empty() && length <= 100 {
            let inputs = [owner.first_name, owner.last_name, owner.identifier];
            let score = u8::from(zxcvbn::zxcvbn(password, &inputs).score());
            if score < self.min_strength {
                problems.push(PasswordProblem::TooCommon);
            }
        }
        if password != confirmation {
            problems.push(PasswordProblem::Mismatch);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEA: PasswordOwner<'static> = PasswordOwner {
        first_name: "Léa",
        last_name: "MARTIN",
        identifier: "lea.martin",
    };

    fn check(p: &str) -> Vec<PasswordProblem> {
        PasswordPolicy::default().check(p, p, LEA)
    }

    #[test]
    fn a_good_password_passes() {
        assert!(check("Cartable-2026").is_empty());
        assert!(check("velo rouge 42 soleil").is_empty());
    }

    #[test]
    fn length_digit_letter() {
        assert_eq!(check("ab1"), vec![PasswordProblem::TooShort(8)]);
        assert!(check(&"a1".repeat(17)).contains(&PasswordProblem::TooLong(32)));
        assert_eq!(check("abcdefghij"), vec![PasswordProblem::NoDigit]);
        assert_eq!(check("1234567890"), vec![PasswordProblem::NoLetter]);
    }

    #[test]
    fn names_and_identifier_are_refused_whatever_the_case_and_accents() {
        assert_eq!(check("Martin2026!"), vec![PasswordProblem::ContainsName]);
        assert_eq!(check("xxLEAxx2026"), vec![PasswordProblem::ContainsName]);
        assert!(check("lea.martin99").contains(&PasswordProblem::ContainsIdentifier));
    }

    #[test]
    fn common_passwords_are_refused() {
        assert_eq!(check("password1"), vec![PasswordProblem::TooCommon]);
        assert_eq!(check("azerty123"), vec![PasswordProblem::TooCommon]);
    }

    #[test]
    fn confirmation_must_match() {
        let p = PasswordPolicy::default().check("Cartable-2026", "Cartable-2025", LEA);
        assert_eq!(p, vec![PasswordProblem::Mismatch]);
    }

    #[test]
    fn every_problem_has_a_french_message() {
        assert!(
            PasswordProblem::TooShort(8)
                .message_fr()
                .contains("au moins 8")
        );
        assert!(
            PasswordProblem::Mismatch
                .message_fr()
                .contains("identiques")
        );
    }
}

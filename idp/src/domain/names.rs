//! Folding of French names for comparison and for identifiers.

use unicode_normalization::UnicodeNormalization;

/// Lower-case ASCII letters only: accents removed (é → e, œ → oe), everything that is not a
/// letter dropped (spaces, hyphens, apostrophes, digits). Used to build identifiers.
pub fn fold_letters(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.nfkd() {
        match c {
            'a'..='z' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'œ' | 'Œ' => out.push_str("oe"),
            'æ' | 'Æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            _ => {}
        }
    }
    out
}

/// Folds a name for matching two records of the same person: case and accents ignored,
/// hyphens, apostrophes and runs of spaces read as one space.
pub fn fold_for_matching(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.nfkd() {
        let piece: Option<&str> = match c {
            'œ' | 'Œ' => Some("oe"),
            'æ' | 'Æ' => Some("ae"),
            'ß' => Some("ss"),
            'ø' | 'Ø' => Some("o"),
            'ł' | 'Ł' => Some("l"),
            _ => None,
        };
        if let Some(p) = piece {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push_str(p);
        } else if c.is_alphanumeric() && c.is_ascii() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_lowercase());
        } else if c.is_whitespace() || matches!(c, '-' | '\'' | '’' | '.' | ',') {
            pending_space = true;
        }
        // combining marks and other symbols are dropped
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_fold_accents_and_drop_separators() {
        assert_eq!(fold_letters("Léa"), "lea");
        assert_eq!(fold_letters("Jean-François"), "jeanfrancois");
        assert_eq!(fold_letters("N'Guessan"), "nguessan");
        assert_eq!(fold_letters("de la Fontaine"), "delafontaine");
        assert_eq!(fold_letters("Cœur"), "coeur");
        assert_eq!(fold_letters("Ærø 2"), "aero");
    }

    #[test]
    fn matching_ignores_case_accents_and_punctuation() {
        assert_eq!(fold_for_matching("  MARTIN-Dupré "), "martin dupre");
        assert_eq!(fold_for_matching("martin dupre"), "martin dupre");
        assert_eq!(fold_for_matching("D’Arc"), fold_for_matching("d'arc"));
        assert_ne!(fold_for_matching("Martin"), fold_for_matching("Martine"));
    }
}

//! Generated sign-in identifiers: `prenom.nom`, folded, truncated, with a numeric suffix when
//! the plain form is taken. Identifiers are never reused: accounts are closed, never deleted.

use super::names::fold_letters;

/// Longest first-name part and last-name part kept in an identifier.
const PART_MAX: usize = 15;

/// The base form `prenom.nom` for a person; `None` when a name has no letter at all.
pub fn base_identifier(first_name: &str, last_name: &str) -> Option<String> {
    let first: String = fold_letters(first_name).chars().take(PART_MAX).collect();
    let last: String = fold_letters(last_name).chars().take(PART_MAX).collect();
    if first.is_empty() || last.is_empty() {
        return None;
    }
    Some(format!("{first}.{last}"))
}

/// The first free identifier for `base`, given the identifiers already issued that start with
/// it: `base`, then `base2`, `base3`…
pub fn first_free<'a>(base: &str, taken: impl IntoIterator<Item = &'a str>) -> String {
    let mut used_suffixes = std::collections::HashSet::new();
    for t in taken {
        if t == base {
            used_suffixes.insert(1u64);
        } else if let Some(rest) = t.strip_prefix(base)
            && !rest.starts_with('0')
            && let Ok(n) = rest.parse::<u64>()
        {
            used_suffixes.insert(n);
        }
    }
    let n = (1u64..).find(|n| !used_suffixes.contains(n)).unwrap_or(1);
    if n == 1 {
        base.to_owned()
    } else {
        format!("{base}{n}")
    }
}

/// How a typed identifier is compared to stored ones: trimmed and lower-cased.
pub fn normalize_typed(identifier: &str) -> String {
    identifier.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_prenom_point_nom_folded() {
        assert_eq!(
            base_identifier("Léa", "MARTIN").as_deref(),
            Some("lea.martin")
        );
        assert_eq!(
            base_identifier("Jean-Pierre", "N'Diaye Le Goff").as_deref(),
            Some("jeanpierre.ndiayelegoff")
        );
        assert_eq!(base_identifier("", "MARTIN"), None);
        assert_eq!(base_identifier("李", "MARTIN"), None);
    }

    #[test]
    fn long_names_are_truncated() {
        let id = base_identifier("Marie-Charlotte-Éléonore", "de Saint-Exupéry-Lagardère").unwrap();
        assert_eq!(id, "mariecharlottee.desaintexuperyl");
        assert!(id.len() <= 2 * PART_MAX + 1);
    }

    #[test]
    fn suffix_when_taken() {
        assert_eq!(first_free("lea.martin", []), "lea.martin");
        assert_eq!(first_free("lea.martin", ["lea.martin"]), "lea.martin2");
        assert_eq!(
            first_free("lea.martin", ["lea.martin", "lea.martin2", "lea.martin4"]),
            "lea.martin3"
        );
        // a longer name that merely starts with the base is not a suffix
        assert_eq!(first_free("lea.mar", ["lea.martin"]), "lea.mar");
        assert_eq!(first_free("lea.mar", ["lea.mar", "lea.mar02"]), "lea.mar2");
    }

    #[test]
    fn typed_identifiers_are_trimmed_and_lowercased() {
        assert_eq!(normalize_typed("  Lea.Martin "), "lea.martin");
    }
}

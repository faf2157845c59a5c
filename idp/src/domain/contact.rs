//! E-mail addresses and mobile numbers as people type them and as schools record them.

/// A plausible e-mail address (the link sent to it is the real check).
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
        && !domain.contains('@')
}

/// A mobile number as stored: `06…`/`07…` for France, `+…` otherwise; `None` when the number
/// cannot receive an SMS (a landline, a typo).
pub fn normalize_mobile(typed: &str) -> Option<String> {
    let compact: String = typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+33") {
        format!("0{}", rest.strip_prefix('0').unwrap_or(rest))
    } else if let Some(rest) = compact.strip_prefix("0033") {
        format!("0{rest}")
    } else if let Some(rest) = compact.strip_prefix('+') {
        let ok = (8..=15).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit());
        return ok.then(|| format!("+{rest}"));
    } else {
        compact
    };
    let ok = national.len() == 10
        && (national.starts_with("06") || national.starts_with("07"))
        && national.chars().all(|c| c.is_ascii_digit());
    ok.then_some(national)
}

/// A mobile number in international format for an SMS gateway: `0612345678` → `+33612345678`.
pub fn international(mobile: &str) -> String {
    match mobile.strip_prefix('0') {
        Some(rest) => format!("+33{rest}"),
        None => mobile.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_are_normalized_and_landlines_refused() {
        assert_eq!(
            normalize_mobile("06.12.34.56.78").as_deref(),
            Some("0612345678")
        );
        assert_eq!(
            normalize_mobile("+33 7 12 34 56 78").as_deref(),
            Some("0712345678")
        );
        assert_eq!(
            normalize_mobile("+262 692 12 34 56").as_deref(),
            Some("+262692123456")
        );
        assert_eq!(normalize_mobile("01 23 45 67 89"), None);
        assert_eq!(normalize_mobile("0612"), None);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_email("claire.martin@example.fr"));
        assert!(!is_email("claire.martin@localhost"));
        assert!(!is_email("claire martin@example.fr"));
        assert!(!is_email("@example.fr"));
        assert_eq!(international("0612345678"), "+33612345678");
        assert_eq!(international("+262692123456"), "+262692123456");
    }
}

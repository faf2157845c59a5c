//! Matching an identity that comes from FranceConnect (the identité pivot) to the guardian
//! records the schools keep, and confirming the children before they are linked (SPEC §2.4).
//! Names are compared folded (case, accents, hyphens, apostrophes). FranceConnect's
//! `given_name` holds every first name, and its `family_name` is the birth name: a school may
//! have recorded the usage name instead. The record's first name must be how the given names
//! start (a school writes the usual first name, the first one), and a recorded civility must
//! agree with the provider's gender. An e-mail address is never used to match.

use super::names::fold_for_matching;

/// The names of the identité pivot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PivotNames {
    /// Every first name, separated by spaces (`Claire Anne Marie`).
    pub given_names: String,
    /// The birth name.
    pub family_name: String,
    /// The usage name (married name …), when the provider sends one.
    pub usage_name: Option<String>,
    /// `male` or `female`, as OpenID Connect and FranceConnect send it.
    pub gender: Option<String>,
}

impl PivotNames {
    /// The folded last names the schools may have filed this person under.
    pub fn last_names(&self) -> Vec<String> {
        let mut names = vec![fold_for_matching(&self.family_name)];
        if let Some(usage) = self.usage_name.as_deref().map(fold_for_matching)
            && !usage.is_empty()
            && !names.contains(&usage)
        {
            names.push(usage);
        }
        names.retain(|n| !n.is_empty());
        names
    }

    /// Whether a guardian record (names and civility as the school wrote them) names this
    /// person: its last name is the birth or usage name, its first name is how the first names
    /// start (a compound one too: "Marie Claire" for "Marie Claire Anne"), and its civility,
    /// when recorded, agrees with the gender.
    pub fn matches_record(
        &self,
        first_name: &str,
        last_name: &str,
        civility: Option<&str>,
    ) -> bool {
        if !self.last_names().contains(&fold_for_matching(last_name)) {
            return false;
        }
        let given = fold_for_matching(&self.given_names);
        let given: Vec<&str> = given.split(' ').filter(|w| !w.is_empty()).collect();
        let first = fold_for_matching(first_name);
        let first: Vec<&str> = first.split(' ').filter(|w| !w.is_empty()).collect();
        if first.is_empty() || !given.starts_with(&first) {
            return false;
        }
        let recorded = match civility.map(fold_for_matching).as_deref() {
            Some("m" | "monsieur") => Some("male"),
            Some("mme" | "madame" | "mlle") => Some("female"),
            _ => None,
        };
        match (recorded, self.gender.as_deref()) {
            (Some(r), Some(g @ ("male" | "female"))) => r == g,
            _ => true,
        }
    }
}

/// What the matching records say about who this person is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordMatch<T> {
    /// No guardian record names them.
    Nobody,
    /// The records of one person: all of one account, or a single record without one.
    One(Vec<T>),
    /// Records of different people (two accounts, or records that no account ties together):
    /// the names alone cannot tell which is this person.
    Several,
}

/// Groups the records that matched into people: records linked to one account are one person;
/// a record without an account is a person of its own.
pub fn resolve<T>(records: Vec<T>, account_of: impl Fn(&T) -> Option<i64>) -> RecordMatch<T> {
    let Some(first) = records.first() else {
        return RecordMatch::Nobody;
    };
    let same_person = match account_of(first) {
        Some(account) => records.iter().all(|r| account_of(r) == Some(account)),
        None => records.len() == 1,
    };
    if same_person {
        RecordMatch::One(records)
    } else {
        RecordMatch::Several
    }
}

/// A birth date as typed (`AAAA-MM-JJ` from a date field, or `JJ/MM/AAAA`), in the records'
/// form `AAAA-MM-JJ`; `None` when it is not a real date.
pub fn typed_birth_date(typed: &str) -> Option<String> {
    let typed = typed.trim();
    let (y, m, d) = if let Some((d, rest)) = typed.split_once('/') {
        let (m, y) = rest.split_once('/')?;
        (y, m, d)
    } else {
        let mut parts = typed.splitn(3, '-');
        (parts.next()?, parts.next()?, parts.next()?)
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let (y, m, d) = match (digits(y, 4), m.len() <= 2, d.len() <= 2) {
        (true, true, true) if digits(m, m.len()) && digits(d, d.len()) => (
            y.parse::<i32>().ok()?,
            m.parse::<u8>().ok()?,
            d.parse::<u8>().ok()?,
        ),
        _ => return None,
    };
    let month = time::Month::try_from(m).ok()?;
    let date = time::Date::from_calendar_date(y, month, d).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claire() -> PivotNames {
        PivotNames {
            given_names: "Claire Anne".into(),
            family_name: "DUPONT".into(),
            usage_name: Some("Martin".into()),
            gender: Some("female".into()),
        }
    }

    #[test]
    fn records_match_on_birth_or_usage_name_and_the_first_first_name() {
        let p = claire();
        assert!(
            p.matches_record("Claire", "MARTIN", Some("Mme")),
            "usage name"
        );
        assert!(p.matches_record("claire", "Dupont", None), "birth name");
        assert!(
            p.matches_record("Claire-Anne", "MARTIN", None),
            "a compound first name"
        );
        assert!(
            !p.matches_record("Anne", "MARTIN", None),
            "a second first name alone"
        );
        assert!(
            !p.matches_record("Anne-Claire", "MARTIN", None),
            "not in that order"
        );
        assert!(!p.matches_record("Claire", "MARTINEZ", None));
        assert!(!p.matches_record("Clara", "MARTIN", None));
        assert!(!p.matches_record("", "MARTIN", None));
        assert!(
            !p.matches_record("Claire", "MARTIN", Some("M.")),
            "another civility"
        );
        // "Jean Marie" is not the record of "Marie"
        let jean_marie = PivotNames {
            given_names: "Jean Marie".into(),
            family_name: "DUPONT".into(),
            usage_name: None,
            gender: Some("male".into()),
        };
        assert!(!jean_marie.matches_record("Marie", "DUPONT", Some("Mme")));
        assert!(jean_marie.matches_record("Jean-Marie", "DUPONT", Some("M.")));
        let accents = PivotNames {
            given_names: "Hélène".into(),
            family_name: "LE GOFF".into(),
            usage_name: None,
            gender: None,
        };
        assert!(accents.matches_record("HELENE", "Le-Goff", Some("Mme")));
        assert_eq!(accents.last_names(), ["le goff"]);
        assert_eq!(claire().last_names(), ["dupont", "martin"]);
    }

    #[test]
    fn one_person_is_one_account_or_one_record() {
        let account = |r: &(i64, Option<i64>)| r.1;
        assert_eq!(resolve(Vec::new(), account), RecordMatch::Nobody);
        assert_eq!(
            resolve(vec![(1, Some(7)), (2, Some(7))], account),
            RecordMatch::One(vec![(1, Some(7)), (2, Some(7))])
        );
        assert_eq!(
            resolve(vec![(1, None)], account),
            RecordMatch::One(vec![(1, None)])
        );
        assert_eq!(
            resolve(vec![(1, Some(7)), (2, Some(8))], account),
            RecordMatch::Several
        );
        assert_eq!(
            resolve(vec![(1, None), (2, None)], account),
            RecordMatch::Several
        );
        assert_eq!(
            resolve(vec![(1, Some(7)), (2, None)], account),
            RecordMatch::Several
        );
    }

    #[test]
    fn birth_dates_are_read_in_both_forms() {
        assert_eq!(
            typed_birth_date("2012-03-14").as_deref(),
            Some("2012-03-14")
        );
        assert_eq!(
            typed_birth_date(" 14/03/2012 ").as_deref(),
            Some("2012-03-14")
        );
        assert_eq!(typed_birth_date("4/3/2012").as_deref(), Some("2012-03-04"));
        assert_eq!(typed_birth_date("2012-02-30"), None);
        assert_eq!(typed_birth_date("14.03.2012"), None);
        assert_eq!(typed_birth_date("12/2012"), None);
        assert_eq!(typed_birth_date(""), None);
    }
}

//! School administration (SPEC §2.7, seed 004): who may administer which school, the state an
//! account shows to staff, the search over a school's accounts with its pages, and the
//! activation statistics per class.

use std::collections::BTreeMap;

use super::account::{AccountKind, AccountState};
use super::names::fold_for_matching;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    /// Chef d'établissement, directeur d'école or their delegate: the schools listed.
    SchoolAdmin,
    /// Académie operator: every school.
    PlatformAdmin,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchoolAdmin => "school_admin",
            Self::PlatformAdmin => "platform_admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "school_admin" => Some(Self::SchoolAdmin),
            "platform_admin" => Some(Self::PlatformAdmin),
            _ => None,
        }
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::SchoolAdmin => "Administrateur d'établissement",
            Self::PlatformAdmin => "Administrateur de la plateforme",
        }
    }
}

/// The schools an administrator (a staff member, or an académie tool with an API token) may
/// see and act on. Every administration route asks this before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchoolScope {
    All,
    /// These UAIs only.
    Schools(Vec<String>),
}

impl SchoolScope {
    pub fn of(role: StaffRole, schools: Vec<String>) -> Self {
        match role {
            StaffRole::PlatformAdmin => Self::All,
            StaffRole::SchoolAdmin => Self::Schools(schools),
        }
    }

    pub fn covers(&self, uai: &str) -> bool {
        match self {
            Self::All => true,
            Self::Schools(list) => list.iter().any(|u| u == uai),
        }
    }
}

/// The state column of the search (seed 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Activated and usable.
    Operational,
    /// The temporary password was never replaced.
    NotActivated,
    /// Locked after too many failed sign-ins.
    Locked,
    /// Disabled by the school, or because the pupil left.
    Disabled,
}

impl Status {
    pub fn of(state: AccountState, activated: bool, locked: bool) -> Self {
        match state {
            AccountState::Disabled | AccountState::Closed => Self::Disabled,
            AccountState::Active if locked => Self::Locked,
            AccountState::Active if !activated => Self::NotActivated,
            AccountState::Active => Self::Operational,
        }
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Operational => "Opérationnel",
            Self::NotActivated => "Non activé",
            Self::Locked => "Bloqué",
            Self::Disabled => "Désactivé",
        }
    }
    /// For the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::NotActivated => "not_activated",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
        }
    }
}

/// An account of a school, as the administration lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolAccount {
    pub account_id: i64,
    pub identifier: String,
    pub kind: AccountKind,
    pub first_name: String,
    pub last_name: String,
    /// `M.` or `Mme` for a guardian, as the school recorded it.
    pub civility: Option<String>,
    /// A pupil's class; a guardian's children's classes in this school.
    pub classes: Vec<String>,
    /// For a guardian: the children at this school, "Léa MARTIN (4e A)".
    pub children: Vec<String>,
    pub state: AccountState,
    /// A password was chosen, or the account came through FranceConnect.
    pub activated: bool,
    pub locked_until: Option<i64>,
    /// A guardian who signs in with FranceConnect.
    pub franceconnect: bool,
}

impl SchoolAccount {
    pub fn status(&self, now: i64, throttled: bool) -> Status {
        let locked = throttled || self.locked_until.is_some_and(|until| until > now);
        Status::of(self.state, self.activated, locked)
    }
}

/// Rows a page of results shows (seed 004: 20).
pub const PAGE_SIZE: usize = 20;

/// What the search form asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    pub last_name: String,
    pub first_name: String,
    /// A part of the identifier, lowercase.
    pub identifier: String,
    pub kind: Option<AccountKind>,
    pub class: Option<String>,
}

impl Criteria {
    /// Whether an account answers the names typed: each is a part of the name, ignoring case,
    /// accents, hyphens and apostrophes (the same folding as the matching of children).
    pub fn matches(&self, account: &SchoolAccount) -> bool {
        let part = |typed: &str, name: &str| {
            let typed = fold_for_matching(typed);
            typed.is_empty() || fold_for_matching(name).contains(&typed)
        };
        part(&self.last_name, &account.last_name)
            && part(&self.first_name, &account.first_name)
            && account.identifier.contains(self.identifier.as_str())
            && self.kind.is_none_or(|k| k == account.kind)
            && self
                .class
                .as_ref()
                .is_none_or(|c| account.classes.iter().any(|a| a == c))
    }
}

/// The accounts answering the criteria, by name, then identifier.
pub fn select(mut accounts: Vec<SchoolAccount>, criteria: &Criteria) -> Vec<SchoolAccount> {
    accounts.retain(|a| criteria.matches(a));
    accounts.sort_by(|a, b| {
        (
            fold_for_matching(&a.last_name),
            fold_for_matching(&a.first_name),
        )
            .cmp(&(
                fold_for_matching(&b.last_name),
                fold_for_matching(&b.first_name),
            ))
            .then_with(|| a.identifier.cmp(&b.identifier))
    });
    accounts
}

/// One page of results and where it sits among the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// 1-based.
    pub number: usize,
    pub last: usize,
    pub total: usize,
}

/// The page `number` (1-based; out of range means the nearest page) of `items`.
pub fn page<T>(items: Vec<T>, number: usize, size: usize) -> Page<T> {
    let total = items.len();
    let last = total.div_ceil(size).max(1);
    let number = number.clamp(1, last);
    let items = items
        .into_iter()
        .skip((number - 1) * size)
        .take(size)
        .collect();
    Page {
        items,
        number,
        last,
        total,
    }
}

/// Activation figures of one profile in one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activation {
    pub accounts: usize,
    pub activated: usize,
    /// Among the activated: through FranceConnect (guardians).
    pub franceconnect: usize,
}

impl Activation {
    pub fn not_activated(&self) -> usize {
        self.accounts - self.activated
    }
    /// Activated, in whole percent.
    pub fn percent(&self) -> usize {
        (self.activated * 100)
            .checked_div(self.accounts)
            .unwrap_or(0)
    }
}

/// A class's activation: its pupils, and their guardians (one guardian of two children in the
/// class counts once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassActivation {
    pub class: String,
    pub pupils: Activation,
    pub guardians: Activation,
}

/// The activation per class of a school's accounts, by class name; accounts without a class
/// are under "Sans classe". Disabled accounts are not counted.
pub fn activation_by_class(accounts: &[SchoolAccount]) -> Vec<ClassActivation> {
    let mut classes: BTreeMap<String, ClassActivation> = BTreeMap::new();
    for account in accounts.iter().filter(|a| a.state == AccountState::Active) {
        let mut names: Vec<&str> = account.classes.iter().map(String::as_str).collect();
        if names.is_empty() {
            names.push("Sans classe");
        }
        names.sort_unstable();
        names.dedup();
        for name in names {
            let entry = classes
                .entry(name.to_owned())
                .or_insert_with(|| ClassActivation {
                    class: name.to_owned(),
                    ..ClassActivation::default()
                });
            entry.count(account);
        }
    }
    classes.into_values().collect()
}

/// The school's totals: each account once, whatever its classes.
pub fn activation_total(accounts: &[SchoolAccount]) -> ClassActivation {
    let mut total = ClassActivation {
        class: "Total".into(),
        ..ClassActivation::default()
    };
    for account in accounts.iter().filter(|a| a.state == AccountState::Active) {
        total.count(account);
    }
    total
}

impl ClassActivation {
    fn count(&mut self, account: &SchoolAccount) {
        let figures = match account.kind {
            AccountKind::Eleve => &mut self.pupils,
            AccountKind::Responsable => &mut self.guardians,
        };
        figures.accounts += 1;
        if account.activated {
            figures.activated += 1;
            if account.franceconnect {
                figures.franceconnect += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, last: &str, first: &str, kind: AccountKind, class: &str) -> SchoolAccount {
        SchoolAccount {
            account_id: id,
            identifier: format!("{}.{}", first.to_lowercase(), last.to_lowercase()),
            kind,
            first_name: first.into(),
            last_name: last.into(),
            civility: None,
            classes: vec![class.into()],
            children: vec![],
            state: AccountState::Active,
            activated: false,
            locked_until: None,
            franceconnect: false,
        }
    }

    #[test]
    fn the_scope_of_a_school_admin_is_their_list() {
        let scope = SchoolScope::of(StaffRole::SchoolAdmin, vec!["0141234A".into()]);
        assert!(scope.covers("0141234A"));
        assert!(!scope.covers("0142222C"));
        assert!(SchoolScope::of(StaffRole::PlatformAdmin, vec![]).covers("0142222C"));
        assert!(!SchoolScope::Schools(vec![]).covers(""));
    }

    #[test]
    fn status_reads_disabled_before_locked_before_not_activated() {
        let mut a = account(1, "MARTIN", "Léa", AccountKind::Eleve, "4e A");
        assert_eq!(a.status(100, false), Status::NotActivated);
        a.activated = true;
        assert_eq!(a.status(100, false), Status::Operational);
        assert_eq!(a.status(100, true), Status::Locked);
        a.locked_until = Some(200);
        assert_eq!(a.status(100, false), Status::Locked);
        assert_eq!(a.status(300, false), Status::Operational, "lock over");
        a.state = AccountState::Disabled;
        assert_eq!(a.status(100, true), Status::Disabled);
    }

    #[test]
    fn names_match_in_part_without_case_or_accents() {
        let a = account(1, "LE GALL-PÉRON", "Élodie", AccountKind::Eleve, "4e A");
        let c = |last: &str, first: &str| Criteria {
            last_name: last.into(),
            first_name: first.into(),
            ..Criteria::default()
        };
        assert!(c("", "").matches(&a));
        assert!(c("peron", "").matches(&a));
        assert!(c("le gall", "elo").matches(&a));
        assert!(!c("martin", "").matches(&a));
        let mut by_class = c("", "");
        by_class.class = Some("4e B".into());
        assert!(!by_class.matches(&a));
        by_class.class = Some("4e A".into());
        by_class.kind = Some(AccountKind::Responsable);
        assert!(!by_class.matches(&a));
        let by_identifier = |typed: &str| Criteria {
            identifier: typed.into(),
            ..Criteria::default()
        };
        assert!(by_identifier(&a.identifier).matches(&a));
        assert!(by_identifier("").matches(&a));
        assert!(!by_identifier("martin").matches(&a));
    }

    #[test]
    fn results_are_sorted_and_paged_by_twenty() {
        let accounts: Vec<SchoolAccount> = (0..45)
            .map(|i| {
                account(
                    i,
                    &format!("NOM{:02}", 44 - i),
                    "A",
                    AccountKind::Eleve,
                    "6e",
                )
            })
            .collect();
        let selected = select(accounts, &Criteria::default());
        assert_eq!(selected[0].last_name, "NOM00");
        let first = page(selected.clone(), 1, PAGE_SIZE);
        assert_eq!((first.items.len(), first.last, first.total), (20, 3, 45));
        let last = page(selected.clone(), 3, PAGE_SIZE);
        assert_eq!(last.items.len(), 5);
        assert_eq!(last.items[4].last_name, "NOM44");
        assert_eq!(page(selected.clone(), 99, PAGE_SIZE).number, 3);
        assert_eq!(page(selected, 0, PAGE_SIZE).number, 1);
        let empty = page(Vec::<SchoolAccount>::new(), 1, PAGE_SIZE);
        assert_eq!((empty.number, empty.last, empty.total), (1, 1, 0));
    }

    fn parent_twice() -> SchoolAccount {
        let mut parent = account(3, "C", "c", AccountKind::Responsable, "4e A");
        parent.classes.push("6e B".into());
        parent
    }

    #[test]
    fn activation_is_counted_per_class_and_profile() {
        let mut pupil = account(1, "A", "a", AccountKind::Eleve, "4e A");
        pupil.activated = true;
        let other = account(2, "B", "b", AccountKind::Eleve, "4e A");
        let mut parent = account(3, "C", "c", AccountKind::Responsable, "4e A");
        parent.classes.push("6e B".into());
        parent.activated = true;
        parent.franceconnect = true;
        let mut gone = account(4, "D", "d", AccountKind::Eleve, "4e A");
        gone.state = AccountState::Disabled;
        let mut loose = account(5, "E", "e", AccountKind::Eleve, "");
        loose.classes.clear();
        let stats = activation_by_class(&[pupil, other, parent, gone, loose]);
        let names: Vec<&str> = stats.iter().map(|s| s.class.as_str()).collect();
        assert_eq!(names, ["4e A", "6e B", "Sans classe"]);
        assert_eq!(
            stats[0].pupils,
            Activation {
                accounts: 2,
                activated: 1,
                franceconnect: 0
            }
        );
        assert_eq!(stats[0].pupils.percent(), 50);
        assert_eq!(stats[0].guardians.franceconnect, 1);
        assert_eq!(stats[1].guardians.accounts, 1);
        assert_eq!(stats[2].pupils.not_activated(), 1);
        let total = activation_total(&[parent_twice()]);
        assert_eq!(total.guardians.accounts, 1, "once, not once per class");
    }
}

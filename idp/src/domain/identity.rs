//! What the provider says about a person to relying parties, whatever the protocol: the
//! ÉduConnect affiliations and the facts from the school's records.

use super::account::{Account, AccountKind};
use crate::store::{ChildSummary, Degree, Placement, RecordedGuardian};

/// A person as released to relying parties.
#[derive(Debug, Clone)]
pub struct Person {
    pub account: Account,
    /// For a pupil: where they are enrolled.
    pub placement: Option<Placement>,
    /// For a guardian: the linked children.
    pub children: Vec<ChildSummary>,
    /// For a guardian: their records in the schools' information systems.
    pub guardian_records: Vec<RecordedGuardian>,
}

impl Person {
    /// `FrEduCtPersonAffiliation`: `eleve1d`/`eleve2d` for a pupil by school degree,
    /// `resp1d`/`resp2d` for a guardian by the degrees of the children's schools.
    pub fn affiliations(&self) -> Vec<&'static str> {
        match self.account.kind {
            AccountKind::Eleve => match self.placement.as_ref().map(|p| p.degree) {
                Some(Degree::Primary) => vec!["eleve1d"],
                Some(Degree::Secondary) => vec!["eleve2d"],
                None => vec![],
            },
            AccountKind::Responsable => {
                let mut a = Vec::new();
                if self.children.iter().any(|c| c.degree == Degree::Primary) {
                    a.push("resp1d");
                }
                if self.children.iter().any(|c| c.degree == Degree::Secondary) {
                    a.push("resp2d");
                }
                a
            }
        }
    }
}

/// `FrEduCtDateConnexion`: the sign-in time in French local time, `2021-10-08 11:51:33.437`.
pub fn connection_date(unix_seconds: i64) -> String {
    let local = french_local(unix_seconds);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.000",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

fn french_local(unix_seconds: i64) -> time::OffsetDateTime {
    let offset_hours = if is_french_summer_time(unix_seconds) {
        2
    } else {
        1
    };
    time::OffsetDateTime::from_unix_timestamp(unix_seconds + offset_hours * 3600)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The day in France, `2026-12-01`.
pub fn french_date(unix_seconds: i64) -> String {
    let local = french_local(unix_seconds);
    format!(
        "{:04}-{:02}-{:02}",
        local.year(),
        u8::from(local.month()),
        local.day()
    )
}

/// The day in France as a letter writes it, `1 mars 2027`.
pub fn french_long_date(unix_seconds: i64) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let local = french_local(unix_seconds);
    let day = local.day();
    let day = if day == 1 {
        "1er".to_owned()
    } else {
        day.to_string()
    };
    format!(
        "{day} {} {}",
        MONTHS[usize::from(u8::from(local.month())) - 1],
        local.year()
    )
}

/// The moment in France as a page says it, `1er mars 2027 à 08:50`.
pub fn french_date_time(unix_seconds: i64) -> String {
    let local = french_local(unix_seconds);
    format!(
        "{} à {:02}:{:02}",
        french_long_date(unix_seconds),
        local.hour(),
        local.minute()
    )
}

/// European summer time: from the last Sunday of March 01:00 UTC to the last Sunday of
/// October 01:00 UTC.
fn is_french_summer_time(unix_seconds: i64) -> bool {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix_seconds) else {
        return false;
    };
    let last_sunday_1am = |month: time::Month| {
        let last_day = time::util::days_in_month(month, t.year());
        let date = time::Date::from_calendar_date(t.year(), month, last_day).expect("valid date");
        let back = date.weekday().number_days_from_sunday();
        let sunday = date - time::Duration::days(i64::from(back));
        sunday
            .with_hms(1, 0, 0)
            .expect("valid time")
            .assume_utc()
            .unix_timestamp()
    };
    unix_seconds >= last_sunday_1am(time::Month::March)
        && unix_seconds < last_sunday_1am(time::Month::October)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_reads_in_french() {
        // 2026-01-15 08:50:00 UTC is 09:50 in Paris
        assert_eq!(french_date_time(1_768_467_000), "15 janvier 2026 à 09:50");
    }

    #[test]
    fn connection_date_is_french_local_time() {
        // 2021-10-08 09:51:33 UTC is 11:51:33 in Paris (summer time)
        assert_eq!(connection_date(1_633_686_693), "2021-10-08 11:51:33.000");
        // 2026-01-15 08:50:00 UTC is 09:50 in Paris (winter time)
        assert_eq!(connection_date(1_768_467_000), "2026-01-15 09:50:00.000");
        // the change: 2026-03-29 00:59:59 UTC is winter, 01:00:00 UTC is summer
        assert_eq!(connection_date(1_774_745_999), "2026-03-29 01:59:59.000");
        assert_eq!(connection_date(1_774_746_000), "2026-03-29 03:00:00.000");
    }

    #[test]
    fn dates_for_people_are_the_french_day() {
        // 2026-12-01 23:30 UTC is already 2 December in Paris
        assert_eq!(french_date(1_796_167_800), "2026-12-02");
        assert_eq!(french_long_date(1_796_167_800), "2 décembre 2026");
        assert_eq!(french_long_date(1_772_323_200), "1er mars 2026");
    }
}

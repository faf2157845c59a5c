//! ÉduConnect's SAML attribute profile (SPEC §3.2): URI names with friendly names, released
//! per SP registration.

use std::collections::BTreeSet;

use samael::attribute::{Attribute, AttributeValue};

use crate::domain::account::AccountKind;
use crate::domain::identity::{Person, connection_date};
use crate::keys::subjects::SubjectSalt;
use crate::store::Degree;

const URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

/// (friendly name, name) of every attribute the IdP can release.
const DEFINITIONS: &[(&str, &str)] = &[
    ("sn", "urn:oid:2.5.4.4"),
    ("givenName", "urn:oid:2.5.4.42"),
    ("FrEduUrlRetour", "urn:oid:1.3.6.1.4.1.20326.10.999.1.5"),
    (
        "FrEduCtDateConnexion",
        "urn:oid:1.3.6.1.4.1.20326.10.999.1.6",
    ),
    (
        "FrEduCtPersonAffiliation",
        "urn:oid:1.3.6.1.4.1.20326.10.999.1.7",
    ),
    ("FrEduCtId", "urn:oid:1.3.6.1.4.1.20326.10.999.1.57"),
    (
        "FrEduCtEleveINEHash",
        "urn:oid:1.3.6.1.4.1.20326.10.999.1.64",
    ),
    (
        "FrEduCtDateNaissance",
        "urn:oid:1.3.6.1.4.1.20326.10.999.1.67",
    ),
    ("FrEduCtEleveUAI", "urn:oid:1.3.6.1.4.1.20326.10.999.1.72"),
    (
        "FrEduCtEleveNiveau",
        "urn:oid:1.3.6.1.4.1.20326.10.999.1.73",
    ),
    // civility; the friendly name is the directory's (personalTitle in the ENT annuaires)
    ("personalTitle", "urn:oid:1.3.6.1.4.1.20326.10.999.1.76"),
    ("FrEduCtRefId", "FrEduCtRefId"),
    ("FrEduVecteur", "FrEduVecteur"),
];

/// The information system a school's records come from, by degree (AAF's "source").
fn source_system(degree: Degree) -> &'static str {
    match degree {
        Degree::Primary => "ONDE",
        Degree::Secondary => "SIECLE",
    }
}

/// The name of an attribute given by its friendly name, if the IdP knows it.
pub fn definition(friendly: &str) -> Option<&'static str> {
    DEFINITIONS
        .iter()
        .find(|(f, _)| *f == friendly)
        .map(|(_, n)| *n)
}

/// What the session and the SP add to the record.
pub struct AttributeContext<'a> {
    pub salt: &'a SubjectSalt,
    pub sp_entity_id: &'a str,
    pub auth_time: i64,
    pub logout_url: &'a str,
}

/// `FrEduVecteur` profile digit: 1 guardian (1d), 2 guardian (2d), 3 pupil (1d), 4 pupil (2d).
fn vector_profile(guardian: bool, degree: Degree) -> u8 {
    match (guardian, degree) {
        (true, Degree::Primary) => 1,
        (true, Degree::Secondary) => 2,
        (false, Degree::Primary) => 3,
        (false, Degree::Secondary) => 4,
    }
}

/// The values of one attribute for a person; empty when the person has none.
fn values_of(friendly: &str, person: &Person, ctx: &AttributeContext<'_>) -> Vec<String> {
    let a = &person.account;
    let pupil = a.kind == AccountKind::Eleve;
    let placement = person.placement.as_ref().filter(|_| pupil);
    match friendly {
        "sn" => vec![a.last_name.clone()],
        "givenName" => vec![a.first_name.clone()],
        "FrEduUrlRetour" => vec![ctx.logout_url.to_owned()],
        "FrEduCtDateConnexion" => vec![connection_date(ctx.auth_time)],
        "FrEduCtPersonAffiliation" => person
            .affiliations()
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        "FrEduCtId" => vec![ctx.salt.saml_id(ctx.sp_entity_id, a.id)],
        "FrEduCtEleveINEHash" => placement
            .and_then(|p| p.ine.as_deref())
            .filter(|ine| !ine.trim().is_empty())
            .map(|ine| ctx.salt.ine_hash(ine))
            .into_iter()
            .collect(),
        "FrEduCtDateNaissance" => a.birth_date.iter().cloned().collect(),
        "FrEduCtEleveUAI" => placement.map(|p| p.uai.clone()).into_iter().collect(),
        "FrEduCtEleveNiveau" => placement
            .and_then(|p| p.level.clone())
            .into_iter()
            .collect(),
        "personalTitle" => person
            .guardian_records
            .iter()
            .find_map(|r| r.civility.clone())
            .into_iter()
            .collect(),
        "FrEduCtRefId" => match placement {
            Some(p) => vec![format!(
                "{{AAF}}{}|{}|{}",
                p.academie,
                source_system(p.degree),
                p.source_id
            )],
            None => person
                .guardian_records
                .iter()
                .map(|r| {
                    format!(
                        "{{AAF}}{}|{}|{}",
                        r.academie,
                        source_system(r.degree),
                        r.source_id
                    )
                })
                .collect(),
        },
        "FrEduVecteur" => {
            if let Some(p) = placement {
                vec![format!(
                    "{}|{}|{}|{}|{}",
                    vector_profile(false, p.degree),
                    a.last_name,
                    a.first_name,
                    p.source_id,
                    p.uai
                )]
            } else {
                person
                    .children
                    .iter()
                    .map(|c| {
                        format!(
                            "{}|{}|{}|{}|{}",
                            vector_profile(true, c.degree),
                            a.last_name,
                            a.first_name,
                            c.source_id,
                            c.uai
                        )
                    })
                    .collect()
            }
        }
        _ => Vec::new(),
    }
}

/// The attributes released to a relying party, by friendly name, in the order of the profile
/// (SAML and CAS release the same set).
pub fn released_values(
    person: &Person,
    released: &BTreeSet<String>,
    ctx: &AttributeContext<'_>,
) -> Vec<(&'static str, Vec<String>)> {
    DEFINITIONS
        .iter()
        .filter(|(friendly, _)| released.contains(*friendly))
        .map(|(friendly, _)| (*friendly, values_of(friendly, person, ctx)))
        .filter(|(_, values)| !values.is_empty())
        .collect()
}

/// The SAML attributes released to an SP, in the order of the profile.
pub fn attributes(
    person: &Person,
    released: &BTreeSet<String>,
    ctx: &AttributeContext<'_>,
) -> Vec<Attribute> {
    released_values(person, released, ctx)
        .into_iter()
        .filter_map(|(friendly, values)| {
            let name = definition(friendly)?;
            Some(Attribute {
                friendly_name: Some(friendly.to_owned()),
                name: Some(name.to_owned()),
                name_format: Some(if name.starts_with("urn:") { URI } else { BASIC }.to_owned()),
                values: values
                    .into_iter()
                    .map(|v| AttributeValue {
                        attribute_type: Some("xs:string".to_owned()),
                        value: Some(v),
                    })
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Account, AccountState};
    use crate::store::{ChildSummary, GuardianRank, Placement, RecordedGuardian};

    fn account(kind: AccountKind, first: &str) -> Account {
        Account {
            id: 7,
            identifier: "x".into(),
            kind,
            state: AccountState::Active,
            first_name: first.into(),
            last_name: "MARTIN".into(),
            birth_date: Some("2012-03-14".into()),
            password_hash: None,
            temporary_secret_hash: None,
            temporary_expires_at: None,
            email: None,
            email_confirmed: false,
            mobile: None,
            created_at: 0,
            activated_at: None,
            locked_until: None,
            pending_email: None,
            pending_mobile: None,
        }
    }

    fn all() -> BTreeSet<String> {
        DEFINITIONS.iter().map(|(f, _)| (*f).to_owned()).collect()
    }

    fn find<'a>(attrs: &'a [Attribute], friendly: &str) -> Vec<&'a str> {
        attrs
            .iter()
            .find(|a| a.friendly_name.as_deref() == Some(friendly))
            .map(|a| a.values.iter().filter_map(|v| v.value.as_deref()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_pupil_s_attributes() {
        let salt = SubjectSalt::new(vec![1; 32]);
        let ctx = AttributeContext {
            salt: &salt,
            sp_entity_id: "https://sp",
            auth_time: 1_633_686_693,
            logout_url: "https://idp/logout",
        };
        let lea = Person {
            account: account(AccountKind::Eleve, "Léa"),
            placement: Some(Placement {
                source_id: "E1".into(),
                uai: "0141234A".into(),
                academie: "05".into(),
                degree: Degree::Secondary,
                ine: Some("070123456ab ".into()),
                school_name: "Collège".into(),
                class_name: None,
                level: Some("1003".into()),
            }),
            children: vec![],
            guardian_records: vec![],
        };
        let attrs = attributes(&lea, &all(), &ctx);
        assert_eq!(
            find(&attrs, "FrEduCtEleveINEHash"),
            vec![salt.ine_hash("070123456AB")],
            "the INE as recorded, whatever its case and spaces"
        );
        assert_eq!(find(&attrs, "FrEduCtEleveINEHash")[0].len(), 32);
        assert_eq!(find(&attrs, "FrEduCtRefId"), vec!["{AAF}05|SIECLE|E1"]);
        assert!(find(&attrs, "personalTitle").is_empty());
        assert_eq!(find(&attrs, "sn"), vec!["MARTIN"]);
        assert_eq!(find(&attrs, "FrEduCtPersonAffiliation"), vec!["eleve2d"]);
        assert_eq!(
            find(&attrs, "FrEduVecteur"),
            vec!["4|MARTIN|Léa|E1|0141234A"]
        );
        assert_eq!(
            find(&attrs, "FrEduCtDateConnexion"),
            vec!["2021-10-08 11:51:33.000"]
        );
        let id = find(&attrs, "FrEduCtId")[0];
        assert_eq!(id.len(), 96);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let sn = attrs
            .iter()
            .find(|a| a.friendly_name.as_deref() == Some("sn"))
            .unwrap();
        assert_eq!(sn.name.as_deref(), Some("urn:oid:2.5.4.4"));
        assert_eq!(sn.name_format.as_deref(), Some(URI));
        // only what the SP is registered for
        let some = BTreeSet::from(["sn".to_owned()]);
        assert_eq!(attributes(&lea, &some, &ctx).len(), 1);
    }

    #[test]
    fn a_guardian_has_one_vector_per_child() {
        let salt = SubjectSalt::new(vec![1; 32]);
        let ctx = AttributeContext {
            salt: &salt,
            sp_entity_id: "https://sp",
            auth_time: 0,
            logout_url: "x",
        };
        let child = |src: &str, degree, uai: &str| ChildSummary {
            pupil_id: 1,
            account_id: None,
            source_id: src.into(),
            first_name: "Enfant".into(),
            last_name: "MARTIN".into(),
            birth_date: "2015-09-02".into(),
            uai: uai.into(),
            school_name: "x".into(),
            class_name: None,
            level: None,
            rank: GuardianRank::First,
            degree,
        };
        let claire = Person {
            account: account(AccountKind::Responsable, "Claire"),
            placement: None,
            children: vec![
                child("E1", Degree::Secondary, "0141234A"),
                child("E2", Degree::Primary, "0140001B"),
            ],
            guardian_records: vec![
                RecordedGuardian {
                    uai: "0140001B".into(),
                    academie: "05".into(),
                    degree: Degree::Primary,
                    source_id: "R9".into(),
                    civility: None,
                },
                RecordedGuardian {
                    uai: "0141234A".into(),
                    academie: "05".into(),
                    degree: Degree::Secondary,
                    source_id: "R1".into(),
                    civility: Some("Mme".into()),
                },
            ],
        };
        let attrs = attributes(&claire, &all(), &ctx);
        assert_eq!(
            find(&attrs, "FrEduVecteur"),
            vec!["2|MARTIN|Claire|E1|0141234A", "1|MARTIN|Claire|E2|0140001B"]
        );
        assert_eq!(
            find(&attrs, "FrEduCtPersonAffiliation"),
            vec!["resp1d", "resp2d"]
        );
        assert!(find(&attrs, "FrEduCtEleveUAI").is_empty());
        assert!(find(&attrs, "FrEduCtEleveINEHash").is_empty());
        assert_eq!(find(&attrs, "personalTitle"), vec!["Mme"]);
        assert_eq!(
            find(&attrs, "FrEduCtRefId"),
            vec!["{AAF}05|ONDE|R9", "{AAF}05|SIECLE|R1"]
        );
    }
}

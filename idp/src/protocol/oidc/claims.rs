//! Which claims a client receives (its registration, narrowed by the requested scopes) and
//! their values (SPEC §3.1, ÉduConnect's OIDC names). Data minimisation: nothing else.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::domain::account::AccountKind;
use crate::domain::identity::{Person, connection_date};
use crate::domain::session::AuthOrigin;
use crate::keys::subjects::SubjectSalt;
use crate::registry::{OidcClient, SCOPES};

/// The claims `client` may receive for `scopes`.
pub fn released<'a>(client: &'a OidcClient, scopes: &[String]) -> BTreeSet<&'a str> {
    let asked: BTreeSet<&str> = SCOPES
        .iter()
        .filter(|(s, _)| scopes.iter().any(|x| x == s))
        .flat_map(|(_, claims)| claims.iter().copied())
        .collect();
    client
        .claims
        .iter()
        .map(String::as_str)
        .filter(|c| asked.contains(c))
        .collect()
}

/// What the session adds to the record.
pub struct ClaimContext<'a> {
    pub salt: &'a SubjectSalt,
    pub sector: &'a str,
    pub origin: AuthOrigin,
    pub auth_time: i64,
}

/// The values of the released claims for a person.
pub fn values(
    person: &Person,
    released: &BTreeSet<&str>,
    ctx: &ClaimContext<'_>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let pupil = person.account.kind == AccountKind::Eleve;
    let placement = person.placement.as_ref().filter(|_| pupil);
    for claim in released {
        let value = match *claim {
            "given_name" => json!(person.account.first_name),
            "family_name" => json!(person.account.last_name),
            "birthdate" => match &person.account.birth_date {
                Some(d) => json!(d),
                None => continue,
            },
            "FrEduCtPersonAffiliation" => json!(person.affiliations()),
            "FrEduCtEleveUAI" => match placement {
                Some(p) => json!(p.uai),
                None => continue,
            },
            "FrEduCtEleveNiveau" => match placement.and_then(|p| p.level.as_ref()) {
                Some(l) => json!(l),
                None => continue,
            },
            "FrEduCtEleveINE" => match placement.and_then(|p| p.ine.as_ref()) {
                Some(i) => json!(i),
                None => continue,
            },
            "FrEduOrigAuth" => json!(ctx.origin),
            "FrEduCtDateConnexion" => json!(connection_date(ctx.auth_time)),
            "FrEduCtEnfants" => {
                if pupil {
                    continue;
                }
                json!(
                    person
                        .children
                        .iter()
                        .map(|c| json!({
                            "id": ctx.salt.pupil(ctx.sector, c.pupil_id),
                            "given_name": c.first_name,
                            "family_name": c.last_name,
                            "FrEduCtEleveUAI": c.uai,
                            "classe": c.class_name,
                            "FrEduCtEleveNiveau": c.level,
                        }))
                        .collect::<Vec<_>>()
                )
            }
            _ => continue,
        };
        out.insert((*claim).to_owned(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{Account, AccountState};
    use crate::keys::ServerSecret;
    use crate::registry::Registry;
    use crate::store::{ChildSummary, Degree, GuardianRank, Placement};

    fn client(claims: &str) -> std::sync::Arc<OidcClient> {
        let mut r = Registry::default();
        r.add_toml(
            &format!(
                "protocol = 'oidc'\nclient_id = 'c'\nname = 'x'\nclient_secret = 'a-long-secret'\nredirect_uris = ['https://x.fr/cb']\nscopes = ['openid', 'profile', 'educonnect']\nclaims = [{claims}]"
            ),
            &ServerSecret::for_tests(),
        )
        .unwrap();
        r.oidc_client("c").unwrap()
    }

    fn account(kind: AccountKind, first: &str) -> Account {
        Account {
            id: 1,
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

    fn ctx(salt: &SubjectSalt) -> ClaimContext<'_> {
        ClaimContext {
            salt,
            sector: "x.fr",
            origin: AuthOrigin::Local,
            auth_time: 1_633_686_693,
        }
    }

    #[test]
    fn only_registered_and_requested_claims_are_released() {
        let c = client("'given_name', 'FrEduCtEleveINE'");
        let scopes = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(released(&c, &scopes("openid")), BTreeSet::new());
        assert_eq!(
            released(&c, &scopes("openid profile")),
            BTreeSet::from(["given_name"])
        );
        assert_eq!(
            released(&c, &scopes("openid profile educonnect")),
            BTreeSet::from(["FrEduCtEleveINE", "given_name"])
        );
    }

    #[test]
    fn a_pupil_s_claims() {
        let salt = SubjectSalt::new(vec![1; 32]);
        let lea = Person {
            account: account(AccountKind::Eleve, "Léa"),
            placement: Some(Placement {
                source_id: "E1".into(),
                uai: "0141234A".into(),
                academie: "05".into(),
                degree: Degree::Secondary,
                ine: Some("070123456AB".into()),
                school_name: "Collège".into(),
                class_name: Some("4e A".into()),
                level: Some("1003".into()),
            }),
            children: vec![],
            guardian_records: vec![],
        };
        let all: BTreeSet<&str> = crate::registry::known_claims().collect();
        let v = values(&lea, &all, &ctx(&salt));
        assert_eq!(v["given_name"], "Léa");
        assert_eq!(v["FrEduCtPersonAffiliation"], json!(["eleve2d"]));
        assert_eq!(v["FrEduCtEleveUAI"], "0141234A");
        assert_eq!(v["FrEduCtEleveNiveau"], "1003");
        assert_eq!(v["FrEduCtEleveINE"], "070123456AB");
        assert_eq!(v["FrEduOrigAuth"], "ECT");
        assert_eq!(v["FrEduCtDateConnexion"], "2021-10-08 11:51:33.000");
        assert!(!v.contains_key("FrEduCtEnfants"));
    }

    #[test]
    fn a_guardian_s_children() {
        let salt = SubjectSalt::new(vec![1; 32]);
        let child = |id, degree, uai: &str| ChildSummary {
            pupil_id: id,
            account_id: None,
            source_id: format!("E{id}"),
            first_name: "Enfant".into(),
            last_name: "MARTIN".into(),
            birth_date: "2015-09-02".into(),
            uai: uai.into(),
            school_name: "École".into(),
            class_name: Some("CM2".into()),
            level: None,
            rank: GuardianRank::First,
            degree,
        };
        let claire = Person {
            account: account(AccountKind::Responsable, "Claire"),
            placement: None,
            children: vec![
                child(1, Degree::Secondary, "0141234A"),
                child(2, Degree::Primary, "0140001B"),
            ],
            guardian_records: vec![],
        };
        let released = BTreeSet::from([
            "FrEduCtPersonAffiliation",
            "FrEduCtEnfants",
            "FrEduCtEleveUAI",
        ]);
        let v = values(&claire, &released, &ctx(&salt));
        assert_eq!(v["FrEduCtPersonAffiliation"], json!(["resp1d", "resp2d"]));
        assert!(
            !v.contains_key("FrEduCtEleveUAI"),
            "a guardian is not a pupil"
        );
        let kids = v["FrEduCtEnfants"].as_array().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[1]["FrEduCtEleveUAI"], "0140001B");
        assert_eq!(kids[0]["id"], json!(salt.pupil("x.fr", 1)));
    }
}

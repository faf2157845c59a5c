//! The demo dataset of `idp demo` (documented in the README): two schools of académie 70
//! (Normandie), the MARTIN family, Paul DURAND without an account, and a few classes of 25 so
//! that lists and searches look real. Seeding is idempotent.

use crate::app::AppState;
use crate::store::{
    AccountProvision, Degree, GuardianRank, GuardianRecord, LinkRecord, ProvisionReport,
    ProvisionedCredential, PupilRecord, School, SchoolSnapshot,
};

pub const COLLEGE_UAI: &str = "0141234A";
pub const COLLEGE_NAME: &str = "Collège Jean Moulin";
pub const ECOLE_UAI: &str = "0140001B";
pub const ECOLE_NAME: &str = "École élémentaire Jules Ferry";
pub const LYCEE_UAI: &str = "0142222C";
pub const LYCEE_NAME: &str = "Lycée Victor Hugo";

/// Where the demo's services listen on 127.0.0.1: the IdP on P, the ENT on P+1, Pronote on
/// P+2, the FranceConnect sandbox on P+3, the téléservice on P+4 (nothing listens there: its
/// registration is for trying the protocols by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoPorts {
    pub idp: u16,
    pub ent: u16,
    pub pronote: u16,
    pub franceconnect: u16,
    pub teleservice: u16,
}

/// The demo's client at the FranceConnect sandbox (a development registration).
pub const SANDBOX_CLIENT_ID: &str = "idp-demo";
pub const SANDBOX_CLIENT_SECRET: &str = "bac-a-sable-secret-de-demonstration";

impl DemoPorts {
    pub fn from_idp(port: u16) -> Self {
        Self {
            idp: port,
            ent: port + 1,
            pronote: port + 2,
            franceconnect: port + 3,
            teleservice: port + 4,
        }
    }

    fn idp_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.idp)
    }

    /// The FranceConnect sandbox's issuer (FranceConnect v2 paths).
    pub fn sandbox_issuer(&self) -> String {
        format!("http://127.0.0.1:{}/api/v2", self.franceconnect)
    }

    /// The `[[upstream]]` entry of the demo: the sandbox as FranceConnect.
    pub fn upstream_table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("id".into(), "franceconnect".into());
        t.insert("label".into(), "FranceConnect".into());
        t.insert("issuer".into(), self.sandbox_issuer().into());
        t.insert("client_id".into(), SANDBOX_CLIENT_ID.into());
        t.insert("client_secret".into(), SANDBOX_CLIENT_SECRET.into());
        t
    }

    /// What the sandbox knows of the IdP, its one client.
    pub fn sandbox_client(&self) -> demo_services::fc_sandbox::SandboxClient {
        let idp = self.idp_url();
        demo_services::fc_sandbox::SandboxClient {
            client_id: SANDBOX_CLIENT_ID.into(),
            client_secret: SANDBOX_CLIENT_SECRET.into(),
            redirect_uris: vec![format!("{idp}/upstream/franceconnect/callback")],
            post_logout_redirect_uris: vec![format!(
                "{idp}/upstream/franceconnect/logout-callback"
            )],
        }
    }

    /// The demo ENT and Pronote as they see themselves and the IdP.
    pub fn site(&self) -> demo_services::DemoSite {
        demo_services::DemoSite {
            idp: self.idp_url(),
            ent: format!("http://127.0.0.1:{}", self.ent),
            pronote: format!("http://127.0.0.1:{}/", self.pronote),
            schools: [(COLLEGE_UAI, COLLEGE_NAME), (ECOLE_UAI, ECOLE_NAME)]
                .into_iter()
                .map(|(uai, name)| (uai.to_owned(), name.to_owned()))
                .collect(),
        }
    }
}

/// The demo's staff (identifier, first name, last name, school, password), printed at start
/// and listed in the README.
pub const DEMO_STAFF: &[(&str, &str, &str, &str, &str)] = &[
    (
        "admin.college",
        "Sophie",
        "BERNARD",
        COLLEGE_UAI,
        "Direction-College-2026",
    ),
    (
        "admin.lycee",
        "Karim",
        "HADDAD",
        LYCEE_UAI,
        "Direction-Lycee-2026",
    ),
];

/// The demo staff's TOTP secret (base32): add it to an authenticator app, or run
/// `idp totp <secret>` for the current code. A demo value, published on purpose.
pub const DEMO_TOTP_SECRET: &str = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";

/// The accounts a newcomer can try, printed at start and listed in the README.
pub const DEMO_ACCOUNTS: &[(&str, &str, &str)] = &[
    ("Élève", "lea.martin", "Cartable-2026"),
    (
        "Élève (non activé, mot de passe provisoire)",
        "hugo.martin",
        "Provisoire-2026",
    ),
    ("Responsable", "claire.martin", "Parent-2026!"),
    ("Responsable", "marc.petit", "Parent-2026!"),
    (
        "Responsable, second compte (à regrouper)",
        "marc.petit2",
        "Regroupement-2026",
    ),
    (
        "Responsable (nouvel élève, né le 23/10/2017)",
        "valerie.leroy",
        "Parent-2026!",
    ),
];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Emma", "Gabriel", "Jade", "Raphaël", "Louise", "Arthur", "Ambre", "Louis", "Alice", "Jules",
    "Rose", "Maël", "Anna", "Adam", "Mia", "Lucas", "Inès", "Noé", "Chloé", "Éthan", "Zoé",
    "Nathan", "Léna", "Timéo", "Manon", "Sacha", "Camille", "Théo", "Lina", "Hugo",
];
pub(crate) const LAST_NAMES: &[&str] = &[
    "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DUBOIS", "MOREAU", "LAURENT", "SIMON",
    "MICHEL", "LEFÈVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
    "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MÜLLER", "LE GOFF",
    "N'DIAYE", "GARNIER", "FAURE", "ANDRÉ", "MERCIER", "BLANC", "GUÉRIN", "BOYER",
];
pub(crate) const PARENT_FIRST_NAMES: &[&str] = &[
    "Valérie",
    "Nicolas",
    "Isabelle",
    "Julien",
    "Nathalie",
    "Sébastien",
    "Céline",
    "Stéphane",
    "Aurélie",
    "Christophe",
    "Émilie",
    "Frédéric",
    "Sandrine",
    "Olivier",
    "Karima",
    "Mamadou",
];

/// One class of generated pupils, each with one or two guardians.
struct GeneratedClass {
    name: &'static str,
    level: Option<&'static str>,
    birth_year: i32,
    count: usize,
}

/// Adds generated pupils and guardians to a snapshot. Their accounts have random temporary
/// passwords that nobody knows (as if the letters were not handed out yet).
fn add_generated(
    state: &AppState,
    snapshot: &mut SchoolSnapshot,
    class: &GeneratedClass,
    seed: usize,
    now: i64,
) {
    let expires_at = now + i64::from(state.config.password.temporary_validity_days) * 86_400;
    for i in 0..class.count {
        let n = seed * 97 + i;
        let first = FIRST_NAMES[(n * 7) % FIRST_NAMES.len()];
        let last = LAST_NAMES[(n * 11 + seed) % LAST_NAMES.len()];
        let pupil_id = format!("{}-E{:03}", class.name.replace(' ', ""), i + 1);
        let temporary = || AccountProvision::New {
            preferred: None,
            credential: ProvisionedCredential::Temporary {
                secret_hash: state
                    .secret
                    .hash_generated_secret(&crate::keys::random_token(12)),
                expires_at,
            },
            email: None,
            mobile: None,
        };
        snapshot.pupils.push(PupilRecord {
            source_id: pupil_id.clone(),
            ine: Some(format!(
                "{:09}{}",
                70_000_000 + n,
                char::from(b'A' + (n % 26) as u8)
            )),
            last_name: last.to_owned(),
            first_name: first.to_owned(),
            birth_date: format!(
                "{}-{:02}-{:02}",
                class.birth_year,
                (n % 12) + 1,
                (n * 3 % 28) + 1
            ),
            class_name: Some(class.name.to_owned()),
            level: class.level.map(str::to_owned),
            account: Some(temporary()),
        });
        let guardians = if n.is_multiple_of(3) { 1 } else { 2 };
        for g in 0..guardians {
            let guardian_id = format!("{pupil_id}-R{}", g + 1);
            let parent_first = PARENT_FIRST_NAMES[(n * 5 + g * 3) % PARENT_FIRST_NAMES.len()];
            let civility = if PARENT_FIRST_NAMES
                .iter()
                .position(|p| *p == parent_first)
                .is_some_and(|p| p % 2 == 0)
            {
                "Mme"
            } else {
                "M."
            };
            snapshot.guardians.push(GuardianRecord {
                source_id: guardian_id.clone(),
                civility: Some(civility.to_owned()),
                last_name: last.to_owned(),
                first_name: parent_first.to_owned(),
                email: None,
                mobile: Some(format!("06{:08}", 20_000_000 + n * 10 + g)),
                account: (g == 0).then(temporary),
            });
            snapshot.links.push(LinkRecord {
                pupil_source_id: pupil_id.clone(),
                guardian_source_id: guardian_id,
                rank: if g == 0 {
                    GuardianRank::First
                } else {
                    GuardianRank::Second
                },
            });
        }
    }
}

/// Seeds the demo dataset unless it is already there. Returns what was created, school by
/// school.
pub async fn seed(state: &AppState) -> anyhow::Result<Option<Vec<ProvisionReport>>> {
    let reports = if state.accounts.by_identifier("lea.martin").await?.is_some()
        && state.directory.school(LYCEE_UAI).await?.is_some()
    {
        None
    } else {
        Some(seed_schools(state).await?)
    };
    seed_staff(state).await?;
    Ok(reports)
}

/// The demo's staff: an administrator of the collège and one of the lycée, their second
/// factor already enrolled with [`DEMO_TOTP_SECRET`] (so that `idp totp` gives their codes).
async fn seed_staff(state: &AppState) -> anyhow::Result<()> {
    for (identifier, first_name, last_name, uai, password) in DEMO_STAFF {
        if state.staff.staff_by_identifier(identifier).await?.is_some() {
            continue;
        }
        let hash = state.hasher.hash(password).await?;
        let id = state
            .staff
            .add_staff(&crate::store::NewStaff {
                identifier,
                first_name,
                last_name,
                email: None,
                role: crate::domain::staff::StaffRole::SchoolAdmin,
                password_hash: &hash,
                schools: &[(*uai).to_owned()],
                now: state.clock.now(),
            })
            .await?;
        let secret = crate::domain::totp::from_base32(DEMO_TOTP_SECRET).expect("base32");
        let sealed = crate::admin::seal_totp_secret(&state.secret, &secret)?;
        state.staff.enrol_totp(id, &sealed, 0).await?;
    }
    Ok(())
}

async fn seed_schools(state: &AppState) -> anyhow::Result<Vec<ProvisionReport>> {
    let now = state.clock.now();
    let lea_hash = state.hasher.hash("Cartable-2026").await?;
    let claire_hash = state.hasher.hash("Parent-2026!").await?;
    let validity = i64::from(state.config.password.temporary_validity_days) * 86_400;

    let mut college = SchoolSnapshot {
        school: School {
            uai: COLLEGE_UAI.into(),
            name: COLLEGE_NAME.into(),
            academie: "70".into(),
            degree: Degree::Secondary,
        },
        classes: vec!["6e B".into(), "4e A".into(), "3e C".into()],
        pupils: vec![
            PupilRecord {
                source_id: "JM-E0001".into(),
                ine: Some("070123456AB".into()),
                last_name: "MARTIN".into(),
                first_name: "Léa".into(),
                birth_date: "2012-03-14".into(),
                class_name: Some("4e A".into()),
                level: Some("1003".into()),
                account: Some(AccountProvision::New {
                    preferred: Some("lea.martin".into()),
                    credential: ProvisionedCredential::Password { hash: lea_hash },
                    email: None,
                    mobile: None,
                }),
            },
            PupilRecord {
                source_id: "JM-E0002".into(),
                ine: Some("070654321CD".into()),
                last_name: "DURAND".into(),
                first_name: "Jules".into(),
                birth_date: "2013-06-21".into(),
                class_name: Some("6e B".into()),
                level: Some("1001".into()),
                account: None,
            },
            PupilRecord {
                source_id: "JM-E0004".into(),
                ine: Some("070777888KL".into()),
                last_name: "LEROY".into(),
                first_name: "Nina".into(),
                birth_date: "2014-04-09".into(),
                class_name: Some("6e B".into()),
                level: Some("1001".into()),
                account: None,
            },
            PupilRecord {
                source_id: "JM-E0005".into(),
                ine: Some("070135791QR".into()),
                last_name: "PETIT".into(),
                first_name: "Emma".into(),
                birth_date: "2012-11-05".into(),
                class_name: Some("4e A".into()),
                level: Some("1003".into()),
                // her letter was lost: Marc gives her a new password from "Mes enfants"
                account: Some(AccountProvision::New {
                    preferred: None,
                    credential: ProvisionedCredential::Temporary {
                        secret_hash: state
                            .secret
                            .hash_generated_secret(&crate::keys::temporary_password()),
                        expires_at: now + validity,
                    },
                    email: None,
                    mobile: None,
                }),
            },
            PupilRecord {
                source_id: "JM-E0003".into(),
                ine: Some("070333444GH".into()),
                last_name: "BENALI".into(),
                first_name: "Inès".into(),
                birth_date: "2014-02-11".into(),
                class_name: Some("6e B".into()),
                level: Some("1001".into()),
                account: None,
            },
        ],
        guardians: vec![
            // Valérie LEROY uses her account; the école's import brings her second child
            GuardianRecord {
                source_id: "JM-R0004".into(),
                civility: Some("Mme".into()),
                last_name: "LEROY".into(),
                first_name: "Valérie".into(),
                email: None,
                mobile: Some("0655443322".into()),
                account: Some(AccountProvision::New {
                    preferred: Some("valerie.leroy".into()),
                    credential: ProvisionedCredential::Password {
                        hash: claire_hash.clone(),
                    },
                    email: None,
                    mobile: Some("0655443322".into()),
                }),
            },
            GuardianRecord {
                source_id: "JM-R0005".into(),
                civility: Some("M.".into()),
                last_name: "PETIT".into(),
                first_name: "Marc".into(),
                email: None,
                mobile: Some("0677889900".into()),
                account: Some(AccountProvision::New {
                    preferred: Some("marc.petit".into()),
                    credential: ProvisionedCredential::Password {
                        hash: claire_hash.clone(),
                    },
                    email: None,
                    mobile: Some("0677889900".into()),
                }),
            },
            GuardianRecord {
                source_id: "JM-R0001".into(),
                civility: Some("Mme".into()),
                last_name: "MARTIN".into(),
                first_name: "Claire".into(),
                email: Some("claire.martin@example.fr".into()),
                mobile: Some("0611223344".into()),
                account: Some(AccountProvision::New {
                    preferred: Some("claire.martin".into()),
                    credential: ProvisionedCredential::Password { hash: claire_hash },
                    email: None,
                    mobile: Some("0611223344".into()),
                }),
            },
            GuardianRecord {
                source_id: "JM-R0002".into(),
                civility: Some("M.".into()),
                last_name: "DURAND".into(),
                first_name: "Paul".into(),
                email: None,
                mobile: Some("0612345678".into()),
                // no account: Paul creates one himself ("Je n'ai pas de compte")
                account: None,
            },
            // one of two guardians named Nadia BENALI (the other is at the école): the names
            // alone cannot tell them apart
            GuardianRecord {
                source_id: "JM-R0003".into(),
                civility: Some("Mme".into()),
                last_name: "BENALI".into(),
                first_name: "Nadia".into(),
                email: None,
                mobile: Some("0613579246".into()),
                account: None,
            },
        ],
        links: vec![
            LinkRecord {
                pupil_source_id: "JM-E0001".into(),
                guardian_source_id: "JM-R0001".into(),
                rank: GuardianRank::First,
            },
            LinkRecord {
                pupil_source_id: "JM-E0002".into(),
                guardian_source_id: "JM-R0002".into(),
                rank: GuardianRank::First,
            },
            LinkRecord {
                pupil_source_id: "JM-E0003".into(),
                guardian_source_id: "JM-R0003".into(),
                rank: GuardianRank::First,
            },
            LinkRecord {
                pupil_source_id: "JM-E0004".into(),
                guardian_source_id: "JM-R0004".into(),
                rank: GuardianRank::First,
            },
            LinkRecord {
                pupil_source_id: "JM-E0005".into(),
                guardian_source_id: "JM-R0005".into(),
                rank: GuardianRank::First,
            },
        ],
    };
    // Léa's class has 25 pupils with her; two more full classes.
    for (seed, class) in [
        GeneratedClass {
            name: "4e A",
            level: Some("1003"),
            birth_year: 2012,
            count: 24,
        },
        GeneratedClass {
            name: "6e B",
            level: Some("1001"),
            birth_year: 2014,
            count: 23,
        },
        GeneratedClass {
            name: "3e C",
            level: Some("1004"),
            birth_year: 2011,
            count: 25,
        },
    ]
    .iter()
    .enumerate()
    {
        add_generated(state, &mut college, class, seed + 1, now);
    }

    let mut ecole = SchoolSnapshot {
        school: School {
            uai: ECOLE_UAI.into(),
            name: ECOLE_NAME.into(),
            academie: "70".into(),
            degree: Degree::Primary,
        },
        classes: vec!["CM2".into(), "CE1".into()],
        pupils: vec![
            PupilRecord {
                source_id: "JF-E0001".into(),
                ine: Some("070111222EF".into()),
                last_name: "MARTIN".into(),
                first_name: "Hugo".into(),
                birth_date: "2015-09-02".into(),
                class_name: Some("CM2".into()),
                // primary levels are left empty until the ONDE level codes are imported
                level: None,
                account: Some(AccountProvision::New {
                    preferred: Some("hugo.martin".into()),
                    credential: ProvisionedCredential::Temporary {
                        secret_hash: state.secret.hash_generated_secret("Provisoire-2026"),
                        expires_at: now + validity,
                    },
                    email: None,
                    mobile: None,
                }),
            },
            PupilRecord {
                source_id: "JF-E0003".into(),
                ine: Some("070999000MN".into()),
                last_name: "LEROY".into(),
                first_name: "Lou".into(),
                birth_date: "2017-10-23".into(),
                class_name: Some("CE1".into()),
                level: None,
                account: None,
            },
            PupilRecord {
                source_id: "JF-E0002".into(),
                ine: Some("070555666IJ".into()),
                last_name: "BENALI".into(),
                first_name: "Yanis".into(),
                birth_date: "2018-09-30".into(),
                class_name: Some("CE1".into()),
                level: None,
                account: None,
            },
        ],
        guardians: vec![
            GuardianRecord {
                source_id: "JF-R0001".into(),
                civility: Some("Mme".into()),
                last_name: "MARTIN".into(),
                first_name: "Claire".into(),
                email: Some("claire.martin@example.fr".into()),
                mobile: Some("0611223344".into()),
                account: Some(AccountProvision::Existing {
                    identifier: "claire.martin".into(),
                }),
            },
            // the same mobile as Valérie's account: proposed to it at her next sign-in, rather
            // than given an account of its own
            GuardianRecord {
                source_id: "JF-R0003".into(),
                civility: Some("Mme".into()),
                last_name: "LEROY".into(),
                first_name: "Valérie".into(),
                email: None,
                mobile: Some("0655443322".into()),
                account: Some(AccountProvision::New {
                    preferred: None,
                    credential: ProvisionedCredential::Temporary {
                        secret_hash: state
                            .secret
                            .hash_generated_secret(&crate::keys::temporary_password()),
                        expires_at: now + validity,
                    },
                    email: None,
                    mobile: None,
                }),
            },
            GuardianRecord {
                source_id: "JF-R0002".into(),
                civility: Some("Mme".into()),
                last_name: "BENALI".into(),
                first_name: "Nadia".into(),
                email: None,
                mobile: Some("0624681357".into()),
                account: None,
            },
        ],
        links: vec![
            LinkRecord {
                pupil_source_id: "JF-E0001".into(),
                guardian_source_id: "JF-R0001".into(),
                rank: GuardianRank::First,
            },
            LinkRecord {
                pupil_source_id: "JF-E0002".into(),
                guardian_source_id: "JF-R0002".into(),
                rank: GuardianRank::First,
            },
            LinkRecord {
                pupil_source_id: "JF-E0003".into(),
                guardian_source_id: "JF-R0003".into(),
                rank: GuardianRank::First,
            },
        ],
    };

    // Marc's elder son is at the lycée, which recorded another mobile for him: a second
    // account, whose children he takes into his from "Mon compte".
    let lycee = SchoolSnapshot {
        school: School {
            uai: LYCEE_UAI.into(),
            name: LYCEE_NAME.into(),
            academie: "70".into(),
            degree: Degree::Secondary,
        },
        classes: vec!["2nde 3".into()],
        pupils: vec![PupilRecord {
            source_id: "VH-E0001".into(),
            ine: Some("070246802OP".into()),
            last_name: "PETIT".into(),
            first_name: "Malo".into(),
            birth_date: "2010-05-17".into(),
            class_name: Some("2nde 3".into()),
            level: Some("2111".into()),
            account: None,
        }],
        guardians: vec![GuardianRecord {
            source_id: "VH-R0001".into(),
            civility: Some("M.".into()),
            last_name: "PETIT".into(),
            first_name: "Marc".into(),
            email: None,
            mobile: Some("0699887766".into()),
            account: Some(AccountProvision::New {
                preferred: None,
                credential: ProvisionedCredential::Temporary {
                    secret_hash: state.secret.hash_generated_secret("Regroupement-2026"),
                    expires_at: now + validity,
                },
                email: None,
                mobile: None,
            }),
        }],
        links: vec![LinkRecord {
            pupil_source_id: "VH-E0001".into(),
            guardian_source_id: "VH-R0001".into(),
            rank: GuardianRank::First,
        }],
    };
    for (seed, class) in [
        GeneratedClass {
            name: "CM2",
            level: None,
            birth_year: 2015,
            count: 24,
        },
        GeneratedClass {
            name: "CE1",
            level: None,
            birth_year: 2018,
            count: 24,
        },
    ]
    .iter()
    .enumerate()
    {
        add_generated(state, &mut ecole, class, seed + 10, now);
    }

    let mut reports = Vec::new();
    for school in [&college, &ecole, &lycee] {
        let report = state
            .directory
            .provision_school(school, now, state.config.import.leaving_grace_seconds())
            .await?;
        reports.push(report);
    }
    Ok(reports)
}

/// Writes the demo relying parties' registrations: the ENT (an OpenID Connect client with
/// client_secret_basic and back-channel logout), Pronote (a CAS service) and a téléservice
/// (client_secret_post, RS256 ID tokens). Rewritten at every start, so the ports follow
/// `--port`.
pub fn write_registrations(dir: &std::path::Path, ports: DemoPorts) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let DemoPorts {
        ent,
        pronote,
        teleservice,
        ..
    } = ports;
    let educonnect_claims = r#"["given_name", "family_name", "birthdate", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI", "FrEduCtEleveNiveau", "FrEduOrigAuth", "FrEduCtDateConnexion", "FrEduCtEnfants"]"#;
    std::fs::write(
        dir.join("ent-demo.toml"),
        format!(
            r#"# Demo ENT (written by `idp demo`; a development registration, secret in clear).
protocol = "oidc"
client_id = "{client_id}"
name = "ENT de démonstration"
client_secret = "{client_secret}"
token_endpoint_auth_method = "client_secret_basic"
redirect_uris = ["http://127.0.0.1:{ent}/callback"]
post_logout_redirect_uris = ["http://127.0.0.1:{ent}/"]
backchannel_logout_uri = "http://127.0.0.1:{ent}/backchannel-logout"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "educonnect", "offline_access"]
claims = {educonnect_claims}
subject_type = "pairwise"
id_token_signed_response_alg = "ES256"
"#,
            client_id = demo_services::ent::CLIENT_ID,
            client_secret = demo_services::ent::CLIENT_SECRET,
        ),
    )?;
    std::fs::write(
        dir.join("pronote-demo.toml"),
        format!(
            r#"# Demo Pronote (written by `idp demo`), as Pronote's "Interconnexion CAS".
protocol = "cas"
id = "pronote-demo"
name = "Pronote de démonstration"
services = ["http://127.0.0.1:{pronote}/"]
attributes = ["sn", "givenName", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI", "FrEduCtEleveNiveau", "FrEduCtId", "FrEduVecteur", "FrEduCtDateConnexion", "FrEduUrlRetour"]
single_logout = true
"#
        ),
    )?;
    std::fs::write(
        dir.join("teleservice-demo.toml"),
        format!(
            r#"# Demo téléservice (written by `idp demo`; a development registration, secret in clear).
protocol = "oidc"
client_id = "teleservice-demo"
name = "Téléservice de démonstration"
client_secret = "teleservice-demo-secret"
token_endpoint_auth_method = "client_secret_post"
redirect_uris = ["http://127.0.0.1:{teleservice}/callback"]
post_logout_redirect_uris = ["http://127.0.0.1:{teleservice}/"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "educonnect", "offline_access"]
claims = ["given_name", "family_name", "FrEduCtPersonAffiliation"]
subject_type = "pairwise"
id_token_signed_response_alg = "RS256"
"#
        ),
    )?;
    std::fs::write(
        dir.join("outil-academie.toml"),
        format!(
            r#"# Demo académie tool of the admin API (written by `idp demo`; a development registration).
protocol = "oidc"
client_id = "{DEMO_ADMIN_CLIENT_ID}"
name = "Outil de l'académie (démonstration)"
client_secret = "{DEMO_ADMIN_CLIENT_SECRET}"
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]
scopes = ["admin"]
admin_schools = ["{COLLEGE_UAI}"]
"#
        ),
    )
}

/// The demo's client of the admin API (client_credentials, the collège only).
pub const DEMO_ADMIN_CLIENT_ID: &str = "outil-academie";
pub const DEMO_ADMIN_CLIENT_SECRET: &str = "outil-academie-secret";

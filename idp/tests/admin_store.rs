//! School administration at the storage level, on SQLite (always) and PostgreSQL
//! (`--ignored`, with `TEST_POSTGRES_URL`): a regeneration is all or nothing and never reaches
//! another school's account, state changes are scoped to the school, a school's accounts are
//! listed with their classes and children, and staff TOTP steps are accepted once even when
//! two nodes see the same code at the same moment.

mod support;

use idp::audit::Actor;
use idp::domain::account::{AccountKind, AccountState};
use idp::domain::staff::StaffRole;
use idp::store::sql::SqlStore;
use idp::store::*;
use sqlx::{AnyConnection, Connection, Executor};

const NOW: i64 = 1_790_000_000;
const COLLEGE: &str = "0141234A";
const LYCEE: &str = "0142222C";

fn temporary(tag: &str) -> Option<AccountProvision> {
    Some(AccountProvision::New {
        preferred: None,
        credential: ProvisionedCredential::Temporary {
            secret_hash: format!("hmac-sha256${tag}"),
            expires_at: NOW + 1000,
        },
        email: None,
        mobile: None,
    })
}

fn pupil(source_id: &str, last: &str, first: &str, class: &str) -> PupilRecord {
    PupilRecord {
        source_id: source_id.into(),
        ine: Some(format!("INE{source_id}")),
        last_name: last.into(),
        first_name: first.into(),
        birth_date: "2012-01-01".into(),
        class_name: Some(class.into()),
        level: None,
        account: temporary(source_id),
    }
}

/// The collège (Léa and Hugo in 4e A, Inès in 6e B; their mother Claire) and the lycée
/// (Malo).
async fn schools(s: &SqlStore) {
    let college = SchoolSnapshot {
        school: School {
            uai: COLLEGE.into(),
            name: "Collège".into(),
            academie: "70".into(),
            degree: Degree::Secondary,
        },
        classes: vec!["4e A".into(), "6e B".into()],
        pupils: vec![
            pupil("E1", "MARTIN", "Léa", "4e A"),
            pupil("E2", "MARTIN", "Hugo", "4e A"),
            pupil("E3", "NOUR", "Inès", "6e B"),
        ],
        guardians: vec![GuardianRecord {
            source_id: "R1".into(),
            civility: Some("Mme".into()),
            last_name: "MARTIN".into(),
            first_name: "Claire".into(),
            email: None,
            mobile: None,
            account: temporary("R1"),
        }],
        links: ["E1", "E2"]
            .iter()
            .map(|p| LinkRecord {
                pupil_source_id: (*p).into(),
                guardian_source_id: "R1".into(),
                rank: GuardianRank::First,
            })
            .collect(),
    };
    s.provision_school(&college, NOW, 0).await.unwrap();
    let lycee = SchoolSnapshot {
        school: School {
            uai: LYCEE.into(),
            name: "Lycée".into(),
            academie: "70".into(),
            degree: Degree::Secondary,
        },
        classes: vec!["2nde 3".into()],
        pupils: vec![pupil("V1", "PETIT", "Malo", "2nde 3")],
        guardians: vec![],
        links: vec![],
    };
    s.provision_school(&lycee, NOW, 0).await.unwrap();
}

async fn id_of(s: &SqlStore, uai: &str, first_name: &str) -> i64 {
    s.school_accounts(uai)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.first_name == first_name)
        .unwrap_or_else(|| panic!("{first_name} at {uai}"))
        .account_id
}

fn action<'a>(actor: &'a Actor, uai: &'a str) -> StaffAction<'a> {
    StaffAction {
        actor,
        by: "admin.test",
        uai,
        source_address: Some("192.0.2.9"),
        now: NOW + 10,
    }
}

async fn a_schools_accounts_come_with_classes_and_children(s: &SqlStore, _url: &str) {
    schools(s).await;
    let accounts = s.school_accounts(COLLEGE).await.unwrap();
    assert_eq!(accounts.len(), 4, "three pupils and their mother");
    let claire = accounts.iter().find(|a| a.first_name == "Claire").unwrap();
    assert_eq!(claire.kind, AccountKind::Responsable);
    assert_eq!(claire.civility.as_deref(), Some("Mme"));
    assert_eq!(claire.classes, ["4e A"]);
    let mut children = claire.children.clone();
    children.sort();
    assert_eq!(children, ["Hugo MARTIN (4e A)", "Léa MARTIN (4e A)"]);
    assert!(!claire.activated);
    let ines = accounts.iter().find(|a| a.first_name == "Inès").unwrap();
    assert_eq!(ines.classes, ["6e B"]);
    assert!(
        s.school_accounts(LYCEE)
            .await
            .unwrap()
            .iter()
            .all(|a| a.first_name == "Malo")
    );
    assert!(s.school_accounts("0000000X").await.unwrap().is_empty());
    assert_eq!(s.schools().await.unwrap().len(), 2);
}

async fn a_regeneration_is_all_or_nothing(s: &SqlStore, _url: &str) {
    schools(s).await;
    let (lea, hugo, malo) = (
        id_of(s, COLLEGE, "Léa").await,
        id_of(s, COLLEGE, "Hugo").await,
        id_of(s, LYCEE, "Malo").await,
    );
    s.create_grant(
        &Grant {
            id: "g-lea".into(),
            client_id: "ent".into(),
            account_id: lea,
            scope: "openid".into(),
            auth_time: NOW,
            origin: "ECT".into(),
            session_id: None,
            created_at: NOW,
            expires_at: NOW + 3600,
            revoked_at: None,
        },
        None,
    )
    .await
    .unwrap();
    let actor = Actor::Staff(7);
    let before = s.by_id(lea).await.unwrap().unwrap();
    // Malo is the lycée's: the whole batch is refused, Léa's part too
    let refused = s
        .regenerate_passwords(
            &action(&actor, COLLEGE),
            &[
                (lea, "hmac-sha256$new-lea".into()),
                (malo, "hmac-sha256$new-malo".into()),
            ],
            NOW + 5000,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(s.by_id(lea).await.unwrap().unwrap(), before);
    assert!(
        s.for_account(lea, 10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.event != "temporary_password_issued")
    );
    assert!(
        s.grant("g-lea")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    s.regenerate_passwords(
        &action(&actor, COLLEGE),
        &[
            (lea, "hmac-sha256$new-lea".into()),
            (hugo, "hmac-sha256$new-hugo".into()),
        ],
        NOW + 5000,
    )
    .await
    .unwrap();
    let after = s.by_id(lea).await.unwrap().unwrap();
    assert_eq!(
        after.temporary_secret_hash.as_deref(),
        Some("hmac-sha256$new-lea")
    );
    assert_eq!(after.temporary_expires_at, Some(NOW + 5000));
    assert!(after.password_hash.is_none() && after.activated_at.is_none());
    assert!(
        s.grant("g-lea")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let event = s
        .for_account(hugo, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event == "temporary_password_issued")
        .unwrap();
    assert_eq!(event.actor, "staff:7");
    assert_eq!(event.source_address.as_deref(), Some("192.0.2.9"));
    assert!(event.details.contains("admin.test") && event.details.contains(COLLEGE));
}

async fn state_changes_stay_in_the_school(s: &SqlStore, _url: &str) {
    schools(s).await;
    let malo = id_of(s, LYCEE, "Malo").await;
    let actor = Actor::Client("outil".into());
    let change = |uai: &'static str, change: AccountChange| {
        let actor = actor.clone();
        async move {
            s.change_accounts(&action(&actor, uai), &[malo], change)
                .await
                .unwrap()
                == [malo]
        }
    };
    for c in [
        AccountChange::Disable,
        AccountChange::Unlock,
        AccountChange::Enable,
    ] {
        assert!(!change(COLLEGE, c).await, "{c:?} from another school");
    }
    assert_eq!(state(s, malo).await, AccountState::Active);
    assert!(!change(LYCEE, AccountChange::Enable).await, "not disabled");
    assert!(!change(LYCEE, AccountChange::Unlock).await, "not locked");
    assert!(change(LYCEE, AccountChange::Disable).await);
    assert_eq!(state(s, malo).await, AccountState::Disabled);
    assert!(!change(LYCEE, AccountChange::Disable).await, "already");
    // a disabled account gets no new password
    let refused = s
        .regenerate_passwords(
            &action(&actor, LYCEE),
            &[(malo, "hmac-sha256$x".into())],
            NOW + 5000,
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))));
    assert!(change(LYCEE, AccountChange::Enable).await);
    assert_eq!(state(s, malo).await, AccountState::Active);
    let kinds: Vec<String> = s
        .for_account(malo, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(kinds.contains(&"account_disabled".to_owned()));
    assert!(kinds.contains(&"account_enabled".to_owned()));

    // a pupil who left the lycée is no longer its account
    let empty = SchoolSnapshot {
        school: School {
            uai: LYCEE.into(),
            name: "Lycée".into(),
            academie: "70".into(),
            degree: Degree::Secondary,
        },
        classes: vec![],
        pupils: vec![],
        guardians: vec![],
        links: vec![],
    };
    s.provision_school(&empty, NOW + 20, 365 * 86_400)
        .await
        .unwrap();
    assert!(s.school_accounts(LYCEE).await.unwrap().is_empty());
    assert!(!change(LYCEE, AccountChange::Disable).await);
}

async fn state(s: &SqlStore, account: i64) -> AccountState {
    s.by_id(account).await.unwrap().unwrap().state
}

async fn a_guardian_is_the_schools_while_a_child_is_there(s: &SqlStore, url: &str) {
    schools(s).await;
    let claire = id_of(s, COLLEGE, "Claire").await;
    let ines = id_of(s, COLLEGE, "Inès").await;
    let mut c = AnyConnection::connect(url).await.unwrap();
    // "Je ne suis pas le représentant légal de cet élève" for Léa
    c.execute(sqlx::AssertSqlSafe(format!(
        "UPDATE guardianships SET disputed_at = {NOW} WHERE pupil_id = \
         (SELECT id FROM pupils WHERE source_id = 'E1')"
    )))
    .await
    .unwrap();
    let listed = s.school_accounts(COLLEGE).await.unwrap();
    let claire_row = listed.iter().find(|a| a.account_id == claire).unwrap();
    assert_eq!(
        claire_row.children,
        ["Hugo MARTIN (4e A)"],
        "a disputed child is not shown"
    );
    // a pupil disabled because they left is not enabled by staff (the import does it)
    c.execute(sqlx::AssertSqlSafe(format!(
        "UPDATE accounts SET state = 'disabled', disabled_reason = 'left_school' WHERE id = {ines}"
    )))
    .await
    .unwrap();
    let actor = Actor::Staff(1);
    let enabled = s
        .change_accounts(&action(&actor, COLLEGE), &[ines], AccountChange::Enable)
        .await
        .unwrap();
    assert!(enabled.is_empty());
    // her children gone, Claire is no longer the collège's
    let college = SchoolSnapshot {
        school: School {
            uai: COLLEGE.into(),
            name: "Collège".into(),
            academie: "70".into(),
            degree: Degree::Secondary,
        },
        classes: vec!["6e B".into()],
        pupils: vec![pupil("E3", "NOUR", "Inès", "6e B")],
        guardians: vec![GuardianRecord {
            source_id: "R1".into(),
            civility: Some("Mme".into()),
            last_name: "MARTIN".into(),
            first_name: "Claire".into(),
            email: None,
            mobile: None,
            account: None,
        }],
        links: vec![],
    };
    s.provision_school(&college, NOW + 30, 365 * 86_400)
        .await
        .unwrap();
    let listed = s.school_accounts(COLLEGE).await.unwrap();
    assert!(listed.iter().all(|a| a.account_id != claire), "{listed:?}");
    let disabled = s
        .change_accounts(&action(&actor, COLLEGE), &[claire], AccountChange::Disable)
        .await
        .unwrap();
    assert!(disabled.is_empty());
    let refused = s
        .regenerate_passwords(
            &action(&actor, COLLEGE),
            &[(claire, "hmac-sha256$x".into())],
            NOW + 5000,
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))));
}

fn new_staff<'a>(identifier: &'a str, schools: &'a [String]) -> NewStaff<'a> {
    NewStaff {
        identifier,
        first_name: "Sophie",
        last_name: "BERNARD",
        email: None,
        role: StaffRole::SchoolAdmin,
        password_hash: "$argon2id$stub",
        schools,
        now: NOW,
    }
}

async fn staff_members_and_their_codes(s: &SqlStore, _url: &str) {
    schools(s).await;
    let unknown = ["0999999Z".to_owned()];
    let refused = s.add_staff(&new_staff("admin.x", &unknown)).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(ref m)) if m.contains("0999999Z")),
        "{refused:?}"
    );
    assert!(
        s.staff_by_identifier("admin.x").await.unwrap().is_none(),
        "nothing written"
    );
    let college = [COLLEGE.to_owned()];
    let id = s
        .add_staff(&new_staff("admin.college", &college))
        .await
        .unwrap();
    let again = s.add_staff(&new_staff("admin.college", &college)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let staff = s.staff_by_id(id).await.unwrap().unwrap();
    assert_eq!(staff.schools, [COLLEGE]);
    assert!(staff.scope().covers(COLLEGE) && !staff.scope().covers(LYCEE));
    assert!(staff.active && staff.sealed_totp_secret.is_none());

    assert!(s.enrol_totp(id, "sealed-1", 100).await.unwrap());
    assert!(
        !s.enrol_totp(id, "sealed-2", 101).await.unwrap(),
        "enrolled once"
    );
    assert!(
        !s.use_totp_step(id, 100).await.unwrap(),
        "the enrolment's code is used"
    );
    assert!(s.use_totp_step(id, 101).await.unwrap());
    assert!(!s.use_totp_step(id, 101).await.unwrap(), "replay");
    assert!(!s.use_totp_step(id, 99).await.unwrap(), "an older code");
    // two nodes seeing the same new code at once: one accepts it
    let (a, b) = tokio::join!(s.use_totp_step(id, 102), s.use_totp_step(id, 102));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one");

    assert_eq!(
        s.reset_staff("admin.college", "$argon2id$other")
            .await
            .unwrap(),
        Some(id)
    );
    let reset = s.staff_by_id(id).await.unwrap().unwrap();
    assert_eq!(reset.password_hash.as_deref(), Some("$argon2id$other"));
    assert!(reset.sealed_totp_secret.is_none() && reset.totp_last_step.is_none());
    assert_eq!(s.reset_staff("personne", "x").await.unwrap(), None);
    assert_eq!(
        s.set_staff_active("admin.college", false).await.unwrap(),
        Some(id)
    );
    assert!(!s.staff_by_id(id).await.unwrap().unwrap().active);
    assert_eq!(s.all_staff().await.unwrap().len(), 1);
}

backend_suite!(
    a_schools_accounts_come_with_classes_and_children,
    a_regeneration_is_all_or_nothing,
    state_changes_stay_in_the_school,
    a_guardian_is_the_schools_while_a_child_is_there,
    staff_members_and_their_codes,
);

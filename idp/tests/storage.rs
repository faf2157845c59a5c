//! One storage suite, run against SQLite (always) and PostgreSQL (`--ignored`, with
//! `TEST_POSTGRES_URL`; `.ci/run` does it).

mod support;

use idp::audit::{Actor, AuditKind, NewAuditEvent};
use idp::domain::account::{AccountKind, AccountState};
use idp::store::sql::SqlStore;
use idp::store::*;
use sqlx::{AnyConnection, Connection, Executor};

const NOW: i64 = 1_790_000_000;

fn school(uai: &str) -> School {
    School {
        uai: uai.into(),
        name: format!("Collège {uai}"),
        academie: "70".into(),
        degree: Degree::Secondary,
    }
}

fn temporary(tag: &str) -> AccountProvision {
    AccountProvision::New {
        preferred: None,
        credential: ProvisionedCredential::Temporary {
            secret_hash: format!("hmac-sha256${tag}"),
            expires_at: NOW + 1000,
        },
        email: None,
        mobile: None,
    }
}

fn pupil(source_id: &str, first: &str, last: &str, class: &str) -> PupilRecord {
    PupilRecord {
        source_id: source_id.into(),
        ine: Some(format!("INE{source_id}")),
        last_name: last.into(),
        first_name: first.into(),
        birth_date: "2012-03-14".into(),
        class_name: Some(class.into()),
        level: Some("1003".into()),
        account: Some(temporary(source_id)),
    }
}

fn guardian(
    source_id: &str,
    first: &str,
    last: &str,
    account: Option<AccountProvision>,
) -> GuardianRecord {
    GuardianRecord {
        source_id: source_id.into(),
        civility: Some("Mme".into()),
        last_name: last.into(),
        first_name: first.into(),
        email: None,
        mobile: Some("0611223344".into()),
        account,
    }
}

fn link(p: &str, g: &str) -> LinkRecord {
    LinkRecord {
        pupil_source_id: p.into(),
        guardian_source_id: g.into(),
        rank: GuardianRank::First,
    }
}

/// A school with Léa in 4e A and her mother Claire.
fn martin_school(uai: &str) -> SchoolSnapshot {
    SchoolSnapshot {
        school: school(uai),
        classes: vec!["4e A".into(), "3e C".into()],
        pupils: vec![pupil("E1", "Léa", "MARTIN", "4e A")],
        guardians: vec![guardian(
            "R1",
            "Claire",
            "MARTIN",
            Some(AccountProvision::New {
                preferred: None,
                credential: ProvisionedCredential::Password {
                    hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
                },
                email: Some("claire@example.fr".into()),
                mobile: Some("0611223344".into()),
            }),
        )],
        links: vec![link("E1", "R1")],
    }
}

/// (source id, identifier) of each account created.
fn created(report: &ProvisionReport) -> Vec<(String, String)> {
    report
        .accounts_created
        .iter()
        .map(|a| (a.source_id.clone(), a.identifier.clone()))
        .collect()
}

async fn provisioning_creates_records_and_accounts(s: &SqlStore) {
    let report = s
        .provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    // a pupil, a guardian and their link
    assert_eq!(report.created, 3);
    assert_eq!(
        created(&report),
        vec![
            ("E1".to_owned(), "lea.martin".to_owned()),
            ("R1".to_owned(), "claire.martin".to_owned())
        ]
    );
    assert_eq!(report.accounts_created[0].kind, AccountKind::Eleve);
    assert_eq!(report.accounts_created[1].kind, AccountKind::Responsable);
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    assert_eq!(lea.kind, AccountKind::Eleve);
    assert_eq!(lea.state, AccountState::Active);
    assert_eq!(lea.first_name, "Léa");
    assert_eq!(lea.birth_date.as_deref(), Some("2012-03-14"));
    assert!(!lea.is_activated());
    assert_eq!(lea.temporary_expires_at, Some(NOW + 1000));
    assert_eq!(s.by_id(lea.id).await.unwrap().unwrap(), lea);

    let claire = s.by_identifier("claire.martin").await.unwrap().unwrap();
    assert!(claire.is_activated());
    assert_eq!(claire.activated_at, Some(NOW));
    assert!(claire.email_confirmed);
    let children = s.children_of(claire.id).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].first_name, "Léa");
    assert_eq!(children[0].class_name.as_deref(), Some("4e A"));
    assert_eq!(children[0].school_name, "Collège 0141234A");
    assert_eq!(children[0].rank, GuardianRank::First);

    assert_eq!(
        s.guardian_records_of(claire.id).await.unwrap(),
        vec![RecordedGuardian {
            uai: "0141234A".into(),
            academie: "70".into(),
            degree: Degree::Secondary,
            source_id: "R1".into(),
            civility: Some("Mme".into()),
        }]
    );
    assert!(s.guardian_records_of(lea.id).await.unwrap().is_empty());

    let placement = s.placement_of(lea.id).await.unwrap().unwrap();
    assert_eq!(placement.uai, "0141234A");
    assert_eq!(placement.academie, "70");
    assert_eq!(placement.ine.as_deref(), Some("INEE1"));
    assert_eq!(placement.level.as_deref(), Some("1003"));
    assert_eq!(
        s.school("0141234A").await.unwrap().unwrap(),
        school("0141234A")
    );
    assert_eq!(s.classes("0141234A").await.unwrap(), vec!["3e C", "4e A"]);
    assert!(s.by_identifier("nobody").await.unwrap().is_none());
    assert!(s.school("0000000X").await.unwrap().is_none());
}

async fn provisioning_twice_creates_nothing(s: &SqlStore) {
    let snapshot = martin_school("0141234A");
    s.provision_school(&snapshot, NOW, 0).await.unwrap();
    let again = s.provision_school(&snapshot, NOW + 10, 0).await.unwrap();
    assert_eq!(again, ProvisionReport::default());
    assert_eq!(s.count(AccountKind::Eleve).await.unwrap(), 1);
    assert_eq!(s.count(AccountKind::Responsable).await.unwrap(), 1);
}

async fn a_class_change_is_applied(s: &SqlStore) {
    let mut snapshot = martin_school("0141234A");
    s.provision_school(&snapshot, NOW, 0).await.unwrap();
    snapshot.pupils[0].class_name = Some("3e C".into());
    let report = s.provision_school(&snapshot, NOW, 0).await.unwrap();
    assert_eq!((report.created, report.updated), (0, 1));
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    let placement = s.placement_of(lea.id).await.unwrap().unwrap();
    assert_eq!(placement.class_name.as_deref(), Some("3e C"));
}

async fn incremental_changes_are_counted_and_applied(s: &SqlStore) {
    let mut snapshot = martin_school("0141234A");
    s.provision_school(&snapshot, NOW, 0).await.unwrap();
    // a new pupil with the same guardian, a changed mobile, a changed rank
    snapshot.pupils.push(PupilRecord {
        account: Some(temporary("E2")),
        ..pupil("E2", "Noa", "MARTIN", "3e C")
    });
    snapshot.links.push(link("E2", "R1"));
    snapshot.guardians[0].mobile = Some("0799887766".into());
    snapshot.links[0].rank = GuardianRank::Second;
    let report = s.provision_school(&snapshot, NOW + 10, 0).await.unwrap();
    assert_eq!(
        (report.created, report.updated, report.left, report.disabled),
        (2, 2, 0, 0)
    );
    assert_eq!(
        created(&report),
        vec![("E2".to_owned(), "noa.martin".to_owned())]
    );
    let claire = s.by_identifier("claire.martin").await.unwrap().unwrap();
    let children = s.children_of(claire.id).await.unwrap();
    assert_eq!(children.len(), 2);
    assert!(
        children
            .iter()
            .any(|c| c.first_name == "Léa" && c.rank == GuardianRank::Second)
    );
    // the school's mobile is on the record; the account keeps the one its holder confirmed
    assert_eq!(claire.mobile.as_deref(), Some("0611223344"));
    let again = s.provision_school(&snapshot, NOW + 20, 0).await.unwrap();
    assert_eq!(again, ProvisionReport::default());
}

async fn a_pupil_who_leaves_is_disabled_after_the_grace_period(s: &SqlStore) {
    let full = martin_school("0141234A");
    s.provision_school(&full, NOW, 100).await.unwrap();
    let mut without_lea = full.clone();
    without_lea.pupils.clear();
    without_lea.links.clear();
    let report = s
        .provision_school(&without_lea, NOW + 10, 100)
        .await
        .unwrap();
    // Léa left, and her link with her mother went with her record
    assert_eq!((report.left, report.updated, report.disabled), (1, 1, 0));
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    assert_eq!(lea.state, AccountState::Active);
    assert!(s.placement_of(lea.id).await.unwrap().is_none());
    let claire = s.by_identifier("claire.martin").await.unwrap().unwrap();
    assert!(s.children_of(claire.id).await.unwrap().is_empty());
    let report = s
        .provision_school(&without_lea, NOW + 50, 100)
        .await
        .unwrap();
    assert_eq!(report, ProvisionReport::default());
    // the grace period is over
    let report = s
        .provision_school(&without_lea, NOW + 200, 100)
        .await
        .unwrap();
    assert_eq!((report.left, report.disabled), (0, 1));
    let lea = s.by_id(lea.id).await.unwrap().unwrap();
    assert_eq!(lea.state, AccountState::Disabled);
    // back at school: enabled again, same account
    let report = s.provision_school(&full, NOW + 300, 100).await.unwrap();
    assert_eq!((report.created, report.updated), (1, 1));
    assert!(report.accounts_created.is_empty());
    assert_eq!(
        s.by_id(lea.id).await.unwrap().unwrap().state,
        AccountState::Active
    );
    assert_eq!(s.children_of(claire.id).await.unwrap().len(), 1);
}

async fn a_pupil_who_moves_keeps_the_account(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    // the new school knows her under its own id, with her INE
    let mut lycee = martin_school("0149999Z");
    lycee.pupils[0].source_id = "L-77".into();
    lycee.links[0].pupil_source_id = "L-77".into();
    lycee.guardians[0].account = None;
    let report = s.provision_school(&lycee, NOW + 10, 0).await.unwrap();
    assert!(report.accounts_created.is_empty(), "{report:?}");
    assert_eq!(
        s.placement_of(lea.id).await.unwrap().unwrap().uai,
        "0149999Z"
    );
    // the former school's next import sees her gone; her account stays, she is enrolled
    let mut college = martin_school("0141234A");
    college.pupils.clear();
    college.links.clear();
    let report = s.provision_school(&college, NOW + 20, 0).await.unwrap();
    assert_eq!((report.left, report.disabled), (1, 0));
    let lea = s.by_id(lea.id).await.unwrap().unwrap();
    assert_eq!(lea.state, AccountState::Active);
    assert_eq!(
        s.placement_of(lea.id).await.unwrap().unwrap().uai,
        "0149999Z"
    );
    assert_eq!(s.count(AccountKind::Eleve).await.unwrap(), 1);
}

async fn identifiers_get_a_numeric_suffix_when_taken(s: &SqlStore) {
    let mut snapshot = martin_school("0141234A");
    snapshot.pupils.push(pupil("E2", "Lea", "Martin", "3e C"));
    snapshot.pupils.push(pupil("E3", "LÉA", "MARTIN", "3e C"));
    let report = s.provision_school(&snapshot, NOW, 0).await.unwrap();
    let ids: Vec<&str> = report
        .accounts_created
        .iter()
        .map(|a| a.identifier.as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["lea.martin", "lea.martin2", "lea.martin3", "claire.martin"]
    );
}

async fn provisioning_is_all_or_nothing(s: &SqlStore) {
    let mut snapshot = martin_school("0141234A");
    snapshot.pupils.push(pupil("E2", "Hugo", "MARTIN", "4e A"));
    // the last link names a guardian that is not in the file
    snapshot.links.push(link("E2", "R404"));
    let err = s.provision_school(&snapshot, NOW, 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(s.school("0141234A").await.unwrap().is_none());
    assert!(s.by_identifier("lea.martin").await.unwrap().is_none());
    assert!(s.by_identifier("hugo.martin").await.unwrap().is_none());
    assert_eq!(s.count(AccountKind::Eleve).await.unwrap(), 0);
    // an unknown class is refused the same way
    let mut snapshot = martin_school("0141234A");
    snapshot.pupils[0].class_name = Some("Terminale Z".into());
    assert!(s.provision_school(&snapshot, NOW, 0).await.is_err());
    assert!(s.school("0141234A").await.unwrap().is_none());
}

async fn one_guardian_account_for_two_schools(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let ecole = SchoolSnapshot {
        school: School {
            uai: "0140001B".into(),
            name: "École Jules Ferry".into(),
            academie: "70".into(),
            degree: Degree::Primary,
        },
        classes: vec!["CM2".into()],
        // the école numbers its pupils as the collège does; INEs tell them apart
        pupils: vec![PupilRecord {
            ine: Some("INEHUGO".into()),
            ..pupil("E1", "Hugo", "MARTIN", "CM2")
        }],
        guardians: vec![guardian(
            "R1",
            "Claire",
            "MARTIN",
            Some(AccountProvision::Existing {
                identifier: "claire.martin".into(),
            }),
        )],
        links: vec![link("E1", "R1")],
    };
    let report = s.provision_school(&ecole, NOW, 0).await.unwrap();
    assert_eq!(
        created(&report),
        vec![("E1".to_owned(), "hugo.martin".to_owned())]
    );
    let claire = s.by_identifier("claire.martin").await.unwrap().unwrap();
    let names: Vec<String> = s
        .children_of(claire.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("{} {}", c.first_name, c.school_name))
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Léa Collège 0141234A".to_owned()));
    assert!(names.contains(&"Hugo École Jules Ferry".to_owned()));
    // linking to an account that does not exist rolls everything back
    let mut bad = ecole.clone();
    bad.school.uai = "0140002C".into();
    bad.guardians[0].account = Some(AccountProvision::Existing {
        identifier: "nobody".into(),
    });
    assert!(s.provision_school(&bad, NOW, 0).await.is_err());
    assert!(s.school("0140002C").await.unwrap().is_none());
}

async fn choosing_a_password_activates_the_account(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    s.create_grant(&grant("g-lea", lea.id), None).await.unwrap();
    s.set_password(lea.id, "$argon2id$new", NOW + 5)
        .await
        .unwrap();
    // the refresh tokens given under the old password stop working
    assert!(
        s.grant("g-lea")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let lea = s.by_id(lea.id).await.unwrap().unwrap();
    assert_eq!(lea.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(lea.temporary_secret_hash, None);
    assert_eq!(lea.temporary_expires_at, None);
    assert_eq!(lea.activated_at, Some(NOW + 5));
    assert!(s.set_password(999_999, "$argon2id$x", NOW).await.is_err());
}

async fn a_first_connection_activates_only_an_account_as_its_steps_found_it(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    // Léa's account was provisioned with the temporary secret "hmac-sha256$E1"
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    let activation = |secret: &'static str, now: i64| Activation {
        account_id: lea.id,
        temporary_secret_hash: secret,
        password_hash: "$argon2id$chosen",
        disputed_pupils: &[],
        email: None,
        now,
    };
    // another letter since, or the letter expired: nothing changes
    assert!(
        !s.activate(&activation("hmac-sha256$other", NOW))
            .await
            .unwrap()
    );
    assert!(
        !s.activate(&activation("hmac-sha256$E1", NOW + 5000))
            .await
            .unwrap()
    );
    assert!(
        s.activate(&activation("hmac-sha256$E1", NOW + 1))
            .await
            .unwrap()
    );
    let lea = s.by_id(lea.id).await.unwrap().unwrap();
    assert_eq!(lea.password_hash.as_deref(), Some("$argon2id$chosen"));
    assert_eq!(
        (lea.temporary_secret_hash, lea.activated_at),
        (None, Some(NOW + 1))
    );
    // once activated, never again
    assert!(
        !s.activate(&activation("hmac-sha256$E1", NOW + 2))
            .await
            .unwrap()
    );

    // a guardian's disputed link is kept but no longer listed
    let mut school = martin_school("0141235B");
    school.pupils.push(pupil("E9", "Noa", "MARTIN", "4e A"));
    school.pupils[1].account = None;
    school.guardians[0].account = Some(temporary("R1"));
    // another mobile, no e-mail: not proposed to Claire's account in use, an account of its own
    school.guardians[0].mobile = Some("0699999999".into());
    school.guardians[0].email = None;
    school.links.push(link("E9", "R1"));
    let report = s.provision_school(&school, NOW, 0).await.unwrap();
    let created = report
        .accounts_created
        .iter()
        .find(|a| a.source_id == "R1")
        .map(|a| a.identifier.clone())
        .unwrap();
    let guardian = s.by_identifier(&created).await.unwrap().unwrap();
    let children = s.children_of(guardian.id).await.unwrap();
    assert_eq!(children.len(), 2);
    let noa = children
        .iter()
        .find(|c| c.first_name == "Noa")
        .unwrap()
        .pupil_id;
    assert!(
        s.activate(&Activation {
            account_id: guardian.id,
            temporary_secret_hash: "hmac-sha256$R1",
            password_hash: "$argon2id$parent",
            disputed_pupils: &[noa],
            email: None,
            now: NOW + 1,
        })
        .await
        .unwrap()
    );
    let children = s.children_of(guardian.id).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].first_name, "Léa");
}

fn mail(to: &str) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        recipient: to.into(),
        subject: "Confirmez votre adresse électronique".into(),
        body_text: "Bonjour".into(),
        body_html: Some("<p>Bonjour</p>".into()),
        account_id: None,
    }
}

async fn the_outbox_leases_retries_and_sends_once(s: &SqlStore) {
    let a = s.enqueue(&mail("a@example.fr"), NOW).await.unwrap();
    let b = s.enqueue(&mail("b@example.fr"), NOW + 1).await.unwrap();
    // nothing is due before it was written
    assert!(s.claim_due(NOW - 1, 60, 10).await.unwrap().is_empty());
    let claimed = s.claim_due(NOW + 1, 60, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(claimed[0].message, mail("a@example.fr"));
    assert_eq!(claimed[0].attempts, 1);
    // leased: another worker gets nothing until the lease ends
    assert!(s.claim_due(NOW + 30, 60, 10).await.unwrap().is_empty());
    s.mark_sent(a, NOW + 2).await.unwrap();
    s.mark_failed(b, NOW + 2, "connection refused", Some(NOW + 20))
        .await
        .unwrap();
    let again = s.claim_due(NOW + 20, 60, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (b, 2));
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    s.mark_failed(b, NOW + 21, "550 no such user", None)
        .await
        .unwrap();
    assert!(s.claim_due(NOW + 10_000, 60, 10).await.unwrap().is_empty());
    let recent = s.recent(10).await.unwrap();
    assert_eq!(recent[0].id, b);
    assert_eq!(recent[0].failed_at, Some(NOW + 21));
    assert_eq!(recent[1].sent_at, Some(NOW + 2));
}

async fn an_email_given_at_activation_is_confirmed_once_by_its_link(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    let message = mail("lea@example.fr");
    let activation = |secret: &'static str| Activation {
        account_id: lea.id,
        temporary_secret_hash: secret,
        password_hash: "$argon2id$chosen",
        disputed_pupils: &[],
        email: Some(PendingEmail {
            address: "lea@example.fr",
            token_hash: "hmac-sha256$token",
            expires_at: NOW + 100,
            message: &message,
        }),
        now: NOW + 1,
    };
    // refused activation: no pending address, no mail
    assert!(!s.activate(&activation("hmac-sha256$other")).await.unwrap());
    assert!(s.recent(10).await.unwrap().is_empty());
    assert!(s.activate(&activation("hmac-sha256$E1")).await.unwrap());
    let queued = s.recent(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].message.recipient, "lea@example.fr");
    let lea = s.by_id(lea.id).await.unwrap().unwrap();
    assert_eq!((lea.email.as_deref(), lea.email_confirmed), (None, false));
    // a wrong or late token confirms nothing; the right one once
    assert_eq!(
        s.confirm_email("hmac-sha256$nope", NOW + 2).await.unwrap(),
        None
    );
    assert_eq!(
        s.confirm_email("hmac-sha256$token", NOW + 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.confirm_email("hmac-sha256$token", NOW + 99)
            .await
            .unwrap(),
        Some((lea.id, "lea@example.fr".to_owned()))
    );
    assert_eq!(
        s.confirm_email("hmac-sha256$token", NOW + 99)
            .await
            .unwrap(),
        None
    );
    let lea = s.by_id(lea.id).await.unwrap().unwrap();
    assert_eq!(
        (lea.email.as_deref(), lea.email_confirmed),
        (Some("lea@example.fr"), true)
    );
}

async fn audit_log_is_append_only_and_read_newest_first(s: &SqlStore, url: &str) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    for (i, kind) in [
        AuditKind::SignInFailed,
        AuditKind::SignIn,
        AuditKind::SignOut,
    ]
    .into_iter()
    .enumerate()
    {
        s.append(&NewAuditEvent {
            at: NOW + i as i64,
            kind,
            actor: Actor::Account(lea.id),
            subject: Some(lea.id),
            source_address: Some("192.0.2.1".into()),
            details: serde_json::json!({ "n": i }),
        })
        .await
        .unwrap();
    }
    let events = s.for_account(lea.id, 2).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, vec!["sign_out", "sign_in"]);
    assert_eq!(events[0].actor, format!("account:{}", lea.id));
    assert_eq!(events[0].source_address.as_deref(), Some("192.0.2.1"));
    assert_eq!(events[0].details, r#"{"n":2}"#);

    let mut c = AnyConnection::connect(url).await.unwrap();
    assert!(
        c.execute("UPDATE audit_events SET event = 'x'")
            .await
            .is_err()
    );
    assert!(c.execute("DELETE FROM audit_events").await.is_err());
    assert_eq!(s.for_account(lea.id, 10).await.unwrap().len(), 3);
}

fn grant(id: &str, account_id: i64) -> Grant {
    Grant {
        id: id.into(),
        client_id: "ent".into(),
        account_id,
        scope: "openid profile".into(),
        auth_time: NOW,
        origin: "ECT".into(),
        session_id: Some("sid".into()),
        created_at: NOW,
        expires_at: NOW + 1000,
        revoked_at: None,
    }
}

fn rt(hash: &str) -> NewRefreshToken<'_> {
    NewRefreshToken {
        hash,
        expires_at: NOW + 1000,
    }
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_grant(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    s.create_grant(&grant("g1", lea.id), Some(rt("r1")))
        .await
        .unwrap();
    assert_eq!(
        s.grant("g1").await.unwrap().unwrap().scope,
        "openid profile"
    );
    assert_eq!(
        s.live_refresh_token("r1", NOW).await.unwrap().unwrap().1,
        NOW + 1000
    );
    // another client cannot use it, and trying changes nothing
    assert_eq!(
        s.rotate_refresh_token("r1", "other", rt("x"), NOW)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    let used = s
        .rotate_refresh_token("r1", "ent", rt("r2"), NOW + 1)
        .await
        .unwrap();
    assert!(matches!(used, RefreshUse::Fresh(ref g) if g.id == "g1"));
    assert!(
        s.live_refresh_token("r1", NOW).await.unwrap().is_none(),
        "spent"
    );
    assert!(s.live_refresh_token("r2", NOW).await.unwrap().is_some());
    // presenting the spent token again revokes the family
    let reused = s
        .rotate_refresh_token("r1", "ent", rt("r3"), NOW + 2)
        .await
        .unwrap();
    assert!(matches!(reused, RefreshUse::Reused(_)));
    assert_eq!(
        s.grant("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 2)
    );
    assert_eq!(
        s.rotate_refresh_token("r2", "ent", rt("r4"), NOW + 3)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    assert!(s.live_refresh_token("r2", NOW + 3).await.unwrap().is_none());
    assert_eq!(
        s.rotate_refresh_token("unknown", "ent", rt("r5"), NOW)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    // an expired grant's tokens are refused
    s.create_grant(
        &Grant {
            expires_at: NOW + 10,
            ..grant("g2", lea.id)
        },
        Some(rt("q1")),
    )
    .await
    .unwrap();
    assert_eq!(
        s.rotate_refresh_token("q1", "ent", rt("q2"), NOW + 10)
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
}

async fn concurrent_refreshes_let_exactly_one_through(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    s.create_grant(&grant("g1", lea.id), Some(rt("r1")))
        .await
        .unwrap();
    let mut racers = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        racers.push(tokio::spawn(async move {
            let next = format!("next-{i}");
            s.rotate_refresh_token("r1", "ent", rt(&next), NOW).await
        }));
    }
    let mut fresh = 0;
    for r in racers {
        // a racer that lost may see the token spent (reuse) or be told to retry by the database
        if let Ok(RefreshUse::Fresh(_)) = r.await.unwrap() {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "one winner");
}

async fn signing_keys_and_settings(s: &SqlStore) {
    let key = |kid: &str, at: i64| StoredSigningKey {
        kid: kid.into(),
        alg: "ES256".into(),
        sealed_private_key: format!("sealed-{kid}"),
        created_at: at,
        retired_at: None,
    };
    assert!(s.signing_keys().await.unwrap().is_empty());
    assert!(s.add_initial_signing_keys(&[key("k1", NOW)]).await.unwrap());
    // a second node starting at the same time keeps the first node's keys
    assert!(!s.add_initial_signing_keys(&[key("k2", NOW)]).await.unwrap());
    assert_eq!(s.signing_keys().await.unwrap(), vec![key("k1", NOW)]);
    s.rotate_signing_keys(&[key("k3", NOW + 5)], NOW + 5)
        .await
        .unwrap();
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].retired_at, Some(NOW + 5));
    assert_eq!(keys[1], key("k3", NOW + 5));

    assert_eq!(s.setting("salt").await.unwrap(), None);
    assert_eq!(s.setting_or_insert("salt", "first").await.unwrap(), "first");
    assert_eq!(s.setting("salt").await.unwrap().as_deref(), Some("first"));
    assert_eq!(
        s.setting_or_insert("salt", "second").await.unwrap(),
        "first"
    );
}

async fn consents_are_remembered(s: &SqlStore) {
    s.provision_school(&martin_school("0141234A"), NOW, 0)
        .await
        .unwrap();
    let lea = s.by_identifier("lea.martin").await.unwrap().unwrap();
    assert_eq!(s.consent(lea.id, "app").await.unwrap(), None);
    s.save_consent(lea.id, "app", "openid", NOW).await.unwrap();
    s.save_consent(lea.id, "app", "openid profile", NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        s.consent(lea.id, "app").await.unwrap().as_deref(),
        Some("openid profile")
    );
}

async fn health_answers(s: &SqlStore) {
    s.ping().await.unwrap();
    // migrations are idempotent
    s.migrate().await.unwrap();
}

/// A school with two guardians: Claire MARTIN (an account) and Paul DURAND (none), each with
/// a child.
fn two_guardians_school(uai: &str) -> SchoolSnapshot {
    let mut snapshot = martin_school(uai);
    snapshot.pupils.push(pupil("E2", "Jules", "DURAND", "3e C"));
    snapshot.pupils[1].account = None;
    snapshot
        .guardians
        .push(guardian("R2", "Paul", "Durand", None));
    snapshot.links.push(link("E2", "R2"));
    snapshot
}

fn any_record(_first: &str, _last: &str, _civility: Option<&str>) -> bool {
    true
}

async fn guardians_are_found_by_their_folded_last_name(s: &SqlStore) {
    s.provision_school(&two_guardians_school("0140001A"), NOW, 0)
        .await
        .unwrap();
    let found = s
        .guardians_named(&["durand".into()], &any_record)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let paul = &found[0];
    assert_eq!(
        (paul.first_name.as_str(), paul.last_name.as_str()),
        ("Paul", "Durand")
    );
    assert_eq!(paul.account_id, None);
    assert_eq!(paul.school_name, "Collège 0140001A");
    assert_eq!(paul.children.len(), 1);
    assert_eq!(paul.children[0].first_name, "Jules");
    assert_eq!(paul.children[0].class_name.as_deref(), Some("3e C"));
    assert_eq!(
        s.guardians_named(&["martin".into(), "durand".into()], &any_record)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        s.guardians_named(&["dupont".into()], &any_record)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.guardians_named(&[], &any_record)
            .await
            .unwrap()
            .is_empty()
    );
    // the filter sees the names and civility as recorded, and only what it keeps comes back
    let only_paul =
        |first: &str, _: &str, civility: Option<&str>| first == "Paul" && civility == Some("Mme");
    let kept = s
        .guardians_named(&["martin".into(), "durand".into()], &only_paul)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].first_name, "Paul");
}

async fn an_upstream_identity_links_once_to_one_account(s: &SqlStore) {
    s.provision_school(&two_guardians_school("0140001A"), NOW, 0)
        .await
        .unwrap();
    let claire = s
        .guardians_named(&["martin".into()], &any_record)
        .await
        .unwrap()
        .remove(0);
    let paul = s
        .guardians_named(&["durand".into()], &any_record)
        .await
        .unwrap()
        .remove(0);
    // Claire's records have an account: the identity joins it
    let linked = s
        .link_external(&ExternalLink {
            provider: "franceconnect",
            subject: "fc-claire",
            guardian_ids: &[claire.guardian_id],
            account_id: claire.account_id,
            first_name: "Claire",
            last_name: "MARTIN",
            mobile: None,
            now: NOW,
        })
        .await
        .unwrap();
    assert!(!linked.created);
    assert_eq!(Some(linked.account_id), claire.account_id);
    let account = s
        .account_for_external("franceconnect", "fc-claire")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.id, linked.account_id);
    assert!(
        s.account_for_external("franceconnect", "other")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.account_for_external("another-provider", "fc-claire")
            .await
            .unwrap()
            .is_none()
    );

    // an account has one identity at a provider: another sub for Claire is refused
    let second = s
        .link_external(&ExternalLink {
            provider: "franceconnect",
            subject: "fc-claire-again",
            guardian_ids: &[claire.guardian_id],
            account_id: claire.account_id,
            first_name: "Claire",
            last_name: "MARTIN",
            mobile: None,
            now: NOW,
        })
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    assert!(matches!(
        s.add_external_identity("franceconnect", "fc-claire-3", linked.account_id, NOW)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.providers_of(linked.account_id).await.unwrap(),
        ["franceconnect"]
    );

    // Paul has none: one is created, without a password, and his record attached to it
    let link = ExternalLink {
        provider: "franceconnect",
        subject: "fc-paul",
        guardian_ids: &[paul.guardian_id],
        account_id: None,
        first_name: "Paul",
        last_name: "Durand",
        mobile: Some("0612345678"),
        now: NOW,
    };
    let linked = s.link_external(&link).await.unwrap();
    assert!(linked.created);
    assert_eq!(linked.identifier, "paul.durand");
    let account = s.by_id(linked.account_id).await.unwrap().unwrap();
    assert_eq!(account.kind, AccountKind::Responsable);
    assert_eq!(account.state, AccountState::Active);
    assert!(account.password_hash.is_none() && account.temporary_secret_hash.is_none());
    assert_eq!(account.mobile.as_deref(), Some("0612345678"));
    assert_eq!(s.children_of(account.id).await.unwrap().len(), 1);

    // the same identity twice: refused, nothing created
    let accounts = s.count(AccountKind::Responsable).await.unwrap();
    assert!(matches!(
        s.link_external(&link).await,
        Err(StoreError::Conflict(_))
    ));
    // a record linked to another account meanwhile: refused, and the new account rolled back
    let stolen = ExternalLink {
        subject: "fc-someone-else",
        ..link.clone()
    };
    assert!(matches!(
        s.link_external(&stolen).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.count(AccountKind::Responsable).await.unwrap(), accounts);
    assert!(
        s.account_for_external("franceconnect", "fc-someone-else")
            .await
            .unwrap()
            .is_none()
    );
}

macro_rules! storage_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::support::TestDatabase;
            $(
                #[tokio::test]
                async fn $case() {
                    let db = TestDatabase::sqlite().await;
                    super::$case(&db.store).await;
                }
            )*
            #[tokio::test]
            async fn audit_log_is_append_only() {
                let db = TestDatabase::sqlite().await;
                super::audit_log_is_append_only_and_read_newest_first(&db.store, &db.url).await;
            }
        }
        mod postgres {
            use super::support::TestDatabase;
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: set TEST_POSTGRES_URL and pass --ignored"]
                async fn $case() {
                    let db = TestDatabase::postgres().await;
                    super::$case(&db.store).await;
                    db.drop_schema().await;
                }
            )*
            #[tokio::test]
            #[ignore = "needs PostgreSQL: set TEST_POSTGRES_URL and pass --ignored"]
            async fn audit_log_is_append_only() {
                let db = TestDatabase::postgres().await;
                super::audit_log_is_append_only_and_read_newest_first(&db.store, &db.url).await;
                db.drop_schema().await;
            }
        }
    };
}

storage_suite!(
    provisioning_creates_records_and_accounts,
    provisioning_twice_creates_nothing,
    a_class_change_is_applied,
    incremental_changes_are_counted_and_applied,
    a_pupil_who_leaves_is_disabled_after_the_grace_period,
    a_pupil_who_moves_keeps_the_account,
    identifiers_get_a_numeric_suffix_when_taken,
    provisioning_is_all_or_nothing,
    one_guardian_account_for_two_schools,
    choosing_a_password_activates_the_account,
    a_first_connection_activates_only_an_account_as_its_steps_found_it,
    refresh_tokens_rotate_and_reuse_revokes_the_grant,
    concurrent_refreshes_let_exactly_one_through,
    signing_keys_and_settings,
    consents_are_remembered,
    health_answers,
    the_outbox_leases_retries_and_sends_once,
    an_email_given_at_activation_is_confirmed_once_by_its_link,
    guardians_are_found_by_their_folded_last_name,
    an_upstream_identity_links_once_to_one_account,
);

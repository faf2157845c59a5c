//! Bringing a guardian's children onto one account, at the storage level, on SQLite (always)
//! and PostgreSQL (`--ignored`, with `TEST_POSTGRES_URL`): a merge is one transaction that
//! either moves everything or nothing, two merges at once leave one consistent result, and an
//! import proposes a new record to the account in use instead of creating a second one. Also
//! what a password change from "Mon compte" revokes.

mod support;

use idp::domain::account::{AccountKind, AccountState};
use idp::store::sql::{Backend, SqlStore};
use idp::store::*;
use sqlx::{AnyConnection, Connection, Executor};

const NOW: i64 = 1_790_000_000;

fn school(uai: &str, name: &str) -> School {
    School {
        uai: uai.into(),
        name: name.into(),
        academie: "70".into(),
        degree: Degree::Secondary,
    }
}

fn pupil(source_id: &str, first: &str, birth: &str) -> PupilRecord {
    PupilRecord {
        source_id: source_id.into(),
        ine: Some(format!("INE{source_id}{first}")),
        last_name: "PETIT".into(),
        first_name: first.into(),
        birth_date: birth.into(),
        class_name: Some("4e A".into()),
        level: Some("1003".into()),
        account: None,
    }
}

fn chosen_password() -> AccountProvision {
    AccountProvision::New {
        preferred: None,
        credential: ProvisionedCredential::Password {
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        },
        email: None,
        mobile: Some("0677889900".into()),
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

/// A school with one child of Marc PETIT, whose record has this mobile and account.
fn marc_at(uai: &str, child: &str, mobile: &str, account: AccountProvision) -> SchoolSnapshot {
    SchoolSnapshot {
        school: school(uai, &format!("Établissement {uai}")),
        classes: vec!["4e A".into()],
        pupils: vec![pupil("E1", child, "2012-11-05")],
        guardians: vec![GuardianRecord {
            source_id: "R1".into(),
            civility: Some("M.".into()),
            last_name: "PETIT".into(),
            first_name: "Marc".into(),
            email: None,
            mobile: Some(mobile.into()),
            account: Some(account),
        }],
        links: vec![LinkRecord {
            pupil_source_id: "E1".into(),
            guardian_source_id: "R1".into(),
            rank: GuardianRank::First,
        }],
    }
}

/// Marc's two accounts: `marc.petit` (Emma, at the collège) and `marc.petit2` (Malo, at the
/// lycée, another mobile); returns their ids.
async fn two_accounts(s: &SqlStore) -> (i64, i64) {
    s.provision_school(
        &marc_at("0141234A", "Emma", "0677889900", chosen_password()),
        NOW,
        0,
    )
    .await
    .unwrap();
    let report = s
        .provision_school(
            &marc_at("0142222C", "Malo", "0699887766", temporary("lycee")),
            NOW,
            0,
        )
        .await
        .unwrap();
    assert_eq!(report.regroupings_proposed, 0, "another mobile: no match");
    let id = |a: Option<idp::domain::account::Account>| a.unwrap().id;
    (
        id(s.by_identifier("marc.petit").await.unwrap()),
        id(s.by_identifier("marc.petit2").await.unwrap()),
    )
}

async fn children(s: &SqlStore, account: i64) -> Vec<String> {
    let mut names: Vec<String> = s
        .children_of(account)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.first_name)
        .collect();
    names.sort();
    names
}

async fn state(s: &SqlStore, account: i64) -> AccountState {
    s.by_id(account).await.unwrap().unwrap().state
}

fn merge(into: i64, from: i64) -> Merge<'static> {
    Merge {
        into,
        from,
        source_address: Some("192.0.2.7"),
        now: NOW,
    }
}

fn live_grant(id: &str, account_id: i64) -> Grant {
    Grant {
        id: id.into(),
        client_id: "ent".into(),
        account_id,
        scope: "openid offline_access".into(),
        auth_time: NOW,
        origin: "ECT".into(),
        session_id: None,
        created_at: NOW,
        expires_at: NOW + 3600,
        revoked_at: None,
    }
}

async fn a_merge_moves_everything_in_one_go(s: &SqlStore, _url: &str) {
    let (marc, lycee) = two_accounts(s).await;
    s.add_external_identity("franceconnect", "fc-marc", lycee, NOW)
        .await
        .unwrap();
    s.create_grant(&live_grant("g-lycee", lycee), None)
        .await
        .unwrap();
    s.create_grant(&live_grant("g-marc", marc), None)
        .await
        .unwrap();

    let done = s.merge_accounts(&merge(marc, lycee)).await.unwrap();
    assert_eq!(
        done,
        MergeResult::Merged {
            records: 1,
            closed_identifier: "marc.petit2".into()
        }
    );
    assert_eq!(children(s, marc).await, ["Emma", "Malo"]);
    assert!(children(s, lycee).await.is_empty());
    assert_eq!(state(s, lycee).await, AccountState::Closed);
    let closed = s.by_id(lycee).await.unwrap().unwrap();
    assert!(closed.temporary_secret_hash.is_none() && closed.password_hash.is_none());
    assert!(
        s.grant("g-lycee")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        s.grant("g-marc")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    // the FranceConnect identity now opens the account kept
    let fc = s
        .account_for_external("franceconnect", "fc-marc")
        .await
        .unwrap();
    assert_eq!(fc.map(|a| a.id), Some(marc));
    let kept: Vec<String> = s
        .for_account(marc, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(kept.contains(&"accounts_merged".to_owned()), "{kept:?}");
    let gone: Vec<String> = s
        .for_account(lycee, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(gone.contains(&"account_closed".to_owned()), "{gone:?}");
    // once closed, nothing more merges from or into it
    assert_eq!(
        s.merge_accounts(&merge(marc, lycee)).await.unwrap(),
        MergeResult::Stale
    );
    assert_eq!(
        s.merge_accounts(&merge(lycee, marc)).await.unwrap(),
        MergeResult::Stale
    );
}

async fn concurrent_merges(s: &SqlStore, _url: &str) {
    for crossed in [true, false] {
        let (marc, lycee) = fresh_pair(s, if crossed { 'x' } else { 'y' }).await;
        let (first, second) = if crossed {
            (merge(marc, lycee), merge(lycee, marc))
        } else {
            (merge(marc, lycee), merge(marc, lycee))
        };
        let (a, b) = tokio::join!(s.merge_accounts(&first), s.merge_accounts(&second));
        let results = [a.unwrap(), b.unwrap()];
        let merged = results
            .iter()
            .filter(|r| matches!(r, MergeResult::Merged { .. }))
            .count();
        assert_eq!(merged, 1, "exactly one merge wins: {results:?}");
        assert!(results.contains(&MergeResult::Stale), "{results:?}");
        let (kept, closed) = if state(s, marc).await == AccountState::Active {
            (marc, lycee)
        } else {
            (lycee, marc)
        };
        assert_eq!(state(s, kept).await, AccountState::Active);
        assert_eq!(state(s, closed).await, AccountState::Closed);
        assert_eq!(children(s, kept).await, ["Emma", "Malo"]);
        assert!(children(s, closed).await.is_empty());
        let merges = s
            .for_account(kept, 10)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event == "accounts_merged")
            .count();
        assert_eq!(merges, 1);
    }
}

/// Two fresh accounts of one person in two new schools (their own UAIs), for a repeated case.
async fn fresh_pair(s: &SqlStore, tag: char) -> (i64, i64) {
    let (a, b) = (format!("01{tag}1111A"), format!("01{tag}2222B"));
    // mobiles of their own, so that nothing matches the other pairs
    let n = u32::from(tag);
    let (mobile_a, mobile_b) = (format!("061{n:07}"), format!("062{n:07}"));
    let first = s
        .provision_school(&marc_at(&a, "Emma", &mobile_a, chosen_password()), NOW, 0)
        .await
        .unwrap();
    let second = s
        .provision_school(&marc_at(&b, "Malo", &mobile_b, temporary(&b)), NOW, 0)
        .await
        .unwrap();
    let id = |report: &ProvisionReport| report.accounts_created[0].identifier.clone();
    let find =
        |identifier: String| async move { s.by_identifier(&identifier).await.unwrap().unwrap().id };
    (find(id(&first)).await, find(id(&second)).await)
}

async fn a_merge_failing_halfway_moves_nothing(s: &SqlStore, url: &str) {
    let (marc, lycee) = two_accounts(s).await;
    s.add_external_identity("franceconnect", "fc-lycee", lycee, NOW)
        .await
        .unwrap();
    s.create_grant(&live_grant("g-lycee", lycee), None)
        .await
        .unwrap();
    // the revocation of the grants, after the records moved and the account closed, fails
    let mut c = AnyConnection::connect(url).await.unwrap();
    let trigger = match s.backend() {
        Backend::Sqlite => vec![
            "CREATE TRIGGER fail_grants BEFORE UPDATE ON oidc_grants \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION fail_grants() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_grants BEFORE UPDATE ON oidc_grants \
             FOR EACH ROW EXECUTE FUNCTION fail_grants()",
        ],
    };
    for sql in trigger {
        c.execute(sql).await.unwrap();
    }
    assert!(s.merge_accounts(&merge(marc, lycee)).await.is_err());
    assert_eq!(state(s, lycee).await, AccountState::Active);
    assert_eq!(children(s, marc).await, ["Emma"]);
    assert_eq!(children(s, lycee).await, ["Malo"]);
    let fc = s
        .account_for_external("franceconnect", "fc-lycee")
        .await
        .unwrap();
    assert_eq!(fc.map(|a| a.id), Some(lycee));
    assert!(
        s.grant("g-lycee")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let events = s.for_account(marc, 10).await.unwrap();
    assert!(events.iter().all(|e| e.event != "accounts_merged"));
    // the failure gone, the same merge goes through
    let drop = match s.backend() {
        Backend::Sqlite => "DROP TRIGGER fail_grants",
        Backend::Postgres => "DROP TRIGGER fail_grants ON oidc_grants",
    };
    c.execute(drop).await.unwrap();
    assert!(matches!(
        s.merge_accounts(&merge(marc, lycee)).await.unwrap(),
        MergeResult::Merged { .. }
    ));
}

async fn an_import_proposes_a_new_record_to_the_account_in_use(s: &SqlStore, _url: &str) {
    s.provision_school(
        &marc_at("0141234A", "Emma", "0677889900", chosen_password()),
        NOW,
        0,
    )
    .await
    .unwrap();
    let marc = s.by_identifier("marc.petit").await.unwrap().unwrap().id;
    // the école knows Marc by the same names and mobile: no second account
    let ecole = marc_at("0140001B", "Malo", "0677889900", temporary("ecole"));
    let report = s.provision_school(&ecole, NOW, 0).await.unwrap();
    assert_eq!(report.regroupings_proposed, 1);
    assert!(report.accounts_created.is_empty(), "{report:?}");
    let proposals = s.regroup_proposals(marc).await.unwrap();
    assert_eq!(proposals.len(), 1);
    assert_eq!(proposals[0].children[0].first_name, "Malo");
    assert_eq!(proposals[0].tries_left, 5);
    // the same files again: nothing new
    let again = s.provision_school(&ecole, NOW, 0).await.unwrap();
    assert_eq!(
        (again.regroupings_proposed, again.accounts_created.len()),
        (0, 0)
    );
    assert_eq!(s.regroup_proposals(marc).await.unwrap().len(), 1);

    // the same names with another mobile, or another name with this mobile: an account of
    // its own
    let elsewhere = s
        .provision_school(
            &marc_at("0140002C", "Lina", "0611111111", temporary("c")),
            NOW,
            0,
        )
        .await
        .unwrap();
    assert_eq!(elsewhere.regroupings_proposed, 0);
    assert_eq!(elsewhere.accounts_created.len(), 1);
    let mut other_name = marc_at("0140003D", "Noé", "0677889900", temporary("d"));
    other_name.guardians[0].first_name = "Marcel".into();
    let report = s.provision_school(&other_name, NOW, 0).await.unwrap();
    assert_eq!(report.regroupings_proposed, 0);
    assert_eq!(report.accounts_created.len(), 1);

    // accepted once
    let guardian = proposals[0].guardian_id;
    assert!(s.accept_regroup(marc, guardian, None, NOW).await.unwrap());
    assert!(!s.accept_regroup(marc, guardian, None, NOW).await.unwrap());
    assert_eq!(children(s, marc).await, ["Emma", "Malo"]);
    assert!(s.regroup_proposals(marc).await.unwrap().is_empty());
}

async fn a_declined_proposal_lets_the_next_import_create_an_account(s: &SqlStore, _url: &str) {
    s.provision_school(
        &marc_at("0141234A", "Emma", "0677889900", chosen_password()),
        NOW,
        0,
    )
    .await
    .unwrap();
    let marc = s.by_identifier("marc.petit").await.unwrap().unwrap().id;
    let ecole = marc_at("0140001B", "Malo", "0677889900", temporary("ecole"));
    s.provision_school(&ecole, NOW, 0).await.unwrap();
    let guardian = s.regroup_proposals(marc).await.unwrap()[0].guardian_id;
    for left in (0..5).rev() {
        assert_eq!(
            s.regroup_mistyped(marc, guardian, NOW).await.unwrap(),
            Some(left)
        );
    }
    assert!(s.regroup_proposals(marc).await.unwrap().is_empty());
    assert!(!s.accept_regroup(marc, guardian, None, NOW).await.unwrap());
    let report = s.provision_school(&ecole, NOW, 0).await.unwrap();
    assert_eq!(report.regroupings_proposed, 0);
    let kinds: Vec<AccountKind> = report.accounts_created.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [AccountKind::Responsable],
        "the record's own account, with its letter"
    );
    assert_eq!(children(s, marc).await, ["Emma"]);
}

async fn an_unanswered_proposal_ends_after_sixty_days(s: &SqlStore, _url: &str) {
    s.provision_school(
        &marc_at("0141234A", "Emma", "0677889900", chosen_password()),
        NOW,
        0,
    )
    .await
    .unwrap();
    let marc = s.by_identifier("marc.petit").await.unwrap().unwrap().id;
    let ecole = marc_at("0140001B", "Malo", "0677889900", temporary("ecole"));
    s.provision_school(&ecole, NOW, 0).await.unwrap();
    let later = s
        .provision_school(&ecole, NOW + 59 * 86_400, 0)
        .await
        .unwrap();
    assert!(later.accounts_created.is_empty(), "still waiting for Marc");
    let much_later = s
        .provision_school(&ecole, NOW + 61 * 86_400, 0)
        .await
        .unwrap();
    assert_eq!(
        much_later.accounts_created.len(),
        1,
        "the record's own account now"
    );
    assert!(s.regroup_proposals(marc).await.unwrap().is_empty());
}

async fn a_proposed_record_is_linked_by_franceconnect_to_the_proposed_account(
    s: &SqlStore,
    _url: &str,
) {
    s.provision_school(
        &marc_at("0141234A", "Emma", "0677889900", chosen_password()),
        NOW,
        0,
    )
    .await
    .unwrap();
    let marc = s.by_identifier("marc.petit").await.unwrap().unwrap().id;
    s.provision_school(
        &marc_at("0140001B", "Malo", "0677889900", temporary("ecole")),
        NOW,
        0,
    )
    .await
    .unwrap();
    // both records name Marc's account: the matching sees one person, not two
    let any = |_: &str, _: &str, _: Option<&str>| true;
    let records = s
        .guardians_named(&["petit".to_owned()], &any)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| r.account_id == Some(marc)),
        "{records:?}"
    );
    let ids: Vec<i64> = records.iter().map(|r| r.guardian_id).collect();
    let linked = s
        .link_external(&ExternalLink {
            provider: "franceconnect",
            subject: "fc-marc",
            guardian_ids: &ids,
            account_id: Some(marc),
            first_name: "Marc",
            last_name: "PETIT",
            mobile: None,
            now: NOW,
        })
        .await
        .unwrap();
    assert_eq!(linked.account_id, marc);
    assert_eq!(children(s, marc).await, ["Emma", "Malo"]);
    assert!(
        s.regroup_proposals(marc).await.unwrap().is_empty(),
        "answered by the link"
    );
}

async fn a_new_password_revokes_the_grants_of_the_other_sessions(s: &SqlStore, _url: &str) {
    let (marc, _) = two_accounts(s).await;
    let mut here = live_grant("g-here", marc);
    here.session_id = Some("sid-here".into());
    let mut there = live_grant("g-there", marc);
    there.session_id = Some("sid-there".into());
    let offline = live_grant("g-offline", marc);
    for g in [&here, &there, &offline] {
        s.create_grant(g, None).await.unwrap();
    }
    let hash = s.by_id(marc).await.unwrap().unwrap().password_hash.unwrap();
    assert!(
        !s.change_password(marc, "$argon2id$other", "$argon2id$new", "sid-here", NOW)
            .await
            .unwrap()
    );
    assert!(
        s.grant("g-there")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "nothing yet"
    );
    assert!(
        s.change_password(marc, &hash, "$argon2id$new", "sid-here", NOW)
            .await
            .unwrap()
    );
    assert!(
        s.grant("g-here")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(
        s.grant("g-there")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        s.grant("g-offline")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

backend_suite!(
    a_merge_moves_everything_in_one_go,
    concurrent_merges,
    a_merge_failing_halfway_moves_nothing,
    an_import_proposes_a_new_record_to_the_account_in_use,
    a_declined_proposal_lets_the_next_import_create_an_account,
    an_unanswered_proposal_ends_after_sixty_days,
    a_proposed_record_is_linked_by_franceconnect_to_the_proposed_account,
    a_new_password_revokes_the_grants_of_the_other_sessions,
);

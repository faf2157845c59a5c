//! First connection of an account the school provisioned (SPEC §2.2), end to end over HTTP:
//! the temporary password, the person's own password by the policy, their birth date (or each
//! child's for a guardian), the account activated and the sign-in carried on, also when a
//! relying party started it.

mod support;

use idp::store::{
    AccountProvision, Degree, GuardianRank, GuardianRecord, LinkRecord, ProvisionedCredential,
    PupilRecord, School, SchoolSnapshot,
};
use reqwest::StatusCode;
use support::{TestServer, browser, set_cookie_header};

use support::first_connection::{choose_password, confirm, location, sign_in_temporary};

const HUGO: (&str, &str, &str) = ("eleve", "hugo.martin", "Provisoire-2026");

#[tokio::test]
async fn a_pupil_activates_with_a_password_of_their_own_and_their_birth_date() {
    let server = TestServer::start().await;
    let b = browser();
    let step = sign_in_temporary(&server, &b, "/login", HUGO).await;
    let page = support::text(&b, server.url(&step)).await;
    assert!(
        page.contains("choisissez maintenant votre propre mot de passe"),
        "{page}"
    );

    // the policy, in French
    let r = choose_password(&server, &b, &step, "hugo2026x", "hugo2026x").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("ni votre nom ni votre prénom")
    );
    let r = choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-43").await;
    assert!(r.text().await.unwrap().contains("ne sont pas identiques"));
    let r = choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), step);

    // the birth date: a wrong one is counted, the right one (either way of typing) activates
    let page = support::text(&b, server.url(&step)).await;
    assert!(page.contains("Confirmez votre date de naissance"), "{page}");
    let r = confirm(&server, &b, &step, &[("naissance", "2015-09-03")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Essais restants : 4"));
    let r = confirm(&server, &b, &step, &[("naissance", "02/09/2015")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie_header(&r, "idp_session").is_some(), "signed in");
    let done = r.text().await.unwrap();
    assert!(done.contains("Votre compte est activé"), "{done}");
    assert!(done.contains("<strong id=identifiant>hugo.martin</strong>"));
    assert!(
        done.contains("href=\"/\""),
        "on to where the sign-in was going"
    );

    // the temporary password is gone; the new one signs in
    let other = browser();
    let r = support::post_sign_in(&server, &other, "eleve", "hugo.martin", "Provisoire-2026").await;
    assert_eq!(r.status(), StatusCode::OK, "refused");
    let r = support::post_sign_in(&server, &other, "eleve", "hugo.martin", "Trottinette-42").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie_header(&r, "idp_session").is_some());
    let account = server
        .state
        .accounts
        .by_identifier("hugo.martin")
        .await
        .unwrap()
        .unwrap();
    assert!(account.activated_at.is_some() && account.temporary_secret_hash.is_none());
}

#[tokio::test]
async fn the_first_connection_interrupts_a_relying_party_s_sign_in_and_carries_it_on() {
    let server = TestServer::start().await;
    let b = browser();
    let client = server.state.registry.oidc_client("ent-demo").unwrap();
    let mut authorize = url::Url::parse(&server.url("/oidc/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "ent-demo")
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair("redirect_uri", &client.redirect_uris[0]);
    let r = b.get(authorize.as_str()).send().await.unwrap();
    let login = location(&r);
    assert!(login.starts_with("/login?"), "{login}");
    let step = sign_in_temporary(&server, &b, &login, HUGO).await;
    let r = choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = confirm(&server, &b, &step, &[("naissance", "2015-09-02")]).await;
    let done = r.text().await.unwrap();
    let next = done
        .split("class=\"button\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(next.starts_with("/oidc/authorize/resume?flow="), "{next}");
    let r = b.get(server.url(&next)).send().await.unwrap();
    let back = location(&r);
    assert!(
        back.starts_with(&client.redirect_uris[0]) && back.contains("code="),
        "{back}"
    );
}

#[tokio::test]
async fn the_steps_go_on_in_the_browser_that_began_them_only() {
    let server = TestServer::start().await;
    let b = browser();
    let step = sign_in_temporary(&server, &b, "/login", HUGO).await;
    let r = browser().get(server.url(&step)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expiré"));
    // five wrong dates end the steps
    let r = choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for n in 1..=5 {
        let r = confirm(&server, &b, &step, &[("naissance", "2015-09-03")]).await;
        let expected = if n < 5 {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(r.status(), expected, "try {n}");
    }
    let r = b.get(server.url(&step)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let account = server
        .state
        .accounts
        .by_identifier("hugo.martin")
        .await
        .unwrap()
        .unwrap();
    assert!(account.activated_at.is_none(), "not activated");
}

#[tokio::test]
async fn a_guardian_confirms_each_child_and_may_say_one_is_not_theirs() {
    let server = TestServer::start().await;
    let now = server.clock_now();
    // a school whose guardian got a letter with a temporary password
    let secret = server
        .state
        .secret
        .hash_generated_secret("Lettre-Parent-77");
    let pupil = |id: &str, first: &str, born: &str| PupilRecord {
        source_id: id.into(),
        ine: None,
        last_name: "ROUX".into(),
        first_name: first.into(),
        birth_date: born.into(),
        class_name: Some("CP".into()),
        level: None,
        account: None,
    };
    let snapshot = SchoolSnapshot {
        school: School {
            uai: "0149999Z".into(),
            name: "École du Port".into(),
            academie: "70".into(),
            degree: Degree::Primary,
        },
        classes: vec!["CP".into()],
        pupils: vec![
            pupil("P1", "Lou", "2019-04-01"),
            pupil("P2", "Noa", "2019-11-20"),
        ],
        guardians: vec![GuardianRecord {
            source_id: "G1".into(),
            civility: Some("M.".into()),
            last_name: "ROUX".into(),
            first_name: "Karim".into(),
            email: None,
            mobile: None,
            account: Some(AccountProvision::New {
                preferred: Some("karim.roux".into()),
                credential: ProvisionedCredential::Temporary {
                    secret_hash: secret,
                    expires_at: now + 86_400,
                },
                email: None,
                mobile: None,
            }),
        }],
        links: ["P1", "P2"]
            .iter()
            .map(|p| LinkRecord {
                pupil_source_id: (*p).into(),
                guardian_source_id: "G1".into(),
                rank: GuardianRank::First,
            })
            .collect(),
    };
    server
        .state
        .directory
        .provision_school(&snapshot, now, 0)
        .await
        .unwrap();
    let account = server
        .state
        .accounts
        .by_identifier("karim.roux")
        .await
        .unwrap()
        .unwrap();
    let children = server.state.accounts.children_of(account.id).await.unwrap();
    let (lou, noa) = (
        children[0].pupil_id.to_string(),
        children[1].pupil_id.to_string(),
    );

    let b = browser();
    let step = sign_in_temporary(
        &server,
        &b,
        "/login",
        ("responsable", "karim.roux", "Lettre-Parent-77"),
    )
    .await;
    let r = choose_password(&server, &b, &step, "Marelle-du-Port-9", "Marelle-du-Port-9").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = support::text(&b, server.url(&step)).await;
    assert!(page.contains("<legend>Lou R.</legend>"), "{page}");
    assert!(
        !page.contains("École du Port"),
        "no school before the dates"
    );
    assert!(page.contains("Je ne suis pas le représentant légal de cet élève"));
    // saying every child is not theirs activates nothing
    let all_disputed = [
        (format!("pas-responsable-{lou}"), "1"),
        (format!("pas-responsable-{noa}"), "1"),
    ];
    let fields: Vec<(&str, &str)> = all_disputed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let r = confirm(&server, &b, &step, &fields).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Lou's date, and Noa declared not his
    let lou_field = format!("naissance-{lou}");
    let noa_field = format!("pas-responsable-{noa}");
    let r = confirm(
        &server,
        &b,
        &step,
        &[(&lou_field, "01/04/2019"), (&noa_field, "1")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = r.text().await.unwrap();
    assert!(done.contains("Votre compte est activé"), "{done}");
    assert!(done.contains("signalez-la aussi à l'établissement"));
    let events = server
        .state
        .audit
        .for_account(account.id, 10)
        .await
        .unwrap();
    let activated = events
        .iter()
        .find(|e| e.event == "account_activated")
        .expect("the activation is audited");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&activated.details).unwrap()["disputed_pupils"]
            [0],
        children[1].pupil_id
    );
    // the declared link is no longer shown nor released: only Lou is his child now
    let now_children = server.state.accounts.children_of(account.id).await.unwrap();
    assert_eq!(now_children.len(), 1);
    assert_eq!(now_children[0].first_name, "Lou");
}

#[tokio::test]
async fn a_step_left_open_cannot_activate_an_account_activated_since() {
    let server = TestServer::start().await;
    // the letter's holder begins in one browser…
    let a = browser();
    let step_a = sign_in_temporary(&server, &a, "/login", HUGO).await;
    let r = choose_password(&server, &a, &step_a, "Cerf-volant-77", "Cerf-volant-77").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // …Hugo activates in another
    let b = browser();
    let step_b = sign_in_temporary(&server, &b, "/login", HUGO).await;
    choose_password(&server, &b, &step_b, "Trottinette-42", "Trottinette-42").await;
    let r = confirm(&server, &b, &step_b, &[("naissance", "2015-09-02")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    // the first step is dead: it neither shows nor activates, and Hugo's password stands
    let r = a.get(server.url(&step_a)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = support::post_sign_in(&server, &a, "eleve", "hugo.martin", "Cerf-volant-77").await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the other password was never set"
    );
}

#[tokio::test]
async fn signing_in_again_gives_no_new_tries_for_the_day() {
    let server = TestServer::start().await;
    let b = browser();
    for round in 0..2 {
        let step = sign_in_temporary(&server, &b, "/login", HUGO).await;
        choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
        for n in 1..=5 {
            let r = confirm(&server, &b, &step, &[("naissance", "2015-09-03")]).await;
            let last = n == 5;
            let expected = if last {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(r.status(), expected, "round {round}, try {n}");
            if last && round == 1 {
                assert!(r.text().await.unwrap().contains("suspendue"));
            }
        }
    }
    // a third sign-in today is stopped at once
    let r = support::post_sign_in(&server, &b, "eleve", "hugo.martin", "Provisoire-2026").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("suspendue"));
}

#[tokio::test]
async fn the_steps_end_half_an_hour_after_the_sign_in_however_used() {
    let server = TestServer::start().await;
    let b = browser();
    let step = sign_in_temporary(&server, &b, "/login", HUGO).await;
    server.clock.advance(20 * 60);
    let r = choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "still in time");
    server.clock.advance(11 * 60);
    let r = b.get(server.url(&step)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "over, though just used"
    );
}

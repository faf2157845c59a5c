//! Recovery (SPEC §2.5), end to end over HTTP: a new password through a code sent to the
//! mobile or a link sent to the confirmed e-mail, a forgotten identifier sent to an e-mail or
//! a mobile, and answers that are the same whether an account exists or not.

mod support;

use reqwest::StatusCode;
use support::first_connection::{choose_password, confirm, location, sign_in_temporary};
use support::{TestServer, browser, post_form, set_cookie_header};

/// The page without its per-request tokens.
fn stripped(page: &str) -> String {
    page.lines()
        .filter(|l| {
            !l.contains("name=\"csrf\"") && !l.contains("name=\"id\"") && !l.contains("/langue/")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn claire_chooses_a_new_password_with_a_code_sent_to_her_mobile() {
    let server = TestServer::start().await;
    // signed in somewhere: that session ends with the new password
    let elsewhere = browser();
    let r = support::post_sign_in(
        &server,
        &elsewhere,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let b = browser();
    let r = post_form(
        &server,
        &b,
        "/mot-de-passe-oublie",
        "/mot-de-passe-oublie",
        &[("identifiant", " Claire.Martin "), ("canal", "sms")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let step = location(&r);
    assert!(step.starts_with("/mot-de-passe-oublie/code?id="), "{step}");
    let texts = support::outbox_to(&server, "+33611223344").await;
    let code = support::code_in(&texts[0]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = post_form(
        &server,
        &b,
        &step,
        "/mot-de-passe-oublie/code",
        &[("code", wrong)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Essais restants : 4"));
    let r = post_form(
        &server,
        &b,
        &step,
        "/mot-de-passe-oublie/code",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new_page = location(&r);
    // the code's steps belong to this browser
    let r = browser().get(server.url(&new_page)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post_form(
        &server,
        &b,
        &new_page,
        "/mot-de-passe-oublie/nouveau",
        &[("password", "Claire-2027"), ("confirmation", "Claire-2027")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "her first name"
    );
    let r = post_form(
        &server,
        &b,
        &new_page,
        "/mot-de-passe-oublie/nouveau",
        &[
            ("password", "Jardin-Bleu-77"),
            ("confirmation", "Jardin-Bleu-77"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Mot de passe changé"));

    let r = support::post_sign_in(
        &server,
        &browser(),
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the old password is refused");
    let r = support::post_sign_in(
        &server,
        &browser(),
        "responsable",
        "claire.martin",
        "Jardin-Bleu-77",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie_header(&r, "idp_session").is_some());
    let home = support::text(&elsewhere, server.url("/")).await;
    assert!(!home.contains("Claire"), "the other session ended");
    // the steps are spent
    let r = b.get(server.url(&new_page)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn hugo_gets_a_link_at_his_confirmed_address_and_his_identifier_there() {
    let server = TestServer::start().await;
    // Hugo's first connection gives an address, confirmed by its link
    let b = browser();
    let step = sign_in_temporary(
        &server,
        &b,
        "/login",
        ("eleve", "hugo.martin", "Provisoire-2026"),
    )
    .await;
    choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
    confirm(
        &server,
        &b,
        &step,
        &[("naissance", "02/09/2015"), ("email", "hugo@example.fr")],
    )
    .await;
    let mail = support::outbox_to(&server, "hugo@example.fr")
        .await
        .remove(0);
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("jeton="))
        .unwrap()
        .to_owned();
    let path = link.trim_start_matches(&server.base).to_owned();
    let r = post_form(&server, &b, &path, "/confirmer-email", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);

    // a new password by e-mail: the link works once, in any browser
    let r = post_form(
        &server,
        &browser(),
        "/mot-de-passe-oublie",
        "/mot-de-passe-oublie",
        &[("identifiant", "hugo.martin"), ("canal", "email")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mails = support::outbox_to(&server, "hugo@example.fr").await;
    assert_eq!(mails.len(), 2);
    let link = mails[0]
        .split_whitespace()
        .find(|w| w.contains("/mot-de-passe-oublie/nouveau?jeton="))
        .unwrap();
    let path = link.trim_start_matches(&server.base).to_owned();
    let other = browser();
    let r = post_form(
        &server,
        &other,
        &path,
        "/mot-de-passe-oublie/nouveau",
        &[
            ("password", "Planete-Mars-9"),
            ("confirmation", "Planete-Mars-9"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = other.get(server.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "single use");
    let r = support::post_sign_in(
        &server,
        &browser(),
        "eleve",
        "hugo.martin",
        "Planete-Mars-9",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // the forgotten identifier, to the confirmed address
    let r = post_form(
        &server,
        &browser(),
        "/identifiant-oublie",
        "/identifiant-oublie",
        &[("contact", "Hugo@Example.fr")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mails = support::outbox_to(&server, "hugo@example.fr").await;
    assert!(mails[0].contains("hugo.martin"), "{}", mails[0]);
}

#[tokio::test]
async fn answers_are_the_same_whether_an_account_exists_or_not() {
    let server = TestServer::start().await;
    let ask = |identifier: &'static str, channel: &'static str| {
        let server = &server;
        async move {
            let b = browser();
            let r = post_form(
                server,
                &b,
                "/mot-de-passe-oublie",
                "/mot-de-passe-oublie",
                &[("identifiant", identifier), ("canal", channel)],
            )
            .await;
            let status = r.status();
            let page = if status == StatusCode::SEE_OTHER {
                support::text(&b, server.url(&location(&r))).await
            } else {
                r.text().await.unwrap()
            };
            (status, stripped(&page))
        }
    };
    // Léa has no confirmed e-mail and no phone; nobody does not exist
    assert_eq!(
        ask("lea.martin", "email").await,
        ask("personne.inconnue", "email").await
    );
    assert_eq!(
        ask("claire.martin", "email").await,
        ask("personne.inconnue", "email").await
    );
    assert_eq!(
        ask("claire.martin", "sms").await,
        ask("personne.inconnue", "sms").await
    );
    assert_eq!(
        ask("lea.martin", "sms").await,
        ask("personne.inconnue", "sms").await
    );
    let (_, page) = ask("lea.martin", "email").await;
    assert!(
        page.contains("jamais été confirmée"),
        "seed 002: says what to try: {page}"
    );

    // a forgotten identifier: the same answer; sent only where it is known
    let remind = |contact: &'static str| {
        let server = &server;
        async move {
            let r = post_form(
                server,
                &browser(),
                "/identifiant-oublie",
                "/identifiant-oublie",
                &[("contact", contact)],
            )
            .await;
            (r.status(), stripped(&r.text().await.unwrap()))
        }
    };
    assert_eq!(remind("06 11 22 33 44").await, remind("0699999999").await);
    assert_eq!(
        remind("claire.martin@example.fr").await,
        remind("personne@example.fr").await
    );
    let sms = support::outbox_to(&server, "+33611223344").await;
    assert!(
        sms.iter()
            .any(|t| t.contains("Votre identifiant : claire.martin.")),
        "{sms:?}"
    );
    assert!(support::outbox_to(&server, "+33699999999").await.is_empty());
    // the school's e-mail for Claire was never confirmed by her: nothing is sent there
    assert!(
        support::outbox_to(&server, "claire.martin@example.fr")
            .await
            .is_empty()
    );
    assert!(
        support::outbox_to(&server, "personne@example.fr")
            .await
            .is_empty()
    );
}

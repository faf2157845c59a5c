//! Sign-in end to end over HTTP against the real server (SPEC §2.1). With `TEST_POSTGRES_URL`
//! and `TEST_REDIS_URL` set, the same tests run on the production backends.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use support::{TestServer, browser, hidden_field, set_cookie_header};

/// Opens the form for a profile and returns its CSRF token.
async fn open_form(server: &TestServer, client: &reqwest::Client, profile: &str) -> String {
    let page = client
        .get(server.url(&format!("/login?profil={profile}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    hidden_field(&html, "csrf").expect("the form carries a CSRF token")
}

async fn sign_in(
    server: &TestServer,
    client: &reqwest::Client,
    profile: &str,
    identifier: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = open_form(server, client, profile).await;
    client
        .post(server.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("typeUser", profile),
            ("identifier", identifier),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sign_in_page_starts_with_the_profile_choice_in_french() {
    let server = TestServer::start().await;
    let client = browser();
    let page = client.get(server.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("x-request-id"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<html lang="fr">"#));
    assert!(html.contains("Élève"));
    assert!(html.contains("Responsable d'élève"));
    assert!(
        !html.contains(r#"name="password""#),
        "no form before the profile is chosen"
    );

    // choosing "responsable" shows its form, its links, and is remembered
    let page = client
        .get(server.url("/login?profil=responsable"))
        .send()
        .await
        .unwrap();
    let profile_cookie = set_cookie_header(&page, "idp_profil").unwrap();
    assert!(profile_cookie.contains("Max-Age="));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="typeUser" value="responsable""#));
    assert!(html.contains("Identifiant oublié ?"));
    assert!(html.contains("Mot de passe oublié ?"));
    assert!(html.contains("Je n'ai pas de compte"));
    let html = client
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"name="typeUser" value="responsable""#),
        "profile remembered"
    );
    // pupils get no sign-up link
    let html = client
        .get(server.url("/login?profil=eleve"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Je n'ai pas de compte"));
    // the links lead to the recovery journeys (idp/tests/recovery.rs)
    for path in ["/identifiant-oublie", "/mot-de-passe-oublie"] {
        let html = client
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(&format!("action=\"{path}\"")), "{path}");
    }
}

#[tokio::test]
async fn a_pupil_signs_in_and_gets_an_sso_session() {
    let server = TestServer::start().await;
    let client = browser();
    let response = sign_in(&server, &client, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/");
    let cookie = set_cookie_header(&response, "idp_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http on 127.0.0.1 only: {cookie}"
    );

    let home = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(html.contains("Léa MARTIN"));
    assert!(html.contains("Élève"));
    assert!(html.contains("Collège Jean Moulin"));
    assert!(html.contains("4e A"));
    assert!(html.contains("Se déconnecter"));

    // typed identifiers are trimmed and case-insensitive
    let other = browser();
    let response = sign_in(&server, &other, "eleve", "  Lea.Martin ", "Cartable-2026").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let lea = server
        .state
        .accounts
        .by_identifier("lea.martin")
        .await
        .unwrap()
        .unwrap();
    let events = server.state.audit.for_account(lea.id, 10).await.unwrap();
    assert!(events.iter().any(|e| e.event == "sign_in"));
}

#[tokio::test]
async fn a_guardian_sees_the_children_with_school_and_class() {
    let server = TestServer::start().await;
    let client = browser();
    let response = sign_in(
        &server,
        &client,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Claire MARTIN"));
    assert!(html.contains("Mes enfants"));
    assert!(html.contains("Léa MARTIN</strong> – Collège Jean Moulin, classe 4e A"));
    assert!(html.contains("Hugo MARTIN</strong> – École élémentaire Jules Ferry, classe CM2"));
}

#[tokio::test]
async fn wrong_password_and_unknown_identifier_get_the_same_answer_and_the_same_work() {
    let server = TestServer::start().await;
    let stats = server.state.hasher.stats.clone();
    let mut answers = Vec::new();
    for (identifier, password) in [
        ("lea.martin", "Mauvais-2026"),
        ("personne.inconnue", "Cartable-2026"),
        ("hugo.martin", "Mauvais-2026"),
    ] {
        let client = browser();
        let before = stats.verifications.load(Ordering::SeqCst);
        let response = sign_in(&server, &client, "eleve", identifier, password).await;
        // exactly one argon2 verification, whether the account exists, is activated or not
        assert_eq!(
            stats.verifications.load(Ordering::SeqCst),
            before + 1,
            "{identifier}"
        );
        assert!(set_cookie_header(&response, "idp_session").is_none());
        let status = response.status();
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Identifiant ou mot de passe incorrect."),
            "{identifier}"
        );
        let csrf = hidden_field(&html, "csrf").unwrap();
        answers.push((
            status,
            html.replace(identifier, "ID").replace(&csrf, "CSRF"),
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "no difference an attacker could read"
    );
    assert_eq!(answers[0], answers[2]);
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let server = TestServer::start().await;
    let client = browser();
    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("typeUser", "eleve".to_owned()),
            ("identifier", "lea.martin".to_owned()),
            ("password", "Cartable-2026".to_owned()),
        ]
    };
    // no browser cookie, no token
    let r = client
        .post(server.url("/login"))
        .form(&form(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("La page a expiré"));
    // a browser with a cookie but a wrong token
    let token = open_form(&server, &client, "eleve").await;
    let r = client
        .post(server.url("/login"))
        .form(&form("forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // another browser's valid token
    let attacker = browser();
    let r = attacker
        .post(server.url("/login"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // the right token works
    let r = client
        .post(server.url("/login"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // sign-out needs the token too
    let r = client
        .post(server.url("/logout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let home = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn sign_in_issues_a_new_session_id_so_a_planted_one_is_useless() {
    let server = TestServer::start().await;
    // a session of someone else (the attacker), planted in the victim's browser
    let attacker = browser();
    let r = sign_in(&server, &attacker, "eleve", "lea.martin", "Cartable-2026").await;
    let planted = set_cookie_header(&r, "idp_session").unwrap();
    let planted_id = planted
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("idp_session=")
        .to_owned();

    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        &format!("idp_session={planted_id}; Path=/"),
        &server.base.parse().unwrap(),
    );
    let victim = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let csrf = open_form(&server, &victim, "responsable").await;
    let r = victim
        .post(server.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("typeUser", "responsable"),
            ("identifier", "claire.martin"),
            ("password", "Parent-2026!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let fresh = set_cookie_header(&r, "idp_session").unwrap();
    assert!(!fresh.contains(&planted_id), "a new id at every sign-in");
    // the id that was in the browser at sign-in time no longer works
    let now = server.clock_now();
    assert!(
        server
            .state
            .sessions
            .load(&planted_id, now)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let server = TestServer::start().await;
    let client = browser();
    sign_in(&server, &client, "eleve", "lea.martin", "Cartable-2026").await;
    let html = client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&html, "csrf").unwrap();
    // GET /logout only asks for confirmation
    let confirm = client.get(server.url("/logout")).send().await.unwrap();
    assert!(
        confirm
            .text()
            .await
            .unwrap()
            .contains("Voulez-vous vous déconnecter")
    );
    assert_eq!(
        client.get(server.url("/")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let r = client
        .post(server.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let done = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(done.starts_with("/deconnexion?id="), "{done}");
    assert!(
        set_cookie_header(&r, "idp_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    let home = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.headers()["location"], "/login");
    // the page that lists the services left: none here
    let page = client
        .get(server.url(&done))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Vous êtes déconnecté"), "{page}");
    assert!(page.contains("aucun service"), "{page}");
    assert!(!page.contains("Continuer"), "nobody to go back to");
}

#[tokio::test]
async fn the_right_password_with_the_other_profile_is_explained() {
    let server = TestServer::start().await;
    let r = sign_in(
        &server,
        &browser(),
        "responsable",
        "lea.martin",
        "Cartable-2026",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie_header(&r, "idp_session").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Ce compte est un compte « Élève »")
    );
}

#[tokio::test]
async fn a_temporary_password_opens_no_session_but_the_first_connection_and_expires() {
    let server = TestServer::start().await;
    let r = sign_in(
        &server,
        &browser(),
        "eleve",
        "hugo.martin",
        "Provisoire-2026",
    )
    .await;
    assert!(set_cookie_header(&r, "idp_session").is_none());
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/premiere-connexion?id="), "{to}");

    server.clock.advance(93 * 86_400);
    let r = sign_in(
        &server,
        &browser(),
        "eleve",
        "hugo.martin",
        "Provisoire-2026",
    )
    .await;
    assert!(set_cookie_header(&r, "idp_session").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Demandez un nouveau mot de passe à votre établissement")
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_whether_the_account_exists_or_not() {
    let server = TestServer::start_with("[throttle]\nfailures_per_identifier = 3").await;
    for identifier in ["lea.martin", "personne.inconnue"] {
        let client = browser();
        for _ in 0..3 {
            let r = sign_in(&server, &client, "eleve", identifier, "Mauvais-2026").await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        let r = sign_in(&server, &client, "eleve", identifier, "Cartable-2026").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{identifier}");
        assert!(r.text().await.unwrap().contains("Trop de tentatives"));
    }
    // other pupils are not affected
    let r = sign_in(
        &server,
        &browser(),
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn after_a_few_failures_each_attempt_waits_longer_whether_the_account_exists_or_not() {
    let server = TestServer::start_with(
        "[throttle]\ndelay_after_failures = 2\nfirst_delay_ms = 300\nmax_delay_ms = 600",
    )
    .await;
    for identifier in ["lea.martin", "personne.inconnue"] {
        let client = browser();
        let mut waits = Vec::new();
        for _ in 0..4 {
            let started = std::time::Instant::now();
            let r = sign_in(&server, &client, "eleve", identifier, "Mauvais-2026").await;
            assert_eq!(r.status(), StatusCode::OK);
            waits.push(started.elapsed());
        }
        // lower bounds only: a slow machine makes them longer, never shorter
        assert!(
            waits[2] >= Duration::from_millis(300),
            "{identifier}: {waits:?}"
        );
        assert!(
            waits[3] >= Duration::from_millis(600),
            "{identifier}: {waits:?}"
        );
        // the right password waits too: the delay comes before the password is checked
        let started = std::time::Instant::now();
        let r = sign_in(&server, &client, "eleve", identifier, "Cartable-2026").await;
        assert!(
            started.elapsed() >= Duration::from_millis(600),
            "{identifier}"
        );
        let expected = if identifier == "lea.martin" {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status(), expected, "{identifier}");
    }
}

#[tokio::test]
async fn guessers_locking_the_school_address_never_lock_pupils_out_of_their_own_browsers() {
    let server = TestServer::start_with("[throttle]\nfailures_per_address = 3").await;
    let hers = browser();
    let r = sign_in(&server, &hers, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // a classmate, from the same address, guesses other pupils' passwords
    let guesser = browser();
    for identifier in ["hugo.bernard", "emma.petit", "nolan.roux"] {
        let r = sign_in(&server, &guesser, "eleve", identifier, "Devine-2026").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = sign_in(&server, &guesser, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address is locked for browsers without a trusted device"
    );
    // Léa's own browser is held to its own count only
    let r = sign_in(&server, &hers, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "her device is trusted");
}

#[tokio::test]
async fn failures_elsewhere_never_lock_a_pupil_out_of_her_own_browser() {
    let server = TestServer::start_with("[throttle]\nfailures_per_identifier = 3").await;
    let hers = browser();
    let r = sign_in(&server, &hers, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let device = set_cookie_header(&r, "idp_appareil").expect("a trusted-device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("Max-Age="),
        "{device}"
    );

    // someone else tries passwords: the identifier is locked everywhere else
    let attacker = browser();
    for _ in 0..3 {
        let r = sign_in(&server, &attacker, "eleve", "lea.martin", "Devine-2026").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = sign_in(&server, &attacker, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        server
            .state
            .throttle
            .identifier_limited("lea.martin")
            .await
            .unwrap()
    );
    // but not in Léa's own browser
    let r = sign_in(&server, &hers, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "her device is trusted");

    // a device failing as often as a lock allows loses the exemption
    for _ in 0..3 {
        let r = sign_in(&server, &hers, "eleve", "lea.martin", "Oubli-2026").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = sign_in(&server, &hers, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // the cookie is Léa's only: another identifier, or a forged value, is not trusted
    let claire = browser();
    let r = sign_in(
        &server,
        &claire,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = sign_in(&server, &claire, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = forged
        .get(server.url("/login?profil=eleve"))
        .header("cookie", "idp_browser=b1; idp_appareil=99999999999.00")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = forged
        .post(server.url("/login"))
        .header("cookie", "idp_browser=b1; idp_appareil=99999999999.00")
        .form(&support::sign_in_form(&page, "lea.martin", "Cartable-2026"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_return_path_never_leaves_the_site() {
    let server = TestServer::start().await;
    let client = browser();
    let csrf = open_form(&server, &client, "eleve").await;
    let r = client
        .post(server.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("typeUser", "eleve"),
            ("identifier", "lea.martin"),
            ("password", "Cartable-2026"),
            ("next", "//evil.example/steal"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn secure_cookies_when_the_issuer_is_https() {
    let server = TestServer::start_with("issuer = 'https://idp.example.fr'").await;
    let r = sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    let cookie = set_cookie_header(&r, "idp_session").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_saturated_hasher_refuses_quickly_with_retry_after() {
    let server =
        // twelve sign-ins of one pupil at once: the throttle's limit is not what is tested
        TestServer::start_with(
            "[password]\nhashing_workers = 1\nhashing_queue_timeout_ms = 1\n\
             [throttle]\nfailures_per_identifier = 100",
        )
        .await;
    let mut attempts = Vec::new();
    for _ in 0..12 {
        let client = browser();
        let csrf = open_form(&server, &client, "eleve").await;
        let url = server.url("/login");
        attempts.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("typeUser", "eleve"),
                    ("identifier", "lea.martin"),
                    ("password", "Cartable-2026"),
                ])
                .send()
                .await
                .unwrap()
        }));
    }
    let mut refused = 0;
    for a in attempts {
        let r = a.await.unwrap();
        match r.status() {
            StatusCode::SEE_OTHER => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(r.headers()["retry-after"], "5");
                assert!(r.text().await.unwrap().contains(
                    "Trop de connexions en ce moment, réessayez dans quelques secondes."
                ));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        refused > 0,
        "twelve hashes at once on one slot with a 1 ms queue"
    );
    assert!(server.state.hasher.stats.refused.load(Ordering::SeqCst) >= refused);
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let client = browser();
    let r = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"database":true,"ephemeral":true}"#
    );
    let r = client
        .get(server.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("Page introuvable"));
}

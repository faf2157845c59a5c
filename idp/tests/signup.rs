//! "Je n'ai pas de compte" (SPEC §2.3), end to end over HTTP: Paul DURAND proves the mobile his
//! son's school recorded with the code sent by SMS, confirms Jules's birth date, chooses a
//! password and gets his identifier; the first step answers the same for anyone.

mod support;

use reqwest::StatusCode;
use support::{TestServer, browser, hidden_field, set_cookie_header};

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The first step; returns the next step's address and the page it shows.
async fn start(
    server: &TestServer,
    b: &reqwest::Client,
    (last, first, mobile): (&str, &str, &str),
) -> (String, String) {
    let page = support::text(b, server.url("/inscription")).await;
    let r = b
        .post(server.url("/inscription"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("nom", last.into()),
            ("prenom", first.into()),
            ("portable", mobile.into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let step = location(&r);
    assert!(step.starts_with("/inscription/etape?id="), "{step}");
    let page = support::text(b, server.url(&step)).await;
    (step, page)
}

async fn submit(
    server: &TestServer,
    b: &reqwest::Client,
    step: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    support::post_form(server, b, step, "/inscription/etape", fields).await
}

const PAUL: (&str, &str, &str) = ("Durand", "Paul", "06 12 34 56 78");

#[tokio::test]
async fn paul_creates_his_account_with_the_code_sent_to_his_mobile() {
    let server = TestServer::start().await;
    let b = browser();
    let (step, page) = start(&server, &b, PAUL).await;
    assert!(page.contains("finissant par <strong>78</strong>"), "{page}");
    let texts = support::outbox_to(&server, "+33612345678").await;
    assert_eq!(texts.len(), 1);
    let code = support::code_in(&texts[0]);

    // a wrong code is counted
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = submit(&server, &b, &step, &[("code", wrong)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Essais restants : 4"));
    let r = submit(&server, &b, &step, &[("code", &code)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Jules's birth date, named only once it is right
    let page = support::text(&b, server.url(&step)).await;
    assert!(page.contains("Premier enfant (le plus âgé)"), "{page}");
    assert!(!page.contains("Jules"));
    let field = page
        .split("name=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|n| n.starts_with("naissance-"))
        .unwrap()
        .to_owned();
    let r = submit(&server, &b, &step, &[(&field, "2013-06-22")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = submit(&server, &b, &step, &[(&field, "21/06/2013")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // the password by the policy
    let r = submit(
        &server,
        &b,
        &step,
        &[("password", "paul2026"), ("confirmation", "paul2026")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = submit(
        &server,
        &b,
        &step,
        &[
            ("password", "Velo-Rouge-2026"),
            ("confirmation", "Velo-Rouge-2026"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie_header(&r, "idp_session").is_some(), "signed in");
    let done = r.text().await.unwrap();
    assert!(
        done.contains("<strong id=\"identifiant\">paul.durand</strong>"),
        "{done}"
    );
    assert!(done.contains("conservez-le précieusement"));
    assert!(
        done.contains("Jules DURAND (6e B, Collège Jean Moulin)"),
        "{done}"
    );
    assert!(done.contains("0612345678 (vérifié)"));

    // the steps are spent; the account signs in; his home page lists Jules
    for other in [&b, &browser()] {
        let r = other.get(server.url(&step)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let other = browser();
    let r = support::post_sign_in(
        &server,
        &other,
        "responsable",
        "paul.durand",
        "Velo-Rouge-2026",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = support::text(&other, server.url("/")).await;
    assert!(home.contains("Jules"), "{home}");
    let paul = server
        .state
        .accounts
        .by_identifier("paul.durand")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paul.mobile.as_deref(), Some("0612345678"));

    // signing up again only tells the phone which identifier it has
    start(&server, &browser(), PAUL).await;
    let texts = support::outbox_to(&server, "+33612345678").await;
    assert!(
        texts[0].contains("Vous avez déjà un compte, identifiant : paul.durand"),
        "{texts:?}"
    );
}

#[tokio::test]
async fn the_first_step_says_the_same_to_anyone() {
    let server = TestServer::start().await;
    let (_, paul) = start(&server, &browser(), PAUL).await;
    let b = browser();
    let (step, nobody) = start(&server, &b, ("Inconnu", "Personne", "0698765478")).await;
    let (_, claire) = start(&server, &browser(), ("MARTIN", "Claire", "0611223344")).await;
    let strip = |p: &str| {
        p.lines()
            .filter(|l| {
                !l.contains("name=\"csrf\"")
                    && !l.contains("name=\"id\"")
                    && !l.contains("/langue/")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&paul), strip(&nobody));
    assert_eq!(
        strip(&nobody).replace("44</strong>", "78</strong>"),
        strip(&claire).replace("44</strong>", "78</strong>")
    );
    // nobody is sent nothing and no code works; Claire's phone is told she has an account
    assert!(support::outbox_to(&server, "+33698765478").await.is_empty());
    let r = submit(&server, &b, &step, &[("code", "123456")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let claire_sms = support::outbox_to(&server, "+33611223344").await;
    assert!(
        claire_sms[0].contains("identifiant : claire.martin"),
        "{claire_sms:?}"
    );
    assert!(
        claire_sms[0]
            .split(|c: char| !c.is_ascii_digit())
            .all(|w| w.len() != 6),
        "no code for an account that exists"
    );
    // a malformed mobile is said so
    let page = support::text(&b, server.url("/inscription")).await;
    let r = b
        .post(server.url("/inscription"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("nom", "DURAND".into()),
            ("prenom", "Paul".into()),
            ("portable", "01 23 45 67 89".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("portable"));
}

#[tokio::test]
async fn five_wrong_codes_end_the_sign_up() {
    let server = TestServer::start().await;
    let b = browser();
    let (step, _) = start(&server, &b, PAUL).await;
    let code = support::code_in(&support::outbox_to(&server, "+33612345678").await[0]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let r = submit(&server, &b, &step, &[("code", wrong)]).await;
        assert!(
            r.text()
                .await
                .unwrap()
                .contains(&format!("Essais restants : {left}"))
        );
    }
    let r = submit(&server, &b, &step, &[("code", wrong)]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // the right code no longer helps
    let r = b
        .post(server.url("/inscription/etape"))
        .form(&[("csrf", "x"), ("id", "y"), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
    let r = browser().get(server.url(&step)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

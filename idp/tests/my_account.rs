//! "Mon compte" (SPEC §2.6), end to end over HTTP on the demo dataset: the password, the
//! e-mail and the mobile in "Mes informations"; "Mes enfants" with taking the children of
//! another account and a child's new temporary password; the history; the new pupil an import
//! found, proposed at the next sign-in.

mod support;

use idp::domain::account::{AccountKind, AccountState};
use idp::store::Grant;
use reqwest::StatusCode;
use support::first_connection::{choose_password, confirm, location, sign_in_temporary};
use support::{TestServer, browser, code_in, outbox_to, post_form, post_sign_in, text};

const CLAIRE: (&str, &str) = ("claire.martin", "Parent-2026!");
const MARC: (&str, &str) = ("marc.petit", "Parent-2026!");
const MARC_LYCEE: (&str, &str) = ("marc.petit2", "Regroupement-2026");

/// Whether an HTML page says this text, written in the template or from a value (whose
/// apostrophes the templates escape).
fn says(page: &str, text: &str) -> bool {
    page.contains(text) || page.contains(&text.replace('\'', "&#39;"))
}

/// A browser signed in as this guardian.
async fn guardian(server: &TestServer, (identifier, password): (&str, &str)) -> reqwest::Client {
    let b = browser();
    let r = post_sign_in(server, &b, "responsable", identifier, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{identifier} signs in");
    b
}

async fn signed_in(server: &TestServer, b: &reqwest::Client) -> bool {
    b.get(server.url("/")).send().await.unwrap().status() == StatusCode::OK
}

async fn children(server: &TestServer, identifier: &str) -> Vec<String> {
    let account = server
        .state
        .accounts
        .by_identifier(identifier)
        .await
        .unwrap()
        .unwrap();
    let mut names: Vec<String> = server
        .state
        .accounts
        .children_of(account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.first_name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn claire_changes_her_password_and_her_other_sessions_end() {
    let server = TestServer::start().await;
    let b = guardian(&server, CLAIRE).await;
    let elsewhere = guardian(&server, CLAIRE).await;
    let page = text(&b, server.url("/compte")).await;
    assert!(page.contains("Changer de mot de passe"), "{page}");
    assert!(says(
        &page,
        "ne sont pas transmises à l'école ou à l'établissement"
    ));

    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let (server, b) = (&server, &b);
        async move {
            post_form(
                server,
                b,
                "/compte",
                "/compte/mot-de-passe",
                &[
                    ("current", current),
                    ("password", new),
                    ("confirmation", again),
                ],
            )
            .await
        }
    };
    let r = change("Parent-2025!", "Cerf-volant-88", "Cerf-volant-88").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Votre mot de passe actuel est incorrect")
    );
    let r = change("Parent-2026!", "Cerf-volant-88", "Cerf-volant-89").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("ne sont pas identiques"));
    let r = change("Parent-2026!", "claire123", "claire123").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = change("Parent-2026!", "Parent-2026!", "Parent-2026!").await;
    assert!(says(&r.text().await.unwrap(), "différent de l'actuel"));
    assert!(signed_in(&server, &elsewhere).await, "nothing changed yet");

    let r = change("Parent-2026!", "Cerf-volant-88", "Cerf-volant-88").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/compte?fait=mot-de-passe");
    let page = text(&b, server.url("/compte?fait=mot-de-passe")).await;
    assert!(page.contains("Votre mot de passe est changé"), "{page}");
    assert!(signed_in(&server, &b).await, "this browser stays signed in");
    assert!(
        !signed_in(&server, &elsewhere).await,
        "the other session ended"
    );

    let r = post_sign_in(&server, &browser(), "responsable", CLAIRE.0, CLAIRE.1).await;
    assert_eq!(r.status(), StatusCode::OK, "the old password is refused");
    guardian(&server, (CLAIRE.0, "Cerf-volant-88")).await;
    let history = text(&b, server.url("/compte/historique")).await;
    assert!(history.contains("Mot de passe modifié"), "{history}");
}

#[tokio::test]
async fn a_new_email_waits_for_its_link_and_can_be_sent_again() {
    let server = TestServer::start().await;
    let b = guardian(&server, CLAIRE).await;
    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/email",
        &[("email", "claire@")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(says(&r.text().await.unwrap(), "n'est pas valide"));

    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/email",
        &[
            ("email", " Claire.Martin@Exemple.FR "),
            ("current", "Parent-2025!"),
        ],
    )
    .await;
    // the current password is asked: a session left open is not enough to take the address
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(says(
        &r.text().await.unwrap(),
        "Votre mot de passe actuel est incorrect"
    ));
    assert!(
        outbox_to(&server, "claire.martin@exemple.fr")
            .await
            .is_empty()
    );
    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/email",
        &[
            ("email", " Claire.Martin@Exemple.FR "),
            ("current", CLAIRE.1),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = text(&b, server.url("/compte")).await;
    assert!(
        page.contains("Vous devez confirmer votre adresse mail"),
        "{page}"
    );
    assert!(
        page.contains("aucune adresse confirmée"),
        "not the account's yet"
    );
    let home = text(&b, server.url("/")).await;
    assert!(
        home.contains("Vous devez confirmer votre adresse mail"),
        "{home}"
    );
    let first = outbox_to(&server, "claire.martin@exemple.fr").await;
    assert_eq!(first.len(), 1);

    // "Renvoyer le mail": a new link; the first one no longer works
    let r = post_form(&server, &b, "/compte", "/compte/email/renvoyer", &[]).await;
    assert_eq!(location(&r), "/compte?fait=email-renvoye");
    let mails = outbox_to(&server, "claire.martin@exemple.fr").await;
    assert_eq!(mails.len(), 2);
    let token = |mail: &str| {
        mail.split("jeton=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let (old, new) = (token(&mails[1]), token(&mails[0]));
    assert_ne!(old, new);
    let open = |t: String| {
        let (server, b) = (&server, &b);
        async move {
            post_form(
                server,
                b,
                &format!("/confirmer-email?jeton={t}"),
                "/confirmer-email",
                &[],
            )
            .await
        }
    };
    assert_eq!(open(old).await.status(), StatusCode::GONE);
    assert_eq!(open(new).await.status(), StatusCode::OK);
    let page = text(&b, server.url("/compte")).await;
    assert!(page.contains("claire.martin@exemple.fr"));
    assert!(!page.contains("Vous devez confirmer votre adresse mail"));
    let history = text(&b, server.url("/compte/historique")).await;
    assert!(
        history.contains("Adresse électronique confirmée"),
        "{history}"
    );
    // the school's record keeps the address the school knows
    let recorded = server
        .state
        .accounts
        .identifiers_by_email("claire.martin@example.fr")
        .await
        .unwrap();
    assert!(
        recorded.is_empty(),
        "the school's address was never confirmed here"
    );
}

#[tokio::test]
async fn a_new_mobile_waits_for_its_code() {
    let server = TestServer::start().await;
    let b = guardian(&server, CLAIRE).await;
    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/portable",
        &[("portable", "0123")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("06 ou 07"));

    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/portable",
        &[("portable", "07 11 22 33 44"), ("current", "Parent-2025!")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        outbox_to(&server, "+33711223344").await.is_empty(),
        "no code sent"
    );
    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/portable",
        &[("portable", "07 11 22 33 44"), ("current", CLAIRE.1)],
    )
    .await;
    assert_eq!(location(&r), "/compte/portable/code");
    let page = text(&b, server.url("/compte")).await;
    assert!(page.contains("Vous devez confirmer votre numéro"), "{page}");
    let first = code_in(&outbox_to(&server, "+33711223344").await[0]);
    let wrong = if first == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = post_form(
        &server,
        &b,
        "/compte/portable/code",
        "/compte/portable/code",
        &[("code", wrong)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Essais restants : 4"));

    // "Je n'ai pas reçu le code par SMS": a new code replaces the first
    let page = text(&b, server.url("/compte/portable/code")).await;
    assert!(says(&page, "Je n'ai pas reçu le code par SMS"));
    let r = post_form(
        &server,
        &b,
        "/compte/portable/code",
        "/compte/portable/renvoyer",
        &[],
    )
    .await;
    assert_eq!(location(&r), "/compte/portable/code?renvoye=1");
    let second = code_in(&outbox_to(&server, "+33711223344").await[0]);
    if second != first {
        let r = post_form(
            &server,
            &b,
            "/compte/portable/code",
            "/compte/portable/code",
            &[("code", &first)],
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "the first code is dead"
        );
    }
    let r = post_form(
        &server,
        &b,
        "/compte/portable/code",
        "/compte/portable/code",
        &[("code", &second)],
    )
    .await;
    assert_eq!(location(&r), "/compte?fait=portable");
    let claire = server
        .state
        .accounts
        .by_identifier(CLAIRE.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claire.mobile.as_deref(), Some("0711223344"));
    assert!(claire.pending_mobile.is_none());
    // recovery codes now go to the confirmed number
    assert_eq!(
        server
            .state
            .accounts
            .recovery_mobiles(claire.id)
            .await
            .unwrap(),
        vec!["0711223344".to_owned()]
    );
    let history = text(&b, server.url("/compte/historique")).await;
    assert!(history.contains("Numéro de portable confirmé"), "{history}");
}

#[tokio::test]
async fn five_wrong_codes_end_the_code() {
    let server = TestServer::start().await;
    let b = guardian(&server, CLAIRE).await;
    post_form(
        &server,
        &b,
        "/compte",
        "/compte/portable",
        &[("portable", "0711223344"), ("current", CLAIRE.1)],
    )
    .await;
    let code = code_in(&outbox_to(&server, "+33711223344").await[0]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        post_form(
            &server,
            &b,
            "/compte/portable/code",
            "/compte/portable/code",
            &[("code", wrong)],
        )
        .await;
    }
    let r = post_form(
        &server,
        &b,
        "/compte/portable/code",
        "/compte/portable/code",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(says(&r.text().await.unwrap(), "n'est plus valable"));
    let claire = server
        .state
        .accounts
        .by_identifier(CLAIRE.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claire.mobile.as_deref(), Some("0611223344"), "unchanged");
}

#[tokio::test]
async fn marc_takes_the_children_of_his_other_account() {
    let server = TestServer::start().await;
    assert_eq!(children(&server, MARC.0).await, ["Emma"]);
    assert_eq!(children(&server, MARC_LYCEE.0).await, ["Malo"]);
    let b = guardian(&server, MARC).await;
    let page = text(&b, server.url("/compte/enfants")).await;
    assert!(
        page.contains("Ajouter des élèves depuis un autre compte"),
        "{page}"
    );
    assert!(page.contains("Emma PETIT</strong> – Collège Jean Moulin, classe 4e A"));

    let r = post_form(
        &server,
        &b,
        "/compte/enfants",
        "/compte/enfants/regrouper",
        &[("identifiant", " Marc.Petit2 "), ("password", MARC_LYCEE.1)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/compte/enfants?regroupe=1");
    let page = text(&b, server.url(&location(&r))).await;
    assert!(page.contains("Les élèves du compte marc.petit2 sont maintenant sur votre compte"));
    assert!(
        page.contains("Malo PETIT</strong> – Lycée Victor Hugo, classe 2nde 3"),
        "{page}"
    );
    assert_eq!(children(&server, MARC.0).await, ["Emma", "Malo"]);

    let closed = server
        .state
        .accounts
        .by_identifier(MARC_LYCEE.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.state, AccountState::Closed);
    assert!(children(&server, MARC_LYCEE.0).await.is_empty());
    // its letter no longer opens anything, and the same merge cannot happen twice
    let r = post_sign_in(
        &server,
        &browser(),
        "responsable",
        MARC_LYCEE.0,
        MARC_LYCEE.1,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("incorrect"));
    let r = post_form(
        &server,
        &b,
        "/compte/enfants",
        "/compte/enfants/regrouper",
        &[("identifiant", MARC_LYCEE.0), ("password", MARC_LYCEE.1)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let events: Vec<String> = server
        .state
        .audit
        .for_account(closed.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&"account_closed".to_owned()), "{events:?}");
    let history = text(&b, server.url("/compte/historique")).await;
    assert!(
        history.contains("Élèves ajoutés depuis un autre compte"),
        "{history}"
    );
    assert!(history.contains("compte marc.petit2, désormais fermé"));
}

#[tokio::test]
async fn the_other_accounts_sessions_and_tokens_end_with_it() {
    let server = TestServer::start().await;
    // Marc activated the lycée's account too, and uses it
    let other = browser();
    let step = sign_in_temporary(
        &server,
        &other,
        "/login",
        ("responsable", MARC_LYCEE.0, MARC_LYCEE.1),
    )
    .await;
    let r = choose_password(&server, &other, &step, "Lycee-Hugo-2027", "Lycee-Hugo-2027").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = text(&other, server.url(&step)).await;
    let malo = page
        .split("name=\"naissance-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let r = confirm(
        &server,
        &other,
        &step,
        &[(&format!("naissance-{malo}"), "17/05/2010")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(signed_in(&server, &other).await);
    let lycee = server
        .state
        .accounts
        .by_identifier(MARC_LYCEE.0)
        .await
        .unwrap()
        .unwrap();
    let now = server.clock_now();
    let grant = Grant {
        id: "grant-du-lycee".into(),
        client_id: "ent-demo".into(),
        account_id: lycee.id,
        scope: "openid offline_access".into(),
        auth_time: now,
        origin: "ECT".into(),
        session_id: None,
        created_at: now,
        expires_at: now + 3600,
        revoked_at: None,
    };
    server
        .state
        .grants
        .create_grant(&grant, None)
        .await
        .unwrap();

    // its current password works as well as the temporary one would have
    let b = guardian(&server, MARC).await;
    let r = post_form(
        &server,
        &b,
        "/compte/enfants",
        "/compte/enfants/regrouper",
        &[
            ("identifiant", MARC_LYCEE.0),
            ("password", "Lycee-Hugo-2027"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!signed_in(&server, &other).await, "its session ended");
    let grant = server
        .state
        .grants
        .grant("grant-du-lycee")
        .await
        .unwrap()
        .unwrap();
    assert!(grant.revoked_at.is_some(), "its tokens are revoked");
    assert_eq!(children(&server, MARC.0).await, ["Emma", "Malo"]);
}

#[tokio::test]
async fn every_refusal_says_why_and_moves_nothing() {
    let server = TestServer::start().await;
    let b = guardian(&server, CLAIRE).await;
    let cases: [(&str, &str, &str); 6] = [
        (
            MARC_LYCEE.0,
            "Pas-le-bon-1",
            "Identifiant ou mot de passe incorrect",
        ),
        (
            "personne.inconnue",
            "Pas-le-bon-1",
            "Identifiant ou mot de passe incorrect",
        ),
        ("", "", "Saisissez l'identifiant et le mot de passe"),
        (CLAIRE.0, CLAIRE.1, "celui du compte que vous utilisez"),
        (
            "lea.martin",
            "Cartable-2026",
            "Ce compte est un compte élève",
        ),
        ("valerie.leroy", "Parent-2026!", "ne sont pas identiques"),
    ];
    for (identifier, password, expected) in cases {
        let r = post_form(
            &server,
            &b,
            "/compte/enfants",
            "/compte/enfants/regrouper",
            &[("identifiant", identifier), ("password", password)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{identifier}");
        let page = r.text().await.unwrap();
        assert!(says(&page, expected), "{identifier}: {page}");
    }
    // the two answers for wrong credentials are the same page
    assert_eq!(children(&server, CLAIRE.0).await, ["Hugo", "Léa"]);
    assert_eq!(children(&server, MARC_LYCEE.0).await, ["Malo"]);
    assert_eq!(children(&server, "valerie.leroy").await, ["Nina"]);
    for identifier in [MARC_LYCEE.0, "valerie.leroy", "lea.martin"] {
        let account = server
            .state
            .accounts
            .by_identifier(identifier)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.state, AccountState::Active, "{identifier}");
    }
    // a pupil has no "Mes enfants"
    let lea = browser();
    post_sign_in(&server, &lea, "eleve", "lea.martin", "Cartable-2026").await;
    let r = lea.get(server.url("/compte/enfants")).send().await.unwrap();
    assert_eq!(location(&r), "/compte");
    // and nobody signed out reaches any of it
    let r = browser()
        .get(server.url("/compte/enfants"))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login?next="), "{}", location(&r));
}

#[tokio::test]
async fn a_guardian_gives_a_child_a_new_temporary_password() {
    let server = TestServer::start().await;
    let lea = browser();
    post_sign_in(&server, &lea, "eleve", "lea.martin", "Cartable-2026").await;
    assert!(signed_in(&server, &lea).await);

    let b = guardian(&server, CLAIRE).await;
    let claire = server
        .state
        .accounts
        .by_identifier(CLAIRE.0)
        .await
        .unwrap()
        .unwrap();
    let kids = server.state.accounts.children_of(claire.id).await.unwrap();
    let lea_pupil = kids
        .iter()
        .find(|c| c.first_name == "Léa")
        .unwrap()
        .pupil_id;
    let page = text(&b, server.url("/compte/enfants")).await;
    assert!(
        page.contains("Réinitialiser le mot de passe de Léa MARTIN"),
        "{page}"
    );
    let r = post_form(
        &server,
        &b,
        "/compte/enfants",
        "/compte/enfants/mot-de-passe",
        &[("eleve", &lea_pupil.to_string())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'"),
        "the print button's script: {csp}"
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains("<code id=\"identifiant-enfant\">lea.martin</code>"),
        "{page}"
    );
    assert!(page.contains("il ne sera plus affiché"));
    let temporary = page
        .split("<code id=\"mot-de-passe-provisoire\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    assert_eq!(temporary.len(), 14, "{temporary}");

    assert!(!signed_in(&server, &lea).await, "Léa's session ended");
    let r = post_sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::OK, "the old password is refused");
    // the new one leads to the first connection, where Léa chooses her own
    sign_in_temporary(
        &server,
        &browser(),
        "/login",
        ("eleve", "lea.martin", &temporary),
    )
    .await;
    let events = server
        .state
        .audit
        .for_account(
            kids.iter()
                .find(|c| c.first_name == "Léa")
                .unwrap()
                .account_id
                .unwrap(),
            5,
        )
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.event == "temporary_password_issued"
            && e.actor == format!("account:{}", claire.id))
    );

    // a child who is not hers
    let valerie = server
        .state
        .accounts
        .by_identifier("valerie.leroy")
        .await
        .unwrap()
        .unwrap();
    let nina = server.state.accounts.children_of(valerie.id).await.unwrap()[0].pupil_id;
    let r = post_form(
        &server,
        &b,
        "/compte/enfants",
        "/compte/enfants/mot-de-passe",
        &[("eleve", &nina.to_string())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(says(
        &r.text().await.unwrap(),
        "n'est pas rattaché à votre compte"
    ));
}

#[tokio::test]
async fn the_history_shows_sign_ins_and_services() {
    let (server, ports) = TestServer::start_with_demo_services().await;
    let b = guardian(&server, CLAIRE).await;
    // Pronote through CAS, with the session just opened
    let service = format!("http://127.0.0.1:{}/", ports.pronote);
    let r = b
        .get(server.url("/cas/login"))
        .query(&[("service", &service)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).contains("ticket="), "{}", location(&r));
    post_sign_in(&server, &browser(), "responsable", CLAIRE.0, "Mauvais-1").await;

    let page = text(&b, server.url("/compte/historique")).await;
    assert!(page.contains("Accès à un service"), "{page}");
    assert!(page.contains("Pronote de démonstration"));
    assert!(page.contains("avec votre identifiant et votre mot de passe"));
    assert!(page.contains("Connexion refusée : mot de passe incorrect"));
    // newest first
    let failed = page.find("mot de passe incorrect").unwrap();
    let pronote = page.find("Pronote de démonstration").unwrap();
    assert!(failed < pronote);
}

#[tokio::test]
async fn an_account_without_a_password_is_sent_to_its_provider() {
    let server = TestServer::start().await;
    // Paul signed in with FranceConnect only: his account has no password here
    let paul = server
        .state
        .external
        .guardians_named(&["durand".to_owned()], &|first, _, _| first == "Paul")
        .await
        .unwrap();
    let linked = server
        .state
        .external
        .link_external(&idp::store::ExternalLink {
            provider: "franceconnect",
            subject: "fc-paul",
            guardian_ids: &[paul[0].guardian_id],
            account_id: None,
            first_name: "Paul",
            last_name: "DURAND",
            mobile: None,
            now: server.clock_now(),
        })
        .await
        .unwrap();
    let account = server
        .state
        .accounts
        .by_id(linked.account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.kind, AccountKind::Responsable);
    let session = idp::domain::session::SsoSession::new(
        "sid-paul".into(),
        account.id,
        AccountKind::Responsable,
        idp::domain::session::AuthOrigin::FranceConnect,
        server.clock_now(),
    );
    let id = server.state.sessions.create(&session).await.unwrap();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("idp_session={id}"), &server.base.parse().unwrap());
    let b = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = text(&b, server.url("/compte")).await;
    assert!(
        says(&page, "vous n'avez pas de mot de passe sur ce service"),
        "{page}"
    );
    assert!(!page.contains("Mot de passe actuel"));
    let r = post_form(
        &server,
        &b,
        "/compte",
        "/compte/mot-de-passe",
        &[
            ("current", "x"),
            ("password", "Cerf-volant-88"),
            ("confirmation", "Cerf-volant-88"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_new_pupil_found_by_an_import_is_proposed_at_the_next_sign_in() {
    let server = TestServer::start().await;
    // the école's import found Valérie's record: her names and mobile; no second account
    assert_eq!(children(&server, "valerie.leroy").await, ["Nina"]);
    let b = browser();
    let r = post_sign_in(&server, &b, "responsable", "valerie.leroy", "Parent-2026!").await;
    assert_eq!(location(&r), "/compte/nouvel-eleve?suite=%2F");
    let page = text(&b, server.url("/compte/nouvel-eleve?suite=%2F")).await;
    assert!(says(
        &page,
        "Un nouvel élève a été trouvé : voulez-vous l'ajouter à votre compte ?"
    ));
    assert!(page.contains("École élémentaire Jules Ferry"), "{page}");
    assert!(!page.contains("Lou"), "no name before the date");
    let field = page
        .split("name=\"naissance-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|id| format!("naissance-{id}"))
        .unwrap();
    let answer = |date: &'static str, reply: &'static str| {
        let (server, b, field) = (&server, &b, field.clone());
        async move {
            let page = text(b, server.url("/compte/nouvel-eleve?suite=%2F")).await;
            let proposal = support::hidden_field(&page, "proposition").unwrap();
            post_form(
                server,
                b,
                "/compte/nouvel-eleve?suite=%2F",
                "/compte/nouvel-eleve",
                &[
                    ("suite", "/"),
                    ("proposition", &proposal),
                    (&field, date),
                    ("reponse", reply),
                ],
            )
            .await
        }
    };
    // "Plus tard": on to where the sign-in was going; asked again next time
    let r = answer("", "plus-tard").await;
    assert_eq!(location(&r), "/");
    let r = answer("22/10/2017", "ajouter").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Essais restants : 4"));
    let r = answer("23/10/2017", "ajouter").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Lou LEROY (CE1) est maintenant rattaché(e) à votre compte"),
        "{page}"
    );
    assert_eq!(children(&server, "valerie.leroy").await, ["Lou", "Nina"]);
    // nothing more to propose: the next sign-in goes straight on
    let r = post_sign_in(
        &server,
        &browser(),
        "responsable",
        "valerie.leroy",
        "Parent-2026!",
    )
    .await;
    assert_eq!(location(&r), "/");
    let page = text(&b, server.url("/compte/historique")).await;
    assert!(page.contains("Élève ajouté à votre compte"), "{page}");
}

#[tokio::test]
async fn a_declined_proposal_is_not_asked_again() {
    let server = TestServer::start().await;
    let b = browser();
    post_sign_in(&server, &b, "responsable", "valerie.leroy", "Parent-2026!").await;
    let page = text(&b, server.url("/compte/nouvel-eleve?suite=%2Fcompte")).await;
    let proposal = support::hidden_field(&page, "proposition").unwrap();
    let r = post_form(
        &server,
        &b,
        "/compte/nouvel-eleve?suite=%2Fcompte",
        "/compte/nouvel-eleve",
        &[
            ("suite", "/compte"),
            ("proposition", &proposal),
            ("reponse", "refuser"),
        ],
    )
    .await;
    // on to the next proposal, and there is none: where the sign-in was going
    assert_eq!(location(&r), "/compte/nouvel-eleve?suite=%2Fcompte");
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert_eq!(location(&r), "/compte");
    assert_eq!(children(&server, "valerie.leroy").await, ["Nina"]);
    let r = post_sign_in(
        &server,
        &browser(),
        "responsable",
        "valerie.leroy",
        "Parent-2026!",
    )
    .await;
    assert_eq!(location(&r), "/");
    // an address elsewhere is not a place to go on to
    let r = b
        .get(server.url("/compte/nouvel-eleve?suite=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/");
}

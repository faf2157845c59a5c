//! School administration (SPEC §2.7, seed 004), end to end over HTTP on the demo dataset:
//! the staff sign-in with its TOTP second factor (enrolment by QR code, a code good once, the
//! tries limited), the search with its pages and states, "Régénérer le mot de passe" for a
//! whole class with the PDF letters, unlocking, disabling and enabling, the activation per
//! class, the audit with the staff member's identity, and every route refusing another
//! school's accounts. The admin JSON API with client_credentials tokens is in `admin_api.rs`.

mod support;

use std::io::Read as _;

use idp::demo::{COLLEGE_UAI, DEMO_TOTP_SECRET, LYCEE_UAI};
use idp::domain::account::AccountState;
use idp::domain::totp;
use reqwest::StatusCode;
use support::first_connection::location;
use support::staff::{next_code, post_code, post_password, staff};
use support::{TestServer, account_id, browser, hidden_field, post_sign_in, text};

const COLLEGE_ADMIN: (&str, &str) = ("admin.college", "Direction-College-2026");
const LYCEE_ADMIN: (&str, &str) = ("admin.lycee", "Direction-Lycee-2026");

async fn state_of(server: &TestServer, account: i64) -> AccountState {
    server
        .state
        .accounts
        .by_id(account)
        .await
        .unwrap()
        .unwrap()
        .state
}

/// The ids of the accounts listed by a page (its check boxes, or a confirmation's hidden
/// fields).
fn listed_ids(page: &str) -> Vec<String> {
    page.split("name=\"compte\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// The text of a PDF's pages: each compressed content stream inflated, the strings of its
/// `Tj` operators in order (WinAnsi read as Latin-1).
fn pdf_text(pdf: &[u8]) -> Vec<String> {
    let mut pages = Vec::new();
    let mut rest = pdf;
    while let Some(start) = find(rest, b"stream\n") {
        let body = &rest[start + 7..];
        let end = find(body, b"\nendstream").unwrap();
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&body[..end])
            .read_to_end(&mut inflated)
            .unwrap();
        let latin1: String = inflated.iter().map(|b| char::from(*b)).collect();
        let strings: Vec<String> = latin1
            .split(" Tj")
            .filter_map(|chunk| chunk.find(" Td (").map(|i| &chunk[i + 5..]))
            .map(|s| {
                s.trim_end_matches(')')
                    .replace("\\(", "(")
                    .replace("\\)", ")")
            })
            .collect();
        pages.push(strings.join("\n"));
        rest = &body[end + b"\nendstream".len()..];
    }
    pages
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Posts a form of the page at `page_path` (its CSRF token) to `action`.
async fn post_with_csrf(
    server: &TestServer,
    b: &reqwest::Client,
    page_path: &str,
    action: &str,
    fields: &[(&str, String)],
) -> reqwest::Response {
    let page = text(b, server.url(page_path)).await;
    let mut form = vec![(
        "csrf".to_owned(),
        hidden_field(&page, "csrf").unwrap_or_else(|| panic!("no form on {page_path}: {page}")),
    )];
    form.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    b.post(server.url(action)).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn the_college_regenerates_a_whole_class_and_gets_the_letters() {
    let server = TestServer::start().await;
    let b = staff(&server, COLLEGE_ADMIN).await;
    // one school: straight to its accounts
    let r = b.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(location(&r), format!("/admin/{COLLEGE_UAI}/comptes"));

    let classes = text(&b, server.url(&format!("/admin/{COLLEGE_UAI}/classes"))).await;
    assert!(
        classes.contains("Activation des comptes par classe"),
        "{classes}"
    );
    assert!(classes.contains("4e A"));

    // the class's "Élèves" button: a confirmation first, listing the whole class
    let confirm = post_with_csrf(
        &server,
        &b,
        &format!("/admin/{COLLEGE_UAI}/classes"),
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &[
            ("classe", "4e A".into()),
            ("profil", "eleve".into()),
            ("portee", "tous".into()),
            ("action", "regenerer".into()),
        ],
    )
    .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let confirm = confirm.text().await.unwrap();
    let ids = listed_ids(&confirm);
    let lea = account_id(&server, "lea.martin").await;
    assert!(ids.contains(&lea.to_string()), "{confirm}");
    let in_class = server
        .state
        .schools
        .school_accounts(COLLEGE_UAI)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == idp::domain::account::AccountKind::Eleve && a.classes == ["4e A"])
        .count();
    assert_eq!(ids.len(), in_class, "every pupil of 4e A, and only them");
    assert!(confirm.contains(&format!("Régénérer le mot de passe de {in_class} comptes")));

    let mut form = vec![("csrf".to_owned(), hidden_field(&confirm, "csrf").unwrap())];
    form.extend(ids.iter().map(|id| ("compte".to_owned(), id.clone())));
    let done = b
        .post(server.url(&format!("/admin/{COLLEGE_UAI}/mots-de-passe")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let done = done.text().await.unwrap();
    assert!(
        done.contains(&format!("{in_class} nouveaux mots de passe provisoires")),
        "{done}"
    );
    assert!(done.contains("Message à copier et coller"));
    // Léa's new password, from the table
    let row = done
        .split("<code>lea.martin</code></td><td><code>")
        .nth(1)
        .unwrap();
    let lea_password = row.split("</code>").next().unwrap().to_owned();
    assert!(done.contains(&format!("Mot de passe provisoire : {lea_password}")));

    // the letters: one PDF, one page per pupil, in French, with how to activate
    let link = done
        .split("href=\"")
        .find(|s| s.starts_with(&format!("/admin/{COLLEGE_UAI}/courriers/")))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let pdf = b.get(server.url(&link)).send().await.unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(
        pdf.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{COLLEGE_UAI}-4e_A.pdf"))
    );
    let pdf = pdf.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(String::from_utf8_lossy(&pdf).contains(&format!("/Count {in_class}")));
    let pages = pdf_text(&pdf);
    assert_eq!(pages.len(), in_class);
    let page = pages
        .iter()
        .find(|p| p.contains("Identifiant : lea.martin"))
        .unwrap();
    assert!(
        page.contains("Votre nouveau mot de passe provisoire"),
        "{page}"
    );
    assert!(page.contains(&format!("Mot de passe provisoire : {lea_password}")));
    assert!(
        page.contains("Coll\u{e8}ge Jean Moulin"),
        "WinAnsi é: {page}"
    );
    assert!(page.contains("Choisissez le profil \u{ab} \u{c9}l\u{e8}ve \u{bb}"));
    assert!(page.contains("Pour activer votre compte"));

    // her own password no longer works; the new one leads to the first connection
    let before = post_sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(before.status(), StatusCode::OK, "wrong credentials now");
    let after = post_sign_in(&server, &browser(), "eleve", "lea.martin", &lea_password).await;
    assert!(location(&after).starts_with("/premiere-connexion"));

    // audited with the staff member's identity
    let staff_id = server
        .state
        .staff
        .staff_by_identifier("admin.college")
        .await
        .unwrap()
        .unwrap()
        .id;
    let events = server.state.audit.for_account(lea, 10).await.unwrap();
    let issued = events
        .iter()
        .find(|e| e.event == "temporary_password_issued")
        .unwrap();
    assert_eq!(issued.actor, format!("staff:{staff_id}"));
    assert!(
        issued.details.contains("admin.college"),
        "{}",
        issued.details
    );
    assert!(issued.details.contains(COLLEGE_UAI));
}

#[tokio::test]
async fn a_new_staff_member_enrols_the_app_from_the_qr_code() {
    let server = TestServer::start().await;
    let password = idp::admin::add_staff(
        &server.state,
        "direction.ferry",
        "Anne",
        "ROUX",
        None,
        idp::domain::staff::StaffRole::SchoolAdmin,
        &[idp::demo::ECOLE_UAI.to_owned()],
    )
    .await
    .unwrap();
    let b = browser();
    let r = post_password(&server, &b, "direction.ferry", &password).await;
    assert_eq!(location(&r), "/admin/connexion/code");
    let page = text(&b, server.url("/admin/connexion/code")).await;
    assert!(
        page.contains("data:image/svg+xml;base64,"),
        "the QR code: {page}"
    );
    let key: String = page
        .split("<code id=\"cle\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let secret = totp::from_base32(&key).unwrap();
    assert_eq!(secret.len(), totp::SECRET_BYTES);
    // nothing is stored before a code proves the app holds the secret
    let stored = |server: &TestServer| {
        let staff = server.state.staff.clone();
        async move {
            staff
                .staff_by_identifier("direction.ferry")
                .await
                .unwrap()
                .unwrap()
                .sealed_totp_secret
        }
    };
    assert!(stored(&server).await.is_none());
    let wrong = post_code(&server, &b, "000000").await;
    assert_eq!(wrong.status(), StatusCode::OK);
    assert!(wrong.text().await.unwrap().contains("Code incorrect"));
    let r = post_code(&server, &b, &next_code(&server, &secret)).await;
    assert_eq!(location(&r), "/admin");
    assert!(stored(&server).await.is_some());
    let schools = b.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(
        location(&schools),
        format!("/admin/{}/comptes", idp::demo::ECOLE_UAI)
    );

    // the next sign-in asks the code, without the QR code
    let again = browser();
    post_password(&server, &again, "direction.ferry", &password).await;
    let page = text(&again, server.url("/admin/connexion/code")).await;
    assert!(!page.contains("data:image/svg+xml"));
    let r = post_code(&server, &again, &next_code(&server, &secret)).await;
    assert_eq!(location(&r), "/admin");

    // a lost phone: `idp staff reset` gives a new password and enrols again
    let new_password = idp::admin::reset_staff(&server.state, "direction.ferry")
        .await
        .unwrap();
    assert!(stored(&server).await.is_none());
    let signed_out = again.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(
        location(&signed_out),
        "/admin/connexion",
        "its sessions end"
    );
    let third = browser();
    post_password(&server, &third, "direction.ferry", &new_password).await;
    let page = text(&third, server.url("/admin/connexion/code")).await;
    assert!(page.contains("data:image/svg+xml"));
    let key = page.split("<code id=\"cle\">").nth(1).unwrap();
    let new_secret = totp::from_base32(key.split('<').next().unwrap()).unwrap();
    let r = post_code(&server, &third, &next_code(&server, &new_secret)).await;
    assert_eq!(location(&r), "/admin");
    // the session opened before the reset does not come back with the new enrolment
    let r = again.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(location(&r), "/admin/connexion");
}

/// A code that is none of those the secret gives around this time.
fn wrong_code(server: &TestServer, secret: &[u8]) -> String {
    let now = server.clock_now();
    let good: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|d| totp::code_at(secret, now + d))
        .collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !good.iter().any(|g| g == c))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_code_is_good_once_and_wrong_ones_are_limited() {
    let server = TestServer::start().await;
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap();
    let (identifier, password) = COLLEGE_ADMIN;

    // a wrong password and an unknown identifier get the same answer
    for (who, what) in [(identifier, "pas-le-bon"), ("personne.inconnue", password)] {
        let r = post_password(&server, &browser(), who, what).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Identifiant ou mot de passe incorrect.")
        );
    }
    // no way to the code without the password
    let nobody = browser();
    let r = nobody
        .get(server.url("/admin/connexion/code"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/connexion");

    let first = browser();
    post_password(&server, &first, identifier, password).await;
    let code = totp::code_at(&secret, server.clock_now());
    let r = post_code(&server, &first, &code).await;
    assert_eq!(location(&r), "/admin");
    // the same code again, at once, in another browser: refused
    let second = browser();
    post_password(&server, &second, identifier, password).await;
    let r = post_code(&server, &second, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("déjà utilisé"));

    // five wrong codes end the step: the password must be typed again
    let wrong = wrong_code(&server, &secret);
    for _ in 0..4 {
        let r = post_code(&server, &second, &wrong).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = post_code(&server, &second, &wrong).await;
    assert_eq!(location(&r), "/admin/connexion?info=essais");
    let r = second
        .get(server.url("/admin/connexion/code"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/connexion");

    // wrong codes count in the sign-in throttle over all the steps: typing the password again
    // does not give five new tries for ever
    let third = browser();
    post_password(&server, &third, identifier, password).await;
    let limit = server.state.config.throttle.failures_per_identifier;
    let mut ended = false;
    for _ in 0..limit {
        let r = post_code(&server, &third, &wrong).await;
        if r.status() == StatusCode::SEE_OTHER {
            assert_eq!(location(&r), "/admin/connexion?info=essais");
            ended = true;
            break;
        }
    }
    assert!(ended, "the throttle ends the step");
    let r = post_password(&server, &browser(), identifier, password).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // signing out ends the session
    let page = text(&first, server.url(&format!("/admin/{COLLEGE_UAI}/comptes"))).await;
    let r = first
        .post(server.url("/admin/deconnexion"))
        .form(&[("csrf", hidden_field(&page, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/connexion?info=deconnecte");
    let r = first.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(location(&r), "/admin/connexion");
}

#[tokio::test]
async fn the_search_pages_by_twenty_and_shows_each_state() {
    let server = TestServer::start().await;
    let b = staff(&server, COLLEGE_ADMIN).await;
    let search = |query: &str| {
        let (server, b) = (&server, &b);
        let url = server.url(&format!("/admin/{COLLEGE_UAI}/comptes?{query}"));
        async move { text(b, url).await }
    };
    let pupils = server
        .state
        .schools
        .school_accounts(COLLEGE_UAI)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.kind == idp::domain::account::AccountKind::Eleve)
        .count();
    let pages = pupils.div_ceil(20);
    let first = search("profil=eleve").await;
    assert!(first.contains(&format!("{pupils} résultats")), "{first}");
    assert_eq!(listed_ids(&first).len(), 20);
    assert!(first.contains(&format!("page 1 sur {pages}")));
    assert!(first.contains(&format!("profil=eleve&amp;page={pages}\">dernier »")));
    let last = search(&format!("profil=eleve&page={pages}")).await;
    assert_eq!(listed_ids(&last).len(), pupils - 20 * (pages - 1));
    assert!(last.contains("profil=eleve&amp;page=1\">« premier"));

    // by name, accents and case aside; both profiles
    let martin = search("nom=martin").await;
    for name in ["Léa", "Claire"] {
        assert!(
            martin.contains(&format!("<td>{name}</td>")),
            "{name}: {martin}"
        );
    }
    assert!(martin.contains("Opérationnel"));
    let lea_only = search("nom=Martin&prenom=L%C3%89A").await;
    assert!(lea_only.contains("1 résultat<"), "{lea_only}");

    // locked by failed sign-ins: "Bloqué", until a staff member unlocks it
    for _ in 0..server.state.config.throttle.failures_per_identifier {
        post_sign_in(&server, &browser(), "eleve", "lea.martin", "mauvais").await;
    }
    let refused = post_sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = search("nom=martin&prenom=lea").await;
    assert!(page.contains("Bloqué"), "{page}");
    let lea = account_id(&server, "lea.martin").await;
    let r = post_with_csrf(
        &server,
        &b,
        &format!("/admin/{COLLEGE_UAI}/comptes?nom=martin"),
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &[
            ("nom", "martin".into()),
            ("prenom", "lea".into()),
            ("action", "debloquer".into()),
            ("portee", "selection".into()),
            ("compte", lea.to_string()),
        ],
    )
    .await;
    let back = location(&r);
    assert!(back.contains("fait=debloque&n=1"), "{back}");
    let page = text(&b, server.url(&back)).await;
    assert!(page.contains("1 compte débloqué."), "{page}");
    assert!(page.contains("Opérationnel"));
    let ok = post_sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER, "signs in again");

    // an action without accounts, or accounts without an action
    let r = post_with_csrf(
        &server,
        &b,
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &[
            ("action", "desactiver".into()),
            ("portee", "selection".into()),
        ],
    )
    .await;
    assert!(location(&r).ends_with("erreur=vide"));
    let r = post_with_csrf(
        &server,
        &b,
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &[("compte", lea.to_string())],
    )
    .await;
    assert!(location(&r).ends_with("erreur=action"));
    // a form without its token changes nothing
    let r = b
        .post(server.url(&format!("/admin/{COLLEGE_UAI}/comptes")))
        .form(&[("action", "desactiver"), ("compte", &lea.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions_until_it_is_enabled() {
    let server = TestServer::start().await;
    let b = staff(&server, COLLEGE_ADMIN).await;
    let pupil = browser();
    let r = post_sign_in(&server, &pupil, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let lea = account_id(&server, "lea.martin").await;
    let act = |action: &'static str| {
        let (server, b) = (&server, &b);
        async move {
            post_with_csrf(
                server,
                b,
                &format!("/admin/{COLLEGE_UAI}/comptes"),
                &format!("/admin/{COLLEGE_UAI}/comptes"),
                &[("action", action.into()), ("compte", lea.to_string())],
            )
            .await
        }
    };
    // disabling is asked first
    let confirm = act("desactiver").await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let confirm = confirm.text().await.unwrap();
    assert!(confirm.contains("Désactiver 1 compte"), "{confirm}");
    assert_eq!(listed_ids(&confirm), [lea.to_string()]);
    assert_eq!(
        state_of(&server, lea).await,
        AccountState::Active,
        "not yet"
    );
    let r = b
        .post(server.url(&format!("/admin/{COLLEGE_UAI}/comptes")))
        .form(&[
            ("csrf", hidden_field(&confirm, "csrf").unwrap()),
            ("action", "desactiver".into()),
            ("confirme", "1".into()),
            ("compte", lea.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("fait=desactive&n=1"));
    assert_eq!(state_of(&server, lea).await, AccountState::Disabled);
    let r = pupil.get(server.url("/compte")).send().await.unwrap();
    assert!(location(&r).starts_with("/login"), "her session ended");
    let r = post_sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    assert!(r.text().await.unwrap().contains("Compte désactivé"));
    let page = text(
        &b,
        server.url(&format!(
            "/admin/{COLLEGE_UAI}/comptes?nom=martin&prenom=lea"
        )),
    )
    .await;
    assert!(page.contains("Désactivé"));
    // disabled accounts are left out of a regeneration
    let confirm = act("regenerer").await.text().await.unwrap();
    assert!(confirm.contains("Désactivé"));

    assert!(location(&act("reactiver").await).contains("fait=reactive&n=1"));
    assert_eq!(state_of(&server, lea).await, AccountState::Active);
    let r = post_sign_in(&server, &browser(), "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let kinds: Vec<String> = server
        .state
        .audit
        .for_account(lea, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(kinds.contains(&"account_disabled".to_owned()));
    assert!(kinds.contains(&"account_enabled".to_owned()));
}

/// A request of the administration: method, path, form fields.
type Route = (&'static str, String, Vec<(&'static str, String)>);

/// Every page and form of the administration, for a school.
fn routes(uai: &str, account: i64) -> Vec<Route> {
    let id = account.to_string();
    vec![
        ("GET", format!("/admin/{uai}"), vec![]),
        ("GET", format!("/admin/{uai}/comptes"), vec![]),
        ("GET", format!("/admin/{uai}/comptes?nom=martin"), vec![]),
        ("GET", format!("/admin/{uai}/classes"), vec![]),
        ("GET", format!("/admin/{uai}/courriers/lot-inconnu"), vec![]),
        (
            "POST",
            format!("/admin/{uai}/comptes"),
            vec![("action", "regenerer".into()), ("compte", id.clone())],
        ),
        (
            "POST",
            format!("/admin/{uai}/comptes"),
            vec![("seul", id.clone())],
        ),
        (
            "POST",
            format!("/admin/{uai}/comptes"),
            vec![("action", "desactiver".into()), ("compte", id.clone())],
        ),
        (
            "POST",
            format!("/admin/{uai}/comptes"),
            vec![("action", "debloquer".into()), ("compte", id.clone())],
        ),
        (
            "POST",
            format!("/admin/{uai}/comptes"),
            vec![
                ("action", "regenerer".into()),
                ("portee", "tous".into()),
                ("classe", "4e A".into()),
            ],
        ),
        (
            "POST",
            format!("/admin/{uai}/mots-de-passe"),
            vec![("compte", id.clone())],
        ),
    ]
}

#[tokio::test]
async fn every_route_refuses_another_schools_accounts() {
    let server = TestServer::start().await;
    let lycee = staff(&server, LYCEE_ADMIN).await;
    let lea = account_id(&server, "lea.martin").await;
    let before = server.state.accounts.by_id(lea).await.unwrap().unwrap();
    let csrf = hidden_field(
        &text(&lycee, server.url(&format!("/admin/{LYCEE_UAI}/comptes"))).await,
        "csrf",
    )
    .unwrap();
    let send = |b: &reqwest::Client, method: &str, path: &str, fields: &[(&str, String)]| {
        let mut form = vec![("csrf".to_owned(), csrf.clone())];
        form.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let request = match method {
            "GET" => b.get(server.url(path)),
            _ => b.post(server.url(path)).form(&form),
        };
        async move { request.send().await.unwrap() }
    };

    // the collège's pages and forms, and a made-up school: refused alike
    for uai in [COLLEGE_UAI, "9999999Z"] {
        for (method, path, fields) in routes(uai, lea) {
            let r = send(&lycee, method, &path, &fields).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
            assert!(r.text().await.unwrap().contains("Accès refusé"));
        }
    }
    // the collège's accounts through the lycée's own pages
    for (method, path, fields) in routes(LYCEE_UAI, lea) {
        if fields.iter().any(|(k, _)| *k == "compte" || *k == "seul") {
            let r = send(&lycee, method, &path, &fields).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} {fields:?}"
            );
        }
    }
    assert_eq!(
        server.state.accounts.by_id(lea).await.unwrap().unwrap(),
        before,
        "nothing changed"
    );
    let events = server.state.audit.for_account(lea, 50).await.unwrap();
    assert!(events.iter().all(|e| !e.actor.starts_with("staff:")));

    // the collège's letters are its administrator's only
    let college = staff(&server, COLLEGE_ADMIN).await;
    let confirm = send(
        &college,
        "POST",
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &[("seul", lea.to_string())],
    )
    .await;
    assert_eq!(
        confirm.status(),
        StatusCode::FORBIDDEN,
        "the lycée's CSRF token is not this browser's"
    );
    let r = post_with_csrf(
        &server,
        &college,
        &format!("/admin/{COLLEGE_UAI}/comptes"),
        &format!("/admin/{COLLEGE_UAI}/mots-de-passe"),
        &[("compte", lea.to_string())],
    )
    .await
    .text()
    .await
    .unwrap();
    let link = r
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .find(|href| href.contains("/courriers/"))
        .unwrap_or_else(|| panic!("{r}"));
    let lot = link.rsplit('/').next().unwrap();
    let r = send(&lycee, "GET", &link, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(
        &lycee,
        "GET",
        &format!("/admin/{LYCEE_UAI}/courriers/{lot}"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // without a staff session, every route leads to the staff sign-in; a pupil's or a
    // guardian's session is no staff session
    let guardian = browser();
    post_sign_in(
        &server,
        &guardian,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    for b in [browser(), guardian] {
        for (method, path, fields) in routes(COLLEGE_UAI, lea) {
            let r = send(&b, method, &path, &fields).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{method} {path}");
            assert_eq!(location(&r), "/admin/connexion", "{method} {path}");
        }
    }
}

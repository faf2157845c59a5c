//! "S'identifier avec FranceConnect" end to end over HTTP, against the FranceConnect sandbox
//! (a development OpenID Connect provider with FranceConnect v2's paths, ES256 ID tokens and
//! signed userinfo): the button, the matching of the identité pivot to guardian records, the
//! children's birth dates, the account, single sign-on to a service with FrEduOrigAuth = FC,
//! the FranceConnect session ended at logout, and every refusal with no session opened.

mod support;

use reqwest::StatusCode;
use support::{TestServer, browser, hidden_field};

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn query_value(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// From the IdP's button to the sandbox's picker, then picks `identity`; returns the IdP
/// callback URL the sandbox sends the browser to.
async fn pick(server: &TestServer, b: &reqwest::Client, identity: &str, next: &str) -> String {
    let r = b
        .get(server.url(&format!("/upstream/franceconnect/login?next={next}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let authorize = location(&r);
    let picker = b.get(&authorize).send().await.unwrap();
    assert_eq!(picker.status(), StatusCode::OK, "{authorize}");
    let page = picker.text().await.unwrap();
    let request = hidden_field(&page, "request").expect("the identity picker");
    let sandbox = url::Url::parse(&authorize).unwrap();
    let r = b
        .post(sandbox.join("/api/v2/choose").unwrap())
        .form(&[("request", request.as_str()), ("identity", identity)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    location(&r)
}

/// Signs in through the sandbox as `identity` and returns the IdP's answer to the callback.
async fn sign_in(server: &TestServer, b: &reqwest::Client, identity: &str) -> reqwest::Response {
    let callback = pick(server, b, identity, "/").await;
    assert!(
        callback.starts_with(&server.url("/upstream/franceconnect/callback?")),
        "{callback}"
    );
    b.get(&callback).send().await.unwrap()
}

/// The birth-date form of a linking in progress; returns its URL's id and the page.
async fn dates_form(
    server: &TestServer,
    b: &reqwest::Client,
    r: reqwest::Response,
) -> (String, String) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with("/rattacher-des-eleves?id="), "{to}");
    let intro = support::text(b, server.url(&to)).await;
    assert!(intro.contains("Rattacher des élèves"), "{intro}");
    let id = query_value(&server.url(&to), "id").unwrap();
    let page = support::text(
        b,
        server.url(&format!("/rattacher-des-eleves/dates?id={id}")),
    )
    .await;
    (id, page)
}

/// The pupil ids of the date fields of a page, in order.
fn date_fields(page: &str) -> Vec<String> {
    page.match_indices("name=\"naissance-")
        .map(|(i, m)| {
            let rest = &page[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

async fn submit_dates(
    server: &TestServer,
    b: &reqwest::Client,
    id: &str,
    page: &str,
    dates: &[&str],
) -> reqwest::Response {
    let mut form = vec![
        ("csrf".to_owned(), hidden_field(page, "csrf").unwrap()),
        ("id".to_owned(), id.to_owned()),
    ];
    for (pupil, date) in date_fields(page).into_iter().zip(dates) {
        form.push((format!("naissance-{pupil}"), (*date).to_owned()));
    }
    b.post(server.url("/rattacher-des-eleves/dates"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Whether the browser has an SSO session: `prompt=none` at the demo ENT's client answers
/// with a code only then.
async fn has_session(server: &TestServer, b: &reqwest::Client) -> bool {
    let client = server.state.registry.oidc_client("ent-demo").unwrap();
    let mut probe = url::Url::parse(&server.url("/oidc/authorize")).unwrap();
    probe
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "ent-demo")
        .append_pair("scope", "openid")
        .append_pair("prompt", "none")
        .append_pair("state", "probe")
        .append_pair("redirect_uri", &client.redirect_uris[0]);
    let r = b.get(probe.as_str()).send().await.unwrap();
    query_value(&location(&r), "code").is_some()
}

#[tokio::test]
async fn the_button_comes_first_on_the_guardians_page_only() {
    let (server, _, _) = TestServer::start_with_sandbox("").await;
    let b = browser();
    let page = support::text(&b, server.url("/login?profil=responsable")).await;
    let button = page
        .find("S'identifier avec <strong>FranceConnect</strong>")
        .expect(&page);
    let or = page.find("<span>OU</span>").unwrap();
    let form = page
        .find("<form method=\"post\" action=\"/login\"")
        .unwrap();
    assert!(
        button < or && or < form,
        "the button first, then OU, then the form"
    );
    assert!(
        page.contains(
            "<a href=\"https://franceconnect.gouv.fr/\" target=\"_blank\" rel=\"noopener\""
        )
    );
    assert!(page.contains("src=\"/static/franceconnect.svg\""));
    let logo = b
        .get(server.url("/static/franceconnect.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    let pupils = support::text(&b, server.url("/login?profil=eleve")).await;
    assert!(!pupils.contains("FranceConnect"), "not for pupils");
}

#[tokio::test]
async fn the_request_to_franceconnect_follows_its_rules() {
    let (server, ports, _) = TestServer::start_with_sandbox("").await;
    let r = browser()
        .get(server.url("/upstream/franceconnect/login?next=/"))
        .send()
        .await
        .unwrap();
    let authorize = location(&r);
    assert!(authorize.starts_with(&format!("{}/authorize?", ports.sandbox_issuer())));
    for (name, expected) in [
        ("response_type", "code"),
        ("client_id", idp::demo::SANDBOX_CLIENT_ID),
        ("acr_values", "eidas1"),
    ] {
        assert_eq!(
            query_value(&authorize, name).as_deref(),
            Some(expected),
            "{name}"
        );
    }
    assert!(query_value(&authorize, "state").unwrap().len() >= 32);
    assert!(query_value(&authorize, "nonce").unwrap().len() >= 32);
    let scope = query_value(&authorize, "scope").unwrap();
    for s in [
        "openid",
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
    ] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
    assert_eq!(
        query_value(&authorize, "redirect_uri").unwrap(),
        server.url("/upstream/franceconnect/callback")
    );
}

#[tokio::test]
async fn a_guardian_with_an_account_links_it_by_the_birth_dates_then_goes_straight_through() {
    let (server, ports, ended) = TestServer::start_with_sandbox("").await;
    let b = browser();
    // Claire: FranceConnect gives her birth name DUPONT, the schools know her as MARTIN
    let r = sign_in(&server, &b, "claire").await;
    let (id, page) = dates_form(&server, &b, r).await;
    // before the dates, the children are named only by their order: nothing to learn
    assert!(page.contains("Premier enfant (le plus âgé)"), "{page}");
    assert!(page.contains("Enfant n° 2"), "{page}");
    for secret in ["Léa", "Hugo", "Collège", "4e A", "2012-03-14"] {
        assert!(
            !page.contains(secret),
            "{secret} shown before the dates: {page}"
        );
    }
    assert!(
        !has_session(&server, &b).await,
        "no session before the dates"
    );

    // one wrong date: refused, tries counted, nothing linked
    let wrong = submit_dates(&server, &b, &id, &page, &["14/03/2012", "2015-09-03"]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = wrong.text().await.unwrap();
    assert!(again.contains("Essais restants : 4"), "{again}");
    // right dates (both ways of typing them): linked to her account, signed in
    let done = submit_dates(&server, &b, &id, &again, &["14/03/2012", "2015-09-02"]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let summary = done.text().await.unwrap();
    assert!(summary.contains("Votre compte est prêt"), "{summary}");
    assert!(
        summary.contains("<td id=\"identifiant\">claire.martin</td>"),
        "{summary}"
    );
    assert!(summary.contains("0611223344"));
    // the account's own e-mail: none confirmed yet (the school's copy is not the account's)
    assert!(summary.contains("<td>non renseignée</td>"), "{summary}");
    assert!(
        summary.contains("Léa M. – Collège Jean Moulin, 4e A"),
        "{summary}"
    );
    assert!(summary.contains("Hugo M. – École élémentaire Jules Ferry, CM2"));
    assert!(has_session(&server, &b).await);
    // the same page posted again links nothing twice
    let replay = submit_dates(&server, &b, &id, &again, &["14/03/2012", "2015-09-02"]).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // a service sees FrEduOrigAuth = FC (the demo ENT shows the claims it received)
    let ent = browser_ent_page(&b, &ports).await;
    assert!(ent.contains("Bonjour Claire MARTIN"), "{ent}");
    assert!(
        ent.contains("&#34;FrEduOrigAuth&#34;: &#34;FC&#34;"),
        "{ent}"
    );

    // logout ends the FranceConnect session too (session/end with the ID token as hint)
    let r = b.get(server.url("/logout")).send().await.unwrap();
    let page = r.text().await.unwrap();
    let r = b
        .post(server.url("/logout"))
        .form(&[("csrf", hidden_field(&page, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    // every service is told first (the logout page), FranceConnect last
    let to_page = location(&r);
    assert!(to_page.starts_with("/deconnexion?id="), "{to_page}");
    let page = support::text(&b, server.url(&to_page)).await;
    assert!(page.contains("ENT de démonstration"), "{page}");
    let next = page
        .split("id=\"logout-next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a way on to FranceConnect")
        .to_owned();
    let r = b.get(server.url(&next)).send().await.unwrap();
    let to_fc = location(&r);
    assert!(
        to_fc.starts_with(&format!("{}/session/end?", ports.sandbox_issuer())),
        "{to_fc}"
    );
    assert!(query_value(&to_fc, "id_token_hint").is_some());
    let r = b.get(&to_fc).send().await.unwrap();
    let back = location(&r);
    assert!(back.starts_with(&server.url("/upstream/franceconnect/logout-callback?state=")));
    let r = b.get(&back).send().await.unwrap();
    // back from FranceConnect: the list again, with nothing left to do
    let last = location(&r);
    assert!(last.starts_with("/deconnexion?id="), "{last}");
    let page = support::text(&b, server.url(&last)).await;
    assert!(
        page.contains("ENT de démonstration") && !page.contains("logout-next"),
        "{page}"
    );
    assert_eq!(ended.id_token_hints().len(), 1);
    assert!(!has_session(&server, &b).await);

    // the next time: straight through, no linking
    let r = sign_in(&server, &b, "claire").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert!(has_session(&server, &b).await);
}

/// The demo ENT's home page after "Se connecter" (by single sign-on).
async fn browser_ent_page(b: &reqwest::Client, ports: &idp::demo::DemoPorts) -> String {
    let mut url = format!("http://127.0.0.1:{}/connexion", ports.ent);
    for _ in 0..10 {
        let r = b.get(&url).send().await.unwrap();
        match r.headers().get("location") {
            Some(l) => {
                url = url::Url::parse(&url)
                    .unwrap()
                    .join(l.to_str().unwrap())
                    .unwrap()
                    .to_string()
            }
            None => return r.text().await.unwrap(),
        }
    }
    panic!("too many redirects");
}

#[tokio::test]
async fn a_guardian_without_an_account_gets_one_with_an_identifier() {
    let (server, _, _) = TestServer::start_with_sandbox("").await;
    let b = browser();
    let r = sign_in(&server, &b, "paul").await;
    let (id, page) = dates_form(&server, &b, r).await;
    let done = submit_dates(&server, &b, &id, &page, &["2013-06-21"]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let summary = done.text().await.unwrap();
    assert!(
        summary.contains("Jules D. – Collège Jean Moulin, 6e B"),
        "{summary}"
    );
    assert!(
        summary.contains("paul.durand <small>(conservez-le précieusement)</small>"),
        "{summary}"
    );
    assert!(summary.contains("0612345678"));
    let account = server
        .state
        .accounts
        .by_identifier("paul.durand")
        .await
        .unwrap()
        .unwrap();
    assert!(
        account.password_hash.is_none(),
        "no password: FranceConnect only"
    );
    let children = server.state.accounts.children_of(account.id).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].first_name, "Jules");
    // a password sign-in cannot open this account
    let r = support::post_sign_in(&server, &b, "responsable", "paul.durand", "").await;
    assert_eq!(r.status(), StatusCode::OK, "the form again, with an error");
}

/// Gives Paul's child a wrong date as many times as an attempt allows: refused each time with
/// the form again, then with `last` and a page saying `says`; returns the last form shown.
async fn wrong_dates_until(
    server: &TestServer,
    b: &reqwest::Client,
    id: &str,
    mut page: String,
    last: StatusCode,
    says: &str,
) -> String {
    for n in 0..idp::protocol::upstream::LINK_TRIES {
        let r = submit_dates(server, b, id, &page, &["2013-06-22"]).await;
        if n + 1 < idp::protocol::upstream::LINK_TRIES {
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            page = r.text().await.unwrap();
        } else {
            assert_eq!(r.status(), last);
            assert!(r.text().await.unwrap().contains(says));
        }
    }
    page
}

#[tokio::test]
async fn too_many_wrong_dates_stop_the_linking() {
    let (server, _, _) = TestServer::start_with_sandbox("").await;
    let b = browser();
    let r = sign_in(&server, &b, "paul").await;
    let (id, page) = dates_form(&server, &b, r).await;
    let page = wrong_dates_until(&server, &b, &id, page, StatusCode::FORBIDDEN, "interrompu").await;
    let r = submit_dates(&server, &b, &id, &page, &["2013-06-21"]).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the right date comes too late"
    );
    // signing in again gives a new attempt, not new tries for the day: the records are
    // suspended after twice the tries
    let r = sign_in(&server, &b, "paul").await;
    let (id, page) = dates_form(&server, &b, r).await;
    wrong_dates_until(
        &server,
        &b,
        &id,
        page,
        StatusCode::TOO_MANY_REQUESTS,
        "suspendu",
    )
    .await;
    let r = sign_in(&server, &b, "paul").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "no third attempt today"
    );
    assert!(
        server
            .state
            .accounts
            .by_identifier("paul.durand")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn nobody_or_several_matching_records_get_a_clear_message_and_no_session() {
    let (server, _, _) = TestServer::start_with_sandbox("").await;
    let b = browser();
    let r = sign_in(&server, &b, "inconnue").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Aucun dossier trouvé"), "{page}");
    assert!(page.contains("href=\"/inscription\""));
    let r = sign_in(&server, &b, "nadia").await;
    let page = r.text().await.unwrap();
    assert!(page.contains("Plusieurs dossiers possibles"), "{page}");
    assert!(!has_session(&server, &b).await);
}

#[tokio::test]
async fn every_refused_answer_is_explained_and_opens_no_session() {
    let (server, _, _) = TestServer::start_with_sandbox("").await;
    let b = browser();
    for identity in ["expire", "nonce", "cle", "userinfo", "acr"] {
        let r = sign_in(&server, &b, identity).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{identity}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("n&#39;a pas pu être vérifiée"),
            "{identity}: {page}"
        );
    }
    // a key renewed at the provider after the IdP read its key set: fetched again, accepted
    let r = sign_in(&server, &b, "nouvelle-cle").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with("/rattacher-des-eleves?id="),
        "{}",
        location(&r)
    );
    // another state: the callback matches no sign-in of this browser
    let r = sign_in(&server, &b, "state").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expiré"));
    // "Annuler" at FranceConnect: access_denied, explained
    let r = b
        .get(server.url("/upstream/franceconnect/login?next=/"))
        .send()
        .await
        .unwrap();
    let picker = support::text(&b, location(&r)).await;
    let cancel = picker
        .split("id=\"annuler\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let r = b.get(&cancel).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{cancel}");
    assert!(r.text().await.unwrap().contains("annulé"));
    // a callback replayed, or carried to another browser, is refused
    let callback = pick(&server, &b, "paul", "/").await;
    let other = browser();
    let r = other.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "another browser");
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the state was used up");
    assert!(!has_session(&server, &b).await);
}

#[tokio::test]
async fn franceconnect_down_is_explained() {
    // a provider nobody listens at
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let extra = format!(
        "[[upstream]]\nid = 'franceconnect'\nissuer = 'http://127.0.0.1:{port}/api/v2'\nclient_id = 'c'\nclient_secret = 's'"
    );
    let (server, _, _) = TestServer::start_with_sandbox(&extra).await;
    let r = browser()
        .get(server.url("/upstream/franceconnect/login?next=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await.unwrap().contains("ne répond pas"));
}

/// Signs in with identifier and password on the guardians' page.
async fn password_sign_in(
    server: &TestServer,
    b: &reqwest::Client,
    identifier: &str,
    password: &str,
) {
    let r = support::post_sign_in(server, b, "responsable", identifier, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
}

/// From "Se connecter aussi avec FranceConnect" to the sandbox, with the account's password.
async fn link_from_account(
    server: &TestServer,
    b: &reqwest::Client,
    password: &str,
) -> reqwest::Response {
    let page = support::text(b, server.url("/compte/franceconnect")).await;
    b.post(server.url("/compte/franceconnect"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("password", password.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

/// At the sandbox: picks `identity` for the authorization request at `authorize`, then
/// follows the callback at the IdP.
async fn pick_at(b: &reqwest::Client, authorize: &str, identity: &str) -> reqwest::Response {
    let page = support::text(b, authorize).await;
    let request = hidden_field(&page, "request").unwrap();
    let sandbox = url::Url::parse(authorize).unwrap();
    let r = b
        .post(sandbox.join("/api/v2/choose").unwrap())
        .form(&[("request", request.as_str()), ("identity", identity)])
        .send()
        .await
        .unwrap();
    b.get(location(&r)).send().await.unwrap()
}

#[tokio::test]
async fn an_account_with_a_password_links_franceconnect_after_its_password() {
    let (server, ports, _) = TestServer::start_with_sandbox("").await;
    let b = browser();
    password_sign_in(&server, &b, "claire.martin", "Parent-2026!").await;
    let home = support::text(&b, server.url("/")).await;
    assert!(
        home.contains("Se connecter aussi avec FranceConnect"),
        "{home}"
    );
    // the password first; a wrong one is refused and goes nowhere
    let r = link_from_account(&server, &b, "not-my-password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Mot de passe incorrect"));
    // the page's form may lead to the provider (CSP form-action)
    let r = b
        .get(server.url("/compte/franceconnect"))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let sandbox_origin = format!("http://127.0.0.1:{}", ports.franceconnect);
    assert!(
        csp.contains(&format!("form-action 'self' {sandbox_origin};")),
        "{csp}"
    );
    // someone else's identity is not linked
    let r = link_from_account(&server, &b, "Parent-2026!").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = pick_at(&b, &location(&r), "paul").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("ne correspond pas au titulaire")
    );
    // her own: linked; the next FranceConnect sign-in goes straight to her account
    let r = link_from_account(&server, &b, "Parent-2026!").await;
    let r = pick_at(&b, &location(&r), "claire").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("FranceConnect est relié à votre compte")
    );
    let home = support::text(&b, server.url("/")).await;
    assert!(!home.contains("Se connecter aussi avec"), "linked already");
    let other = browser();
    let r = sign_in(&server, &other, "claire").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/", "no linking the second time");
    // signed in through FranceConnect: told where the password is changed (seed 001), and
    // the logout form may lead to the provider's end-session endpoint
    let r = other.get(server.url("/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&sandbox_origin), "{csp}");
    let home = r.text().await.unwrap();
    assert!(
        home.contains("Vous vous êtes connecté avec FranceConnect"),
        "{home}"
    );
    assert!(home.contains("changez-le auprès du compte que vous avez choisi sur FranceConnect"));
    let r = other
        .get(server.url("/compte/franceconnect"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&r),
        "/",
        "nothing to link for a FranceConnect session"
    );
}

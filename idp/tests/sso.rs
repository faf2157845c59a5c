//! Single sign-on and single logout across protocols, end to end over HTTP, with the demo ENT
//! (an OpenID Connect client on the openidconnect crate) and the demo Pronote (a CAS client)
//! running as `idp demo` runs them: sign in once at one, open the other without signing in
//! again, sign out from either, and both are signed out.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::{TestServer, browser, hidden_field};

/// Where a response sends the browser, as an absolute URL.
fn next_url(current: &str, r: &reqwest::Response) -> Option<String> {
    let location = r.headers().get("location")?.to_str().ok()?;
    Some(
        url::Url::parse(current)
            .ok()?
            .join(location)
            .ok()?
            .to_string(),
    )
}

/// Follows redirects as a browser would (GET after a 303), up to a page; returns its URL,
/// status and text.
async fn follow(
    b: &reqwest::Client,
    start: reqwest::Response,
    from: &str,
) -> (String, StatusCode, String) {
    let mut response = start;
    let mut url = from.to_owned();
    for _ in 0..15 {
        match next_url(&url, &response) {
            Some(next) if response.status().is_redirection() => {
                url = next;
                response = b.get(&url).send().await.unwrap();
            }
            _ => {
                let status = response.status();
                return (url, status, response.text().await.unwrap());
            }
        }
    }
    panic!("too many redirects, last at {url}");
}

async fn open(b: &reqwest::Client, url: &str) -> (String, StatusCode, String) {
    let r = b.get(url).send().await.unwrap();
    follow(b, r, url).await
}

/// Chooses the profile on the IdP's sign-in page at `login`, fills the form and follows where
/// it leads.
async fn sign_in(
    server: &TestServer,
    b: &reqwest::Client,
    login: &str,
    (profile, identifier, password): (&str, &str, &str),
) -> (String, StatusCode, String) {
    let (_, _, page) = open(b, &format!("{login}&profil={profile}")).await;
    let page = page.as_str();
    let form = support::sign_in_form(page, identifier, password);
    let url = server.url("/login");
    let r = b.post(&url).form(&form).send().await.unwrap();
    follow(b, r, &url).await
}

/// Posts a service's "Se déconnecter" form (on `page`, at `service`) and follows it.
async fn sign_out(b: &reqwest::Client, service: &str, page: &str) -> (String, StatusCode, String) {
    let url = format!("{}/deconnexion", service.trim_end_matches('/'));
    let r = b
        .post(&url)
        .form(&[(
            "csrf",
            hidden_field(page, "csrf").expect("a signed-in page"),
        )])
        .send()
        .await
        .unwrap();
    follow(b, r, &url).await
}

/// Whether a service's home page shows someone signed in.
fn signed_in(page: &str) -> bool {
    page.contains("Bonjour ")
}

/// Waits for a background single-logout message to have reached a service.
async fn eventually_signed_out(
    b: &reqwest::Client,
    url: &str,
    signed_out: impl Fn(&str, &str) -> bool,
) {
    for _ in 0..50 {
        let (at, _, page) = open(b, url).await;
        if signed_out(&at, &page) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} still shows a session");
}

const CLAIRE: (&str, &str, &str) = ("responsable", "claire.martin", "Parent-2026!");
const LEA: (&str, &str, &str) = ("eleve", "lea.martin", "Cartable-2026");

#[tokio::test]
async fn ent_then_pronote_without_signing_in_again_then_logout_from_pronote_ends_both() {
    let (server, ports) = TestServer::start_with_demo_services().await;
    let site = ports.site();
    let ent = format!("{}/", site.ent);
    let b = browser();

    // the ENT sends the person to the IdP, which asks to sign in
    let (at, _, _) = open(&b, &format!("{}/connexion", site.ent)).await;
    assert!(at.starts_with(&server.url("/login?")), "{at}");
    let (at, status, page) = sign_in(&server, &b, &at, CLAIRE).await;
    assert_eq!(
        (at.as_str(), status),
        (ent.as_str(), StatusCode::OK),
        "{page}"
    );
    assert!(page.contains("Bonjour Claire MARTIN"), "{page}");
    assert!(page.contains("Représentant légal"));
    // both children, with school and class, from the userinfo claims
    assert!(
        page.contains("<td>Léa MARTIN</td><td>Collège Jean Moulin</td><td>4e A</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>Hugo MARTIN</td><td>École élémentaire Jules Ferry</td><td>CM2</td>"),
        "{page}"
    );
    assert!(page.contains("FrEduCtEnfants"), "the raw claims are shown");

    // Pronote opens without a second sign-in: CAS login, ticket, validation
    let (at, status, pronote_page) = open(&b, &site.pronote).await;
    assert_eq!(
        (at.as_str(), status),
        (site.pronote.as_str(), StatusCode::OK)
    );
    assert!(
        pronote_page.contains("Bonjour Claire MARTIN"),
        "{pronote_page}"
    );
    assert!(pronote_page.contains("Représentant légal"));
    assert!(
        pronote_page.contains("FrEduVecteur = 2|MARTIN|Claire|JM-E0001|0141234A"),
        "{pronote_page}"
    );
    assert!(pronote_page.contains("Élève n° JF-E0001</td><td>École élémentaire Jules Ferry"));

    // sign out from Pronote: the IdP's page lists both services
    let (at, status, bye) = sign_out(&b, &site.pronote, &pronote_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(at.starts_with(&server.url("/deconnexion?id=")), "{at}");
    assert!(bye.contains("ENT de démonstration"), "{bye}");
    assert!(bye.contains("Pronote de démonstration"), "{bye}");
    // the ENT was told by back-channel logout: its session is gone
    eventually_signed_out(&b, &ent, |_, page| !signed_in(page)).await;
    // and Pronote sends the person to sign in again
    let (at, _, _) = open(&b, &site.pronote).await;
    assert!(at.starts_with(&server.url("/login")), "{at}");
}

#[tokio::test]
async fn pronote_then_ent_without_signing_in_again_then_logout_from_the_ent_ends_both() {
    let (server, ports) = TestServer::start_with_demo_services().await;
    let site = ports.site();
    let ent = format!("{}/", site.ent);
    let b = browser();

    // Pronote first: the IdP asks to sign in, then Pronote shows the pupil
    let (at, _, _) = open(&b, &site.pronote).await;
    assert!(at.starts_with(&server.url("/login?")), "{at}");
    let (at, _, page) = sign_in(&server, &b, &at, LEA).await;
    assert_eq!(at, site.pronote);
    assert!(page.contains("Bonjour Léa MARTIN"), "{page}");
    assert!(page.contains("Élève") && page.contains("Collège Jean Moulin"));

    // the ENT signs in without asking
    let (at, _, ent_page) = open(&b, &format!("{}/connexion", site.ent)).await;
    assert_eq!(at, ent);
    assert!(ent_page.contains("Bonjour Léa MARTIN"), "{ent_page}");
    assert!(ent_page.contains("Ouvrir Pronote"));

    // a logout form posted from elsewhere (no CSRF token) ends nothing
    let r = b
        .post(format!("{}/deconnexion", site.ent))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // sign out from the ENT: end-session with the ID token as hint, straight back to the ENT
    let (at, status, page) = sign_out(&b, &site.ent, &ent_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(at.starts_with(&format!("{ent}?state=")), "{at}");
    assert!(page.contains("Vous êtes déconnecté"), "{page}");
    // Pronote was told by CAS single logout: it sends the person to sign in again
    eventually_signed_out(&b, &site.pronote, |at, _| {
        at.starts_with(&server.url("/login"))
    })
    .await;
    // the IdP session is gone too
    let (at, _, _) = open(&b, &format!("{}/connexion", site.ent)).await;
    assert!(at.starts_with(&server.url("/login")), "{at}");
}

#[tokio::test]
async fn a_forged_logout_token_or_ticket_changes_nothing() {
    let (server, ports) = TestServer::start_with_demo_services().await;
    let site = ports.site();
    let b = browser();
    let (at, _, _) = open(&b, &format!("{}/connexion", site.ent)).await;
    let (_, _, page) = sign_in(&server, &b, &at, LEA).await;
    assert!(signed_in(&page));
    // an unsigned logout token is refused by the ENT
    let header = "eyJhbGciOiJub25lIiwidHlwIjoibG9nb3V0K2p3dCJ9";
    let r = reqwest::Client::new()
        .post(format!("{}/backchannel-logout", site.ent))
        .form(&[("logout_token", format!("{header}.e30."))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, _, page) = open(&b, &format!("{}/", site.ent)).await;
    assert!(signed_in(&page), "still signed in");
    // a made-up ticket is refused by the IdP, and Pronote says so
    let (_, status, page) = open(&b, &format!("{}?ticket=ST-forged", site.pronote)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("INVALID_TICKET"), "{page}");
}

/// The form-action sources of a page's Content-Security-Policy.
fn form_action(r: &reqwest::Response) -> Vec<String> {
    let policy = r.headers()["content-security-policy"].to_str().unwrap();
    policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("form-action "))
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_sign_in_form_may_lead_on_to_the_service_it_returns_to() {
    // browsers check form-action against the redirects that follow a form: the sign-in page
    // of a flow must name the relying party's origin, or the browser stops after the POST
    let (server, ports) = TestServer::start_with_demo_services().await;
    let site = ports.site();
    let b = browser();
    for start in [format!("{}/connexion", site.ent), site.pronote.clone()] {
        let (login, _, _) = open(&b, &start).await;
        let r = b.get(format!("{login}&profil=eleve")).send().await.unwrap();
        let origin = url::Url::parse(&start)
            .unwrap()
            .origin()
            .ascii_serialization();
        assert_eq!(
            form_action(&r),
            ["'self'".to_owned(), origin.clone()],
            "{start}"
        );
        // shown again after a wrong password, it still may
        let page = r.text().await.unwrap();
        let form = support::sign_in_form(&page, "lea.martin", "wrong-password-1");
        let r = b
            .post(server.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(form_action(&r), ["'self'".to_owned(), origin], "{start}");
    }
    // a sign-in page of no flow keeps its forms here
    let r = b
        .get(server.url("/login?profil=eleve"))
        .send()
        .await
        .unwrap();
    assert_eq!(form_action(&r), ["'self'"]);
    let r = b
        .get(server.url("/login?profil=eleve&next=/oidc/authorize/resume%3Fflow%3Dunknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(form_action(&r), ["'self'"]);
}

//! CAS 3.0 end to end over HTTP: a service sends the browser to /cas/login, gets a ticket back,
//! validates it server to server, and is told at logout. (python-cas is exercised by
//! tests/interop.)

mod support;

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use support::{TestServer, browser};

/// A CAS service registered on `service` (exact) with the profile's main attributes.
fn registration(service: &str) -> String {
    format!(
        "protocol = \"cas\"\nid = \"pronote\"\nname = \"Pronote\"\nservices = [\"{service}\"]\nattributes = [\"sn\", \"givenName\", \"FrEduCtPersonAffiliation\", \"FrEduVecteur\", \"FrEduCtEleveUAI\"]\n"
    )
}

async fn start(service: &str) -> TestServer {
    TestServer::start_with_clients("", &[("pronote", &registration(service))]).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signs in on the page `login` (a /login?next=… path) and returns where the IdP goes next.
async fn sign_in_at(server: &TestServer, b: &reqwest::Client, login: &str) -> String {
    let page = b
        .get(server.url(&format!("{login}&profil=eleve")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = support::sign_in_form(&page, "lea.martin", "Cartable-2026");
    let r = b
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    location(&r)
}

/// /cas/login for `service`, through the sign-in page if needed; the ticket in the return URL.
async fn ticket_for(
    server: &TestServer,
    b: &reqwest::Client,
    query: &str,
    service: &str,
) -> String {
    let r = b
        .get(server.url(&format!("/cas/login?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut to = location(&r);
    if to.starts_with("/login") {
        let resume = sign_in_at(server, b, &to).await;
        let r = b.get(server.url(&resume)).send().await.unwrap();
        to = location(&r);
    }
    assert!(to.starts_with(&format!("{service}?ticket=ST-")), "{to}");
    to.split("ticket=").nth(1).unwrap().to_owned()
}

async fn validate(server: &TestServer, path: &str, ticket: &str, service: &str) -> String {
    reqwest::get(server.url(&format!(
        "{path}?ticket={ticket}&service={}",
        encode(service)
    )))
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
}

#[tokio::test]
async fn an_unregistered_service_is_not_trusted() {
    let server = start("https://pronote.lycee.fr/").await;
    let r = browser()
        .get(server.url(&format!(
            "/cas/login?service={}",
            encode("https://evil.example/")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("https://evil.example/ n&#39;est pas une url de confiance")
    );
}

#[tokio::test]
async fn tickets_are_single_use_bound_to_their_service_and_carry_the_attributes() {
    let service = "https://pronote.lycee.fr/";
    let server = start(service).await;
    let b = browser();
    let query = format!("service={}", encode(service));
    let ticket = ticket_for(&server, &b, &query, service).await;
    // another service (even a longer URL of the same site) does not get the ticket's user;
    // the ticket is then used up
    let wrong = validate(
        &server,
        "/cas/p3/serviceValidate",
        &ticket,
        "https://pronote.lycee.fr/x",
    )
    .await;
    assert!(wrong.contains("code=\"INVALID_SERVICE\""), "{wrong}");
    let again = validate(&server, "/cas/p3/serviceValidate", &ticket, service).await;
    assert!(again.contains("code=\"INVALID_TICKET\""), "{again}");

    // single sign-on: no prompt the second time
    let ticket = ticket_for(&server, &b, &query, service).await;
    let ok = validate(&server, "/cas/p3/serviceValidate", &ticket, service).await;
    assert!(ok.contains("<cas:authenticationSuccess>"), "{ok}");
    let user = ok
        .split("<cas:user>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(user.len(), 96, "an opaque id per service");
    for needle in [
        "<cas:sn>MARTIN</cas:sn>",
        "<cas:givenName>Léa</cas:givenName>",
        "<cas:FrEduCtPersonAffiliation>eleve2d</cas:FrEduCtPersonAffiliation>",
        "<cas:FrEduVecteur>4|MARTIN|Léa|JM-E0001|0141234A</cas:FrEduVecteur>",
    ] {
        assert!(ok.contains(needle), "missing {needle} in {ok}");
    }
    assert!(
        !ok.contains("FrEduCtDateNaissance"),
        "only what is registered"
    );
    let replay = validate(&server, "/cas/serviceValidate", &ticket, service).await;
    assert!(replay.contains("INVALID_TICKET"), "{replay}");

    // JSON, and the 10-second limit
    let ticket = ticket_for(&server, &b, &query, service).await;
    let json: serde_json::Value = reqwest::get(server.url(&format!(
        "/cas/p3/serviceValidate?format=JSON&ticket={ticket}&service={}",
        encode(service)
    )))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let success = &json["serviceResponse"]["authenticationSuccess"];
    assert_eq!(success["user"], user);
    assert_eq!(success["attributes"]["sn"], "MARTIN");
    let ticket = ticket_for(&server, &b, &query, service).await;
    server.clock.advance(11);
    let late = validate(&server, "/cas/serviceValidate", &ticket, service).await;
    assert!(late.contains("INVALID_TICKET"), "{late}");
    let missing = validate(&server, "/cas/serviceValidate", "", service).await;
    assert!(missing.contains("INVALID_REQUEST"), "{missing}");
}

#[tokio::test]
async fn gateway_and_renew() {
    let service = "https://pronote.lycee.fr/";
    let server = start(service).await;
    let b = browser();
    // gateway without a session: back to the service, without a ticket
    let r = b
        .get(server.url(&format!(
            "/cas/login?gateway=true&service={}",
            encode(service)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), service);
    let query = format!("service={}", encode(service));
    let sso_ticket = ticket_for(&server, &b, &query, service).await;
    server.clock.advance(2);
    // a ticket from single sign-on does not satisfy renew
    let sso_ticket2 = ticket_for(&server, &b, &query, service).await;
    let refused = reqwest::get(server.url(&format!(
        "/cas/serviceValidate?renew=true&ticket={sso_ticket2}&service={}",
        encode(service)
    )))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(refused.contains("INVALID_TICKET_SPEC"), "{refused}");
    drop(sso_ticket);
    // renew: the sign-in page even though a session exists, and a ticket that satisfies it
    let r = b
        .get(server.url(&format!("/cas/login?renew=true&{query}")))
        .send()
        .await
        .unwrap();
    let login = location(&r);
    assert!(login.starts_with("/login?next="), "{login}");
    let resume = login
        .split("next=")
        .nth(1)
        .map(|n| {
            url::form_urlencoded::parse(format!("n={n}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned()
        })
        .unwrap();
    // coming back without signing in again does not give a ticket
    let r = b.get(server.url(&resume)).send().await.unwrap();
    assert!(location(&r).starts_with("/login?next="));
    let resume = sign_in_at(&server, &b, &login).await;
    let r = b.get(server.url(&resume)).send().await.unwrap();
    let to = location(&r);
    let ticket = to.split("ticket=").nth(1).unwrap();
    let ok = reqwest::get(server.url(&format!(
        "/cas/serviceValidate?renew=true&ticket={ticket}&service={}",
        encode(service)
    )))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(ok.contains("authenticationSuccess"), "{ok}");
}

/// A service that records the single-logout messages POSTed to it.
async fn recording_service() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(
            move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                let store = store.clone();
                async move {
                    store
                        .lock()
                        .unwrap()
                        .push(form.get("logoutRequest").cloned().unwrap_or_default());
                    "ok"
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}/"), seen)
}

#[tokio::test]
async fn logout_posts_a_logout_request_naming_the_ticket() {
    let (service, seen) = recording_service().await;
    let server = start(&service).await;
    let b = browser();
    let query = format!("service={}", encode(&service));
    let ticket = ticket_for(&server, &b, &query, &service).await;
    let ok = validate(&server, "/cas/serviceValidate", &ticket, &service).await;
    assert!(ok.contains("authenticationSuccess"));
    // leaving from the service: back to it once every service was told
    let r = b
        .get(server.url(&format!("/cas/logout?service={}", encode(&service))))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), service);
    let mut waited = 0;
    while seen.lock().unwrap().is_empty() && waited < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let messages = seen.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains(&format!(
            "<samlp:SessionIndex>{ticket}</samlp:SessionIndex>"
        )),
        "{}",
        messages[0]
    );
    // the session is gone: the next login asks to sign in
    let r = b
        .get(server.url(&format!("/cas/login?{query}")))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login"));
    // an unregistered service after logout is not followed
    let r = b
        .get(server.url(&format!(
            "/cas/logout?service={}",
            encode("https://evil.example/")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login?deconnecte=1");
}

/// A proxy callback (`pgtUrl`) that answers `status` and records the pgtIou → pgtId pairs.
async fn proxy_callback(
    status: u16,
) -> (
    String,
    Arc<Mutex<std::collections::HashMap<String, String>>>,
) {
    let seen = Arc::new(Mutex::new(std::collections::HashMap::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/pgt",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let store = store.clone();
                async move {
                    if let (Some(iou), Some(id)) = (q.get("pgtIou"), q.get("pgtId")) {
                        store.lock().unwrap().insert(iou.clone(), id.clone());
                    }
                    StatusCode::from_u16(status).unwrap()
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}/pgt"), seen)
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    Some(&text[from..from + text[from..].find(end)?])
}

#[tokio::test]
async fn proxy_tickets_let_a_service_act_for_the_person_at_another() {
    let (pgt_url, ious) = proxy_callback(200).await;
    let (silent_pgt_url, silent) = proxy_callback(404).await;
    let portal = "https://portail.lycee.fr/";
    let target = "https://pronote.lycee.fr/";
    let portal_registration = format!(
        "protocol = \"cas\"\nid = \"portail\"\nname = \"Portail\"\nservices = [\"{portal}\"]\nattributes = [\"sn\"]\nproxy_callbacks = [\"{pgt_url}\", \"{silent_pgt_url}\"]\n"
    );
    let server = TestServer::start_with_clients(
        "",
        &[
            ("pronote", &registration(target)),
            ("portail", &portal_registration),
        ],
    )
    .await;
    let b = browser();
    let portal_query = format!("service={}", encode(portal));
    let with_pgt = |ticket: &str, url: &str| {
        server.url(&format!(
            "/cas/serviceValidate?ticket={ticket}&service={}&pgtUrl={}",
            encode(portal),
            encode(url)
        ))
    };
    let get = |url: String| async move { reqwest::get(url).await.unwrap().text().await.unwrap() };

    // a pgtUrl the registration does not list is refused, and the ticket is used up
    let ticket = ticket_for(&server, &b, &portal_query, portal).await;
    let refused = get(with_pgt(&ticket, "http://127.0.0.1:9/elsewhere")).await;
    assert!(refused.contains("INVALID_PROXY_CALLBACK"), "{refused}");
    // a callback that does not answer 200 gets no PGT, but the validation succeeds
    let ticket = ticket_for(&server, &b, &portal_query, portal).await;
    let ok = get(with_pgt(&ticket, &silent_pgt_url)).await;
    assert!(
        ok.contains("authenticationSuccess") && !ok.contains("proxyGrantingTicket"),
        "{ok}"
    );
    assert_eq!(silent.lock().unwrap().len(), 1, "the callback was called");

    // the PGT goes to the callback, its IOU in the validation
    let ticket = ticket_for(&server, &b, &portal_query, portal).await;
    let ok = get(with_pgt(&ticket, &pgt_url)).await;
    let iou = between(&ok, "<cas:proxyGrantingTicket>", "<").expect(&ok);
    let pgt = ious.lock().unwrap()[iou].clone();
    assert!(pgt.starts_with("PGT-") && iou.starts_with("PGTIOU-"));

    let proxy = |target: &str| {
        server.url(&format!(
            "/cas/proxy?pgt={pgt}&targetService={}",
            encode(target)
        ))
    };
    let answer = get(proxy("https://evil.example/")).await;
    assert!(answer.contains("code=\"UNAUTHORIZED_SERVICE\""), "{answer}");
    let answer = get(proxy(target)).await;
    let pt = between(&answer, "<cas:proxyTicket>", "<")
        .expect(&answer)
        .to_owned();
    assert!(pt.starts_with("PT-"));
    // serviceValidate does not take proxy tickets; proxyValidate does, once, naming the proxy
    let refused = validate(&server, "/cas/serviceValidate", &pt, target).await;
    assert!(refused.contains("INVALID_TICKET_SPEC"), "{refused}");
    let ok = validate(&server, "/cas/p3/proxyValidate", &pt, target).await;
    assert!(ok.contains("<cas:sn>MARTIN</cas:sn>"), "{ok}");
    assert!(
        ok.contains(&format!(
            "<cas:proxies>\n      <cas:proxy>{pgt_url}</cas:proxy>"
        )),
        "{ok}"
    );
    let replay = validate(&server, "/cas/proxyValidate", &pt, target).await;
    assert!(replay.contains("INVALID_TICKET"), "{replay}");
    // a service ticket passes proxyValidate too
    let ticket = ticket_for(&server, &b, &portal_query, portal).await;
    let ok = validate(&server, "/cas/proxyValidate", &ticket, portal).await;
    assert!(
        ok.contains("authenticationSuccess") && !ok.contains("<cas:proxies>"),
        "{ok}"
    );

    // the PGT ends with the SSO session
    let r = b.get(server.url("/cas/logout")).send().await.unwrap();
    assert!(r.status().is_redirection());
    let answer = get(proxy(target)).await;
    assert!(
        answer.contains("<cas:proxyFailure code=\"INVALID_TICKET\""),
        "{answer}"
    );
}

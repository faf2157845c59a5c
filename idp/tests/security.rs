//! The security suite (issue #10): each check is named for the attack it tries, runs against
//! the real server over HTTP, and the suite prints a table of what was tried and what
//! happened (`cargo test --test security -- --nocapture`). It fails if any attack gets
//! through.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use support::oidc::{
    ENT, ENT_SECRET, authorize_url, code_for_lea, ent_redirect, exchange, refresh, token_request,
};
use support::saml::{ServiceProvider, post_request, signed_post_request};
use support::{TestServer, browser, hidden_field, post_sign_in, sign_in_form, text};

const EVIL: &str = "https://evil.example/";

/// One attack's outcome: what the server did, or how the attack got through.
type Outcome = Result<String, String>;

fn redirects_to(r: &reqwest::Response, prefix: &str) -> bool {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.starts_with(prefix))
}

fn expect(condition: bool, outcome: &str, failure: String) -> Outcome {
    if condition {
        Ok(outcome.to_owned())
    } else {
        Err(failure)
    }
}

async fn open_redirect_through_redirect_uri(server: &TestServer) -> Outcome {
    let url = authorize_url(server, &[]).replace(
        &url::form_urlencoded::byte_serialize(ent_redirect(server).as_bytes()).collect::<String>(),
        &url::form_urlencoded::byte_serialize(b"https://evil.example/callback").collect::<String>(),
    );
    let r = browser().get(url).send().await.unwrap();
    let status = r.status();
    expect(
        !redirects_to(&r, "https://evil.example") && status.is_client_error(),
        &format!("{status}, an error page, no redirect"),
        format!("{status} {:?}", r.headers().get("location")),
    )
}

async fn open_redirect_through_post_logout_redirect_uri(server: &TestServer) -> Outcome {
    let r = browser()
        .get(server.url(&format!(
            "/oidc/logout?client_id={ENT}&post_logout_redirect_uri={EVIL}"
        )))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let leaks = redirects_to(&r, EVIL);
    let body = r.text().await.unwrap();
    expect(
        !leaks && !body.contains("evil.example"),
        &format!("{status}, the address is neither followed nor carried"),
        format!("{status}: {body}"),
    )
}

async fn open_redirect_through_the_cas_service(server: &TestServer) -> Outcome {
    let r = browser()
        .get(server.url(&format!("/cas/login?service={EVIL}")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    expect(
        status.is_client_error() && !redirects_to(&r, EVIL) && !redirects_to(&r, "/login"),
        &format!("{status}, an unknown service is not signed in to"),
        format!("{status} {:?}", r.headers().get("location")),
    )
}

async fn open_redirect_through_the_sign_in_return_path(server: &TestServer) -> Outcome {
    let b = browser();
    let page = text(&b, server.url("/login?profil=eleve")).await;
    let mut form = sign_in_form(&page, "lea.martin", "Cartable-2026");
    for (k, v) in &mut form {
        if *k == "next" {
            *v = "//evil.example/steal".into();
        }
    }
    let r = b
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect(
        redirects_to(&r, "/") && !redirects_to(&r, "//"),
        "signed in, sent to / instead",
        format!("{:?}", r.headers().get("location")),
    )
}

async fn open_redirect_through_saml_acs_and_relay_state(
    server: &TestServer,
    sp: &ServiceProvider,
) -> Outcome {
    let b = browser();
    let evil_acs = format!("{EVIL}acs");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // an AuthnRequest, signed by the SP, naming an ACS outside its metadata
    let acs = b
        .get(sp.redirect_url(server, "_evil_acs", &evil_acs, false))
        .send()
        .await
        .unwrap();
    let acs = (acs.status(), acs.headers().get("location").is_some());
    // an IdP-initiated sign-in asking for the attacker's ACS ("shire")
    let shire = b
        .get(server.url(&format!(
            "/idp/profile/SAML2/Unsolicited/SSO?providerId={}&shire={}&target={}",
            enc(&sp.entity_id),
            enc(&evil_acs),
            enc(EVIL)
        )))
        .send()
        .await
        .unwrap();
    let shire = (shire.status(), shire.headers().get("location").is_some());
    // a RelayState naming the attacker's site, for a signed-in pupil: never followed, only
    // handed back to the registered ACS
    post_sign_in(server, &b, "eleve", "lea.martin", "Cartable-2026").await;
    let xml = sp.authn_request(server, "_evil_relay", &sp.acs, "");
    let mut r = b
        .get(sp.signed_redirect_as(
            &server.url("/idp/profile/SAML2/Redirect/SSO"),
            "SAMLRequest",
            &xml,
            Some(EVIL),
        ))
        .send()
        .await
        .unwrap();
    let mut followed_to_evil = false;
    for _ in 0..3 {
        if r.status() != StatusCode::SEE_OTHER {
            break;
        }
        let next = r.headers()["location"].to_str().unwrap().to_owned();
        followed_to_evil |= !next.starts_with('/');
        if followed_to_evil {
            break;
        }
        r = b.get(server.url(&next)).send().await.unwrap();
    }
    let relay_status = r.status();
    let page = r.text().await.unwrap();
    let posted_to_acs = page.contains(&format!(r#"action="{}""#, sp.acs));
    let relay = hidden_field(&page, "RelayState");
    expect(
        acs == (StatusCode::BAD_REQUEST, false)
            && shire == (StatusCode::BAD_REQUEST, false)
            && !followed_to_evil
            && relay_status == StatusCode::OK
            && posted_to_acs
            && relay.as_deref() == Some(EVIL),
        "unregistered ACS: 400 (signed request and IdP-initiated); RelayState: never followed, \
         posted back to the registered ACS only",
        format!(
            "ACS {acs:?}, shire {shire:?}, RelayState: {relay_status}, followed {followed_to_evil}, \
             to the ACS {posted_to_acs}, carried {relay:?}"
        ),
    )
}

async fn authorization_code_replay(server: &TestServer) -> Outcome {
    let code = code_for_lea(server, &browser()).await;
    let (first, _) = exchange(server, &code).await;
    let (second, body) = exchange(server, &code).await;
    expect(
        first == StatusCode::OK && second == StatusCode::BAD_REQUEST,
        "the second exchange is invalid_grant",
        format!("{first} then {second}: {body}"),
    )
}

async fn pkce_downgrade(server: &TestServer) -> Outcome {
    let code = code_for_lea(server, &browser()).await;
    let redirect = ent_redirect(server);
    let (without, body) = token_request(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
        ],
        Some((ENT, ENT_SECRET)),
    )
    .await;
    let plain = authorize_url(server, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = browser().get(plain).send().await.unwrap();
    let refused_plain = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.contains("error="))
        || r.status().is_client_error();
    expect(
        without == StatusCode::BAD_REQUEST && refused_plain,
        "no verifier: invalid_grant; method plain: refused",
        format!("without verifier {without} {body}; plain {}", r.status()),
    )
}

async fn refresh_token_reuse(server: &TestServer) -> Outcome {
    let code = code_for_lea(server, &browser()).await;
    let (_, tokens) = exchange(server, &code).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (_, rotated) = refresh(server, &first).await;
    let next = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (reused, _) = refresh(server, &first).await;
    let (after, _) = refresh(server, &next).await;
    expect(
        reused == StatusCode::BAD_REQUEST && after == StatusCode::BAD_REQUEST,
        "the reuse is refused and revokes the family",
        format!("reuse {reused}, successor after reuse {after}"),
    )
}

/// Every form, posted without its token by a browser that may use it.
async fn csrf_on_every_form(server: &TestServer) -> Outcome {
    let anonymous = browser();
    text(&anonymous, server.url("/login")).await; // a browser cookie, but no token sent
    let claire = browser();
    post_sign_in(
        server,
        &claire,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    let staff = support::staff::staff(server, ("admin.college", "Direction-College-2026")).await;
    let forms: &[(&reqwest::Client, &str)] = &[
        (&anonymous, "/login"),
        (&anonymous, "/logout"),
        (&anonymous, "/premiere-connexion/mot-de-passe"),
        (&anonymous, "/premiere-connexion/confirmer"),
        (&anonymous, "/confirmer-email"),
        (&anonymous, "/identifiant-oublie"),
        (&anonymous, "/mot-de-passe-oublie"),
        (&anonymous, "/mot-de-passe-oublie/code"),
        (&anonymous, "/mot-de-passe-oublie/nouveau"),
        (&anonymous, "/inscription"),
        (&anonymous, "/inscription/etape"),
        (&anonymous, "/admin/connexion"),
        (&anonymous, "/admin/connexion/code"),
        (&claire, "/compte/mot-de-passe"),
        (&claire, "/compte/email"),
        (&claire, "/compte/email/renvoyer"),
        (&claire, "/compte/portable"),
        (&claire, "/compte/portable/code"),
        (&claire, "/compte/portable/renvoyer"),
        (&claire, "/compte/enfants/regrouper"),
        (&claire, "/compte/enfants/mot-de-passe"),
        (&claire, "/compte/nouvel-eleve"),
        (&claire, "/compte/franceconnect"),
        (&claire, "/oidc/consent"),
        (&staff, "/admin/deconnexion"),
        (&staff, "/admin/0141234A/comptes"),
        (&staff, "/admin/0141234A/mots-de-passe"),
        (&anonymous, "/rattacher-des-eleves/dates"),
    ];
    // every POST route the server declares is in that list, or is not a browser's form (a
    // protocol endpoint, authenticated otherwise): a new form missing here fails the suite
    let not_forms = [
        "/oidc/",
        "/idp/profile/SAML2/",
        "/cas/",
        "/api/admin/v1/",
        "/dev/",
    ];
    let placeholder = regex::Regex::new(r"\{[^}]+\}").unwrap();
    let unlisted: Vec<String> = declared_routes()
        .into_iter()
        .filter(|(path, methods)| {
            let shape = regex::Regex::new(&format!(
                "^{}$",
                placeholder.replace_all(
                    &regex::escape(path).replace(r"\{", "{").replace(r"\}", "}"),
                    "[^/]+"
                )
            ))
            .unwrap();
            methods.contains(&"POST")
                && !not_forms.iter().any(|p| path.starts_with(p))
                && !forms.iter().any(|(_, form)| shape.is_match(form))
        })
        .map(|(path, _)| path)
        .collect();
    if !unlisted.is_empty() {
        return Err(format!("forms not tried: {}", unlisted.join(", ")));
    }
    let mut accepted = Vec::new();
    for (b, path) in forms {
        let r = b
            .post(server.url(path))
            .form(&[
                ("csrf", "forged"),
                ("action", "desactiver"),
                ("compte", "1"),
            ])
            .send()
            .await
            .unwrap();
        // refused before anything is done: 403, or 422 for a form missing its fields (a 404
        // or 405 would mean the form is not where this list says)
        if !matches!(r.status().as_u16(), 403 | 422) {
            accepted.push(format!("{path}: {}", r.status()));
        }
    }
    expect(
        accepted.is_empty(),
        &format!(
            "{} forms, each refused (403, or 422 without its fields)",
            forms.len()
        ),
        accepted.join(", "),
    )
}

async fn session_fixation(server: &TestServer) -> Outcome {
    // a browser whose cookies are written by hand: the attacker planted a session id
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let planted = "idp_session=planted-by-the-attacker";
    let r = b
        .get(server.url("/login?profil=eleve"))
        .header("cookie", planted)
        .send()
        .await
        .unwrap();
    let browser_cookie = support::set_cookie_header(&r, "idp_browser")
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .unwrap_or_default();
    let page = r.text().await.unwrap();
    let r = b
        .post(server.url("/login"))
        .header("cookie", format!("{browser_cookie}; {planted}"))
        .form(&sign_in_form(&page, "lea.martin", "Cartable-2026"))
        .send()
        .await
        .unwrap();
    let set = support::set_cookie_header(&r, "idp_session").unwrap_or_default();
    expect(
        r.status() == StatusCode::SEE_OTHER
            && !set.is_empty()
            && !set.contains("planted-by-the-attacker"),
        "signed in under a new session id",
        format!("{}: Set-Cookie {set}", r.status()),
    )
}

async fn clickjacking(server: &TestServer) -> Outcome {
    let claire = browser();
    post_sign_in(
        server,
        &claire,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    let mut framable = Vec::new();
    for (b, path) in [
        (&browser(), "/login"),
        (&browser(), "/inscription"),
        (&browser(), "/mot-de-passe-oublie"),
        (&browser(), "/admin/connexion"),
        (&claire, "/compte"),
        (&claire, "/compte/enfants"),
    ] {
        let r = b.get(server.url(path)).send().await.unwrap();
        let xfo = r
            .headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok());
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if xfo != Some("DENY") || !csp.contains("frame-ancestors 'none'") {
            framable.push(path);
        }
    }
    expect(
        framable.is_empty(),
        "X-Frame-Options DENY and frame-ancestors 'none' on every page tried",
        format!("framable: {framable:?}"),
    )
}

/// Every route the server declares, read from its source (`.route("/path", get(…).post(…))`
/// in `idp/src`), so that a new endpoint is tried without touching this suite: its path and
/// its methods.
fn declared_routes() -> Vec<(String, Vec<&'static str>)> {
    fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut files = Vec::new();
    sources(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    // a path is written out, or taken from the file's `PATHS` list (the admin API's)
    let route = regex::Regex::new(r#"\.route\(\s*(?:"(/[^"]*)"|PATHS\[(\d+)\]),\s*"#).unwrap();
    let list = regex::Regex::new(r"(?s)const PATHS: &\[&str\] = &\[(.*?)\];").unwrap();
    let literal = regex::Regex::new(r#""(/[^"]*)""#).unwrap();
    let method = regex::Regex::new(r"\b(get|post|put|delete|patch)\(").unwrap();
    let mut routes = Vec::new();
    for file in &files {
        let paths: Vec<&str> = list.captures(file).map_or(Vec::new(), |c| {
            literal
                .captures_iter(c.get(1).unwrap().as_str())
                .map(|l| l.get(1).unwrap().as_str())
                .collect()
        });
        for m in route.captures_iter(file) {
            let path = match (m.get(1), m.get(2)) {
                (Some(path), _) => path.as_str(),
                (None, Some(index)) => paths[index.as_str().parse::<usize>().unwrap()],
                (None, None) => unreachable!("the expression takes one or the other"),
            };
            // the handlers: up to the parenthesis that closes `.route(`
            let rest = &file[m.get(0).unwrap().end()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let methods = method
                .captures_iter(&rest[..end])
                .map(|c| match &c[1] {
                    "get" => "GET",
                    "post" => "POST",
                    "put" => "PUT",
                    "delete" => "DELETE",
                    _ => "PATCH",
                })
                .collect();
            routes.push((path.to_owned(), methods));
        }
    }
    routes
}

/// A client sending the demo académie tool's admin API token with every request.
async fn api_client(server: &TestServer) -> reqwest::Client {
    let body: serde_json::Value = reqwest::Client::new()
        .post(server.url("/oidc/token"))
        .basic_auth(
            idp::demo::DEMO_ADMIN_CLIENT_ID,
            Some(idp::demo::DEMO_ADMIN_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn oversized_inputs(server: &TestServer) -> Outcome {
    let huge = "a".repeat(3 * 1024 * 1024);
    let long = "a".repeat(30_000);
    let segment = "a".repeat(4_000);
    let routes = declared_routes();
    let placeholder = regex::Regex::new(r"\{[^}]+\}").unwrap();
    let (mut tried, mut too_large, mut with_body) = (0, 0, 0);
    let mut failures = Vec::new();
    // a signed-in guardian and a signed-in staff member too, so that the body is reached
    // behind the session checks
    let guardian = browser();
    post_sign_in(
        server,
        &guardian,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    let staff = support::staff::staff(server, ("admin.college", "Direction-College-2026")).await;
    // and the académie's tool with its admin API token
    let tool = api_client(server).await;
    for (path, methods) in &routes {
        let path = placeholder.replace_all(path, segment.as_str()).into_owned();
        for method in methods {
            for client in [&browser(), &guardian, &staff, &tool] {
                let url = server.url(&format!("{path}?next={long}"));
                let request = client.request(method.parse().unwrap(), url);
                let r = if *method == "GET" {
                    request.send().await
                } else {
                    with_body += 1;
                    request
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(format!("csrf=x&password={huge}"))
                        .send()
                        .await
                };
                tried += 1;
                match r {
                    Ok(r) if r.status().is_server_error() => failures.push(format!(
                        "{method} {}…: {}",
                        &path[..path.len().min(30)],
                        r.status()
                    )),
                    Ok(r) => too_large += usize::from(r.status() == StatusCode::PAYLOAD_TOO_LARGE),
                    Err(e) => failures.push(format!(
                        "{method} {}…: {}",
                        &path[..path.len().min(30)],
                        e.to_string().chars().take(80).collect::<String>()
                    )),
                }
            }
        }
    }
    // where a body is read, over its limit it is refused before any work
    for path in [
        "/login",
        "/oidc/token",
        "/admin/connexion",
        "/inscription",
        "/mot-de-passe-oublie",
    ] {
        let r = browser()
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("password={huge}"))
            .send()
            .await
            .unwrap();
        if r.status() != StatusCode::PAYLOAD_TOO_LARGE {
            failures.push(format!("POST {path}: {} instead of 413", r.status()));
        }
    }
    expect(
        routes.len() > 50
            && routes.iter().any(|(p, _)| p.starts_with("/api/admin/v1/"))
            && failures.is_empty(),
        &format!(
            "{} routes × 4 visitors, {tried} requests with 30 kB parameters ({with_body} with 3 MB bodies): \
             never a 5xx, {too_large} answered 413",
            routes.len()
        ),
        failures.join(", "),
    )
}

/// The page of a sign-in or recovery answer without its per-request token.
fn without_token(page: &str) -> String {
    page.lines()
        .filter(|l| !l.contains("name=\"csrf\""))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn account_enumeration_by_answer(server: &TestServer) -> Outcome {
    let known = post_sign_in(server, &browser(), "eleve", "lea.martin", "Mauvais-2026").await;
    let known = without_token(&known.text().await.unwrap()).replace("lea.martin", "X");
    let unknown = post_sign_in(
        server,
        &browser(),
        "eleve",
        "personne.inconnue",
        "Mauvais-2026",
    )
    .await;
    let unknown = without_token(&unknown.text().await.unwrap()).replace("personne.inconnue", "X");
    expect(
        known == unknown,
        "a wrong password and an unknown identifier get the same page",
        "the pages differ".into(),
    )
}

async fn account_enumeration_by_timing(server: &TestServer) -> Outcome {
    let verifications = || {
        server
            .state
            .hasher
            .stats
            .verifications
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let before = verifications();
    post_sign_in(server, &browser(), "eleve", "lea.martin", "Mauvais-2026").await;
    let known = verifications() - before;
    post_sign_in(
        server,
        &browser(),
        "eleve",
        "personne.inconnue",
        "Mauvais-2026",
    )
    .await;
    let unknown = verifications() - before - known;
    expect(
        known == 1 && unknown == 1,
        "one argon2 verification each (timing is compared in `idp bench`)",
        format!("known {known}, unknown {unknown}"),
    )
}

/// The number of results a search page says.
fn results(page: &str) -> Option<usize> {
    let at = page.find("résultat")?;
    page[..at].rsplit('>').next()?.trim().parse().ok()
}

async fn sql_injection_in_search_fields(server: &TestServer) -> Outcome {
    let staff = support::staff::staff(server, ("admin.college", "Direction-College-2026")).await;
    let search = |typed: &str| {
        let q: String = url::form_urlencoded::byte_serialize(typed.as_bytes()).collect();
        let url = server.url(&format!("/admin/0141234A/comptes?nom={q}"));
        let staff = &staff;
        async move {
            let r = staff.get(url).send().await.unwrap();
            (r.status(), results(&r.text().await.unwrap()))
        }
    };
    let (_, all) = search("").await;
    let all = all.unwrap_or(0);
    let mut leaks = Vec::new();
    for (typed, at_most) in [
        ("' OR '1'='1", 0),
        ("martin'; DROP TABLE accounts; --", 0),
        ("\" OR 1=1 --", 0),
        // wildcards are no letters: no name filter at all, never more than the school
        ("%", all),
        ("_", all),
    ] {
        let (status, found) = search(typed).await;
        if status != StatusCode::OK || found.is_none_or(|n| n > at_most) {
            leaks.push(format!("{typed}: {status} {found:?}"));
        }
    }
    let count = server
        .state
        .accounts
        .count(idp::domain::account::AccountKind::Eleve)
        .await
        .unwrap();
    expect(
        leaks.is_empty() && count > 0 && all > 0,
        &format!(
            "quotes and statements match no name, wildcards no more than the school's {all}; nothing dropped"
        ),
        leaks.join(", "),
    )
}

async fn one_time_code_brute_force(server: &TestServer) -> Outcome {
    let b = browser();
    let r = support::staff::post_password(server, &b, "admin.lycee", "Direction-Lycee-2026").await;
    if !redirects_to(&r, "/admin/connexion/code") {
        return Err("no code step".into());
    }
    let mut tries = 0;
    for guess in 0..20 {
        let r = support::staff::post_code(server, &b, &format!("{:06}", 999_990 - guess)).await;
        tries += 1;
        if redirects_to(&r, "/admin/connexion?info=essais") {
            break;
        }
    }
    expect(
        (2..=6).contains(&tries),
        &format!("the step ends after {} wrong codes", tries - 1),
        format!("{tries} codes tried"),
    )
}

async fn header_injection_in_mail_and_sms(server: &TestServer) -> Outcome {
    let claire = browser();
    post_sign_in(
        server,
        &claire,
        "responsable",
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    let page = text(&claire, server.url("/compte")).await;
    let r = claire
        .post(server.url("/compte/email"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            (
                "email",
                "claire@example.fr\r\nBcc: victim@evil.example".into(),
            ),
            ("current", "Parent-2026!".into()),
        ])
        .send()
        .await
        .unwrap();
    let mail_status = r.status();
    // a mobile number that tries to close the gateway's JSON field and add a recipient
    let page = text(&claire, server.url("/compte")).await;
    let r = claire
        .post(server.url("/compte/portable"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("portable", "0612345678\",\"to\":\"+33699999999".into()),
            ("current", "Parent-2026!".into()),
        ])
        .send()
        .await
        .unwrap();
    let sms_status = r.status();
    let sms_refused = r.text().await.unwrap().contains("Indiquez un numéro");
    let queued = server
        .state
        .outbox
        .recent(50)
        .await
        .unwrap()
        .iter()
        .any(|m| {
            let to = &m.message.recipient;
            to.contains("evil") || to.contains('\n') || to.contains('"') || to.contains("699999999")
        });
    expect(
        mail_status == StatusCode::UNPROCESSABLE_ENTITY && sms_refused && !queued,
        "mail: refused as an invalid address; SMS: refused as an invalid number; nothing queued",
        format!("mail {mail_status}, SMS {sms_status} (refused: {sms_refused}), queued: {queued}"),
    )
}

async fn password_guessing() -> Outcome {
    // a server of its own: the others run without the progressive delay
    let server = TestServer::start_with(
        "[throttle]\nfailures_per_identifier = 4\ndelay_after_failures = 2\nfirst_delay_ms = 200\nmax_delay_ms = 400",
    )
    .await;
    let lea = browser();
    let r = post_sign_in(&server, &lea, "eleve", "lea.martin", "Cartable-2026").await;
    if r.status() != StatusCode::SEE_OTHER {
        return Err(format!("Léa cannot sign in first: {}", r.status()));
    }
    let attacker = browser();
    let mut waits = Vec::new();
    for guess in ["Soleil-2026", "Cartable-2025", "Lea-2012", "Martin-2026"] {
        let started = std::time::Instant::now();
        post_sign_in(&server, &attacker, "eleve", "lea.martin", guess).await;
        waits.push(started.elapsed().as_millis());
    }
    let locked = post_sign_in(&server, &attacker, "eleve", "lea.martin", "Cartable-2026").await;
    let locked = locked.status() == StatusCode::TOO_MANY_REQUESTS
        && locked.text().await.unwrap().contains("Trop de tentatives");
    let staff = support::staff::staff(&server, ("admin.college", "Direction-College-2026")).await;
    let search = text(
        &staff,
        server.url(&format!(
            "/admin/{}/comptes?nom=martin&prenom=lea",
            idp::demo::COLLEGE_UAI
        )),
    )
    .await;
    let shown = search.contains("Bloqué");
    let own = post_sign_in(&server, &lea, "eleve", "lea.martin", "Cartable-2026").await;
    expect(
        waits[2] >= 200
            && waits[3] >= 400
            && locked
            && shown
            && own.status() == StatusCode::SEE_OTHER,
        &format!(
            "waits {waits:?} ms, then \"Trop de tentatives\" even for the right password; \
             staff see \"Bloqué\"; Léa's own browser still signs in"
        ),
        format!(
            "waits {waits:?}, locked {locked}, Bloqué shown {shown}, her browser {}",
            own.status()
        ),
    )
}

/// The SAML endpoints that read a message, and how each carries one: signed by the SP on the
/// Redirect binding (so that only what is inside the XML can make it refused), as is on POST.
async fn saml_endpoints_answer(
    server: &TestServer,
    sp: &ServiceProvider,
    xml: &str,
) -> Vec<(String, StatusCode, String)> {
    let b = browser();
    let mut answers = Vec::new();
    for binding in ["Redirect", "POST"] {
        for profile in ["SSO", "SLO"] {
            let endpoint = server.url(&format!("/idp/profile/SAML2/{binding}/{profile}"));
            let r = if binding == "Redirect" {
                b.get(sp.signed_redirect(&endpoint, xml))
                    .send()
                    .await
                    .unwrap()
            } else {
                b.post(&endpoint)
                    .form(&[("SAMLRequest", STANDARD.encode(xml))])
                    .send()
                    .await
                    .unwrap()
            };
            let status = r.status();
            answers.push((
                format!("{binding}/{profile}"),
                status,
                r.text().await.unwrap(),
            ));
        }
    }
    answers
}

fn saml_instant(server: &TestServer) -> String {
    chrono::DateTime::from_timestamp(server.clock_now(), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Every endpoint answered 400 with its page, and no page shows `leak`.
fn all_refused(answers: &[(String, StatusCode, String)], leak: &str) -> Outcome {
    let bad: Vec<String> = answers
        .iter()
        .filter(|(_, status, body)| {
            *status != StatusCode::BAD_REQUEST || !body.contains("DTD") || body.contains(leak)
        })
        .map(|(endpoint, status, _)| format!("{endpoint}: {status}"))
        .collect();
    let endpoints: Vec<&str> = answers.iter().map(|(e, _, _)| e.as_str()).collect();
    expect(
        bad.is_empty(),
        &format!("400 \"contient une DTD\" on {}", endpoints.join(", ")),
        bad.join(", "),
    )
}

async fn saml_xxe(server: &TestServer, sp: &ServiceProvider) -> Outcome {
    let xml = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_xxe" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}&xxe;</saml:Issuer></samlp:AuthnRequest>"#,
        now = saml_instant(server),
        issuer = sp.entity_id,
    );
    let answers = saml_endpoints_answer(server, sp, &xml).await;
    all_refused(&answers, "root:")
}

async fn saml_entity_expansion(server: &TestServer, sp: &ServiceProvider) -> Outcome {
    // "billion laughs": ten levels of ten references, 10^10 copies once expanded
    let mut dtd = String::from(r#"<!ENTITY l0 "lol">"#);
    for level in 1..=10 {
        let refs = format!("&l{};", level - 1).repeat(10);
        dtd.push_str(&format!(r#"<!ENTITY l{level} "{refs}">"#));
    }
    let xml = format!(
        r#"<!DOCTYPE r [{dtd}]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lol" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}&l10;</saml:Issuer></samlp:AuthnRequest>"#,
        now = saml_instant(server),
        issuer = sp.entity_id,
    );
    let started = std::time::Instant::now();
    let answers = saml_endpoints_answer(server, sp, &xml).await;
    let outcome = all_refused(&answers, "lollollol")?;
    Ok(format!(
        "{outcome}, nothing expanded ({} ms for the four)",
        started.elapsed().as_millis()
    ))
}

/// A forged AuthnRequest with the ID `outer_id` asking for the attacker's ACS, holding the
/// genuine `signed` request, untouched, in its Extensions.
fn forged_around(
    server: &TestServer,
    sp: &ServiceProvider,
    outer_id: &str,
    signed: &str,
) -> String {
    let inner = signed
        .split_once("?>")
        .map_or(signed, |(_, s)| s.trim_start());
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{outer_id}" Version="2.0" IssueInstant="{now}" AssertionConsumerServiceURL="{EVIL}acs"><saml:Issuer>{issuer}</saml:Issuer><samlp:Extensions>{inner}</samlp:Extensions></samlp:AuthnRequest>"#,
        now = saml_instant(server),
        issuer = sp.entity_id,
    )
}

async fn saml_signature_wrapping(server: &TestServer, sp: &ServiceProvider) -> Outcome {
    // the signed request hidden inside a forged one that asks for another ACS
    let signed = signed_post_request(server, sp, "_wrapped", &sp.acs);
    let forged = forged_around(server, sp, "_evil", &signed);
    let r = post_request(server, &browser(), &forged).await;
    let status = r.status();
    let body = r.text().await.unwrap();
    // and the same signed request, altered after signing
    let altered = signed_post_request(server, sp, "_altered", &sp.acs)
        .replace(&sp.acs, "https://ent.example.fr/saml/other");
    let altered = post_request(server, &browser(), &altered).await.status();
    expect(
        status == StatusCode::BAD_REQUEST
            && body.contains("ne couvre pas la demande")
            && !body.contains("evil.example")
            && altered == StatusCode::BAD_REQUEST,
        "400 \"la signature ne couvre pas la demande\"; altered after signing: 400",
        format!("wrapped {status}, altered {altered}"),
    )
}

async fn saml_duplicate_ids(server: &TestServer, sp: &ServiceProvider) -> Outcome {
    // a forged request carrying the same ID as the genuine signed one it holds, untouched:
    // a verifier that finds the signature's "#_twice" and then reads the outer request
    // would send the assertion to the attacker's ACS
    let signed = signed_post_request(server, sp, "_twice", &sp.acs);
    let forged = forged_around(server, sp, "_twice", &signed);
    let r = post_request(server, &browser(), &forged).await;
    let status = r.status();
    let body = r.text().await.unwrap();
    // while the genuine request alone is accepted
    let ok = post_request(server, &browser(), &signed).await.status();
    expect(
        status == StatusCode::BAD_REQUEST
            && !body.contains("evil.example")
            && ok == StatusCode::SEE_OTHER,
        "400, the attacker's ACS never used; the genuine request alone: accepted",
        format!("duplicated {status}, genuine {ok}"),
    )
}

#[tokio::test]
async fn attacks_are_refused() {
    let (sp, metadata) = ServiceProvider::new();
    let server =
        TestServer::start_with_clients("", &[("sp", &sp.registration()), ("sp.xml", &metadata)])
            .await;
    let mut rows: Vec<(&str, Outcome)> = Vec::new();
    macro_rules! attack {
        ($name:literal, $f:ident) => {
            rows.push(($name, $f(&server).await));
        };
    }
    attack!(
        "open redirect through redirect_uri",
        open_redirect_through_redirect_uri
    );
    attack!(
        "open redirect through post_logout_redirect_uri",
        open_redirect_through_post_logout_redirect_uri
    );
    attack!(
        "open redirect through the CAS service",
        open_redirect_through_the_cas_service
    );
    attack!(
        "open redirect through the sign-in's return path",
        open_redirect_through_the_sign_in_return_path
    );
    rows.push((
        "open redirect through the SAML ACS and RelayState",
        open_redirect_through_saml_acs_and_relay_state(&server, &sp).await,
    ));
    attack!("authorization code replay", authorization_code_replay);
    attack!("PKCE downgrade", pkce_downgrade);
    attack!("refresh token reuse", refresh_token_reuse);
    attack!("CSRF on every form", csrf_on_every_form);
    attack!("session fixation", session_fixation);
    attack!("clickjacking", clickjacking);
    attack!("oversized inputs", oversized_inputs);
    attack!(
        "account enumeration by answer",
        account_enumeration_by_answer
    );
    attack!(
        "account enumeration by work done",
        account_enumeration_by_timing
    );
    attack!(
        "SQL injection in search fields",
        sql_injection_in_search_fields
    );
    rows.push((
        "password guessing (delay, lock, trusted device)",
        password_guessing().await,
    ));
    attack!(
        "one-time code brute force (staff TOTP)",
        one_time_code_brute_force
    );
    attack!(
        "header injection in mail and SMS",
        header_injection_in_mail_and_sms
    );
    rows.push(("SAML XXE", saml_xxe(&server, &sp).await));
    rows.push((
        "SAML entity expansion",
        saml_entity_expansion(&server, &sp).await,
    ));
    rows.push((
        "SAML signature wrapping",
        saml_signature_wrapping(&server, &sp).await,
    ));
    rows.push(("SAML duplicate IDs", saml_duplicate_ids(&server, &sp).await));

    println!("\n{:<50} | {:<8} | what happened", "attack", "result");
    println!("{}", "-".repeat(110));
    for (name, outcome) in &rows {
        match outcome {
            Ok(what) => println!("{name:<50} | refused  | {what}"),
            Err(what) => println!("{name:<50} | GOT IN   | {what}"),
        }
    }
    let through: Vec<&str> = rows
        .iter()
        .filter(|(_, o)| o.is_err())
        .map(|(n, _)| *n)
        .collect();
    println!(
        "{} attacks tried, {} got through\n",
        rows.len(),
        through.len()
    );
    assert!(through.is_empty(), "attacks that got through: {through:?}");
}

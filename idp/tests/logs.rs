//! What the logs hold (SPEC §6): JSON lines whose request span names the request id and the
//! route pattern, and never a password, a one-time code, a token, a ticket, a client secret, a
//! cookie or a CSRF token. Everything the process logs at `debug` is captured while people and
//! services use the IdP, then searched for every secret that went through it. Then /metrics,
//! read over HTTP, counts what happened.
//!
//! One test in its own binary: the capturing subscriber is the process's global one. The test's
//! own HTTP client runs in the same process; its cookie jar (cookie_store, which the IdP does
//! not use) is left out of the capture. reqwest and hyper are kept: the IdP uses them too.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use support::oidc::{ENT, ENT_SECRET, VERIFIER, code_for_lea, exchange, refresh, token_request};
use support::{TestServer, browser, post_form, set_cookie_header};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn cookie_value(r: &reqwest::Response, name: &str) -> String {
    let header = set_cookie_header(r, name).unwrap_or_else(|| panic!("no {name} cookie"));
    let pair = header.split(';').next().unwrap();
    pair[name.len() + 1..].to_owned()
}

/// Whether `line` holds `secret`; a code of digits only counts when no digit touches it
/// (timestamps are full of digits).
fn holds(line: &str, secret: &str) -> bool {
    let digits = secret.bytes().all(|b| b.is_ascii_digit());
    line.match_indices(secret).any(|(at, _)| {
        let before = line[..at].bytes().next_back();
        let after = line[at + secret.len()..].bytes().next();
        !digits
            || !(before.is_some_and(|b| b.is_ascii_digit())
                || after.is_some_and(|b| b.is_ascii_digit()))
    })
}

const PRONOTE_CAS: &str = "https://pronote.lycee.fr/cas";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_and_metrics_count_what_happened() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug,cookie_store=off")
        .with_writer(move || writer.clone())
        .init();

    let cas = format!(
        "protocol = \"cas\"\nid = \"pronote\"\nname = \"Pronote\"\nservices = [\"{PRONOTE_CAS}\"]\n"
    );
    let server = TestServer::start_with_clients("", &[("pronote", &cas)]).await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("Léa's password", "Cartable-2026".into()),
        ("the ENT's client secret", ENT_SECRET.into()),
        ("a wrong password tried", "Pas-Le-Bon-2026".into()),
        ("Claire's new password", "Jardin-Bleu-77".into()),
        ("the PKCE code verifier", VERIFIER.into()),
    ];

    // a wrong password first, then Léa signs in to the ENT (OIDC code flow with PKCE)
    let r = support::post_sign_in(
        &server,
        &browser(),
        "eleve",
        "lea.martin",
        "Pas-Le-Bon-2026",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = browser();
    let page = support::text(&b, server.url("/login?profil=eleve")).await;
    secrets.push((
        "a CSRF token",
        support::hidden_field(&page, "csrf").unwrap(),
    ));
    let code = code_for_lea(&server, &b).await;
    secrets.push(("an authorization code", code.clone()));
    let (status, tokens) = exchange(&server, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(("an access token", access.clone()));
    secrets.push(("an ID token", tokens["id_token"].as_str().unwrap().into()));
    secrets.push(("a refresh token", refresh_token.clone()));
    let r = reqwest::Client::new()
        .get(server.url("/oidc/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, rotated) = refresh(&server, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    secrets.push((
        "a rotated refresh token",
        rotated["refresh_token"].as_str().unwrap().into(),
    ));
    let (status, _) = refresh(&server, &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a spent refresh token");
    let (status, _) = token_request(
        &server,
        &[("token", access.as_str())],
        Some((ENT, ENT_SECRET)),
    )
    .await;
    assert!(status.is_client_error(), "no grant_type");

    // the same browser goes to Pronote by CAS: a ticket, validated once
    let service: String = url::form_urlencoded::byte_serialize(PRONOTE_CAS.as_bytes()).collect();
    let r = b
        .get(server.url(&format!("/cas/login?service={service}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let ticket = to.split("ticket=").nth(1).expect(&to).to_owned();
    secrets.push(("a CAS service ticket", ticket.clone()));
    let validation = support::text(
        &browser(),
        server.url(&format!(
            "/cas/p3/serviceValidate?ticket={ticket}&service={service}"
        )),
    )
    .await;
    assert!(validation.contains("authenticationSuccess"), "{validation}");
    let replayed = support::text(
        &browser(),
        server.url(&format!(
            "/cas/p3/serviceValidate?ticket={ticket}&service={service}"
        )),
    )
    .await;
    assert!(
        replayed.contains("INVALID_TICKET"),
        "a ticket serves once: {replayed}"
    );

    // Claire recovers her password with a code sent to her mobile
    let claire = browser();
    let r = post_form(
        &server,
        &claire,
        "/mot-de-passe-oublie",
        "/mot-de-passe-oublie",
        &[("identifiant", "claire.martin"), ("canal", "sms")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let step = location(&r);
    let flow = step.split("id=").nth(1).expect(&step).to_owned();
    secrets.push(("a recovery step's id", flow));
    let texts = support::outbox_to(&server, "+33611223344").await;
    let sms_code = support::code_in(&texts[0]);
    secrets.push(("a one-time code sent by SMS", sms_code.clone()));
    let wrong = if sms_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = post_form(
        &server,
        &claire,
        &step,
        "/mot-de-passe-oublie/code",
        &[("code", wrong)],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a wrong code first"
    );
    let r = post_form(
        &server,
        &claire,
        &step,
        "/mot-de-passe-oublie/code",
        &[("code", &sms_code)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new_page = location(&r);
    let r = post_form(
        &server,
        &claire,
        &new_page,
        "/mot-de-passe-oublie/nouveau",
        &[
            ("password", "Jardin-Bleu-77"),
            ("confirmation", "Jardin-Bleu-77"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = support::post_sign_in(
        &server,
        &browser(),
        "responsable",
        "claire.martin",
        "Jardin-Bleu-77",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    secrets.push(("a session cookie", cookie_value(&r, "idp_session")));

    // what went through the IdP is counted
    let metrics = support::text(&browser(), server.url("/metrics")).await;
    for line in [
        "idp_sign_ins_total{outcome=\"success\"} 2",
        "idp_sign_ins_total{outcome=\"wrong_credentials\"} 1",
        "idp_issued_total{kind=\"authorization_code\"} 1",
        "idp_issued_total{kind=\"access_token\"} 2",
        "idp_issued_total{kind=\"refresh_token\"} 2",
        "idp_issued_total{kind=\"cas_service_ticket\"} 1",
        "idp_http_requests_total{route=\"/oidc/token\",method=\"POST\",status=\"200\"} 2",
        "idp_http_requests_total{route=\"/oidc/token\",method=\"POST\",status=\"400\"} 2",
        "idp_http_requests_total{route=\"/cas/p3/serviceValidate\",method=\"GET\",status=\"200\"} 2",
        "idp_http_request_duration_seconds_count{route=\"/login\",method=\"POST\"} 3",
        "idp_password_hashing_waiting 0",
        "idp_database_up 1",
        "idp_ephemeral_up 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "/metrics lacks `{line}`:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("idp_outbox_backlog "),
        "the outbox backlog: {metrics}"
    );
    assert!(
        !metrics.contains("lea.martin") && !metrics.contains(&ticket),
        "paths asked for never become labels"
    );
    let counter = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(counter("idp_password_verifications_total") >= 3);
    assert!(
        counter("idp_password_hashes_total") >= 1,
        "Claire's new password"
    );

    drop(server);
    let logs = captured.text();
    let mut leaked = Vec::new();
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what} is too short to search for");
        if let Some(line) = logs.lines().find(|l| holds(l, secret)) {
            leaked.push(format!("{what} in: {line}"));
        }
    }
    assert!(
        leaked.is_empty(),
        "{} secrets in {} lines of logs:\n{}",
        leaked.len(),
        logs.lines().count(),
        leaked.join("\n")
    );
    // the capture worked: requests are logged with their id and route pattern
    let request_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("\"name\":\"request\""))
        .collect();
    assert!(
        request_lines
            .iter()
            .any(|l| l.contains("\"route\":\"/oidc/token\"") && l.contains("\"id\":\"")),
        "no request span with an id and a route in:\n{logs}"
    );
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    println!(
        "{} log lines at debug level, {} secrets searched for, none found",
        logs.lines().count(),
        secrets.len()
    );
}

#[tokio::test]
async fn metrics_ask_for_their_token_when_one_is_set() {
    let server = TestServer::start_with("metrics_token = \"scrape-token-0123456789\"").await;
    let get = |token: Option<&'static str>| {
        let mut request = reqwest::Client::new().get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = get(Some("scrape-token-012345678")).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a prefix is not the token"
    );
    let r = get(Some("scrape-token-0123456789")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("idp_sign_ins_total{outcome=\"success\"}")
    );
}

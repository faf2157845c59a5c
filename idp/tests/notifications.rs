//! E-mails end to end: an address given at the first connection is mailed a single-use link,
//! shown on the demo's `/dev/outbox`; and, against a real SMTP server (aiosmtpd, run by
//! `.ci/run` with `TEST_SMTP_PYTHON`), a mail written while the server is down is delivered
//! once it is back, exactly once; an SMS gateway (a local HTTP server) that refuses a first
//! time gets the same message once more, then never again.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::first_connection::{choose_password, confirm, sign_in_temporary};
use support::{TestServer, browser, hidden_field};

const HUGO: (&str, &str, &str) = ("eleve", "hugo.martin", "Provisoire-2026");

/// Hugo's first connection, giving an e-mail address; returns the page shown at the end.
async fn activate_with_email(server: &TestServer, b: &reqwest::Client, email: &str) -> String {
    let step = sign_in_temporary(server, b, "/login", HUGO).await;
    let r = choose_password(server, b, &step, "Trottinette-42", "Trottinette-42").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = confirm(
        server,
        b,
        &step,
        &[("naissance", "02/09/2015"), ("email", email)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Opens a confirmation link and presses its button.
async fn open_link(b: &reqwest::Client, link: &str) -> reqwest::Response {
    let page = support::text(b, link).await;
    let origin = link.split("/confirmer-email").next().unwrap();
    b.post(format!("{origin}/confirmer-email"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("jeton", hidden_field(&page, "jeton").unwrap()),
        ])
        .send()
        .await
        .unwrap()
}

fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/confirmer-email?jeton="))
        .expect("a confirmation link")
        .to_owned()
}

#[tokio::test]
async fn an_address_given_at_the_first_connection_is_confirmed_by_its_link() {
    let server = TestServer::start_with("[notify]\noutbox_page = true").await;
    let b = browser();
    // a malformed address is said so, and nothing is activated
    let step = sign_in_temporary(&server, &b, "/login", HUGO).await;
    choose_password(&server, &b, &step, "Trottinette-42", "Trottinette-42").await;
    let r = confirm(
        &server,
        &b,
        &step,
        &[("naissance", "02/09/2015"), ("email", "hugo@")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("pas valide"));

    let done = activate_with_email(&server, &browser(), "Hugo.Parent@Example.fr").await;
    assert!(
        done.contains(
            "Un lien de confirmation a été envoyé à <strong>hugo.parent@example.fr</strong>"
        ),
        "{done}"
    );

    // the demo's outbox page shows the mail and its link
    let page = support::text(&b, server.url("/dev/outbox")).await;
    assert!(page.contains("Courriel à hugo.parent@example.fr"), "{page}");
    assert!(page.contains("gardé ici (aucun envoi configuré)"));
    let link = link_in(
        &page
            .replace("&#x2f;", "/")
            .replace("&#61;", "=")
            .replace("&#x3d;", "="),
    );
    let queued = server.state.outbox.recent(5).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(link_in(&queued[0].message.body_text), link);
    assert!(
        queued[0]
            .message
            .body_html
            .as_deref()
            .unwrap()
            .contains("Confirmer mon adresse")
    );

    // not confirmed until the link is opened; then once
    let account = server
        .state
        .accounts
        .by_identifier("hugo.martin")
        .await
        .unwrap()
        .unwrap();
    assert!(!account.email_confirmed);
    let r = open_link(&b, &link).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Adresse électronique confirmée")
    );
    let account = server
        .state
        .accounts
        .by_id(account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.email.as_deref(), Some("hugo.parent@example.fr"));
    assert!(account.email_confirmed);
    let r = open_link(&b, &link).await;
    assert_eq!(r.status(), StatusCode::GONE);
}

#[tokio::test]
async fn the_outbox_page_exists_only_where_configured() {
    let server = TestServer::start().await;
    let r = browser()
        .get(server.url("/dev/outbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// An SMTP server (aiosmtpd) writing each mail it accepts into a directory.
struct SmtpSink {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start(python: &str, port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/interop/python/smtp_sink.py"
        );
        let child = std::process::Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .spawn()
            .unwrap();
        Self { child, dir }
    }

    fn received(&self) -> Vec<String> {
        let mut mails: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| {
                let path = e.ok()?.path();
                (path.extension()? == "eml").then(|| std::fs::read_to_string(path).unwrap())
            })
            .collect();
        mails.sort();
        mails
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for(mut done: impl AsyncFnMut() -> bool, what: &str) {
    for _ in 0..100 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
#[ignore = "needs a Python with aiosmtpd: set TEST_SMTP_PYTHON (.ci/run does it)"]
async fn a_mail_written_while_smtp_is_down_is_delivered_once_when_it_is_back() {
    let python = std::env::var("TEST_SMTP_PYTHON").expect("TEST_SMTP_PYTHON");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(&format!(
        "[notify.email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"Connexion <ne-pas-repondre@example.fr>\""
    ))
    .await;
    // the outage: nothing listens; the activation still succeeds and the mail waits
    activate_with_email(&server, &browser(), "hugo.parent@example.fr").await;
    let outbox = server.state.outbox.clone();
    // a claim counts the attempt before the send fails: wait for the failure itself
    wait_for(
        async || {
            let m = &outbox.recent(1).await.unwrap()[0];
            m.attempts >= 1 && m.last_error.is_some()
        },
        "a first failed attempt",
    )
    .await;
    let m = &outbox.recent(1).await.unwrap()[0];
    assert_eq!(
        (m.sent_at, m.failed_at),
        (None, None),
        "kept for a retry: {m:?}"
    );
    assert!(m.last_error.is_some());

    // the server is back; the retry is due once its delay has passed
    let sink = SmtpSink::start(&python, port);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.clock.advance(60);
    server.state.notifier.poke();
    wait_for(
        async || sink.received().len() == 1,
        "the mail at the SMTP server",
    )
    .await;
    wait_for(
        async || outbox.recent(1).await.unwrap()[0].sent_at.is_some(),
        "the mail marked sent",
    )
    .await;
    // later passes of the worker send nothing more
    for _ in 0..3 {
        server.clock.advance(3600);
        server.state.notifier.poke();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "exactly once");
    let mail = &mails[0];
    assert!(mail.contains("To: hugo.parent@example.fr"), "{mail}");
    assert!(
        mail.contains("Subject: =?utf-8?") || mail.contains("Subject: Confirmez"),
        "{mail}"
    );
    assert!(
        mail.contains("multipart/alternative"),
        "text and HTML parts"
    );
    assert!(mail.contains("/confirmer-email?jeton="), "{mail}");
    // the link in the mail works
    let link = link_in(
        &mail
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "="),
    );
    let r = open_link(&browser(), &link).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// What the gateway was sent: the Authorization header and the JSON body.
type Received = (Option<String>, serde_json::Value);

/// An SMS gateway on a free port: it refuses the first request with 503, accepts the next
/// ones, and keeps what it was sent.
#[derive(Clone, Default)]
struct Gateway {
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Gateway {
    async fn start() -> (Self, u16) {
        use axum::http::HeaderMap;
        let gateway = Self::default();
        let kept = gateway.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let kept = kept.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let mut requests = kept.requests.lock().unwrap();
                    requests.push((auth, serde_json::from_str(&body).unwrap_or_default()));
                    if requests.len() == 1 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (gateway, port)
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn an_sms_refused_by_the_gateway_is_sent_again_then_once() {
    let (gateway, port) = Gateway::start().await;
    let server = TestServer::start_with(&format!(
        "[notify.sms]\ngateway_url = \"http://127.0.0.1:{port}/sms\"\nauthorization = \"Bearer jeton-de-test\"\nsender = \"ECOLES\""
    ))
    .await;
    // Paul asks for a sign-up code
    let b = browser();
    let page = support::text(&b, server.url("/inscription")).await;
    let r = b
        .post(server.url("/inscription"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("nom", "DURAND".into()),
            ("prenom", "Paul".into()),
            ("portable", "0612345678".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    wait_for(async || gateway.requests().len() == 1, "the first attempt").await;
    let outbox = server.state.outbox.clone();
    wait_for(
        async || outbox.recent(1).await.unwrap()[0].last_error.is_some(),
        "the refusal recorded",
    )
    .await;
    assert_eq!(outbox.recent(1).await.unwrap()[0].sent_at, None);
    // the retry is due once its delay has passed
    server.clock.advance(60);
    server.state.notifier.poke();
    wait_for(
        async || outbox.recent(1).await.unwrap()[0].sent_at.is_some(),
        "the SMS accepted",
    )
    .await;
    for _ in 0..3 {
        server.clock.advance(3600);
        server.state.notifier.poke();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let requests = gateway.requests();
    assert_eq!(
        requests.len(),
        2,
        "refused once, accepted once, never again"
    );
    let (auth, body) = &requests[1];
    assert_eq!(auth.as_deref(), Some("Bearer jeton-de-test"));
    assert_eq!(body["to"], "+33612345678");
    assert_eq!(body["sender"], "ECOLES");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("Votre code de création de compte : "),
        "{text}"
    );
    assert_eq!(requests[0].1, requests[1].1, "the same message");
}

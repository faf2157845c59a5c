//! The staff sign-in as a browser takes it: the password, then the TOTP code.

#![allow(dead_code)]

use idp::demo::DEMO_TOTP_SECRET;
use idp::domain::totp;
use reqwest::StatusCode;

use super::first_connection::location;
use super::{TestServer, browser, hidden_field, text};

/// The current code of a secret on the server's clock; the clock then moves on a step, so
/// that the next sign-in of the same staff member has a code not used yet.
pub fn next_code(server: &TestServer, secret: &[u8]) -> String {
    let code = totp::code_at(secret, server.clock_now());
    server.clock.advance(totp::STEP_SECONDS);
    code
}

pub async fn post_password(
    server: &TestServer,
    b: &reqwest::Client,
    identifier: &str,
    password: &str,
) -> reqwest::Response {
    let page = text(b, server.url("/admin/connexion")).await;
    b.post(server.url("/admin/connexion"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("identifier", identifier.to_owned()),
            ("password", password.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn post_code(server: &TestServer, b: &reqwest::Client, code: &str) -> reqwest::Response {
    let page = text(b, server.url("/admin/connexion/code")).await;
    let csrf = hidden_field(&page, "csrf").unwrap_or_else(|| panic!("no code form: {page}"));
    b.post(server.url("/admin/connexion/code"))
        .form(&[("csrf", csrf), ("code", code.to_owned())])
        .send()
        .await
        .unwrap()
}

/// A browser signed in as a demo staff member (both factors).
pub async fn staff(server: &TestServer, (identifier, password): (&str, &str)) -> reqwest::Client {
    let b = browser();
    let r = post_password(server, &b, identifier, password).await;
    assert_eq!(
        location(&r),
        "/admin/connexion/code",
        "{identifier}: password"
    );
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap();
    let r = post_code(server, &b, &next_code(server, &secret)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{identifier}: code");
    assert_eq!(location(&r), "/admin");
    b
}

//! The first connection's steps as a browser takes them.

#![allow(dead_code)]

use reqwest::StatusCode;

use super::{TestServer, hidden_field, set_cookie_header};

pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Signs in with a temporary password; returns the first-connection step's address.
pub async fn sign_in_temporary(
    server: &TestServer,
    b: &reqwest::Client,
    login: &str,
    (profile, identifier, password): (&str, &str, &str),
) -> String {
    let page = super::text(
        b,
        server.url(&format!(
            "{login}{}profil={profile}",
            if login.contains('?') { "&" } else { "?" }
        )),
    )
    .await;
    let form = super::sign_in_form(&page, identifier, password);
    let r = b
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie_header(&r, "idp_session").is_none(),
        "no session yet"
    );
    let to = location(&r);
    assert!(to.starts_with("/premiere-connexion?id="), "{to}");
    to
}

pub async fn choose_password(
    server: &TestServer,
    b: &reqwest::Client,
    step: &str,
    password: &str,
    confirmation: &str,
) -> reqwest::Response {
    let page = super::text(b, server.url(step)).await;
    b.post(server.url("/premiere-connexion/mot-de-passe"))
        .form(&[
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("id", hidden_field(&page, "id").unwrap()),
            ("password", password.to_owned()),
            ("confirmation", confirmation.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn confirm(
    server: &TestServer,
    b: &reqwest::Client,
    step: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    super::post_form(server, b, step, "/premiere-connexion/confirmer", fields).await
}

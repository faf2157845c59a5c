//! The OpenID Connect code flow as the demo ENT drives it: the authorization URL with PKCE,
//! the sign-in on the way, the token endpoint.

#![allow(dead_code)]

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::TestServer;

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

pub const ENT: &str = "ent-demo";
pub const ENT_SECRET: &str = "ent-demo-secret";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn ent_redirect(server: &TestServer) -> String {
    format!("http://127.0.0.1:{}/callback", server.port() + 1)
}

pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An authorization URL for the ENT with PKCE, with `extra` parameters.
pub fn authorize_url(server: &TestServer, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/oidc/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", ENT)
            .append_pair("redirect_uri", &ent_redirect(server))
            .append_pair("scope", "openid profile educonnect offline_access")
            .append_pair("state", "state-123")
            .append_pair("nonce", "nonce-456")
            .append_pair("code_challenge", &challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Follows an authorization through the sign-in page; returns the final redirect to the client.
pub async fn authorize_as(
    server: &TestServer,
    b: &reqwest::Client,
    url: &str,
    identifier: &str,
    password: &str,
) -> String {
    let r = b.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{url}");
    let mut next = location(&r);
    if next.starts_with("/login") {
        let page = b
            .get(server.url(&next))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let form = super::sign_in_form(&page, identifier, password);
        let r = b
            .post(server.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let resume = location(&r);
        let r = b.get(server.url(&resume)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        next = location(&r);
    }
    next
}

pub async fn code_for_lea(server: &TestServer, b: &reqwest::Client) -> String {
    let back = authorize_as(
        server,
        b,
        &authorize_url(server, &[("acr_values", "eleve")]),
        "lea.martin",
        "Cartable-2026",
    )
    .await;
    assert!(back.starts_with(&ent_redirect(server)), "{back}");
    let q = query(&back);
    assert_eq!(q["state"], "state-123");
    assert_eq!(q["iss"], server.base, "RFC 9207 iss");
    q["code"].clone()
}

pub async fn token_request(
    server: &TestServer,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(server.url("/oidc/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

pub async fn exchange(server: &TestServer, code: &str) -> (StatusCode, Value) {
    let redirect = ent_redirect(server);
    token_request(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ],
        Some((ENT, ENT_SECRET)),
    )
    .await
}

pub async fn refresh(server: &TestServer, token: &str) -> (StatusCode, Value) {
    token_request(
        server,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Some((ENT, ENT_SECRET)),
    )
    .await
}

//! The OpenID Connect provider end to end over HTTP: a browser and relying parties talking to
//! the real server. (Certified third-party clients are exercised by tests/interop.)

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::oidc::*;
use support::{TestServer, browser, hidden_field};

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn userinfo(server: &TestServer, access_token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url("/oidc/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// Verifies a JWT with the server's published JWKS; returns header and claims.
async fn verify_jwt(
    server: &TestServer,
    token: &str,
    audience: &str,
) -> (jsonwebtoken::Header, Value) {
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(server.url("/oidc/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[&server.base]);
    v.set_audience(&[audience]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims;
    (header, claims)
}

#[tokio::test]
async fn discovery_and_jwks_describe_what_is_supported() {
    let server = TestServer::start().await;
    let d: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], server.base);
    assert_eq!(d["token_endpoint"], server.url("/oidc/token"));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(
        d["subject_types_supported"],
        serde_json::json!(["pairwise", "public"])
    );
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256"])
    );
    let jwks: Value = reqwest::get(server.url("/oidc/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, vec!["ES256", "RS256"]);
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}

#[tokio::test]
async fn code_flow_with_pkce_id_token_and_userinfo() {
    let server = TestServer::start().await;
    let b = browser();
    let code = code_for_lea(&server, &b).await;
    let (status, tokens) = exchange(&server, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    assert!(tokens["refresh_token"].is_string());

    let (header, id) = verify_jwt(&server, tokens["id_token"].as_str().unwrap(), ENT).await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["acr"], "eleve");
    // no personal data in the ID token: it travels back in logout URLs
    assert!(id.get("given_name").is_none() && id.get("FrEduCtEleveUAI").is_none());
    assert!(id["auth_time"].is_i64());
    let access = tokens["access_token"].as_str().unwrap();
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]);
    assert_eq!(id["at_hash"], at_hash);

    let (at_header, at) = verify_jwt(&server, access, ENT).await;
    assert_eq!(at_header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(at["client_id"], ENT);

    let r = userinfo(&server, access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["given_name"], "Léa");
    assert_eq!(info["family_name"], "MARTIN");
    assert_eq!(
        info["FrEduCtPersonAffiliation"],
        serde_json::json!(["eleve2d"])
    );
    assert_eq!(info["FrEduCtEleveUAI"], "0141234A");
    assert_eq!(info["FrEduCtEleveNiveau"], "1003");
    assert_eq!(info["FrEduOrigAuth"], "ECT");
    assert!(
        info.get("FrEduCtEleveINE").is_none(),
        "not registered for the ENT"
    );
    // POST with the token in the body works too
    let r = reqwest::Client::new()
        .post(server.url("/oidc/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // a forged token is refused
    let r = userinfo(&server, &format!("{access}x")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn a_guardian_gets_the_children_claim() {
    let server = TestServer::start().await;
    let b = browser();
    let back = authorize_as(
        &server,
        &b,
        &authorize_url(&server, &[("acr_values", "responsable")]),
        "claire.martin",
        "Parent-2026!",
    )
    .await;
    let (_, tokens) = exchange(&server, &query(&back)["code"]).await;
    let info: Value = userinfo(&server, tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["FrEduCtPersonAffiliation"],
        serde_json::json!(["resp1d", "resp2d"])
    );
    let children = info["FrEduCtEnfants"].as_array().unwrap();
    let names: Vec<&str> = children
        .iter()
        .map(|c| c["given_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Léa", "Hugo"]);
    assert_eq!(children[1]["classe"], "CM2");
    assert!(info.get("FrEduCtEleveUAI").is_none());
}

#[tokio::test]
async fn a_second_client_signs_in_without_asking_again() {
    let server = TestServer::start().await;
    let b = browser();
    code_for_lea(&server, &b).await;
    let tele = format!("http://127.0.0.1:{}/callback", server.port() + 4);
    let url = format!(
        "{}?response_type=code&client_id=teleservice-demo&redirect_uri={}&scope=openid%20profile&state=t",
        server.url("/oidc/authorize"),
        url::form_urlencoded::byte_serialize(tele.as_bytes()).collect::<String>()
    );
    let r = b.get(&url).send().await.unwrap();
    let back = location(&r);
    assert!(
        back.starts_with(&tele),
        "SSO: straight back to the client, got {back}"
    );
    let (status, tokens) = token_request(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query(&back)["code"]),
            ("redirect_uri", &tele),
            ("client_id", "teleservice-demo"),
            ("client_secret", "teleservice-demo-secret"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (header, id) = verify_jwt(
        &server,
        tokens["id_token"].as_str().unwrap(),
        "teleservice-demo",
    )
    .await;
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "registered for RS256"
    );
    assert!(id.get("given_name").is_none());
    let info: Value = userinfo(&server, tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["given_name"], "Léa");
    assert!(
        info.get("FrEduCtEleveUAI").is_none(),
        "data minimisation: not registered"
    );
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access asked: no refresh token"
    );
    // prompt=login asks again even with a session, and a new sign-in satisfies it
    let back = authorize_as(
        &server,
        &b,
        &format!("{url}&prompt=login&acr_values=eleve"),
        "lea.martin",
        "Cartable-2026",
    )
    .await;
    assert!(back.starts_with(&tele) && back.contains("code="), "{back}");
    let r = b.get(format!("{url}&prompt=login")).send().await.unwrap();
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let server = TestServer::start().await;
    let r = browser()
        .get(authorize_url(&server, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    let q = query(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "state-123");
    assert_eq!(q["iss"], server.base);
}

#[tokio::test]
async fn max_age_asks_for_a_fresh_sign_in() {
    let server = TestServer::start().await;
    let b = browser();
    code_for_lea(&server, &b).await;
    server.clock.advance(120);
    let r = b
        .get(authorize_url(&server, &[("max_age", "60")]))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login"));
    let r = b
        .get(authorize_url(&server, &[("max_age", "600")]))
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("code="));
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_never_redirected_to() {
    let server = TestServer::start().await;
    for bad in [
        format!("http://127.0.0.1:{}/evil", server.port() + 1),
        "https://evil.example/callback".to_owned(),
        format!("{}/", ent_redirect(&server)),
    ] {
        let url = authorize_url(&server, &[]).replace(
            &url::form_urlencoded::byte_serialize(ent_redirect(&server).as_bytes())
                .collect::<String>(),
            &url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>(),
        );
        let r = browser().get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("pas enregistrée"));
    }
    let r = browser()
        .get(authorize_url(&server, &[]).replace("client_id=ent-demo", "client_id=nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_tokens() {
    let server = TestServer::start().await;
    let code = code_for_lea(&server, &browser()).await;
    let (status, tokens) = exchange(&server, &code).await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).await.status(), StatusCode::OK);
    let (status, error) = exchange(&server, &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_grant");
    // what the first exchange issued is now revoked
    assert_eq!(
        userinfo(&server, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, e) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn pkce_is_enforced_at_the_token_endpoint() {
    let server = TestServer::start().await;
    let code = code_for_lea(&server, &browser()).await;
    let redirect = ent_redirect(&server);
    let (_, e) = token_request(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &VERIFIER.replace('d', "D")),
        ],
        Some((ENT, ENT_SECRET)),
    )
    .await;
    assert_eq!(e["error"], "invalid_grant");
    // the code was consumed by the failed attempt: single use
    let (_, e) = exchange(&server, &code).await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let server = TestServer::start().await;
    let (_, first) = exchange(&server, &code_for_lea(&server, &browser()).await).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&server, r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "rotated");
    let (_, id) = verify_jwt(&server, second["id_token"].as_str().unwrap(), ENT).await;
    assert!(id.get("nonce").is_none());
    // the spent token again: refused, and the family is revoked
    let (status, e) = refresh(&server, r1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    let (_, e) = refresh(&server, r2).await;
    assert_eq!(e["error"], "invalid_grant", "the whole family is revoked");
    assert_eq!(
        userinfo(&server, second["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn client_authentication_failures() {
    let server = TestServer::start().await;
    let code = code_for_lea(&server, &browser()).await;
    let redirect = ent_redirect(&server);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let r = reqwest::Client::new()
        .post(server.url("/oidc/token"))
        .basic_auth(ENT, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // the ENT is registered for client_secret_basic, not post
    let mut post = form.to_vec();
    post.extend([("client_id", ENT), ("client_secret", ENT_SECRET)]);
    let (status, e) = token_request(&server, &post, None).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // the failures did not consume the code
    let (status, _) = exchange(&server, &code).await;
    assert_eq!(status, StatusCode::OK);
    let (_, e) = token_request(
        &server,
        &[("grant_type", "password")],
        Some((ENT, ENT_SECRET)),
    )
    .await;
    assert_eq!(e["error"], "unsupported_grant_type");
}

const RESOURCE_SERVER: &str = r#"protocol = "oidc"
client_id = "api-academie"
name = "API de l'académie"
client_secret = "api-academie-secret"
grant_types = ["client_credentials"]
scopes = ["profile"]
introspection = true
"#;

#[tokio::test]
async fn client_credentials_introspection_and_revocation() {
    let server = TestServer::start_with_clients("", &[("api", RESOURCE_SERVER)]).await;
    let api = ("api-academie", "api-academie-secret");
    let (status, cc) = token_request(
        &server,
        &[("grant_type", "client_credentials"), ("scope", "profile")],
        Some(api),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cc}");
    assert!(cc.get("refresh_token").is_none() && cc.get("id_token").is_none());
    let (_, e) = token_request(
        &server,
        &[("grant_type", "client_credentials")],
        Some((ENT, ENT_SECRET)),
    )
    .await;
    assert_eq!(e["error"], "unauthorized_client");

    let (_, tokens) = exchange(&server, &code_for_lea(&server, &browser()).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let introspect = |token: String, who: (&'static str, &'static str)| {
        let url = server.url("/oidc/introspect");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth(who.0, Some(who.1))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (_, i) = introspect(access.to_owned(), api).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], ENT);
    assert_eq!(i["scope"], "openid profile educonnect offline_access");
    let (_, i) = introspect(refresh_token.to_owned(), api).await;
    assert_eq!(
        (i["active"].clone(), i["token_type"].clone()),
        (Value::Bool(true), Value::from("refresh_token"))
    );
    let (_, i) = introspect("garbage".into(), api).await;
    assert_eq!(i, serde_json::json!({ "active": false }));
    // the ENT is not a resource server
    let (status, _) = introspect(access.to_owned(), (ENT, ENT_SECRET)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // RFC 7009: revoking the access token
    let revoke = |token: String| {
        let url = server.url("/oidc/revoke");
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(ENT, Some(ENT_SECRET))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke(access.to_owned()).await, StatusCode::OK);
    assert_eq!(introspect(access.to_owned(), api).await.1["active"], false);
    assert_eq!(
        userinfo(&server, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // and the refresh token, which ends the grant
    assert_eq!(revoke(refresh_token.to_owned()).await, StatusCode::OK);
    assert_eq!(
        introspect(refresh_token.to_owned(), api).await.1["active"],
        false
    );
    assert_eq!(
        refresh(&server, refresh_token).await.1["error"],
        "invalid_grant"
    );
    assert_eq!(revoke("unknown".into()).await, StatusCode::OK);
}

/// A relying party's back-channel logout endpoint: records what it receives.
async fn backchannel_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |axum::Form(f): axum::Form<HashMap<String, String>>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(f["logout_token"].clone());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, received)
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_and_notifies_the_other_clients() {
    let (port, received) = backchannel_listener().await;
    let portal = format!(
        r#"protocol = "oidc"
client_id = "portail"
name = "Portail"
client_secret = "portail-secret-123"
redirect_uris = ["http://127.0.0.1:{port}/cb"]
backchannel_logout_uri = "http://127.0.0.1:{port}/backchannel"
subject_type = "public"
"#
    );
    let server = TestServer::start_with_clients("", &[("portail", &portal)]).await;
    let b = browser();
    let (_, tokens) = exchange(&server, &code_for_lea(&server, &b).await).await;
    // the same browser signs in to the portal by SSO
    let r = b
        .get(format!(
            "{}?response_type=code&client_id=portail&redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcb&scope=openid",
            server.url("/oidc/authorize")
        ))
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("code="));

    let id_token = tokens["id_token"].as_str().unwrap();
    let (_, id) = verify_jwt(&server, id_token, ENT).await;
    let bye = format!("http://127.0.0.1:{}/", server.port() + 1);
    let mut url = url::Url::parse(&server.url("/oidc/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", &bye)
        .append_pair("state", "bye-1");
    let r = b.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{bye}?state=bye-1"));
    // the session is gone
    let r = b
        .get(authorize_url(&server, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");

    // the portal received a valid logout token for the same session
    let mut token = None;
    for _ in 0..50 {
        if let Some(t) = received.lock().unwrap().first().cloned() {
            token = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("a back-channel logout token");
    let (header, claims) = verify_jwt(&server, &token, "portail").await;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["sid"], id["sid"]);
    assert!(
        claims["events"]
            .get("http://schemas.openid.net/event/backchannel-logout")
            .is_some()
    );
    assert!(claims.get("nonce").is_none());
    assert_ne!(
        claims["sub"], id["sub"],
        "public subject for the portal, pairwise for the ENT"
    );
}

#[tokio::test]
async fn logout_redirects_only_to_registered_addresses_and_asks_without_a_hint() {
    let server = TestServer::start().await;
    let b = browser();
    let (_, tokens) = exchange(&server, &code_for_lea(&server, &b).await).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let r = b
        .get(server.url("/oidc/logout"))
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // without a hint: a confirmation page, and the session is still there
    let bye = format!("http://127.0.0.1:{}/", server.port() + 1);
    let r = b
        .get(server.url("/oidc/logout"))
        .query(&[("client_id", ENT), ("post_logout_redirect_uri", &bye)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Voulez-vous vous déconnecter"));
    let r = b
        .get(authorize_url(&server, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("code="), "still signed in");
    // confirming signs out and goes back to the client
    let form = [
        ("csrf", hidden_field(&page, "csrf").unwrap()),
        ("client_id", hidden_field(&page, "client_id").unwrap()),
        (
            "post_logout_redirect_uri",
            hidden_field(&page, "post_logout_redirect_uri").unwrap(),
        ),
        ("state", String::new()),
    ];
    let r = b
        .post(server.url("/logout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), bye);
}

#[tokio::test]
async fn keys_rotate_without_breaking_tokens_issued_before() {
    let server = TestServer::start().await;
    let (_, before) = exchange(&server, &code_for_lea(&server, &browser()).await).await;
    let old_kid = jsonwebtoken::decode_header(before["id_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    server.state.keys.rotate(server.clock_now()).await.unwrap();
    // a token signed before the rotation still verifies with the published keys, and works
    verify_jwt(&server, before["id_token"].as_str().unwrap(), ENT).await;
    assert_eq!(
        userinfo(&server, before["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let (_, after) = refresh(&server, before["refresh_token"].as_str().unwrap()).await;
    let new_kid = jsonwebtoken::decode_header(after["id_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(old_kid, new_kid, "new tokens use the new key");
    verify_jwt(&server, after["id_token"].as_str().unwrap(), ENT).await;
    // once every token of the old key has expired, it leaves the JWKS
    server.clock.advance(3600);
    let jwks: Value = reqwest::get(server.url("/oidc/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks.to_string().contains(&old_kid));
}

const CONSENT_APP: &str = r#"protocol = "oidc"
client_id = "appli-mobile"
name = "Application mobile"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1:{port}/app"]
require_consent = true
claims = ["given_name", "family_name"]
"#;

#[tokio::test]
async fn a_public_client_needs_pkce_and_consent() {
    let server = TestServer::start_with_clients("", &[("app", CONSENT_APP)]).await;
    let redirect = format!("http://127.0.0.1:{}/app", server.port());
    let base = format!(
        "{}?response_type=code&client_id=appli-mobile&redirect_uri={}&scope=openid%20profile&state=s",
        server.url("/oidc/authorize"),
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    let b = browser();
    let r = b.get(&base).send().await.unwrap();
    assert_eq!(
        query(&location(&r))["error"],
        "invalid_request",
        "PKCE required"
    );
    let with_pkce = format!(
        "{base}&code_challenge={}&code_challenge_method=S256&acr_values=eleve",
        challenge(VERIFIER)
    );
    let to_consent = authorize_as(&server, &b, &with_pkce, "lea.martin", "Cartable-2026").await;
    assert!(to_consent.starts_with("/oidc/consent"), "{to_consent}");
    let r = b.get(server.url(&to_consent)).send().await.unwrap();
    // the consent form's answer redirects to the app: the page's CSP must let it
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let app_origin = format!("form-action 'self' http://127.0.0.1:{};", server.port());
    assert!(csp.contains(&app_origin), "{csp}");
    let page = r.text().await.unwrap();
    assert!(page.contains("Application mobile"));
    assert!(page.contains("vos nom et prénom"));
    let flow = query(&server.url(&to_consent))["flow"].clone();
    let csrf = hidden_field(&page, "csrf").unwrap();
    let r = b
        .post(server.url("/oidc/consent"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("flow", &flow),
            ("decision", "accept"),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&r);
    let code = query(&back)["code"].clone();
    let (status, tokens) = token_request(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("client_id", "appli-mobile"),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // consent is remembered; refusing later sends access_denied
    let r = b.get(&with_pkce).send().await.unwrap();
    assert!(location(&r).contains("code="));
    let r = b
        .get(format!("{with_pkce}&prompt=consent"))
        .send()
        .await
        .unwrap();
    let to_consent = location(&r);
    let flow = query(&server.url(&to_consent))["flow"].clone();
    let r = b
        .post(server.url("/oidc/consent"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("flow", &flow),
            ("decision", "refuse"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "access_denied");
}

#[tokio::test]
async fn private_key_jwt_client_authentication() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..]),
    );
    let registration = format!(
        r#"protocol = "oidc"
client_id = "service-jwt"
name = "Service"
token_endpoint_auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
scopes = ["profile"]
jwks = {{ keys = [{{ kty = "EC", crv = "P-256", kid = "k1", x = "{x}", y = "{y}", alg = "ES256", use = "sig" }}] }}
"#
    );
    let server = TestServer::start_with_clients("", &[("jwt", &registration)]).await;
    let now = server.clock_now();
    let assertion = |jti: &str, aud: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &serde_json::json!({ "iss": "service-jwt", "sub": "service-jwt", "aud": aud, "jti": jti, "iat": now, "exp": now + 60 }),
            &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
        .unwrap()
    };
    let token_endpoint = server.url("/oidc/token");
    let call = |jwt: String| {
        let url = token_endpoint.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &jwt),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = call(assertion("a-1", &token_endpoint)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(assertion("a-1", &token_endpoint)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "replayed assertion"
    );
    let (status, _) = call(assertion("a-2", "https://elsewhere.example/token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong audience");
    let far = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &serde_json::json!({ "iss": "service-jwt", "sub": "service-jwt", "aud": token_endpoint, "jti": "a-4", "iat": now + 315_360_000, "exp": now + 315_360_060 }),
            &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
        .unwrap()
    };
    let (status, _) = call(far).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an assertion from the future"
    );
    let forged = assertion("a-3", &token_endpoint);
    let (status, _) = call(format!("{}x", &forged[..forged.len() - 1])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bad signature");
}

#[tokio::test]
async fn logout_ends_the_session_s_grants_but_not_offline_ones() {
    let server = TestServer::start().await;
    let b = browser();
    // the ENT asked for offline_access, the téléservice did not
    let (_, ent) = exchange(&server, &code_for_lea(&server, &b).await).await;
    let tele = format!("http://127.0.0.1:{}/callback", server.port() + 4);
    let url = format!(
        "{}?response_type=code&client_id=teleservice-demo&redirect_uri={}&scope=openid%20profile",
        server.url("/oidc/authorize"),
        url::form_urlencoded::byte_serialize(tele.as_bytes()).collect::<String>()
    );
    let back = location(&b.get(&url).send().await.unwrap());
    let (_, teleservice) = token_request(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query(&back)["code"]),
            ("redirect_uri", &tele),
            ("client_id", "teleservice-demo"),
            ("client_secret", "teleservice-demo-secret"),
        ],
        None,
    )
    .await;
    let tele_access = teleservice["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&server, tele_access).await.status(),
        StatusCode::OK
    );
    let page = b
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&page, "csrf").unwrap();
    b.post(server.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        userinfo(&server, tele_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // offline access outlives the session, as asked
    let (status, _) = refresh(&server, ent["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_post_without_the_session_cookie_is_sent_on_as_a_get() {
    let server = TestServer::start().await;
    let b = browser();
    let (_, tokens) = exchange(&server, &code_for_lea(&server, &b).await).await;
    let bye = format!("http://127.0.0.1:{}/", server.port() + 1);
    let form = [
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", bye.as_str()),
        ("state", "s1"),
    ];
    // a SameSite=Lax cookie is not sent with a cross-site POST: as seen from the server,
    // a request without cookies
    let r = browser()
        .post(server.url("/oidc/logout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let get = location(&r);
    assert!(get.starts_with("/oidc/logout?id_token_hint="), "{get}");
    // the browser follows with a top-level GET, which carries the cookie: logout happens
    let r = b.get(server.url(&get)).send().await.unwrap();
    assert_eq!(location(&r), format!("{bye}?state=s1"));
    let r = b
        .get(authorize_url(&server, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
}

#[tokio::test]
async fn an_access_token_is_not_an_id_token_hint() {
    let server = TestServer::start().await;
    let b = browser();
    let (_, tokens) = exchange(&server, &code_for_lea(&server, &b).await).await;
    let r = b
        .get(server.url("/oidc/logout"))
        .query(&[("id_token_hint", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = b
        .get(authorize_url(&server, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("code="), "still signed in");
}

//! OpenID Connect parameter parsing: an authorization request's query, the end-session
//! request, the token endpoint's client credentials (Authorization header and form) and a code
//! exchange. Nothing may panic, and whatever is accepted sends the browser only to a
//! registered address.

#![no_main]

use idp::domain::session::AuthOrigin;
use idp::protocol::oidc::authorize::{self, AuthorizeParams};
use idp::protocol::oidc::token::{CodeRecord, check_code_exchange, pkce_s256};
use idp::protocol::oidc::{client_auth, logout};
use idp_fuzz::{ISSUER, NOW, fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // The first line stands for the Authorization header, the rest for the query or form.
    let (header, query) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let header = std::str::from_utf8(header).ok();

    if let Ok(params) = serde_urlencoded::from_bytes::<AuthorizeParams>(query) {
        match authorize::validate(&params, &f.registry) {
            Ok((request, client)) => {
                assert!(client.redirect_uris.contains(&request.redirect_uri));
                let url = authorize::response_url(
                    &request.redirect_uri,
                    ISSUER,
                    request.state.as_deref(),
                    Ok("code"),
                );
                assert!(url.starts_with(&request.redirect_uri));
            }
            Err(authorize::AuthorizeError::Redirect {
                redirect_uri,
                error,
                state,
            }) => {
                let registered = f
                    .registry
                    .oidc_clients()
                    .any(|c| c.redirect_uris.contains(&redirect_uri));
                assert!(registered, "an error sent to {redirect_uri}");
                let _ =
                    authorize::response_url(&redirect_uri, ISSUER, state.as_deref(), Err(&error));
            }
            Err(authorize::AuthorizeError::Page(_)) => {}
        }
    }

    let form: Vec<(String, String)> = url::form_urlencoded::parse(query).into_owned().collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    if let Ok(Some(url)) = logout::checked_redirect(
        &f.registry,
        None,
        get("client_id"),
        get("post_logout_redirect_uri"),
        get("state"),
    ) {
        let registered = f.registry.oidc_clients().any(|c| {
            c.post_logout_redirect_uris
                .iter()
                .any(|u| url.starts_with(u.as_str()))
        });
        assert!(registered, "a logout redirect to {url}");
    }

    let _ = client_auth::presented(
        header,
        get("client_id"),
        get("client_secret"),
        get("client_assertion_type"),
        get("client_assertion"),
    );

    let record = CodeRecord {
        client_id: "ent-demo".into(),
        redirect_uri: "http://127.0.0.1:8081/callback".into(),
        account_id: 1,
        scopes: vec!["openid".into()],
        nonce: None,
        code_challenge: Some(pkce_s256("verifier-of-the-fuzz-fixture-0123456789abcdef")),
        auth_time: NOW,
        origin: AuthOrigin::Local,
        sid: "sid".into(),
        acr: None,
        issued_at: NOW,
    };
    if check_code_exchange(
        &record,
        get("client_id").unwrap_or_default(),
        get("redirect_uri"),
        get("code_verifier"),
        NOW,
    )
    .is_ok()
    {
        assert_eq!(
            get("code_verifier"),
            Some("verifier-of-the-fuzz-fixture-0123456789abcdef")
        );
    }
});

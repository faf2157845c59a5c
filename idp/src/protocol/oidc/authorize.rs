//! The authorization endpoint's rules: which requests are valid, which errors may go back to
//! the client, and what to do next for a valid one.

use serde::{Deserialize, Serialize};

use super::OAuthError;
use crate::domain::account::AccountKind;
use crate::domain::session::SsoSession;
use crate::registry::{GrantType, OidcClient, Registry, SCOPES};

/// Longest `state`, `nonce` and `login_hint` accepted.
const MAX_PARAM_LEN: usize = 512;

/// The parameters of an authorization request, as received (query or form).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// A valid authorization request, kept while the person signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The profile an `acr_values` of `eleve` or `responsable` preselects.
    pub acr: Option<AccountKind>,
    /// With `prompt=login`: the session that was there when the sign-in was asked for (empty
    /// if none). Only a sign-in that replaced it satisfies the request: every sign-in opens
    /// a session with a new `sid`.
    #[serde(default)]
    pub reauth_from: Option<String>,
}

impl AuthRequest {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// For `prompt=login`: records, once, which session a new sign-in must replace.
    pub fn remember_session_to_replace(&mut self, current: Option<&SsoSession>) -> bool {
        if !self.prompt_login || self.reauth_from.is_some() {
            return false;
        }
        self.reauth_from = Some(current.map(|s| s.sid.clone()).unwrap_or_default());
        true
    }
}

/// Why a request was refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: show a page, never redirect.
    Page(String),
    /// Send the error back to the client's (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        error: OAuthError,
        state: Option<String>,
    },
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Checks a request against the registration (RFC 6749 §4.1.2.1, OIDC Core §3.1.2).
pub fn validate(
    params: &AuthorizeParams,
    registry: &Registry,
) -> Result<(AuthRequest, std::sync::Arc<OidcClient>), AuthorizeError> {
    let client_id = nonempty(&params.client_id).ok_or_else(|| {
        AuthorizeError::Page("La demande ne précise pas le service (client_id).".into())
    })?;
    let client = registry.oidc_client(client_id).ok_or_else(|| {
        AuthorizeError::Page(
            "Ce service n'est pas enregistré auprès du fournisseur d'identité.".into(),
        )
    })?;
    let redirect_uri = nonempty(&params.redirect_uri).ok_or_else(|| {
        AuthorizeError::Page("La demande ne précise pas l'adresse de retour (redirect_uri).".into())
    })?;
    // exact string comparison: no prefix, no normalisation
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(AuthorizeError::Page(
            "L'adresse de retour demandée n'est pas enregistrée pour ce service.".into(),
        ));
    }
    let state = params.state.clone().filter(|s| !s.is_empty());
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        error,
        state: state.clone(),
    };
    if state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
        return Err(fail(OAuthError::invalid_request("state is too long")));
    }
    if params.request.is_some() {
        return Err(fail(OAuthError::new(
            "request_not_supported",
            "request objects are not supported",
        )));
    }
    if params.request_uri.is_some() {
        return Err(fail(OAuthError::new(
            "request_uri_not_supported",
            "request_uri is not supported",
        )));
    }
    match nonempty(&params.response_type) {
        Some("code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(
                "unsupported_response_type",
                "only response_type=code is supported",
            )));
        }
        None => {
            return Err(fail(OAuthError::invalid_request(
                "response_type is missing",
            )));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(fail(OAuthError::unauthorized_client(
            "this client may not use the authorization code flow",
        )));
    }
    if let Some(mode) = nonempty(&params.response_mode)
        && mode != "query"
    {
        return Err(fail(OAuthError::invalid_request(
            "only response_mode=query is supported",
        )));
    }
    let scopes: Vec<String> = nonempty(&params.scope)
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(fail(OAuthError::invalid_scope(
            "the openid scope is required",
        )));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| !SCOPES.iter().any(|(k, _)| k == s) || !client.scopes.contains(*s))
    {
        return Err(fail(OAuthError::invalid_scope(format!(
            "scope {bad} is not allowed for this client"
        ))));
    }
    let mut scopes_unique = Vec::new();
    for s in scopes {
        if !scopes_unique.contains(&s) {
            scopes_unique.push(s);
        }
    }

    let code_challenge = match (
        nonempty(&params.code_challenge),
        nonempty(&params.code_challenge_method),
    ) {
        (Some(challenge), Some("S256")) => {
            let well_formed = (43..=128).contains(&challenge.len())
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(fail(OAuthError::invalid_request(
                    "code_challenge is malformed",
                )));
            }
            Some(challenge.to_owned())
        }
        (Some(_), _) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            )));
        }
        (None, Some(_)) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge is missing",
            )));
        }
        (None, None) if client.is_public() => {
            return Err(fail(OAuthError::invalid_request(
                "PKCE (S256) is required for public clients",
            )));
        }
        (None, None) => None,
    };

    let prompts: Vec<&str> = nonempty(&params.prompt)
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(p) = prompts
        .iter()
        .find(|p| !matches!(**p, "none" | "login" | "consent" | "select_account"))
    {
        return Err(fail(OAuthError::invalid_request(format!(
            "unknown prompt value {p}"
        ))));
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(fail(OAuthError::invalid_request(
            "prompt=none cannot be combined",
        )));
    }
    let max_age = match nonempty(&params.max_age) {
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            fail(OAuthError::invalid_request(
                "max_age must be a number of seconds",
            ))
        })?),
        None => None,
    };
    let nonce = params.nonce.clone().filter(|s| !s.is_empty());
    if nonce.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
        return Err(fail(OAuthError::invalid_request("nonce is too long")));
    }
    let login_hint = params
        .login_hint
        .clone()
        .filter(|s| !s.is_empty() && s.len() <= 64);
    let acr = nonempty(&params.acr_values).and_then(|v| v.split(' ').find_map(AccountKind::parse));
    Ok((
        AuthRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scopes: scopes_unique,
            state,
            nonce,
            code_challenge,
            prompt_none,
            // max_age=0 means "sign in now": the same as prompt=login, without a clock race
            prompt_login: prompts.contains(&"login") || max_age == Some(0),
            prompt_consent: prompts.contains(&"consent"),
            max_age: max_age.filter(|m| *m > 0),
            login_hint,
            acr,
            reauth_from: None,
        },
        client,
    ))
}

/// What to do with a valid request, given the browser's SSO session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Show the sign-in page, then come back.
    SignIn,
    /// Ask the person to agree to what the client will receive.
    Consent,
    IssueCode,
    /// Answer the client with this error (prompt=none could not be satisfied).
    Fail(OAuthError),
}

/// Decides the next step. `consented` says whether the person already agreed to this scope.
pub fn next_step(
    request: &AuthRequest,
    client: &OidcClient,
    session: Option<&SsoSession>,
    consented: bool,
    now: i64,
) -> Next {
    let fresh_sign_in_needed = match session {
        None => true,
        Some(s) => {
            (request.prompt_login
                && request
                    .reauth_from
                    .as_deref()
                    .is_none_or(|old| old == s.sid))
                || request.max_age.is_some_and(|m| now - s.auth_time > m)
        }
    };
    if fresh_sign_in_needed {
        return if request.prompt_none {
            Next::Fail(OAuthError::new("login_required", "the person must sign in"))
        } else {
            Next::SignIn
        };
    }
    if (client.require_consent && !consented) || request.prompt_consent {
        return if request.prompt_none {
            Next::Fail(OAuthError::new(
                "consent_required",
                "the person must consent",
            ))
        } else {
            Next::Consent
        };
    }
    Next::IssueCode
}

/// The URL that answers the client: `code` or `error`, with `state` and `iss` (RFC 9207).
pub fn response_url(
    redirect_uri: &str,
    issuer: &str,
    state: Option<&str>,
    outcome: Result<&str, &OAuthError>,
) -> String {
    let mut url = url::Url::parse(redirect_uri).expect("registered redirect URIs are absolute");
    {
        let mut q = url.query_pairs_mut();
        match outcome {
            Ok(code) => {
                q.append_pair("code", code);
            }
            Err(e) => {
                q.append_pair("error", e.code);
                q.append_pair("error_description", &e.description);
            }
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::session::AuthOrigin;
    use crate::keys::ServerSecret;

    const NOW: i64 = 1_790_000_000;

    fn registry() -> Registry {
        let mut r = Registry::default();
        let s = ServerSecret::for_tests();
        r.add_toml(
            r#"protocol = "oidc"
client_id = "ent"
name = "ENT"
client_secret = "ent-secret-123"
redirect_uris = ["https://ent.example.fr/cb"]
scopes = ["openid", "profile", "educonnect"]"#,
            &s,
        )
        .unwrap();
        r.add_toml(
            r#"protocol = "oidc"
client_id = "app"
name = "Application"
token_endpoint_auth_method = "none"
redirect_uris = ["https://app.example.fr/cb"]
require_consent = true"#,
            &s,
        )
        .unwrap();
        r
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("ent".into()),
            redirect_uri: Some("https://ent.example.fr/cb".into()),
            scope: Some("openid profile".into()),
            state: Some("xyz".into()),
            nonce: Some("n-1".into()),
            ..Default::default()
        }
    }

    fn redirect_error(p: AuthorizeParams) -> &'static str {
        match validate(&p, &registry()) {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(state, p.state.filter(|s| !s.is_empty()));
                error.code
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request() {
        let (r, c) = validate(&params(), &registry()).unwrap();
        assert_eq!(c.client_id, "ent");
        assert_eq!(r.scopes, vec!["openid", "profile"]);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(r.reauth_from, None);
        assert!(r.code_challenge.is_none());
    }

    #[test]
    fn untrusted_client_or_redirect_uri_never_redirects() {
        for p in [
            AuthorizeParams {
                client_id: None,
                ..params()
            },
            AuthorizeParams {
                client_id: Some("nobody".into()),
                ..params()
            },
            AuthorizeParams {
                redirect_uri: None,
                ..params()
            },
            AuthorizeParams {
                redirect_uri: Some("https://ent.example.fr/cb/".into()),
                ..params()
            },
            AuthorizeParams {
                redirect_uri: Some("https://ent.example.fr/cb?x=1".into()),
                ..params()
            },
            AuthorizeParams {
                redirect_uri: Some("https://evil.example/cb".into()),
                ..params()
            },
            // even with another error in the request
            AuthorizeParams {
                redirect_uri: Some("https://evil.example/cb".into()),
                response_type: Some("token".into()),
                ..params()
            },
        ] {
            assert!(
                matches!(validate(&p, &registry()), Err(AuthorizeError::Page(_))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn errors_go_back_to_the_client_with_their_code() {
        assert_eq!(
            redirect_error(AuthorizeParams {
                response_type: Some("token".into()),
                ..params()
            }),
            "unsupported_response_type"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                response_type: None,
                ..params()
            }),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                scope: Some("profile".into()),
                ..params()
            }),
            "invalid_scope"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                scope: Some("openid offline_access".into()),
                ..params()
            }),
            "invalid_scope"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                scope: Some("openid admin".into()),
                ..params()
            }),
            "invalid_scope"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                prompt: Some("none login".into()),
                ..params()
            }),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                prompt: Some("sometimes".into()),
                ..params()
            }),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                max_age: Some("-1".into()),
                ..params()
            }),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                request: Some("eyJ".into()),
                ..params()
            }),
            "request_not_supported"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                request_uri: Some("https://x".into()),
                ..params()
            }),
            "request_uri_not_supported"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                response_mode: Some("fragment".into()),
                ..params()
            }),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(AuthorizeParams {
                state: Some("s".repeat(600)),
                ..params()
            }),
            "invalid_request"
        );
    }

    #[test]
    fn pkce_rules() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned();
        let ok = AuthorizeParams {
            code_challenge: Some(challenge.clone()),
            code_challenge_method: Some("S256".into()),
            ..params()
        };
        assert_eq!(
            validate(&ok, &registry()).unwrap().0.code_challenge,
            Some(challenge.clone())
        );
        let plain = AuthorizeParams {
            code_challenge_method: Some("plain".into()),
            ..ok.clone()
        };
        assert_eq!(redirect_error(plain), "invalid_request");
        let no_method = AuthorizeParams {
            code_challenge_method: None,
            ..ok.clone()
        };
        assert_eq!(redirect_error(no_method), "invalid_request");
        let short = AuthorizeParams {
            code_challenge: Some("abc".into()),
            ..ok.clone()
        };
        assert_eq!(redirect_error(short), "invalid_request");
        // a public client must use PKCE
        let public = AuthorizeParams {
            client_id: Some("app".into()),
            redirect_uri: Some("https://app.example.fr/cb".into()),
            ..params()
        };
        assert_eq!(redirect_error(public.clone()), "invalid_request");
        let public_pkce = AuthorizeParams {
            code_challenge: Some(challenge),
            code_challenge_method: Some("S256".into()),
            ..public
        };
        assert!(validate(&public_pkce, &registry()).is_ok());
    }

    #[test]
    fn max_age_zero_forces_a_sign_in_like_prompt_login() {
        let p = AuthorizeParams {
            max_age: Some("0".into()),
            ..params()
        };
        let (r, _) = validate(&p, &registry()).unwrap();
        assert!(r.prompt_login);
        assert_eq!(r.max_age, None);
    }

    #[test]
    fn prompt_consent_is_honoured_for_every_client_and_public_ones_always_ask() {
        let reg = registry();
        let (req, ent) = validate(&params(), &reg).unwrap();
        let again = AuthRequest {
            prompt_consent: true,
            ..req
        };
        assert_eq!(
            next_step(&again, &ent, Some(&session(NOW)), true, NOW),
            Next::Consent
        );
        // "app" is public: registered without require_consent = true it would still ask
        assert!(reg.oidc_client("app").unwrap().require_consent);
    }

    #[test]
    fn acr_values_preselect_the_profile() {
        let p = AuthorizeParams {
            acr_values: Some("responsable".into()),
            ..params()
        };
        assert_eq!(
            validate(&p, &registry()).unwrap().0.acr,
            Some(AccountKind::Responsable)
        );
        let p = AuthorizeParams {
            acr_values: Some("eidas1".into()),
            ..params()
        };
        assert_eq!(validate(&p, &registry()).unwrap().0.acr, None);
    }

    fn session(auth_time: i64) -> SsoSession {
        SsoSession::new(
            "sid".into(),
            1,
            AccountKind::Eleve,
            AuthOrigin::Local,
            auth_time,
        )
    }

    #[test]
    fn next_step_follows_prompt_max_age_and_consent() {
        let reg = registry();
        let (req, ent) = validate(&params(), &reg).unwrap();
        assert_eq!(next_step(&req, &ent, None, false, NOW), Next::SignIn);
        assert_eq!(
            next_step(&req, &ent, Some(&session(NOW - 5000)), false, NOW),
            Next::IssueCode
        );

        let none = AuthRequest {
            prompt_none: true,
            ..req.clone()
        };
        assert_eq!(
            next_step(&none, &ent, None, false, NOW),
            Next::Fail(OAuthError::new("login_required", "the person must sign in"))
        );
        assert_eq!(
            next_step(&none, &ent, Some(&session(NOW - 1)), false, NOW),
            Next::IssueCode
        );

        // prompt=login: the session present at the request does not count, a new one does,
        // even within the same second
        let mut login = AuthRequest {
            prompt_login: true,
            ..req.clone()
        };
        let old = session(NOW);
        assert!(login.remember_session_to_replace(Some(&old)));
        assert!(!login.remember_session_to_replace(None), "only once");
        assert_eq!(
            next_step(&login, &ent, Some(&old), false, NOW),
            Next::SignIn
        );
        let mut new = session(NOW);
        new.sid = "sid-2".into();
        assert_eq!(
            next_step(&login, &ent, Some(&new), false, NOW),
            Next::IssueCode
        );
        let mut from_nothing = AuthRequest {
            prompt_login: true,
            ..req.clone()
        };
        from_nothing.remember_session_to_replace(None);
        assert_eq!(
            next_step(&from_nothing, &ent, Some(&new), false, NOW),
            Next::IssueCode
        );

        let max_age = AuthRequest {
            max_age: Some(60),
            ..req.clone()
        };
        assert_eq!(
            next_step(&max_age, &ent, Some(&session(NOW - 61)), false, NOW),
            Next::SignIn
        );
        assert_eq!(
            next_step(&max_age, &ent, Some(&session(NOW - 60)), false, NOW),
            Next::IssueCode
        );

        let app = reg.oidc_client("app").unwrap();
        assert_eq!(
            next_step(&req, &app, Some(&session(NOW)), false, NOW),
            Next::Consent
        );
        assert_eq!(
            next_step(&req, &app, Some(&session(NOW)), true, NOW),
            Next::IssueCode
        );
        let again = AuthRequest {
            prompt_consent: true,
            ..req.clone()
        };
        assert_eq!(
            next_step(&again, &app, Some(&session(NOW)), true, NOW),
            Next::Consent
        );
        assert_eq!(
            next_step(
                &AuthRequest {
                    prompt_none: true,
                    ..req
                },
                &app,
                Some(&session(NOW)),
                false,
                NOW
            ),
            Next::Fail(OAuthError::new(
                "consent_required",
                "the person must consent"
            ))
        );
    }

    #[test]
    fn the_response_carries_state_and_issuer() {
        let url = response_url(
            "https://ent.example.fr/cb?tenant=1",
            "https://idp.fr",
            Some("a b"),
            Ok("C0DE"),
        );
        assert_eq!(
            url,
            "https://ent.example.fr/cb?tenant=1&code=C0DE&state=a+b&iss=https%3A%2F%2Fidp.fr"
        );
        let e = OAuthError::new("login_required", "sign in");
        let url = response_url("https://ent.example.fr/cb", "https://idp.fr", None, Err(&e));
        assert!(url.starts_with(
            "https://ent.example.fr/cb?error=login_required&error_description=sign+in&iss="
        ));
    }
}

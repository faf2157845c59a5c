//! **Development tool — not FranceConnect.** A small OpenID Connect provider that behaves
//! like FranceConnect v2 for the demo and the tests, on loopback only: the v2 paths under
//! `/api/v2`, ES256 ID tokens, userinfo as an ES256-signed JWT (`application/jwt`),
//! `session/end`, `acr_values=eidas1`, state and nonce of at least 32 characters, and a page
//! where one picks a test identity. Some identities answer wrongly on purpose (expired ID
//! token, wrong nonce, unknown key, altered userinfo, another state), so that the IdP's
//! refusals can be seen and tested. Its keys are made at start and live in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use askama::Template;
use askama_web::WebTemplate;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sessions::{random_token, same_secret};

/// The one relying party the sandbox knows (the IdP).
#[derive(Debug, Clone)]
pub struct SandboxClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

/// How a test identity misbehaves, to show the IdP's refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The ID token expired two minutes ago.
    ExpiredIdToken,
    /// The ID token carries another nonce than the one asked.
    WrongNonce,
    /// The ID token is signed with a key the JWKS does not publish.
    UnknownKey,
    /// The userinfo JWT is altered after signing.
    TamperedUserinfo,
    /// The browser comes back with another state than the one sent.
    WrongState,
    /// The ID token says no authentication level (no `acr`), though eidas1 was asked.
    MissingAcr,
    /// Not a fault: the sandbox renews its signing key just before signing (the client must
    /// fetch the key set again to know the new key).
    RenewedKey,
}

/// The identité pivot of a test identity (FranceConnect's claim names).
#[derive(Debug, Clone, Copy)]
pub struct Pivot {
    /// Every first name.
    pub given_name: &'static str,
    /// The birth name.
    pub family_name: &'static str,
    /// The usage name.
    pub preferred_username: Option<&'static str>,
    pub birthdate: &'static str,
    pub gender: &'static str,
    pub email: &'static str,
}

/// A test identity: its identité pivot, and how it answers.
#[derive(Debug, Clone, Copy)]
pub struct TestIdentity {
    pub key: &'static str,
    pub label: &'static str,
    pub pivot: Pivot,
    pub fault: Fault,
}

const CLAIRE: Pivot = Pivot {
    given_name: "Claire Anne",
    family_name: "DUPONT",
    preferred_username: Some("MARTIN"),
    birthdate: "1984-05-12",
    gender: "female",
    email: "claire.dupont@example.fr",
};
const PAUL: Pivot = Pivot {
    given_name: "Paul Jean",
    family_name: "DURAND",
    preferred_username: None,
    birthdate: "1980-11-02",
    gender: "male",
    email: "paul.durand@example.fr",
};

const fn identity(
    key: &'static str,
    label: &'static str,
    pivot: Pivot,
    fault: Fault,
) -> TestIdentity {
    TestIdentity {
        key,
        label,
        pivot,
        fault,
    }
}

/// The test identities, in the order of the page.
pub const IDENTITIES: &[TestIdentity] = &[
    identity(
        "claire",
        "Claire Anne DUPONT, nom d'usage MARTIN (a déjà un compte)",
        CLAIRE,
        Fault::None,
    ),
    identity(
        "paul",
        "Paul Jean DURAND (pas encore de compte)",
        PAUL,
        Fault::None,
    ),
    identity(
        "inconnue",
        "Jeanne INCONNUE (aucun dossier)",
        Pivot {
            given_name: "Jeanne",
            family_name: "INCONNUE",
            preferred_username: None,
            birthdate: "1979-01-30",
            gender: "female",
            email: "jeanne.inconnue@example.fr",
        },
        Fault::None,
    ),
    identity(
        "nadia",
        "Nadia BENALI (deux dossiers de deux personnes)",
        Pivot {
            given_name: "Nadia",
            family_name: "BENALI",
            preferred_username: None,
            birthdate: "1986-07-21",
            gender: "female",
            email: "nadia.benali@example.fr",
        },
        Fault::None,
    ),
    identity(
        "expire",
        "Cas d'erreur : jeton d'identité expiré",
        PAUL,
        Fault::ExpiredIdToken,
    ),
    identity(
        "nonce",
        "Cas d'erreur : nonce faux",
        PAUL,
        Fault::WrongNonce,
    ),
    identity(
        "cle",
        "Cas d'erreur : clé de signature inconnue",
        PAUL,
        Fault::UnknownKey,
    ),
    identity(
        "userinfo",
        "Cas d'erreur : userinfo altéré",
        PAUL,
        Fault::TamperedUserinfo,
    ),
    identity(
        "state",
        "Cas d'erreur : state faux",
        PAUL,
        Fault::WrongState,
    ),
    identity(
        "acr",
        "Cas d'erreur : niveau d'authentification absent",
        PAUL,
        Fault::MissingAcr,
    ),
    identity(
        "nouvelle-cle",
        "Paul Jean DURAND, juste après un renouvellement de clé (doit réussir)",
        PAUL,
        Fault::RenewedKey,
    ),
];

/// A signing key of the sandbox.
struct SigningKey {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    /// The public JWK.
    jwk: Value,
}

fn new_key(kid: &str) -> SigningKey {
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .and_then(|k| k.to_pkcs8v1())
        .expect("P-256 key generation works");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("a key just generated reads back");
    let point = pair.public_key().as_ref();
    // an uncompressed point: 0x04, then x and y (32 bytes each)
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    SigningKey {
        kid: kid.to_owned(),
        encoding: jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
    }
}

impl SigningKey {
    fn sign(&self, typ: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("ES256 signing works")
    }
}

/// An authorization request waiting for an identity to be picked.
struct Pending {
    redirect_uri: String,
    state: String,
    nonce: String,
    started: Instant,
}

/// A code waiting for the token endpoint, or an access token waiting for userinfo.
struct Grant {
    identity: TestIdentity,
    nonce: String,
    issued: Instant,
}

struct Sandbox {
    issuer: String,
    client: SandboxClient,
    /// The current signing key; renewed keys join `published` too.
    key: Mutex<Arc<SigningKey>>,
    published: Mutex<Vec<Value>>,
    /// Signs the "unknown key" identity's tokens; never published.
    stray_key: SigningKey,
    pending: Mutex<HashMap<String, Pending>>,
    codes: Mutex<HashMap<String, Grant>>,
    access_tokens: Mutex<HashMap<String, Grant>>,
    /// The `id_token_hint`s of the session/end requests received (for the tests).
    ended: Arc<Mutex<Vec<String>>>,
}

/// The sandbox's view of the sessions ended at its `session/end` (their ID tokens).
#[derive(Clone, Default)]
pub struct EndedSessions(Arc<Mutex<Vec<String>>>);

impl EndedSessions {
    pub fn id_token_hints(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The sandbox's router for `issuer` (`http://127.0.0.1:P/api/v2`), and the record of
/// session/end requests.
pub fn router(issuer: String, client: SandboxClient) -> (Router, EndedSessions) {
    let ended = EndedSessions::default();
    let key = new_key(&format!("bac-a-sable-{}", &random_token()[..8]));
    let sandbox = Arc::new(Sandbox {
        issuer,
        client,
        published: Mutex::new(vec![key.jwk.clone()]),
        key: Mutex::new(Arc::new(key)),
        stray_key: new_key("cle-inconnue"),
        pending: Mutex::new(HashMap::new()),
        codes: Mutex::new(HashMap::new()),
        access_tokens: Mutex::new(HashMap::new()),
        ended: ended.0.clone(),
    });
    let router = Router::new()
        .route("/", get(home))
        .route("/api/v2", get(home))
        .route("/api/v2/.well-known/openid-configuration", get(discovery))
        .route("/api/v2/jwks", get(jwks))
        .route("/api/v2/authorize", get(authorize))
        .route("/api/v2/choose", post(choose))
        .route("/api/v2/token", post(token))
        .route("/api/v2/userinfo", get(userinfo))
        .route("/api/v2/session/end", get(session_end))
        .with_state(sandbox);
    (router, ended)
}

/// Serves the sandbox on an already bound listener, in the background.
pub fn spawn(
    issuer: String,
    client: SandboxClient,
    listener: tokio::net::TcpListener,
) -> EndedSessions {
    let (app, ended) = router(issuer, client);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the FranceConnect sandbox stopped");
        }
    });
    ended
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stable `sub` of a test identity at this client.
fn subject(identity: &TestIdentity) -> String {
    // the faulty identities are Paul: one person, one sub
    if identity.fault == Fault::None {
        format!("bac-a-sable-{}", identity.key)
    } else {
        "bac-a-sable-paul".to_owned()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "fc_sandbox.html")]
struct PickPage<'a> {
    request: &'a str,
    identities: &'a [TestIdentity],
    cancel: &'a str,
}

#[derive(Template, WebTemplate)]
#[template(path = "fc_sandbox_message.html")]
struct SandboxMessage<'a> {
    text: &'a str,
}

fn refuse(status: StatusCode, text: &str) -> Response {
    (status, SandboxMessage { text }).into_response()
}

async fn home() -> Response {
    refuse(
        StatusCode::OK,
        "Bac à sable FranceConnect : un outil de développement du projet, pour la démonstration et les tests. Ce n'est pas FranceConnect.",
    )
}

async fn discovery(State(s): State<Arc<Sandbox>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/session/end"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "grant_types_supported": ["authorization_code"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "userinfo_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "acr_values_supported": ["eidas1"],
        "scopes_supported": ["openid", "given_name", "family_name", "preferred_username", "birthdate", "gender", "birthplace", "birthcountry", "email"],
        "claims_supported": ["sub", "given_name", "family_name", "preferred_username", "birthdate", "gender", "birthplace", "birthcountry", "email"],
    }))
}

async fn jwks(State(s): State<Arc<Sandbox>>) -> Json<Value> {
    Json(json!({ "keys": *lock(&s.published) }))
}

impl Sandbox {
    fn current_key(&self) -> Arc<SigningKey> {
        lock(&self.key).clone()
    }

    /// A new signing key, published beside the old ones, used from now on.
    fn renew_key(&self) -> Arc<SigningKey> {
        let key = Arc::new(new_key(&format!("bac-a-sable-{}", &random_token()[..8])));
        lock(&self.published).push(key.jwk.clone());
        *lock(&self.key) = key.clone();
        key
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    acr_values: Option<String>,
}

/// GET /api/v2/authorize: checked as FranceConnect does, then the identity picker.
async fn authorize(State(s): State<Arc<Sandbox>>, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.client_id.as_deref() != Some(s.client.client_id.as_str()) {
        return refuse(StatusCode::BAD_REQUEST, "client_id inconnu du bac à sable.");
    }
    let Some(redirect_uri) = q
        .redirect_uri
        .filter(|r| s.client.redirect_uris.contains(r))
    else {
        return refuse(StatusCode::BAD_REQUEST, "redirect_uri non enregistrée.");
    };
    let state = q.state.unwrap_or_default();
    let nonce = q.nonce.unwrap_or_default();
    let scopes: Vec<&str> = q.scope.as_deref().unwrap_or_default().split(' ').collect();
    let fine = q.response_type.as_deref() == Some("code")
        && scopes.contains(&"openid")
        && state.len() >= 32
        && nonce.len() >= 32
        && q.acr_values.as_deref() == Some("eidas1");
    if !fine {
        let mut back = url::Url::parse(&redirect_uri).expect("registered URIs are URLs");
        back.query_pairs_mut()
            .append_pair("error", "invalid_request")
            .append_pair(
                "error_description",
                "response_type=code, scope openid, acr_values=eidas1, state and nonce of 32 characters or more are required",
            )
            .append_pair("state", &state);
        return Redirect::to(back.as_str()).into_response();
    }
    let request = random_token();
    {
        let mut pending = lock(&s.pending);
        pending.retain(|_, p| p.started.elapsed() < Duration::from_secs(900));
        pending.insert(
            request.clone(),
            Pending {
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                nonce,
                started: Instant::now(),
            },
        );
    }
    let mut cancel = url::Url::parse(&redirect_uri).expect("registered URIs are URLs");
    cancel
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "User auth aborted")
        .append_pair("state", &state);
    PickPage {
        request: &request,
        identities: IDENTITIES,
        cancel: cancel.as_str(),
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ChooseForm {
    request: String,
    identity: String,
}

/// POST /api/v2/choose: an identity was picked; back to the client with a code.
async fn choose(State(s): State<Arc<Sandbox>>, Form(f): Form<ChooseForm>) -> Response {
    let Some(pending) = lock(&s.pending).remove(&f.request) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Demande expirée : recommencez depuis le service.",
        );
    };
    let Some(identity) = IDENTITIES.iter().find(|i| i.key == f.identity).copied() else {
        return refuse(StatusCode::BAD_REQUEST, "Identité inconnue.");
    };
    let code = random_token();
    lock(&s.codes).insert(
        code.clone(),
        Grant {
            identity,
            nonce: pending.nonce,
            issued: Instant::now(),
        },
    );
    let state = if identity.fault == Fault::WrongState {
        random_token()
    } else {
        pending.state
    };
    let mut back = url::Url::parse(&pending.redirect_uri).expect("registered URIs are URLs");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    Redirect::to(back.as_str()).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// The client's credentials, from the body or the Authorization header.
fn client_credentials(headers: &HeaderMap, form: &TokenForm) -> Option<(String, String)> {
    if let (Some(id), Some(secret)) = (&form.client_id, &form.client_secret) {
        return Some((id.clone(), secret.clone()));
    }
    let basic = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// POST /api/v2/token: the code for an ID token (ES256) and an access token (60 s).
async fn token(
    State(s): State<Arc<Sandbox>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let authenticated = client_credentials(&headers, &form).is_some_and(|(id, secret)| {
        id == s.client.client_id && same_secret(&secret, &s.client.client_secret)
    });
    if !authenticated {
        return token_error("invalid_client");
    }
    if form.grant_type.as_deref() != Some("authorization_code")
        || !form
            .redirect_uri
            .as_ref()
            .is_some_and(|r| s.client.redirect_uris.contains(r))
    {
        return token_error("invalid_request");
    }
    let grant = form
        .code
        .as_ref()
        .and_then(|c| lock(&s.codes).remove(c))
        .filter(|g| g.issued.elapsed() < Duration::from_secs(60));
    let Some(grant) = grant else {
        return token_error("invalid_grant");
    };
    let identity = grant.identity;
    let now = now();
    let (iat, exp) = if identity.fault == Fault::ExpiredIdToken {
        (now - 600, now - 120)
    } else {
        (now, now + 60)
    };
    let nonce = if identity.fault == Fault::WrongNonce {
        random_token()
    } else {
        grant.nonce.clone()
    };
    let mut claims = json!({
        "iss": s.issuer, "sub": subject(&identity), "aud": s.client.client_id,
        "exp": exp, "iat": iat, "auth_time": iat, "nonce": nonce,
        "acr": "eidas1", "amr": ["pwd"],
    });
    if identity.fault == Fault::MissingAcr
        && let Some(map) = claims.as_object_mut()
    {
        map.remove("acr");
    }
    let id_token = match identity.fault {
        Fault::UnknownKey => s.stray_key.sign("JWT", &claims),
        Fault::RenewedKey => s.renew_key().sign("JWT", &claims),
        _ => s.current_key().sign("JWT", &claims),
    };
    let access_token = random_token();
    lock(&s.access_tokens).insert(
        access_token.clone(),
        Grant {
            identity,
            nonce: grant.nonce,
            issued: Instant::now(),
        },
    );
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access_token, "token_type": "Bearer", "expires_in": 60,
            "id_token": id_token, "scope": "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email",
        })),
    )
        .into_response()
}

/// GET /api/v2/userinfo: the identité pivot, as an ES256-signed JWT.
async fn userinfo(State(s): State<Arc<Sandbox>>, headers: HeaderMap) -> Response {
    let grant = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| {
            lock(&s.access_tokens)
                .get(t)
                .filter(|g| g.issued.elapsed() < Duration::from_secs(60))
                .map(|g| g.identity)
        });
    let Some(identity) = grant else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    };
    let p = identity.pivot;
    let mut claims = json!({
        "iss": s.issuer, "aud": s.client.client_id, "sub": subject(&identity),
        "given_name": p.given_name, "family_name": p.family_name,
        "birthdate": p.birthdate, "gender": p.gender,
        "birthplace": "75056", "birthcountry": "99100", "email": p.email,
    });
    if let Some(usage) = p.preferred_username {
        claims["preferred_username"] = json!(usage);
    }
    let mut jwt = s.current_key().sign("JWT", &claims);
    if identity.fault == Fault::TamperedUserinfo {
        // another family name, the signature left as it was
        let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
        claims["family_name"] = json!("MARTIN");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        jwt = parts.join(".");
    }
    ([(header::CONTENT_TYPE, "application/jwt")], jwt).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct EndQuery {
    id_token_hint: Option<String>,
    state: Option<String>,
    post_logout_redirect_uri: Option<String>,
}

/// GET /api/v2/session/end: the session at the sandbox ends; back to the client's
/// registered address with the state.
async fn session_end(State(s): State<Arc<Sandbox>>, Query(q): Query<EndQuery>) -> Response {
    let Some(hint) = q.id_token_hint.filter(|h| !h.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "id_token_hint manquant.");
    };
    let Some(back) = q
        .post_logout_redirect_uri
        .filter(|u| s.client.post_logout_redirect_uris.contains(u))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "post_logout_redirect_uri non enregistrée.",
        );
    };
    lock(&s.ended).push(hint);
    let mut url = url::Url::parse(&back).expect("registered URIs are URLs");
    url.query_pairs_mut()
        .append_pair("state", q.state.as_deref().unwrap_or_default());
    Redirect::to(url.as_str()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_distinct_and_the_faulty_ones_are_paul() {
        let mut keys: Vec<&str> = IDENTITIES.iter().map(|i| i.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), IDENTITIES.len());
        for i in IDENTITIES.iter().filter(|i| i.fault != Fault::None) {
            assert_eq!(subject(i), "bac-a-sable-paul");
            assert!(i.label.starts_with("Cas d'erreur") || i.fault == Fault::RenewedKey);
        }
    }

    #[test]
    fn tokens_are_signed_es256_with_the_published_key() {
        let key = new_key("k1");
        let jwt = key.sign("JWT", &json!({ "sub": "x" }));
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk.clone()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.required_spec_claims.clear();
        v.validate_aud = false;
        assert!(jsonwebtoken::decode::<Value>(&jwt, &decoding, &v).is_ok());
    }
}

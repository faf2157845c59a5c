//! The demo ENT: an OpenID Connect relying party built on the `openidconnect` crate, client
//! `ent-demo` (client_secret_basic). It signs people in with the code flow and PKCE, checks
//! the ID token (signature from the JWKS, issuer, audience, nonce), reads the claims at
//! userinfo, links to Pronote (which opens by single sign-on), signs out through the IdP's
//! end-session endpoint, and ends the sessions the IdP names in a back-channel logout token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdToken, IdTokenFields, IssuerUrl, JsonWebKey, JsonWebKeySetUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::DemoSite;
use crate::page::{self, Child, Look, Person};
use crate::sessions::{Sessions, cookie, cookie_header, random_token, same_secret};

/// The demo ENT's registration at the IdP (written by `idp demo`).
pub const CLIENT_ID: &str = "ent-demo";
pub const CLIENT_SECRET: &str = "ent-demo-secret";

const LOOK: Look = Look {
    service: "ENT de démonstration",
    service_short: "l'ENT",
    protocol: "OpenID Connect",
    accent: "#2b4c9b",
    raw_title: "Revendications OpenID Connect reçues",
};

const FLOW_COOKIE: &str = "ent_demo_flow";
/// How long a sign-in may take at the IdP before the ENT forgets it.
const FLOW_TTL: Duration = Duration::from_secs(15 * 60);

/// The claims of the IdP's ID token beyond the standard ones: the SSO session's id, which
/// back-channel logout tokens name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sid: Option<String>,
}
impl AdditionalClaims for SessionClaims {}

/// Every claim userinfo sends, kept as it came (ÉduConnect's names).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EduClaims {
    #[serde(flatten)]
    pub claims: serde_json::Map<String, Value>,
}
impl AdditionalClaims for EduClaims {}

type EntIdToken = IdToken<
    SessionClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type EntTokenResponse = StandardTokenResponse<
    IdTokenFields<
        SessionClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type EntClient = Client<
    SessionClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    EntTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery told about the IdP.
struct Provider {
    client: EntClient,
    issuer: String,
    end_session: Option<EndSessionUrl>,
    jwks_uri: JsonWebKeySetUrl,
    /// Re-fetched when a logout token names a key not seen yet.
    jwks: RwLock<CoreJsonWebKeySet>,
}

/// A sign-in sent to the IdP, waiting for its callback.
struct PendingSignIn {
    state: String,
    nonce: String,
    pkce_verifier: String,
    started: Instant,
}

#[derive(Clone)]
struct Signed {
    person: Person,
    id_token: EntIdToken,
}

struct Ent {
    site: Arc<DemoSite>,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Provider>>>,
    pending: Mutex<HashMap<String, PendingSignIn>>,
    sessions: Sessions<Signed>,
}

pub fn router(site: Arc<DemoSite>) -> Router {
    let app = Arc::new(Ent {
        site,
        http: crate::http_client(),
        provider: RwLock::new(None),
        pending: Mutex::new(HashMap::new()),
        sessions: Sessions::new("ent_demo_session"),
    });
    Router::new()
        .route("/", get(home))
        .route("/connexion", get(sign_in))
        .route("/callback", get(callback))
        .route("/deconnexion", post(sign_out))
        .route("/backchannel-logout", post(backchannel_logout))
        .with_state(app)
}

impl Ent {
    /// The IdP as discovery describes it, discovered on first need (the IdP may start after
    /// the ENT) and kept.
    async fn provider(&self) -> Result<Arc<Provider>, String> {
        if let Some(p) = self.provider.read().await.as_ref() {
            return Ok(p.clone());
        }
        let issuer = IssuerUrl::new(self.site.idp.clone()).map_err(|e| e.to_string())?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let jwks_uri = metadata.jwks_uri().clone();
        let jwks = metadata.jwks().clone();
        let redirect =
            RedirectUrl::new(format!("{}/callback", self.site.ent)).map_err(|e| e.to_string())?;
        let client = EntClient::from_provider_metadata(
            metadata,
            ClientId::new(CLIENT_ID.into()),
            Some(ClientSecret::new(CLIENT_SECRET.into())),
        )
        .set_redirect_uri(redirect);
        let provider = Arc::new(Provider {
            client,
            issuer: self.site.idp.clone(),
            end_session,
            jwks_uri,
            jwks: RwLock::new(jwks),
        });
        *self.provider.write().await = Some(provider.clone());
        Ok(provider)
    }

    /// Forgets the discovered IdP, so that the next sign-in discovers it again (new keys).
    async fn forget_provider(&self) {
        *self.provider.write().await = None;
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingSignIn>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default, Deserialize)]
struct HomeQuery {
    /// Present when the IdP sends the person back after logout.
    state: Option<String>,
}

/// GET /: the person and the claims received, or a way to sign in.
async fn home(
    State(app): State<Arc<Ent>>,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Response {
    let session = app.sessions.current(&headers);
    let notice = (session.is_none() && q.state.is_some())
        .then_some("Vous êtes déconnecté de l'ENT et des services ouverts avec le même compte.");
    page::home(
        LOOK,
        session.as_ref().map(|s| (&s.data.person, s.csrf.as_str())),
        &[("Ouvrir Pronote", &app.site.pronote)],
        notice,
        "/connexion",
    )
}

fn unavailable(detail: &str) -> Response {
    tracing::warn!(detail, "demo ENT: the IdP cannot be used");
    page::message(
        LOOK,
        StatusCode::BAD_GATEWAY,
        "Le fournisseur d'identité ne répond pas correctement. Réessayez dans un instant.",
        "/",
        "Retour à l'accueil",
    )
}

/// GET /connexion: off to the IdP with a fresh state, nonce and PKCE challenge, remembered
/// for this browser only.
async fn sign_in(State(app): State<Arc<Ent>>) -> Response {
    let provider = match app.provider().await {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = provider
        .client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("educonnect".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = random_token();
    {
        let mut pending = app.pending();
        pending.retain(|_, p| p.started.elapsed() < FLOW_TTL);
        pending.insert(
            browser.clone(),
            PendingSignIn {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                started: Instant::now(),
            },
        );
    }
    (
        [(header::SET_COOKIE, cookie_header(FLOW_COOKIE, &browser))],
        Redirect::to(url.as_str()),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// GET /callback: the code exchanged, the ID token checked, the claims read, a session opened.
async fn callback(
    State(app): State<Arc<Ent>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let pending = cookie(&headers, FLOW_COOKIE).and_then(|b| app.pending().remove(&b));
    let Some(pending) = pending.filter(|p| {
        p.started.elapsed() < FLOW_TTL
            && q.state.as_deref().is_some_and(|s| same_secret(s, &p.state))
    }) else {
        return page::message(
            LOOK,
            StatusCode::BAD_REQUEST,
            "Cette réponse de connexion ne correspond à aucune demande de ce navigateur (elle a expiré ou vient d'ailleurs).",
            "/connexion",
            "Se connecter",
        );
    };
    if let Some(error) = q.error {
        let text = match error.as_str() {
            "access_denied" => "La connexion a été refusée ou annulée.".to_owned(),
            "login_required" => "Vous n'êtes pas connecté au fournisseur d'identité.".to_owned(),
            other => format!(
                "Le fournisseur d'identité a refusé la connexion ({other} : {}).",
                q.error_description.unwrap_or_default()
            ),
        };
        return page::message(
            LOOK,
            StatusCode::UNAUTHORIZED,
            &text,
            "/connexion",
            "Réessayer",
        );
    }
    let Some(code) = q.code else {
        return page::message(
            LOOK,
            StatusCode::BAD_REQUEST,
            "La réponse du fournisseur d'identité ne contient pas de code.",
            "/connexion",
            "Réessayer",
        );
    };
    match finish_sign_in(&app, pending, code).await {
        Ok((sid, signed)) => {
            let cookie = app.sessions.open(sid, signed);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(e) => {
            // new keys at the IdP are found by discovering it again
            app.forget_provider().await;
            tracing::warn!(error = %e, "demo ENT: sign-in failed");
            page::message(
                LOOK,
                StatusCode::BAD_GATEWAY,
                &format!("La connexion n'a pas pu aboutir : {e}"),
                "/connexion",
                "Réessayer",
            )
        }
    }
}

/// The code exchanged and the ID token and userinfo read; returns the IdP's session id (which
/// logout tokens name) and what the session keeps.
async fn finish_sign_in(
    app: &Ent,
    pending: PendingSignIn,
    code: String,
) -> Result<(String, Signed), String> {
    let provider = app.provider().await?;
    let client = &provider.client;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
        .request_async(&app.http)
        .await
        .map_err(|e| format!("token endpoint: {e}"))?;
    let id_token = tokens
        .id_token()
        .ok_or("the token response has no ID token")?
        .clone();
    let nonce = Nonce::new(pending.nonce);
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .map_err(|e| format!("ID token: {e}"))?
        .clone();
    let userinfo: UserInfoClaims<EduClaims, CoreGenderClaim> = client
        .user_info(
            AccessToken::new(tokens.access_token().secret().clone()),
            Some(claims.subject().clone()),
        )
        .map_err(|e| e.to_string())?
        .request_async(&app.http)
        .await
        .map_err(|e| format!("userinfo: {e}"))?;
    // the standard claims (names) and ÉduConnect's, as one object
    let userinfo = match serde_json::to_value(&userinfo) {
        Ok(Value::Object(map)) => map,
        _ => return Err("userinfo: the claims cannot be read".into()),
    };
    let received = serde_json::json!({
        "id_token": serde_json::to_value(&claims).unwrap_or_default(),
        "userinfo": userinfo,
    });
    let sid = claims
        .additional_claims()
        .sid
        .clone()
        .ok_or("the ID token has no sid: back-channel logout could not reach this session")?;
    let signed = Signed {
        person: person_of(&app.site, &userinfo, &received),
        id_token,
    };
    Ok((sid, signed))
}

/// Who the userinfo claims describe, for the page.
fn person_of(site: &DemoSite, claims: &serde_json::Map<String, Value>, received: &Value) -> Person {
    let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let userinfo = Value::Object(claims.clone());
    let affiliations: Vec<&str> = claims
        .get("FrEduCtPersonAffiliation")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let children = claims
        .get("FrEduCtEnfants")
        .and_then(Value::as_array)
        .map(|kids| {
            kids.iter()
                .map(|k| Child {
                    name: format!(
                        "{} {}",
                        text(k, "given_name").unwrap_or_default(),
                        text(k, "family_name").unwrap_or_default()
                    ),
                    school: text(k, "FrEduCtEleveUAI")
                        .map(|u| site.school(&u))
                        .unwrap_or_default(),
                    class: text(k, "classe"),
                })
                .collect()
        })
        .unwrap_or_default();
    Person {
        name: format!(
            "{} {}",
            text(&userinfo, "given_name").unwrap_or_default(),
            text(&userinfo, "family_name").unwrap_or_default()
        )
        .trim()
        .to_owned(),
        profile: page::profile_of(affiliations),
        school: text(&userinfo, "FrEduCtEleveUAI").map(|u| site.school(&u)),
        class: text(&userinfo, "FrEduCtEleveNiveau"),
        children,
        raw: serde_json::to_string_pretty(received).unwrap_or_default(),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// POST /deconnexion: ends the session here, then at the IdP (end-session with the ID token
/// as hint), which tells the other services and sends the person back here.
async fn sign_out(
    State(app): State<Arc<Ent>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(session) = app.sessions.current(&headers) else {
        return Redirect::to("/").into_response();
    };
    if !same_secret(&session.csrf, &form.csrf) {
        return page::message(
            LOOK,
            StatusCode::FORBIDDEN,
            "Cette demande de déconnexion ne vient pas de cette page. Réessayez depuis l'ENT.",
            "/",
            "Retour à l'ENT",
        );
    }
    app.sessions.close_current(&headers);
    let clear = [(header::SET_COOKIE, app.sessions.clear_cookie())];
    let provider = match app.provider().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "demo ENT: signed out here only");
            return (clear, Redirect::to("/")).into_response();
        }
    };
    let Some(end_session) = provider.end_session.clone() else {
        return (clear, Redirect::to("/")).into_response();
    };
    let mut logout = LogoutRequest::from(end_session)
        .set_id_token_hint(&session.data.id_token)
        .set_state(CsrfToken::new_random());
    if let Ok(back) = PostLogoutRedirectUrl::new(format!("{}/", app.site.ent)) {
        logout = logout.set_post_logout_redirect_uri(back);
    }
    (clear, Redirect::to(logout.http_get_url().as_str())).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct BackChannelForm {
    #[serde(default)]
    logout_token: String,
}

/// The claims of a back-channel logout token that matter here.
#[derive(Debug, Deserialize)]
struct LogoutClaims {
    iss: String,
    aud: Value,
    iat: i64,
    exp: Option<i64>,
    sid: Option<String>,
    events: serde_json::Map<String, Value>,
    nonce: Option<Value>,
}

const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Debug, PartialEq, Eq)]
enum LogoutTokenError {
    UnknownKey,
    Invalid(String),
}

/// Checks a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6) and returns the `sid`
/// it names.
fn verify_logout_token(
    token: &str,
    keys: &CoreJsonWebKeySet,
    issuer: &str,
    now: i64,
) -> Result<String, LogoutTokenError> {
    let invalid = |m: &str| LogoutTokenError::Invalid(m.to_owned());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a signed JWT"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| invalid("bad base64url"))
    };
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| invalid("header"))?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        Some("RS256") => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        _ => return Err(invalid("unexpected alg")),
    };
    if header.get("typ").and_then(Value::as_str) != Some("logout+jwt") {
        return Err(invalid("typ is not logout+jwt"));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let key = keys
        .keys()
        .iter()
        .find(|k| kid.is_some() && k.key_id().map(|id| id.as_str()) == kid)
        .ok_or(LogoutTokenError::UnknownKey)?;
    let signing_input = &token[..token.rfind('.').unwrap_or(0)];
    key.verify_signature(&alg, signing_input.as_bytes(), &decode(signature)?)
        .map_err(|_| invalid("bad signature"))?;
    let claims: LogoutClaims =
        serde_json::from_slice(&decode(payload)?).map_err(|_| invalid("claims"))?;
    let audience_ok = match &claims.aud {
        Value::String(a) => a == CLIENT_ID,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(CLIENT_ID)),
        _ => false,
    };
    if claims.iss != issuer || !audience_ok {
        return Err(invalid("wrong issuer or audience"));
    }
    if claims.iat > now + 60 || claims.exp.is_some_and(|exp| exp < now - 60) {
        return Err(invalid("expired or from the future"));
    }
    if !claims.events.contains_key(BACKCHANNEL_EVENT) || claims.nonce.is_some() {
        return Err(invalid("not a logout token"));
    }
    claims.sid.ok_or_else(|| invalid("no sid"))
}

/// POST /backchannel-logout: the IdP says its session ended; the ENT's sessions opened
/// from it end too.
async fn backchannel_logout(
    State(app): State<Arc<Ent>>,
    Form(form): Form<BackChannelForm>,
) -> Response {
    let refuse = |m: &str| {
        (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "error": "invalid_request", "error_description": m })),
        )
            .into_response()
    };
    let provider = match app.provider().await {
        Ok(p) => p,
        Err(e) => return refuse(&e),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut verified = {
        let keys = provider.jwks.read().await;
        verify_logout_token(&form.logout_token, &keys, &provider.issuer, now)
    };
    if verified == Err(LogoutTokenError::UnknownKey) {
        // a key rotated at the IdP: fetch the key set again, once
        if let Ok(keys) = CoreJsonWebKeySet::fetch_async(&provider.jwks_uri, &app.http).await {
            verified = verify_logout_token(&form.logout_token, &keys, &provider.issuer, now);
            *provider.jwks.write().await = keys;
        }
    }
    match verified {
        Ok(sid) => {
            let ended = app.sessions.close_by_logout_key(&sid);
            tracing::info!(ended, "demo ENT: back-channel logout from the IdP");
            ([(header::CACHE_CONTROL, "no-store")], StatusCode::OK).into_response()
        }
        Err(LogoutTokenError::UnknownKey) => refuse("unknown signing key"),
        Err(LogoutTokenError::Invalid(m)) => refuse(&m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_and_profile_come_from_userinfo() {
        let site = DemoSite::on_port(
            8080,
            std::collections::BTreeMap::from([(
                "0141234A".to_owned(),
                "Collège Jean Moulin".to_owned(),
            )]),
        );
        let claims = serde_json::json!({
            "given_name": "Claire", "family_name": "MARTIN",
            "FrEduCtPersonAffiliation": ["resp2d", "resp1d"],
            "FrEduCtEnfants": [
                { "given_name": "Léa", "family_name": "MARTIN", "FrEduCtEleveUAI": "0141234A", "classe": "4e A" },
                { "given_name": "Hugo", "family_name": "MARTIN", "FrEduCtEleveUAI": "0140001B", "classe": "CM2" }
            ]
        });
        let person = person_of(&site, claims.as_object().unwrap(), &claims);
        assert_eq!(person.name, "Claire MARTIN");
        assert_eq!(person.profile, "Représentant légal");
        assert_eq!(
            person.children[0],
            Child {
                name: "Léa MARTIN".into(),
                school: "Collège Jean Moulin".into(),
                class: Some("4e A".into())
            }
        );
        assert_eq!(person.children[1].school, "Établissement 0140001B");
    }

    #[test]
    fn logout_tokens_need_a_known_key() {
        let keys = CoreJsonWebKeySet::new(vec![]);
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"logout+jwt","kid":"k1"}"#);
        let token = format!("{header}.e30.c2ln");
        assert_eq!(
            verify_logout_token(&token, &keys, "http://idp", 0),
            Err(LogoutTokenError::UnknownKey)
        );
        let hs = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"logout+jwt","kid":"k1"}"#);
        assert!(matches!(
            verify_logout_token(&format!("{hs}.e30.c2ln"), &keys, "http://idp", 0),
            Err(LogoutTokenError::Invalid(_))
        ));
        assert!(matches!(
            verify_logout_token("a.b", &keys, "http://idp", 0),
            Err(LogoutTokenError::Invalid(_))
        ));
    }
}

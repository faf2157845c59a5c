//! The OpenID Connect endpoints: thin handlers that extract, call the rules, and answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::authorize::{self, AuthRequest, AuthorizeError, AuthorizeParams, Next};
use super::claims::{self, ClaimContext};
use super::client_auth::{self, Presented};
use super::logout::{self, HintClaims, subject_for};
use super::token::{
    AccessTokenClaims, CodeRecord, IdTokenClaims, TokenResponse, check_code_exchange, half_hash,
};
use super::*;
use crate::app::{AppState, SharedState};
use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::domain::session::{AuthOrigin, Participant, SsoSession};
use crate::error::AppError;
use crate::keys::{random_token, storage_key};
use crate::protocol::logout::{AfterLogout, end_sso_session};
use crate::protocol::{account_is_active, error_page, load_person};
use crate::registry::{GrantType, OidcClient};
use crate::store::{Grant, NewRefreshToken, RefreshUse};
use crate::web::http::{SESSION_COOKIE, cookie, csrf_token, verify_csrf};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize_get).post(authorize_post))
        .route("/oidc/authorize/resume", get(resume))
        .route("/oidc/consent", get(consent_page).post(consent_submit))
        .route("/oidc/token", axum::routing::post(token))
        .route("/oidc/userinfo", get(userinfo_get).post(userinfo_post))
        .route("/oidc/revoke", axum::routing::post(revoke))
        .route("/oidc/introspect", axum::routing::post(introspect))
        .route("/oidc/logout", get(end_session_get).post(end_session_post))
}

fn endpoint(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.issuer)
}

async fn discovery(State(state): State<SharedState>) -> impl IntoResponse {
    let claims: Vec<&str> = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
    ]
    .into_iter()
    .chain(crate::registry::known_claims())
    .collect();
    let e = |p: &str| endpoint(&state, p);
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({
            "issuer": state.issuer,
            "authorization_endpoint": e("/oidc/authorize"),
            "token_endpoint": e("/oidc/token"),
            "userinfo_endpoint": e("/oidc/userinfo"),
            "jwks_uri": e("/oidc/jwks"),
            "end_session_endpoint": e("/oidc/logout"),
            "revocation_endpoint": e("/oidc/revoke"),
            "introspection_endpoint": e("/oidc/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise", "public"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "userinfo_signing_alg_values_supported": [],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": crate::registry::SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            "claims_supported": claims,
            "acr_values_supported": ["eleve", "responsable"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
            "ui_locales_supported": ["fr"],
        })),
    )
}

async fn jwks(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(
            state
                .keys
                .current()
                .jwks(state.clock.now(), RETIRED_KEY_KEEP),
        ),
    )
}

fn flow_key(flow: &str) -> String {
    format!("oidc-flow:{}", storage_key(flow))
}

async fn authorize_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, AppError> {
    start(state, headers, params).await
}

/// What a POSTed authorization or logout form becomes.
enum PostedForm<T> {
    Params(T),
    /// Send the browser to this GET of the same parameters.
    AsGet(String),
}

/// A form POSTed from another site arrives without the SameSite=Lax session cookie. Such a
/// request is sent on as a top-level GET of the same parameters, which carries the cookie:
/// otherwise a signed-in person would look signed out (and a logout would do nothing).
fn posted_form<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> Result<PostedForm<T>, AppError> {
    let query =
        std::str::from_utf8(body).map_err(|_| AppError::BadRequest("form is not UTF-8".into()))?;
    if cookie(headers, SESSION_COOKIE).is_none() {
        return Ok(PostedForm::AsGet(format!("{path}?{query}")));
    }
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| AppError::BadRequest("malformed form".into()))?;
    Query::<T>::try_from_uri(&uri)
        .map(|Query(params)| PostedForm::Params(params))
        .map_err(|_| AppError::BadRequest("malformed form".into()))
}

async fn authorize_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    match posted_form(&headers, "/oidc/authorize", &body)? {
        PostedForm::Params(params) => start(state, headers, params).await,
        PostedForm::AsGet(url) => Ok(Redirect::to(&url).into_response()),
    }
}

async fn start(
    state: SharedState,
    headers: HeaderMap,
    params: AuthorizeParams,
) -> Result<Response, AppError> {
    match authorize::validate(&params, &state.registry) {
        Err(AuthorizeError::Page(message)) => Ok(error_page(message)),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            state: s,
        }) => Ok(Redirect::to(&authorize::response_url(
            &redirect_uri,
            &state.issuer,
            s.as_deref(),
            Err(&error),
        ))
        .into_response()),
        Ok((request, client)) => {
            let flow = random_token(24);
            let json =
                serde_json::to_string(&request).map_err(|e| AppError::Internal(e.to_string()))?;
            state
                .ephemeral
                .put(
                    &flow_key(&flow),
                    &json,
                    Duration::from_secs(FLOW_TTL as u64),
                )
                .await?;
            proceed(&state, &headers, &flow, request, &client).await
        }
    }
}

#[derive(Deserialize)]
struct FlowQuery {
    #[serde(default)]
    flow: String,
}

async fn load_flow(state: &AppState, flow: &str) -> Result<Option<AuthRequest>, AppError> {
    let Some(json) = state.ephemeral.get(&flow_key(flow)).await? else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// The pending authorization of a flow id, with its client; `None` when gone or unknown.
async fn pending(
    state: &AppState,
    flow: &str,
) -> Result<Option<(AuthRequest, Arc<OidcClient>)>, AppError> {
    Ok(load_flow(state, flow).await?.and_then(|request| {
        let client = state.registry.oidc_client(&request.client_id)?;
        Some((request, client))
    }))
}

/// The redirect URI a pending authorization returns to.
pub async fn return_url(state: &AppState, flow: &str) -> Result<Option<String>, AppError> {
    Ok(pending(state, flow)
        .await?
        .map(|(request, _)| request.redirect_uri))
}

const FLOW_EXPIRED: &str = "Cette demande de connexion a expiré ou a déjà servi. Retournez sur le service que vous vouliez utiliser et recommencez.";

/// GET /oidc/authorize/resume: where the sign-in and consent pages come back to.
async fn resume(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let Some((request, client)) = pending(&state, &q.flow).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    proceed(&state, &headers, &q.flow, request, &client).await
}

/// The browser's live SSO session, with its cookie value.
pub async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, SsoSession)>, AppError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .sessions
        .load(id, state.clock.now())
        .await?
        .map(|s| (id.to_owned(), s)))
}

async fn proceed(
    state: &SharedState,
    headers: &HeaderMap,
    flow: &str,
    mut request: AuthRequest,
    client: &OidcClient,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let mut session = current_session(state, headers).await?;
    // a session whose account can no longer sign in counts as none
    if let Some((_, s)) = &session
        && !account_is_active(state, s.account_id).await?
    {
        session = None;
    }
    if request.remember_session_to_replace(session.as_ref().map(|(_, s)| s)) {
        let json =
            serde_json::to_string(&request).map_err(|e| AppError::Internal(e.to_string()))?;
        state
            .ephemeral
            .put(&flow_key(flow), &json, Duration::from_secs(FLOW_TTL as u64))
            .await?;
    }
    let consented = match (&session, client.require_consent) {
        (Some((_, s)), true) => state
            .grants
            .consent(s.account_id, &client.client_id)
            .await?
            .is_some_and(|given| {
                request
                    .scopes
                    .iter()
                    .all(|scope| given.split(' ').any(|g| g == scope))
            }),
        _ => false,
    };
    let resume = format!("/oidc/authorize/resume?flow={flow}");
    match authorize::next_step(
        &request,
        client,
        session.as_ref().map(|(_, s)| s),
        consented,
        now,
    ) {
        Next::SignIn => {
            let mut login = url::form_urlencoded::Serializer::new(String::new());
            if let Some(kind) = request.acr {
                login.append_pair("profil", kind.as_str());
            }
            if let Some(hint) = &request.login_hint {
                login.append_pair("identifiant", hint);
            }
            login.append_pair("next", &resume);
            Ok(Redirect::to(&format!("/login?{}", login.finish())).into_response())
        }
        Next::Consent => Ok(Redirect::to(&format!("/oidc/consent?flow={flow}")).into_response()),
        Next::Fail(error) => {
            state.ephemeral.delete(&flow_key(flow)).await?;
            Ok(Redirect::to(&authorize::response_url(
                &request.redirect_uri,
                &state.issuer,
                request.state.as_deref(),
                Err(&error),
            ))
            .into_response())
        }
        Next::IssueCode => {
            let Some((_, session)) = session else {
                return Err(AppError::Internal(
                    "issuing a code without a session".into(),
                ));
            };
            // the flow is single use: a second tab or a replayed resume link gets nothing
            if state.ephemeral.take(&flow_key(flow)).await?.is_none() {
                return Ok(error_page(FLOW_EXPIRED));
            }
            let code = random_token(32);
            let record = CodeRecord {
                client_id: client.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                account_id: session.account_id,
                scopes: request.scopes.clone(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.clone(),
                auth_time: session.auth_time,
                origin: session.origin,
                sid: session.sid.clone(),
                acr: request.acr.map(|_| session.kind.as_str().to_owned()),
                issued_at: now,
            };
            let json =
                serde_json::to_string(&record).map_err(|e| AppError::Internal(e.to_string()))?;
            state
                .ephemeral
                .put(
                    &format!("oidc-code:{}", storage_key(&code)),
                    &json,
                    Duration::from_secs(CODE_TTL as u64 + 5),
                )
                .await?;
            state
                .sessions
                .add_participant(
                    &session,
                    &Participant::Oidc {
                        client_id: client.client_id.clone(),
                    },
                    now,
                )
                .await?;
            Ok(Redirect::to(&authorize::response_url(
                &request.redirect_uri,
                &state.issuer,
                request.state.as_deref(),
                Ok(&code),
            ))
            .into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "consent.html")]
struct ConsentPage {
    client_name: String,
    items: Vec<&'static str>,
    flow: String,
    csrf: String,
}

fn claim_label(claim: &str) -> &'static str {
    match claim {
        "given_name" | "family_name" => "vos nom et prénom",
        "birthdate" => "votre date de naissance",
        "FrEduCtPersonAffiliation" => {
            "votre profil (élève ou responsable, premier ou second degré)"
        }
        "FrEduCtEleveUAI" | "FrEduCtEleveNiveau" => "votre établissement et votre niveau",
        "FrEduCtEleveINE" => "votre identifiant national élève (INE)",
        "FrEduOrigAuth" | "FrEduCtDateConnexion" => "la manière et l'heure de votre connexion",
        "FrEduCtEnfants" => "les noms, établissements et classes de vos enfants",
        _ => "des informations de votre compte",
    }
}

async fn consent_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let Some((request, client)) = pending(&state, &q.flow).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    if current_session(&state, &headers).await?.is_none() {
        return Ok(
            Redirect::to(&format!("/oidc/authorize/resume?flow={}", q.flow)).into_response(),
        );
    }
    let mut items: Vec<&'static str> = claims::released(&client, &request.scopes)
        .into_iter()
        .map(claim_label)
        .collect();
    items.dedup();
    if items.is_empty() {
        items.push("votre identifiant de connexion à ce service");
    }
    let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
    let mut response = ConsentPage {
        client_name: client.name.clone(),
        items,
        flow: q.flow,
        csrf,
    }
    .into_response();
    crate::web::let_forms_lead_to(&mut response, [request.redirect_uri.as_str()]);
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    decision: String,
}

async fn consent_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let Some((request, client)) = pending(&state, &form.flow).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    let Some((_, session)) = current_session(&state, &headers).await? else {
        return Ok(
            Redirect::to(&format!("/oidc/authorize/resume?flow={}", form.flow)).into_response(),
        );
    };
    if form.decision != "accept" {
        state.ephemeral.delete(&flow_key(&form.flow)).await?;
        let error = OAuthError::new("access_denied", "the person refused");
        return Ok(Redirect::to(&authorize::response_url(
            &request.redirect_uri,
            &state.issuer,
            request.state.as_deref(),
            Err(&error),
        ))
        .into_response());
    }
    let now = state.clock.now();
    state
        .grants
        .save_consent(session.account_id, &client.client_id, &request.scope(), now)
        .await?;
    let request = AuthRequest {
        prompt_consent: false,
        ..request
    };
    proceed(&state, &headers, &form.flow, request, &client).await
}

/// An error of the token, revocation or introspection endpoint, as JSON.
struct TokenError {
    error: OAuthError,
    basic: bool,
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let status = if self.error.code == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut r = (
            status,
            Json(json!({ "error": self.error.code, "error_description": self.error.description })),
        )
            .into_response();
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED && self.basic {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"idp\""),
            );
        }
        r
    }
}

#[derive(Debug, Default, Deserialize)]
struct ClientForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// Authenticates the calling client; the assertion's jti is recorded so it is used once.
async fn client_from(
    state: &AppState,
    headers: &HeaderMap,
    form: &ClientForm,
    path: &str,
) -> Result<Result<Arc<OidcClient>, TokenError>, AppError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let basic = authorization.is_some_and(|a| a.to_ascii_lowercase().starts_with("basic "));
    let fail = |error| Ok(Err(TokenError { error, basic }));
    let presented = match client_auth::presented(
        authorization,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
        form.client_assertion_type.as_deref(),
        form.client_assertion.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let audiences = [endpoint(state, path), state.issuer.clone()];
    let now = state.clock.now();
    match client_auth::authenticate(&presented, &state.registry, &state.secret, &audiences, now) {
        Err(e) => fail(e),
        Ok((client, assertion)) => {
            if let Some(a) = assertion {
                let ttl = Duration::from_secs(u64::try_from(a.expires_at - now + 60).unwrap_or(60));
                let key = format!(
                    "oidc-assertion:{}:{}",
                    client.client_id,
                    storage_key(&a.jti)
                );
                if !state.ephemeral.put_new(&key, "1", ttl).await? {
                    return fail(OAuthError::invalid_client("client assertion already used"));
                }
            }
            if matches!(presented, Presented::PublicClient { .. }) && path != "/oidc/token" {
                // public clients may revoke their own tokens, never introspect
                if path == "/oidc/introspect" {
                    return fail(OAuthError::invalid_client(
                        "public clients cannot introspect",
                    ));
                }
            }
            Ok(Ok(client))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    #[serde(default)]
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    #[serde(flatten)]
    client: ClientForm,
}

fn json_no_store(body: &impl serde::Serialize) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// Signs the tokens of a grant: access token, ID token, and the refresh token given.
#[allow(clippy::too_many_arguments)]
fn issue(
    state: &AppState,
    client: &OidcClient,
    grant: &Grant,
    scopes: &[String],
    nonce: Option<String>,
    acr: Option<String>,
    refresh_token: Option<String>,
) -> Result<TokenResponse, AppError> {
    let now = state.clock.now();
    let keys = state.keys.current();
    let sub = subject_for(state, client, grant.account_id);
    let scope = scopes.join(" ");
    let access = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub: sub.clone(),
        aud: client.client_id.clone(),
        exp: now + ACCESS_TOKEN_TTL,
        iat: now,
        jti: random_token(16),
        client_id: client.client_id.clone(),
        scope: scope.clone(),
        auth_time: Some(grant.auth_time),
        gid: Some(grant.id.clone()),
    };
    let access_token = keys
        .sign(crate::keys::signing::SigningAlg::ES256, "at+jwt", &access)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let origin = if grant.origin == "FC" {
        AuthOrigin::FranceConnect
    } else {
        AuthOrigin::Local
    };
    // The ID token carries no personal data (it travels back in logout URLs as
    // id_token_hint): the released claims are served by userinfo.
    let id = IdTokenClaims {
        iss: state.issuer.clone(),
        sub,
        aud: client.client_id.clone(),
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: grant.auth_time,
        nonce,
        acr,
        amr: vec![
            if origin == AuthOrigin::FranceConnect {
                "fc"
            } else {
                "pwd"
            }
            .to_owned(),
        ],
        sid: grant.session_id.clone().unwrap_or_default(),
        azp: client.client_id.clone(),
        at_hash: Some(half_hash(&access_token)),
    };
    let id_token = keys
        .sign(client.id_token_alg, "JWT", &id)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL,
        scope,
        refresh_token,
        id_token: Some(id_token),
    })
}

async fn token(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let client = match client_from(&state, &headers, &form.client, "/oidc/token").await? {
        Ok(c) => c,
        Err(e) => return Ok(e.into_response()),
    };
    let fail = |error: OAuthError| {
        Ok(TokenError {
            error,
            basic: false,
        }
        .into_response())
    };
    let now = state.clock.now();
    let audit = |kind: AuditKind, account: Option<i64>, details: Value| NewAuditEvent {
        at: now,
        kind,
        actor: Actor::Client(client.client_id.clone()),
        subject: account,
        source_address: Some(peer.ip().to_string()),
        details,
    };
    match form.grant_type.as_str() {
        "authorization_code" => {
            if !client.allows(GrantType::AuthorizationCode) {
                return fail(OAuthError::unauthorized_client("grant type not allowed"));
            }
            let Some(code) = form.code.as_deref().filter(|c| !c.is_empty()) else {
                return fail(OAuthError::invalid_request("code is missing"));
            };
            let hash = storage_key(code);
            let used_key = format!("oidc-code-used:{hash}");
            let Some(json) = state.ephemeral.take(&format!("oidc-code:{hash}")).await? else {
                // a replayed code revokes what was issued from it (RFC 6749 §4.1.2)
                if let Some(grant_id) = state.ephemeral.get(&used_key).await? {
                    state.grants.revoke_grant(&grant_id, now).await?;
                    let grant = state.grants.grant(&grant_id).await?;
                    state
                        .audit
                        .append(&audit(
                            AuditKind::TokenRevoked,
                            grant.map(|g| g.account_id),
                            json!({ "reason": "authorization_code_replayed", "grant": grant_id }),
                        ))
                        .await?;
                }
                return fail(OAuthError::invalid_grant(
                    "the code is invalid, expired or already used",
                ));
            };
            // Mark the code used at once, before any other wait, so that a replay arriving
            // while this exchange runs still finds the grant to revoke.
            let grant_id = random_token(16);
            state
                .ephemeral
                .put(&used_key, &grant_id, Duration::from_secs(600))
                .await?;
            let record: CodeRecord =
                serde_json::from_str(&json).map_err(|e| AppError::Internal(e.to_string()))?;
            if let Err(e) = check_code_exchange(
                &record,
                &client.client_id,
                form.redirect_uri.as_deref(),
                form.code_verifier.as_deref(),
                now,
            ) {
                return fail(e);
            }
            if !account_is_active(&state, record.account_id).await? {
                return fail(OAuthError::invalid_grant(
                    "the account can no longer sign in",
                ));
            }
            let grant = Grant {
                id: grant_id,
                client_id: client.client_id.clone(),
                account_id: record.account_id,
                scope: record.scopes.join(" "),
                auth_time: record.auth_time,
                origin: serde_json::to_value(record.origin)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "ECT".into()),
                session_id: Some(record.sid.clone()),
                created_at: now,
                expires_at: now + REFRESH_TOKEN_TTL,
                revoked_at: None,
            };
            // refresh tokens only for offline_access: other grants end with the session
            let offline = record.scopes.iter().any(|s| s == "offline_access");
            let refresh =
                (offline && client.allows(GrantType::RefreshToken)).then(|| random_token(32));
            let refresh_hash = refresh
                .as_deref()
                .map(|r| state.secret.hash_generated_secret(r));
            state
                .grants
                .create_grant(
                    &grant,
                    refresh_hash.as_deref().map(|hash| NewRefreshToken {
                        hash,
                        expires_at: grant.expires_at,
                    }),
                )
                .await?;
            let response = issue(
                &state,
                &client,
                &grant,
                &record.scopes,
                record.nonce.clone(),
                record.acr.clone(),
                refresh,
            )?;
            state
                .audit
                .append(&audit(
                    AuditKind::TokenIssued,
                    Some(record.account_id),
                    json!({ "grant_type": "authorization_code", "grant": grant.id }),
                ))
                .await?;
            Ok(json_no_store(&response))
        }
        "refresh_token" => {
            if !client.allows(GrantType::RefreshToken) {
                return fail(OAuthError::unauthorized_client("grant type not allowed"));
            }
            let Some(presented) = form.refresh_token.as_deref().filter(|t| !t.is_empty()) else {
                return fail(OAuthError::invalid_request("refresh_token is missing"));
            };
            let next = random_token(32);
            let next_hash = state.secret.hash_generated_secret(&next);
            let used = state
                .grants
                .rotate_refresh_token(
                    &state.secret.hash_generated_secret(presented),
                    &client.client_id,
                    NewRefreshToken {
                        hash: &next_hash,
                        expires_at: now + REFRESH_TOKEN_TTL,
                    },
                    now,
                )
                .await?;
            let grant = match used {
                RefreshUse::Fresh(grant) => grant,
                RefreshUse::Reused(grant) => {
                    state
                        .audit
                        .append(&audit(
                            AuditKind::TokenRevoked,
                            Some(grant.account_id),
                            json!({ "reason": "refresh_token_reused", "grant": grant.id }),
                        ))
                        .await?;
                    return fail(OAuthError::invalid_grant(
                        "the refresh token was already used",
                    ));
                }
                RefreshUse::Invalid => {
                    return fail(OAuthError::invalid_grant(
                        "the refresh token is invalid or expired",
                    ));
                }
            };
            let granted: Vec<String> = grant.scope.split(' ').map(str::to_owned).collect();
            let scopes = match form.scope.as_deref().filter(|s| !s.is_empty()) {
                None => granted,
                Some(asked) => {
                    let asked: Vec<String> = asked.split(' ').map(str::to_owned).collect();
                    if asked.iter().any(|s| !granted.contains(s)) {
                        return fail(OAuthError::invalid_scope("scope wider than the grant"));
                    }
                    asked
                }
            };
            if !account_is_active(&state, grant.account_id).await? {
                state.grants.revoke_grant(&grant.id, now).await?;
                return fail(OAuthError::invalid_grant(
                    "the account can no longer sign in",
                ));
            }
            let response = issue(&state, &client, &grant, &scopes, None, None, Some(next))?;
            Ok(json_no_store(&response))
        }
        "client_credentials" => {
            if !client.allows(GrantType::ClientCredentials) {
                return fail(OAuthError::unauthorized_client("grant type not allowed"));
            }
            let scopes: Vec<String> = form
                .scope
                .as_deref()
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if scopes
                .iter()
                .any(|s| s == "openid" || !client.scopes.contains(s))
            {
                return fail(OAuthError::invalid_scope(
                    "scope not allowed for this client",
                ));
            }
            let claims = AccessTokenClaims {
                iss: state.issuer.clone(),
                sub: client.client_id.clone(),
                aud: client.client_id.clone(),
                exp: now + ACCESS_TOKEN_TTL,
                iat: now,
                jti: random_token(16),
                client_id: client.client_id.clone(),
                scope: scopes.join(" "),
                auth_time: None,
                gid: None,
            };
            let access_token = state
                .keys
                .current()
                .sign(crate::keys::signing::SigningAlg::ES256, "at+jwt", &claims)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            Ok(json_no_store(&TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: ACCESS_TOKEN_TTL,
                scope: claims.scope,
                refresh_token: None,
                id_token: None,
            }))
        }
        "" => fail(OAuthError::invalid_request("grant_type is missing")),
        _ => fail(OAuthError::new(
            "unsupported_grant_type",
            "unsupported grant_type",
        )),
    }
}

/// A verified, unrevoked access token of a live grant.
async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessTokenClaims>, AppError> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return Ok(None);
    };
    if header.typ.as_deref() != Some("at+jwt") {
        return Ok(None);
    }
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[&state.issuer]);
    validation.validate_aud = false;
    validation.validate_exp = false; // checked against our clock below
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let Ok(claims) = state.keys.current().verify::<AccessTokenClaims>(
        token,
        &validation,
        state.clock.now(),
        RETIRED_KEY_KEEP,
    ) else {
        return Ok(None);
    };
    let now = state.clock.now();
    if claims.exp <= now {
        return Ok(None);
    }
    if state
        .ephemeral
        .get(&format!("oidc-revoked:{}", claims.jti))
        .await?
        .is_some()
    {
        return Ok(None);
    }
    if let Some(gid) = &claims.gid {
        let live = state
            .grants
            .grant(gid)
            .await?
            .is_some_and(|g| g.is_live(now));
        if !live {
            return Ok(None);
        }
    }
    Ok(Some(claims))
}

fn invalid_token() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "invalid_token", "error_description": "the access token is invalid or expired" })),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

async fn userinfo(state: &AppState, token: Option<&str>) -> Result<Response, AppError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(r);
    };
    let Some(claims) = verify_access_token(state, token).await? else {
        return Ok(invalid_token());
    };
    let (Some(gid), Some(client)) = (&claims.gid, state.registry.oidc_client(&claims.client_id))
    else {
        return Ok(invalid_token());
    };
    let Some(grant) = state.grants.grant(gid).await? else {
        return Ok(invalid_token());
    };
    let Some(person) = load_person(state, grant.account_id).await? else {
        return Ok(invalid_token());
    };
    let scopes: Vec<String> = claims.scope.split(' ').map(str::to_owned).collect();
    let origin = if grant.origin == "FC" {
        AuthOrigin::FranceConnect
    } else {
        AuthOrigin::Local
    };
    let mut body = claims::values(
        &person,
        &claims::released(&client, &scopes),
        &ClaimContext {
            salt: &state.subjects,
            sector: &client.sector,
            origin,
            auth_time: grant.auth_time,
        },
    );
    body.insert("sub".into(), json!(claims.sub));
    Ok(json_no_store(&body))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

async fn userinfo_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    userinfo(&state, bearer(&headers)).await
}

async fn userinfo_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    // RFC 6750 §2.2: the token may come in a form body
    let from_body = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    let token = bearer(&headers).map(str::to_owned).or(from_body);
    userinfo(&state, token.as_deref()).await
}

#[derive(Deserialize)]
struct TokenIntrospectionForm {
    #[serde(default)]
    token: String,
    #[serde(flatten)]
    client: ClientForm,
}

/// POST /oidc/revoke (RFC 7009): always 200 for a known client, whatever the token.
async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<TokenIntrospectionForm>,
) -> Result<Response, AppError> {
    let client = match client_from(&state, &headers, &form.client, "/oidc/revoke").await? {
        Ok(c) => c,
        Err(e) => return Ok(e.into_response()),
    };
    if form.token.is_empty() {
        return Ok(TokenError {
            error: OAuthError::invalid_request("token is missing"),
            basic: false,
        }
        .into_response());
    }
    let now = state.clock.now();
    let hash = state.secret.hash_generated_secret(&form.token);
    if let Some((grant, _)) = state.grants.live_refresh_token(&hash, now).await? {
        if grant.client_id == client.client_id {
            state.grants.revoke_grant(&grant.id, now).await?;
        }
    } else if let Some(claims) = verify_access_token(&state, &form.token).await?
        && claims.client_id == client.client_id
    {
        let ttl = Duration::from_secs(u64::try_from(claims.exp - now + 60).unwrap_or(60));
        state
            .ephemeral
            .put(&format!("oidc-revoked:{}", claims.jti), "1", ttl)
            .await?;
    }
    Ok(json_no_store(&json!({})))
}

/// POST /oidc/introspect (RFC 7662), for clients registered as resource servers.
async fn introspect(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<TokenIntrospectionForm>,
) -> Result<Response, AppError> {
    let client = match client_from(&state, &headers, &form.client, "/oidc/introspect").await? {
        Ok(c) => c,
        Err(e) => return Ok(e.into_response()),
    };
    if !client.introspection {
        return Ok(TokenError {
            error: OAuthError::invalid_client("this client may not introspect tokens"),
            basic: false,
        }
        .into_response());
    }
    let now = state.clock.now();
    if let Some(c) = verify_access_token(&state, &form.token).await? {
        return Ok(json_no_store(&json!({
            "active": true,
            "token_type": "Bearer",
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "aud": c.aud,
            "iss": c.iss,
            "exp": c.exp,
            "iat": c.iat,
            "jti": c.jti,
        })));
    }
    let hash = state.secret.hash_generated_secret(&form.token);
    if let Some((grant, expires_at)) = state.grants.live_refresh_token(&hash, now).await?
        && let Some(owner) = state.registry.oidc_client(&grant.client_id)
    {
        return Ok(json_no_store(&json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": grant.scope,
            "client_id": grant.client_id,
            "sub": subject_for(&state, &owner, grant.account_id),
            "iss": state.issuer,
            "exp": expires_at,
        })));
    }
    Ok(json_no_store(&json!({ "active": false })))
}

#[derive(Debug, Default, Deserialize)]
struct EndSessionParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
struct ConfirmLogout {
    csrf: String,
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

async fn end_session_get(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(p): Query<EndSessionParams>,
) -> Result<Response, AppError> {
    end_session(state, peer, headers, p).await
}

async fn end_session_post(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    match posted_form(&headers, "/oidc/logout", &body)? {
        PostedForm::Params(p) => end_session(state, peer, headers, p).await,
        PostedForm::AsGet(url) => Ok(Redirect::to(&url).into_response()),
    }
}

/// RP-initiated logout: with a valid `id_token_hint` for the current session, the session ends
/// at once; otherwise the person is asked to confirm (a forged link cannot sign anyone out).
async fn end_session(
    state: SharedState,
    peer: SocketAddr,
    headers: HeaderMap,
    p: EndSessionParams,
) -> Result<Response, AppError> {
    let hint = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(token) => {
            // an ID token, not an access or logout token signed by the same keys
            let is_id_token = jsonwebtoken::decode_header(token)
                .is_ok_and(|h| h.typ.as_deref().is_none_or(|t| t == "JWT"));
            if !is_id_token {
                return Ok(error_page(
                    "Le jeton fourni pour la déconnexion n'est pas valide.",
                ));
            }
            let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
            validation.set_issuer(&[&state.issuer]);
            validation.validate_aud = false;
            validation.validate_exp = false; // an expired ID token is a fine hint
            validation.set_required_spec_claims(&["iss", "aud"]);
            match state.keys.current().verify::<HintClaims>(
                token,
                &validation,
                state.clock.now(),
                RETIRED_KEY_KEEP,
            ) {
                Ok(h) => Some(h),
                Err(_) => {
                    return Ok(error_page(
                        "Le jeton fourni pour la déconnexion n'est pas valide.",
                    ));
                }
            }
        }
    };
    let redirect = match logout::checked_redirect(
        &state.registry,
        hint.as_ref(),
        p.client_id.as_deref(),
        p.post_logout_redirect_uri.as_deref(),
        p.state.as_deref(),
    ) {
        Ok(r) => r,
        Err(message) => return Ok(error_page(message)),
    };
    let session = current_session(&state, &headers).await?;
    match session {
        None => Ok(match redirect {
            Some(uri) => Redirect::to(&uri).into_response(),
            None => Redirect::to("/login?deconnecte=1").into_response(),
        }),
        Some((cookie_id, session))
            if hint.as_ref().and_then(|h| h.sid.as_ref()) == Some(&session.sid) =>
        {
            let initiator = hint.as_ref().map(|h| h.aud.clone());
            let plan = end_sso_session(&state, &cookie_id, peer, initiator.as_deref()).await?;
            let mut r = match (plan, redirect) {
                (Some(mut plan), redirect) => {
                    plan.then = redirect.map_or(AfterLogout::Page, AfterLogout::Redirect);
                    crate::protocol::logout::proceed(&state, plan).await?
                }
                (None, Some(uri)) => Redirect::to(&uri).into_response(),
                (None, None) => Redirect::to("/login?deconnecte=1").into_response(),
            };
            r.headers_mut().append(
                header::SET_COOKIE,
                crate::web::http::clear_cookie(&state, SESSION_COOKIE),
            );
            Ok(r)
        }
        Some((_, session)) => {
            let upstream = crate::web::logout_destinations(&state, &session);
            let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
            let client_id = hint.map(|h| h.aud).or(p.client_id).unwrap_or_default();
            let mut r = ConfirmLogout {
                csrf,
                client_id: if redirect.is_some() {
                    client_id
                } else {
                    String::new()
                },
                post_logout_redirect_uri: if redirect.is_some() {
                    p.post_logout_redirect_uri.unwrap_or_default()
                } else {
                    String::new()
                },
                state: p.state.unwrap_or_default(),
            }
            .into_response();
            crate::web::let_forms_lead_to(
                &mut r,
                redirect
                    .as_deref()
                    .into_iter()
                    .chain(upstream.iter().map(String::as_str)),
            );
            if let Some(c) = browser_cookie {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            Ok(r)
        }
    }
}

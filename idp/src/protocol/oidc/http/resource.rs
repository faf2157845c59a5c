//! What access tokens are shown to: userinfo, revocation (RFC 7009), introspection (RFC 7662).

use super::token::{ClientForm, TokenError, client_from, json_no_store};
use super::*;
use crate::web::http::bearer;

/// A verified, unrevoked access token of a live grant (or of a client, client_credentials).
pub async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessTokenClaims>, AppError> {
    let now = state.clock.now();
    let claims = match state.verified_tokens.get(token, now) {
        Some(claims) => claims,
        None => {
            let Some(claims) = verify_signature(state, token) else {
                return Ok(None);
            };
            if claims.exp <= now {
                return Ok(None);
            }
            state.verified_tokens.insert(token, &claims, now);
            claims
        }
    };
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

/// The claims of an access token signed by one of our keys for this issuer.
fn verify_signature(state: &AppState, token: &str) -> Option<AccessTokenClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[&state.issuer]);
    validation.validate_aud = false;
    validation.validate_exp = false; // checked against our clock by the caller
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    state
        .keys
        .current()
        .verify::<AccessTokenClaims>(token, &validation, state.clock.now(), RETIRED_KEY_KEEP)
        .ok()
}

pub(super) fn invalid_token() -> Response {
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

pub(super) async fn userinfo(state: &AppState, token: Option<&str>) -> Result<Response, AppError> {
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

pub(super) async fn userinfo_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    userinfo(&state, bearer(&headers)).await
}

pub(super) async fn userinfo_post(
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
pub(super) struct TokenIntrospectionForm {
    #[serde(default)]
    token: String,
    #[serde(flatten)]
    client: ClientForm,
}

/// POST /oidc/revoke (RFC 7009): always 200 for a known client, whatever the token.
pub(super) async fn revoke(
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
pub(super) async fn introspect(
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

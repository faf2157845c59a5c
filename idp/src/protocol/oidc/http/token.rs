//! The token endpoint (authorization code, refresh token rotation, client credentials) and
//! client authentication.

use super::*;

/// An error of the token, revocation or introspection endpoint, as JSON.
pub(super) struct TokenError {
    pub(super) error: OAuthError,
    pub(super) basic: bool,
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
pub(super) struct ClientForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// Authenticates the calling client; the assertion's jti is recorded so it is used once.
pub(super) async fn client_from(
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
pub(super) struct TokenForm {
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

pub(super) fn json_no_store(body: &impl serde::Serialize) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// Signs the tokens of a grant: access token, ID token, and the refresh token given.
#[allow(clippy::too_many_arguments)]
pub(super) fn issue(
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
    state.metrics.issued(crate::metrics::Issued::AccessToken);
    state.metrics.issued(crate::metrics::Issued::IdToken);
    if refresh_token.is_some() {
        state.metrics.issued(crate::metrics::Issued::RefreshToken);
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL,
        scope,
        refresh_token,
        id_token: Some(id_token),
    })
}

pub(super) async fn token(
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
                    json!({
                        "grant_type": "authorization_code",
                        "grant": grant.id,
                        "origin": grant.origin,
                    }),
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
            state.metrics.issued(crate::metrics::Issued::AccessToken);
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

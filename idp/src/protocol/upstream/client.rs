//! The IdP as a relying party of an upstream OpenID Connect provider, on the openidconnect
//! crate: discovery (kept, and done again when a signature names a key not seen yet), the
//! authorization URL, the code exchange with the ID token checked (signature, issuer,
//! audience, expiry, nonce), userinfo as a signed JWT checked against the same key set, and
//! the end-session URL.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::config::UpstreamConfig;

/// Why a sign-in at an upstream provider did not give an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The provider cannot be reached or answers wrongly (discovery, token endpoint …).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The ID token is not acceptable (signature, issuer, audience, expiry, nonce …).
    #[error("the ID token is refused: {0}")]
    IdToken(String),
    /// Userinfo is not acceptable (unsigned when it must be, bad signature, another person).
    #[error("userinfo is refused: {0}")]
    UserInfo(String),
}

type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery said.
struct Discovered {
    client: ProviderClient,
    /// The same keys, for checking userinfo JWTs with jsonwebtoken.
    keys: JwkSet,
    userinfo: Option<String>,
    authorization: String,
    end_session: Option<String>,
    /// The provider names itself in its authorization responses (RFC 9207).
    iss_in_responses: bool,
}

/// The identity a provider vouched for.
#[derive(Debug, Clone)]
pub struct UpstreamIdentity {
    pub subject: String,
    /// Userinfo's claims (the identité pivot).
    pub claims: Map<String, Value>,
    /// The raw ID token, for the end-session request.
    pub id_token: String,
    pub acr: Option<String>,
}

/// One configured upstream provider.
pub struct UpstreamProvider {
    pub config: UpstreamConfig,
    secret: String,
    redirect_uri: String,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
}

/// What the core metadata type does not carry.
#[derive(Debug, serde::Deserialize)]
struct ExtraMetadata {
    end_session_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl UpstreamProvider {
    pub fn new(config: UpstreamConfig, secret: String, issuer: &str) -> anyhow::Result<Self> {
        let redirect_uri = format!("{issuer}/upstream/{}/callback", config.id);
        let http = reqwest::Client::builder()
            // following redirects would let a provider send the IdP elsewhere (SSRF)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            config,
            secret,
            redirect_uri,
            http,
            discovered: RwLock::new(None),
        })
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Whether the provider says it names itself in authorization responses (RFC 9207): its
    /// callbacks must then carry `iss`.
    pub async fn names_itself_in_responses(&self) -> bool {
        self.discovered().await.is_ok_and(|d| d.iss_in_responses)
    }

    /// The addresses a form of this site may lead to through this provider (its issuer, and
    /// its authorization and end-session endpoints once discovered), for CSP form-action.
    pub fn form_targets(&self) -> Vec<String> {
        let mut targets = vec![self.config.issuer.to_string()];
        if let Ok(guard) = self.discovered.try_read()
            && let Some(d) = guard.as_ref()
        {
            targets.push(d.authorization.clone());
            targets.extend(d.end_session.clone());
        }
        targets
    }

    async fn discovered(&self) -> Result<Arc<Discovered>, UpstreamError> {
        if let Some(d) = self.discovered.read().await.as_ref() {
            return Ok(d.clone());
        }
        self.discover().await
    }

    /// Discovery again (the provider's keys, endpoints), kept for the next requests.
    async fn discover(&self) -> Result<Arc<Discovered>, UpstreamError> {
        let unavailable = |e: &dyn std::fmt::Display| UpstreamError::Unavailable(e.to_string());
        let issuer = self.config.issuer.as_str().trim_end_matches('/').to_owned();
        let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|e| unavailable(&e))?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &self.http)
            .await
            .map_err(|e| unavailable(&e))?;
        // the end-session endpoint and RFC 9207 are not part of the core metadata
        let extra = self
            .http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .map_err(|e| unavailable(&e))?
            .json::<ExtraMetadata>()
            .await
            .map_err(|e| unavailable(&e))?;
        let authorization = metadata.authorization_endpoint().url().to_string();
        let keys = jwk_set(metadata.jwks())?;
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().to_string());
        let auth_type = match self.config.token_endpoint_auth_method.as_str() {
            "client_secret_basic" => AuthType::BasicAuth,
            _ => AuthType::RequestBody,
        };
        let redirect = RedirectUrl::new(self.redirect_uri.clone()).map_err(|e| unavailable(&e))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(auth_type);
        let discovered = Arc::new(Discovered {
            client,
            keys,
            userinfo,
            authorization,
            end_session: extra.end_session_endpoint,
            iss_in_responses: extra.authorization_response_iss_parameter_supported,
        });
        *self.discovered.write().await = Some(discovered.clone());
        Ok(discovered)
    }

    /// Where to send the browser: the authorization request with this state and nonce.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
    ) -> Result<String, UpstreamError> {
        let d = self.discovered().await?;
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let mut request = d.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        );
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(acr) = &self.config.acr_values {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        let (url, _, _) = request.url();
        Ok(url.to_string())
    }

    /// Exchanges the code, checks the ID token (with the provider's current keys, fetched
    /// again once if it names an unknown one) and reads userinfo.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        now: i64,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let d = self.discovered().await?;
        let tokens = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("token endpoint: {e}")))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| UpstreamError::IdToken("the token response has no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let checked = |d: &Discovered| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
            let verifier = d
                .client
                .id_token_verifier()
                .set_time_fn(move || chrono::DateTime::from_timestamp(now, 0).unwrap_or_default());
            id_token.claims(&verifier, &nonce).cloned()
        };
        let (d, claims) = match checked(&d) {
            Ok(c) => (d, c),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // a key rotated at the provider: discovery again, once
                let fresh = self.discover().await?;
                let claims = checked(&fresh).map_err(|e| UpstreamError::IdToken(e.to_string()))?;
                (fresh, claims)
            }
            Err(e) => return Err(UpstreamError::IdToken(e.to_string())),
        };
        let subject = claims.subject().to_string();
        let acr = claims.auth_context_ref().map(|a| a.to_string());
        // the level asked for must be the level given (FranceConnect: eidas1)
        if let Some(asked) = &self.config.acr_values
            && !acr
                .as_deref()
                .is_some_and(|given| asked.split_whitespace().any(|a| a == given))
        {
            return Err(UpstreamError::IdToken(format!(
                "acr {acr:?} is not the level asked for ({asked})"
            )));
        }
        let access_token = tokens.access_token().secret().clone();
        let userinfo = self.userinfo(&d, &access_token, &subject).await?;
        Ok(UpstreamIdentity {
            subject,
            claims: userinfo,
            id_token: id_token.to_string(),
            acr,
        })
    }

    /// Userinfo's claims: a JWT signed with the provider's keys when `userinfo_signed`, and
    /// always about the subject of the ID token.
    async fn userinfo(
        &self,
        d: &Discovered,
        access_token: &str,
        subject: &str,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let Some(url) = &d.userinfo else {
            return Err(UpstreamError::UserInfo(
                "the provider has no userinfo endpoint".into(),
            ));
        };
        let answer = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/jwt, application/json")
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("userinfo: {e}")))?;
        if !answer.status().is_success() {
            return Err(UpstreamError::UserInfo(format!("HTTP {}", answer.status())));
        }
        let is_jwt = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().starts_with("application/jwt"));
        let body = answer
            .text()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("userinfo: {e}")))?;
        let claims = if is_jwt {
            match verify_userinfo_jwt(
                &body,
                &d.keys,
                self.config.issuer.as_str(),
                &self.config.client_id,
            ) {
                Err(UserInfoJwtError::UnknownKey) => {
                    let fresh = self.discover().await?;
                    verify_userinfo_jwt(
                        &body,
                        &fresh.keys,
                        self.config.issuer.as_str(),
                        &self.config.client_id,
                    )
                    .map_err(|e| UpstreamError::UserInfo(e.to_string()))?
                }
                other => other.map_err(|e| UpstreamError::UserInfo(e.to_string()))?,
            }
        } else if self.config.userinfo_signed {
            return Err(UpstreamError::UserInfo(
                "userinfo must be a signed JWT (application/jwt)".into(),
            ));
        } else {
            serde_json::from_str::<Map<String, Value>>(&body)
                .map_err(|e| UpstreamError::UserInfo(e.to_string()))?
        };
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(UpstreamError::UserInfo(
                "userinfo is about another person than the ID token".into(),
            ));
        }
        Ok(claims)
    }

    /// The provider's end-session URL for a sign-in made with `id_token`, coming back to
    /// `post_logout_redirect_uri` with `state`; `None` when the provider has none or logout is
    /// not configured.
    pub async fn end_session_url(
        &self,
        id_token: &str,
        state: &str,
        post_logout_redirect_uri: &str,
    ) -> Option<String> {
        if !self.config.logout {
            return None;
        }
        let d = match self.discovered().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(provider = %self.config.id, error = %e, "cannot end the upstream session");
                return None;
            }
        };
        let mut url = url::Url::parse(d.end_session.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("state", state)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
        Some(url.to_string())
    }
}

fn jwk_set(keys: &CoreJsonWebKeySet) -> Result<JwkSet, UpstreamError> {
    // only the signing keys jsonwebtoken knows (EC, RSA) are kept
    let value =
        serde_json::to_value(keys).map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
    let list = value
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect();
    Ok(JwkSet { keys: list })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserInfoJwtError {
    #[error("the JWT names a key the provider does not publish")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
}

/// Checks a userinfo JWT: signed (ES256 or RS256) by a key of `keys`, from `issuer`, for
/// `client_id`; returns its claims.
pub fn verify_userinfo_jwt(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
) -> Result<Map<String, Value>, UserInfoJwtError> {
    let invalid = |m: String| UserInfoJwtError::Invalid(m);
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
    let alg = match header.alg {
        a @ (jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::RS256) => a,
        other => return Err(invalid(format!("algorithm {other:?} is not accepted"))),
    };
    let kid = header
        .kid
        .ok_or_else(|| invalid("the JWT names no key".into()))?;
    let jwk = keys.find(&kid).ok_or(UserInfoJwtError::UnknownKey)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| invalid(e.to_string()))?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[issuer, issuer.trim_end_matches('/')]);
    validation.set_audience(&[client_id]);
    // from this provider, for this client; an expiry is checked when there is one
    validation.required_spec_claims = ["iss", "aud"].into_iter().map(String::from).collect();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(data.claims)
}

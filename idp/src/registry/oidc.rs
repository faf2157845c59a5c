//! OpenID Connect clients (`protocol = "oidc"`): the scopes and claims they may get, how they
//! authenticate, their redirect and logout addresses.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;

use super::check_uri;
use crate::keys::ServerSecret;
use crate::keys::signing::SigningAlg;

/// Scopes and the claims each one asks for.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("openid", &[]),
    ("profile", &["given_name", "family_name", "birthdate"]),
    (
        "educonnect",
        &[
            "FrEduCtPersonAffiliation",
            "FrEduCtEleveUAI",
            "FrEduCtEleveNiveau",
            "FrEduCtEleveINE",
            "FrEduOrigAuth",
            "FrEduCtDateConnexion",
            "FrEduCtEnfants",
        ],
    ),
    ("offline_access", &[]),
    // the admin API (client_credentials only, for the schools of `admin_schools`)
    ("admin", &[]),
];

/// Every claim the provider can release (SPEC §3.1): those of all scopes.
pub fn known_claims() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().flat_map(|(_, claims)| claims.iter().copied())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// A public client (mobile app, single-page app): PKCE is then required.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    #[default]
    Pairwise,
    Public,
}

/// A registered OpenID Connect client.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub client_id: String,
    pub name: String,
    /// Keyed hash of the client secret (confidential clients using a secret).
    pub secret_hash: Option<String>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: BTreeSet<String>,
    pub claims: BTreeSet<String>,
    pub subject_type: SubjectType,
    /// Pairwise subjects are computed per sector: clients of one sector see the same `sub`.
    pub sector: String,
    pub id_token_alg: SigningAlg,
    pub require_consent: bool,
    /// May call the introspection endpoint (a resource server).
    pub introspection: bool,
    /// The schools this client may administer through the admin API (UAIs, or `*` for all):
    /// an académie's tooling.
    pub admin_schools: Vec<String>,
    /// Public keys for `private_key_jwt`.
    pub jwks: Vec<jsonwebtoken::jwk::Jwk>,
}

impl OidcClient {
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OidcFile {
    #[allow(dead_code)]
    protocol: String,
    client_id: String,
    name: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_env: Option<String>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    client_secret_hash: Option<String>,
    #[serde(default = "default_auth_method")]
    token_endpoint_auth_method: AuthMethod,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    #[serde(default = "default_grant_types")]
    grant_types: BTreeSet<GrantType>,
    #[serde(default = "default_scopes")]
    scopes: BTreeSet<String>,
    #[serde(default)]
    claims: BTreeSet<String>,
    #[serde(default)]
    subject_type: SubjectType,
    #[serde(default)]
    sector_identifier: Option<String>,
    #[serde(default = "default_alg")]
    id_token_signed_response_alg: SigningAlg,
    #[serde(default)]
    require_consent: bool,
    #[serde(default)]
    introspection: bool,
    #[serde(default)]
    admin_schools: Vec<String>,
    #[serde(default)]
    jwks: Option<jsonwebtoken::jwk::JwkSet>,
}

fn default_auth_method() -> AuthMethod {
    AuthMethod::ClientSecretBasic
}
fn default_grant_types() -> BTreeSet<GrantType> {
    BTreeSet::from([GrantType::AuthorizationCode])
}
fn default_scopes() -> BTreeSet<String> {
    BTreeSet::from(["openid".to_owned(), "profile".to_owned()])
}
fn default_alg() -> SigningAlg {
    SigningAlg::ES256
}

impl OidcFile {
    pub(super) fn into_client(self, secret: &ServerSecret) -> Result<OidcClient, String> {
        if self.client_id.is_empty() || self.client_id.len() > 128 {
            return Err("`client_id` must have 1 to 128 characters".into());
        }
        let plain = match (
            &self.client_secret,
            &self.client_secret_env,
            &self.client_secret_file,
        ) {
            (Some(s), None, None) => Some(s.clone()),
            (None, Some(var), None) => Some(
                std::env::var(var)
                    .map_err(|_| format!("`client_secret_env`: variable {var} is not set"))?,
            ),
            (None, None, Some(path)) => Some(
                crate::config::read_secret_file("client_secret_file", path)
                    .map_err(|e| e.to_string())?,
            ),
            (None, None, None) => None,
            _ => {
                return Err(
                    "give only one of client_secret, client_secret_env, client_secret_file".into(),
                );
            }
        };
        let secret_hash = match (plain, self.client_secret_hash) {
            (Some(_), Some(_)) => {
                return Err("give client_secret_hash or a client secret, not both".into());
            }
            (Some(p), None) => {
                if p.len() < 12 {
                    return Err("the client secret is too short (12 characters at least)".into());
                }
                Some(secret.hash_generated_secret(&p))
            }
            (None, hash) => hash,
        };
        let uses_secret = matches!(
            self.token_endpoint_auth_method,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        );
        if uses_secret && secret_hash.is_none() {
            return Err(format!(
                "`token_endpoint_auth_method` {} needs a client secret",
                self.token_endpoint_auth_method.as_str()
            ));
        }
        let jwks = self.jwks.map(|s| s.keys).unwrap_or_default();
        if jwks.iter().any(|k| {
            !matches!(
                k.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_)
                    | jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
            )
        }) {
            return Err("`jwks`: only EC and RSA public keys are accepted".into());
        }
        if self.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt && jwks.is_empty() {
            return Err("`private_key_jwt` needs `jwks`".into());
        }
        let code_flow = self.grant_types.contains(&GrantType::AuthorizationCode);
        if code_flow && self.redirect_uris.is_empty() {
            return Err("`redirect_uris` is empty".into());
        }
        if self.token_endpoint_auth_method == AuthMethod::None
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err("a public client cannot use client_credentials".into());
        }
        let mut first_host = None;
        for uri in &self.redirect_uris {
            let parsed = check_uri(uri).map_err(|e| format!("`redirect_uris`: {e}"))?;
            first_host.get_or_insert_with(|| parsed.host_str().unwrap_or_default().to_owned());
        }
        for uri in &self.post_logout_redirect_uris {
            check_uri(uri).map_err(|e| format!("`post_logout_redirect_uris`: {e}"))?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            check_uri(uri).map_err(|e| format!("`backchannel_logout_uri`: {e}"))?;
        }
        for scope in &self.scopes {
            if !SCOPES.iter().any(|(s, _)| s == scope) {
                return Err(format!("`scopes`: unknown scope {scope}"));
            }
        }
        for claim in &self.claims {
            if !known_claims().any(|c| c == claim) {
                return Err(format!("`claims`: unknown claim {claim}"));
            }
        }
        let admin = self.scopes.contains("admin");
        if admin == self.admin_schools.is_empty() {
            return Err("the scope `admin` and `admin_schools` go together".into());
        }
        // never in a token a person's sign-in gave
        if admin && self.grant_types != BTreeSet::from([GrantType::ClientCredentials]) {
            return Err(
                "a client with the scope `admin` has only the grant client_credentials".into(),
            );
        }
        for uai in &self.admin_schools {
            let plausible =
                uai == "*" || (uai.len() == 8 && uai.bytes().all(|b| b.is_ascii_alphanumeric()));
            if !plausible {
                return Err(format!("`admin_schools`: {uai} is neither a UAI nor *"));
            }
        }
        let sector = self
            .sector_identifier
            .or(first_host)
            .unwrap_or_else(|| self.client_id.clone());
        Ok(OidcClient {
            client_id: self.client_id,
            name: self.name,
            secret_hash,
            auth_method: self.token_endpoint_auth_method,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri,
            grant_types: self.grant_types,
            scopes: self.scopes,
            claims: self.claims,
            subject_type: self.subject_type,
            sector,
            id_token_alg: self.id_token_signed_response_alg,
            // a public client can be impersonated by any app on the device: always ask
            require_consent: self.require_consent
                || self.token_endpoint_auth_method == AuthMethod::None,
            introspection: self.introspection,
            admin_schools: self.admin_schools,
            jwks,
        })
    }
}

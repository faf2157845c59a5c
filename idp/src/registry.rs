//! Relying parties, registered as one TOML file each in `relying_parties_dir` and loaded at
//! start. A file that is wrong stops the start with a message naming the file and the key.
//!
//! ```toml
//! protocol = "oidc"
//! client_id = "ent-demo"
//! name = "ENT de démonstration"
//! client_secret_hash = "hmac-sha256$…"      # or client_secret_env / client_secret_file
//! token_endpoint_auth_method = "client_secret_basic"
//! redirect_uris = ["https://ent.example.fr/callback"]
//! post_logout_redirect_uris = ["https://ent.example.fr/"]
//! backchannel_logout_uri = "https://ent.example.fr/backchannel-logout"
//! grant_types = ["authorization_code", "refresh_token"]
//! scopes = ["openid", "profile", "educonnect"]
//! claims = ["given_name", "family_name", "FrEduCtPersonAffiliation"]
//! subject_type = "pairwise"
//! id_token_signed_response_alg = "ES256"
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

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
];

/// Every claim the provider can release (SPEC §3.1): those of all scopes.
pub fn known_claims() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().flat_map(|(_, claims)| claims.iter().copied())
}

#[derive(Debug, thiserror::Error)]
#[error("relying party {file}: {message}")]
pub struct RegistryError {
    pub file: String,
    pub message: String,
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
struct OidcFile {
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

/// How the subject of a SAML assertion is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    /// A new random value at every response.
    #[default]
    Transient,
    /// A stable value per SP (FrEduCtId).
    Persistent,
}

/// A registered SAML 2.0 service provider.
#[derive(Debug, Clone)]
pub struct SamlServiceProvider {
    pub entity_id: String,
    pub name: String,
    pub metadata: crate::protocol::saml::metadata::SpMetadata,
    /// Friendly names of the attributes it may receive.
    pub attributes: BTreeSet<String>,
    pub name_id_format: NameIdFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SamlFile {
    #[allow(dead_code)]
    protocol: String,
    entity_id: String,
    #[serde(default)]
    name: Option<String>,
    /// The SP's metadata XML, relative to the registration file.
    metadata_file: PathBuf,
    #[serde(default)]
    attributes: BTreeSet<String>,
    #[serde(default)]
    name_id_format: NameIdFormat,
}

impl SamlFile {
    fn into_provider(self, base_dir: &Path) -> Result<SamlServiceProvider, String> {
        let path = base_dir.join(&self.metadata_file);
        let xml = std::fs::read_to_string(&path)
            .map_err(|e| format!("`metadata_file`: cannot read {}: {e}", path.display()))?;
        let metadata = crate::protocol::saml::metadata::parse_sp_metadata(&xml)
            .map_err(|e| format!("`metadata_file`: {e}"))?;
        if metadata.entity_id != self.entity_id {
            return Err(format!(
                "`entity_id` {} differs from the metadata's entityID {}",
                self.entity_id, metadata.entity_id
            ));
        }
        for a in &self.attributes {
            if crate::protocol::saml::attributes::definition(a).is_none() {
                return Err(format!("`attributes`: unknown attribute {a}"));
            }
        }
        Ok(SamlServiceProvider {
            name: self.name.unwrap_or_else(|| self.entity_id.clone()),
            entity_id: self.entity_id,
            metadata,
            attributes: self.attributes,
            name_id_format: self.name_id_format,
        })
    }
}

/// Addresses a CAS registration accepts: exact URLs, or anchored regular expressions.
#[derive(Debug, Clone, Default)]
pub struct UrlRule {
    pub exact: Vec<String>,
    /// Anchored regular expressions (`^…$`).
    pub patterns: Vec<regex::Regex>,
}

impl UrlRule {
    /// Checks the exact URLs (https, or http on 127.0.0.1) and compiles the patterns, which
    /// must be anchored both ends so that they never match the middle of a longer URL.
    fn parse(
        (exact_key, pattern_key): (&str, &str),
        exact: Vec<String>,
        patterns: &[String],
    ) -> Result<Self, String> {
        for s in &exact {
            check_uri(s).map_err(|e| format!("`{exact_key}`: {e}"))?;
        }
        let patterns = patterns
            .iter()
            .map(|p| {
                if !p.starts_with('^') || !p.ends_with('$') {
                    return Err(format!(
                        "`{pattern_key}`: {p} must start with ^ and end with $"
                    ));
                }
                regex::Regex::new(p).map_err(|e| format!("`{pattern_key}`: {p}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { exact, patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }

    pub fn accepts(&self, url: &str) -> bool {
        self.exact.iter().any(|e| e == url) || self.patterns.iter().any(|p| p.is_match(url))
    }
}

/// A CAS service (SPEC §3.3): the URLs it may use as `service`, exact or by pattern.
#[derive(Debug, Clone)]
pub struct CasService {
    /// The registration's name, shown to people and used to derive the opaque user id.
    pub id: String,
    pub name: String,
    pub services: UrlRule,
    /// Friendly names of the attributes it may receive (the SAML profile's).
    pub attributes: BTreeSet<String>,
    /// Whether it is sent a LogoutRequest when the SSO session ends.
    pub single_logout: bool,
    /// The `pgtUrl`s it may give to get proxy-granting tickets; none: it may not proxy.
    pub proxy_callbacks: UrlRule,
}

impl CasService {
    /// Whether a `service` URL belongs to this registration.
    pub fn accepts(&self, service: &str) -> bool {
        self.services.accepts(service)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasFile {
    #[allow(dead_code)]
    protocol: String,
    id: String,
    name: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    service_patterns: Vec<String>,
    #[serde(default)]
    attributes: BTreeSet<String>,
    #[serde(default = "yes")]
    single_logout: bool,
    #[serde(default)]
    proxy_callbacks: Vec<String>,
    #[serde(default)]
    proxy_callback_patterns: Vec<String>,
}

fn yes() -> bool {
    true
}

impl CasFile {
    fn into_service(self) -> Result<CasService, String> {
        if self.id.is_empty() || self.id.len() > 128 {
            return Err("`id` must have 1 to 128 characters".into());
        }
        let services = UrlRule::parse(
            ("services", "service_patterns"),
            self.services,
            &self.service_patterns,
        )?;
        if services.is_empty() {
            return Err("give `services` or `service_patterns`".into());
        }
        let proxy_callbacks = UrlRule::parse(
            ("proxy_callbacks", "proxy_callback_patterns"),
            self.proxy_callbacks,
            &self.proxy_callback_patterns,
        )?;
        for a in &self.attributes {
            if crate::protocol::saml::attributes::definition(a).is_none() {
                return Err(format!("`attributes`: unknown attribute {a}"));
            }
        }
        Ok(CasService {
            id: self.id,
            name: self.name,
            services,
            attributes: self.attributes,
            single_logout: self.single_logout,
            proxy_callbacks,
        })
    }
}

#[derive(Deserialize)]
struct ProtocolOnly {
    protocol: String,
}

/// Checks a redirect-like URI: absolute, no fragment, https except on the loopback interface.
fn check_uri(uri: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("{uri} is not an absolute URL: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{uri} must not have a fragment"));
    }
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!("{uri} must use https (http only on 127.0.0.1)")),
    }
}

impl OidcFile {
    fn into_client(self, secret: &ServerSecret) -> Result<OidcClient, String> {
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
            jwks,
        })
    }
}

/// Every registered relying party.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    oidc: HashMap<String, Arc<OidcClient>>,
    saml: HashMap<String, Arc<SamlServiceProvider>>,
    cas: Vec<Arc<CasService>>,
}

impl Registry {
    /// Loads every `*.toml` file of `dir` (a missing directory means no relying party).
    pub fn load(dir: &Path, secret: &ServerSecret) -> Result<Self, RegistryError> {
        let mut registry = Self::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "no relying-party directory: no relying party is registered");
            return Ok(registry);
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let file = path.display().to_string();
            let err = |message: String| RegistryError {
                file: file.clone(),
                message,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            registry.add_toml_in(&text, secret, dir).map_err(err)?;
        }
        Ok(registry)
    }

    /// Adds one registration written in TOML (files it names are relative to the current
    /// directory).
    pub fn add_toml(&mut self, text: &str, secret: &ServerSecret) -> Result<(), String> {
        self.add_toml_in(text, secret, Path::new("."))
    }

    /// Adds one registration written in TOML, whose files are relative to `base_dir`.
    pub fn add_toml_in(
        &mut self,
        text: &str,
        secret: &ServerSecret,
        base_dir: &Path,
    ) -> Result<(), String> {
        let protocol: ProtocolOnly = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        match protocol.protocol.as_str() {
            "oidc" => {
                let table: toml::Table = text
                    .parse()
                    .map_err(|e: toml::de::Error| e.message().to_owned())?;
                let file: OidcFile = serde_path_to_error::deserialize(toml::Value::Table(table))
                    .map_err(|e| format!("key `{}`: {}", e.path(), e.inner()))?;
                let client = file.into_client(secret)?;
                if self.oidc.contains_key(&client.client_id) {
                    return Err(format!(
                        "client_id {} is registered twice",
                        client.client_id
                    ));
                }
                self.oidc.insert(client.client_id.clone(), Arc::new(client));
                Ok(())
            }
            "saml" => {
                let table: toml::Table = text
                    .parse()
                    .map_err(|e: toml::de::Error| e.message().to_owned())?;
                let file: SamlFile = serde_path_to_error::deserialize(toml::Value::Table(table))
                    .map_err(|e| format!("key `{}`: {}", e.path(), e.inner()))?;
                let sp = file.into_provider(base_dir)?;
                if self.saml.contains_key(&sp.entity_id) {
                    return Err(format!("entity_id {} is registered twice", sp.entity_id));
                }
                self.saml.insert(sp.entity_id.clone(), Arc::new(sp));
                Ok(())
            }
            "cas" => {
                let table: toml::Table = text
                    .parse()
                    .map_err(|e: toml::de::Error| e.message().to_owned())?;
                let file: CasFile = serde_path_to_error::deserialize(toml::Value::Table(table))
                    .map_err(|e| format!("key `{}`: {}", e.path(), e.inner()))?;
                let service = file.into_service()?;
                if self.cas.iter().any(|c| c.id == service.id) {
                    return Err(format!("CAS service {} is registered twice", service.id));
                }
                self.cas.push(Arc::new(service));
                Ok(())
            }
            other => Err(format!(
                "`protocol`: unknown protocol {other} (expected oidc, saml or cas)"
            )),
        }
    }

    pub fn oidc_client(&self, client_id: &str) -> Option<Arc<OidcClient>> {
        self.oidc.get(client_id).cloned()
    }

    pub fn oidc_clients(&self) -> impl Iterator<Item = &Arc<OidcClient>> {
        self.oidc.values()
    }

    pub fn saml_provider(&self, entity_id: &str) -> Option<Arc<SamlServiceProvider>> {
        self.saml.get(entity_id).cloned()
    }

    /// The CAS registration a `service` URL belongs to, if any.
    pub fn cas_service_for(&self, service: &str) -> Option<Arc<CasService>> {
        self.cas.iter().find(|c| c.accepts(service)).cloned()
    }

    pub fn cas_service(&self, id: &str) -> Option<Arc<CasService>> {
        self.cas.iter().find(|c| c.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_services_match_exactly_or_by_anchored_pattern() {
        let mut r = Registry::default();
        let secret = ServerSecret::for_tests();
        r.add_toml(
            "protocol = 'cas'\nid = 'pronote'\nname = 'Pronote'\nservices = ['http://127.0.0.1:8082/']\nservice_patterns = ['^https://0140001b\\.index-education\\.net/pronote/.*$']\nattributes = ['sn']",
            &secret,
        )
        .unwrap();
        assert!(r.cas_service_for("http://127.0.0.1:8082/").is_some());
        assert!(r.cas_service_for("http://127.0.0.1:8082/x").is_none());
        assert!(
            r.cas_service_for("https://0140001b.index-education.net/pronote/eleve.html?a=1")
                .is_some()
        );
        assert!(
            r.cas_service_for(
                "https://evil.example/?https://0140001b.index-education.net/pronote/"
            )
            .is_none()
        );
        let unanchored =
            "protocol = 'cas'\nid = 'x'\nname = 'X'\nservice_patterns = ['https://a\\.fr/']";
        assert!(r.add_toml(unanchored, &secret).unwrap_err().contains("^"));
        let plain_http = "protocol = 'cas'\nid = 'y'\nname = 'Y'\nservices = ['http://ent.fr/']";
        assert!(r.add_toml(plain_http, &secret).is_err());
    }

    const ENT: &str = r#"
protocol = "oidc"
client_id = "ent"
name = "ENT"
client_secret = "a-long-enough-secret"
redirect_uris = ["https://ent.example.fr/callback"]
claims = ["given_name"]
"#;

    #[test]
    fn a_registration_loads_with_defaults() {
        let mut r = Registry::default();
        r.add_toml(ENT, &ServerSecret::for_tests()).unwrap();
        let c = r.oidc_client("ent").unwrap();
        assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(c.subject_type, SubjectType::Pairwise);
        assert_eq!(c.sector, "ent.example.fr");
        assert_eq!(c.id_token_alg, SigningAlg::ES256);
        assert!(c.allows(GrantType::AuthorizationCode));
        assert!(!c.allows(GrantType::RefreshToken));
        assert!(
            ServerSecret::for_tests()
                .verify_generated_secret("a-long-enough-secret", c.secret_hash.as_ref().unwrap())
        );
    }

    fn refused(text: &str) -> String {
        Registry::default()
            .add_toml(text, &ServerSecret::for_tests())
            .unwrap_err()
    }

    #[test]
    fn mistakes_are_named() {
        assert!(refused(&ENT.replace("https://ent", "http://ent")).contains("https"));
        assert!(refused(&ENT.replace("callback", "callback#x")).contains("fragment"));
        assert!(refused(&ENT.replace("given_name", "shoe_size")).contains("shoe_size"));
        assert!(
            refused(&ENT.replace("client_secret = \"a-long-enough-secret\"", ""))
                .contains("secret")
        );
        assert!(
            refused(&ENT.replace("name = \"ENT\"", "name = \"ENT\"\ncolour = 1"))
                .contains("colour")
        );
        assert!(refused(&ENT.replace("\"oidc\"", "\"ldap\"")).contains("ldap"));
        let mut r = Registry::default();
        r.add_toml(ENT, &ServerSecret::for_tests()).unwrap();
        assert!(
            r.add_toml(ENT, &ServerSecret::for_tests())
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn public_clients_always_ask_for_consent_and_symmetric_keys_are_refused() {
        let mut r = Registry::default();
        r.add_toml(
            "protocol = 'oidc'\nclient_id = 'app'\nname = 'x'\ntoken_endpoint_auth_method = 'none'\nredirect_uris = ['https://app.fr/cb']",
            &ServerSecret::for_tests(),
        )
        .unwrap();
        assert!(r.oidc_client("app").unwrap().require_consent);
        let oct = "protocol = 'oidc'\nclient_id = 'svc'\nname = 'x'\ntoken_endpoint_auth_method = 'private_key_jwt'\ngrant_types = ['client_credentials']\njwks = { keys = [{ kty = 'oct', k = 'c2VjcmV0', alg = 'HS256' }] }";
        assert!(refused(oct).contains("EC and RSA"));
    }

    #[test]
    fn http_redirects_only_on_loopback() {
        let mut r = Registry::default();
        let local = ENT.replace("https://ent.example.fr", "http://127.0.0.1:8081");
        r.add_toml(&local, &ServerSecret::for_tests()).unwrap();
    }
}

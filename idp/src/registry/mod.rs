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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::keys::ServerSecret;

mod cas;
mod oidc;
mod saml;

use cas::CasFile;
pub use cas::{CasService, UrlRule};
use oidc::OidcFile;
pub use oidc::{AuthMethod, GrantType, OidcClient, SCOPES, SubjectType, known_claims};
use saml::SamlFile;
pub use saml::{NameIdFormat, SamlServiceProvider};

#[derive(Debug, thiserror::Error)]
#[error("relying party {file}: {message}")]
pub struct RegistryError {
    pub file: String,
    pub message: String,
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

    /// How many OpenID Connect clients, SAML service providers and CAS services are registered.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.oidc.len(), self.saml.len(), self.cas.len())
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
    use crate::keys::signing::SigningAlg;

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

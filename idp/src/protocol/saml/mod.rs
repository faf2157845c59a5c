//! SAML 2.0 identity provider (SPEC §3.2): metadata, web SSO over the HTTP-Redirect and
//! HTTP-POST bindings with signed Response and Assertion, and ÉduConnect's attribute profile.

pub mod attributes;
pub mod encryption;
mod http;
pub mod metadata;
pub mod request;
pub mod response;
mod slo;

pub use http::routes;
pub use slo::{answer_logout, logout_origins};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::keys::ServerSecret;
use crate::keys::signing::{seal, unseal};
use crate::store::KeyStore;

/// How long a pending SAML request waits for the person to sign in.
pub const FLOW_TTL: u64 = 30 * 60;
/// How long a request ID is remembered to refuse replays.
pub const REQUEST_ID_TTL: u64 = 15 * 60;

/// The IdP's SAML signing key and certificate, the same on every node (kept in the database,
/// the key sealed with the server secret).
pub struct SamlIdentity {
    pub cert: CertificateDer,
    key_der: Vec<u8>,
}

const SETTING: &str = "saml_identity";

/// A new key and self-signed certificate, serialized for the settings table.
fn generate(secret: &ServerSecret, entity_id: &str) -> anyhow::Result<String> {
    let idp = samael::idp::IdentityProvider::generate_new(samael::idp::KeyType::Rsa(
        samael::idp::Rsa::Rsa2048,
    ))
    .map_err(|e| anyhow::anyhow!("cannot generate the SAML key: {e:?}"))?;
    let host = url::Url::parse(entity_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "idp".to_owned());
    let cert = idp
        .create_certificate(&samael::idp::CertificateParams {
            common_name: &host,
            issuer_name: &host,
            days_until_expiration: 3650,
        })
        .map_err(|e| anyhow::anyhow!("cannot create the SAML certificate: {e:?}"))?;
    let key = idp
        .export_private_key_der()
        .map_err(|e| anyhow::anyhow!("cannot export the SAML key: {e:?}"))?;
    Ok(serde_json::to_string(&StoredIdentity {
        sealed_key: seal(secret, "saml-idp", &key)?,
        cert: STANDARD.encode(cert.der_data()),
    })?)
}

#[derive(Serialize, Deserialize)]
struct StoredIdentity {
    sealed_key: String,
    cert: String,
}

impl SamlIdentity {
    /// Loads the key and certificate, generating them on the first start of the deployment
    /// (a 2048-bit RSA key is costly: only then).
    pub async fn load(
        store: &dyn KeyStore,
        secret: &ServerSecret,
        entity_id: &str,
    ) -> anyhow::Result<Self> {
        let stored = match store.setting(SETTING).await? {
            Some(stored) => stored,
            None => {
                let candidate = generate(secret, entity_id)?;
                // another node starting at the same time may win: its identity is kept
                store.setting_or_insert(SETTING, &candidate).await?
            }
        };
        let stored: StoredIdentity = serde_json::from_str(&stored)?;
        Ok(Self {
            key_der: unseal(secret, "saml-idp", &stored.sealed_key)?,
            cert: STANDARD.decode(stored.cert)?.into(),
        })
    }

    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }
}

//! Token-signing keys: ES256 by default, RS256 for clients that ask for it. Keys live in the
//! database (so every node signs with the same ones), their private halves sealed with
//! AES-256-GCM under a key derived from the server secret. Rotation adds new keys and retires
//! the old ones, which stay in the JWKS until every token they signed has expired.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ServerSecret;
use crate::store::StoredSigningKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate a signing key")]
    Generate,
    #[error("signing key {0} cannot be opened (was the server secret changed?)")]
    Unseal(String),
    #[error("no active {0} signing key")]
    NoActiveKey(&'static str),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The algorithms tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
pub enum SigningAlg {
    ES256,
    RS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
    fn jwt(self) -> Algorithm {
        match self {
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
        }
    }
}

fn sealing_key(secret: &ServerSecret) -> LessSafeKey {
    let key = secret.mac("signing-key-sealing", b"");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("32-byte AES-256 key"))
}

/// Seals a private key: base64(nonce || ciphertext || tag), bound to its kid.
pub(crate) fn seal(secret: &ServerSecret, kid: &str, plaintext: &[u8]) -> Result<String, KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Generate)?;
    let mut data = plaintext.to_vec();
    sealing_key(secret)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut data,
        )
        .map_err(|_| KeyError::Generate)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(STANDARD.encode(out))
}

pub(crate) fn unseal(secret: &ServerSecret, kid: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
    let bad = || KeyError::Unseal(kid.to_owned());
    let bytes = STANDARD.decode(sealed).map_err(|_| bad())?;
    if bytes.len() < NONCE_LEN {
        return Err(bad());
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
    let mut data = rest.to_vec();
    let plain = sealing_key(secret)
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut data)
        .map_err(|_| bad())?;
    Ok(plain.to_vec())
}

/// Generates a new key of `alg`, ready to store.
pub fn generate(
    alg: SigningAlg,
    secret: &ServerSecret,
    now: i64,
) -> Result<StoredSigningKey, KeyError> {
    let pkcs8 = match alg {
        SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|k| k.to_pkcs8v1())
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        SigningAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
    };
    let kid = format!(
        "{}-{}",
        alg.as_str().to_lowercase(),
        &crate::keys::random_token(9)
    );
    Ok(StoredSigningKey {
        sealed_private_key: seal(secret, &kid, &pkcs8)?,
        kid,
        alg: alg.as_str().to_owned(),
        created_at: now,
        retired_at: None,
    })
}

/// One key, opened and ready to sign and verify.
struct OpenKey {
    kid: String,
    alg: SigningAlg,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
    retired_at: Option<i64>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn open(stored: &StoredSigningKey, secret: &ServerSecret) -> Result<OpenKey, KeyError> {
    let bad = || KeyError::Unseal(stored.kid.clone());
    let alg = SigningAlg::parse(&stored.alg).ok_or_else(bad)?;
    let pkcs8 = unseal(secret, &stored.kid, &stored.sealed_private_key)?;
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let (encoding, decoding, mut jwk) = match alg {
        SigningAlg::ES256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .map_err(|_| bad())?;
            // uncompressed point: 0x04 || X || Y
            let point = pair.public_key().as_ref();
            if point.len() != 65 {
                return Err(bad());
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|_| bad())?;
            (
                EncodingKey::from_ec_der(&pkcs8),
                decoding,
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            )
        }
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| bad())?;
            let public = pair.public_key();
            let n = b64(public.modulus().big_endian_without_leading_zero());
            let e = b64(public.exponent().big_endian_without_leading_zero());
            let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|_| bad())?;
            let encoding = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", &pkcs8).as_bytes())
                .map_err(|_| bad())?;
            (encoding, decoding, json!({ "kty": "RSA", "n": n, "e": e }))
        }
    };
    jwk["kid"] = json!(stored.kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg.as_str());
    Ok(OpenKey {
        kid: stored.kid.clone(),
        alg,
        encoding,
        decoding,
        jwk,
        retired_at: stored.retired_at,
    })
}

/// The keys of the deployment, opened.
pub struct KeySet {
    keys: Vec<OpenKey>,
}

impl KeySet {
    /// Opens stored keys; newest last.
    pub fn open(stored: &[StoredSigningKey], secret: &ServerSecret) -> Result<Self, KeyError> {
        Ok(Self {
            keys: stored
                .iter()
                .map(|k| open(k, secret))
                .collect::<Result<_, _>>()?,
        })
    }

    fn active(&self, alg: SigningAlg) -> Result<&OpenKey, KeyError> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.retired_at.is_none())
            .ok_or(KeyError::NoActiveKey(alg.as_str()))
    }

    /// Signs `claims` as a JWT with the active key of `alg`; `typ` is the header's type
    /// (`JWT`, `at+jwt`, `logout+jwt`).
    pub fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, KeyError> {
        let key = self.active(alg)?;
        let mut header = Header::new(alg.jwt());
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The public keys to publish: active ones, and retired ones until `retired_at + keep`.
    pub fn jwks(&self, now: i64, keep: i64) -> Value {
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + keep > now))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// Verifies a token this deployment signed with a key still published at `now` (a retired
    /// key is trusted for `keep` seconds, as long as it is published), with `validation`'s checks.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
        now: i64,
        keep: i64,
    ) -> Result<T, jsonwebtoken::errors::Error> {
        let header = jsonwebtoken::decode_header(token)?;
        let key = self
            .keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + keep > now))
            .find(|k| Some(&k.kid) == header.kid.as_ref() && k.alg.jwt() == header.alg)
            .ok_or(jsonwebtoken::errors::ErrorKind::InvalidSignature)?;
        let mut validation = validation.clone();
        validation.algorithms = vec![key.alg.jwt()];
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation).map(|d| d.claims)
    }

    /// The kid of the active key of `alg` (tests and `idp keys list`).
    pub fn active_kid(&self, alg: SigningAlg) -> Option<&str> {
        self.active(alg).ok().map(|k| k.kid.as_str())
    }
}

/// The deployment's signing keys, cached in this process and re-read from the database now
/// and then, so that a rotation done on one node (or by `idp keys rotate`) reaches all.
pub struct SigningKeys {
    store: std::sync::Arc<dyn crate::store::KeyStore>,
    secret: ServerSecret,
    current: std::sync::RwLock<std::sync::Arc<KeySet>>,
}

impl SigningKeys {
    /// Loads the keys, generating the first ones if the deployment has none.
    pub async fn load(
        store: std::sync::Arc<dyn crate::store::KeyStore>,
        secret: ServerSecret,
        now: i64,
    ) -> anyhow::Result<Self> {
        if store.signing_keys().await?.is_empty() {
            let first = vec![
                generate(SigningAlg::ES256, &secret, now)?,
                generate(SigningAlg::RS256, &secret, now)?,
            ];
            store.add_initial_signing_keys(&first).await?;
        }
        let set = KeySet::open(&store.signing_keys().await?, &secret)?;
        Ok(Self {
            store,
            secret,
            current: std::sync::RwLock::new(std::sync::Arc::new(set)),
        })
    }

    pub fn current(&self) -> std::sync::Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the keys from the database.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let set = KeySet::open(&self.store.signing_keys().await?, &self.secret)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(set);
        Ok(())
    }

    /// Adds new ES256 and RS256 keys and retires the current ones.
    pub async fn rotate(&self, now: i64) -> anyhow::Result<()> {
        let new = vec![
            generate(SigningAlg::ES256, &self.secret, now)?,
            generate(SigningAlg::RS256, &self.secret, now)?,
        ];
        self.store.rotate_signing_keys(&new, now).await?;
        self.reload().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset(now: i64) -> (Vec<StoredSigningKey>, KeySet) {
        let secret = ServerSecret::for_tests();
        let stored = vec![
            generate(SigningAlg::ES256, &secret, now).unwrap(),
            generate(SigningAlg::RS256, &secret, now).unwrap(),
        ];
        let set = KeySet::open(&stored, &secret).unwrap();
        (stored, set)
    }

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Claims {
        iss: String,
        exp: i64,
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&["https://idp"]);
        v.validate_aud = false;
        v
    }

    #[test]
    fn sign_and_verify_both_algorithms() {
        let (_, set) = keyset(0);
        let claims = Claims {
            iss: "https://idp".into(),
            exp: jsonwebtoken::get_current_timestamp() as i64 + 60,
        };
        for alg in [SigningAlg::ES256, SigningAlg::RS256] {
            let token = set.sign(alg, "JWT", &claims).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, alg.jwt());
            assert_eq!(header.kid.as_deref(), set.active_kid(alg));
            let back: Claims = set.verify(&token, &validation(), 0, 600).unwrap();
            assert_eq!(back, claims);
        }
    }

    #[test]
    fn tampered_tokens_and_foreign_keys_are_refused() {
        let (_, set) = keyset(0);
        let (_, other) = keyset(0);
        let claims = Claims {
            iss: "https://idp".into(),
            exp: jsonwebtoken::get_current_timestamp() as i64 + 60,
        };
        let token = set.sign(SigningAlg::ES256, "JWT", &claims).unwrap();
        assert!(
            other
                .verify::<Claims>(&token, &validation(), 0, 600)
                .is_err()
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://idp","exp":9999999999}"#);
        assert!(
            set.verify::<Claims>(&parts.join("."), &validation(), 0, 600)
                .is_err()
        );
    }

    #[test]
    fn private_keys_are_sealed_with_the_server_secret() {
        let (stored, _) = keyset(0);
        let other_secret = ServerSecret::parse(&hex::encode([3u8; 32])).unwrap();
        assert!(KeySet::open(&stored, &other_secret).is_err());
        // a sealed key moved under another kid does not open
        let mut moved = stored[0].clone();
        moved.kid = "es256-other".into();
        assert!(KeySet::open(&[moved], &ServerSecret::for_tests()).is_err());
    }

    #[test]
    fn retired_keys_stay_published_until_their_tokens_expired() {
        let secret = ServerSecret::for_tests();
        let mut old = generate(SigningAlg::ES256, &secret, 0).unwrap();
        old.retired_at = Some(1000);
        let new = generate(SigningAlg::ES256, &secret, 1000).unwrap();
        let set = KeySet::open(&[old.clone(), new.clone()], &secret).unwrap();
        assert_eq!(set.active_kid(SigningAlg::ES256), Some(new.kid.as_str()));
        let kids = |now| {
            set.jwks(now, 600)["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(kids(1599), vec![old.kid.clone(), new.kid.clone()]);
        assert_eq!(kids(1600), vec![new.kid.clone()]);
        assert!(set.active_kid(SigningAlg::RS256).is_none());
        // a retired key stops being trusted when it stops being published
        let old_only = KeySet::open(&[old.clone()], &secret).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let token = {
            let mut fresh = old.clone();
            fresh.retired_at = None;
            KeySet::open(&[fresh], &secret)
                .unwrap()
                .sign(SigningAlg::ES256, "JWT", &serde_json::json!({ "x": 1 }))
                .unwrap()
        };
        assert!(old_only.verify::<Value>(&token, &v, 1599, 600).is_ok());
        assert!(old_only.verify::<Value>(&token, &v, 1600, 600).is_err());
    }
}

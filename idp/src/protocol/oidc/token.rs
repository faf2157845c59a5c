//! The token endpoint's rules and the tokens themselves: authorization codes (single use,
//! bound to client, redirect URI and PKCE challenge), ID tokens, access tokens (RFC 9068),
//! refresh tokens (opaque, rotated), logout tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CODE_TTL, OAuthError};
use crate::domain::session::AuthOrigin;

/// What an authorization code stands for, kept in the ephemeral store under the code's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub account_id: i64,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub origin: AuthOrigin,
    /// The SSO session's public id.
    pub sid: String,
    pub acr: Option<String>,
    pub issued_at: i64,
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a code exchange against its record (RFC 6749 §4.1.3, RFC 7636 §4.6).
pub fn check_code_exchange(
    record: &CodeRecord,
    client_id: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if record.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if now >= record.issued_at + CODE_TTL {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&record.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed
                || !crate::keys::constant_time_eq(
                    pkce_s256(verifier).as_bytes(),
                    challenge.as_bytes(),
                )
            {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        // a verifier without a challenge is a downgrade attempt
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "no code_challenge was sent with this code",
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// `at_hash` / left half of the SHA-256 of a token (OIDC Core §3.1.3.6), for ES256 and RS256.
pub fn half_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub sid: String,
    pub azp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
}

/// Access token claims (RFC 9068).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The grant the token belongs to (absent for client_credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

/// Back-channel logout token (OIDC Back-Channel Logout §2.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub events: serde_json::Value,
}

/// The JSON answer of the token endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;
    // RFC 7636 appendix B
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn record(challenge: Option<&str>) -> CodeRecord {
        CodeRecord {
            client_id: "ent".into(),
            redirect_uri: "https://ent.fr/cb".into(),
            account_id: 1,
            scopes: vec!["openid".into()],
            nonce: None,
            code_challenge: challenge.map(str::to_owned),
            auth_time: NOW,
            origin: AuthOrigin::Local,
            sid: "sid".into(),
            acr: None,
            issued_at: NOW,
        }
    }

    #[test]
    fn rfc7636_example() {
        assert_eq!(pkce_s256(VERIFIER), CHALLENGE);
    }

    #[test]
    fn code_exchange_checks() {
        let with = record(Some(CHALLENGE));
        let ok = |r: &CodeRecord, v: Option<&str>| {
            check_code_exchange(r, "ent", Some("https://ent.fr/cb"), v, NOW + 5)
        };
        assert!(ok(&with, Some(VERIFIER)).is_ok());
        assert_eq!(ok(&with, None).unwrap_err().code, "invalid_grant");
        assert_eq!(
            ok(&with, Some(&VERIFIER.replace('d', "e")))
                .unwrap_err()
                .code,
            "invalid_grant"
        );
        // PKCE downgrade: a verifier for a code issued without a challenge
        assert_eq!(
            ok(&record(None), Some(VERIFIER)).unwrap_err().code,
            "invalid_grant"
        );
        assert!(ok(&record(None), None).is_ok());
        let r = record(None);
        assert!(check_code_exchange(&r, "other", Some("https://ent.fr/cb"), None, NOW).is_err());
        assert!(check_code_exchange(&r, "ent", Some("https://ent.fr/cb2"), None, NOW).is_err());
        assert!(check_code_exchange(&r, "ent", None, None, NOW).is_err());
        assert!(
            check_code_exchange(&r, "ent", Some("https://ent.fr/cb"), None, NOW + CODE_TTL)
                .is_err()
        );
    }

    #[test]
    fn at_hash_is_the_left_half() {
        // OIDC Core A.3 uses RS256 (SHA-256): left 128 bits, base64url
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y").len(),
            22
        );
    }
}

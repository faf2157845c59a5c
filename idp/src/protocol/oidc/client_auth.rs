//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none` (public clients),
//! each only for the clients registered with it.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::OAuthError;
use crate::keys::ServerSecret;
use crate::registry::{AuthMethod, OidcClient, Registry};

pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime accepted for a client assertion.
const MAX_ASSERTION_LIFETIME: i64 = 300;

/// What the client sent to prove who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: Option<String>,
        jwt: String,
    },
    PublicClient {
        client_id: String,
    },
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Reads the credentials from the Authorization header and the form (RFC 6749 §2.3.1,
/// RFC 7523). Several methods at once is an error.
pub fn presented(
    authorization: Option<&str>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
) -> Result<Presented, OAuthError> {
    let basic = authorization
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .map(|b64| {
            let raw = STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            Ok::<_, OAuthError>((form_decode(id), form_decode(secret)))
        })
        .transpose()?;
    let client_id = client_id.filter(|s| !s.is_empty());
    let client_secret = client_secret.filter(|s| !s.is_empty());
    let methods = usize::from(basic.is_some())
        + usize::from(client_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((id, secret)) = basic {
        if client_id.is_some_and(|c| c != id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the credentials",
            ));
        }
        return Ok(Presented::Basic {
            client_id: id,
            secret,
        });
    }
    if let Some(jwt) = assertion {
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_client(
                "unsupported client_assertion_type",
            ));
        }
        return Ok(Presented::Assertion {
            client_id: client_id.map(str::to_owned),
            jwt: jwt.to_owned(),
        });
    }
    let client_id = client_id
        .ok_or_else(|| OAuthError::invalid_client("client authentication is missing"))?
        .to_owned();
    Ok(match client_secret {
        Some(secret) => Presented::Post {
            client_id,
            secret: secret.to_owned(),
        },
        None => Presented::PublicClient { client_id },
    })
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    jti: String,
}

/// An accepted assertion's id and expiry: the caller records it so it is used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionUse {
    pub jti: String,
    pub expires_at: i64,
}

fn wrong() -> OAuthError {
    OAuthError::invalid_client("client authentication failed")
}

/// Authenticates a client. `audiences` are the values a client assertion's `aud` may take
/// (the endpoint's URL and the issuer).
pub fn authenticate(
    presented: &Presented,
    registry: &Registry,
    secret: &ServerSecret,
    audiences: &[String],
    now: i64,
) -> Result<(Arc<OidcClient>, Option<AssertionUse>), OAuthError> {
    let check_secret = |client: &OidcClient, given: &str| {
        client
            .secret_hash
            .as_deref()
            .is_some_and(|h| secret.verify_generated_secret(given, h))
    };
    match presented {
        Presented::Basic {
            client_id,
            secret: s,
        }
        | Presented::Post {
            client_id,
            secret: s,
        } => {
            let expected = if matches!(presented, Presented::Basic { .. }) {
                AuthMethod::ClientSecretBasic
            } else {
                AuthMethod::ClientSecretPost
            };
            let client = registry.oidc_client(client_id);
            // the secret is checked even for an unknown client, so that both cost the same
            let matched = match &client {
                Some(c) => check_secret(c, s),
                None => {
                    let _ = secret.hash_generated_secret(s);
                    false
                }
            };
            match client {
                Some(c) if matched && c.auth_method == expected => Ok((c, None)),
                _ => Err(wrong()),
            }
        }
        Presented::PublicClient { client_id } => match registry.oidc_client(client_id) {
            Some(c) if c.auth_method == AuthMethod::None => Ok((c, None)),
            _ => Err(wrong()),
        },
        Presented::Assertion { client_id, jwt } => {
            let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode(jwt)
                .map_err(|_| wrong())?
                .claims;
            if client_id.as_ref().is_some_and(|c| *c != unverified.iss) {
                return Err(wrong());
            }
            let client = registry
                .oidc_client(&unverified.iss)
                .filter(|c| c.auth_method == AuthMethod::PrivateKeyJwt)
                .ok_or_else(wrong)?;
            let header = jsonwebtoken::decode_header(jwt).map_err(|_| wrong())?;
            // only the algorithms discovery advertises, and the key's own when it names one
            if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
                return Err(wrong());
            }
            let jwk = client
                .jwks
                .iter()
                .find(|k| header.kid.is_none() || k.common.key_id == header.kid)
                .ok_or_else(wrong)?;
            if jwk
                .common
                .key_algorithm
                .is_some_and(|a| a.to_string() != format!("{:?}", header.alg))
            {
                return Err(wrong());
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|_| wrong())?;
            let mut validation = Validation::new(header.alg);
            validation.algorithms = vec![header.alg];
            validation.set_issuer(&[&client.client_id]);
            validation.sub = Some(client.client_id.clone());
            validation.set_audience(audiences);
            validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            validation.leeway = 30;
            validation.validate_exp = false; // checked below against our clock
            let claims: AssertionClaims = jsonwebtoken::decode(jwt, &key, &validation)
                .map_err(|_| wrong())?
                .claims;
            // short-lived, not from the future, and no arithmetic on attacker values that can
            // overflow
            let issued = claims.iat.unwrap_or(now);
            let fresh = claims.exp >= now.saturating_sub(30)
                && claims.exp <= now.saturating_add(MAX_ASSERTION_LIFETIME + 30)
                && issued <= now.saturating_add(30)
                && claims.exp.saturating_sub(issued) <= MAX_ASSERTION_LIFETIME;
            if !fresh || claims.jti.is_empty() || claims.jti.len() > 256 {
                return Err(wrong());
            }
            Ok((
                client,
                Some(AssertionUse {
                    jti: claims.jti,
                    expires_at: claims.exp,
                }),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let mut r = Registry::default();
        let s = ServerSecret::for_tests();
        for (id, method) in [
            ("basic", "client_secret_basic"),
            ("post", "client_secret_post"),
        ] {
            r.add_toml(
                &format!(
                    "protocol = 'oidc'\nclient_id = '{id}'\nname = 'x'\nclient_secret = 'secret:with+chars'\ntoken_endpoint_auth_method = '{method}'\nredirect_uris = ['https://x.fr/cb']"
                ),
                &s,
            )
            .unwrap();
        }
        r.add_toml(
            "protocol = 'oidc'\nclient_id = 'public'\nname = 'x'\ntoken_endpoint_auth_method = 'none'\nredirect_uris = ['https://x.fr/cb']",
            &s,
        )
        .unwrap();
        r
    }

    fn auth(p: &Presented) -> Result<String, OAuthError> {
        authenticate(p, &registry(), &ServerSecret::for_tests(), &[], 0)
            .map(|(c, _)| c.client_id.clone())
    }

    fn basic(id: &str, secret: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        )
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let p = presented(
            Some(&basic("basic", "secret:with+chars")),
            None,
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(auth(&p).unwrap(), "basic");
        let p = presented(Some(&basic("basic", "wrong")), None, None, None, None).unwrap();
        assert_eq!(auth(&p).unwrap_err().code, "invalid_client");
    }

    #[test]
    fn a_client_must_use_its_registered_method() {
        let p = presented(
            Some(&basic("post", "secret:with+chars")),
            None,
            None,
            None,
            None,
        )
        .unwrap();
        assert!(auth(&p).is_err());
        let p = presented(None, Some("basic"), Some("secret:with+chars"), None, None).unwrap();
        assert!(auth(&p).is_err());
        let p = presented(None, Some("post"), Some("secret:with+chars"), None, None).unwrap();
        assert_eq!(auth(&p).unwrap(), "post");
        // a confidential client cannot pass as public
        let p = presented(None, Some("basic"), None, None, None).unwrap();
        assert!(auth(&p).is_err());
        let p = presented(None, Some("public"), None, None, None).unwrap();
        assert_eq!(auth(&p).unwrap(), "public");
        let p = presented(None, Some("nobody"), Some("x"), None, None).unwrap();
        assert!(auth(&p).is_err());
    }

    #[test]
    fn two_methods_at_once_or_none_are_refused() {
        assert_eq!(
            presented(Some(&basic("basic", "s")), None, Some("s"), None, None)
                .unwrap_err()
                .code,
            "invalid_request"
        );
        assert_eq!(
            presented(None, None, None, None, None).unwrap_err().code,
            "invalid_client"
        );
        assert_eq!(
            presented(None, None, None, Some("other"), Some("jwt"))
                .unwrap_err()
                .code,
            "invalid_client"
        );
    }
}

//! OpenID Connect provider (SPEC §3.1): authorization code flow with PKCE, tokens, userinfo,
//! revocation, introspection, logout (RP-initiated and back-channel).

pub mod authorize;
pub mod claims;
pub mod client_auth;
mod http;
pub mod logout;
pub mod token;
pub mod verified;

pub use http::{current_session, return_url, routes, verify_access_token};

/// Lifetimes of what the provider issues, in seconds.
pub const CODE_TTL: i64 = 60;
pub const ACCESS_TOKEN_TTL: i64 = 600;
pub const ID_TOKEN_TTL: i64 = 600;
pub const REFRESH_TOKEN_TTL: i64 = 30 * 24 * 3600;
pub const LOGOUT_TOKEN_TTL: i64 = 120;
/// How long a retired signing key stays published and trusted: longer than any token it signed.
pub const RETIRED_KEY_KEEP: i64 = ACCESS_TOKEN_TTL + ID_TOKEN_TTL + LOGOUT_TOKEN_TTL + 300;
/// How long a pending authorization waits for the person to sign in.
pub const FLOW_TTL: i64 = 30 * 60;

/// An OAuth 2.0 / OpenID Connect error, with the code its RFC names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }
}

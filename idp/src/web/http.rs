//! Small HTTP helpers shared by the pages: cookies, the caller's address, CSRF tokens, and
//! the local return path after sign-in.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::app::AppState;
use crate::error::AppError;
use crate::keys::random_token;

pub const SESSION_COOKIE: &str = "idp_session";
pub const BROWSER_COOKIE: &str = "idp_browser";
pub const PROFILE_COOKIE: &str = "idp_profil";

/// The token of an `Authorization: Bearer …` header (RFC 6750; the scheme in either case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The value of a cookie sent by the browser.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, and Secure unless the IdP runs on
/// plain http on the loopback interface. `max_age` None makes a browser-session cookie.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    cookie_header(state, name, value, max_age, "/", "Lax")
}

/// A `Set-Cookie` value for the administration's cookies: sent to `/admin` only, and never
/// with a request another site starts (SameSite=Strict).
pub fn set_admin_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    cookie_header(state, name, value, max_age, "/admin", "Strict")
}

fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
    path: &str,
    same_site: &str,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
    if let Some(seconds) = max_age {
        c.push_str(&format!("; Max-Age={seconds}"));
    }
    if state.config.secure_cookies() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// A `Set-Cookie` value that removes a cookie.
pub fn clear_cookie(state: &AppState, name: &str) -> HeaderValue {
    set_cookie(state, name, "", Some(0))
}

/// The caller's address: the peer, or the first address in `X-Forwarded-For` that is not a
/// trusted proxy when the peer is one.
pub fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer_ip = peer.ip();
    let trusted = |ip: &IpAddr| state.config.trusted_proxies.iter().any(|r| r.contains(ip));
    if !trusted(&peer_ip) {
        return peer_ip;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .into_iter()
        .flat_map(|v| v.rsplit(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted(ip))
        .unwrap_or(peer_ip)
}

/// The CSRF token for the page about to be shown, and the cookie to set if the browser had no
/// id yet.
pub async fn csrf_token(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), AppError> {
    match cookie(headers, BROWSER_COOKIE) {
        Some(id) if id.len() <= 64 => Ok((state.csrf.token_for(id).await?, None)),
        _ => {
            let id = random_token(32);
            let token = state.csrf.token_for(&id).await?;
            Ok((token, Some(set_cookie(state, BROWSER_COOKIE, &id, None))))
        }
    }
}

/// Refuses a form whose token is not the one issued to this browser.
pub async fn verify_csrf(
    state: &AppState,
    headers: &HeaderMap,
    presented: &str,
) -> Result<(), AppError> {
    let Some(id) = cookie(headers, BROWSER_COOKIE) else {
        return Err(AppError::CsrfRejected);
    };
    if state.csrf.verify(id, presented).await? {
        Ok(())
    } else {
        Err(AppError::CsrfRejected)
    }
}

/// The browser of a request, for binding a flow to it: the hash of its browser cookie, and
/// the cookie to set when it had none yet.
pub fn browser_binding(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, BROWSER_COOKIE) {
        Some(id) if id.len() <= 64 => (crate::keys::storage_key(id), None),
        _ => {
            let id = random_token(32);
            let c = set_cookie(state, BROWSER_COOKIE, &id, None);
            (crate::keys::storage_key(&id), Some(c))
        }
    }
}

/// Whether a request comes from the browser a flow was bound to (`browser_binding`).
pub fn is_bound_browser(headers: &HeaderMap, binding: &str) -> bool {
    cookie(headers, BROWSER_COOKIE).is_some_and(|id| {
        subtle::ConstantTimeEq::ct_eq(crate::keys::storage_key(id).as_bytes(), binding.as_bytes())
            .into()
    })
}

/// A field of a form read as name-value pairs (forms with one field per child), or "".
pub fn form_field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// A path on this site to go back to after sign-in; anything else (another host, `//host`,
/// a backslash trick) is replaced by the home page, so it can never be an open redirect.
pub fn local_return_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control)
                && p.len() <= 2048 =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A page with a CSRF token for its form: `page` renders it with the token; the browser
/// cookie the token is bound to is set if the browser had none.
pub async fn with_csrf(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    page: impl FnOnce(String) -> Response,
) -> Result<Response, AppError> {
    let (csrf, browser_cookie) = csrf_token(state, headers).await?;
    let mut response = page(csrf);
    *response.status_mut() = status;
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_stays_on_this_site() {
        assert_eq!(local_return_path(Some("/compte")), "/compte");
        assert_eq!(local_return_path(Some("//evil.example")), "/");
        assert_eq!(local_return_path(Some("https://evil.example")), "/");
        assert_eq!(local_return_path(Some("/\\evil.example")), "/");
        assert_eq!(local_return_path(Some("/a\r\nSet-Cookie: x")), "/");
        assert_eq!(local_return_path(None), "/");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; idp_session_x=2; idp_session=3"),
        );
        assert_eq!(cookie(&h, "idp_session"), Some("3"));
        assert_eq!(cookie(&h, "b"), None);
    }
}

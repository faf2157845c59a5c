//! The demo services' own sessions: in memory, behind a random cookie, with a CSRF token each
//! for their forms, and a second key (the IdP's `sid` for the ENT, the service ticket for
//! Pronote) by which the IdP's single logout names them.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A random token for cookies, states and CSRF: 32 bytes, base64url.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in person at a demo service.
#[derive(Debug, Clone)]
pub struct LocalSession<T> {
    pub csrf: String,
    /// How the IdP names this session in its logout messages.
    pub logout_key: String,
    pub data: T,
}

/// The sessions of one demo service.
pub struct Sessions<T> {
    cookie: &'static str,
    by_id: Mutex<HashMap<String, LocalSession<T>>>,
}

impl<T: Clone> Sessions<T> {
    pub fn new(cookie: &'static str) -> Self {
        Self {
            cookie,
            by_id: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalSession<T>>> {
        // a panic elsewhere cannot leave the map half-written: keep serving
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session and returns the Set-Cookie header for it.
    pub fn open(&self, logout_key: String, data: T) -> HeaderValue {
        let id = random_token();
        self.lock().insert(
            id.clone(),
            LocalSession {
                csrf: random_token(),
                logout_key,
                data,
            },
        );
        cookie_header(self.cookie, &id)
    }

    /// The session of the request, if any.
    pub fn current(&self, headers: &HeaderMap) -> Option<LocalSession<T>> {
        let id = cookie(headers, self.cookie)?;
        self.lock().get(&id).cloned()
    }

    /// Ends the session of the request; returns it.
    pub fn close_current(&self, headers: &HeaderMap) -> Option<LocalSession<T>> {
        let id = cookie(headers, self.cookie)?;
        self.lock().remove(&id)
    }

    /// Ends every session the IdP names by `logout_key`; returns how many there were.
    pub fn close_by_logout_key(&self, logout_key: &str) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, s| !same_secret(&s.logout_key, logout_key));
        before - map.len()
    }

    /// The Set-Cookie header that removes the session cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            self.cookie
        ))
        .expect("a cookie name is a valid header")
    }
}

/// A session-long cookie, not readable by scripts.
pub fn cookie_header(name: &str, value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax"))
        .expect("tokens are valid header values")
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_cookie_and_ended_by_the_idp_key() {
        let sessions: Sessions<u32> = Sessions::new("demo");
        let set = sessions.open("sid-1".into(), 7);
        let value = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&value).unwrap());
        assert_eq!(sessions.current(&headers).unwrap().data, 7);
        sessions.open("sid-2".into(), 8);
        assert_eq!(sessions.close_by_logout_key("sid-1"), 1);
        assert!(sessions.current(&headers).is_none());
        assert_eq!(sessions.close_by_logout_key("sid-1"), 0);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}

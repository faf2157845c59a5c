//! The trusted-device cookie: set where an account signs in with its password, it spares
//! that browser the identifier's lock (`ephemeral::throttle`), so that failures elsewhere (an
//! attacker trying passwords) never lock a pupil out on the devices they use. Stateless: the
//! identifier, an expiry and a MAC under the server secret; one identifier per browser (the
//! last one signed in).

use axum::http::{HeaderMap, HeaderValue};

use crate::app::AppState;
use crate::web::http::{cookie, set_cookie};

pub const DEVICE_COOKIE: &str = "idp_appareil";
/// How long a device stays trusted without a new sign-in.
const TRUSTED_DAYS: i64 = 180;

fn mac(state: &AppState, identifier: &str, expires_at: i64) -> String {
    let data = format!("{identifier}\n{expires_at}");
    hex::encode(&state.secret.mac("trusted-device", data.as_bytes())[..20])
}

/// The cookie to set after a successful sign-in of `identifier`.
pub fn trust(state: &AppState, identifier: &str, now: i64) -> HeaderValue {
    let expires_at = now + TRUSTED_DAYS * 86_400;
    let value = format!("{expires_at}.{}", mac(state, identifier, expires_at));
    set_cookie(state, DEVICE_COOKIE, &value, Some(TRUSTED_DAYS * 86_400))
}

/// The browser's trusted-device cookie, if it is a live one for this identifier.
pub fn trusted<'a>(
    state: &AppState,
    headers: &'a HeaderMap,
    identifier: &str,
    now: i64,
) -> Option<&'a str> {
    let value = cookie(headers, DEVICE_COOKIE).filter(|v| v.len() <= 64)?;
    let (expires, presented) = value.split_once('.')?;
    let expires_at: i64 = expires.parse().ok()?;
    let expected = mac(state, identifier, expires_at);
    (expires_at > now && crate::keys::constant_time_eq(expected.as_bytes(), presented.as_bytes()))
        .then_some(value)
}

//! Time-based one-time passwords (RFC 6238) for the staff's second factor: HMAC-SHA1, steps of
//! 30 seconds, 6 digits, what every authenticator app (FreeOTP, Aegis, Google Authenticator)
//! reads from an `otpauth://` QR code. A code is taken from the step before to the step after
//! the current one (clocks drift), and each step is accepted once (the caller keeps the last
//! step used).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds a code lives.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Bytes of a generated secret (160 bits, the size RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// The step of a Unix time.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The code of one step (RFC 4226 §5.3, dynamic truncation).
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The code an authenticator shows at this time.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    code_at_step(secret, step_at(unix_seconds))
}

/// The step a typed code belongs to, if it is the code of the step before, of the current one
/// or of the one after, and later than `last_used` (a code is good once). Every candidate is
/// compared in constant time.
pub fn matching_step(
    secret: &[u8],
    typed: &str,
    unix_seconds: i64,
    last_used: Option<i64>,
) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let expected = code_at_step(secret, step);
        if crate::keys::constant_time_eq(expected.as_bytes(), typed.as_bytes())
            && last_used.is_none_or(|last| step > last)
        {
            found = Some(step);
        }
    }
    found
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take a secret typed by hand.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..symbols {
            let index = (bits >> (35 - 5 * i)) & 0x1f;
            out.push(char::from(BASE32[index as usize]));
        }
    }
    out
}

/// Reads base32 (any case, spaces and padding ignored); `None` on any other character.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = BASE32
            .iter()
            .position(|b| char::from(*b) == c.to_ascii_uppercase())?;
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The `otpauth://` address a QR code gives an authenticator app (Key Uri Format): the
/// service's name as issuer, then the staff member's identifier.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // the label's separator must stay a plain colon; spaces are %20 there, not +
    let label = format!("{}:{}", enc(issuer), enc(account)).replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        base32(secret),
        enc(issuer).replace('+', "%20"),
    )
}

/// The QR code of an address, as an SVG image to put in a page.
pub fn qr_svg(data: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 key; the 8-digit codes end with these 6 digits
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_test_vectors() {
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(RFC_KEY, time), eight_digits[2..], "time {time}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_once() {
        let now = 1_790_000_015;
        let current = code_at(RFC_KEY, now);
        let step = step_at(now);
        assert_eq!(matching_step(RFC_KEY, &current, now, None), Some(step));
        assert_eq!(
            matching_step(RFC_KEY, &current, now + 30, None),
            Some(step),
            "late"
        );
        assert_eq!(
            matching_step(RFC_KEY, &current, now - 30, None),
            Some(step),
            "early"
        );
        assert_eq!(matching_step(RFC_KEY, &current, now + 60, None), None);
        assert_eq!(
            matching_step(RFC_KEY, &current, now, Some(step)),
            None,
            "replay"
        );
        let spaced = format!("{} {}", &current[..3], &current[3..]);
        assert_eq!(matching_step(RFC_KEY, &spaced, now, None), Some(step));
        assert_eq!(matching_step(RFC_KEY, "12345", now, None), None);
        assert_eq!(matching_step(RFC_KEY, "12345a", now, None), None);
    }

    #[test]
    fn base32_round_trips() {
        // RFC 4648 §10
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b""), "");
        assert_eq!(from_base32("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(from_base32("MZXW 6YTB OI").unwrap(), b"foobar");
        assert_eq!(from_base32("MZ1"), None);
        let secret: Vec<u8> = (0..20).collect();
        assert_eq!(from_base32(&base32(&secret)).unwrap(), secret);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Connexion Éducation", "admin.college", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Connexion%20%C3%89ducation:admin.college?secret=MZXW6YTBOI\
             &issuer=Connexion%20%C3%89ducation&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg"));
    }
}

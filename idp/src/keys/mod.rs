//! Key material: the server secret that keys CSRF tokens and the fast hash of generated
//! secrets, random tokens, and constant-time comparison. (Token signing keys join here with
//! the OpenID Connect provider.)

use std::path::Path;

pub mod signing;
pub mod subjects;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a stored keyed hash, so that the scheme can change later.
const KEYED_HASH_PREFIX: &str = "hmac-sha256$";

/// The deployment's shared secret (32 bytes or more). Never logged.
#[derive(Clone)]
pub struct ServerSecret(Vec<u8>);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the server secret must be base64 or hex of at least 32 bytes")]
    TooWeak,
    #[error("cannot read or write the server secret at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl ServerSecret {
    /// Parses a secret given as base64 or hex text.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| STANDARD.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or(SecretError::TooWeak)?;
        if bytes.len() < 32 {
            return Err(SecretError::TooWeak);
        }
        Ok(Self(bytes))
    }

    /// Reads the secret at `path`, generating it (mode 0600) on first run.
    pub fn load_or_generate(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut bytes = vec![0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                write_private(path, &STANDARD.encode(&bytes)).map_err(io)?;
                Ok(Self(bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A secret for tests.
    pub fn for_tests() -> Self {
        Self(vec![7u8; 32])
    }

    /// HMAC-SHA256 of `purpose` and `data` under this secret; `purpose` separates uses.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Keyed fast hash of a generated high-entropy secret (temporary password, code, client
    /// secret), for storage. Only human-chosen passwords need a slow hash.
    pub fn hash_generated_secret(&self, secret: &str) -> String {
        format!(
            "{KEYED_HASH_PREFIX}{}",
            hex::encode(self.mac("generated-secret", secret.as_bytes()))
        )
    }

    /// Checks a generated secret against its stored keyed hash, in constant time.
    pub fn verify_generated_secret(&self, secret: &str, stored: &str) -> bool {
        let expected = self.hash_generated_secret(secret);
        constant_time_eq(expected.as_bytes(), stored.as_bytes())
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// A random token of `bytes` bytes, base64url without padding (session ids, CSRF tokens).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A one-time code for an SMS: 6 digits, uniformly drawn.
pub fn one_time_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// A temporary password for a credential letter (or a guardian's reset of a child's): 12
/// characters in three groups (`k7pm-wq3x-9fth`, about 59 bits), from an alphabet without
/// look-alikes (no 0/o, 1/l/i).
pub fn temporary_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    out
}

/// SHA-256 of a bearer value, hex: what the ephemeral store keeps instead of the value itself,
/// so that reading the store does not give anyone a usable session.
pub fn storage_key(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_hash_round_trips_and_is_keyed() {
        let s = ServerSecret::for_tests();
        let h = s.hash_generated_secret("Provisoire-2026");
        assert!(h.starts_with("hmac-sha256$"));
        assert!(s.verify_generated_secret("Provisoire-2026", &h));
        assert!(!s.verify_generated_secret("Provisoire-2027", &h));
        let other = ServerSecret::parse(&hex::encode([9u8; 32])).unwrap();
        assert!(!other.verify_generated_secret("Provisoire-2026", &h));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(ServerSecret::parse("c2hvcnQ=").is_err());
        assert!(ServerSecret::parse(&STANDARD.encode([1u8; 32])).is_ok());
    }

    #[test]
    fn generated_on_first_run_then_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/server-secret");
        let a = ServerSecret::load_or_generate(&path).unwrap();
        let b = ServerSecret::load_or_generate(&path).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn tokens_are_random_and_debug_hides_the_secret() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
        assert_eq!(
            format!("{:?}", ServerSecret::for_tests()),
            "ServerSecret(…)"
        );
    }
}

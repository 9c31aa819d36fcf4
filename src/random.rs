//! Random values the charm creates: the Django secret key, superuser passwords, UUIDs.

use base64::Engine;

/// The operating system's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot get random bytes: {0}")]
pub struct RandomError(String);

fn bytes(n: usize) -> Result<Vec<u8>, RandomError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

/// Python's `secrets.token_urlsafe(n)`: `n` random bytes as URL-safe base64 without
/// padding.
pub fn token_urlsafe(n: usize) -> Result<String, RandomError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes(n)?))
}

/// A new Django secret key: 64 random bytes as URL-safe base64 without padding (what
/// Python's `secrets.token_urlsafe(64)` gives).
pub fn new_secret_key() -> Result<String, RandomError> {
    token_urlsafe(64)
}

/// A random (version 4) UUID, lower-case, 36 characters.
pub fn uuid_v4() -> Result<String, RandomError> {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes(16)?);
    Ok(uuid_v4_from(b))
}

/// The version 4 UUID made of these 16 bytes (version and variant bits set).
pub fn uuid_v4_from(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random characters from `[A-Za-z0-9]`, each equally likely.
pub fn alphanumeric(n: usize) -> Result<String, RandomError> {
    // Rejection sampling: bytes past the last multiple of 62 would favour some letters.
    let limit = (256 / ALPHANUMERIC.len() * ALPHANUMERIC.len()) as u8;
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in bytes(32)?.into_iter().filter(|b| *b < limit) {
            if out.len() == n {
                break;
            }
            out.push(char::from(
                ALPHANUMERIC[usize::from(b) % ALPHANUMERIC.len()],
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(token_urlsafe(64).unwrap().len(), 86);
        assert_eq!(token_urlsafe(16).unwrap().len(), 22);
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert_ne!(u, uuid_v4().unwrap());
        assert_eq!(
            uuid_v4_from([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
        assert_eq!(
            uuid_v4_from([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        let salt = alphanumeric(16).unwrap();
        assert_eq!(salt.len(), 16);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(salt, alphanumeric(16).unwrap());
    }
}

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

/// A random (version 4) UUID, lower-case, 36 characters.
pub fn uuid_v4() -> Result<String, RandomError> {
    let mut b = bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
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
    }
}

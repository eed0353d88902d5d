//! Token secrets: 256 random bits from the operating system, shown once as
//! `sdt_` and 64 hex digits; the state keeps only their SHA-256.

use sha2::{Digest, Sha256};

/// The prefix of every secret (so a leaked one is easy to recognise and
/// scan for).
pub const PREFIX: &str = "sdt_";

/// A new secret.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex(&bytes)))
}

/// The lower-case hex SHA-256 of `secret`, as the state keeps it.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A bearer token as received, passed on by forwarding; `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Bearer(pub String);

impl std::str::FromStr for Bearer {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Bearer(s.trim().to_string()))
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bits_unique_and_hash_stably() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            format!("{:?}", Bearer(a.clone())),
            "Bearer(<redacted>)",
            "a secret in Debug output"
        );
    }
}

//! Passwords, tokens and session ids: how they are made, hashed and checked.

use crate::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(Box::new(e)))?;
    Ok(buf)
}

/// HMAC-SHA256 of `message` under `key`: the signature of links and cursors.
pub(crate) fn mac(key: &[u8], message: &str) -> Result<hmac::Hmac<Sha256>> {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key)
        .map_err(|e| Error::Internal(e.to_string().into()))?;
    mac.update(message.as_bytes());
    Ok(mac)
}

pub use cityx_core::links::hex;
pub(crate) use cityx_core::links::unhex;

/// A fresh 256-bit secret as 64 hex characters.
pub fn random_secret() -> Result<String> {
    Ok(hex(&random_bytes::<32>()?))
}

/// SHA-256 of a high-entropy secret (tokens, session ids). Such secrets need no slow hash:
/// guessing one is as hard as guessing the hash input.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Constant-time comparison of two short strings.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Argon2id with the crate's default parameters (19 MiB, 2 passes), PHC string format.
pub fn hash_password(password: &str) -> Result<String> {
    let salt_bytes = random_bytes::<16>()?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| Error::Internal(e.to_string().into()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(e.to_string().into()))
}

/// Whether `password` matches a stored PHC hash. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashing and verifying are CPU-bound (tens of milliseconds): keep them off the async
/// workers.
pub async fn hash_password_async(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::Internal(Box::new(e)))?
}

pub async fn verify_password_async(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| Error::Internal(Box::new(e)))
}

/// A readable random password of 16 characters without look-alikes (0/O, 1/l/I).
pub fn generate_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Ok(random_bytes::<16>()?
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// The key that signs download and media links and feed cursors: the database's, so every
/// node signs alike; read (or made) once per process.
pub(crate) struct LinkKey {
    key: tokio::sync::OnceCell<Vec<u8>>,
    admin: std::sync::Arc<dyn cityx_db::Admin>,
}

impl LinkKey {
    pub(crate) fn new(admin: std::sync::Arc<dyn cityx_db::Admin>) -> Self {
        LinkKey {
            key: Default::default(),
            admin,
        }
    }

    pub(crate) async fn get(&self) -> crate::Result<&[u8]> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let candidate = random_secret()?;
                let key = self
                    .admin
                    .server_secret("download_links", &candidate)
                    .await?;
                Ok::<_, crate::Error>(key.into_bytes())
            })
            .await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("正确的马电池订书钉").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("正确的马电池订书钉", &h));
        assert!(!verify_password("wrong password", &h));
        assert!(!verify_password("anything", "not a phc string"));
        assert_ne!(
            hash_password("same").expect("h"),
            hash_password("same").expect("h"),
            "salted"
        );
    }

    #[test]
    fn secrets_are_random_hex() {
        let a = random_secret().expect("s");
        let b = random_secret().expect("s");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn generated_passwords() {
        let p = generate_password().expect("p");
        assert_eq!(p.chars().count(), 16);
        assert!(!p.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(p, generate_password().expect("p"));
    }
}

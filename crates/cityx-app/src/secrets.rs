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

/// Encrypts the secrets cityx must send on (partners' stream keys) so that the database alone
/// does not give them away: ChaCha20-Poly1305 under a key kept outside the database (a file
/// the operator places on every node, `data.secret_key_file`), each secret bound to the row
/// it belongs to (the associated data), so that a sealed value moved to another row does not
/// open.
#[derive(Clone)]
pub struct Sealer {
    cipher: chacha20poly1305::ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

/// What a sealed secret starts with: the format's version.
const SEALED_PREFIX: &str = "v1:";

impl Sealer {
    /// A sealer from 32 bytes written as 64 hex characters (the key file's content).
    pub fn from_hex(text: &str) -> Result<Self> {
        use chacha20poly1305::KeyInit;
        let bytes = unhex(text.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| Error::Internal("a secret key is 64 hex characters".into()))?;
        let cipher = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|e| Error::Internal(e.to_string().into()))?;
        Ok(Sealer { cipher })
    }

    /// A new key's file content: 64 hex characters.
    pub fn new_key_text() -> Result<String> {
        random_secret()
    }

    /// Encrypts `secret` for the row named `bound_to`.
    pub fn seal(&self, bound_to: &str, secret: &str) -> Result<String> {
        use chacha20poly1305::aead::{Aead, Payload};
        let nonce_bytes = random_bytes::<12>()?;
        let nonce = chacha20poly1305::Nonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: bound_to.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("could not seal a secret".into()))?;
        Ok(format!(
            "{SEALED_PREFIX}{}{}",
            hex(&nonce_bytes),
            hex(&sealed)
        ))
    }

    /// Decrypts what [`seal`](Self::seal) made for `bound_to`; `None` when it does not open
    /// (another key, another row, a damaged value).
    pub fn open(&self, bound_to: &str, sealed: &str) -> Option<String> {
        use chacha20poly1305::aead::{Aead, Payload};
        let bytes = unhex(sealed.strip_prefix(SEALED_PREFIX)?)?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let nonce = chacha20poly1305::Nonce::try_from(nonce).ok()?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: bound_to.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let key = Sealer::new_key_text().expect("key");
        let sealer = Sealer::from_hex(&key).expect("sealer");
        let sealed = sealer.seal("target-1", "live_abc123").expect("seal");
        assert!(!sealed.contains("live_abc123"));
        assert_ne!(
            sealed,
            sealer.seal("target-1", "live_abc123").expect("seal")
        );
        assert_eq!(
            sealer.open("target-1", &sealed).as_deref(),
            Some("live_abc123")
        );
        assert_eq!(sealer.open("target-2", &sealed), None, "bound to its row");
        let other = Sealer::from_hex(&Sealer::new_key_text().expect("key")).expect("sealer");
        assert_eq!(other.open("target-1", &sealed), None, "another key");
        // The last hex digit changed (to another digit: one in sixteen already ends in 0).
        let mut damaged = sealed.clone();
        let last = damaged.pop();
        damaged.push(if last == Some('0') { '1' } else { '0' });
        assert_eq!(sealer.open("target-1", &damaged), None);
        assert_eq!(sealer.open("target-1", "v1:00"), None);
        assert!(Sealer::from_hex("abcd").is_err());
        assert!(!format!("{sealer:?}").contains(&key));
    }

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

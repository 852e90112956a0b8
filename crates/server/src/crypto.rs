//! OS randomness (the server's implementation of core's `Random` port) and
//! encryption of secrets at rest (private keys, TOTP secrets).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The operating system's CSPRNG.
#[derive(Default, Clone)]
pub struct OsRandom;

impl portcullis_core::ports::Random for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        // SystemRandom reads the kernel's CSPRNG; it does not fail on Linux
        // once the pool is initialised. Should it ever, fall back to the
        // thread RNG rather than hand out zeros.
        if SystemRandom::new().fill(buf).is_err() {
            use rand::RngExt;
            rand::rng().fill(buf);
        }
    }
}

const PREFIX: &str = "enc:v1:";

/// Seals and opens secrets stored in the database. Without a configured key
/// it stores them as they are.
#[derive(Clone)]
pub struct SecretBox {
    key: Option<[u8; 32]>,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a stored secret is encrypted but no key_encryption_key is configured")]
    NoKey,
    #[error("a stored secret cannot be decrypted with the configured key_encryption_key")]
    WrongKey,
    #[error("encryption failed")]
    Crypto,
}

impl SecretBox {
    pub fn new(passphrase: Option<&str>) -> SecretBox {
        SecretBox {
            key: passphrase.map(|p| Sha256::digest(p.as_bytes()).into()),
        }
    }

    fn cipher(&self) -> Option<Result<LessSafeKey, SealError>> {
        self.key.map(|k| {
            UnboundKey::new(&AES_256_GCM, &k)
                .map(LessSafeKey::new)
                .map_err(|_| SealError::Crypto)
        })
    }

    pub fn seal(&self, plain: &str) -> Result<String, SealError> {
        let Some(cipher) = self.cipher() else {
            return Ok(plain.to_string());
        };
        let cipher = cipher?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Crypto)?;
        let mut data = plain.as_bytes().to_vec();
        cipher
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .map_err(|_| SealError::Crypto)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let cipher = self.cipher().ok_or(SealError::NoKey)??;
        let blob = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| SealError::WrongKey)?;
        if blob.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, data) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::WrongKey)?;
        let mut data = data.to_vec();
        let plain = cipher
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_the_same_key_only() {
        let b = SecretBox::new(Some("correct horse battery staple"));
        let sealed = b.seal("JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(b.open(&sealed).unwrap(), "JBSWY3DPEHPK3PXP");
        assert!(matches!(
            SecretBox::new(Some("other")).open(&sealed),
            Err(SealError::WrongKey)
        ));
        assert!(matches!(
            SecretBox::new(None).open(&sealed),
            Err(SealError::NoKey)
        ));
    }

    #[test]
    fn without_a_key_values_pass_through() {
        let b = SecretBox::new(None);
        assert_eq!(b.seal("x").unwrap(), "x");
        assert_eq!(b.open("x").unwrap(), "x");
    }
}

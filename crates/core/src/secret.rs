//! Hashing and comparing high-entropy secrets (client secrets, refresh
//! tokens, codes, PATs). Passwords are not handled here: they use Argon2id
//! in the server, on a bounded pool.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ports::Random;

/// SHA-256 of a token, hex. High-entropy secrets need no slow hash: a
/// 256-bit random value cannot be brute-forced from its digest.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Does `presented` hash to `stored_hash`? Constant time in the contents.
pub fn verify_token(presented: &str, stored_hash: &str) -> bool {
    let h = hash_token(presented);
    h.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// A fresh random secret: `bytes` random bytes, base64url without padding.
pub fn random_token(rng: &mut dyn Random, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl Random for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_accepts_only_the_right_token() {
        let h = hash_token("s3cret");
        assert!(verify_token("s3cret", &h));
        assert!(!verify_token("s3cret ", &h));
        assert!(!verify_token("", &h));
    }

    #[test]
    fn random_token_uses_the_port() {
        let t = random_token(&mut Counter(0), 3);
        assert_eq!(t, URL_SAFE_NO_PAD.encode([1u8, 2, 3]));
    }
}

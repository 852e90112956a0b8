//! The second factor at sign-in: a TOTP code (RFC 6238, [`crate::totp`]) or,
//! in its place, one of the user's single-use recovery codes. One rule for
//! the sign-in pages, the login API and the password grant.
//!
//! Recovery codes are 80 random bits written as 16 base32 characters in
//! four groups (`abcd-efgh-ijkl-mnop`); they are shown once and stored only
//! as SHA-256 hashes ([`crate::secret::hash_token`]), so they cannot be
//! read back, only spent, once each.

use crate::error::OAuthError;
use crate::ports::{Random, RecoveryCodeStore, UserStore};
use crate::secret::hash_token;
use crate::totp;

/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Which factor a code was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
}

/// The result of a second-factor attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted(Factor),
    /// Neither the current TOTP code nor an unused recovery code.
    Wrong,
    /// The right TOTP code, but its step was already used.
    Replayed,
}

/// A fresh recovery code, as shown to the user.
pub fn new_recovery_code(rng: &mut dyn Random) -> String {
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes);
    // 80 bits = 16 groups of 5 bits.
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let idx = ((bits >> (75 - 5 * i)) & 0x1f) as usize;
        out.push(char::from(ALPHABET[idx]));
    }
    out
}

/// A recovery code as typed: case, spaces and dashes do not matter.
/// `None` if it cannot be one.
pub fn normalize_recovery_code(code: &str) -> Option<String> {
    let s: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == 16 && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// The stored form of a recovery code.
pub fn recovery_code_hash(code: &str) -> Option<String> {
    normalize_recovery_code(code).map(|c| hash_token(&c))
}

/// Give `user_id` a new set of recovery codes (the old ones stop working)
/// and return them in clear, to be shown once.
pub fn new_recovery_codes(
    tx: &mut impl RecoveryCodeStore,
    rng: &mut dyn Random,
    user_id: &str,
    now: i64,
) -> Result<Vec<String>, OAuthError> {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| new_recovery_code(rng))
        .collect();
    let hashes: Vec<String> = codes.iter().filter_map(|c| recovery_code_hash(c)).collect();
    tx.replace_recovery_codes(user_id, &hashes, now)?;
    Ok(codes)
}

/// Check `code` for `user_id` at `now` and spend it: a six-digit code is a
/// TOTP code (RFC 6238 §5.2: accepted once per step), anything shaped like a
/// recovery code is tried as one (accepted once, ever).
pub fn verify(
    tx: &mut (impl UserStore + RecoveryCodeStore),
    user_id: &str,
    totp_secret_base32: &str,
    code: &str,
    now: i64,
) -> Result<Check, OAuthError> {
    let trimmed = code.trim();
    if trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(
            match totp::verify_and_use(tx, user_id, totp_secret_base32, trimmed, now)? {
                totp::OtpCheck::Accepted => Check::Accepted(Factor::Totp),
                totp::OtpCheck::Wrong => Check::Wrong,
                totp::OtpCheck::Replayed => Check::Replayed,
            },
        );
    }
    let Some(hash) = recovery_code_hash(trimmed) else {
        return Ok(Check::Wrong);
    };
    Ok(if tx.use_recovery_code(user_id, &hash, now)? {
        Check::Accepted(Factor::RecoveryCode)
    } else {
        Check::Wrong
    })
}

/// Turn TOTP on for `user_id` with `sealed_secret` (the secret as the
/// server stores it), spending `step` (the step of the code that confirmed
/// enrolment), and return a new set of recovery codes.
pub fn enable_totp(
    tx: &mut (impl UserStore + RecoveryCodeStore),
    rng: &mut dyn Random,
    user_id: &str,
    sealed_secret: String,
    step: i64,
    now: i64,
) -> Result<Vec<String>, OAuthError> {
    let mut user = tx
        .get_user(user_id)?
        .ok_or_else(|| OAuthError::invalid_request("no such user"))?;
    user.totp_secret = Some(sealed_secret);
    user.updated_at = now;
    tx.update_user(&user)?;
    tx.use_totp_step(user_id, step)?;
    new_recovery_codes(tx, rng, user_id, now)
}

/// Turn TOTP off for `user_id`: the secret and every recovery code go.
pub fn disable_totp(
    tx: &mut (impl UserStore + RecoveryCodeStore),
    user_id: &str,
    now: i64,
) -> Result<bool, OAuthError> {
    let Some(mut user) = tx.get_user(user_id)? else {
        return Ok(false);
    };
    user.totp_secret = None;
    user.updated_at = now;
    tx.update_user(&user)?;
    tx.delete_recovery_codes(user_id)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemStore, SeqRandom};
    use crate::users::new_user;

    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn store_with_user() -> (MemStore, String) {
        let mut s = MemStore::default();
        let mut u = new_user("alice", None, None, false, 1, &mut SeqRandom(1)).unwrap();
        u.totp_secret = Some(SECRET.into());
        let id = u.id.clone();
        s.users.push(u);
        (s, id)
    }

    #[test]
    fn codes_have_the_shape_and_normalize() {
        let c = new_recovery_code(&mut SeqRandom(7));
        assert_eq!(c.len(), 19);
        assert_eq!(c.matches('-').count(), 3);
        assert_eq!(normalize_recovery_code(&c).unwrap(), c.replace('-', ""));
        let loud = format!(" {} ", c.to_uppercase().replace('-', " "));
        assert_eq!(recovery_code_hash(&loud), recovery_code_hash(&c));
        assert_eq!(normalize_recovery_code("abcd-efgh-ijkl-mno"), None);
        assert_eq!(normalize_recovery_code("abcd-efgh-ijkl-mno1"), None);
        assert_ne!(new_recovery_code(&mut SeqRandom(8)), c);
    }

    #[test]
    fn recovery_code_works_once_and_is_stored_hashed() {
        let (mut s, id) = store_with_user();
        let codes = new_recovery_codes(&mut s, &mut SeqRandom(3), &id, 10).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(s.recovery_codes.iter().all(
            |(_, h, _)| h.len() == 64 && !codes.iter().any(|c| h.contains(&c.replace('-', "")))
        ));
        assert_eq!(
            verify(&mut s, &id, SECRET, &codes[0], 20).unwrap(),
            Check::Accepted(Factor::RecoveryCode)
        );
        assert_eq!(
            verify(&mut s, &id, SECRET, &codes[0], 21).unwrap(),
            Check::Wrong
        );
        assert_eq!(s.count_recovery_codes(&id).unwrap(), RECOVERY_CODES - 1);
        // Another user cannot spend alice's code.
        assert_eq!(
            verify(&mut s, "bob", SECRET, &codes[1], 22).unwrap(),
            Check::Wrong
        );
        // A new set replaces the old one.
        let fresh = new_recovery_codes(&mut s, &mut SeqRandom(99), &id, 30).unwrap();
        assert_eq!(
            verify(&mut s, &id, SECRET, &codes[1], 31).unwrap(),
            Check::Wrong
        );
        assert_eq!(
            verify(&mut s, &id, SECRET, &fresh[1], 31).unwrap(),
            Check::Accepted(Factor::RecoveryCode)
        );
    }

    #[test]
    fn totp_codes_still_work_once_per_step() {
        let (mut s, id) = store_with_user();
        let code = totp::code_at(SECRET, 59).unwrap();
        assert_eq!(
            verify(&mut s, &id, SECRET, &code, 59).unwrap(),
            Check::Accepted(Factor::Totp)
        );
        assert_eq!(
            verify(&mut s, &id, SECRET, &code, 59).unwrap(),
            Check::Replayed
        );
        assert_eq!(
            verify(&mut s, &id, SECRET, "000000", 59).unwrap(),
            Check::Wrong
        );
        assert_eq!(verify(&mut s, &id, SECRET, "", 59).unwrap(), Check::Wrong);
    }

    #[test]
    fn enable_then_disable() {
        let (mut s, id) = store_with_user();
        s.users[0].totp_secret = None;
        let codes = enable_totp(&mut s, &mut SeqRandom(5), &id, "sealed".into(), 4, 100).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(s.users[0].totp_secret.as_deref(), Some("sealed"));
        // The confirming code's step is spent.
        assert!(!s.use_totp_step(&id, 4).unwrap());
        assert!(disable_totp(&mut s, &id, 200).unwrap());
        assert_eq!(s.users[0].totp_secret, None);
        assert_eq!(s.count_recovery_codes(&id).unwrap(), 0);
    }
}

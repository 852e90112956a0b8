//! TOTP codes (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way. Single use is the store's job
//! (`UserStore::use_totp_step`).

use totp_rs::{Algorithm, Builder, Secret};

use crate::error::OAuthError;
use crate::ports::UserStore;

/// The result of a second-factor attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpCheck {
    Accepted,
    /// Not the code for now (± one step).
    Wrong,
    /// The right code, but its step was already used.
    Replayed,
}

/// Check `code` for `user_id` at `now` and spend its step: RFC 6238 §5.2
/// says a code is accepted once. The one second-factor rule, for the
/// password grant and the sign-in pages alike.
pub fn verify_and_use(
    tx: &mut impl UserStore,
    user_id: &str,
    secret_base32: &str,
    code: &str,
    now: i64,
) -> Result<OtpCheck, OAuthError> {
    let Some(step) = check(secret_base32, code, now) else {
        return Ok(OtpCheck::Wrong);
    };
    Ok(if tx.use_totp_step(user_id, step)? {
        OtpCheck::Accepted
    } else {
        OtpCheck::Replayed
    })
}

/// The time step a code matches at `now`, or `None`.
pub fn check(secret_base32: &str, code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .ok()?;
    let now = u64::try_from(now).ok()?;
    totp.check(code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// The code for `now` (tests and tools).
pub fn code_at(secret_base32: &str, now: i64) -> Option<String> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let totp = Builder::new()
        .with_secret(secret)
        .with_digits(6)
        .with_step_duration(30)
        .build()
        .ok()?;
    Some(totp.generate(u64::try_from(now).ok()?).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B secret "12345678901234567890" in base32.
    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc6238_vector_and_skew() {
        // RFC 6238 Appendix B: T = 59 -> 94287082 (8 digits); 6 digits: 287082.
        assert_eq!(code_at(SECRET, 59).unwrap(), "287082");
        assert_eq!(check(SECRET, "287082", 59), Some(1));
        // one step of skew either way
        assert_eq!(check(SECRET, "287082", 59 + 30), Some(1));
        assert_eq!(check(SECRET, "287082", 59 - 30), Some(1));
        assert_eq!(check(SECRET, "287082", 59 + 60), None);
    }

    #[test]
    fn malformed_codes_and_secrets_are_refused() {
        assert_eq!(check(SECRET, "28708", 59), None);
        assert_eq!(check(SECRET, "28708a", 59), None);
        assert_eq!(check("not base32!", "287082", 59), None);
        assert_eq!(check(SECRET, "287082", -5), None);
    }
}

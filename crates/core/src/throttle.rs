//! Throttling failed logins per username (password grant, login API, login
//! form). A blocked attempt is refused before the password is checked.

use crate::error::OAuthError;
use crate::ports::ThrottleStore;

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures allowed within `window`; 0 turns throttling off.
    pub max_failures: u32,
    pub window: i64,
    pub block: i64,
}

fn key(username: &str) -> String {
    format!("user:{}", username.trim().to_lowercase())
}

/// The throttle key of user-code guesses from one client address on the
/// device verification page (RFC 8628 §5.1: "rate-limit user code
/// attempts"). Checked and counted with [`ThrottleStore`] directly.
pub fn user_code_key(addr: &str) -> String {
    format!("device:{addr}")
}

/// Seconds to wait, if `username` is blocked now.
pub fn blocked_for(
    tx: &mut impl ThrottleStore,
    p: &ThrottlePolicy,
    username: &str,
    now: i64,
) -> Result<Option<i64>, OAuthError> {
    if p.max_failures == 0 {
        return Ok(None);
    }
    Ok(tx.blocked_for(&key(username), now)?)
}

/// Record the result of an attempt that was checked.
pub fn record(
    tx: &mut impl ThrottleStore,
    p: &ThrottlePolicy,
    username: &str,
    failed: bool,
    now: i64,
) -> Result<(), OAuthError> {
    if p.max_failures == 0 {
        return Ok(());
    }
    if failed {
        tx.record_failure(&key(username), now, p.window, p.max_failures, p.block)?;
    } else {
        tx.clear_failures(&key(username))?;
    }
    Ok(())
}

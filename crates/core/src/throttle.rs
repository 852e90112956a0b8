//! Throttling failed authentications, one fixed window per key. A key is a
//! kind and a subject: `user:` (wrong passwords per username: password
//! grant, login API, login form), `otp:` (wrong TOTP codes per username,
//! counted apart from passwords) and `client:` (failed client
//! authentication per `client_id`). A blocked attempt is refused before
//! the credential is checked; a success clears the key's failures.

use crate::error::{ErrorCode, OAuthError};
use crate::ports::{ThrottleState, ThrottleStore};

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures allowed within `window`; 0 turns throttling off.
    pub max_failures: u32,
    pub window: i64,
    pub block: i64,
}

impl ThrottlePolicy {
    pub const OFF: ThrottlePolicy = ThrottlePolicy {
        max_failures: 0,
        window: 0,
        block: 0,
    };

    /// How long a row of this policy can matter: its window plus its block.
    pub fn span(&self) -> i64 {
        self.window.saturating_add(self.block)
    }
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A password, per username.
    User,
    /// A one-time code (TOTP), per username.
    Otp,
    /// Client authentication, per `client_id`.
    Client,
}

/// One policy per kind.
#[derive(Debug, Clone)]
pub struct Throttles {
    pub user: ThrottlePolicy,
    pub otp: ThrottlePolicy,
    pub client: ThrottlePolicy,
}

impl Throttles {
    pub fn policy(&self, kind: Kind) -> &ThrottlePolicy {
        match kind {
            Kind::User => &self.user,
            Kind::Otp => &self.otp,
            Kind::Client => &self.client,
        }
    }

    /// The longest any throttle row can matter (for the janitor).
    pub fn span(&self) -> i64 {
        self.user
            .span()
            .max(self.otp.span())
            .max(self.client.span())
    }
}

/// The stored key: usernames compare case-insensitively without
/// surrounding spaces; a `client_id` compares exactly.
pub fn key(kind: Kind, subject: &str) -> String {
    match kind {
        Kind::User => format!("user:{}", subject.trim().to_lowercase()),
        Kind::Otp => format!("otp:{}", subject.trim().to_lowercase()),
        Kind::Client => format!("client:{subject}"),
    }
}

/// The refusal of a blocked attempt: the answer is HTTP 429 with
/// `Retry-After` (RFC 6585 §4), the body an RFC 6749 §5.2 error.
pub fn refusal(secs: i64) -> OAuthError {
    let secs = secs.max(1);
    let mut e = OAuthError::with(
        ErrorCode::InvalidGrant,
        format!("too many failed attempts: try again in {secs} seconds"),
    );
    e.retry_after = Some(secs);
    e
}

/// The state of `subject` now; always `Clear` when the kind's throttle is off.
pub fn state(
    tx: &mut impl ThrottleStore,
    t: &Throttles,
    kind: Kind,
    subject: &str,
    now: i64,
) -> Result<ThrottleState, OAuthError> {
    if t.policy(kind).max_failures == 0 {
        return Ok(ThrottleState::Clear);
    }
    Ok(tx.throttle_state(&key(kind, subject), now)?)
}

/// The throttle key of user-code guesses from one client address on the
/// device verification page (RFC 8628 §5.1: "rate-limit user code
/// attempts"). Checked and counted with [`ThrottleStore`] directly.
pub fn user_code_key(addr: &str) -> String {
    format!("device:{addr}")
}

/// Seconds to wait, if `subject` is blocked now.
pub fn blocked_for(
    tx: &mut impl ThrottleStore,
    t: &Throttles,
    kind: Kind,
    subject: &str,
    now: i64,
) -> Result<Option<i64>, OAuthError> {
    Ok(match state(tx, t, kind, subject, now)? {
        ThrottleState::Blocked(secs) => Some(secs),
        _ => None,
    })
}

/// Record the result of an attempt that was checked: a failure counts, a
/// success clears.
pub fn record(
    tx: &mut impl ThrottleStore,
    t: &Throttles,
    kind: Kind,
    subject: &str,
    failed: bool,
    now: i64,
) -> Result<(), OAuthError> {
    let p = t.policy(kind);
    if p.max_failures == 0 {
        return Ok(());
    }
    let key = key(kind, subject);
    if failed {
        tx.record_failure(&key, now, p.window, p.max_failures, p.block)?;
    } else {
        tx.clear_failures(&key)?;
    }
    Ok(())
}

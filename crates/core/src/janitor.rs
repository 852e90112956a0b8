//! Housekeeping: what may be deleted, and when. Rows go only once no request
//! can use them: an expired token, code or session answers the same whether
//! its row is there or not (inactive, `invalid_grant`), so deleting it
//! changes no answer. The server runs [`plan`] now and then and deletes each
//! kind in small batches, one short transaction each, so requests are never
//! held up behind a long delete.

use crate::error::OAuthError;
use crate::ports::{AuditStore, ClientStore, JanitorStore, Purge, Random};
use crate::sessions::audit;

/// How long things are kept past the point where they stop working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JanitorPolicy {
    /// Audit events older than this go; `None`: kept forever.
    pub audit_retention: Option<i64>,
    /// Dynamic clients idle this long, holding nothing live, are removed;
    /// `None`: never.
    pub dynamic_client_idle: Option<i64>,
    /// The login throttle's window plus its block time: a throttle row
    /// opened longer ago than this can no longer block anyone.
    pub throttle_span: i64,
}

/// A spent authorization code is kept an hour past its expiry, so that a
/// late replay is still recognised as one and revokes what the code gave
/// (RFC 6749 §4.1.2, RFC 9700 §4.5).
pub const CODE_REPLAY_MEMORY: i64 = 3600;

/// An ended session stays a day, so the admin API can still show it.
pub const ENDED_SESSION_MEMORY: i64 = 86_400;

/// The cutoff for each kind of row at `now`: rows from before it go.
pub fn plan(now: i64, policy: &JanitorPolicy) -> Vec<(Purge, i64)> {
    Purge::ALL
        .iter()
        .filter_map(|&what| {
            let cutoff = match what {
                Purge::Codes => now - CODE_REPLAY_MEMORY,
                Purge::AccessTokens
                | Purge::RefreshTokens
                | Purge::SessionsExpired
                | Purge::BrowserSessionsExpired
                | Purge::InitialAccessTokens
                | Purge::DeviceCodes
                | Purge::UsedJtis => now,
                Purge::SessionsRevoked | Purge::BrowserSessionsRevoked => {
                    now - ENDED_SESSION_MEMORY
                }
                Purge::PushedRequests => now - crate::par::FLOW_WINDOW,
                Purge::AuditEvents => now - policy.audit_retention?,
                Purge::LoginAttempts => now - policy.throttle_span,
            };
            Some((what, cutoff))
        })
        .collect()
}

/// Remove up to `limit` dynamic clients that have been idle for the
/// policy's time and hold nothing live; each removal is audited. Returns
/// their ids.
pub fn remove_idle_clients(
    tx: &mut (impl JanitorStore + ClientStore + AuditStore),
    rng: &mut dyn Random,
    now: i64,
    policy: &JanitorPolicy,
    limit: i64,
) -> Result<Vec<String>, OAuthError> {
    let Some(idle) = policy.dynamic_client_idle else {
        return Ok(Vec::new());
    };
    let ids = tx.idle_dynamic_clients(now - idle, now, limit)?;
    let mut removed = Vec::with_capacity(ids.len());
    for id in ids {
        if tx.delete_client(&id)? {
            audit(
                tx,
                rng,
                now,
                "client_removed_idle",
                None,
                Some(&id),
                None,
                serde_json::json!({ "idle_secs": idle }),
            )?;
            removed.push(id);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn policy() -> JanitorPolicy {
        JanitorPolicy {
            audit_retention: Some(90 * 86_400),
            dynamic_client_idle: Some(30 * 86_400),
            throttle_span: 1200,
        }
    }

    fn cutoff(plan: &[(Purge, i64)], what: Purge) -> Option<i64> {
        plan.iter().find(|(w, _)| *w == what).map(|(_, c)| *c)
    }

    #[test]
    fn expired_things_go_at_expiry_and_spent_codes_an_hour_later() {
        let p = plan(NOW, &policy());
        assert_eq!(cutoff(&p, Purge::AccessTokens), Some(NOW));
        assert_eq!(cutoff(&p, Purge::RefreshTokens), Some(NOW));
        assert_eq!(cutoff(&p, Purge::SessionsExpired), Some(NOW));
        assert_eq!(cutoff(&p, Purge::Codes), Some(NOW - 3600));
        assert_eq!(cutoff(&p, Purge::SessionsRevoked), Some(NOW - 86_400));
        assert_eq!(cutoff(&p, Purge::AuditEvents), Some(NOW - 90 * 86_400));
        assert_eq!(cutoff(&p, Purge::LoginAttempts), Some(NOW - 1200));
        assert_eq!(cutoff(&p, Purge::DeviceCodes), Some(NOW));
        assert_eq!(cutoff(&p, Purge::UsedJtis), Some(NOW));
        assert_eq!(
            cutoff(&p, Purge::PushedRequests),
            Some(NOW - crate::par::FLOW_WINDOW)
        );
    }

    #[test]
    fn audit_events_kept_forever_without_retention() {
        let p = plan(
            NOW,
            &JanitorPolicy {
                audit_retention: None,
                ..policy()
            },
        );
        assert_eq!(cutoff(&p, Purge::AuditEvents), None);
        assert_eq!(p.len(), Purge::ALL.len() - 1);
    }
}

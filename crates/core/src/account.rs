//! What a signed-in user may do to their own account from the account
//! pages: end one of their sessions or all of them (with every token each
//! yielded), and withdraw a consent (which ends that client's sessions).
//! Ownership is checked here, so a page can only touch its user's rows.

use serde_json::json;

use crate::error::OAuthError;
use crate::model::Session;
use crate::ports::{AuditStore, ConsentStore, PatStore, Random, SessionStore, TokenStore};
use crate::sessions::{audit, end_session};

/// The user's sessions that are not revoked or expired at `now`, newest first.
pub fn live_sessions(
    tx: &mut impl SessionStore,
    user_id: &str,
    now: i64,
) -> Result<Vec<Session>, OAuthError> {
    let mut v = tx.list_live_sessions(user_id, now)?;
    v.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(v)
}

/// End the session `session_id` if it is `user_id`'s; its refresh token
/// family and access tokens are revoked with it. `false` if it is not
/// theirs or already ended.
pub fn end_own_session(
    tx: &mut (impl SessionStore + TokenStore + AuditStore),
    rng: &mut dyn Random,
    user_id: &str,
    session_id: &str,
    now: i64,
) -> Result<bool, OAuthError> {
    match tx.get_session(session_id)? {
        Some(s) if s.user_id.as_deref() == Some(user_id) && s.revoked_at.is_none() => {
            end_session(tx, rng, &s, now, "user_ended")
        }
        _ => Ok(false),
    }
}

/// End every live session of `user_id` (`reason` goes to the audit trail);
/// returns how many ended.
pub fn end_all_sessions(
    tx: &mut (impl SessionStore + TokenStore + AuditStore),
    rng: &mut dyn Random,
    user_id: &str,
    now: i64,
    reason: &str,
) -> Result<usize, OAuthError> {
    let mut n = 0;
    for s in tx.list_live_sessions(user_id, now)? {
        if end_session(tx, rng, &s, now, reason)? {
            n += 1;
        }
    }
    Ok(n)
}

/// Withdraw the user's consent to `client_id`: the consent goes, every live
/// session of that client for this user ends with its tokens, and the
/// personal access tokens minted for that client (MCP) are deleted, so the
/// client must ask again. `false` if there was no consent.
pub fn revoke_consent(
    tx: &mut (impl SessionStore + TokenStore + AuditStore + ConsentStore + PatStore),
    rng: &mut dyn Random,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<bool, OAuthError> {
    let had = tx.delete_consent(user_id, client_id)?;
    let mut ended = 0;
    for s in tx.list_live_sessions(user_id, now)? {
        if s.client_id == client_id && end_session(tx, rng, &s, now, "consent_revoked")? {
            ended += 1;
        }
    }
    let mut pats_deleted = 0;
    for p in tx.list_pats(user_id)? {
        if p.client_id.as_deref() == Some(client_id) && tx.delete_pat(&p.id)? {
            pats_deleted += 1;
        }
    }
    audit(
        tx,
        rng,
        now,
        "consent_revoked",
        Some(user_id),
        Some(client_id),
        None,
        json!({"sessions_ended": ended, "pats_deleted": pats_deleted}),
    )?;
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Consent, PatKind, PersonalAccessToken, Scopes, SessionKind};
    use crate::testing::{MemStore, SeqRandom};

    fn session(id: &str, user: &str, client: &str) -> Session {
        Session {
            id: id.into(),
            user_id: Some(user.into()),
            client_id: client.into(),
            kind: SessionKind::Password,
            auth_time: 1,
            amr: vec!["pwd".into()],
            created_at: 1,
            last_used_at: 1,
            expires_at: 1000,
            revoked_at: None,
            user_agent: None,
        }
    }

    fn store() -> MemStore {
        let mut s = MemStore::default();
        s.sessions.push(session("a", "alice", "app"));
        s.sessions.push(session("b", "alice", "other"));
        s.sessions.push(session("c", "bob", "app"));
        s
    }

    #[test]
    fn only_own_sessions_end() {
        let mut s = store();
        let rng = &mut SeqRandom(1);
        assert!(!end_own_session(&mut s, rng, "alice", "c", 10).unwrap());
        assert!(s.session("c").revoked_at.is_none());
        assert!(end_own_session(&mut s, rng, "alice", "a", 10).unwrap());
        assert_eq!(s.session("a").revoked_at, Some(10));
        assert!(!end_own_session(&mut s, rng, "alice", "a", 11).unwrap());
        assert_eq!(live_sessions(&mut s, "alice", 12).unwrap().len(), 1);
        assert_eq!(
            end_all_sessions(&mut s, rng, "alice", 12, "test").unwrap(),
            1
        );
        assert!(s.session("c").revoked_at.is_none());
    }

    #[test]
    fn revoking_a_consent_ends_that_clients_sessions() {
        let mut s = store();
        s.consents.push(Consent {
            user_id: "alice".into(),
            client_id: "app".into(),
            scope: Scopes::parse("openid").unwrap(),
            granted_at: 1,
            updated_at: 1,
        });
        let pat = |id: &str, client: Option<&str>| PersonalAccessToken {
            id: id.into(),
            token_hash: format!("h-{id}"),
            user_id: "alice".into(),
            name: id.into(),
            scope: Scopes::parse("mcp").unwrap(),
            kind: if client.is_some() {
                PatKind::Mcp
            } else {
                PatKind::Personal
            },
            client_id: client.map(str::to_string),
            created_at: 1,
            expires_at: None,
            last_used_at: None,
            disabled: false,
            revoked_at: None,
        };
        s.pats.push(pat("for-app", Some("app")));
        s.pats.push(pat("for-other", Some("other")));
        s.pats.push(pat("mine", None));
        let rng = &mut SeqRandom(1);
        assert!(revoke_consent(&mut s, rng, "alice", "app", 10).unwrap());
        assert!(s.consents.is_empty());
        let left: Vec<&str> = s.pats.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(left, ["for-other", "mine"]);
        assert_eq!(s.session("a").revoked_at, Some(10));
        assert!(s.session("b").revoked_at.is_none());
        assert!(s.session("c").revoked_at.is_none());
        assert!(!revoke_consent(&mut s, rng, "alice", "app", 11).unwrap());
    }
}

//! Sessions: one login and the family of tokens it yields. Starting one
//! applies the per-user limit; ending one revokes every token it yielded.

use serde_json::json;

use crate::error::OAuthError;
use crate::model::{AuditEvent, Client, Session, SessionKind, User};
use crate::ports::{AuditStore, Random, SessionStore, TokenStore};
use crate::secret::random_token;
use crate::tokens::{invalid_grant, Ctx};

/// Is the session usable at `now` (not revoked, within its maximum and idle
/// lifetimes)?
pub fn is_live(s: &Session, ctx: &Ctx) -> bool {
    s.revoked_at.is_none()
        && s.expires_at > ctx.now
        && s.last_used_at + ctx.policy.session_idle > ctx.now
}

/// Write an audit event (never with a secret in `detail`).
pub fn audit(
    tx: &mut impl AuditStore,
    rng: &mut dyn Random,
    now: i64,
    kind: &str,
    user_id: Option<&str>,
    client_id: Option<&str>,
    session_id: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), OAuthError> {
    tx.append_event(&AuditEvent {
        id: random_token(rng, 16),
        at: now,
        kind: kind.into(),
        user_id: user_id.map(str::to_string),
        client_id: client_id.map(str::to_string),
        session_id: session_id.map(str::to_string),
        detail: detail.to_string(),
    })?;
    Ok(())
}

/// End a session and revoke its tokens. Returns whether it was live.
pub fn end_session(
    tx: &mut (impl SessionStore + TokenStore + AuditStore),
    rng: &mut dyn Random,
    session: &Session,
    now: i64,
    reason: &str,
) -> Result<bool, OAuthError> {
    let changed = tx.revoke_session(&session.id, now)?;
    let tokens = tx.revoke_session_tokens(&session.id, now)?;
    audit(
        tx,
        rng,
        now,
        "session_ended",
        session.user_id.as_deref(),
        Some(&session.client_id),
        Some(&session.id),
        json!({"reason": reason, "tokens_revoked": tokens}),
    )?;
    Ok(changed)
}

/// Start a session for `user` at `client`, applying the per-user limit:
/// refuse the new login, or end the oldest sessions, as configured.
/// `user_agent`: the device or software it is shown as (cleaned).
pub fn start_session(
    tx: &mut (impl SessionStore + TokenStore + AuditStore),
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    user: &User,
    kind: SessionKind,
    auth_time: i64,
    amr: Vec<String>,
    user_agent: Option<&str>,
) -> Result<Result<Session, OAuthError>, OAuthError> {
    if let Some(limit) = ctx.policy.max_sessions_per_user {
        let live: Vec<Session> = tx
            .list_live_sessions(&user.id, ctx.now)?
            .into_iter()
            .filter(|s| is_live(s, ctx))
            .collect();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if live.len() >= limit {
            if !ctx.policy.evict_oldest_session || limit == 0 {
                return Ok(Err(invalid_grant(
                    "session limit reached: log out of another session first",
                )));
            }
            // Oldest first: end enough of them to make room for one.
            for old in live.iter().take(live.len() + 1 - limit) {
                end_session(tx, rng, old, ctx.now, "session_limit")?;
            }
        }
    }
    let session = Session {
        id: random_token(rng, 16),
        user_id: Some(user.id.clone()),
        client_id: client.id.clone(),
        kind,
        auth_time,
        amr,
        created_at: ctx.now,
        last_used_at: ctx.now,
        expires_at: ctx.now + ctx.policy.session_max,
        revoked_at: None,
        user_agent: user_agent.map(str::to_string),
    };
    tx.insert_session(&session)?;
    Ok(Ok(session))
}

/// Logout with a refresh token (Keycloak's `/logout` endpoint, seed 003):
/// the session it belongs to ends and every token of it is revoked.
pub fn logout(
    tx: &mut (impl SessionStore + TokenStore + AuditStore),
    rng: &mut dyn Random,
    client: &Client,
    refresh_token: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let Some(rt) = tx.get_refresh_token(&crate::secret::hash_token(refresh_token))? else {
        return Err(invalid_grant("unknown refresh token"));
    };
    if rt.client_id != client.id {
        return Err(invalid_grant("refresh token was issued to another client"));
    }
    if let Some(session) = tx.get_session(&rt.session_id)? {
        end_session(tx, rng, &session, now, "logout")?;
    }
    Ok(())
}

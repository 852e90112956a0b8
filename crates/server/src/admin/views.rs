//! How records look as JSON, in the admin API and in the CLI's output
//! (one shape for both). No view shows a secret or a hash: a client's
//! secret appears only in the answer that creates or rotates it.

use portcullis_core::keys as schedule;
use portcullis_core::model::{AuditEvent, Client, PersonalAccessToken, Session, SigningKey, User};
use portcullis_core::ports::TokenSummary;
use serde_json::{json, Value};

pub fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id,
        "client_name": c.name,
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": c.response_types,
        "scope": c.scope.to_string(),
        "application_type": c.application_type,
        "access_token_format": c.access_token_format.as_str(),
        "signing_alg": c.signing_alg.as_str(),
        "metadata": c.metadata,
        "is_resource_server": c.is_resource_server,
        "first_party": c.first_party,
        "client_id_issued_at": c.created_at,
        "updated_at": c.updated_at,
        "client_secret_expires_at": c.secret_expires_at,
        "disabled": c.disabled,
    })
}

pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "username": u.username, "email": u.email,
        "email_verified": u.email_verified, "admin": u.is_admin,
        "disabled": u.disabled, "totp_enabled": u.totp_secret.is_some(),
        "created_at": u.created_at, "updated_at": u.updated_at,
    })
}

/// A signing key and its state at `now` among `all`: `active` (signs),
/// `pending` (published, signs after the propagation delay), `retiring`
/// (published, no longer signs) or `retired`.
pub fn key_json(k: &SigningKey, all: &[SigningKey], now: i64) -> Value {
    let state = if k.retires_at.is_some_and(|r| r <= now) {
        "retired"
    } else if schedule::signing_key(all, k.alg, now).is_some_and(|s| s.kid == k.kid) {
        "active"
    } else if k.activates_at > now {
        "pending"
    } else {
        "retiring"
    };
    json!({
        "kid": k.kid, "alg": k.alg.as_str(), "state": state, "created_at": k.created_at,
        "activates_at": k.activates_at, "retires_at": k.retires_at,
    })
}

/// A session; `idle_expires_at` is when it ends unless used before.
pub fn session_json(s: &Session, idle_timeout: i64) -> Value {
    json!({
        "id": s.id, "user_id": s.user_id, "client_id": s.client_id, "kind": s.kind.as_str(),
        "auth_time": s.auth_time, "amr": s.amr, "created_at": s.created_at,
        "last_used_at": s.last_used_at, "expires_at": s.expires_at,
        "idle_expires_at": s.last_used_at.saturating_add(idle_timeout),
        "revoked_at": s.revoked_at, "user_agent": s.user_agent,
    })
}

pub fn token_json(t: &TokenSummary) -> Value {
    json!({
        "jti": t.id, "kind": t.kind.as_str(), "client_id": t.client_id, "user_id": t.user_id,
        "session_id": t.session_id, "scope": t.scope.to_string(), "aud": t.audience,
        "issued_at": t.issued_at, "expires_at": t.expires_at, "revoked_at": t.revoked_at,
        "consumed_at": t.consumed_at,
    })
}

pub fn pat_json(p: &PersonalAccessToken) -> Value {
    json!({
        "id": p.id, "user_id": p.user_id, "name": p.name, "scope": p.scope.to_string(),
        "kind": p.kind.as_str(), "client_id": p.client_id, "created_at": p.created_at,
        "expires_at": p.expires_at, "last_used_at": p.last_used_at, "disabled": p.disabled,
        "revoked_at": p.revoked_at,
    })
}

/// An audit event; `detail` as the JSON object it was written as.
pub fn event_json(e: &AuditEvent) -> Value {
    let detail = serde_json::from_str::<Value>(&e.detail).unwrap_or_else(|_| json!(e.detail));
    json!({
        "id": e.id, "at": e.at, "kind": e.kind, "user_id": e.user_id,
        "client_id": e.client_id, "session_id": e.session_id, "detail": detail,
    })
}

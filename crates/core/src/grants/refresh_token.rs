//! The refresh token grant (RFC 6749 §6) with rotation: every use consumes
//! the presented token and yields a successor (RFC 9700 §4.14.2).
//!
//! Successors are derived, not stored: the new refresh token, the new access
//! token's `jti` and (opaque) value are HMACs of the presented token under a
//! server key. So a client that retries within the grace window (its first
//! response was lost) gets the very same tokens again, and fifty concurrent
//! uses of one token yield one successor. Reuse after the window revokes the
//! whole session and is audited; that revocation commits (`Outcome::Denied`).

use serde_json::json;

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, GrantType};
use crate::params::Params;
use crate::ports::{AuditStore, Random, SessionStore, TokenStore, UserStore};
use crate::resources::narrow;
use crate::secret::hash_token;
use crate::sessions::{audit, end_session, is_live};
use crate::tokens::{
    derive, invalid_grant, mint_access, mint_refresh, render_access, target, token_type, Ctx,
    GrantResult, Material, Outcome, RefreshGrant, TokenResponse,
};

/// The tokens a refresh token's use yields, derived from it.
pub struct Successors {
    pub refresh: String,
    pub access: Material,
}

pub fn successors(key: &[u8], presented: &str) -> Successors {
    Successors {
        refresh: derive(key, "refresh", presented),
        access: Material {
            jti: derive(key, "jti", presented).chars().take(22).collect(),
            opaque: derive(key, "access", presented),
        },
    }
}

pub fn handle<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
) -> GrantResult
where
    T: UserStore + SessionStore + TokenStore + AuditStore,
{
    super::require_grant(client, GrantType::RefreshToken)?;
    let presented = params.require("refresh_token")?;
    let hash = hash_token(presented);
    let Some(rt) = tx.get_refresh_token(&hash)? else {
        return Err(invalid_grant("unknown refresh token"));
    };
    // RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if rt.client_id != client.id {
        return Err(invalid_grant("refresh token was issued to another client"));
    }
    if rt.revoked_at.is_some() || rt.expires_at <= ctx.now {
        return Err(invalid_grant("refresh token is expired or revoked"));
    }
    // RFC 9449 §5: a refresh token bound to a DPoP key is good only with a
    // proof by that key.
    crate::dpop::check_binding(rt.dpop_jkt.as_deref(), ctx.dpop_jkt, "refresh token")?;
    let Some(session) = tx.get_session(&rt.session_id)? else {
        return Err(invalid_grant("session not found"));
    };
    if !is_live(&session, ctx) {
        return Err(invalid_grant("session has ended"));
    }
    let user = match &rt.user_id {
        Some(id) => match tx.get_user(id)? {
            Some(u) if !u.disabled => Some(u),
            _ => return Err(invalid_grant("account is disabled")),
        },
        None => None,
    };
    // The new access token may be narrower; the refresh token keeps its
    // scope, audience and resources.
    let scope = crate::tokens::requested_scope(params.get("scope"), &rt.scope)?;
    // RFC 8707 §2.2: the new access token may be for a subset of the
    // resources the grant authorized, never another; none named: the
    // audience the grant's first access token had.
    let aud = narrow(&ctx.policy.resources, &rt.resource, params.all("resource"))?
        .unwrap_or_else(|| rt.audience.clone());
    let named = params.get("scope").is_some();
    let lifetime = ctx.policy.access_token_lifetime;
    let target = target(ctx, client, aud, &scope, named, lifetime)?;
    let next = successors(ctx.derive_key, presented);

    if tx.consume_refresh_token(&hash, ctx.now)? {
        let (access_token, record) = mint_access(
            tx,
            ctx,
            client,
            user.as_ref(),
            Some(&session),
            &target,
            &next.access,
        )?;
        let grant = RefreshGrant {
            scope: &rt.scope,
            aud: &rt.audience,
            resource: &rt.resource,
            dpop_jkt: crate::dpop::refresh_binding(client, ctx.dpop_jkt),
        };
        let new_rt = mint_refresh(tx, ctx, &session, &grant, &next.refresh, Some(hash))?;
        tx.touch_session(&session.id, ctx.now)?;
        return Ok(Outcome::Issued(TokenResponse {
            access_token,
            token_type: token_type(&record),
            expires_in: target.settings.lifetime,
            scope: target.scope.to_string(),
            refresh_token: Some(next.refresh),
            refresh_expires_in: Some(new_rt.expires_at - ctx.now),
            id_token: None,
            session_state: Some(session.id),
        }));
    }

    // Already consumed. Within the grace window: the same successors again.
    let consumed_at = tx
        .get_refresh_token(&hash)?
        .and_then(|t| t.consumed_at)
        .unwrap_or(ctx.now);
    if ctx.now - consumed_at <= ctx.policy.refresh_reuse_grace {
        let succ = tx.get_refresh_token(&hash_token(&next.refresh))?;
        let access = tx.get_access_token_by_jti(&next.access.jti)?;
        if let (Some(succ), Some(access)) = (succ, access) {
            if succ.revoked_at.is_none() && access.revoked_at.is_none() {
                // Signed as the first time: by its audience's settings.
                let alg = ctx
                    .policy
                    .resources
                    .access(client, lifetime, &access.audience)
                    .map_or(client.signing_alg, |(s, _)| s.alg);
                return Ok(Outcome::Issued(TokenResponse {
                    access_token: render_access(ctx, alg, &access, &next.access)?,
                    token_type: token_type(&access),
                    expires_in: (access.expires_at - ctx.now).max(0),
                    scope: access.scope.to_string(),
                    refresh_token: Some(next.refresh),
                    refresh_expires_in: Some(succ.expires_at - ctx.now),
                    id_token: None,
                    session_state: Some(session.id),
                }));
            }
        }
        return Err(invalid_grant("refresh token was already used"));
    }

    // Reuse after the window: a stolen token, or a broken client. End the family.
    end_session(tx, rng, &session, ctx.now, "refresh_token_reuse")?;
    audit(
        tx,
        rng,
        ctx.now,
        "refresh_token_reuse",
        session.user_id.as_deref(),
        Some(&client.id),
        Some(&session.id),
        json!({"consumed_at": consumed_at}),
    )?;
    Ok(Outcome::Denied {
        error: OAuthError::with(
            ErrorCode::InvalidGrant,
            "refresh token was already used; the session has been revoked",
        ),
        login_failure: false,
    })
}

//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636
//! §4.5-4.6). The code is single use: a second use fails and revokes what
//! the first one issued (RFC 6749 §4.1.2: "the authorization server MUST
//! deny the request and SHOULD revoke (when possible) all tokens previously
//! issued based on that authorization code").

use serde_json::json;

use crate::model::{Client, GrantType, SessionKind};
use crate::params::Params;
use crate::pkce;
use crate::ports::{AuditStore, CodeStore, Random, SessionStore, TokenStore, UserStore};
use crate::resources::narrow;
use crate::secret::hash_token;
use crate::sessions::{audit, end_session, start_session};
use crate::tokens::{audience, invalid_grant, target, Ctx, GrantResult, Outcome};

pub fn handle<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
) -> GrantResult
where
    T: CodeStore + UserStore + SessionStore + TokenStore + AuditStore,
{
    super::require_grant(client, GrantType::AuthorizationCode)?;
    let code = params.require("code")?;
    let verifier = params.require("code_verifier")?;
    let hash = hash_token(code);
    let Some(record) = tx.get_code(&hash)? else {
        return Err(invalid_grant("unknown authorization code"));
    };
    // RFC 6749 §4.1.3: the code was issued to this client.
    if record.client_id != client.id {
        return Err(invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    if !tx.consume_code(&hash, ctx.now)? {
        // A replay: end the token family the first exchange started.
        if let Some(session_id) = &record.session_id {
            if let Some(session) = tx.get_session(session_id)? {
                end_session(tx, rng, &session, ctx.now, "authorization_code_replay")?;
            }
        }
        audit(
            tx,
            rng,
            ctx.now,
            "authorization_code_replay",
            Some(&record.user_id),
            Some(&client.id),
            record.session_id.as_deref(),
            json!({}),
        )?;
        return Ok(Outcome::Denied {
            error: invalid_grant("authorization code was already used"),
            login_failure: false,
        });
    }
    if record.expires_at <= ctx.now {
        return Err(invalid_grant("authorization code has expired"));
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's.
    match params.get("redirect_uri") {
        Some(uri) if uri == record.redirect_uri => {}
        None if client.redirect_uris.len() == 1
            && client.redirect_uris[0] == record.redirect_uri => {}
        _ => {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request",
            ))
        }
    }
    // RFC 7636 §4.6.
    if !pkce::verify_s256(verifier, &record.code_challenge) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    // RFC 8707 §2.2: the token request may name a subset of the resources
    // the authorization request named ("the authorization server will issue
    // an access token based on that subset"), no other; none named: all.
    let aud = match narrow(
        &ctx.policy.resources,
        &record.resource,
        params.all("resource"),
    )? {
        Some(aud) => aud,
        None => audience(ctx, &record.resource)?,
    };
    let target = target(
        ctx,
        client,
        aud,
        &record.scope,
        false,
        ctx.policy.access_token_lifetime,
    )?;
    let user = match tx.get_user(&record.user_id)? {
        Some(u) if !u.disabled => u,
        _ => return Err(invalid_grant("account is disabled")),
    };
    let session = match start_session(
        tx,
        ctx,
        rng,
        client,
        &user,
        SessionKind::Browser,
        record.auth_time,
        record.amr.clone(),
    )? {
        Ok(s) => s,
        Err(e) => {
            return Ok(Outcome::Denied {
                error: e,
                login_failure: false,
            })
        }
    };
    tx.set_code_session(&hash, &session.id)?;
    // A refresh token when offline_access was granted or the client may refresh.
    let refresh_allowed =
        record.scope.contains("offline_access") || client.allows_grant(GrantType::RefreshToken);
    super::password::issue_session_tokens(
        tx,
        ctx,
        rng,
        client,
        &user,
        &session,
        &record.scope,
        &target,
        &record.resource,
        record.nonce.as_deref(),
        refresh_allowed,
    )
}

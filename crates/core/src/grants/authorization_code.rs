//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636
//! §4.5-4.6). The code is single use: a second use fails and revokes what
//! the first one issued (RFC 6749 §4.1.2: "the authorization server MUST
//! deny the request and SHOULD revoke (when possible) all tokens previously
//! issued based on that authorization code").

use serde_json::json;

use crate::model::{Client, GrantType, SessionKind};
use crate::params::Params;
use crate::pkce;
use crate::ports::{
    AuditStore, BrowserSessionStore, CodeStore, Random, SessionStore, TokenStore, UserStore,
};
use crate::secret::hash_token;
use crate::sessions::{audit, end_session};
use crate::tokens::{invalid_grant, Ctx, GrantResult, Outcome};

pub fn handle<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
) -> GrantResult
where
    T: CodeStore + BrowserSessionStore + UserStore + SessionStore + TokenStore + AuditStore,
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
    // RFC 9449 §10: a code bound to a DPoP key is exchanged only with a
    // proof by that key.
    crate::dpop::check_binding(record.dpop_jkt.as_deref(), ctx.dpop_jkt, "code")?;
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
    // The session is shown as the browser that signed in, not as the
    // client's HTTP library that redeems the code.
    let browser = match &record.browser_session_id {
        Some(id) => tx.get_browser_session(id)?,
        None => None,
    };
    let user_agent = browser.and_then(|b| b.user_agent);
    let approval = super::Approval {
        user_id: &record.user_id,
        auth_time: record.auth_time,
        amr: &record.amr,
        scope: &record.scope,
        resource: &record.resource,
        nonce: record.nonce.as_deref(),
        kind: SessionKind::Browser,
        user_agent: user_agent.as_deref().or(ctx.user_agent),
    };
    super::issue_approved(tx, ctx, rng, client, params, &approval, |tx, session| {
        tx.set_code_session(&hash, &session.id).map(drop)
    })
}

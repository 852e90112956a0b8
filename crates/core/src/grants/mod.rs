//! One module per grant type (RFC 6749 §4). The server authenticates the
//! client (`client_auth`) and calls the grant inside one store transaction.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, GrantType, Scopes, Session, SessionKind};
use crate::params::Params;
use crate::ports::{AuditStore, Random, SessionStore, TokenStore, UserStore};
use crate::resources::narrow;
use crate::sessions::start_session;
use crate::tokens::{audience, invalid_grant, target, Ctx, GrantResult, Outcome};

/// `grant_type` as a known grant, or `unsupported_grant_type` (RFC 6749 §5.2).
pub fn parse_grant_type(value: Option<&str>) -> Result<GrantType, OAuthError> {
    let v = value.ok_or_else(|| OAuthError::invalid_request("missing parameter grant_type"))?;
    v.parse::<GrantType>().map_err(|_| {
        OAuthError::with(
            ErrorCode::UnsupportedGrantType,
            "this grant_type is not supported",
        )
    })
}

/// RFC 6749 §5.2 `unauthorized_client`: the client may not use this grant.
pub fn require_grant(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(OAuthError::with(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant} grant"),
        ))
    }
}

/// What a person approved in a browser (an authorization code, a device
/// code), to be turned into tokens.
pub(crate) struct Approval<'a> {
    pub user_id: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
    pub scope: &'a Scopes,
    /// The resources the approval authorized (RFC 8707).
    pub resource: &'a [String],
    pub nonce: Option<&'a str>,
    pub kind: SessionKind,
    /// The device the session is shown as (cleaned `User-Agent`).
    pub user_agent: Option<&'a str>,
}

/// The tokens of an approval: the audience (RFC 8707 §2.2: the token
/// request may name a subset of the authorized resources, "the
/// authorization server will issue an access token based on that subset",
/// no other; none named: all), the user (still enabled), a new session
/// (`started` runs right after it is stored), then access, refresh (when
/// offline_access was granted or the client may refresh) and ID tokens.
pub(crate) fn issue_approved<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
    a: &Approval,
    started: impl FnOnce(&mut T, &Session) -> Result<(), crate::ports::StoreError>,
) -> GrantResult
where
    T: UserStore + SessionStore + TokenStore + AuditStore,
{
    let aud = match narrow(&ctx.policy.resources, a.resource, params.all("resource"))? {
        Some(aud) => aud,
        None => audience(ctx, a.resource)?,
    };
    let lifetime = ctx.policy.access_token_lifetime;
    let target = target(ctx, client, aud, a.scope, false, lifetime)?;
    let user = match tx.get_user(a.user_id)? {
        Some(u) if !u.disabled => u,
        _ => return Err(invalid_grant("account is disabled")),
    };
    let session = match start_session(
        tx,
        ctx,
        rng,
        client,
        &user,
        a.kind,
        a.auth_time,
        a.amr.to_vec(),
        a.user_agent,
    )? {
        Ok(s) => s,
        Err(e) => {
            return Ok(Outcome::Denied {
                error: e,
                login_failure: false,
            })
        }
    };
    started(tx, &session)?;
    let refresh_allowed =
        a.scope.contains("offline_access") || client.allows_grant(GrantType::RefreshToken);
    password::issue_session_tokens(
        tx,
        ctx,
        rng,
        client,
        &user,
        &session,
        a.scope,
        &target,
        a.resource,
        a.nonce,
        refresh_allowed,
    )
}

#[cfg(test)]
mod tests;

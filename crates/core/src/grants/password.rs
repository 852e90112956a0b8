//! The resource owner password credentials grant (RFC 6749 §4.3), with a
//! TOTP second factor (`otp`, alias `totp`, as Keycloak accepts). RFC 9700
//! §2.4 says this grant MUST NOT be used; Portcullis offers it only to
//! clients explicitly allowed it, for scripts and CLIs (docs/security.md).
//!
//! Two phases, so the slow password hash runs outside any transaction:
//! [`check_request`] before, [`complete`] after the server verified the
//! password on its bounded hashing pool.

use crate::error::OAuthError;
use crate::model::{Client, GrantType, Scopes, SessionKind, User};
use crate::params::Params;
use crate::ports::{
    AuditStore, PasskeyStore, Random, RecoveryCodeStore, SessionStore, TokenStore, UserStore,
};
use crate::second_factor;
use crate::secret::random_token;
use crate::sessions::start_session;
use crate::tokens::{
    audience, id_token, invalid_grant, mint_access, mint_refresh, requested_scope, target,
    token_type, Ctx, GrantResult, IdTokenInput, Material, Outcome, RefreshGrant, Target,
    TokenResponse,
};

#[derive(Debug, Clone)]
pub struct PasswordRequest {
    pub username: String,
    pub password: String,
    pub otp: Option<String>,
    pub scope: Scopes,
    /// Whether the request named its scope.
    pub scope_named: bool,
    pub audience: Vec<String>,
    /// The resources it named (RFC 8707), for the refresh token.
    pub resource: Vec<String>,
}

/// Everything that can be checked without the password hash.
pub fn check_request(
    ctx: &Ctx,
    client: &Client,
    params: &Params,
) -> Result<PasswordRequest, OAuthError> {
    super::require_grant(client, GrantType::Password)?;
    let username = params.require("username")?.to_string();
    let password = params.require("password")?.to_string();
    let otp = match (params.get("otp"), params.get("totp")) {
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_request("otp and totp differ"))
        }
        (a, b) => a.or(b).map(str::to_string),
    };
    let scope = requested_scope(params.get("scope"), &client.scope)?;
    let resource = ctx.policy.resources.resolve(params.all("resource"))?;
    let audience = audience(ctx, &resource)?;
    let scope_named = params.get("scope").is_some();
    // The access token's shape and scope, checked before any password work.
    let lifetime = ctx.policy.access_token_lifetime;
    target(ctx, client, audience.clone(), &scope, scope_named, lifetime)?;
    Ok(PasswordRequest {
        username,
        password,
        otp,
        scope,
        scope_named,
        audience,
        resource,
    })
}

fn denied(msg: &str, login_failure: bool) -> GrantResult {
    Ok(Outcome::Denied {
        error: invalid_grant(msg),
        login_failure,
    })
}

/// After the password was verified: the second factor, the session, the
/// tokens. `totp_secret` is the user's secret in clear, if enrolled.
/// `access_lifetime` lets the direct login API use its own lifetime.
#[allow(clippy::too_many_arguments)]
pub fn complete<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    user: &User,
    totp_secret: Option<&str>,
    req: &PasswordRequest,
    access_lifetime: i64,
) -> GrantResult
where
    T: UserStore + RecoveryCodeStore + PasskeyStore + SessionStore + TokenStore + AuditStore,
{
    if user.disabled {
        return denied("account is disabled", false);
    }
    // A passkey cannot be presented here: an account whose only second
    // factor is a passkey signs in through the browser (crate::passkeys).
    if totp_secret.is_none() && tx.count_passkeys(&user.id)? > 0 {
        return denied(
            "this account's second factor is a passkey: sign in through the browser",
            false,
        );
    }
    let mut amr = vec!["pwd".to_string()];
    if let Some(secret) = totp_secret {
        let Some(code) = req.otp.as_deref() else {
            // So a CLI can prompt for the code and try again.
            return denied("OTP required: send the current code as otp", false);
        };
        // A recovery code stands in for the TOTP code (second_factor).
        match second_factor::verify(tx, &user.id, secret, code, ctx.now)? {
            second_factor::Check::Accepted(_) => {}
            second_factor::Check::Wrong => return denied("invalid OTP", true),
            second_factor::Check::Replayed => {
                return denied("OTP already used: wait for the next code", true)
            }
        }
        amr.push("otp".into());
        amr.push("mfa".into());
    }
    let session = match start_session(
        tx,
        ctx,
        rng,
        client,
        user,
        SessionKind::Password,
        ctx.now,
        amr,
        ctx.user_agent,
    )? {
        Ok(s) => s,
        Err(e) => {
            return Ok(Outcome::Denied {
                error: e,
                login_failure: false,
            })
        }
    };
    let refresh = client.allows_grant(GrantType::RefreshToken);
    let aud = req.audience.clone();
    let target = target(
        ctx,
        client,
        aud,
        &req.scope,
        req.scope_named,
        access_lifetime,
    )?;
    issue_session_tokens(
        tx,
        ctx,
        rng,
        client,
        user,
        &session,
        &req.scope,
        &target,
        &req.resource,
        None,
        refresh,
    )
}

/// Access token (`target`), refresh token (if `with_refresh`) and ID token
/// (if `openid` was granted) for a new session. `scope` is the granted
/// scope (the ID token's and the refresh token's); `resource` the resources
/// the grant authorized (RFC 8707), which the refresh token remembers.
#[allow(clippy::too_many_arguments)]
pub fn issue_session_tokens(
    tx: &mut impl TokenStore,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    user: &User,
    session: &crate::model::Session,
    scope: &Scopes,
    target: &Target,
    resource: &[String],
    nonce: Option<&str>,
    with_refresh: bool,
) -> GrantResult {
    let (access_token, record) = mint_access(
        tx,
        ctx,
        client,
        Some(user),
        Some(session),
        target,
        &Material::random(rng),
    )?;
    let refresh = if with_refresh {
        let token = random_token(rng, 32);
        let grant = RefreshGrant {
            scope,
            aud: &target.aud,
            resource,
            dpop_jkt: crate::dpop::refresh_binding(client, ctx.dpop_jkt),
        };
        let rec = mint_refresh(tx, ctx, session, &grant, &token, None)?;
        Some((token, rec.expires_at - ctx.now))
    } else {
        None
    };
    let id_token = if scope.contains("openid") {
        Some(id_token(
            ctx,
            client,
            &IdTokenInput {
                user,
                session,
                scope,
                nonce,
                access_token: Some(&access_token),
            },
        )?)
    } else {
        None
    };
    Ok(Outcome::Issued(TokenResponse {
        access_token,
        token_type: token_type(&record),
        expires_in: target.settings.lifetime,
        // RFC 6749 §5.1: the scope of the access token.
        scope: target.scope.to_string(),
        refresh_expires_in: refresh.as_ref().map(|r| r.1),
        refresh_token: refresh.map(|r| r.0),
        id_token,
        session_state: Some(session.id.clone()),
    }))
}

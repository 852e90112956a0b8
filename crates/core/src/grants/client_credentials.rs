//! The client credentials grant (RFC 6749 §4.4): a confidential client gets
//! an access token for itself; no refresh token (§4.4.3).

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, GrantType};
use crate::params::Params;
use crate::ports::{Random, TokenStore};
use crate::tokens::{
    audience, mint_access, requested_scope, target, token_type, Ctx, GrantResult, Material,
    Outcome, TokenResponse,
};

pub fn handle(
    tx: &mut impl TokenStore,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
) -> GrantResult {
    super::require_grant(client, GrantType::ClientCredentials)?;
    if client.is_public() {
        return Err(OAuthError::with(
            ErrorCode::UnauthorizedClient,
            "client_credentials is for confidential clients",
        ));
    }
    let scope = requested_scope(params.get("scope"), &client.scope)?;
    let aud = audience(ctx, params.all("resource"))?;
    let named = params.get("scope").is_some();
    let lifetime = ctx.policy.access_token_lifetime;
    let target = target(ctx, client, aud, &scope, named, lifetime)?;
    let (access_token, record) =
        mint_access(tx, ctx, client, None, None, &target, &Material::random(rng))?;
    Ok(Outcome::Issued(TokenResponse {
        access_token,
        token_type: token_type(&record),
        expires_in: target.settings.lifetime,
        scope: target.scope.to_string(),
        refresh_token: None,
        refresh_expires_in: None,
        id_token: None,
        session_state: None,
    }))
}

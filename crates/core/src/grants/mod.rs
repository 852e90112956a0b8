//! One module per grant type (RFC 6749 §4). The server authenticates the
//! client (`client_auth`) and calls the grant inside one store transaction.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, GrantType};

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

#[cfg(test)]
mod tests;

//! Bearer tokens presented to Portcullis's own protected routes
//! (`/api/auth/me`, later userinfo): a JWT is checked for signature, `typ`,
//! `iss` and `exp` here; core then checks its record (revoked? session
//! live? user enabled?).

use actix_web::{web, HttpRequest};
use portcullis_core::access::{self, TokenRef};
use portcullis_core::model::{AccessToken, User};

use crate::extract;
use crate::render::ApiError;
use crate::state::{now, read, AppState};

pub enum BearerError {
    /// No bearer token at all.
    Missing,
    /// A token that is not (or no longer) good.
    Invalid,
    /// The lookup failed.
    Server(ApiError),
}

/// A bearer token that is an access token of a user or a client, or a
/// personal access token (`pcp_...`, looked up first): a PAT is seen as an
/// access token record (`portcullis_core::pats::as_access_token`).
pub async fn bearer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(AccessToken, Option<User>), BearerError> {
    let token = extract::bearer(req).ok_or(BearerError::Missing)?;
    if portcullis_core::pats::looks_like_pat(&token) {
        let found = crate::endpoints::pats::resolve_pat(state, token, now())
            .await
            .map_err(BearerError::Server)?;
        if let Some((pat, user)) = found {
            return Ok((portcullis_core::pats::as_access_token(&pat), Some(user)));
        }
    }
    access_bearer(req, state).await
}

/// An access token only (no personal access token): for routes a PAT must
/// not reach, such as the management of PATs.
pub async fn access_bearer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(AccessToken, Option<User>), BearerError> {
    let token = extract::bearer(req).ok_or(BearerError::Missing)?;
    let t = now();
    let jti = if token.matches('.').count() == 2 {
        let claims = state
            .keys
            .current()
            .verify(&token, "at+jwt", state.issuer.as_str(), t)
            .ok_or(BearerError::Invalid)?;
        Some(
            claims
                .get("jti")
                .and_then(|j| j.as_str())
                .ok_or(BearerError::Invalid)?
                .to_string(),
        )
    } else {
        None
    };
    let found = read(state, move |tx, _| {
        let r = match &jti {
            Some(jti) => TokenRef::Jti(jti),
            None => TokenRef::Opaque(&token),
        };
        access::resolve(tx, r, t)
    })
    .await
    .map_err(BearerError::Server)?;
    found.ok_or(BearerError::Invalid)
}

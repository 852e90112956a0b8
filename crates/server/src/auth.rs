//! Access tokens presented to Portcullis's own protected routes
//! (`/api/auth/me`, userinfo, PAT management): a JWT is checked for
//! signature, `typ`, `iss` and `exp` here; core then checks its record
//! (revoked? session live? user enabled?). A DPoP-bound token (RFC 9449
//! §7) needs the `DPoP` scheme and a proof by its key.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::access::{self, TokenRef};
use portcullis_core::dpop;
use portcullis_core::model::{AccessToken, User};
use portcullis_core::{ErrorCode, OAuthError};

use crate::extract;
use crate::render::{bearer_error, ApiError};
use crate::state::{now, read, AppState};

pub enum BearerError {
    /// No access token at all.
    Missing,
    /// A token that is not (or no longer) good.
    Invalid,
    /// A DPoP-bound token without a good proof, or a token presented with
    /// the wrong scheme (RFC 9449 §7.1, §7.2).
    Dpop(OAuthError),
    /// The lookup failed.
    Server(ApiError),
}

impl BearerError {
    /// The refusal: 401 with a `Bearer` or `DPoP` challenge, or the
    /// server error.
    pub fn response(self, state: &AppState) -> HttpResponse {
        match self {
            BearerError::Missing => bearer_error(false),
            BearerError::Invalid => bearer_error(true),
            BearerError::Dpop(e) => crate::dpop::challenge(state, &e, now()),
            BearerError::Server(e) => e.error_response(),
        }
    }
}

/// How the token was presented.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// RFC 6750 §2.1.
    Bearer,
    /// RFC 9449 §7.1.
    Dpop,
}

/// The `Authorization` header's access token and scheme.
fn presented(req: &HttpRequest) -> Option<(Scheme, String)> {
    if let Some(t) = extract::bearer(req) {
        return Some((Scheme::Bearer, t));
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("dpop") && !token.is_empty())
        .then(|| (Scheme::Dpop, token.to_string()))
}

/// A bearer token that is an access token of a user or a client, or a
/// personal access token (`pcp_...`, looked up first): a PAT is seen as an
/// access token record (`portcullis_core::pats::as_access_token`).
pub async fn bearer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(AccessToken, Option<User>), BearerError> {
    let token = extract::bearer(req);
    if let Some(token) = token.filter(|t| portcullis_core::pats::looks_like_pat(t)) {
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
    let (scheme, token) = presented(req).ok_or(BearerError::Missing)?;
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
    let presented_token = token.clone();
    let found = read(state, move |tx, _| {
        let r = match &jti {
            Some(jti) => TokenRef::Jti(jti),
            None => TokenRef::Opaque(&token),
        };
        access::resolve(tx, r, t)
    })
    .await
    .map_err(BearerError::Server)?;
    let (record, user) = found.ok_or(BearerError::Invalid)?;
    match (scheme, record.dpop_jkt.as_deref()) {
        (Scheme::Bearer, None) => {}
        // RFC 9449 §7.2: a bound token is not a bearer token; and the
        // DPoP scheme is for bound tokens only.
        (Scheme::Bearer, Some(_)) | (Scheme::Dpop, None) => {
            return Err(BearerError::Dpop(OAuthError::new(ErrorCode::InvalidToken)))
        }
        (Scheme::Dpop, Some(jkt)) => {
            // RFC 9449 §7.1: a proof by the token's key, with `ath`.
            let proof = crate::dpop::check(req, state, Some(&presented_token), t)
                .map_err(BearerError::Dpop)?
                .ok_or_else(|| BearerError::Dpop(dpop::invalid("a DPoP proof is required")))?;
            if !dpop::same_key(jkt, &proof.jkt) {
                return Err(BearerError::Dpop(dpop::invalid(
                    "the proof's key is not the token's",
                )));
            }
            crate::dpop::consume(state, proof)
                .await
                .map_err(|e| match e.error.code {
                    ErrorCode::InvalidDpopProof => BearerError::Dpop(e.error),
                    _ => BearerError::Server(e),
                })?;
        }
    }
    Ok((record, user))
}

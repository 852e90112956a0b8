//! DPoP (RFC 9449) at the HTTP edge: a request's `DPoP` headers and the URL
//! its proof must name, checked by core; the `DPoP-Nonce` header (§8); the
//! `WWW-Authenticate: DPoP` challenge of our protected routes (§7.1).
//! Proofs are never logged.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::dpop::{self, Proof, Target};
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::json;

use crate::render::{blocking_failed, ApiError};
use crate::state::AppState;

/// The URL a proof's `htu` must name: the issuer's scheme and authority
/// with the request's path (endpoints hang off the issuer's path).
fn request_url(state: &AppState, req: &HttpRequest) -> String {
    match url::Url::parse(state.issuer.as_str()) {
        Ok(mut u) => {
            u.set_path(req.path());
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => state.issuer.endpoint(req.path()),
    }
}

/// Check the request's proof (RFC 9449 §4.3), if it has one; `access_token`
/// at a protected route (§7: `ath`). Its `jti` is consumed by the caller.
pub fn check(
    req: &HttpRequest,
    state: &AppState,
    access_token: Option<&str>,
    now: i64,
) -> Result<Option<Proof>, OAuthError> {
    let mut values = Vec::new();
    for v in req.headers().get_all("DPoP") {
        values.push(
            v.to_str()
                .map_err(|_| dpop::invalid("the DPoP header is not a JWT"))?,
        );
    }
    let url = request_url(state, req);
    let target = Target {
        method: req.method().as_str(),
        url: &url,
        access_token,
    };
    dpop::check(
        &values,
        &target,
        &state.config.dpop.rules(),
        &state.derive_key,
        now,
    )
}

/// Record the proof's `jti` in a transaction of its own (a protected route
/// reads only): a replay is `invalid_dpop_proof`.
pub async fn consume(state: &web::Data<AppState>, proof: Proof) -> Result<(), ApiError> {
    let st = state.clone();
    web::block(move || {
        let rules = st.config.dpop.rules();
        st.store.write(|tx| dpop::consume(tx, &proof, &rules))
    })
    .await
    .map_err(blocking_failed)?
    .map_err(ApiError::from)
}

/// Add the current nonce to a response when the server requires nonces
/// (RFC 9449 §8: on `use_dpop_nonce`, and on any other answer so that the
/// client has the next one).
pub fn add_nonce(state: &AppState, res: &mut HttpResponse, now: i64) {
    let Some(lifetime) = state.config.dpop.rules().nonce_lifetime else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&dpop::nonce(&state.derive_key, lifetime, now)) {
        // RFC 9449 §8.1: DPoP-Nonce.
        res.headers_mut()
            .insert(header::HeaderName::from_static("dpop-nonce"), v);
    }
}

/// A protected route's refusal of a DPoP-bound token or its proof (RFC
/// 9449 §7.1): 401 with `WWW-Authenticate: DPoP error=...` and the
/// algorithms it accepts.
pub fn challenge(state: &AppState, e: &OAuthError, now: i64) -> HttpResponse {
    let code = match e.code {
        ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => e.code,
        _ => ErrorCode::InvalidToken,
    };
    let value = format!(
        "DPoP error=\"{}\", algs=\"{}\"",
        code.as_str(),
        dpop::ALGS.join(" ")
    );
    let mut res = HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, value))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": code.as_str()}));
    add_nonce(state, &mut res, now);
    res
}

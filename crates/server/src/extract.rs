//! Reading requests: form bodies (RFC 6749 §3.2: application/x-www-form-urlencoded),
//! JSON bodies, Basic and Bearer credentials, the `User-Agent`. Every failure is an RFC error,
//! never actix's default plain-text 400/413.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use portcullis_core::client_auth::decode_basic;
use portcullis_core::params::Params;
use portcullis_core::OAuthError;

use crate::render::ApiError;

/// Largest body any endpoint reads.
pub const BODY_LIMIT: usize = 16 * 1024;

fn media_type(req: &HttpRequest) -> Option<String> {
    let ct = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// The request's `User-Agent` (RFC 9110 §10.1.5), cleaned for storage
/// ([`portcullis_core::user_agent::clean`]); bytes that are not UTF-8 are
/// replaced, never refused.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    let raw = req.headers().get(header::USER_AGENT)?;
    portcullis_core::user_agent::clean(&String::from_utf8_lossy(raw.as_bytes()))
}

/// The body, refused with `invalid_request` when over [`BODY_LIMIT`].
pub async fn body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::from(OAuthError::invalid_request(
                "could not read the request body",
            ))
        })?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::from(OAuthError::invalid_request(
                "request body is too large",
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// A form-encoded body as parameters (duplicates refused).
pub async fn form(req: &HttpRequest, payload: web::Payload) -> Result<Params, ApiError> {
    if media_type(req).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(ApiError::from(OAuthError::invalid_request(
            "content type must be application/x-www-form-urlencoded",
        )));
    }
    let bytes = body(payload).await?;
    Ok(Params::from_urlencoded(&bytes)?)
}

/// A JSON body.
pub async fn json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    if media_type(req).as_deref() != Some("application/json") {
        return Err(ApiError::from(OAuthError::invalid_request(
            "content type must be application/json",
        )));
    }
    let bytes = body(payload).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_data() {
            "a field is missing or of the wrong type"
        } else {
            "malformed JSON"
        };
        ApiError::from(OAuthError::invalid_request(what))
    })
}

/// `Authorization: Basic` credentials, if that is the scheme used.
pub fn basic(req: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::from(OAuthError::invalid_request(
            "malformed Authorization header",
        ))
    })?;
    Ok(basic_value(value)?)
}

/// An `Authorization` header value read as Basic credentials (RFC 6749
/// §2.3.1): `None` when another scheme is used, `invalid_client` when it is
/// Basic but malformed.
pub fn basic_value(value: &str) -> Result<Option<(String, String)>, OAuthError> {
    if !value
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
    {
        return Ok(None);
    }
    decode_basic(value).map(Some)
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1).
pub fn bearer(req: &HttpRequest) -> Option<String> {
    bearer_value(req.headers().get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// An `Authorization` header value read as a bearer token (RFC 6750 §2.1):
/// the scheme is case-insensitive; `None` for another scheme or no token.
pub fn bearer_value(value: &str) -> Option<String> {
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

//! `POST /oauth/register` (RFC 7591 dynamic client registration) and the
//! client configuration endpoint `GET`/`PUT`/`DELETE
//! /oauth/register/{client_id}` (RFC 7592). Core
//! (`portcullis_core::register`) decides; this extracts and renders.
//!
//! Error policy: a bad metadata document, or a body that is not JSON, is 400
//! `invalid_client_metadata` / `invalid_redirect_uri` (RFC 7591 §3.2.2); a
//! wrong content type or an oversized body is 400 `invalid_request` (the
//! HTTP request, not the metadata, is at fault); a missing or bad initial or
//! registration access token is 401 `invalid_token` with `WWW-Authenticate:
//! Bearer` (RFC 6750 §3.1, RFC 7592 §2); too many open registrations from
//! one address is 429 with `Retry-After`; `registration.policy = "off"`
//! makes `POST` answer 404.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::ports::ThrottleState;
use portcullis_core::register::{self, Gate, Refusal};
use portcullis_core::throttle::{self, Kind};
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::Value;

use crate::config::RegistrationPolicy;
use crate::crypto::OsRandom;
use crate::extract;
use crate::render::{blocking_failed, ApiError};
use crate::state::{now, read as read_tx, record_client, AppState};

/// `POST /oauth/register`.
#[utoipa::path(post, path = "/oauth/register", tag = "registration", request_body(content = serde_json::Value, content_type = "application/json", description = "RFC 7591 §2 client metadata"), responses((status = 201, description = "Registered (RFC 7591 §3.2.1)", content_type = "application/json"), (status = 400, description = "invalid_redirect_uri, invalid_client_metadata or invalid_request", body = crate::openapi::ErrorBody), (status = 401, description = "Initial access token required or invalid", body = crate::openapi::ErrorBody), (status = 404, description = "Registration is off", body = crate::openapi::ErrorBody), (status = 429, description = "Rate limited", body = crate::openapi::ErrorBody)))]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = extract::bearer(&req);
    let presented = token.is_some();
    match handle_register(&req, payload, &state, token).await {
        Ok(body) => ok(StatusCode::CREATED, &body),
        Err(e) => error(e, presented),
    }
}

async fn handle_register(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    token: Option<String>,
) -> Result<Value, ApiError> {
    let settings = &state.config.registration;
    if settings.policy == RegistrationPolicy::Off {
        return Err(OAuthError::with(
            ErrorCode::NotFound,
            "dynamic client registration is disabled",
        )
        .into());
    }
    let doc = metadata(req, payload).await?;
    let address = client_address(req);
    let st = state.clone();
    let outcome = web::block(move || {
        let gate = match st.config.registration.policy {
            RegistrationPolicy::Token => Gate::Token {
                presented: token.as_deref(),
            },
            RegistrationPolicy::Open | RegistrationPolicy::Off => Gate::Open {
                limit: st.config.registration.rate_limit,
                window: st.config.registration.rate_window_secs,
            },
        };
        st.store.write(|tx| {
            register::register(tx, gate, &address, &doc, &st.issuer, now(), &mut OsRandom)
        })
    })
    .await
    .map_err(blocking_failed)?;
    match outcome {
        Ok(body) => Ok(body),
        Err(Refusal::Error(e)) => Err(e.into()),
        Err(Refusal::RateLimited(secs)) => Err(ApiError {
            error: OAuthError::with(
                ErrorCode::TemporarilyUnavailable,
                format!("too many registrations from this address: try again in {secs} seconds"),
            ),
            status: Some(StatusCode::TOO_MANY_REQUESTS),
            retry_after: Some(secs.max(1)),
        }),
    }
}

/// `GET /oauth/register/{client_id}` (RFC 7592 §2.1).
#[utoipa::path(get, path = "/oauth/register/{client_id}", tag = "registration", params(("client_id" = String, Path, description = "The registered client")), responses((status = 200, description = "The client's metadata (RFC 7592 §2.1)", content_type = "application/json"), (status = 401, description = "Wrong registration access token or unknown client", body = crate::openapi::ErrorBody), (status = 429, description = "Client blocked after wrong registration access tokens", body = crate::openapi::ErrorBody)))]
pub async fn read(
    req: HttpRequest,
    client_id: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = extract::bearer(&req);
    let presented = token.is_some();
    let id = client_id.into_inner();
    let subject = id.clone();
    let result = gated(&state, &subject, presented, async {
        read_tx(&state, move |tx, st| {
            register::read(tx, &id, token.as_deref(), &st.issuer)
        })
        .await
    })
    .await;
    match result {
        Ok(body) => ok(StatusCode::OK, &body),
        Err(e) => error(e, presented),
    }
}

/// `PUT /oauth/register/{client_id}` (RFC 7592 §2.2).
#[utoipa::path(put, path = "/oauth/register/{client_id}", tag = "registration", params(("client_id" = String, Path, description = "The registered client")), request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 200, description = "Replaced (RFC 7592 §2.2)", content_type = "application/json"), (status = 400, description = "Invalid metadata", body = crate::openapi::ErrorBody), (status = 401, description = "Wrong registration access token or unknown client", body = crate::openapi::ErrorBody), (status = 429, description = "Client blocked after wrong registration access tokens", body = crate::openapi::ErrorBody)))]
pub async fn update(
    req: HttpRequest,
    client_id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = extract::bearer(&req);
    let presented = token.is_some();
    let id = client_id.into_inner();
    let update = handle_update(&req, id.clone(), payload, &state, token);
    match gated(&state, &id, presented, update).await {
        Ok(body) => ok(StatusCode::OK, &body),
        Err(e) => error(e, presented),
    }
}

async fn handle_update(
    req: &HttpRequest,
    id: String,
    payload: web::Payload,
    state: &web::Data<AppState>,
    token: Option<String>,
) -> Result<Value, ApiError> {
    // The token first: a caller without one learns nothing about the body.
    let (check_id, check_token) = (id.clone(), token.clone());
    read_tx(state, move |tx, _| {
        register::authorize_management(tx, &check_id, check_token.as_deref()).map(drop)
    })
    .await?;
    let doc = metadata(req, payload).await?;
    let address = client_address(req);
    let st = state.clone();
    Ok(web::block(move || {
        st.store.write(|tx| {
            register::update(
                tx,
                &id,
                token.as_deref(),
                &doc,
                &address,
                &st.issuer,
                now(),
                &mut OsRandom,
            )
        })
    })
    .await
    .map_err(blocking_failed)??)
}

/// `DELETE /oauth/register/{client_id}` (RFC 7592 §2.3): 204.
#[utoipa::path(delete, path = "/oauth/register/{client_id}", tag = "registration", params(("client_id" = String, Path, description = "The registered client")), responses((status = 204, description = "Deleted (RFC 7592 §2.3)"), (status = 401, description = "Wrong registration access token or unknown client", body = crate::openapi::ErrorBody), (status = 429, description = "Client blocked after wrong registration access tokens", body = crate::openapi::ErrorBody)))]
pub async fn delete(
    req: HttpRequest,
    client_id: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = extract::bearer(&req);
    let presented = token.is_some();
    let id = client_id.into_inner();
    let subject = id.clone();
    let address = client_address(&req);
    let st = state.clone();
    let delete = async {
        web::block(move || {
            st.store.write(|tx| {
                register::delete(tx, &id, token.as_deref(), &address, now(), &mut OsRandom)
            })
        })
        .await
        .map_err(blocking_failed)
        .and_then(|r| r.map_err(ApiError::from))
    };
    match gated(&state, &subject, presented, delete).await {
        Ok(()) => HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => error(e, presented),
    }
}

/// RFC 7592 management authenticates the client by its registration access
/// token: behind the same `client:` throttle as its secret. A blocked
/// `client_id` is refused (429) before the token is checked; a wrong token
/// presented counts as a failure; a success clears the failures.
async fn gated<T>(
    state: &web::Data<AppState>,
    client_id: &str,
    token_presented: bool,
    run: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let subject = client_id.to_string();
    let before = read_tx(state, move |tx, st| {
        throttle::state(tx, &st.throttles, Kind::Client, &subject, now())
    })
    .await?;
    if let ThrottleState::Blocked(secs) = before {
        return Err(ApiError::throttled(secs));
    }
    let result = run.await;
    let id = client_id.to_string();
    match &result {
        Err(e) if token_presented && e.error.code == ErrorCode::InvalidToken => {
            record_client(state, id, true).await.and(result)
        }
        Ok(_) if before == ThrottleState::Failing => {
            record_client(state, id, false).await.and(result)
        }
        _ => result,
    }
}

/// The metadata document: `application/json` (else `invalid_request`),
/// at most the body limit, and JSON (else `invalid_client_metadata`; core
/// refuses anything but an object the same way).
async fn metadata(req: &HttpRequest, payload: web::Payload) -> Result<Value, ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::invalid_request("content type must be application/json").into());
    }
    let bytes = extract::body(payload).await?;
    serde_json::from_slice(&bytes).map_err(|_| {
        OAuthError::with(
            ErrorCode::InvalidClientMetadata,
            "the body is not valid JSON",
        )
        .into()
    })
}

/// The caller's address for the registration limit: the TCP peer, IPv4 as
/// is (also when mapped into IPv6), IPv6 by its /64 (one host usually has a
/// whole /64 to pick addresses from).
fn client_address(req: &HttpRequest) -> String {
    match req.peer_addr().map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = ip.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        None => "unknown".into(),
    }
}

/// RFC 7591 §3.2.1: the client information response, never cached.
fn ok(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// RFC errors as JSON; `invalid_token` is 401 with a Bearer challenge
/// (`error="invalid_token"` only when a token was presented, RFC 6750 §3.1).
fn error(e: ApiError, token_presented: bool) -> HttpResponse {
    let mut res = e.error_response();
    if e.error.code == ErrorCode::InvalidToken {
        let challenge = if token_presented {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

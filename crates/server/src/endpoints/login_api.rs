//! The direct login API of seed 000: `POST /api/auth/login` with JSON
//! `{"username", "password", "otp"?}` answers `{"token", "expiration",
//! "refresh_token"}`; `GET /api/auth/me` with the bearer token answers the
//! user's profile. Thin routes over the password grant of the built-in
//! first-party client.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{TimeZone, Utc};
use portcullis_core::params::Params;
use portcullis_core::ErrorCode;
use serde::Deserialize;
use serde_json::json;

use crate::auth::bearer;
use crate::endpoints::token::{password_login, ClientSource};
use crate::extract;
use crate::render::{bearer_error, token_ok, ApiError};
use crate::state::{now, AppState};

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    #[serde(default)]
    otp: Option<String>,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "login api", request_body(content = crate::openapi::LoginBody, content_type = "application/json"), responses((status = 200, description = "Signed in", body = crate::openapi::LoginAnswer), (status = 400, description = "Malformed request", body = crate::openapi::ErrorBody), (status = 401, description = "Wrong credentials or OTP required", body = crate::openapi::ErrorBody), (status = 429, description = "Throttled", body = crate::openapi::ErrorBody), (status = 503, description = "Busy", body = crate::openapi::ErrorBody)))]
pub async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state).await {
        Ok(r) => token_ok(&r),
        Err(e) => e.error_response(),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<serde_json::Value, ApiError> {
    let body: Login = extract::json(req, payload).await?;
    let mut pairs = vec![
        ("username".to_string(), body.username),
        ("password".to_string(), body.password),
    ];
    if let Some(otp) = body.otp {
        pairs.push(("otp".into(), otp));
    }
    let params = Params::parse(pairs)?;
    let lifetime = state.config.login_api.token_lifetime_secs;
    let ua = extract::user_agent(req);
    let issued = password_login(state, ClientSource::FirstParty, ua, params, lifetime)
        .await
        .map_err(|e| {
            // Wrong credentials are a 401 here, as the seed's API answers.
            if e.error.code == ErrorCode::InvalidGrant && e.status.is_none() {
                e.with_status(StatusCode::UNAUTHORIZED)
            } else {
                e
            }
        })?;
    let expiration = Utc
        .timestamp_opt(now() + issued.expires_in, 0)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok(json!({
        "token": issued.access_token,
        "expiration": expiration,
        "refresh_token": issued.refresh_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    }))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "login api", responses((status = 200, description = "The user behind the bearer token", body = crate::openapi::Me), (status = 401, description = "No, bad, expired or revoked token", body = crate::openapi::ErrorBody)))]
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match bearer(&req, &state).await {
        Ok((token, Some(user))) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({
                "id": user.id,
                "sub": user.id,
                "username": user.username,
                "email": user.email,
                "email_verified": user.email_verified,
                "admin": user.is_admin,
                "client_id": token.client_id,
                "scope": token.scope.to_string(),
            })),
        Ok((_, None)) => bearer_error(true),
        Err(e) => e.response(&state),
    }
}

//! `POST /oauth/logout` (Keycloak's refresh-token logout, seed 003): with a
//! `refresh_token` and client authentication (a public client sends its
//! `client_id` alone), the session ends and all its tokens are revoked.
//! Answers 204.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::client_auth;
use portcullis_core::sessions;

use crate::crypto::OsRandom;
use crate::extract;
use crate::render::{blocking_failed, token_error, ApiError};
use crate::state::{count_client_failure, now, AppState};

#[utoipa::path(post, path = "/oauth/logout", tag = "token", request_body(content = crate::openapi::LogoutForm, content_type = "application/x-www-form-urlencoded"), responses((status = 204, description = "Session ended, its tokens revoked"), (status = 400, description = "Error", body = crate::openapi::ErrorBody), (status = 401, description = "invalid_client", body = crate::openapi::ErrorBody), (status = 429, description = "Client blocked after failed authentications", body = crate::openapi::ErrorBody)))]
pub async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let basic_used = extract::basic(&req).ok().flatten().is_some();
    match handle(&req, payload, &state).await {
        Ok(()) => HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => token_error(e, basic_used),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<(), ApiError> {
    let params = extract::form(req, payload).await?;
    let creds = crate::client_assertion::credentials(state, req, &params).await?;
    let refresh_token = params.require("refresh_token")?.to_string();
    let (st, named) = (state.clone(), creds.clone());
    let result = web::block(move || {
        st.store.write(|tx| {
            let t = now();
            let client = client_auth::authenticate_throttled(tx, &st.throttles, &creds, t)?;
            sessions::logout(tx, &mut OsRandom, &client, &refresh_token, t)
        })
    })
    .await
    .map_err(blocking_failed)
    .and_then(|r| r.map_err(ApiError::from));
    count_client_failure(state, &named, result).await
}

//! `POST /oauth/revoke` (RFC 7009): a client revokes a token it was issued.
//! Client authentication as at the token endpoint (RFC 7009 §2.1; a public
//! client sends its `client_id` alone). A refresh token ends its whole
//! session; an access token is revoked alone; unknown or already invalid
//! tokens answer 200 all the same (§2.2); another client's token is refused
//! with `unauthorized_client` (§2.1, §2.2.1). Core
//! (`portcullis_core::revoke`) decides; this extracts and renders.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::client_auth;
use portcullis_core::introspect::TokenHint;
use portcullis_core::revoke::{self, Revocation};

use crate::crypto::OsRandom;
use crate::endpoints::introspect::{basic_attempted, shape};
use crate::extract;
use crate::render::{blocking_failed, token_error, ApiError};
use crate::state::{count_client_failure, now, AppState};

#[utoipa::path(post, path = "/oauth/revoke", tag = "token", request_body(content = crate::openapi::TokenRefForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2)"), (status = 400, description = "Error", body = crate::openapi::ErrorBody), (status = 401, description = "invalid_client", body = crate::openapi::ErrorBody), (status = 429, description = "Client blocked after failed authentications", body = crate::openapi::ErrorBody)))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let basic_used = basic_attempted(&req);
    match handle(&req, payload, &state).await {
        // RFC 7009 §2.2: "The authorization server responds with HTTP status
        // code 200 if the token has been revoked successfully or if the
        // client submitted an invalid token." The body is empty.
        Ok(_) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .finish(),
        // RFC 7009 §2.2.1: errors as RFC 6749 §5.2.
        Err(e) => token_error(e, basic_used),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<Revocation, ApiError> {
    let params = extract::form(req, payload).await?;
    let creds = crate::client_assertion::credentials(state, req, &params).await?;
    // RFC 7009 §2.1: `token` REQUIRED, `token_type_hint` OPTIONAL (an
    // unknown hint is ignored: the search covers every kind anyway).
    let token = params.require("token")?.to_string();
    let hint = TokenHint::parse(params.get("token_type_hint"));
    let t = now();
    let token = shape(state, token, t);
    let (st, named) = (state.clone(), creds.clone());
    let result = web::block(move || {
        st.store.write(|tx| {
            let client = client_auth::authenticate_throttled(tx, &st.throttles, &creds, t)?;
            revoke::revoke(tx, &mut OsRandom, &client, token.presented(), hint, t)
        })
    })
    .await
    .map_err(blocking_failed)
    .and_then(|r| r.map_err(ApiError::from));
    count_client_failure(state, &named, result).await
}

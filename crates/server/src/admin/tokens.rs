//! `GET /admin/api/tokens?user_id=...` or `?client_id=...`: access and
//! refresh token records (never a token or its hash), and
//! `DELETE /admin/api/tokens/{jti}`: revoke one access token.

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, AdminError, PageParams};
use portcullis_core::ports::TokenOwner;

use super::views::token_json;
use super::{authorize, done, page, query, read, write, Answer};
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/api/tokens", tag = "admin", params(("user_id" = Option<String>, Query), ("client_id" = Option<String>, Query), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "Tokens of a user or a client (never the token or its hash)", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    authorize(&req, &state).await?;
    let q = query(&req)?;
    let p = PageParams::from_query(&q)?;
    let owner = match (q.get("user_id"), q.get("client_id")) {
        (Some(u), None) => (true, u.to_string()),
        (None, Some(c)) => (false, c.to_string()),
        _ => return Err(AdminError::invalid("give exactly one of user_id and client_id").into()),
    };
    let found = read(&state, move |tx, _, _| {
        let who = if owner.0 {
            TokenOwner::User(&owner.1)
        } else {
            TokenOwner::Client(&owner.1)
        };
        admin::list_tokens(tx, who, &p)
    })
    .await?;
    Ok(page(found, token_json))
}

#[utoipa::path(delete, path = "/admin/api/tokens/{jti}", tag = "admin", params(("jti" = String, Path)), responses((status = 204, description = "Revoke a token"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    jti: web::Path<String>,
) -> Answer {
    let actor = authorize(&req, &state).await?;
    let jti = jti.into_inner();
    write(&state, move |tx, rng, t| {
        admin::revoke_access_token(tx, rng, &actor, &jti, t)
    })
    .await?;
    Ok(done())
}

//! Personal access tokens, as an administrator sees them:
//! `GET /admin/api/users/{id}/pats`, `POST /admin/api/pats/{id}/disable`
//! and `/enable`, `DELETE /admin/api/pats/{id}` (revoke for good). Built
//! on the `PatStore` port alone; the tokens themselves are made elsewhere.

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, PageParams};

use super::views::pat_json;
use super::{authorize, done, page, query, read, write, Answer};
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/api/users/{id}/pats", tag = "admin", params(("id" = String, Path), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "A user's personal access tokens", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let id = id.into_inner();
    let found = read(&state, move |tx, _, _| admin::list_pats(tx, &id, &p)).await?;
    Ok(page(found, pat_json))
}

async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: String,
    disabled: bool,
) -> Answer {
    let actor = authorize(&req, &state).await?;
    write(&state, move |tx, rng, t| {
        admin::set_pat_disabled(tx, rng, &actor, &id, disabled, t)
    })
    .await?;
    Ok(done())
}

#[utoipa::path(post, path = "/admin/api/pats/{id}/disable", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Disable a personal access token"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    set_disabled(req, state, id.into_inner(), true).await
}

#[utoipa::path(post, path = "/admin/api/pats/{id}/enable", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Enable a personal access token"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn enable(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    set_disabled(req, state, id.into_inner(), false).await
}

#[utoipa::path(delete, path = "/admin/api/pats/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Revoke a personal access token"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn revoke(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let id = id.into_inner();
    write(&state, move |tx, rng, t| {
        admin::revoke_pat(tx, rng, &actor, &id, t)
    })
    .await?;
    Ok(done())
}

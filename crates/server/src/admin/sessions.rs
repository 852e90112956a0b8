//! `GET /admin/api/users/{id}/sessions` (live sessions) and
//! `DELETE /admin/api/sessions/{id}` (end one: every token of it is
//! revoked).

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, PageParams};

use super::views::session_json;
use super::{authorize, done, page, query, read, write, Answer};
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/api/users/{id}/sessions", tag = "admin", params(("id" = String, Path), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "A user's live sessions", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let id = id.into_inner();
    let idle = state.policy.session_idle;
    let found = read(&state, move |tx, _, t| {
        admin::list_sessions(tx, &id, &p, t, idle)
    })
    .await?;
    Ok(page(found, |s| session_json(s, idle)))
}

#[utoipa::path(delete, path = "/admin/api/sessions/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "End a session and revoke its tokens"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn revoke(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let id = id.into_inner();
    write(&state, move |tx, rng, t| {
        admin::revoke_session(tx, rng, &id, t)
    })
    .await?;
    Ok(done())
}

//! `/admin/api/users`: list, get, create, change (e-mail, administrator
//! flag, password), disable (ending every session), enable, delete.
//! Passwords are hashed with Argon2id on the server's hashing pool, never
//! on an async thread; neither a password nor its hash is ever shown.

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, Actor, PageParams, UserPatch};
use serde::Deserialize;

use super::views::user_json;
use super::Failure;
use super::{authorize, body, created, done, nullable, ok, page, query, read, write, Answer};
use crate::render::{blocking_failed, ApiError};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    username: String,
    email: Option<String>,
    password: String,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatchBody {
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    email_verified: Option<bool>,
    admin: Option<bool>,
    password: Option<String>,
}

/// Argon2id on the pool: 503 `temporarily_unavailable` when its queue is full.
async fn hash(state: &web::Data<AppState>, password: String) -> Result<String, Failure> {
    admin::check_password(&password)?;
    match state.hasher.hash(password).await {
        Ok(Ok(phc)) => Ok(phc),
        Ok(Err(cause)) => Err(blocking_failed(format!("password hashing: {cause}")).into()),
        Err(_) => Err(ApiError::busy().into()),
    }
}

#[utoipa::path(get, path = "/admin/api/users", tag = "admin", params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "List users", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let found = read(&state, move |tx, _, _| admin::list_users(tx, &p)).await?;
    Ok(page(found, user_json))
}

#[utoipa::path(get, path = "/admin/api/users/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "One user", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn get(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let id = id.into_inner();
    let u = read(&state, move |tx, _, _| admin::get_user(tx, &id)).await?;
    Ok(ok(user_json(&u)))
}

#[utoipa::path(post, path = "/admin/api/users", tag = "admin", request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 201, description = "Create a user", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn create(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let b: NewUserBody = body(&req, payload).await?;
    let phc = hash(&state, b.password).await?;
    let u = write(&state, move |tx, rng, t| {
        admin::create_user(
            tx,
            rng,
            &actor,
            &b.username,
            b.email.as_deref(),
            Some(phc),
            b.admin,
            t,
        )
    })
    .await?;
    Ok(created(user_json(&u)))
}

#[utoipa::path(patch, path = "/admin/api/users/{id}", tag = "admin", params(("id" = String, Path)), request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 200, description = "Update a user", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn update(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    let actor = authorize(&req, &state).await?;
    let b: UserPatchBody = body(&req, payload).await?;
    let password_hash = match b.password {
        Some(p) => Some(hash(&state, p).await?),
        None => None,
    };
    let patch = UserPatch {
        email: b.email,
        email_verified: b.email_verified,
        is_admin: b.admin,
        password_hash,
    };
    let id = id.into_inner();
    let u = write(&state, move |tx, rng, t| {
        admin::update_user(tx, rng, &actor, &id, patch, t)
    })
    .await?;
    Ok(ok(user_json(&u)))
}

async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: String,
    disabled: bool,
) -> Answer {
    let actor: Actor = authorize(&req, &state).await?;
    let u = write(&state, move |tx, rng, t| {
        admin::set_user_disabled(tx, rng, &actor, &id, disabled, t)
    })
    .await?;
    Ok(ok(user_json(&u)))
}

/// `POST /admin/api/users/{id}/disable`: every session of the user ends.
#[utoipa::path(post, path = "/admin/api/users/{id}/disable", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "Disable a user and end their sessions", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    set_disabled(req, state, id.into_inner(), true).await
}

#[utoipa::path(post, path = "/admin/api/users/{id}/enable", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "Enable a user", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn enable(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    set_disabled(req, state, id.into_inner(), false).await
}

#[utoipa::path(delete, path = "/admin/api/users/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Delete a user"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let id = id.into_inner();
    write(&state, move |tx, rng, t| {
        admin::delete_user(tx, rng, &actor, &id, t)
    })
    .await?;
    Ok(done())
}

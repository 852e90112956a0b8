//! `GET /.well-known/oauth-protected-resource<path>`: protected resource
//! metadata (RFC 9728 §3) for the configured resources on the issuer's
//! origin. The well-known suffix goes between the host and the resource's
//! path (§3.1), so these routes hang off the origin's root, not the issuer's
//! path. Resources elsewhere serve their own (`portcullis resource
//! metadata <uri>` prints it).

use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::resources::{metadata, served_at};
use portcullis_core::{ErrorCode, OAuthError};

use crate::render::json_error;
use crate::state::AppState;

fn answer(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let query = Some(req.query_string());
    match served_at(&state.policy.resources, &state.issuer, req.path(), query) {
        // RFC 9728 §3.2: a 200 with an application/json body.
        Some(r) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "public, max-age=300"))
            .json(metadata(r, &state.issuer)),
        None => json_error(&OAuthError::with(
            ErrorCode::NotFound,
            "no protected resource of this server has its metadata here",
        )),
    }
}

/// The metadata of a resource at the origin's root.
#[utoipa::path(get, path = "/.well-known/oauth-protected-resource", tag = "discovery", responses((status = 200, description = "Protected resource metadata (RFC 9728 §2) of the configured resource at the root of the issuer's origin", content_type = "application/json"), (status = 404, description = "No such resource is configured", body = crate::openapi::ErrorBody)))]
pub async fn root(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state)
}

/// The metadata of a resource with a path (RFC 9728 §3.1 path insertion:
/// `https://host/mcp` has its metadata at
/// `https://host/.well-known/oauth-protected-resource/mcp`).
#[utoipa::path(get, path = "/.well-known/oauth-protected-resource/{path}", tag = "discovery", params(("path" = String, Path, description = "The resource's path, without its leading slash")), responses((status = 200, description = "Protected resource metadata (RFC 9728 §2) of the configured resource on the issuer's origin with this path", content_type = "application/json"), (status = 404, description = "No such resource is configured", body = crate::openapi::ErrorBody)))]
pub async fn with_path(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state)
}

//! `GET /admin/api/events`: the audit trail, newest first, filtered by
//! `kind`, `user_id`, `client_id` and `since` (Unix seconds).

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, PageParams};

use super::views::event_json;
use super::{authorize, page, query, read, Answer};
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/api/events", tag = "admin", params(("kind" = Option<String>, Query), ("user_id" = Option<String>, Query), ("client_id" = Option<String>, Query), ("since" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "Audit events, newest first", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    authorize(&req, &state).await?;
    let q = query(&req)?;
    let p = PageParams::from_query(&q)?;
    let filter = admin::event_filter(&q)?;
    let found = read(&state, move |tx, _, _| admin::list_events(tx, &filter, &p)).await?;
    Ok(page(found, event_json))
}

//! `GET /healthz` (the process answers) and `GET /readyz` (the database
//! answers; 503 when it does not).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "The process answers", body = crate::openapi::Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "meta", responses((status = 200, description = "The database answers", body = crate::openapi::Health), (status = 503, description = "The database does not answer", body = crate::openapi::Health)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    match web::block(move || store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
        }
        Err(e) => {
            tracing::warn!(cause = %e, "readiness check did not run");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
        }
    }
}

//! `GET /healthz` (the process answers) and `GET /readyz` (the database
//! answers; 503 when it does not).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

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

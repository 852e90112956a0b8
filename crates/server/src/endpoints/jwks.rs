//! `GET /oauth/jwks`: the public signing keys (RFC 7517 §5), including keys
//! published ahead of use and retiring keys whose tokens may still be live.

use actix_web::{web, HttpResponse};

use crate::state::{now, AppState};

#[utoipa::path(get, path = "/oauth/jwks", tag = "discovery", responses((status = 200, description = "Public signing keys (RFC 7517 §5)", content_type = "application/jwk-set+json")))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let body = state.keys.current().jwks(now());
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(body)
}

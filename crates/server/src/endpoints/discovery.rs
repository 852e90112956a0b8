//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §4) and
//! `GET /.well-known/oauth-authorization-server` (RFC 8414 §3), with the
//! path-insertion forms for an issuer with a path (RFC 8414 §3.1).

use actix_web::{web, HttpResponse};
use portcullis_core::discovery::{self, Capabilities};
use portcullis_core::Issuer;

use crate::state::AppState;

/// What this build offers. Endpoints join the list as they are built, so
/// the metadata never advertises what does not work.
pub fn capabilities() -> Capabilities {
    Capabilities {
        grant_types: vec![
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
        ],
        token_endpoint_auth_methods: vec!["client_secret_basic", "client_secret_post", "none"],
        scopes: ["openid", "profile", "email", "offline_access"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        userinfo_path: Some("/oauth/userinfo"),
        registration_path: None,
        introspection_path: Some("/oauth/introspect"),
        revocation_path: Some("/oauth/revoke"),
        end_session_path: Some("/oauth/end-session"),
        authorization_response_iss: true,
    }
}

pub fn document(issuer: &Issuer) -> String {
    serde_json::to_string(&discovery::metadata(issuer, &capabilities())).unwrap_or_default()
}

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(state.metadata_json.clone())
}

//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §4) and
//! `GET /.well-known/oauth-authorization-server` (RFC 8414 §3), with the
//! path-insertion forms for an issuer with a path (RFC 8414 §3.1).

use actix_web::{web, HttpResponse};
use portcullis_core::discovery::{self, Capabilities};
use portcullis_core::Issuer;

use crate::config::{Config, RegistrationPolicy};
use crate::state::AppState;

/// What this build offers. Endpoints join the list as they are built, so
/// the metadata never advertises what does not work; `registration_endpoint`
/// appears unless `registration.policy` is `off`.
pub fn capabilities(config: &Config) -> Capabilities {
    Capabilities {
        grant_types: vec![
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        token_endpoint_auth_methods: vec![
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        scopes: ["openid", "profile", "email", "offline_access"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        userinfo_path: Some("/oauth/userinfo"),
        registration_path: (config.registration.policy != RegistrationPolicy::Off)
            .then_some(portcullis_core::register::REGISTER_PATH),
        introspection_path: Some("/oauth/introspect"),
        revocation_path: Some("/oauth/revoke"),
        end_session_path: Some("/oauth/end-session"),
        pushed_authorization_request_path: Some(portcullis_core::par::PAR_PATH),
        device_authorization_path: Some(
            portcullis_core::grants::device_code::DEVICE_AUTHORIZATION_PATH,
        ),
        authorization_response_iss: true,
        client_id_metadata_documents: config.client_metadata_documents.enabled,
    }
}

pub fn document(issuer: &Issuer, config: &Config) -> String {
    serde_json::to_string(&discovery::metadata(issuer, &capabilities(config))).unwrap_or_default()
}

/// RFC 8414 §3: the same document at its own well-known name.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery", responses((status = 200, description = "Authorization server metadata (RFC 8414 §3)", content_type = "application/json")))]
pub async fn oauth_metadata(state: web::Data<AppState>) -> HttpResponse {
    metadata(state).await
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery", responses((status = 200, description = "OpenID Provider metadata (OIDC Discovery §4); the same document as RFC 8414 metadata", content_type = "application/json")))]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(state.metadata_json.clone())
}

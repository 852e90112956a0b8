//! The one routing table. Endpoints hang off the issuer's path, so an issuer
//! `https://host/tenant` serves `/tenant/oauth/token`.

use actix_cors::Cors;
use actix_web::{web, HttpResponse};
use portcullis_core::{ErrorCode, Issuer, OAuthError};

use crate::endpoints::{
    authorize, discovery, end_session, health, jwks, login_api, logout, token, userinfo,
};
use crate::render::json_error;

/// Metadata and JWKS may be read from any origin (browser-based clients and
/// MCP clients fetch them cross-origin). MCP clients send their protocol
/// revision in `MCP-Protocol-Version` on discovery, so a preflight naming it
/// is answered too.
fn public_cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET"])
        .allowed_headers(["MCP-Protocol-Version"])
        .max_age(86_400)
}

/// Endpoints that browser-based and MCP clients call cross-origin
/// (registration, token, revocation): any origin, credentials in headers,
/// never cookies.
fn api_cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        // RFC 9449: browser clients send DPoP proofs and read server nonces.
        .allowed_headers([
            "Authorization",
            "Content-Type",
            "MCP-Protocol-Version",
            "DPoP",
        ])
        .expose_headers(["WWW-Authenticate", "Retry-After", "DPoP-Nonce"])
        .max_age(86_400)
}

pub fn configure(cfg: &mut web::ServiceConfig, issuer: &Issuer) {
    let path = issuer.path();
    let base = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };

    // OIDC Discovery §4: issuer + /.well-known/openid-configuration.
    let mut oidc_paths = vec![format!("{base}/.well-known/openid-configuration")];
    let oauth_path = if path.is_empty() {
        "/.well-known/oauth-authorization-server".to_string()
    } else {
        // RFC 8414 §3.1: the well-known segment goes between host and path.
        oidc_paths.push(format!("/.well-known/openid-configuration/{path}"));
        format!("/.well-known/oauth-authorization-server/{path}")
    };
    for p in oidc_paths {
        cfg.service(
            web::resource(p)
                .wrap(public_cors())
                .route(web::get().to(discovery::metadata)),
        );
    }
    cfg.service(
        web::resource(oauth_path)
            .wrap(public_cors())
            .route(web::get().to(discovery::oauth_metadata)),
    );
    // RFC 9728 §3.1: protected resource metadata, at the origin's root.
    {
        use crate::endpoints::resource_metadata;
        cfg.service(
            web::resource(portcullis_core::resources::METADATA_SUFFIX)
                .wrap(public_cors())
                .route(web::get().to(resource_metadata::root)),
        );
        cfg.service(
            web::resource(format!(
                "{}/{{path:.*}}",
                portcullis_core::resources::METADATA_SUFFIX
            ))
            .wrap(public_cors())
            .route(web::get().to(resource_metadata::with_path)),
        );
    }
    cfg.route("/openapi.json", web::get().to(crate::openapi::openapi_json));
    cfg.service(
        web::resource(format!("{base}/oauth/jwks"))
            .wrap(public_cors())
            .route(web::get().to(jwks::jwks)),
    );
    cfg.route(
        &format!("{base}/oauth/authorize"),
        web::get().to(authorize::authorize),
    );
    cfg.route(
        &format!("{base}/oauth/authorize"),
        web::post().to(authorize::authorize),
    );
    cfg.route(
        &format!("{base}/oauth/authorize/login"),
        web::post().to(authorize::login),
    );
    cfg.route(
        &format!("{base}/oauth/authorize/otp"),
        web::post().to(authorize::otp),
    );
    cfg.route(
        &format!("{base}/oauth/authorize/consent"),
        web::post().to(authorize::consent),
    );
    cfg.route(
        &format!("{base}/oauth/userinfo"),
        web::get().to(userinfo::userinfo),
    );
    cfg.route(
        &format!("{base}/oauth/userinfo"),
        web::post().to(userinfo::userinfo),
    );
    cfg.route(
        &format!("{base}/oauth/end-session"),
        web::get().to(end_session::end_session),
    );
    cfg.route(
        &format!("{base}/oauth/end-session"),
        web::post().to(end_session::end_session),
    );
    cfg.route(
        &format!("{base}/oauth/end-session/confirm"),
        web::post().to(end_session::confirm),
    );
    cfg.service(
        web::resource(format!("{base}/oauth/token"))
            .wrap(api_cors())
            .route(web::post().to(token::token)),
    );
    // RFC 9126: the pushed authorization request endpoint.
    cfg.service(
        web::resource(format!("{base}{}", portcullis_core::par::PAR_PATH))
            .wrap(api_cors())
            .route(web::post().to(crate::endpoints::par::par)),
    );
    // RFC 8628: the device authorization endpoint and the verification page.
    {
        use crate::endpoints::{device, device_authorization};
        cfg.service(
            web::resource(format!(
                "{base}{}",
                portcullis_core::grants::device_code::DEVICE_AUTHORIZATION_PATH
            ))
            .wrap(api_cors())
            .route(web::post().to(device_authorization::device_authorization)),
        );
        cfg.route(&format!("{base}/device"), web::get().to(device::verify));
        cfg.route(&format!("{base}/device"), web::post().to(device::submit));
        cfg.route(
            &format!("{base}/device/login"),
            web::post().to(device::login),
        );
        cfg.route(&format!("{base}/device/otp"), web::post().to(device::otp));
        cfg.route(
            &format!("{base}/device/consent"),
            web::post().to(device::consent),
        );
    }
    // RFC 7591 registration and the RFC 7592 client configuration endpoint.
    {
        use crate::endpoints::register;
        cfg.service(
            web::resource(format!("{base}/oauth/register"))
                .wrap(api_cors())
                .route(web::post().to(register::register)),
        );
        cfg.service(
            web::resource(format!("{base}/oauth/register/{{client_id}}"))
                .wrap(api_cors())
                .route(web::get().to(register::read))
                .route(web::put().to(register::update))
                .route(web::delete().to(register::delete)),
        );
    }
    cfg.route(
        &format!("{base}/oauth/logout"),
        web::post().to(logout::logout),
    );
    // RFC 7662 token introspection and RFC 7009 revocation.
    cfg.route(
        &format!("{base}/oauth/introspect"),
        web::post().to(crate::endpoints::introspect::introspect),
    );
    cfg.service(
        web::resource(format!("{base}/oauth/revoke"))
            .wrap(api_cors())
            .route(web::post().to(crate::endpoints::revoke::revoke)),
    );
    cfg.route(
        &format!("{base}/api/auth/login"),
        web::post().to(login_api::login),
    );
    cfg.route(&format!("{base}/api/auth/me"), web::get().to(login_api::me));
    // Personal access tokens, and forward auth for gateways (any method:
    // gateways forward the original one).
    {
        use crate::endpoints::{forward_auth, pats};
        cfg.route(
            &format!("{base}/oauth/forward-auth"),
            web::route().to(forward_auth::forward_auth),
        );
        cfg.route(&format!("{base}/api/pats"), web::post().to(pats::create));
        cfg.route(&format!("{base}/api/pats"), web::get().to(pats::list));
        cfg.route(&format!("{base}/api/pats/{{id}}"), web::get().to(pats::get));
        cfg.route(
            &format!("{base}/api/pats/{{id}}"),
            web::delete().to(pats::delete),
        );
        cfg.route(
            &format!("{base}/api/pats/{{id}}/disable"),
            web::post().to(pats::disable),
        );
        cfg.route(
            &format!("{base}/api/pats/{{id}}/enable"),
            web::post().to(pats::enable),
        );
    }
    // The account pages and the read-only admin page (docs/account.md).
    {
        use crate::endpoints::account::{admin, home, passkeys, security, sessions, tokens};
        cfg.route(&format!("{base}/account"), web::get().to(home::overview));
        cfg.route(
            &format!("{base}/account/login"),
            web::post().to(home::login),
        );
        cfg.route(&format!("{base}/account/otp"), web::post().to(home::otp));
        cfg.route(
            &format!("{base}/account/logout"),
            web::post().to(home::logout),
        );
        cfg.route(
            &format!("{base}/account/totp"),
            web::get().to(security::totp_get),
        );
        cfg.route(
            &format!("{base}/account/totp"),
            web::post().to(security::totp_post),
        );
        cfg.route(
            &format!("{base}/account/totp/disable"),
            web::post().to(security::totp_disable),
        );
        cfg.route(
            &format!("{base}/account/totp/codes"),
            web::post().to(security::totp_codes),
        );
        cfg.route(
            &format!("{base}/account/passkeys"),
            web::get().to(passkeys::list),
        );
        cfg.route(
            &format!("{base}/account/passkeys"),
            web::post().to(passkeys::add),
        );
        cfg.route(
            &format!("{base}/account/passkeys/rename"),
            web::post().to(passkeys::rename),
        );
        cfg.route(
            &format!("{base}/account/passkeys/remove"),
            web::post().to(passkeys::remove),
        );
        cfg.route(
            &format!("{base}/account/password"),
            web::get().to(security::password_get),
        );
        cfg.route(
            &format!("{base}/account/password"),
            web::post().to(security::password_post),
        );
        cfg.route(
            &format!("{base}/account/sessions"),
            web::get().to(sessions::list),
        );
        cfg.route(
            &format!("{base}/account/sessions/end"),
            web::post().to(sessions::end),
        );
        cfg.route(
            &format!("{base}/account/consents"),
            web::get().to(sessions::consents),
        );
        cfg.route(
            &format!("{base}/account/consents/revoke"),
            web::post().to(sessions::revoke),
        );
        cfg.route(
            &format!("{base}/account/tokens"),
            web::get().to(tokens::list),
        );
        cfg.route(
            &format!("{base}/account/tokens"),
            web::post().to(tokens::create),
        );
        cfg.route(
            &format!("{base}/account/tokens/change"),
            web::post().to(tokens::change),
        );
        cfg.route(&format!("{base}/admin"), web::get().to(admin::page));
    }
    crate::admin::configure(cfg, &base);
    cfg.route("/healthz", web::get().to(health::healthz));
    cfg.route("/readyz", web::get().to(health::readyz));
}

/// Unknown paths get a JSON 404.
pub async fn not_found() -> HttpResponse {
    json_error(&OAuthError::with(ErrorCode::NotFound, "no such endpoint"))
}

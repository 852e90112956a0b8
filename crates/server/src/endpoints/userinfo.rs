//! `GET`/`POST /oauth/userinfo` (OIDC Core §5.3): claims about the user
//! behind a bearer token, by the scopes it carries (§5.4). A bad or expired
//! token: 401 with `WWW-Authenticate: Bearer error="invalid_token"`
//! (RFC 6750 §3.1); a token without `openid`: 403 `insufficient_scope`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::auth::bearer;
use crate::render::bearer_error;
use crate::state::AppState;

#[utoipa::path(method(get, post), path = "/oauth/userinfo", tag = "openid", responses((status = 200, description = "Claims by scope (OIDC Core §5.3)", body = crate::openapi::UserInfoBody), (status = 401, description = "Bad token (RFC 6750 §3.1)", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope", body = crate::openapi::ErrorBody)))]
pub async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (token, user) = match bearer(&req, &state).await {
        Ok((t, Some(u))) => (t, u),
        Ok((_, None)) => return bearer_error(true),
        Err(e) => return e.response(&state),
    };
    if !token.scope.contains("openid") {
        return HttpResponse::Forbidden()
            .insert_header((
                "WWW-Authenticate",
                "Bearer error=\"insufficient_scope\", scope=\"openid\"",
            ))
            .json(json!({"error": "insufficient_scope"}));
    }
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id));
    if token.scope.contains("profile") {
        claims.insert("preferred_username".into(), json!(user.username));
        claims.insert("updated_at".into(), json!(user.updated_at));
    }
    if token.scope.contains("email") {
        if let Some(e) = &user.email {
            claims.insert("email".into(), json!(e));
            claims.insert("email_verified".into(), json!(user.email_verified));
        }
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(Value::Object(claims))
}

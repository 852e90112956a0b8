//! `/admin/api/clients`: list, get, register (the rules and defaults of
//! `portcullis client add`), change metadata, delete, rotate the secret.

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, AdminResult, ClientPatch, PageParams};
use portcullis_core::client_assertion;
use portcullis_core::clients::ClientSpec;
use portcullis_core::model::{ClientAuthMethod, GrantType, Scopes, SigningAlg, TokenFormat};
use portcullis_core::ErrorCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::views::client_json;
use super::{authorize, body, created, done, ok, page, parse_field, query, read, write, Answer};
use crate::state::AppState;

const META: ErrorCode = ErrorCode::InvalidClientMetadata;

fn grant_types(v: Option<Vec<String>>) -> AdminResult<Option<Vec<GrantType>>> {
    v.map(|list| {
        list.iter()
            .map(|g| parse_field(g, "grant_types", META))
            .collect()
    })
    .transpose()
}

fn scope(v: Option<String>) -> AdminResult<Option<Scopes>> {
    v.map(|s| {
        Scopes::parse(&s).map_err(|e| {
            admin::AdminError::OAuth(portcullis_core::OAuthError::with(
                ErrorCode::InvalidClientMetadata,
                format!("scope: {e}"),
            ))
        })
    })
    .transpose()
}

fn opt<T: std::str::FromStr>(v: Option<String>, field: &str) -> AdminResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    v.map(|s| parse_field(&s, field, META)).transpose()
}

/// `POST /admin/api/clients`: RFC 7591 metadata names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    client_name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    grant_types: Option<Vec<String>>,
    scope: Option<String>,
    token_endpoint_auth_method: Option<String>,
    access_token_format: Option<String>,
    signing_alg: Option<String>,
    application_type: Option<String>,
    metadata: Option<Value>,
    /// RFC 7591 §2: the client's public keys (`private_key_jwt`).
    jwks: Option<Value>,
    jwks_uri: Option<String>,
}

impl NewClientBody {
    fn spec(self) -> AdminResult<ClientSpec> {
        Ok(ClientSpec {
            name: self.client_name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: grant_types(self.grant_types)?,
            scope: scope(self.scope)?,
            auth_method: opt::<ClientAuthMethod>(
                self.token_endpoint_auth_method,
                "token_endpoint_auth_method",
            )?,
            access_token_format: opt::<TokenFormat>(
                self.access_token_format,
                "access_token_format",
            )?,
            signing_alg: opt::<SigningAlg>(self.signing_alg, "signing_alg")?,
            application_type: self.application_type,
            metadata: client_assertion::with_keys(self.metadata, self.jwks, self.jwks_uri),
        })
    }
}

/// `PATCH /admin/api/clients/{id}`: any of these; absent ones stay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientPatchBody {
    client_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    scope: Option<String>,
    access_token_format: Option<String>,
    signing_alg: Option<String>,
    application_type: Option<String>,
    metadata: Option<Value>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    is_resource_server: Option<bool>,
    disabled: Option<bool>,
}

impl ClientPatchBody {
    fn patch(self) -> AdminResult<ClientPatch> {
        Ok(ClientPatch {
            name: self.client_name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: grant_types(self.grant_types)?,
            scope: scope(self.scope)?,
            access_token_format: opt::<TokenFormat>(
                self.access_token_format,
                "access_token_format",
            )?,
            signing_alg: opt::<SigningAlg>(self.signing_alg, "signing_alg")?,
            application_type: self.application_type,
            metadata: self.metadata,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            is_resource_server: self.is_resource_server,
            disabled: self.disabled,
        })
    }
}

#[utoipa::path(get, path = "/admin/api/clients", tag = "admin", params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, description = "List clients", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let found = read(&state, move |tx, _, _| admin::list_clients(tx, &p)).await?;
    Ok(page(found, client_json))
}

#[utoipa::path(get, path = "/admin/api/clients/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "One client", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn get(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let id = id.into_inner();
    let c = read(&state, move |tx, _, _| admin::get_client(tx, &id)).await?;
    Ok(ok(client_json(&c)))
}

#[utoipa::path(post, path = "/admin/api/clients", tag = "admin", request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 201, description = "Create a client (the secret is shown once)", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn create(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let spec = body::<NewClientBody>(&req, payload).await?.spec()?;
    let made = write(&state, move |tx, rng, t| {
        admin::create_client(tx, rng, &actor, spec, t)
    })
    .await?;
    let mut out = client_json(&made.client);
    if let (Some(obj), Some(secret)) = (out.as_object_mut(), made.secret) {
        obj.insert("client_secret".into(), json!(secret));
    }
    Ok(created(out))
}

#[utoipa::path(patch, path = "/admin/api/clients/{id}", tag = "admin", params(("id" = String, Path)), request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 200, description = "Update a client", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn update(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    let actor = authorize(&req, &state).await?;
    let patch = body::<ClientPatchBody>(&req, payload).await?.patch()?;
    let id = id.into_inner();
    let c = write(&state, move |tx, rng, t| {
        admin::update_client(tx, rng, &actor, &id, patch, t)
    })
    .await?;
    Ok(ok(client_json(&c)))
}

#[utoipa::path(delete, path = "/admin/api/clients/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Delete a client"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let id = id.into_inner();
    write(&state, move |tx, rng, t| {
        admin::delete_client(tx, rng, &actor, &id, t)
    })
    .await?;
    Ok(done())
}

/// `POST /admin/api/clients/{id}/secret`: a new secret, shown once.
#[utoipa::path(post, path = "/admin/api/clients/{id}/secret", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "Rotate the secret (shown once)", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    let actor = authorize(&req, &state).await?;
    let id = id.into_inner();
    let (c, secret) = write(&state, move |tx, rng, t| {
        admin::rotate_client_secret(tx, rng, &actor, &id, t)
    })
    .await?;
    Ok(ok(json!({
        "client_id": c.id,
        "client_secret": secret,
        "client_secret_expires_at": c.secret_expires_at,
    })))
}

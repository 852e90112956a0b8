//! The admin API: JSON under `/admin/api` (below the issuer's path, like
//! every route), for a bearer access token with scope `admin` of an
//! administrator (`is_admin`) or of a client registered with `admin`
//! (client credentials). Core (`portcullis_core::admin`) decides who may do
//! what and checks input; this module extracts, runs one transaction on a
//! blocking thread, and renders. A module per resource; `configure` wires
//! them all.
//!
//! Answers: lists are `{"items": [...], "next_cursor": "..." | null}`;
//! errors are `{"error", "error_description"}`: 400 `invalid_request` (and
//! `invalid_redirect_uri` / `invalid_client_metadata` for client metadata),
//! 401 without a good token, 403 `insufficient_scope`, 404 `not_found`,
//! 409 `conflict`, 503 `temporarily_unavailable` when the password hashing
//! queue is full. See docs/endpoints.md, "Admin API".

pub mod clients;
pub mod events;
pub mod keys;
pub mod pats;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod views;

use std::fmt;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::access::TokenRef;
use portcullis_core::admin::{self, Actor, AdminError, AdminResult, Page};
use portcullis_core::introspect::BearerRefusal;
use portcullis_core::params::Params;
use portcullis_core::ports::Random;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_storage::Tx;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::crypto::OsRandom;
use crate::endpoints::introspect::{shape, Shape};
use crate::extract;
use crate::render::{bearer_error, blocking_failed, json_error, ApiError};
use crate::state::{now, AppState};

/// Register every admin route under `{base}/admin/api` (`base` is the
/// issuer's path, `""` or `/tenant`).
pub fn configure(cfg: &mut web::ServiceConfig, base: &str) {
    let p = |rest: &str| format!("{base}/admin/api{rest}");
    let resource = |rest: &str| web::resource(p(rest)).default_service(web::to(not_allowed));
    cfg.service(
        resource("/clients")
            .route(web::get().to(clients::list))
            .route(web::post().to(clients::create)),
    );
    cfg.service(
        resource("/clients/{id}")
            .route(web::get().to(clients::get))
            .route(web::patch().to(clients::update))
            .route(web::delete().to(clients::delete)),
    );
    cfg.service(resource("/clients/{id}/secret").route(web::post().to(clients::rotate_secret)));
    cfg.service(
        resource("/users")
            .route(web::get().to(users::list))
            .route(web::post().to(users::create)),
    );
    cfg.service(
        resource("/users/{id}")
            .route(web::get().to(users::get))
            .route(web::patch().to(users::update))
            .route(web::delete().to(users::delete)),
    );
    cfg.service(resource("/users/{id}/disable").route(web::post().to(users::disable)));
    cfg.service(resource("/users/{id}/enable").route(web::post().to(users::enable)));
    cfg.service(resource("/users/{id}/sessions").route(web::get().to(sessions::list)));
    cfg.service(resource("/users/{id}/pats").route(web::get().to(pats::list)));
    cfg.service(resource("/sessions/{id}").route(web::delete().to(sessions::revoke)));
    cfg.service(resource("/tokens").route(web::get().to(tokens::list)));
    cfg.service(resource("/tokens/{jti}").route(web::delete().to(tokens::revoke)));
    cfg.service(resource("/pats/{id}").route(web::delete().to(pats::revoke)));
    cfg.service(resource("/pats/{id}/disable").route(web::post().to(pats::disable)));
    cfg.service(resource("/pats/{id}/enable").route(web::post().to(pats::enable)));
    cfg.service(resource("/keys").route(web::get().to(keys::list)));
    cfg.service(resource("/keys/rotate").route(web::post().to(keys::rotate)));
    cfg.service(resource("/events").route(web::get().to(events::list)));
}

/// A known path with a method it does not answer.
async fn not_allowed() -> HttpResponse {
    let mut res = json_error(&OAuthError::invalid_request(
        "method not allowed on this path",
    ));
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res
}

/// Why an admin request failed; rendered by [`ResponseError`].
#[derive(Debug)]
pub enum Failure {
    /// No bearer token (`false`) or one that is not good (`true`): 401.
    Unauthorized {
        presented: bool,
    },
    /// A good token that is not an administrator's: 403.
    Forbidden,
    Admin(AdminError),
    /// An error with its own status (a full hashing queue: 503).
    Api(ApiError),
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        Failure::Admin(e)
    }
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::Admin(AdminError::OAuth(e))
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unauthorized { .. } => f.write_str("unauthorized"),
            Failure::Forbidden => f.write_str("insufficient_scope"),
            Failure::Admin(AdminError::OAuth(e)) => e.fmt(f),
            Failure::Admin(AdminError::Conflict(m)) => write!(f, "conflict: {m}"),
            Failure::Api(e) => e.fmt(f),
        }
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Failure::Forbidden => StatusCode::FORBIDDEN,
            Failure::Admin(AdminError::OAuth(e)) => crate::render::status_of(e.code),
            Failure::Admin(AdminError::Conflict(_)) => StatusCode::CONFLICT,
            Failure::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::Unauthorized { presented } => bearer_error(*presented),
            Failure::Forbidden => HttpResponse::Forbidden()
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer error=\"insufficient_scope\", scope=\"admin\"",
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({
                    "error": "insufficient_scope",
                    "error_description": "the admin API needs a token with scope admin of an administrator or of a client granted admin",
                })),
            Failure::Admin(AdminError::OAuth(e)) => json_error(e),
            Failure::Admin(AdminError::Conflict(m)) => HttpResponse::Conflict()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({"error": "conflict", "error_description": m})),
            Failure::Api(e) => e.error_response(),
        }
    }
}

pub type Answer = Result<HttpResponse, Failure>;

/// The caller, if it may use the admin API. An access token (JWT or
/// opaque) only: a JWT is verified here (signature, `typ`, `iss`, `exp`),
/// then core reads its record and decides.
pub async fn authorize(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Actor, Failure> {
    let token = extract::bearer(req).ok_or(Failure::Unauthorized { presented: false })?;
    let t = now();
    let token = match shape(state, token, t) {
        Shape::Jwt(None) => return Err(Failure::Unauthorized { presented: true }),
        s => s,
    };
    let st = state.clone();
    let decided = web::block(move || {
        st.store.read(|tx| {
            let r = match &token {
                Shape::Jwt(Some(jti)) => TokenRef::Jti(jti),
                Shape::Opaque(s) => TokenRef::Opaque(s),
                Shape::Jwt(None) => return Ok(Err(BearerRefusal::InvalidToken)),
            };
            admin::authorize(tx, r, t)
        })
    })
    .await
    .map_err(blocking_failed)?
    .map_err(ApiError::from)?;
    match decided {
        Ok(actor) => Ok(actor),
        Err(BearerRefusal::InvalidToken) => Err(Failure::Unauthorized { presented: true }),
        Err(BearerRefusal::InsufficientScope) => Err(Failure::Forbidden),
    }
}

/// Run `f` in one write transaction on a blocking thread, with the OS
/// random source and the request's time. An `Err` rolls back.
pub async fn write<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&mut Tx<'t>, &mut dyn Random, i64) -> AdminResult<T> + Send + 'static,
{
    let st = state.clone();
    let t = now();
    let r = web::block(move || st.store.write(|tx| f(tx, &mut OsRandom, t)))
        .await
        .map_err(blocking_failed)?;
    Ok(r?)
}

/// Run `f` in one read transaction on a blocking thread, with the time.
pub async fn read<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&mut Tx<'t>, &AppState, i64) -> AdminResult<T> + Send + 'static,
{
    let st = state.clone();
    let t = now();
    let r = web::block(move || st.store.read(|tx| f(tx, &st, t)))
        .await
        .map_err(blocking_failed)?;
    Ok(r?)
}

/// The query string as parameters (a repeated one is `invalid_request`).
pub fn query(req: &HttpRequest) -> Result<Params, Failure> {
    Ok(Params::from_urlencoded(req.query_string().as_bytes())?)
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mt| mt.trim().eq_ignore_ascii_case("application/json"))
}

fn wrong_type() -> Failure {
    AdminError::invalid("content type must be application/json").into()
}

/// A JSON object body (`Content-Type: application/json`, at most 16 KiB).
/// Errors name a missing or unknown field but never echo a value (which
/// could be a password).
pub async fn body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, Failure> {
    if !is_json(req) {
        return Err(wrong_type());
    }
    decode(&extract::body(payload).await?)
}

/// An optional JSON body: an empty one gives `T::default()`.
pub async fn optional_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, Failure> {
    let bytes = extract::body(payload).await?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    if !is_json(req) {
        return Err(wrong_type());
    }
    decode(&bytes)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| Failure::from(AdminError::invalid("malformed JSON")))?;
    if !value.is_object() {
        return Err(AdminError::invalid("the body must be a JSON object").into());
    }
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let named = [
            ("unknown field `", "unknown"),
            ("missing field `", "missing"),
        ]
        .iter()
        .find(|(p, _)| msg.starts_with(p))
        .and_then(|(p, what)| {
            let rest = msg.get(p.len()..)?;
            let name = rest.get(..rest.find('`')?)?;
            let name: String = name.chars().take(64).collect();
            Some(format!("{what} field {name:?}"))
        });
        AdminError::invalid(named.unwrap_or_else(|| "a field has the wrong type or value".into()))
            .into()
    })
}

/// `Some(None)` for an explicit `null`, `None` (by `#[serde(default)]`)
/// for an absent field: PATCH can clear a field.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `200` with a JSON body, never cached.
pub fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `201 Created` with a JSON body, never cached.
pub fn created(body: Value) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `204 No Content`.
pub fn done() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A page as `{"items": [...], "next_cursor": ...}`.
pub fn page<T>(p: Page<T>, view: impl Fn(&T) -> Value) -> HttpResponse {
    ok(json!({
        "items": p.items.iter().map(view).collect::<Vec<_>>(),
        "next_cursor": p.next_cursor,
    }))
}

/// A closed-set value of a body field (`grant_types`, `signing_alg`, ...)
/// with `code` as the error when it is unknown.
pub fn parse_field<T: std::str::FromStr>(
    value: &str,
    field: &str,
    code: ErrorCode,
) -> AdminResult<T>
where
    T::Err: fmt::Display,
{
    value
        .parse::<T>()
        .map_err(|e| AdminError::OAuth(OAuthError::with(code, format!("{field}: {e}"))))
}

//! Turning outcomes into HTTP. Each endpoint's error policy lives here, so
//! handlers never pick status codes by hand.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use portcullis_core::{ErrorCode, OAuthError};
use serde::Serialize;
use serde_json::json;

/// An OAuth error on its way out. Server errors show only
/// `{"error":"server_error"}`; their cause goes to the log, inside the
/// request's span (so with its request id).
#[derive(Debug)]
pub struct ApiError {
    pub error: OAuthError,
    /// A status other than the code's usual one (429, 503).
    pub status: Option<StatusCode>,
    pub retry_after: Option<i64>,
}

impl ApiError {
    /// Too many failed attempts: 429 with `Retry-After`.
    pub fn throttled(secs: i64) -> ApiError {
        ApiError::from(portcullis_core::throttle::refusal(secs))
    }

    /// The password hashing pool is full: 503 with `Retry-After`.
    pub fn busy() -> ApiError {
        ApiError {
            error: OAuthError::with(
                ErrorCode::TemporarilyUnavailable,
                "too many logins at once: try again shortly",
            ),
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            retry_after: Some(1),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }
}

impl From<OAuthError> for ApiError {
    /// A throttle's refusal (it carries `retry_after`) is 429 with
    /// `Retry-After`.
    fn from(error: OAuthError) -> Self {
        let retry_after = error.retry_after;
        ApiError {
            error,
            status: retry_after.map(|_| StatusCode::TOO_MANY_REQUESTS),
            retry_after,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status.unwrap_or_else(|| status_of(self.error.code))
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = json_error(&self.error);
        *res.status_mut() = self.status_code();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

pub fn json_error(e: &OAuthError) -> HttpResponse {
    let status = status_of(e.code);
    if status.is_server_error() && e.code == ErrorCode::ServerError {
        tracing::error!(error = %e.code, cause = e.source.as_deref().unwrap_or(""), "request failed");
    }
    let body = match (&e.description, e.code == ErrorCode::ServerError) {
        (Some(d), false) => json!({"error": e.code.as_str(), "error_description": d}),
        _ => json!({"error": e.code.as_str()}),
    };
    let mut res = HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body);
    // For /metrics: failures by error code.
    res.extensions_mut()
        .insert(crate::metrics::ErrorLabel(e.code.as_str()));
    res
}

/// A blocking task that failed to run (pool gone, thread panicked).
pub fn blocking_failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::from(OAuthError::server(format!("blocking task: {e}")))
}

/// Token endpoint success (RFC 6749 §5.1): JSON, never cached.
pub fn token_ok(body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// Token endpoint errors (RFC 6749 §5.2): 400, or 401 for `invalid_client`
/// with `WWW-Authenticate: Basic` when the client tried Basic.
pub fn token_error(e: ApiError, basic_used: bool) -> HttpResponse {
    let mut res = e.error_response();
    if e.error.code == ErrorCode::InvalidClient && basic_used {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// A protected resource's answer to a missing or bad bearer token (RFC 6750
/// §3.1): 401 with `WWW-Authenticate: Bearer`, plus `error="invalid_token"`
/// when a token was presented.
pub fn bearer_error(token_presented: bool) -> HttpResponse {
    let (challenge, body) = if token_presented {
        ("Bearer error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\"", json!({"error": "invalid_token"}))
    } else {
        (
            "Bearer",
            json!({"error": "invalid_request", "error_description": "a bearer token is required"}),
        )
    };
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

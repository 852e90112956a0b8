//! Wire error codes and the one error type of the engine.
//!
//! Codes are exactly those the RFCs define; how each is rendered (status code,
//! redirect or not, headers) is the server's policy, not core's.

use std::fmt;

/// Every `error` value Portcullis puts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorization endpoint)
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    // RFC 6750 §3.1
    InvalidToken,
    InsufficientScope,
    // RFC 7591 §3.2.2
    InvalidRedirectUri,
    InvalidClientMetadata,
    // OIDC Core §3.1.2.6
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    // RFC 8707 §2
    InvalidTarget,
    // RFC 7009 §2.2.1
    UnsupportedTokenType,
    // RFC 8628 §3.5
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    // RFC 9449 §7.1 (also at the token endpoint, §5) and §8
    InvalidDpopProof,
    UseDpopNonce,
    /// Not an RFC code: an unknown path (404) or method.
    NotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::NotFound => "not_found",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: a wire code, an optional human-readable description
/// (`error_description`, never containing secrets) and, for server errors,
/// an internal cause that goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Option<String>,
    /// Internal cause for the log; never sent to the client.
    pub source: Option<String>,
    /// A refusal by a throttle (`throttle::refusal`): the caller may try
    /// again after this many seconds (HTTP 429 with `Retry-After`).
    pub retry_after: Option<i64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode) -> Self {
        OAuthError {
            code,
            description: None,
            source: None,
            retry_after: None,
        }
    }

    pub fn with(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: Some(description.into()),
            source: None,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::with(ErrorCode::InvalidRequest, description)
    }

    /// A server-side failure; `cause` is logged, never shown.
    pub fn server(cause: impl Into<String>) -> Self {
        OAuthError {
            code: ErrorCode::ServerError,
            description: None,
            source: Some(cause.into()),
            retry_after: None,
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {}", self.code, d),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for OAuthError {}

impl From<crate::ports::StoreError> for OAuthError {
    fn from(e: crate::ports::StoreError) -> Self {
        OAuthError::server(e.to_string())
    }
}

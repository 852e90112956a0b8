//! What the stores keep. Times are Unix seconds. Secrets never appear here in
//! clear: only their hashes (`*_hash` fields, see [`crate::secret`]).

use super::{ClientAuthMethod, GrantType, PatKind, Scopes, SessionKind, SigningAlg, TokenFormat};

/// A registered client (RFC 7591 §2 metadata plus Portcullis settings).
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: String,
    /// SHA-256 of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub name: String,
    pub auth_method: ClientAuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    /// The registered scope: the most a token for this client may carry.
    pub scope: Scopes,
    pub access_token_format: TokenFormat,
    pub signing_alg: SigningAlg,
    /// `web` or `native` (OIDC Registration §2).
    pub application_type: String,
    /// Other registration metadata (client_uri, logo_uri, contacts, ...) as a
    /// JSON object, kept as given.
    pub metadata: serde_json::Value,
    /// SHA-256 of the RFC 7592 registration access token.
    pub registration_token_hash: Option<String>,
    pub is_resource_server: bool,
    /// Built-in clients of this server (the direct login API's client).
    pub first_party: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// 0 = never (RFC 7591 §3.2.1).
    pub secret_expires_at: i64,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == ClientAuthMethod::None
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// A person (or service account) that signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Immutable UUID, used as `sub`.
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub disabled: bool,
    /// Base32 TOTP secret, possibly encrypted at rest (`enc:` prefix).
    pub totp_secret: Option<String>,
    /// The last RFC 6238 time step accepted, so no code is used twice.
    pub totp_last_step: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A signing key pair. The JWKS publishes keys from `created_at` until
/// `retires_at`; the key signs from `activates_at` until a newer key of the
/// same algorithm activates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 PEM, or `enc:v1:...` when a key-encryption key is configured.
    pub private_key: String,
    /// The public JWK as JSON (with `kid`, `alg`, `use`).
    pub public_jwk: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
}

/// One login and the family of tokens it yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user_id: Option<String>,
    pub client_id: String,
    pub kind: SessionKind,
    pub auth_time: i64,
    /// Authentication methods references (`pwd`, `otp`, ...), RFC 8176.
    pub amr: Vec<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    /// Hard end (maximum lifetime).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The device or software it started from: the `User-Agent` of the
    /// signed-in browser (authorization code flow) or of the token request
    /// ([`crate::user_agent::clean`]); `None`: not sent, or started before
    /// it was recorded.
    pub user_agent: Option<String>,
}

/// A signed-in browser (the cookie holds a random id; the store keeps its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The `User-Agent` of the browser that signed in
    /// ([`crate::user_agent::clean`]).
    pub user_agent: Option<String>,
}

/// An authorization code (RFC 6749 §4.1.2), stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub browser_session_id: Option<String>,
    /// The token session created when the code was exchanged, so that a
    /// replayed code can revoke it (RFC 6749 §4.1.2).
    pub session_id: Option<String>,
    pub redirect_uri: String,
    pub scope: Scopes,
    /// RFC 8707 resource indicators.
    pub resource: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to
    /// (the authorization request's `dpop_jkt`).
    pub dpop_jkt: Option<String>,
}

/// A device authorization (RFC 8628 §3.2): the device code and the user
/// code, both stored by hash only, and what the person decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scope: Scopes,
    /// RFC 8707 resource indicators.
    pub resource: Vec<String>,
    /// Seconds the client must wait between polls (raised by `slow_down`).
    pub interval: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_polled_at: Option<i64>,
    /// Who approved or denied, with their sign-in.
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub approved_at: Option<i64>,
    pub denied_at: Option<i64>,
    /// When the approved code was exchanged for tokens (single use).
    pub consumed_at: Option<i64>,
}

/// A pushed authorization request (RFC 9126 §2): its authorization
/// parameters, kept under the hash of the `request_uri`'s random part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub uri_hash: String,
    pub client_id: String,
    /// The authorization parameters as JSON pairs (no client credentials).
    pub params: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the authorization endpoint first used it (single use).
    pub used_at: Option<i64>,
}

/// An issued access token. JWTs are tracked by `jti` (for revocation and
/// introspection); opaque tokens also by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub jti: String,
    pub token_hash: Option<String>,
    pub format: TokenFormat,
    pub session_id: Option<String>,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scope: Scopes,
    pub audience: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// RFC 9449 §6: the RFC 7638 thumbprint of the DPoP key the token is
    /// bound to (`cnf.jkt`); `None`: a bearer token.
    pub dpop_jkt: Option<String>,
}

/// A refresh token, stored by hash; single use (rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub session_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scope: Scopes,
    pub audience: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The token this one replaced.
    pub parent_hash: Option<String>,
    /// The resources (RFC 8707) its grant authorized: a refresh may ask for
    /// any of them, never for another (§2.2). Empty: none were named.
    pub resource: Vec<String>,
    /// RFC 9449 §5: a public client's refresh token is bound to the DPoP
    /// key it was issued with (thumbprint); `None`: not bound.
    pub dpop_jkt: Option<String>,
}

/// Scopes a user granted a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: String,
    pub client_id: String,
    pub scope: Scopes,
    pub granted_at: i64,
    pub updated_at: i64,
}

/// A personal access token, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub name: String,
    pub scope: Scopes,
    pub kind: PatKind,
    /// The MCP client it was minted for, if any.
    pub client_id: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub disabled: bool,
    pub revoked_at: Option<i64>,
}

/// Something that happened, for the audit trail. `detail` is a JSON object
/// and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    pub at: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub session_id: Option<String>,
    pub detail: String,
}

/// An initial access token for dynamic client registration (RFC 7591 §3),
/// stored by hash; minted by `portcullis registration-token create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    pub token_hash: String,
    pub created_at: i64,
    /// `None`: never expires.
    pub expires_at: Option<i64>,
    /// Registrations it may authorize; `None`: no limit.
    pub max_uses: Option<i64>,
    /// Registrations it has authorized.
    pub uses: i64,
}

/// A WebAuthn credential a user registered (a passkey). `credential` is the
/// relying-party library's record of it (public key, counter), as JSON that
/// core does not read; `credential_id` is its base64url id, unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential_id: String,
    pub credential: String,
    pub kind: crate::passkeys::PasskeyKind,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

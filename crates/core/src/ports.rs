//! Ports: what core needs from the outside world. One store trait per
//! concern (ClientStore, UserStore, ...), plus randomness. The storage crate
//! implements the stores on a transaction handle, so a core function that
//! takes `&mut impl ClientStore + TokenStore` runs inside one transaction
//! chosen by the caller.
//!
//! Rules every implementation keeps:
//! - a `get_*` that finds nothing returns `Ok(None)`, never an error;
//! - single use is decided by the store (`consume_*` returns `true` for
//!   exactly one caller), never by a read followed by a write;
//! - inserting a duplicate key is `StoreError::Conflict`.

use crate::model::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row could not be read back into a record (bad enum value, bad JSON).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed (connection, I/O, constraint other than unique).
    #[error("database: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Randomness. Core never reaches for the OS RNG itself.
pub trait Random {
    /// Fill `buf` with cryptographically secure random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

pub trait ClientStore {
    fn insert_client(&mut self, client: &Client) -> StoreResult<()>;
    fn get_client(&mut self, id: &str) -> StoreResult<Option<Client>>;
    fn list_clients(&mut self) -> StoreResult<Vec<Client>>;
    /// Replace every field of the client with this id; `false` if none.
    fn update_client(&mut self, client: &Client) -> StoreResult<bool>;
    fn delete_client(&mut self, id: &str) -> StoreResult<bool>;
}

pub trait UserStore {
    fn insert_user(&mut self, user: &User) -> StoreResult<()>;
    fn get_user(&mut self, id: &str) -> StoreResult<Option<User>>;
    fn get_user_by_username(&mut self, username: &str) -> StoreResult<Option<User>>;
    fn list_users(&mut self) -> StoreResult<Vec<User>>;
    fn update_user(&mut self, user: &User) -> StoreResult<bool>;
    /// Record that TOTP step `step` was used, only if it is later than the
    /// last one used: `true` for exactly one caller per step (RFC 6238 §5.2).
    fn use_totp_step(&mut self, user_id: &str, step: i64) -> StoreResult<bool>;
}

pub trait KeyStore {
    fn insert_key(&mut self, key: &SigningKey) -> StoreResult<()>;
    /// Every key, oldest first.
    fn list_keys(&mut self) -> StoreResult<Vec<SigningKey>>;
    fn set_key_retires_at(&mut self, kid: &str, retires_at: i64) -> StoreResult<bool>;
}

pub trait SessionStore {
    fn insert_session(&mut self, session: &Session) -> StoreResult<()>;
    fn get_session(&mut self, id: &str) -> StoreResult<Option<Session>>;
    /// Live (not revoked, not expired at `now`) sessions of a user, oldest first.
    fn list_live_sessions(&mut self, user_id: &str, now: i64) -> StoreResult<Vec<Session>>;
    fn touch_session(&mut self, id: &str, now: i64) -> StoreResult<bool>;
    /// Mark the session revoked (if it is not already); `true` if it changed.
    fn revoke_session(&mut self, id: &str, now: i64) -> StoreResult<bool>;
}

pub trait BrowserSessionStore {
    fn insert_browser_session(&mut self, s: &BrowserSession) -> StoreResult<()>;
    fn get_browser_session(&mut self, id_hash: &str) -> StoreResult<Option<BrowserSession>>;
    fn revoke_browser_session(&mut self, id_hash: &str, now: i64) -> StoreResult<bool>;
}

pub trait CodeStore {
    fn insert_code(&mut self, code: &AuthorizationCode) -> StoreResult<()>;
    fn get_code(&mut self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>>;
    /// `UPDATE .. SET consumed_at = now WHERE code_hash = ? AND consumed_at IS NULL`:
    /// `true` for exactly one caller.
    fn consume_code(&mut self, code_hash: &str, now: i64) -> StoreResult<bool>;
    fn set_code_session(&mut self, code_hash: &str, session_id: &str) -> StoreResult<bool>;
    /// Ids of the token sessions started from codes issued to this browser
    /// session (browser logout ends them all).
    fn sessions_of_browser_session(&mut self, id_hash: &str) -> StoreResult<Vec<String>>;
}

pub trait TokenStore {
    fn insert_access_token(&mut self, token: &AccessToken) -> StoreResult<()>;
    fn get_access_token_by_jti(&mut self, jti: &str) -> StoreResult<Option<AccessToken>>;
    fn get_access_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<AccessToken>>;
    fn revoke_access_token(&mut self, jti: &str, now: i64) -> StoreResult<bool>;
    fn insert_refresh_token(&mut self, token: &RefreshToken) -> StoreResult<()>;
    fn get_refresh_token(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Single use: `true` for exactly one caller.
    fn consume_refresh_token(&mut self, token_hash: &str, now: i64) -> StoreResult<bool>;
    /// Revoke every access and refresh token of a session; returns how many
    /// tokens changed.
    fn revoke_session_tokens(&mut self, session_id: &str, now: i64) -> StoreResult<usize>;
}

pub trait ConsentStore {
    /// Insert or replace the consent of (user, client).
    fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()>;
    fn get_consent(&mut self, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>>;
    fn delete_consent(&mut self, user_id: &str, client_id: &str) -> StoreResult<bool>;
}

pub trait PatStore {
    fn insert_pat(&mut self, pat: &PersonalAccessToken) -> StoreResult<()>;
    fn get_pat_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<PersonalAccessToken>>;
    fn list_pats(&mut self, user_id: &str) -> StoreResult<Vec<PersonalAccessToken>>;
    fn set_pat_disabled(&mut self, id: &str, disabled: bool) -> StoreResult<bool>;
    fn delete_pat(&mut self, id: &str) -> StoreResult<bool>;
}

pub trait AuditStore {
    fn append_event(&mut self, event: &AuditEvent) -> StoreResult<()>;
    /// The newest `limit` events, newest first.
    fn recent_events(&mut self, limit: i64) -> StoreResult<Vec<AuditEvent>>;
}

/// Server-wide secrets shared by every node (cookie keys, the key that
/// derives refresh-token successors).
pub trait SecretStore {
    /// Return the value stored under `name`, storing `candidate` first if
    /// there is none. Every node gets the same answer (first writer wins).
    fn get_or_insert_secret(
        &mut self,
        name: &str,
        candidate: &str,
        now: i64,
    ) -> StoreResult<String>;
}

/// Everything at once, for code that needs several concerns in one transaction.
pub trait Stores:
    ClientStore
    + UserStore
    + KeyStore
    + SessionStore
    + BrowserSessionStore
    + CodeStore
    + TokenStore
    + ConsentStore
    + PatStore
    + AuditStore
    + SecretStore
{
}

impl<T> Stores for T where
    T: ClientStore
        + UserStore
        + KeyStore
        + SessionStore
        + BrowserSessionStore
        + CodeStore
        + TokenStore
        + ConsentStore
        + PatStore
        + AuditStore
        + SecretStore
{
}

/// Signs JWTs with the active key for an algorithm (the server holds the
/// key material; core decides the claims).
pub trait Signer {
    /// A compact JWS of `claims` with `typ` in the header (`JWT`, `at+jwt`).
    fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &serde_json::Value,
    ) -> Result<String, crate::OAuthError>;
}

/// Failed-login bookkeeping per key (a username), shared by every node.
pub trait ThrottleStore {
    /// Seconds until `key` may try again, if it is blocked at `now`.
    fn blocked_for(&mut self, key: &str, now: i64) -> StoreResult<Option<i64>>;
    /// Count a failure; after `max_failures` within `window` seconds the key
    /// is blocked for `block` seconds.
    fn record_failure(
        &mut self,
        key: &str,
        now: i64,
        window: i64,
        max_failures: u32,
        block: i64,
    ) -> StoreResult<()>;
    /// Forget the failures of `key` (after a success).
    fn clear_failures(&mut self, key: &str) -> StoreResult<()>;
}

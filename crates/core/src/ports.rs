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
    /// In a write transaction: hold the keys until it ends, so that nodes
    /// starting at once on one database create each first key once (a
    /// second node reads the first's keys after waiting here).
    fn lock_keys(&mut self) -> StoreResult<()>;
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
    /// Set `last_seen_at` of a browser session that is not revoked; `true`
    /// if it changed.
    fn touch_browser_session(&mut self, id_hash: &str, now: i64) -> StoreResult<bool>;
    /// Live (not revoked, not expired at `now`) browser sessions of a user,
    /// newest first.
    fn list_live_browser_sessions(
        &mut self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<BrowserSession>>;
    /// End every browser session of `user_id` but the one with hash
    /// `except` (if any); returns how many were ended.
    fn revoke_user_browser_sessions(
        &mut self,
        user_id: &str,
        except: Option<&str>,
        now: i64,
    ) -> StoreResult<usize>;
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

/// Device authorizations (RFC 8628), kept by the hashes of both codes.
pub trait DeviceCodeStore {
    fn insert_device_code(&mut self, code: &DeviceCode) -> StoreResult<()>;
    fn get_device_code(&mut self, device_code_hash: &str) -> StoreResult<Option<DeviceCode>>;
    fn get_device_code_by_user_code(
        &mut self,
        user_code_hash: &str,
    ) -> StoreResult<Option<DeviceCode>>;
    /// Record the person's answer, in one statement, only while the code is
    /// undecided and unexpired at `now`: `true` for exactly one caller.
    /// `approval`: `Some((user_id, auth_time, amr))` to approve, `None` to deny.
    fn decide_device_code(
        &mut self,
        device_code_hash: &str,
        user_id: &str,
        approval: Option<(i64, &[String])>,
        now: i64,
    ) -> StoreResult<bool>;
    /// Remember a poll at `now` and the interval the client must keep.
    fn record_device_poll(
        &mut self,
        device_code_hash: &str,
        now: i64,
        interval: i64,
    ) -> StoreResult<bool>;
    /// Mark an approved code exchanged: `UPDATE ... WHERE consumed_at IS
    /// NULL`, `true` for exactly one caller.
    fn consume_device_code(&mut self, device_code_hash: &str, now: i64) -> StoreResult<bool>;
}

/// Pushed authorization requests (RFC 9126), kept by the hash of the
/// `request_uri`'s random part.
pub trait PushedRequestStore {
    fn insert_pushed_request(&mut self, request: &PushedRequest) -> StoreResult<()>;
    fn get_pushed_request(&mut self, uri_hash: &str) -> StoreResult<Option<PushedRequest>>;
    /// Mark it used at `now`, in one statement, only while unused and
    /// unexpired: `true` for exactly one caller.
    fn use_pushed_request(&mut self, uri_hash: &str, now: i64) -> StoreResult<bool>;
}

/// One-time JWT identifiers: the `jti` of a private_key_jwt client
/// assertion (RFC 7523 §3, item 7: "The authorization server MAY ensure
/// that JWTs are not replayed by maintaining the set of used jti values")
/// and of a DPoP proof (RFC 9449 §11.1).
pub trait JtiStore {
    /// Record `key` (a digest naming the purpose, the issuer or key, and
    /// the `jti`) until `expires_at`, in one statement: `true` for the
    /// first use, `false` when it is already on record (a replay).
    fn consume_jti(&mut self, key: &str, expires_at: i64) -> StoreResult<bool>;
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
    /// Every consent of a user, by client id.
    fn list_consents(&mut self, user_id: &str) -> StoreResult<Vec<Consent>>;
}

/// Single-use TOTP recovery codes, kept only as hashes
/// ([`crate::secret::hash_token`]).
pub trait RecoveryCodeStore {
    /// Replace every recovery code of `user_id` with these hashes.
    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        code_hashes: &[String],
        now: i64,
    ) -> StoreResult<()>;
    /// Spend the unused code with this hash: `UPDATE .. SET used_at = now
    /// WHERE used_at IS NULL`, `true` for exactly one caller.
    fn use_recovery_code(&mut self, user_id: &str, code_hash: &str, now: i64) -> StoreResult<bool>;
    /// How many unused codes `user_id` has left.
    fn count_recovery_codes(&mut self, user_id: &str) -> StoreResult<usize>;
    /// Forget every code of `user_id` (TOTP turned off).
    fn delete_recovery_codes(&mut self, user_id: &str) -> StoreResult<usize>;
}

/// Passkeys (WebAuthn credentials) and the challenges already answered.
pub trait PasskeyStore {
    /// A duplicate `id` or `credential_id` is `StoreError::Conflict`.
    fn insert_passkey(&mut self, p: &Passkey) -> StoreResult<()>;
    /// `user_id`'s passkeys, oldest first.
    fn list_passkeys(&mut self, user_id: &str) -> StoreResult<Vec<Passkey>>;
    fn get_passkey_by_credential_id(&mut self, credential_id: &str)
        -> StoreResult<Option<Passkey>>;
    /// `true` if `user_id` has a passkey `id`.
    fn rename_passkey(&mut self, user_id: &str, id: &str, name: &str) -> StoreResult<bool>;
    /// After a sign-in: the updated credential (its counter) and the time.
    fn record_passkey_use(&mut self, id: &str, credential: &str, now: i64) -> StoreResult<bool>;
    fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool>;
    fn count_passkeys(&mut self, user_id: &str) -> StoreResult<usize>;
}

pub trait PatStore {
    fn insert_pat(&mut self, pat: &PersonalAccessToken) -> StoreResult<()>;
    fn get_pat_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<PersonalAccessToken>>;
    fn list_pats(&mut self, user_id: &str) -> StoreResult<Vec<PersonalAccessToken>>;
    fn set_pat_disabled(&mut self, id: &str, disabled: bool) -> StoreResult<bool>;
    fn delete_pat(&mut self, id: &str) -> StoreResult<bool>;
    fn get_pat(&mut self, id: &str) -> StoreResult<Option<PersonalAccessToken>>;
    /// Record last uses in one batch: for each `(id, at)`, `UPDATE .. SET
    /// last_used_at = at WHERE id = ? AND (last_used_at IS NULL OR
    /// last_used_at < at)` (a last use only moves forward, whichever node
    /// flushes first). Returns how many rows changed.
    fn touch_pats(&mut self, uses: &[(String, i64)]) -> StoreResult<usize>;
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
    + RecoveryCodeStore
    + PasskeyStore
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
        + RecoveryCodeStore
        + PasskeyStore
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
/// What a throttle knows of one key at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleState {
    /// No failure on record.
    Clear,
    /// Failures on record, not blocked (a success should clear them).
    Failing,
    /// Blocked for this many more seconds.
    Blocked(i64),
}

pub trait ThrottleStore {
    /// The state of `key` at `now`, in one read of its row.
    fn throttle_state(&mut self, key: &str, now: i64) -> StoreResult<ThrottleState>;
    /// Seconds until `key` may try again, if it is blocked at `now`.
    fn blocked_for(&mut self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        Ok(match self.throttle_state(key, now)? {
            ThrottleState::Blocked(secs) => Some(secs),
            _ => None,
        })
    }
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

/// Initial access tokens for dynamic client registration (RFC 7591 §3),
/// kept only as hashes.
pub trait InitialAccessTokenStore {
    fn insert_initial_access_token(&mut self, token: &InitialAccessToken) -> StoreResult<()>;
    /// Count one use of the token with this hash if it is live at `now`
    /// (not expired, uses left), in one statement: `true` for exactly as
    /// many callers as it has uses.
    fn use_initial_access_token(&mut self, token_hash: &str, now: i64) -> StoreResult<bool>;
}

/// What the janitor deletes: rows that no request can use any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Authorization codes that expired before the cutoff.
    Codes,
    /// Access-token records that expired before the cutoff.
    AccessTokens,
    /// Refresh-token records that expired before the cutoff.
    RefreshTokens,
    /// Token sessions that expired before the cutoff (their tokens go with them).
    SessionsExpired,
    /// Token sessions revoked before the cutoff (their tokens go with them).
    SessionsRevoked,
    /// Browser sessions that expired before the cutoff.
    BrowserSessionsExpired,
    /// Browser sessions ended before the cutoff.
    BrowserSessionsRevoked,
    /// Audit events recorded before the cutoff.
    AuditEvents,
    /// Throttle windows opened before the cutoff.
    LoginAttempts,
    /// Initial access tokens that expired before the cutoff.
    InitialAccessTokens,
    /// Device authorizations (RFC 8628) that expired before the cutoff.
    DeviceCodes,
    /// Pushed authorization requests (RFC 9126) that expired before the
    /// cutoff.
    PushedRequests,
    /// One-time JWT identifiers whose JWT expired before the cutoff.
    UsedJtis,
}

impl Purge {
    pub const ALL: [Purge; 13] = [
        Purge::Codes,
        Purge::AccessTokens,
        Purge::RefreshTokens,
        Purge::SessionsExpired,
        Purge::SessionsRevoked,
        Purge::BrowserSessionsExpired,
        Purge::BrowserSessionsRevoked,
        Purge::AuditEvents,
        Purge::LoginAttempts,
        Purge::InitialAccessTokens,
        Purge::DeviceCodes,
        Purge::PushedRequests,
        Purge::UsedJtis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purge::Codes => "codes",
            Purge::AccessTokens => "access_tokens",
            Purge::RefreshTokens => "refresh_tokens",
            Purge::SessionsExpired => "sessions_expired",
            Purge::SessionsRevoked => "sessions_revoked",
            Purge::BrowserSessionsExpired => "browser_sessions_expired",
            Purge::BrowserSessionsRevoked => "browser_sessions_revoked",
            Purge::AuditEvents => "audit_events",
            Purge::LoginAttempts => "login_attempts",
            Purge::InitialAccessTokens => "initial_access_tokens",
            Purge::DeviceCodes => "device_codes",
            Purge::PushedRequests => "pushed_requests",
            Purge::UsedJtis => "used_jtis",
        }
    }
}

/// Housekeeping: deletes in bounded batches, so each call is one short
/// transaction.
pub trait JanitorStore {
    /// Delete at most `limit` rows of `what` from before `cutoff`; returns
    /// how many went.
    fn purge(&mut self, what: Purge, cutoff: i64, limit: i64) -> StoreResult<usize>;
    /// Dynamically registered clients (those holding a registration access
    /// token) created, and last given a token, before `unused_since`, that
    /// hold nothing live at `now`: no unexpired, unrevoked access or refresh
    /// token, no live session, no live personal access token. At most `limit`.
    fn idle_dynamic_clients(
        &mut self,
        unused_since: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
}

/// Where a page of an admin list starts: the sort key `(at, id)` of the
/// last item already seen. Lists are ordered by that key, ascending (the
/// audit trail: descending), and a page holds the items strictly after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    pub at: i64,
    pub id: String,
}

/// Whose tokens an administrator lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner<'a> {
    User(&'a str),
    Client(&'a str),
}

/// The two kinds of issued token the admin API lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// An issued token as an administrator sees it: never its value or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    /// An access token's `jti`; for a refresh token the stable id that
    /// introspection shows ([`crate::introspect::refresh_token_id`]).
    pub id: String,
    pub kind: TokenKind,
    pub session_id: Option<String>,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scope: Scopes,
    pub audience: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Refresh tokens only: when rotation used it.
    pub consumed_at: Option<i64>,
}

impl TokenSummary {
    pub fn of_access(t: &AccessToken) -> TokenSummary {
        TokenSummary {
            id: t.jti.clone(),
            kind: TokenKind::Access,
            session_id: t.session_id.clone(),
            client_id: t.client_id.clone(),
            user_id: t.user_id.clone(),
            scope: t.scope.clone(),
            audience: t.audience.clone(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            consumed_at: None,
        }
    }

    pub fn of_refresh(t: &RefreshToken) -> TokenSummary {
        TokenSummary {
            id: crate::introspect::refresh_token_id(&t.token_hash),
            kind: TokenKind::Refresh,
            session_id: Some(t.session_id.clone()),
            client_id: t.client_id.clone(),
            user_id: t.user_id.clone(),
            scope: t.scope.clone(),
            audience: t.audience.clone(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            consumed_at: t.consumed_at,
        }
    }
}

/// Which audit events to list; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Only events at or after this time (Unix seconds).
    pub since: Option<i64>,
}

/// The admin API's paged and filtered lists (keyset paging: `after` is the
/// key of the last item of the previous page, `limit` the most to return),
/// and deleting a user.
pub trait AdminStore {
    /// Clients by `(created_at, id)`.
    fn list_clients_page(
        &mut self,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<Client>>;
    /// Users by `(created_at, id)`.
    fn list_users_page(&mut self, after: Option<&PageKey>, limit: i64) -> StoreResult<Vec<User>>;
    /// Delete a user; their sessions, tokens, codes, consents and personal
    /// access tokens go with them. `false` if there was none.
    fn delete_user(&mut self, id: &str) -> StoreResult<bool>;
    /// A user's sessions that are not revoked, end after `now` and were
    /// last used after `used_after`, by `(created_at, id)`.
    fn list_live_sessions_page(
        &mut self,
        user_id: &str,
        now: i64,
        used_after: i64,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<Session>>;
    /// Access tokens of a user or client, by `(issued_at, jti)`.
    fn list_access_tokens_page(
        &mut self,
        owner: TokenOwner<'_>,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<TokenSummary>>;
    /// Refresh tokens of a user or client, by `(issued_at, id)` where `id`
    /// is [`TokenSummary::id`].
    fn list_refresh_tokens_page(
        &mut self,
        owner: TokenOwner<'_>,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<TokenSummary>>;
    /// Audit events matching `filter`, newest first: by `(at, id)`
    /// descending, strictly before `before`.
    fn list_events_page(
        &mut self,
        filter: &EventFilter,
        before: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
}

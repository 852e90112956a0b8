//! Settings: one typed struct. Sources, later ones winning: defaults <
//! `--config portcullis.toml` < `PORTCULLIS_*` environment variables (nested
//! keys joined with `__`) < command-line flags. The doc comments below
//! generate `docs/configuration.md` (`portcullis config docs`); a test keeps
//! the two in step.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use portcullis_core::model::{Scopes, SigningAlg, TokenFormat};
use portcullis_core::resources::{Resource, Resources};
use portcullis_core::Issuer;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Portcullis settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Issuer identifier: the public base URL of this server, such as `https://auth.example.com` or `https://auth.example.com/tenant`. No trailing slash, query or fragment. Unset: `http://` followed by the address the server listens on.
    pub issuer: Option<String>,
    /// Address and port to listen on. Port 0 picks a free port.
    pub bind: String,
    /// Database: a SQLite file path (`./portcullis.db`), a `sqlite://` URL, or a `postgres://` URL.
    pub database_url: String,
    /// Encrypts private signing keys, TOTP secrets and the server's derivation key (behind CSRF tokens and refresh successors) at rest (AES-256-GCM under a SHA-256 of this value; use at least 32 random characters). Unset: they are stored in clear. Once set, keep it: encrypted keys cannot be read without it.
    pub key_encryption_key: Option<Secret>,
    /// Log format: `text` for people, `json` for machines.
    pub log_format: LogFormat,
    /// Log filter in tracing's EnvFilter syntax, such as `info` or `portcullis=debug`.
    pub log_level: String,
    /// Database pool and connection settings.
    pub database: DatabaseConfig,
    /// Token lifetimes.
    pub tokens: TokenConfig,
    /// Signing-key rotation.
    pub keys: KeysConfig,
    /// Sessions: one login and the tokens it yields.
    pub sessions: SessionConfig,
    /// Password checks and failed-login throttling.
    pub login: LoginConfig,
    /// Failed client authentication throttling, per `client_id`.
    pub client_auth: ClientAuthConfig,
    /// The direct JSON login API (`POST /api/auth/login`).
    pub login_api: LoginApiConfig,
    /// Token introspection (`POST /oauth/introspect`, RFC 7662).
    pub introspection: IntrospectionConfig,
    /// Browser pages (sign-in, consent, sign-out).
    pub pages: PagesConfig,
    /// The device authorization grant (RFC 8628): `POST /oauth/device_authorization` and the verification page `/device`.
    pub device: DeviceConfig,
    /// Pushed authorization requests (RFC 9126): `POST /oauth/par`.
    pub par: ParConfig,
    /// DPoP (RFC 9449): sender-constrained tokens, bound to a key the client proves it holds with a `DPoP` header.
    pub dpop: DpopConfig,
    /// Dynamic client registration (`POST /oauth/register`, RFC 7591; RFC 7592 management).
    pub registration: RegistrationConfig,
    /// Personal access tokens (`/api/pats`) and the forward-auth endpoint for gateways (`/oauth/forward-auth`).
    pub pats: PatsConfig,
    /// Housekeeping in the background: expired rows, old audit events, idle dynamic clients.
    pub janitor: JanitorConfig,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: MetricsConfig,
    /// Protected resources this server issues access tokens for, as a TOML array of tables (`[[resources]]`; as an environment variable, an inline array such as `[{uri="https://mcp.example.com/mcp"}]`). A `resource` parameter (RFC 8707) on an authorization or token request binds the access token's `aud` to the resource's `uri` as configured; resources compare with scheme and host lower-cased and the rest exact. With at least one resource configured, a `resource` naming none of them gets `invalid_target`; with none configured, any absolute URI without a fragment is accepted as given. A token request may name only resources its authorization request named (a subset narrows `aud`); a refresh may narrow to any resource the grant authorized, never another. One access token may serve several resources only when their `format`, `alg`, `lifetime_secs` and `scopes` agree; otherwise the token request gets `invalid_target` and names one resource at a time. Resources on the issuer's origin get RFC 9728 metadata at `/.well-known/oauth-protected-resource<path>`; for the others, `portcullis resource metadata <uri>` prints the document their server should serve.
    pub resources: Vec<ResourceConfig>,
    /// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, as MCP clients use them): a `client_id` that is an https URL names a JSON document of client metadata, which the server fetches instead of looking the client up.
    pub client_metadata_documents: ClientMetadataDocumentsConfig,
}

/// Client ID metadata documents.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientMetadataDocumentsConfig {
    /// Accept `client_id` URLs and advertise `client_id_metadata_document_supported`. Off: such a `client_id` is an unknown client, and nothing is fetched.
    pub enabled: bool,
    /// Development only: fetch documents from private, loopback, link-local and other special-purpose addresses, and over plain `http` from a loopback host. Off (the default), a host that resolves to any such address is refused before a connection is made.
    pub allow_private_addresses: bool,
    /// Seconds a fetch may take in all (name resolution, connection, answer); beyond that the client is unknown.
    pub timeout_secs: u64,
    /// A fetched document is used for at least this many seconds, even when its answer says `no-store` or `max-age=0`.
    pub min_cache_secs: i64,
    /// A fetched document is used for at most this many seconds, whatever its `Cache-Control: max-age` says; without `max-age`, for `min_cache_secs`.
    pub max_cache_secs: i64,
    /// Documents kept in memory at most (each node keeps its own); beyond that the ones expiring first are dropped.
    pub cache_entries: usize,
}

impl Default for ClientMetadataDocumentsConfig {
    fn default() -> Self {
        ClientMetadataDocumentsConfig {
            enabled: true,
            allow_private_addresses: false,
            timeout_secs: 5,
            min_cache_secs: 300,
            max_cache_secs: 86_400,
            cache_entries: 1000,
        }
    }
}

/// Prometheus metrics.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `GET /metrics` (Prometheus text format): requests and latency by endpoint and grant type, tokens issued, errors by code, login failures, database pool use.
    pub enabled: bool,
    /// A separate address and port (such as `127.0.0.1:9090`) that serves only `/metrics`, to keep it off the public port. Unset: `/metrics` is served on `bind`, beside `/healthz`.
    pub bind: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            bind: None,
        }
    }
}

/// One protected resource (RFC 8707, RFC 9728). Its settings win over the client's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    /// The resource identifier: an absolute URI without a fragment, such as `https://mcp.example.com/mcp`. It becomes `aud` of its access tokens and `resource` of its metadata, exactly as written here.
    pub uri: String,
    /// Human-readable name (RFC 9728 `resource_name`).
    pub name: Option<String>,
    /// Scopes its access tokens may carry, listed as its metadata's `scopes_supported`. An access token for it carries only the granted scopes among these, plus the OpenID Connect ones (`openid`, `profile`, `email`, `offline_access`, which still govern the ID token, userinfo and refresh tokens); a request that names scopes meant for resources, none of them among these, gets `invalid_scope`. Empty: any scope.
    pub scopes: Vec<String>,
    /// Access-token format for it: `jwt` or `opaque`. Unset: the client's.
    pub format: Option<String>,
    /// Signing algorithm of its JWT access tokens: `RS256`, `ES256` or `EdDSA`. Unset: the client's.
    pub alg: Option<String>,
    /// Lifetime of its access tokens, in seconds. Unset: the grant's usual one (`tokens.access_token_lifetime_secs`).
    pub lifetime_secs: Option<i64>,
}

/// Database pool and connection settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connections in the pool.
    pub pool_size: u32,
    /// Seconds to wait for a connection before giving up (at start and per request).
    pub connect_timeout_secs: u64,
    /// SQLite only: `normal` (a commit survives the process dying; the last ones may be lost on power loss) or `full` (an fsync per commit: survives power loss too, at a cost; docs/operations.md).
    pub sqlite_synchronous: SqliteSynchronous,
}

/// SQLite's `synchronous` setting (WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Normal,
    Full,
}

/// Token lifetimes, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Lifetime of access tokens.
    pub access_token_lifetime_secs: i64,
    /// Lifetime of ID tokens.
    pub id_token_lifetime_secs: i64,
    /// Lifetime of refresh tokens (never longer than their session).
    pub refresh_token_lifetime_secs: i64,
    /// Seconds during which a refresh token already used returns the same successor again (a client retrying after a lost response); after that, reuse revokes the whole session.
    pub refresh_reuse_grace_secs: i64,
    /// `aud` of access tokens when a request names no `resource`. Unset: the issuer.
    pub default_audience: Option<String>,
}

/// Sessions: one login and the tokens it yields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused for this many seconds ends.
    pub idle_timeout_secs: i64,
    /// A session ends this many seconds after its login, used or not.
    pub max_lifetime_secs: i64,
    /// Live sessions a user may have at once; 0 means no limit.
    pub max_per_user: u32,
    /// At the limit: `refuse` the new login, or `evict_oldest` session.
    pub limit_policy: SessionLimitPolicy,
}

/// What happens when a user is at the session limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionLimitPolicy {
    Refuse,
    EvictOldest,
}

/// Password checks and failed-login throttling.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed password attempts for one username within `failure_window_secs` before it is blocked; 0 turns throttling off.
    pub max_failures: u32,
    /// Window in which failures are counted.
    pub failure_window_secs: i64,
    /// How long a username stays blocked; blocked attempts get 429 with Retry-After, without a password check.
    pub block_secs: i64,
    /// Wrong one-time codes (TOTP) for one username within `otp_failure_window_secs` before its sign-ins are blocked, counted apart from wrong passwords (a right password with a wrong code counts here); 0 turns it off. Applies to the sign-in page, the login API and the password grant.
    pub otp_max_failures: u32,
    /// Window in which wrong one-time codes are counted.
    pub otp_failure_window_secs: i64,
    /// How long a username stays blocked after too many wrong codes; blocked attempts get 429 with Retry-After, without a check.
    pub otp_block_secs: i64,
    /// Threads that hash passwords (Argon2id); a flood of logins waits for them instead of stalling other endpoints.
    pub hash_workers: usize,
    /// Password checks that may wait for a hashing thread; beyond that, logins get 503 with Retry-After.
    pub hash_queue: usize,
}

/// Throttling failed client authentication.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Failed client authentications (wrong `client_secret`, a secret for a public client, a disabled client...) for one `client_id` within `failure_window_secs` before it is blocked, wherever clients authenticate (token, introspection, revocation, logout, and RFC 7592 registration management, where a wrong registration access token counts); 0 turns it off. Only failures count and a success clears them, so a client that authenticates correctly is never limited; but anyone who knows a `client_id` can block it for `block_secs` by sending wrong secrets.
    pub max_failures: u32,
    /// Window in which failures are counted.
    pub failure_window_secs: i64,
    /// How long a `client_id` stays blocked; its requests get 429 with Retry-After before the secret is checked, even with the right secret.
    pub block_secs: i64,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        ClientAuthConfig {
            max_failures: 20,
            failure_window_secs: 300,
            block_secs: 300,
        }
    }
}

/// Token introspection (`POST /oauth/introspect`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IntrospectionConfig {
    /// Only clients registered as resource servers may introspect with client credentials; any other client gets 401 `invalid_client`. An administrator's bearer token (scope `admin`) may introspect either way.
    pub resource_servers_only: bool,
}

/// Browser pages.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// A directory of templates (`layout.html`, `login.html`, `otp.html`, `consent.html`, `error.html`, `logout.html`, `logged_out.html`, `form_post.html`, `device.html`, `device_consent.html`, and the account pages' templates listed in docs/account.md) replacing the built-in ones file by file, to brand the pages. Unset: the built-in pages.
    pub templates_dir: Option<String>,
    /// Lifetime of a browser sign-in, in seconds.
    pub browser_session_secs: i64,
}

/// The device authorization grant (RFC 8628).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Lifetime of a device code and its user code (`expires_in`), in seconds.
    pub expires_in_secs: i64,
    /// Seconds a device must wait between polls of the token endpoint (`interval`); polling faster gets `slow_down` and 5 more seconds.
    pub interval_secs: i64,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            expires_in_secs: 600,
            interval_secs: 5,
        }
    }
}

impl DeviceConfig {
    pub fn policy(&self) -> portcullis_core::grants::device_code::DevicePolicy {
        portcullis_core::grants::device_code::DevicePolicy {
            lifetime: self.expires_in_secs,
            interval: self.interval_secs,
        }
    }
}

/// DPoP proofs (RFC 9449).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// How far a proof's `iat` may be from the server's clock, either way, in seconds (RFC 9449 §11.1); a proof's `jti` is remembered this long after its `iat`, so a replay is refused. At least 1.
    pub proof_window_secs: i64,
    /// Require a server nonce in every proof (RFC 9449 §8): a proof without the current one gets `use_dpop_nonce` with the nonce in a `DPoP-Nonce` header. Nonces are derived from the time and the server's derivation key, so every node accepts the others'.
    pub require_nonce: bool,
    /// How long a nonce stays current, in seconds (the one before it is still accepted). At least 1.
    pub nonce_lifetime_secs: i64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            proof_window_secs: 60,
            require_nonce: false,
            nonce_lifetime_secs: 300,
        }
    }
}

impl DpopConfig {
    /// The rules core checks proofs with.
    pub fn rules(&self) -> portcullis_core::dpop::Rules {
        portcullis_core::dpop::Rules {
            window: self.proof_window_secs.max(1),
            nonce_lifetime: self.require_nonce.then(|| self.nonce_lifetime_secs.max(1)),
        }
    }
}

/// Pushed authorization requests (RFC 9126).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// Lifetime of a `request_uri` (`expires_in`), in seconds: the authorization request must arrive at `/oauth/authorize` within it, and it can be used there once. At least 1.
    pub request_uri_lifetime_secs: i64,
}

impl Default for ParConfig {
    fn default() -> Self {
        ParConfig {
            request_uri_lifetime_secs: portcullis_core::par::DEFAULT_LIFETIME,
        }
    }
}

impl ParConfig {
    /// The lifetime, never below one second.
    pub fn lifetime(&self) -> i64 {
        self.request_uri_lifetime_secs.max(1)
    }
}

/// Personal access tokens and forward auth.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PatsConfig {
    /// A personal access token unused for this many days stops working for good (its owner makes a new one); 0: never.
    pub inactivity_days: u32,
    /// Seconds between batched writes of personal access tokens' last-use times (kept in memory in between, so a use costs no database write).
    pub last_used_flush_secs: u64,
    /// Request header from which `/oauth/forward-auth` reads a personal access token (an `Authorization: Bearer` token works too).
    pub forward_auth_header: String,
    /// `aud` of the JWTs `/oauth/forward-auth` returns. Unset: the issuer.
    pub forward_auth_audience: Option<String>,
    /// Lifetime of the JWTs `/oauth/forward-auth` returns, in seconds (never past the presented token's expiry).
    pub forward_auth_lifetime_secs: i64,
    /// Algorithm of the JWTs `/oauth/forward-auth` returns: `RS256`, `ES256` or `EdDSA` (ES256 and EdDSA sign about ten times faster than RS256).
    pub forward_auth_signing_alg: String,
}

/// Dynamic client registration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Who may register clients at `POST /oauth/register`: `open` (anyone, rate-limited per client address), `token` (only with an initial access token from `portcullis registration-token create`, sent as `Authorization: Bearer`), or `off` (the endpoint answers 404 and is not advertised in the metadata).
    pub policy: RegistrationPolicy,
    /// Open registration: registrations one client address (an IPv6 address counts by its /64) may make within `rate_window_secs`; beyond that it gets 429 with Retry-After until a whole window has passed. 0 turns the limit off. The address is the TCP peer's: behind a reverse proxy, every client shares the proxy's.
    pub rate_limit: u32,
    /// The window of `rate_limit`, in seconds.
    pub rate_window_secs: i64,
}

/// Who may register clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    Open,
    Token,
    Off,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            policy: RegistrationPolicy::Open,
            rate_limit: 20,
            rate_window_secs: 3600,
        }
    }
}

/// The direct JSON login API.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoginApiConfig {
    /// Lifetime of the `token` it returns.
    pub token_lifetime_secs: i64,
}

/// Signing-key rotation.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Seconds between publishing a new key in the JWKS and signing with it, so that other nodes and client caches know it first.
    pub propagation_delay_secs: i64,
    /// Seconds between reloads of the key set from the database, so that a rotation made by another node or the CLI is picked up.
    pub reload_interval_secs: u64,
    /// Rotate each algorithm's signing key once its newest key is this many seconds old (checked at every reload); the old key stays in the JWKS until every token it signed has expired. 0 rotates only by hand (`portcullis keys rotate`).
    pub rotation_period_secs: i64,
}

/// Housekeeping in the background. Every node may run it: deletes are idempotent.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct JanitorConfig {
    /// Seconds between runs. Each run deletes expired codes, device codes, tokens, sessions, throttle windows and initial access tokens, audit events past retention and idle dynamic clients, in batches of `batch_size`, one short transaction each. 0 turns the janitor off (`portcullis janitor run` still works).
    pub interval_secs: u64,
    /// Rows deleted per transaction.
    pub batch_size: i64,
    /// Milliseconds to pause between two batches, so that requests get the database in between.
    pub batch_pause_ms: u64,
    /// Seconds audit events are kept. 0 keeps them forever.
    pub audit_retention_secs: i64,
    /// A dynamically registered client (RFC 7591) that has not received a token for this many seconds and holds no live token, session or personal access token is removed. 0 keeps them forever.
    pub dynamic_client_idle_secs: i64,
}

impl Default for JanitorConfig {
    fn default() -> Self {
        JanitorConfig {
            interval_secs: 300,
            batch_size: 500,
            batch_pause_ms: 10,
            audit_retention_secs: 90 * 86_400,
            dynamic_client_idle_secs: 30 * 86_400,
        }
    }
}

/// How log lines are written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret setting: shown as `***` in debug output.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: None,
            bind: "127.0.0.1:8080".into(),
            database_url: "portcullis.db".into(),
            key_encryption_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            database: DatabaseConfig::default(),
            tokens: TokenConfig::default(),
            keys: KeysConfig::default(),
            sessions: SessionConfig::default(),
            login: LoginConfig::default(),
            client_auth: ClientAuthConfig::default(),
            login_api: LoginApiConfig::default(),
            introspection: IntrospectionConfig::default(),
            pages: PagesConfig::default(),
            device: DeviceConfig::default(),
            par: ParConfig::default(),
            dpop: DpopConfig::default(),
            registration: RegistrationConfig::default(),
            pats: PatsConfig::default(),
            janitor: JanitorConfig::default(),
            metrics: MetricsConfig::default(),
            resources: Vec::new(),
            client_metadata_documents: ClientMetadataDocumentsConfig::default(),
        }
    }
}

impl Default for PatsConfig {
    fn default() -> Self {
        PatsConfig {
            inactivity_days: portcullis_core::pats::DEFAULT_INACTIVITY_DAYS,
            last_used_flush_secs: 60,
            forward_auth_header: "X-Portcullis-Personal-Access-Token".into(),
            forward_auth_audience: None,
            forward_auth_lifetime_secs: 60,
            forward_auth_signing_alg: "RS256".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            pool_size: 8,
            connect_timeout_secs: 5,
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            access_token_lifetime_secs: 300,
            id_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 86_400,
            refresh_reuse_grace_secs: 10,
            default_audience: None,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_secs: 86_400,
            max_lifetime_secs: 30 * 86_400,
            max_per_user: 0,
            limit_policy: SessionLimitPolicy::Refuse,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            max_failures: 5,
            failure_window_secs: 300,
            block_secs: 300,
            otp_max_failures: 5,
            otp_failure_window_secs: 300,
            otp_block_secs: 300,
            hash_workers: 2,
            hash_queue: 64,
        }
    }
}

impl Default for PagesConfig {
    fn default() -> Self {
        PagesConfig {
            templates_dir: None,
            browser_session_secs: 8 * 3600,
        }
    }
}

impl Default for LoginApiConfig {
    fn default() -> Self {
        LoginApiConfig {
            token_lifetime_secs: 3600,
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            propagation_delay_secs: 300,
            reload_interval_secs: 30,
            rotation_period_secs: 90 * 86_400,
        }
    }
}

/// Values given as command-line flags; they win over every other source.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// A setting that cannot be used; the message names the key or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Environment variables with the `PORTCULLIS_` prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["test_database_url"];

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed("PORTCULLIS_").split("__").filter(|k| {
            !NOT_SETTINGS
                .iter()
                .any(|n| k.as_str().eq_ignore_ascii_case(n))
        });
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(issuer) = &self.issuer {
            Issuer::parse(issuer).map_err(|e| ConfigError(format!("issuer {issuer:?}: {e}")))?;
        }
        self.bind.parse::<SocketAddr>().map_err(|_| {
            ConfigError(format!(
                "bind {:?}: not an address such as 127.0.0.1:8080",
                self.bind
            ))
        })?;
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError(format!("log_level {:?}: {e}", self.log_level)))?;
        if self.database.pool_size == 0 {
            return Err(ConfigError("database.pool_size must be at least 1".into()));
        }
        for (key, v) in [
            (
                "tokens.access_token_lifetime_secs",
                self.tokens.access_token_lifetime_secs,
            ),
            (
                "tokens.id_token_lifetime_secs",
                self.tokens.id_token_lifetime_secs,
            ),
            (
                "tokens.refresh_token_lifetime_secs",
                self.tokens.refresh_token_lifetime_secs,
            ),
            (
                "sessions.idle_timeout_secs",
                self.sessions.idle_timeout_secs,
            ),
            (
                "sessions.max_lifetime_secs",
                self.sessions.max_lifetime_secs,
            ),
            (
                "login_api.token_lifetime_secs",
                self.login_api.token_lifetime_secs,
            ),
            (
                "pages.browser_session_secs",
                self.pages.browser_session_secs,
            ),
            ("device.expires_in_secs", self.device.expires_in_secs),
            ("device.interval_secs", self.device.interval_secs),
        ] {
            if v <= 0 {
                return Err(ConfigError(format!("{key} must be positive")));
            }
        }
        if self.tokens.refresh_reuse_grace_secs < 0
            || self.login.failure_window_secs < 0
            || self.login.block_secs < 0
        {
            return Err(ConfigError("tokens.refresh_reuse_grace_secs, login.failure_window_secs and login.block_secs must not be negative".into()));
        }
        if self.login.hash_workers == 0 || self.login.hash_queue == 0 {
            return Err(ConfigError(
                "login.hash_workers and login.hash_queue must be at least 1".into(),
            ));
        }
        if let Some(aud) = &self.tokens.default_audience {
            url::Url::parse(aud)
                .map_err(|e| ConfigError(format!("tokens.default_audience {aud:?}: {e}")))?;
        }
        if self.pats.forward_auth_lifetime_secs <= 0 {
            return Err(ConfigError(
                "pats.forward_auth_lifetime_secs must be positive".into(),
            ));
        }
        if self.pats.last_used_flush_secs == 0 {
            return Err(ConfigError(
                "pats.last_used_flush_secs must be at least 1".into(),
            ));
        }
        let header = &self.pats.forward_auth_header;
        if actix_web::http::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(ConfigError(format!(
                "pats.forward_auth_header {header:?}: not an HTTP header name"
            )));
        }
        let alg = &self.pats.forward_auth_signing_alg;
        alg.parse::<portcullis_core::model::SigningAlg>()
            .map_err(|_| {
                ConfigError(format!(
                    "pats.forward_auth_signing_alg {alg:?}: must be RS256, ES256 or EdDSA"
                ))
            })?;
        if self.pats.forward_auth_audience.as_deref() == Some("") {
            return Err(ConfigError(
                "pats.forward_auth_audience must not be empty".into(),
            ));
        }
        if self.registration.rate_window_secs <= 0 {
            return Err(ConfigError(
                "registration.rate_window_secs must be positive".into(),
            ));
        }
        let docs = &self.client_metadata_documents;
        if docs.timeout_secs == 0 || docs.cache_entries == 0 {
            return Err(ConfigError(
                "client_metadata_documents.timeout_secs and client_metadata_documents.cache_entries must be at least 1".into(),
            ));
        }
        if docs.min_cache_secs < 0 || docs.max_cache_secs < docs.min_cache_secs {
            return Err(ConfigError(
                "client_metadata_documents: min_cache_secs must not be negative, nor above max_cache_secs".into(),
            ));
        }
        if self.keys.propagation_delay_secs < 0 {
            return Err(ConfigError(
                "keys.propagation_delay_secs must not be negative".into(),
            ));
        }
        for (key, v) in [
            ("keys.rotation_period_secs", self.keys.rotation_period_secs),
            (
                "janitor.audit_retention_secs",
                self.janitor.audit_retention_secs,
            ),
            (
                "janitor.dynamic_client_idle_secs",
                self.janitor.dynamic_client_idle_secs,
            ),
        ] {
            if v < 0 {
                return Err(ConfigError(format!(
                    "{key} must not be negative (0: never)"
                )));
            }
        }
        if self.janitor.batch_size < 1 {
            return Err(ConfigError("janitor.batch_size must be at least 1".into()));
        }
        self.resources()?;
        Ok(())
    }

    /// The protected resources for the grant engine, or the first one that
    /// cannot be used.
    pub fn resources(&self) -> Result<Resources, ConfigError> {
        let mut list = Vec::new();
        for r in &self.resources {
            let at = |msg: String| ConfigError(format!("resources {:?}: {msg}", r.uri));
            let scopes =
                Scopes::parse(&r.scopes.join(" ")).map_err(|e| at(format!("scopes: {e}")))?;
            let format = parse_opt::<TokenFormat>(&r.format)
                .map_err(|_| at("format must be jwt or opaque".into()))?;
            let alg = parse_opt::<SigningAlg>(&r.alg)
                .map_err(|_| at("alg must be RS256, ES256 or EdDSA".into()))?;
            list.push(Resource {
                uri: r.uri.clone(),
                name: r.name.clone(),
                scopes,
                format,
                alg,
                lifetime: r.lifetime_secs,
            });
        }
        Resources::new(list).map_err(|e| ConfigError(format!("resources: {e}")))
    }

    /// The issuer for a server bound to `local`: the configured one, or
    /// `http://<local>`.
    pub fn issuer_for(&self, local: SocketAddr) -> Result<Issuer, ConfigError> {
        let raw = self
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        Issuer::parse(&raw).map_err(|e| ConfigError(format!("issuer {raw:?}: {e}")))
    }

    /// Token and session rules for the grant engine.
    pub fn token_policy(&self) -> Result<portcullis_core::tokens::TokenPolicy, ConfigError> {
        Ok(portcullis_core::tokens::TokenPolicy {
            access_token_lifetime: self.tokens.access_token_lifetime_secs,
            refresh_token_lifetime: self.tokens.refresh_token_lifetime_secs,
            id_token_lifetime: self.tokens.id_token_lifetime_secs,
            default_audience: self.tokens.default_audience.clone(),
            refresh_reuse_grace: self.tokens.refresh_reuse_grace_secs,
            session_idle: self.sessions.idle_timeout_secs,
            session_max: self.sessions.max_lifetime_secs,
            max_sessions_per_user: (self.sessions.max_per_user > 0)
                .then_some(self.sessions.max_per_user),
            evict_oldest_session: self.sessions.limit_policy == SessionLimitPolicy::EvictOldest,
            resources: self.resources()?,
        })
    }

    /// The throttles of failed passwords, one-time codes and client
    /// authentications.
    pub fn throttles(&self) -> portcullis_core::throttle::Throttles {
        use portcullis_core::throttle::ThrottlePolicy;
        portcullis_core::throttle::Throttles {
            user: ThrottlePolicy {
                max_failures: self.login.max_failures,
                window: self.login.failure_window_secs,
                block: self.login.block_secs,
            },
            otp: ThrottlePolicy {
                max_failures: self.login.otp_max_failures,
                window: self.login.otp_failure_window_secs,
                block: self.login.otp_block_secs,
            },
            client: ThrottlePolicy {
                max_failures: self.client_auth.max_failures,
                window: self.client_auth.failure_window_secs,
                block: self.client_auth.block_secs,
            },
        }
    }

    /// What the janitor keeps, and for how long.
    pub fn janitor_policy(&self) -> portcullis_core::janitor::JanitorPolicy {
        let positive = |secs: i64| (secs > 0).then_some(secs);
        portcullis_core::janitor::JanitorPolicy {
            audit_retention: positive(self.janitor.audit_retention_secs),
            dynamic_client_idle: positive(self.janitor.dynamic_client_idle_secs),
            // A registration window blocks until a whole window has passed.
            throttle_span: self
                .throttles()
                .span()
                .max(2 * self.registration.rate_window_secs),
        }
    }

    /// The longest a token signed by a key can live: how long a retired key
    /// must stay in the JWKS.
    pub fn max_signed_token_lifetime(&self) -> i64 {
        self.tokens
            .access_token_lifetime_secs
            .max(self.tokens.id_token_lifetime_secs)
            .max(self.login_api.token_lifetime_secs)
            .max(self.pats.forward_auth_lifetime_secs)
            .max(
                self.resources
                    .iter()
                    .filter_map(|r| r.lifetime_secs)
                    .max()
                    .unwrap_or(0),
            )
    }
}

/// An optional setting parsed, if set.
fn parse_opt<T: std::str::FromStr>(v: &Option<String>) -> Result<Option<T>, T::Err> {
    v.as_deref().map(str::parse).transpose()
}

/// One line naming the setting (as a key and as its environment variable)
/// and what is wrong with it.
fn describe(e: figment::Error) -> String {
    let first = e.into_iter().next();
    let Some(e) = first else {
        return "invalid settings".into();
    };
    let path: Vec<String> = e.path.iter().map(|p| p.to_lowercase()).collect();
    let key = path.join(".");
    let env = format!("PORTCULLIS_{}", path.join("__").to_uppercase());
    let source = e
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    one_line(&format!("setting {key} ({env}){source}: {}", e.kind))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `docs/configuration.md`, generated from the doc comments above.
pub fn docs_markdown() -> String {
    let schema = schemars::schema_for!(Config);
    let root = schema.as_value();
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = String::from(
        "# Configuration\n\n\
         <!-- Generated by `portcullis config docs` from crates/server/src/config.rs; a test keeps it in step. -->\n\n\
         Sources, later ones winning: built-in defaults < the TOML file named by `--config` < \
         environment variables < command-line flags (`--issuer`, `--bind`, `--database-url`, `--log-format`).\n\n\
         Every key has an environment variable: `PORTCULLIS_` followed by the key in capitals, with nested \
         keys joined by `__` (`database.pool_size` is `PORTCULLIS_DATABASE__POOL_SIZE`). An unknown key or a \
         malformed value stops `portcullis` with exit code 2 and a line naming the key.\n\n\
         | key | environment variable | default | meaning |\n|---|---|---|---|\n",
    );
    walk(root, root, "", &defaults, &mut out);
    out
}

fn walk(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    defaults: &serde_json::Value,
    out: &mut String,
) {
    let Some(props) = node.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    // Keys of array items (`resources[].uri`) have no variable of their own.
    let in_array = prefix.ends_with("[]");
    for (name, prop) in props {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let default = defaults
            .get(name)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let target = resolve(root, prop);
        if target.get("properties").is_some() {
            walk(root, target, &key, &default, out);
            continue;
        }
        let env = if in_array {
            format!(
                "part of `PORTCULLIS_{}`",
                prefix
                    .trim_end_matches("[]")
                    .replace('.', "__")
                    .to_uppercase()
            )
        } else {
            format!("`PORTCULLIS_{}`", key.replace('.', "__").to_uppercase())
        };
        let desc = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .replace('\n', " ");
        let shown = match &default {
            serde_json::Value::Null => "unset".to_string(),
            serde_json::Value::String(s) if s.is_empty() && in_array => "required".to_string(),
            serde_json::Value::String(s) => format!("`{s}`"),
            v => format!("`{v}`"),
        };
        out.push_str(&format!("| `{key}` | {env} | {shown} | {desc} |\n"));
        // An array of tables: one row per key of its items.
        if let Some(items) = target.get("items") {
            let item = resolve(root, items);
            if item.get("properties").is_some() {
                let item_defaults = item_defaults(name);
                walk(root, item, &format!("{key}[]"), &item_defaults, out);
            }
        }
    }
}

/// The defaults of one item of an array of tables, by the array's key.
fn item_defaults(array: &str) -> serde_json::Value {
    match array {
        "resources" => serde_json::to_value(ResourceConfig::default()).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// Follow a `$ref` (directly or inside `allOf`/`anyOf`) to its definition.
fn resolve<'a>(root: &'a serde_json::Value, prop: &'a serde_json::Value) -> &'a serde_json::Value {
    let reference = prop.get("$ref").and_then(|r| r.as_str()).or_else(|| {
        ["allOf", "anyOf"].iter().find_map(|k| {
            prop.get(*k)?
                .as_array()?
                .iter()
                .find_map(|v| v.get("$ref")?.as_str())
        })
    });
    match reference.and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => root.get("$defs").and_then(|d| d.get(name)).unwrap_or(prop),
        None => prop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_in_step_with_the_struct() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == docs_markdown(),
            "docs/configuration.md is stale: run `cargo run -q --bin portcullis -- config docs > docs/configuration.md`"
        );
    }

    #[test]
    fn docs_name_every_key_and_env_var() {
        let d = docs_markdown();
        for needle in [
            "`issuer`",
            "`PORTCULLIS_ISSUER`",
            "`PORTCULLIS_BIND`",
            "`PORTCULLIS_DATABASE_URL`",
            "`PORTCULLIS_DATABASE__POOL_SIZE`",
            "`PORTCULLIS_KEY_ENCRYPTION_KEY`",
        ] {
            assert!(d.contains(needle), "{needle} missing from docs");
        }
    }

    #[test]
    fn resources_are_checked_and_extend_key_retention() {
        let with = |list: Vec<ResourceConfig>| Config {
            resources: list,
            ..Config::default()
        };
        let ok = ResourceConfig {
            uri: "https://mcp.example.com/mcp".into(),
            scopes: vec!["mcp:tools".into()],
            format: Some("opaque".into()),
            alg: Some("EdDSA".into()),
            lifetime_secs: Some(2 * 86_400),
            ..Default::default()
        };
        let c = with(vec![ok.clone()]);
        c.validate().unwrap();
        // A retired key stays published as long as its longest-lived token.
        assert_eq!(c.max_signed_token_lifetime(), 2 * 86_400);
        let policy = c.token_policy().unwrap();
        let r = policy
            .resources
            .find("HTTPS://MCP.example.com/mcp")
            .unwrap();
        assert_eq!(
            (r.alg, r.format, r.lifetime, r.scopes.to_string().as_str()),
            (
                Some(SigningAlg::EdDsa),
                Some(TokenFormat::Opaque),
                Some(2 * 86_400),
                "mcp:tools"
            )
        );
        let bad = |f: &dyn Fn(&mut ResourceConfig)| {
            let mut r = ok.clone();
            f(&mut r);
            with(vec![r]).validate().unwrap_err().0
        };
        assert!(bad(&|r| r.uri = String::new()).contains("absolute URI"));
        assert!(bad(&|r| r.uri = "https://a.example/#x".into()).contains("fragment"));
        assert!(bad(&|r| r.alg = Some("HS256".into())).contains("alg must be"));
        assert!(bad(&|r| r.format = Some("xml".into())).contains("format must be"));
        assert!(bad(&|r| r.lifetime_secs = Some(0)).contains("lifetime"));
        assert!(bad(&|r| r.scopes = vec!["a\"b".into()]).contains("scopes"));
        let twice = ResourceConfig {
            uri: "HTTPS://MCP.example.com/mcp".into(),
            ..Default::default()
        };
        let e = with(vec![ok, twice]).validate().unwrap_err().0;
        assert!(e.contains("configured twice"), "{e}");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = Config {
            key_encryption_key: Some(Secret("hunter2".into())),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

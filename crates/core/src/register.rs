//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592): reading a client metadata document into a [`ClientSpec`],
//! who may register (open with a per-address limit, or with an initial
//! access token), the registration access token, and the client
//! information response. The server only extracts and renders.
//!
//! Rules, with the RFC text they follow:
//!
//! - RFC 7591 §2: "The implementation and use of all client metadata fields
//!   is OPTIONAL" and "the authorization server MUST ignore any client
//!   metadata sent by the client that it does not understand". Unknown
//!   members (`resource`, `client_name#ja`...) are ignored; a
//!   JSON `null` counts as absent (RFC 7592 §2.2: "The authorization server
//!   MAY ignore any null or empty value in the request").
//! - RFC 7591 §2: `grant_types` defaults to `["authorization_code"]`; like
//!   the clients users expect (seed 004), Portcullis adds `refresh_token`.
//!   `token_endpoint_auth_method` defaults to `client_secret_basic`.
//! - RFC 7591 §2.1: `grant_types` and `response_types` must agree: `code`
//!   goes with `authorization_code`.
//! - RFC 7591 §3.2.2: `invalid_redirect_uri` for a bad redirection URI,
//!   `invalid_client_metadata` for any other bad member; the description
//!   names the member.
//! - RFC 7591 §3.2.1: the answer repeats every registered member, "including
//!   any fields provisioned by the authorization server itself".
//! - RFC 7592 §3: registration adds `registration_access_token` and
//!   `registration_client_uri`; the token is kept only as a hash.
//! - RFC 7592 §2.2: an update replaces the metadata; it "MUST include its
//!   client_id field" which "MUST be the same as its currently issued client
//!   identifier"; it "MUST NOT include the registration_access_token,
//!   registration_client_uri, client_secret_expires_at, or
//!   client_id_issued_at fields"; a `client_secret` in it "MUST match the
//!   currently issued client secret", and "the client MUST NOT be allowed to
//!   overwrite its existing client secret with its own chosen value".
//!
//! Portcullis's own choices: the `password` grant and the `admin` scope are
//! not available to self-registered clients; an update cannot turn a public
//! client into a confidential one or back (that changes its credential:
//! register a new client instead), and an omitted
//! `token_endpoint_auth_method` in an update keeps the current one.
//! Registered clients carry `"dynamic": true` in their stored metadata.

use serde_json::{json, Map, Value};
use url::Url;

use crate::clients::{new_client, ClientSpec};
use crate::error::{ErrorCode, OAuthError};
use crate::introspect::ADMIN_SCOPE;
use crate::issuer::Issuer;
use crate::model::{Client, ClientAuthMethod, GrantType, InitialAccessToken, Scopes};
use crate::ports::{AuditStore, ClientStore, InitialAccessTokenStore, Random, ThrottleStore};
use crate::secret::{hash_token, random_token, verify_token};
use crate::sessions::audit;

/// The registration endpoint, relative to the issuer; a client's
/// configuration endpoint is this plus `/{client_id}` (RFC 7592 §2).
pub const REGISTER_PATH: &str = "/oauth/register";

/// The member of `Client::metadata` that marks a self-registered client.
pub const DYNAMIC: &str = "dynamic";

/// `client_name` when the document names none (RFC 7591 §2 makes it optional;
/// the consent page needs a name).
pub const DEFAULT_CLIENT_NAME: &str = "Unnamed client";

/// Members the server sets (RFC 7592 §2.2 forbids them in an update).
pub const SERVER_MEMBERS: &[&str] = &[
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

/// Kept in `Client::metadata` as given (after checks).
const URI_MEMBERS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];
const TEXT_MEMBERS: &[&str] = &["software_id", "software_version"];
/// Boolean members kept (only when `true`) and always answered.
const FLAG_MEMBERS: &[&str] = &[crate::par::REQUIRE_PAR, crate::dpop::BOUND_ACCESS_TOKENS];

const MAX_URIS: usize = 20;
const MAX_URI_LEN: usize = 2000;
const MAX_TEXT: usize = 200;
const MAX_CONTACTS: usize = 10;
const MAX_CONTACT_LEN: usize = 320;

fn meta(msg: impl Into<String>) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidClientMetadata, msg)
}

fn redirect(msg: impl Into<String>) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidRedirectUri, msg)
}

fn invalid_token(msg: &str) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidToken, msg)
}

/// A member's value; `null` counts as absent.
fn member<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    doc.get(key).filter(|v| !v.is_null())
}

/// A printable string of at most `max` characters; empty counts as absent.
fn text(
    doc: &Map<String, Value>,
    key: &str,
    max: usize,
    err: fn(String) -> OAuthError,
) -> Result<Option<String>, OAuthError> {
    let Some(v) = member(doc, key) else {
        return Ok(None);
    };
    let s = v
        .as_str()
        .ok_or_else(|| err(format!("{key} must be a string")))?
        .trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(err(format!(
            "{key} must be at most {max} printable characters"
        )));
    }
    Ok(Some(s.to_string()))
}

/// An array of strings (each checked like [`text`]), duplicates dropped;
/// empty counts as absent.
fn list(
    doc: &Map<String, Value>,
    key: &str,
    max_items: usize,
    max_len: usize,
    err: fn(String) -> OAuthError,
) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(v) = member(doc, key) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| err(format!("{key} must be an array of strings")))?;
    if items.len() > max_items {
        return Err(err(format!("{key} may have at most {max_items} entries")));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let s = item
            .as_str()
            .ok_or_else(|| err(format!("{key} must be an array of strings")))?;
        if s.is_empty() || s.chars().count() > max_len || s.chars().any(char::is_control) {
            return Err(err(format!(
                "{key} entries must be 1 to {max_len} printable characters"
            )));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Redirect URIs: https, http on loopback, or a private-use scheme (RFC
/// 8252 §7), no fragment (RFC 6749 §3.1.2).
fn checked_redirect_uris(doc: &Map<String, Value>, key: &str) -> Result<Vec<String>, OAuthError> {
    let uris = list(doc, key, MAX_URIS, MAX_URI_LEN, redirect)?.unwrap_or_default();
    for uri in &uris {
        crate::redirect::validate_redirect_uri(uri).map_err(|e| redirect(format!("{key}: {e}")))?;
    }
    Ok(uris)
}

/// Read a client metadata document (RFC 7591 §2). `auth_method` and
/// `grant_types` stay `None` when absent, so that the caller can tell a
/// default from a choice.
pub fn parse_metadata(doc: &Value) -> Result<ClientSpec, OAuthError> {
    let doc = doc
        .as_object()
        .ok_or_else(|| meta("the body must be a JSON object of client metadata"))?;

    let redirect_uris = checked_redirect_uris(doc, "redirect_uris")?;
    let post_logout_redirect_uris = checked_redirect_uris(doc, "post_logout_redirect_uris")?;

    let auth_method = match text(doc, "token_endpoint_auth_method", 64, meta)? {
        None => None,
        Some(m) => Some(m.parse::<ClientAuthMethod>().map_err(|_| {
            meta(format!(
                "token_endpoint_auth_method {m:?} is not supported: use none, client_secret_basic, client_secret_post or private_key_jwt"
            ))
        })?),
    };

    let grant_types = match list(doc, "grant_types", 8, 128, meta)? {
        None => None,
        Some(names) => {
            let mut grants = Vec::with_capacity(names.len());
            for g in &names {
                match g.parse::<GrantType>() {
                    Ok(GrantType::Password) => {
                        return Err(meta(
                            "grant_types: password is not available to registered clients",
                        ))
                    }
                    Ok(grant) => grants.push(grant),
                    Err(_) => {
                        return Err(meta(format!(
                            "grant_types: {g:?} is not supported: use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code"
                        )))
                    }
                }
            }
            Some(grants)
        }
    };

    // RFC 7591 §2.1: response_types and grant_types must agree.
    if let Some(types) = list(doc, "response_types", 4, 64, meta)? {
        if let Some(other) = types.iter().find(|t| *t != "code") {
            return Err(meta(format!(
                "response_types: {other:?} is not supported: only code"
            )));
        }
        let code_grant = grant_types
            .as_ref()
            .is_none_or(|g| g.contains(&GrantType::AuthorizationCode));
        if !code_grant {
            return Err(meta(
                "response_types code needs the authorization_code grant (RFC 7591 §2.1)",
            ));
        }
    }
    let code_grant = grant_types
        .as_ref()
        .is_none_or(|g| g.contains(&GrantType::AuthorizationCode));
    if code_grant && redirect_uris.is_empty() {
        return Err(redirect(
            "redirect_uris is required for the authorization_code grant",
        ));
    }

    let scope = match text(doc, "scope", MAX_URI_LEN, meta)? {
        None => None,
        Some(s) => {
            let scopes = Scopes::parse(&s).map_err(|e| meta(format!("scope: {e}")))?;
            if scopes.contains(ADMIN_SCOPE) {
                return Err(meta(
                    "scope: admin is reserved for clients an administrator creates",
                ));
            }
            Some(scopes).filter(|s| !s.is_empty())
        }
    };

    let mut kept = Map::new();
    kept.insert(DYNAMIC.into(), Value::Bool(true));
    for key in URI_MEMBERS {
        if let Some(uri) = text(doc, key, MAX_URI_LEN, meta)? {
            let ok = Url::parse(&uri)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !ok {
                return Err(meta(format!("{key} must be an absolute http or https URL")));
            }
            kept.insert((*key).into(), Value::String(uri));
        }
    }
    for key in TEXT_MEMBERS {
        if let Some(v) = text(doc, key, MAX_TEXT, meta)? {
            kept.insert((*key).into(), Value::String(v));
        }
    }
    if let Some(contacts) = list(doc, "contacts", MAX_CONTACTS, MAX_CONTACT_LEN, meta)? {
        kept.insert("contacts".into(), json!(contacts));
    }
    // RFC 7591 §2: the client's keys, checked with the method in
    // `clients::client_with_id`; the fetch takes https only.
    if let Some(uri) = text(doc, crate::client_assertion::JWKS_URI, MAX_URI_LEN, meta)? {
        kept.insert(crate::client_assertion::JWKS_URI.into(), Value::String(uri));
    }
    if let Some(set) = member(doc, crate::client_assertion::JWKS) {
        kept.insert(crate::client_assertion::JWKS.into(), set.clone());
    }
    // RFC 9126 §6 and RFC 9449 §5.2: booleans; only `true` is kept (false
    // is the default).
    for key in FLAG_MEMBERS {
        match doc.get(*key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                kept.insert((*key).into(), Value::Bool(true));
            }
            Some(_) => return Err(meta(format!("{key} must be a boolean"))),
        }
    }

    Ok(ClientSpec {
        name: text(doc, "client_name", MAX_TEXT, meta)?
            .unwrap_or_else(|| DEFAULT_CLIENT_NAME.into()),
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scope,
        auth_method,
        access_token_format: None,
        signing_alg: None,
        application_type: text(doc, "application_type", 16, meta)?,
        metadata: Some(Value::Object(kept)),
    })
}

/// `["code"]` for clients with the authorization code grant, else none.
pub(crate) fn response_types(grants: &[GrantType]) -> Vec<String> {
    if grants.contains(&GrantType::AuthorizationCode) {
        vec!["code".into()]
    } else {
        vec![]
    }
}

/// Is this a self-registered client?
pub fn is_dynamic(client: &Client) -> bool {
    client.metadata.get(DYNAMIC) == Some(&Value::Bool(true))
}

/// A new client, its secret (confidential clients) and its registration
/// access token, the last two in clear for the one response that shows them.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: String,
}

/// RFC 7591 §3.1: a client from a metadata document (not stored yet).
pub fn new_registration(
    doc: &Value,
    now: i64,
    rng: &mut dyn Random,
) -> Result<Registered, OAuthError> {
    let created = new_client(parse_metadata(doc)?, now, rng)?;
    let mut client = created.client;
    client.response_types = response_types(&client.grant_types);
    let registration_token = random_token(rng, 32);
    client.registration_token_hash = Some(hash_token(&registration_token));
    Ok(Registered {
        client,
        secret: created.secret,
        registration_token,
    })
}

/// RFC 7592 §2.2: `stored` with its metadata replaced by `doc`. The id, the
/// secret, the registration access token and the server's own settings
/// (token format, signing algorithm, flags) stay.
pub fn replace_metadata(
    stored: &Client,
    doc: &Value,
    now: i64,
    rng: &mut dyn Random,
) -> Result<Client, OAuthError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| meta("the body must be a JSON object of client metadata"))?;
    if let Some(m) = SERVER_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
        return Err(OAuthError::invalid_request(format!(
            "{m} must not be sent in an update (RFC 7592 §2.2)"
        )));
    }
    match obj.get("client_id") {
        Some(Value::String(id)) if *id == stored.id => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "client_id does not match the client being updated",
            ))
        }
        None => {
            return Err(OAuthError::invalid_request(
                "client_id is required in an update (RFC 7592 §2.2)",
            ))
        }
    }
    if let Some(v) = member(obj, "client_secret") {
        let matches = v
            .as_str()
            .zip(stored.secret_hash.as_deref())
            .is_some_and(|(secret, hash)| verify_token(secret, hash));
        if !matches {
            return Err(OAuthError::invalid_request(
                "client_secret does not match the secret issued to this client; it cannot be chosen",
            ));
        }
    }
    let mut spec = parse_metadata(doc)?;
    let method = spec.auth_method.unwrap_or(stored.auth_method);
    if crate::clients::needs_secret(method) != stored.secret_hash.is_some() {
        return Err(meta(
            "token_endpoint_auth_method cannot change between a secret method and one without a secret: register a new client instead",
        ));
    }
    spec.auth_method = Some(method);
    let fresh = new_client(spec, now, rng)?.client;
    Ok(Client {
        id: stored.id.clone(),
        secret_hash: stored.secret_hash.clone(),
        name: fresh.name,
        auth_method: fresh.auth_method,
        redirect_uris: fresh.redirect_uris,
        post_logout_redirect_uris: fresh.post_logout_redirect_uris,
        response_types: response_types(&fresh.grant_types),
        grant_types: fresh.grant_types,
        scope: fresh.scope,
        access_token_format: stored.access_token_format,
        signing_alg: stored.signing_alg,
        application_type: fresh.application_type,
        metadata: fresh.metadata,
        registration_token_hash: stored.registration_token_hash.clone(),
        is_resource_server: stored.is_resource_server,
        first_party: stored.first_party,
        disabled: stored.disabled,
        created_at: stored.created_at,
        updated_at: now,
        secret_expires_at: stored.secret_expires_at,
    })
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): every
/// registered member, `client_secret` only when it is shown (at
/// registration), and the registration access token the caller holds.
pub fn client_information(
    client: &Client,
    secret: Option<&str>,
    registration_token: &str,
    issuer: &Issuer,
) -> Value {
    let mut out = Map::new();
    out.insert("client_id".into(), json!(client.id));
    if let Some(secret) = secret {
        out.insert("client_secret".into(), json!(secret));
    }
    out.insert("client_id_issued_at".into(), json!(client.created_at));
    // RFC 7591 §3.2.1: 0 means the secret does not expire.
    out.insert(
        "client_secret_expires_at".into(),
        json!(client.secret_expires_at),
    );
    out.insert(
        "registration_access_token".into(),
        json!(registration_token),
    );
    out.insert(
        "registration_client_uri".into(),
        json!(issuer.endpoint(&format!("{REGISTER_PATH}/{}", client.id))),
    );
    out.insert("client_name".into(), json!(client.name));
    out.insert("redirect_uris".into(), json!(client.redirect_uris));
    if !client.post_logout_redirect_uris.is_empty() {
        out.insert(
            "post_logout_redirect_uris".into(),
            json!(client.post_logout_redirect_uris),
        );
    }
    out.insert(
        "token_endpoint_auth_method".into(),
        json!(client.auth_method.as_str()),
    );
    out.insert(
        "grant_types".into(),
        json!(client
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()),
    );
    out.insert("response_types".into(), json!(client.response_types));
    out.insert("scope".into(), json!(client.scope.to_string()));
    out.insert("application_type".into(), json!(client.application_type));
    for key in FLAG_MEMBERS {
        let on = client.metadata.get(*key) == Some(&Value::Bool(true));
        out.insert((*key).into(), Value::Bool(on));
    }
    for key in URI_MEMBERS.iter().chain(TEXT_MEMBERS).chain(&[
        "contacts",
        crate::client_assertion::JWKS,
        crate::client_assertion::JWKS_URI,
    ]) {
        if let Some(v) = client.metadata.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    Value::Object(out)
}

/// Who may register: the server's `registration.policy`.
#[derive(Debug, Clone, Copy)]
pub enum Gate<'a> {
    /// Anyone; at most `limit` registrations per `window` seconds from one
    /// client address (`limit` 0: no limit).
    Open { limit: u32, window: i64 },
    /// Only with a live initial access token (RFC 7591 §3), presented as a
    /// bearer token.
    Token { presented: Option<&'a str> },
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An RFC error (`invalid_token` means 401).
    Error(OAuthError),
    /// Too many registrations from this address: retry after this many seconds.
    RateLimited(i64),
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Refusal::Error(e)
    }
}

impl From<crate::ports::StoreError> for Refusal {
    fn from(e: crate::ports::StoreError) -> Self {
        Refusal::Error(e.into())
    }
}

/// The throttle key of open registration from `address`.
pub fn rate_key(address: &str) -> String {
    format!("register:{address}")
}

/// Count one use of an initial access token, or `invalid_token`.
pub fn use_initial_access_token(
    tx: &mut impl InitialAccessTokenStore,
    presented: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    let token = presented.ok_or_else(|| {
        invalid_token("registration needs an initial access token (Authorization: Bearer)")
    })?;
    if tx.use_initial_access_token(&hash_token(token), now)? {
        Ok(())
    } else {
        Err(invalid_token(
            "the initial access token is invalid, expired or used up",
        ))
    }
}

/// `POST /oauth/register`: check the gate, register, count the registration
/// against the address, audit. Returns the client information response.
/// An `Err` must roll the transaction back (nothing is stored or counted).
pub fn register(
    tx: &mut (impl ClientStore + ThrottleStore + InitialAccessTokenStore + AuditStore),
    gate: Gate<'_>,
    address: &str,
    doc: &Value,
    issuer: &Issuer,
    now: i64,
    rng: &mut dyn Random,
) -> Result<Value, Refusal> {
    let key = rate_key(address);
    match gate {
        Gate::Token { presented } => use_initial_access_token(tx, presented, now)?,
        Gate::Open { limit, .. } if limit > 0 => {
            if let Some(secs) = tx.blocked_for(&key, now)? {
                return Err(Refusal::RateLimited(secs.max(1)));
            }
        }
        Gate::Open { .. } => {}
    }
    let r = new_registration(doc, now, rng)?;
    tx.insert_client(&r.client)?;
    if let Gate::Open { limit, window } = gate {
        if limit > 0 {
            // A fixed window: after `limit` registrations the address waits
            // a whole window.
            tx.record_failure(&key, now, window, limit, window)?;
        }
    }
    let via = match gate {
        Gate::Open { .. } => "open",
        Gate::Token { .. } => "initial_access_token",
    };
    audit(
        tx,
        rng,
        now,
        "client_registered",
        None,
        Some(&r.client.id),
        None,
        json!({"address": address, "via": via, "public": r.client.is_public()}),
    )?;
    Ok(client_information(
        &r.client,
        r.secret.as_deref(),
        &r.registration_token,
        issuer,
    ))
}

/// RFC 7592 §2: the client named in the path, if `presented` is its
/// registration access token (compared as SHA-256 digests in constant
/// time). An unknown client, a client without a registration access token
/// and a wrong token all answer the same `invalid_token` (RFC 7592 §2.1:
/// 401 for a client that does not exist).
pub fn authorize_management(
    tx: &mut impl ClientStore,
    client_id: &str,
    presented: Option<&str>,
) -> Result<Client, OAuthError> {
    let token = presented.ok_or_else(|| {
        invalid_token("a registration access token is required (Authorization: Bearer)")
    })?;
    let client = tx.get_client(client_id)?;
    let hash = client
        .as_ref()
        .and_then(|c| c.registration_token_hash.as_deref());
    // Hash even when there is nothing to compare with, so both cases cost the same.
    let good = verify_token(token, hash.unwrap_or(""));
    match client {
        Some(c) if good && hash.is_some() => Ok(c),
        _ => Err(invalid_token(
            "the registration access token is invalid or the client does not exist",
        )),
    }
}

/// RFC 7592 §2.1: read the client's registration.
pub fn read(
    tx: &mut impl ClientStore,
    client_id: &str,
    presented: Option<&str>,
    issuer: &Issuer,
) -> Result<Value, OAuthError> {
    let client = authorize_management(tx, client_id, presented)?;
    Ok(client_information(
        &client,
        None,
        presented.unwrap_or_default(),
        issuer,
    ))
}

/// RFC 7592 §2.2: replace the client's metadata.
pub fn update(
    tx: &mut (impl ClientStore + AuditStore),
    client_id: &str,
    presented: Option<&str>,
    doc: &Value,
    address: &str,
    issuer: &Issuer,
    now: i64,
    rng: &mut dyn Random,
) -> Result<Value, OAuthError> {
    let stored = authorize_management(tx, client_id, presented)?;
    let client = replace_metadata(&stored, doc, now, rng)?;
    if !tx.update_client(&client)? {
        return Err(invalid_token(
            "the registration access token is invalid or the client does not exist",
        ));
    }
    audit(
        tx,
        rng,
        now,
        "client_updated",
        None,
        Some(&client.id),
        None,
        json!({"address": address}),
    )?;
    Ok(client_information(
        &client,
        None,
        presented.unwrap_or_default(),
        issuer,
    ))
}

/// RFC 7592 §2.3: delete the client, and with it its registration access
/// token, sessions, codes, tokens and consents.
pub fn delete(
    tx: &mut (impl ClientStore + AuditStore),
    client_id: &str,
    presented: Option<&str>,
    address: &str,
    now: i64,
    rng: &mut dyn Random,
) -> Result<(), OAuthError> {
    let client = authorize_management(tx, client_id, presented)?;
    tx.delete_client(&client.id)?;
    audit(
        tx,
        rng,
        now,
        "client_deleted",
        None,
        Some(&client.id),
        None,
        json!({"address": address}),
    )?;
    Ok(())
}

/// A new initial access token and its value in clear (shown once).
#[derive(Debug)]
pub struct NewInitialAccessToken {
    pub record: InitialAccessToken,
    pub token: String,
}

/// Mint an initial access token: valid for `expires_in` seconds (`None`:
/// until deleted) and for `max_uses` registrations (`None`: any number).
pub fn new_initial_access_token(
    now: i64,
    expires_in: Option<i64>,
    max_uses: Option<i64>,
    rng: &mut dyn Random,
) -> Result<NewInitialAccessToken, OAuthError> {
    if expires_in.is_some_and(|s| s <= 0) {
        return Err(OAuthError::invalid_request("expires_in must be positive"));
    }
    if max_uses.is_some_and(|n| n <= 0) {
        return Err(OAuthError::invalid_request("max_uses must be positive"));
    }
    let token = random_token(rng, 32);
    Ok(NewInitialAccessToken {
        record: InitialAccessToken {
            token_hash: hash_token(&token),
            created_at: now,
            expires_at: expires_in.map(|s| now.saturating_add(s)),
            max_uses,
            uses: 0,
        },
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemStore, SeqRandom, ISSUER, T0};

    fn issuer() -> Issuer {
        Issuer::parse(ISSUER).unwrap()
    }

    fn code(doc: Value) -> (ErrorCode, String) {
        let e = new_registration(&doc, T0, &mut SeqRandom(1)).unwrap_err();
        (e.code, e.description.unwrap_or_default())
    }

    const OPEN: Gate<'static> = Gate::Open {
        limit: 0,
        window: 60,
    };

    #[test]
    fn public_loopback_client_gets_defaults_and_no_secret() {
        let mut s = MemStore::default();
        let doc = json!({
            "redirect_uris": ["http://127.0.0.1:3000/cb"],
            "token_endpoint_auth_method": "none",
            "client_name": "Inspector",
            "resource": "https://mcp.example/",
            "software_statement": "ignored"
        });
        let r = register(
            &mut s,
            OPEN,
            "192.0.2.1",
            &doc,
            &issuer(),
            T0,
            &mut SeqRandom(1),
        )
        .unwrap();
        let id = r["client_id"].as_str().unwrap();
        assert!(r.get("client_secret").is_none());
        assert_eq!(r["client_secret_expires_at"], 0);
        assert_eq!(r["client_id_issued_at"], T0);
        assert_eq!(
            r["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(r["response_types"], json!(["code"]));
        assert_eq!(r["application_type"], "native");
        assert_eq!(r["token_endpoint_auth_method"], "none");
        assert_eq!(r["scope"], "email offline_access openid profile");
        assert_eq!(
            r["registration_client_uri"],
            format!("{ISSUER}/oauth/register/{id}")
        );
        assert!(r.get("resource").is_none() && r.get("software_statement").is_none());
        let stored = s.clients[0].clone();
        assert!(is_dynamic(&stored));
        assert!(stored.secret_hash.is_none());
        let token = r["registration_access_token"].as_str().unwrap();
        assert!(verify_token(
            token,
            stored.registration_token_hash.as_deref().unwrap()
        ));
        assert_eq!(s.events_of("client_registered").len(), 1);
        assert!(!s.events[0].detail.contains(token));
    }

    #[test]
    fn confidential_web_client_keeps_its_metadata_and_gets_a_hashed_secret() {
        let doc = json!({
            "redirect_uris": ["https://app.example/cb"],
            "post_logout_redirect_uris": ["https://app.example/bye"],
            "client_name": "App",
            "client_uri": "https://app.example",
            "logo_uri": "https://app.example/logo.png",
            "contacts": ["ops@app.example", "ops@app.example"],
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "software_version": "2.1",
            "scope": "openid api:read",
            "grant_types": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_method": "client_secret_post"
        });
        let r = new_registration(&doc, T0, &mut SeqRandom(2)).unwrap();
        let secret = r.secret.as_deref().unwrap();
        assert!(verify_token(
            secret,
            r.client.secret_hash.as_deref().unwrap()
        ));
        assert_eq!(r.client.application_type, "web");
        let info = client_information(&r.client, Some(secret), "rat", &issuer());
        assert_eq!(info["client_secret"], secret);
        assert_eq!(info["contacts"], json!(["ops@app.example"]));
        assert_eq!(info["software_version"], "2.1");
        assert_eq!(info["logo_uri"], "https://app.example/logo.png");
        assert_eq!(info["scope"], "api:read openid");
        assert_eq!(
            info["post_logout_redirect_uris"],
            json!(["https://app.example/bye"])
        );
        assert!(info.get(DYNAMIC).is_none(), "internal mark is not shown");
        assert_eq!(info["require_pushed_authorization_requests"], false);
    }

    #[test]
    fn a_client_may_register_to_require_pushed_requests() {
        // RFC 9126 §6.
        let doc = json!({
            "redirect_uris": ["https://app.example/cb"],
            "require_pushed_authorization_requests": true
        });
        let r = new_registration(&doc, T0, &mut SeqRandom(4)).unwrap();
        assert!(crate::par::required(&r.client));
        let info = client_information(&r.client, None, "rat", &issuer());
        assert_eq!(info["require_pushed_authorization_requests"], true);
        assert_eq!(info["dpop_bound_access_tokens"], false);
    }

    #[test]
    fn a_client_may_register_to_require_dpop() {
        // RFC 9449 §5.2.
        let doc = json!({
            "redirect_uris": ["https://app.example/cb"],
            "dpop_bound_access_tokens": true
        });
        let r = new_registration(&doc, T0, &mut SeqRandom(4)).unwrap();
        assert!(crate::dpop::required(&r.client));
        let info = client_information(&r.client, None, "rat", &issuer());
        assert_eq!(info["dpop_bound_access_tokens"], true);
        let bad =
            json!({"redirect_uris": ["https://app.example/cb"], "dpop_bound_access_tokens": 1});
        assert_eq!(
            new_registration(&bad, T0, &mut SeqRandom(4))
                .unwrap_err()
                .code,
            ErrorCode::InvalidClientMetadata
        );
    }

    #[test]
    fn client_credentials_only_needs_no_redirect_and_has_no_response_type() {
        let doc = json!({"grant_types": ["client_credentials"], "client_name": "worker"});
        let r = new_registration(&doc, T0, &mut SeqRandom(3)).unwrap();
        assert!(r.client.response_types.is_empty());
        assert_eq!(r.client.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert!(r.secret.is_some());
    }

    #[test]
    fn a_public_device_client_needs_no_redirect_uri() {
        let doc = json!({
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "client_name": "tv"
        });
        let r = new_registration(&doc, T0, &mut SeqRandom(3)).unwrap();
        assert!(r.client.allows_grant(GrantType::DeviceCode));
        assert!(r.client.redirect_uris.is_empty());
        assert!(r.secret.is_none());
    }

    #[test]
    fn every_bad_member_is_named() {
        use ErrorCode::{InvalidClientMetadata as Meta, InvalidRedirectUri as Redirect};
        let cases = [
            (
                json!({"redirect_uris": ["http://app.example/cb"]}),
                Redirect,
                "redirect_uris",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb#x"]}),
                Redirect,
                "fragment",
            ),
            (json!({"redirect_uris": ["/cb"]}), Redirect, "redirect_uris"),
            (
                json!({"redirect_uris": "https://app.example/cb"}),
                Redirect,
                "redirect_uris",
            ),
            (json!({"redirect_uris": []}), Redirect, "redirect_uris"),
            (json!({}), Redirect, "redirect_uris"),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "post_logout_redirect_uris": ["javascript:x"]}),
                Redirect,
                "post_logout_redirect_uris",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                Meta,
                "token_endpoint_auth_method",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
                Meta,
                "grant_types",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]}),
                Meta,
                "password",
            ),
            (
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                Meta,
                "client_credentials",
            ),
            (
                json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                Meta,
                "response_types",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                Meta,
                "response_types",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid admin"}),
                Meta,
                "scope",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "scope": "a\"b"}),
                Meta,
                "scope",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:alert(1)"}),
                Meta,
                "logo_uri",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_uri": 7}),
                Meta,
                "client_uri",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "contacts": "a@b"}),
                Meta,
                "contacts",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "application_type": "tv"}),
                Meta,
                "application_type",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(201)}),
                Meta,
                "client_name",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "require_pushed_authorization_requests": "yes"}),
                Meta,
                "require_pushed_authorization_requests",
            ),
            (json!(["not", "an", "object"]), Meta, "JSON object"),
        ];
        for (doc, want, needle) in cases {
            let (got, desc) = code(doc.clone());
            assert_eq!(got, want, "{doc}");
            assert!(desc.contains(needle), "{doc}: {desc}");
        }
    }

    #[test]
    fn nulls_and_empty_values_count_as_absent() {
        let doc = json!({
            "redirect_uris": ["com.example.app:/cb"],
            "grant_types": null,
            "client_name": "",
            "scope": " ",
            "logo_uri": null,
            "token_endpoint_auth_method": "none"
        });
        let r = new_registration(&doc, T0, &mut SeqRandom(4)).unwrap();
        assert_eq!(r.client.name, DEFAULT_CLIENT_NAME);
        assert_eq!(r.client.application_type, "native");
        assert_eq!(
            r.client.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(
            r.client.scope.to_string(),
            "email offline_access openid profile"
        );
    }

    #[test]
    fn open_registration_is_limited_per_address_and_window() {
        let mut s = MemStore::default();
        let gate = Gate::Open {
            limit: 2,
            window: 60,
        };
        let doc = json!({"redirect_uris": ["https://a.example/cb"]});
        let mut rng = SeqRandom(5);
        let mut go = |s: &mut MemStore, addr: &str, now: i64| {
            register(s, gate, addr, &doc, &issuer(), now, &mut rng)
        };
        assert!(go(&mut s, "192.0.2.1", T0).is_ok());
        assert!(go(&mut s, "192.0.2.1", T0 + 1).is_ok());
        assert_eq!(
            go(&mut s, "192.0.2.1", T0 + 2).unwrap_err(),
            Refusal::RateLimited(59)
        );
        assert!(go(&mut s, "192.0.2.2", T0 + 2).is_ok(), "per address");
        assert!(go(&mut s, "192.0.2.1", T0 + 61).is_ok(), "after the window");
        // A refused document is not counted (the server rolls back; here
        // nothing was recorded before the error).
        let bad = json!({"redirect_uris": ["http://a.example/cb"]});
        let e = register(
            &mut s,
            gate,
            "192.0.2.9",
            &bad,
            &issuer(),
            T0,
            &mut SeqRandom(6),
        );
        assert!(matches!(e, Err(Refusal::Error(_))));
        assert!(!s.attempts.contains_key(&rate_key("192.0.2.9")));
    }

    #[test]
    fn token_gate_needs_a_live_initial_access_token() {
        let mut s = MemStore::default();
        let mut rng = SeqRandom(7);
        let doc = json!({"redirect_uris": ["https://a.example/cb"]});
        let once = new_initial_access_token(T0, Some(100), Some(1), &mut rng).unwrap();
        s.insert_initial_access_token(&once.record).unwrap();
        assert_ne!(once.record.token_hash, once.token);
        let mut attempt = |s: &mut MemStore, presented: Option<&str>, now: i64| {
            register(
                s,
                Gate::Token { presented },
                "192.0.2.1",
                &doc,
                &issuer(),
                now,
                &mut rng,
            )
        };
        let code_of = |r: Result<Value, Refusal>| match r {
            Err(Refusal::Error(e)) => e.code,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(code_of(attempt(&mut s, None, T0)), ErrorCode::InvalidToken);
        assert_eq!(
            code_of(attempt(&mut s, Some("wrong"), T0)),
            ErrorCode::InvalidToken
        );
        assert!(attempt(&mut s, Some(&once.token), T0 + 1).is_ok());
        assert_eq!(
            code_of(attempt(&mut s, Some(&once.token), T0 + 2)),
            ErrorCode::InvalidToken,
            "used up"
        );
        let timed = new_initial_access_token(T0, Some(10), None, &mut SeqRandom(8)).unwrap();
        s.insert_initial_access_token(&timed.record).unwrap();
        assert!(attempt(&mut s, Some(&timed.token), T0 + 5).is_ok());
        assert!(attempt(&mut s, Some(&timed.token), T0 + 6).is_ok());
        assert_eq!(
            code_of(attempt(&mut s, Some(&timed.token), T0 + 10)),
            ErrorCode::InvalidToken,
            "expired"
        );
        assert!(new_initial_access_token(T0, Some(0), None, &mut SeqRandom(9)).is_err());
        assert!(new_initial_access_token(T0, None, Some(-1), &mut SeqRandom(9)).is_err());
    }

    fn registered(s: &mut MemStore, doc: Value) -> (String, String, Option<String>) {
        let r = register(
            s,
            OPEN,
            "192.0.2.1",
            &doc,
            &issuer(),
            T0,
            &mut SeqRandom(10),
        )
        .unwrap();
        (
            r["client_id"].as_str().unwrap().to_string(),
            r["registration_access_token"].as_str().unwrap().to_string(),
            r["client_secret"].as_str().map(str::to_string),
        )
    }

    #[test]
    fn management_needs_the_clients_own_registration_token() {
        let mut s = MemStore::default();
        let doc = json!({"redirect_uris": ["https://a.example/cb"], "client_name": "A"});
        let (a, token_a, _) = registered(&mut s, doc.clone());
        let r = register(&mut s, OPEN, "x", &doc, &issuer(), T0, &mut SeqRandom(11)).unwrap();
        let token_b = r["registration_access_token"].as_str().unwrap();
        let got = read(&mut s, &a, Some(&token_a), &issuer()).unwrap();
        assert_eq!(got["client_name"], "A");
        assert_eq!(got["registration_access_token"], token_a.as_str());
        assert!(got.get("client_secret").is_none(), "only hashes are kept");
        for (id, token) in [
            (a.as_str(), Some(token_b)),
            (a.as_str(), Some("nope")),
            (a.as_str(), None),
            ("unknown", Some(token_a.as_str())),
        ] {
            let e = read(&mut s, id, token, &issuer()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidToken, "{id} {token:?}");
        }
        // A client an administrator made has no registration token.
        let (admin_made, _) = {
            let mut h = crate::testing::Harness::default();
            h.client(ClientSpec {
                name: "cli".into(),
                redirect_uris: vec!["https://a.example/cb".into()],
                ..Default::default()
            })
        };
        s.insert_client(&admin_made).unwrap();
        let e = read(&mut s, &admin_made.id, Some(""), &issuer()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidToken);

        delete(&mut s, &a, Some(&token_a), "x", T0, &mut SeqRandom(12)).unwrap();
        assert!(s.get_client(&a).unwrap().is_none());
        let e = delete(&mut s, &a, Some(&token_a), "x", T0, &mut SeqRandom(12)).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::InvalidToken,
            "RFC 7592 §2.3: gone is 401"
        );
    }

    #[test]
    fn update_replaces_metadata_and_keeps_credentials() {
        let mut s = MemStore::default();
        let (id, token, secret) = registered(
            &mut s,
            json!({
                "redirect_uris": ["https://a.example/cb"],
                "client_name": "A",
                "logo_uri": "https://a.example/logo.png",
                "token_endpoint_auth_method": "client_secret_basic"
            }),
        );
        let secret = secret.unwrap();
        let before = s.get_client(&id).unwrap().unwrap();
        let doc = json!({
            "client_id": id,
            "client_secret": secret,
            "redirect_uris": ["https://a.example/new"],
            "client_name": "A2",
            "token_endpoint_auth_method": "client_secret_post"
        });
        let out = update(
            &mut s,
            &id,
            Some(&token),
            &doc,
            "x",
            &issuer(),
            T0 + 5,
            &mut SeqRandom(13),
        )
        .unwrap();
        assert_eq!(out["client_name"], "A2");
        assert_eq!(out["redirect_uris"], json!(["https://a.example/new"]));
        assert!(out.get("logo_uri").is_none(), "omitted members are deleted");
        assert!(out.get("client_secret").is_none());
        let after = s.get_client(&id).unwrap().unwrap();
        assert_eq!(after.secret_hash, before.secret_hash);
        assert_eq!(
            after.registration_token_hash,
            before.registration_token_hash
        );
        assert_eq!((after.created_at, after.updated_at), (T0, T0 + 5));
        assert_eq!(after.auth_method, ClientAuthMethod::ClientSecretPost);
        assert!(is_dynamic(&after));

        let mut try_update = |doc: Value| {
            update(
                &mut s,
                &id,
                Some(&token),
                &doc,
                "x",
                &issuer(),
                T0,
                &mut SeqRandom(14),
            )
            .unwrap_err()
        };
        let base = |extra: Value| {
            let mut d = json!({"client_id": id, "redirect_uris": ["https://a.example/cb"]});
            for (k, v) in extra.as_object().unwrap() {
                d[k] = v.clone();
            }
            d
        };
        for (doc, want) in [
            (
                json!({"redirect_uris": ["https://a.example/cb"]}),
                ErrorCode::InvalidRequest,
            ),
            (
                base(json!({"client_id": "other"})),
                ErrorCode::InvalidRequest,
            ),
            (
                base(json!({"client_secret": "chosen"})),
                ErrorCode::InvalidRequest,
            ),
            (
                base(json!({"registration_access_token": token})),
                ErrorCode::InvalidRequest,
            ),
            (
                base(json!({"client_id_issued_at": 1})),
                ErrorCode::InvalidRequest,
            ),
            (
                base(json!({"token_endpoint_auth_method": "none"})),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                base(json!({"redirect_uris": ["http://a.example/cb"]})),
                ErrorCode::InvalidRedirectUri,
            ),
        ] {
            assert_eq!(try_update(doc.clone()).code, want, "{doc}");
        }
        // Nothing changed by the refused updates.
        assert_eq!(s.get_client(&id).unwrap().unwrap().name, "A2");
    }
}

//! The admin API's decisions: who is an administrator, paging (limits and
//! opaque cursors), and what each change does: validation by the same rules
//! as `portcullis client add` / `user add`, audit events, ending sessions.
//! No HTTP here: the server's `admin` module extracts and renders; password
//! hashing happens there too (Argon2id on its pool), so a `password_hash`
//! arrives here ready.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::access::{self, TokenRef};
use crate::clients::{new_client, ClientSpec, NewClient};
use crate::error::{ErrorCode, OAuthError};
use crate::introspect::{BearerRefusal, ADMIN_SCOPE};
use crate::model::{
    AuditEvent, Client, GrantType, PersonalAccessToken, Scopes, Session, SigningAlg, TokenFormat,
    User,
};
use crate::params::Params;
use crate::ports::{
    AdminStore, AuditStore, ClientStore, EventFilter, PageKey, PatStore, Random, SessionStore,
    StoreError, TokenKind, TokenOwner, TokenStore, TokenSummary, UserStore,
};
use crate::secret::{hash_token, random_token};
use crate::sessions::{audit, end_session};

/// Items per page when the caller names no `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 200;

/// Why an admin request fails. Everything but a conflict is an
/// [`OAuthError`] (`invalid_request`, `invalid_redirect_uri`,
/// `invalid_client_metadata`, `not_found`, `server_error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    OAuth(OAuthError),
    /// The request contradicts what is stored (a taken username, the
    /// built-in client, an administrator locking themselves out): 409.
    Conflict(String),
}

impl AdminError {
    pub fn not_found(what: &str) -> AdminError {
        AdminError::OAuth(OAuthError::with(
            ErrorCode::NotFound,
            format!("no such {what}"),
        ))
    }

    pub fn invalid(description: impl Into<String>) -> AdminError {
        AdminError::OAuth(OAuthError::invalid_request(description))
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::OAuth(e) => e.fmt(f),
            AdminError::Conflict(m) => write!(f, "conflict: {m}"),
        }
    }
}

impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        AdminError::OAuth(e)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            // The store's message names a constraint; say it plainly instead.
            StoreError::Conflict(_) => AdminError::Conflict("it already exists".into()),
            other => AdminError::OAuth(other.into()),
        }
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

/// Who makes a change: an administrator's token, or the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user with `is_admin`, through a token with scope `admin`.
    User { user_id: String, client_id: String },
    /// A client's own token (client credentials) with scope `admin`, the
    /// client's registered scope still holding `admin`.
    Client { client_id: String },
    /// `portcullis` on the command line.
    Cli,
}

impl Actor {
    /// The actor as it appears in an audit event's `detail`.
    pub fn detail(&self) -> Value {
        match self {
            Actor::User { user_id, client_id } => {
                json!({"user_id": user_id, "client_id": client_id})
            }
            Actor::Client { client_id } => json!({"client_id": client_id}),
            Actor::Cli => json!("cli"),
        }
    }

    fn is_user(&self, id: &str) -> bool {
        matches!(self, Actor::User { user_id, .. } if user_id == id)
    }
}

/// May this bearer token use the admin API? It must be live (the rules of
/// every bearer token: not revoked or expired, session live, user enabled)
/// and carry scope `admin`; then either its user is an administrator, or it
/// has no user and its client is enabled and still registered with `admin`
/// (so taking the scope away from a client takes effect at once).
pub fn authorize<T>(
    tx: &mut T,
    token: TokenRef,
    now: i64,
) -> Result<Result<Actor, BearerRefusal>, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore,
{
    let Some((record, user)) = access::resolve_bearer(tx, token, now)? else {
        return Ok(Err(BearerRefusal::InvalidToken));
    };
    if !record.scope.contains(ADMIN_SCOPE) {
        return Ok(Err(BearerRefusal::InsufficientScope));
    }
    match user {
        Some(u) if u.is_admin => Ok(Ok(Actor::User {
            user_id: u.id,
            client_id: record.client_id,
        })),
        Some(_) => Ok(Err(BearerRefusal::InsufficientScope)),
        None => match tx.get_client(&record.client_id)? {
            Some(c) if c.disabled => Ok(Err(BearerRefusal::InvalidToken)),
            Some(c) if c.scope.contains(ADMIN_SCOPE) => Ok(Ok(Actor::Client { client_id: c.id })),
            Some(_) => Ok(Err(BearerRefusal::InsufficientScope)),
            None => Ok(Err(BearerRefusal::InvalidToken)),
        },
    }
}

/// Write an audit event for an administrator's change, naming the actor.
#[allow(clippy::too_many_arguments)]
pub fn audit_change(
    tx: &mut impl AuditStore,
    rng: &mut dyn Random,
    actor: &Actor,
    now: i64,
    kind: &str,
    user_id: Option<&str>,
    client_id: Option<&str>,
    mut detail: Value,
) -> AdminResult<()> {
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("actor".into(), actor.detail());
    }
    audit(tx, rng, now, kind, user_id, client_id, None, detail)?;
    Ok(())
}

// ---------------------------------------------------------------- paging

/// `limit` and `cursor` of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub limit: i64,
    pub cursor: Option<String>,
}

impl PageParams {
    /// From the query: `limit` (1 to [`MAX_LIMIT`], default
    /// [`DEFAULT_LIMIT`]) and `cursor` (as a previous page gave it).
    pub fn from_query(q: &Params) -> AdminResult<PageParams> {
        let limit = match q.get("limit") {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(AdminError::invalid(format!(
                        "limit must be an integer from 1 to {MAX_LIMIT}"
                    )))
                }
            },
        };
        Ok(PageParams {
            limit,
            cursor: q.get("cursor").map(str::to_string),
        })
    }

    fn fetch(&self) -> i64 {
        self.limit.saturating_add(1)
    }

    fn key(&self) -> AdminResult<Option<PageKey>> {
        self.cursor.as_deref().map(decode_key).transpose()
    }
}

/// One page of a list, and the cursor of the next (`None` on the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn bad_cursor() -> AdminError {
    AdminError::invalid("cursor is malformed: pass next_cursor as a previous page gave it")
}

fn encode(raw: String) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode(cursor: &str) -> AdminResult<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    String::from_utf8(bytes).map_err(|_| bad_cursor())
}

fn key_cursor(at: i64, id: &str) -> String {
    encode(format!("{at}:{id}"))
}

fn split_key(raw: &str) -> AdminResult<(i64, &str)> {
    let (at, rest) = raw.split_once(':').ok_or_else(bad_cursor)?;
    Ok((at.parse().map_err(|_| bad_cursor())?, rest))
}

fn decode_key(cursor: &str) -> AdminResult<PageKey> {
    let raw = decode(cursor)?;
    let (at, id) = split_key(&raw)?;
    if id.is_empty() {
        return Err(bad_cursor());
    }
    Ok(PageKey {
        at,
        id: id.to_string(),
    })
}

fn token_cursor(t: &TokenSummary) -> String {
    encode(format!("{}:{}:{}", t.issued_at, t.kind.as_str(), t.id))
}

fn decode_token_key(cursor: &str) -> AdminResult<(TokenKind, PageKey)> {
    let raw = decode(cursor)?;
    let (at, rest) = split_key(&raw)?;
    let (kind, id) = rest.split_once(':').ok_or_else(bad_cursor)?;
    let kind = match kind {
        "access" => TokenKind::Access,
        "refresh" => TokenKind::Refresh,
        _ => return Err(bad_cursor()),
    };
    if id.is_empty() {
        return Err(bad_cursor());
    }
    Ok((
        kind,
        PageKey {
            at,
            id: id.to_string(),
        },
    ))
}

/// `items` were fetched with `limit + 1`: keep `limit`, and a cursor when
/// there was more.
fn finish<T>(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Page a short list held in memory (keys, a user's personal access
/// tokens) by `(at, id)`, as the store pages long ones.
pub fn page_in_memory<T>(
    mut all: Vec<T>,
    page: &PageParams,
    key: impl Fn(&T) -> (i64, String),
) -> AdminResult<Page<T>> {
    let after = page.key()?;
    all.sort_by_key(|x| key(x));
    let rest: Vec<T> = all
        .into_iter()
        .filter(|x| after.as_ref().is_none_or(|a| key(x) > (a.at, a.id.clone())))
        .take(usize::try_from(page.fetch()).unwrap_or(usize::MAX))
        .collect();
    Ok(finish(rest, page.limit, |x| {
        let (at, id) = key(x);
        key_cursor(at, &id)
    }))
}

// ---------------------------------------------------------------- clients

pub fn list_clients(tx: &mut impl AdminStore, page: &PageParams) -> AdminResult<Page<Client>> {
    let items = tx.list_clients_page(page.key()?.as_ref(), page.fetch())?;
    Ok(finish(items, page.limit, |c| {
        key_cursor(c.created_at, &c.id)
    }))
}

pub fn get_client(tx: &mut impl ClientStore, id: &str) -> AdminResult<Client> {
    tx.get_client(id)?
        .ok_or_else(|| AdminError::not_found("client"))
}

/// Register a client by the rules of `portcullis client add`
/// ([`new_client`]); the secret in clear is in the result, once.
pub fn create_client(
    tx: &mut (impl ClientStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    spec: ClientSpec,
    now: i64,
) -> AdminResult<NewClient> {
    let created = new_client(spec, now, rng)?;
    tx.insert_client(&created.client)?;
    audit_change(
        tx,
        rng,
        actor,
        now,
        "client_created",
        None,
        Some(&created.client.id),
        json!({}),
    )?;
    Ok(created)
}

/// Metadata an administrator may change; `None` leaves a field as it is.
/// The authentication method is not among them: a public client has no
/// secret and a confidential one needs one, so register a new client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scope: Option<Scopes>,
    pub access_token_format: Option<TokenFormat>,
    pub signing_alg: Option<SigningAlg>,
    pub application_type: Option<String>,
    pub metadata: Option<Value>,
    /// RFC 7591 §2 `jwks` / `jwks_uri`: replace the client's keys
    /// (`private_key_jwt`), kept in its metadata.
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub is_resource_server: Option<bool>,
    pub disabled: Option<bool>,
}

impl ClientPatch {
    fn fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        let mut add = |set: bool, name| {
            if set {
                f.push(name)
            }
        };
        add(self.name.is_some(), "client_name");
        add(self.redirect_uris.is_some(), "redirect_uris");
        add(
            self.post_logout_redirect_uris.is_some(),
            "post_logout_redirect_uris",
        );
        add(self.grant_types.is_some(), "grant_types");
        add(self.scope.is_some(), "scope");
        add(self.access_token_format.is_some(), "access_token_format");
        add(self.signing_alg.is_some(), "signing_alg");
        add(self.application_type.is_some(), "application_type");
        add(self.metadata.is_some(), "metadata");
        add(self.jwks.is_some(), "jwks");
        add(self.jwks_uri.is_some(), "jwks_uri");
        add(self.is_resource_server.is_some(), "is_resource_server");
        add(self.disabled.is_some(), "disabled");
        f
    }
}

/// Change a client's metadata. The result must pass the same checks as a
/// new client (redirect URIs, grant types for the authentication method,
/// name, application type): it is run through [`new_client`], whose fresh
/// id and secret are thrown away.
pub fn update_client(
    tx: &mut (impl ClientStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    patch: ClientPatch,
    now: i64,
) -> AdminResult<Client> {
    let mut c = get_client(tx, id)?;
    let fields = patch.fields();
    let spec = ClientSpec {
        name: patch.name.unwrap_or_else(|| c.name.clone()),
        redirect_uris: patch
            .redirect_uris
            .unwrap_or_else(|| c.redirect_uris.clone()),
        post_logout_redirect_uris: patch
            .post_logout_redirect_uris
            .unwrap_or_else(|| c.post_logout_redirect_uris.clone()),
        grant_types: Some(patch.grant_types.unwrap_or_else(|| c.grant_types.clone())),
        scope: Some(patch.scope.unwrap_or_else(|| c.scope.clone())),
        auth_method: Some(c.auth_method),
        access_token_format: Some(patch.access_token_format.unwrap_or(c.access_token_format)),
        signing_alg: Some(patch.signing_alg.unwrap_or(c.signing_alg)),
        application_type: Some(
            patch
                .application_type
                .unwrap_or_else(|| c.application_type.clone()),
        ),
        metadata: crate::client_assertion::with_keys(
            Some(patch.metadata.unwrap_or_else(|| c.metadata.clone())),
            patch.jwks,
            patch.jwks_uri,
        ),
    };
    let checked = new_client(spec, now, rng)?.client;
    c.name = checked.name;
    c.redirect_uris = checked.redirect_uris;
    c.post_logout_redirect_uris = checked.post_logout_redirect_uris;
    c.grant_types = checked.grant_types;
    c.scope = checked.scope;
    c.access_token_format = checked.access_token_format;
    c.signing_alg = checked.signing_alg;
    c.application_type = checked.application_type;
    c.metadata = checked.metadata;
    if let Some(rs) = patch.is_resource_server {
        c.is_resource_server = rs;
    }
    if let Some(d) = patch.disabled {
        c.disabled = d;
    }
    c.updated_at = now;
    if !tx.update_client(&c)? {
        return Err(AdminError::not_found("client"));
    }
    audit_change(
        tx,
        rng,
        actor,
        now,
        "client_updated",
        None,
        Some(&c.id),
        json!({"fields": fields}),
    )?;
    Ok(c)
}

/// Delete a client and, with it, its sessions, tokens, codes and consents.
/// The built-in clients of this server cannot be deleted (they would come
/// back at the next start, and their endpoints stop meanwhile).
pub fn delete_client(
    tx: &mut (impl ClientStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    now: i64,
) -> AdminResult<()> {
    let c = get_client(tx, id)?;
    if c.first_party {
        return Err(AdminError::Conflict(
            "a built-in client of this server cannot be deleted".into(),
        ));
    }
    if !tx.delete_client(id)? {
        return Err(AdminError::not_found("client"));
    }
    audit_change(
        tx,
        rng,
        actor,
        now,
        "client_deleted",
        None,
        Some(id),
        json!({"client_name": c.name}),
    )?;
    Ok(())
}

/// A new secret for a confidential client; the old one stops working at
/// once. Returns the client and the secret in clear (shown once; only its
/// hash is stored).
pub fn rotate_client_secret(
    tx: &mut (impl ClientStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    now: i64,
) -> AdminResult<(Client, String)> {
    let mut c = get_client(tx, id)?;
    if c.is_public() {
        return Err(AdminError::invalid(
            "a public client (token_endpoint_auth_method none) has no secret",
        ));
    }
    let secret = random_token(rng, 32);
    c.secret_hash = Some(hash_token(&secret));
    c.secret_expires_at = 0;
    c.updated_at = now;
    if !tx.update_client(&c)? {
        return Err(AdminError::not_found("client"));
    }
    audit_change(
        tx,
        rng,
        actor,
        now,
        "client_secret_rotated",
        None,
        Some(&c.id),
        json!({}),
    )?;
    Ok((c, secret))
}

// ---------------------------------------------------------------- users

pub fn list_users(tx: &mut impl AdminStore, page: &PageParams) -> AdminResult<Page<User>> {
    let items = tx.list_users_page(page.key()?.as_ref(), page.fetch())?;
    Ok(finish(items, page.limit, |u| {
        key_cursor(u.created_at, &u.id)
    }))
}

pub fn get_user(tx: &mut impl UserStore, id: &str) -> AdminResult<User> {
    tx.get_user(id)?
        .ok_or_else(|| AdminError::not_found("user"))
}

/// A new user by the rules of `portcullis user add`
/// ([`crate::users::new_user`]).
pub fn create_user(
    tx: &mut (impl UserStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    username: &str,
    email: Option<&str>,
    password_hash: Option<String>,
    is_admin: bool,
    now: i64,
) -> AdminResult<User> {
    let user = crate::users::new_user(username, email, password_hash, is_admin, now, rng)?;
    if tx.get_user_by_username(&user.username)?.is_some() {
        return Err(username_taken());
    }
    tx.insert_user(&user).map_err(|e| match e {
        StoreError::Conflict(_) => username_taken(),
        e => e.into(),
    })?;
    audit_change(
        tx,
        rng,
        actor,
        now,
        "user_created",
        Some(&user.id),
        None,
        json!({"username": user.username, "admin": user.is_admin}),
    )?;
    Ok(user)
}

/// The longest password accepted, in bytes (as `portcullis user add` reads).
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// A new password must be 1 to [`MAX_PASSWORD_BYTES`] bytes; checked
/// before it is hashed.
pub fn check_password(password: &str) -> AdminResult<()> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(AdminError::invalid(format!(
            "password must be 1 to {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn username_taken() -> AdminError {
    AdminError::Conflict("a user with this username already exists".into())
}

/// What an administrator may change about a user; `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// `Some(None)` removes the address.
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
    pub is_admin: Option<bool>,
    /// A new Argon2id PHC string (hashed by the server).
    pub password_hash: Option<String>,
}

/// Change a user. A new e-mail address is checked as at creation and is
/// unverified unless `email_verified` says otherwise. Administrators cannot
/// take their own administrator flag away (someone must remain).
pub fn update_user(
    tx: &mut (impl UserStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    patch: UserPatch,
    now: i64,
) -> AdminResult<User> {
    let mut u = get_user(tx, id)?;
    let mut fields: Vec<&str> = Vec::new();
    if let Some(email) = patch.email {
        if let Some(e) = email.as_deref() {
            // The creation rules, applied to this address.
            crate::users::new_user(&u.username, Some(e), None, false, now, rng)?;
        }
        if email != u.email {
            u.email_verified = false;
        }
        u.email = email;
        fields.push("email");
    }
    if let Some(v) = patch.email_verified {
        u.email_verified = v;
        fields.push("email_verified");
    }
    if let Some(admin) = patch.is_admin {
        if !admin && actor.is_user(&u.id) {
            return Err(AdminError::Conflict(
                "administrators cannot remove their own administrator flag".into(),
            ));
        }
        u.is_admin = admin;
        fields.push("admin");
    }
    if let Some(h) = patch.password_hash {
        u.password_hash = Some(h);
        fields.push("password");
    }
    u.updated_at = now;
    if !tx.update_user(&u)? {
        return Err(AdminError::not_found("user"));
    }
    audit_change(
        tx,
        rng,
        actor,
        now,
        "user_updated",
        Some(&u.id),
        None,
        json!({"fields": fields}),
    )?;
    Ok(u)
}

/// Disable or enable a user. Disabling ends every live session of theirs
/// and revokes its tokens (each audited as `session_ended`, reason
/// `user_disabled`); their tokens stop working at once anyway, since every
/// bearer check reads the user. Enabling does not bring ended sessions
/// back.
pub fn set_user_disabled(
    tx: &mut (impl UserStore + SessionStore + TokenStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    disabled: bool,
    now: i64,
) -> AdminResult<User> {
    let mut u = get_user(tx, id)?;
    if disabled && actor.is_user(&u.id) {
        return Err(AdminError::Conflict(
            "administrators cannot disable themselves".into(),
        ));
    }
    let changed = u.disabled != disabled;
    u.disabled = disabled;
    u.updated_at = now;
    if !tx.update_user(&u)? {
        return Err(AdminError::not_found("user"));
    }
    let mut ended = 0;
    if disabled {
        for s in tx.list_live_sessions(&u.id, now)? {
            if end_session(tx, rng, &s, now, "user_disabled")? {
                ended += 1;
            }
        }
    }
    if changed || ended > 0 {
        let kind = if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        audit_change(
            tx,
            rng,
            actor,
            now,
            kind,
            Some(&u.id),
            None,
            json!({"sessions_ended": ended}),
        )?;
    }
    Ok(u)
}

/// Delete a user with everything of theirs (sessions, tokens, consents,
/// personal access tokens). Administrators cannot delete themselves.
pub fn delete_user(
    tx: &mut (impl UserStore + AdminStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    now: i64,
) -> AdminResult<()> {
    let u = get_user(tx, id)?;
    if actor.is_user(&u.id) {
        return Err(AdminError::Conflict(
            "administrators cannot delete themselves".into(),
        ));
    }
    if !tx.delete_user(id)? {
        return Err(AdminError::not_found("user"));
    }
    audit_change(
        tx,
        rng,
        actor,
        now,
        "user_deleted",
        Some(id),
        None,
        json!({"username": u.username}),
    )?;
    Ok(())
}

// ---------------------------------------------------------------- sessions

/// A user's live sessions (not revoked, not past their maximum lifetime
/// nor idle for `idle_timeout` seconds), oldest first.
pub fn list_sessions(
    tx: &mut (impl UserStore + AdminStore),
    user_id: &str,
    page: &PageParams,
    now: i64,
    idle_timeout: i64,
) -> AdminResult<Page<Session>> {
    get_user(tx, user_id)?;
    let items = tx.list_live_sessions_page(
        user_id,
        now,
        now.saturating_sub(idle_timeout),
        page.key()?.as_ref(),
        page.fetch(),
    )?;
    Ok(finish(items, page.limit, |s| {
        key_cursor(s.created_at, &s.id)
    }))
}

/// End a session and revoke every token of it (audited as `session_ended`,
/// reason `admin`). Ending an ended session changes nothing.
pub fn revoke_session(
    tx: &mut (impl SessionStore + TokenStore + AuditStore),
    rng: &mut dyn Random,
    id: &str,
    now: i64,
) -> AdminResult<bool> {
    let s = tx
        .get_session(id)?
        .ok_or_else(|| AdminError::not_found("session"))?;
    if s.revoked_at.is_some() {
        return Ok(false);
    }
    Ok(end_session(tx, rng, &s, now, "admin")?)
}

// ---------------------------------------------------------------- tokens

/// Access and refresh tokens of a user or a client, by `(issued_at, kind,
/// id)`: both lists are paged by the store and merged here.
pub fn list_tokens(
    tx: &mut (impl AdminStore + UserStore + ClientStore),
    owner: TokenOwner<'_>,
    page: &PageParams,
) -> AdminResult<Page<TokenSummary>> {
    match owner {
        TokenOwner::User(id) => {
            get_user(tx, id)?;
        }
        TokenOwner::Client(id) => {
            get_client(tx, id)?;
        }
    }
    // After (T, access, X): access rows after (T, X), refresh rows from T on.
    // After (T, refresh, X): access rows after T, refresh rows after (T, X).
    // An empty id sorts before every id, so (T, "") means "from T on".
    let from = |at: i64| PageKey {
        at,
        id: String::new(),
    };
    let (access_after, refresh_after) = match page.cursor.as_deref().map(decode_token_key) {
        None => (None, None),
        Some(Err(e)) => return Err(e),
        Some(Ok((TokenKind::Access, key))) => {
            let at = key.at;
            (Some(key), Some(from(at)))
        }
        Some(Ok((TokenKind::Refresh, key))) => (Some(from(key.at.saturating_add(1))), Some(key)),
    };
    let n = page.fetch();
    let access = tx.list_access_tokens_page(owner, access_after.as_ref(), n)?;
    let refresh = tx.list_refresh_tokens_page(owner, refresh_after.as_ref(), n)?;
    let want = usize::try_from(n).unwrap_or(usize::MAX);
    let mut items = Vec::with_capacity(access.len() + refresh.len());
    let (mut a, mut r) = (
        access.into_iter().peekable(),
        refresh.into_iter().peekable(),
    );
    while items.len() < want {
        let take_access = match (a.peek(), r.peek()) {
            (Some(x), Some(y)) => (x.issued_at, x.kind) <= (y.issued_at, y.kind),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_access { a.next() } else { r.next() };
        items.extend(next);
    }
    Ok(finish(items, page.limit, token_cursor))
}

/// Revoke one access token by `jti` (audited as `access_token_revoked`,
/// reason `admin`); its session and refresh token live on. `false` when it
/// was already revoked.
pub fn revoke_access_token(
    tx: &mut (impl TokenStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    jti: &str,
    now: i64,
) -> AdminResult<bool> {
    let t = tx
        .get_access_token_by_jti(jti)?
        .ok_or_else(|| AdminError::not_found("access token"))?;
    if !tx.revoke_access_token(jti, now)? {
        return Ok(false);
    }
    audit(
        tx,
        rng,
        now,
        "access_token_revoked",
        t.user_id.as_deref(),
        Some(&t.client_id),
        t.session_id.as_deref(),
        json!({"reason": "admin", "jti": t.jti, "actor": actor.detail()}),
    )?;
    Ok(true)
}

// ------------------------------------------------- personal access tokens

/// A user's personal access tokens, by `(created_at, id)`.
pub fn list_pats(
    tx: &mut (impl UserStore + PatStore),
    user_id: &str,
    page: &PageParams,
) -> AdminResult<Page<PersonalAccessToken>> {
    get_user(tx, user_id)?;
    let all = tx.list_pats(user_id)?;
    page_in_memory(all, page, |p| (p.created_at, p.id.clone()))
}

/// Disable or enable a personal access token.
pub fn set_pat_disabled(
    tx: &mut (impl PatStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    disabled: bool,
    now: i64,
) -> AdminResult<()> {
    if !tx.set_pat_disabled(id, disabled)? {
        return Err(AdminError::not_found("personal access token"));
    }
    let kind = if disabled {
        "pat_disabled"
    } else {
        "pat_enabled"
    };
    audit_change(tx, rng, actor, now, kind, None, None, json!({"pat_id": id}))
}

/// Revoke a personal access token for good (its record is deleted).
pub fn revoke_pat(
    tx: &mut (impl PatStore + AuditStore),
    rng: &mut dyn Random,
    actor: &Actor,
    id: &str,
    now: i64,
) -> AdminResult<()> {
    if !tx.delete_pat(id)? {
        return Err(AdminError::not_found("personal access token"));
    }
    audit_change(
        tx,
        rng,
        actor,
        now,
        "pat_revoked",
        None,
        None,
        json!({"pat_id": id}),
    )
}

// ---------------------------------------------------------------- audit

/// Audit events matching `filter`, newest first.
pub fn list_events(
    tx: &mut impl AdminStore,
    filter: &EventFilter,
    page: &PageParams,
) -> AdminResult<Page<AuditEvent>> {
    let items = tx.list_events_page(filter, page.key()?.as_ref(), page.fetch())?;
    Ok(finish(items, page.limit, |e| key_cursor(e.at, &e.id)))
}

/// The filter of an audit list from its query (`kind`, `user_id`,
/// `client_id`, `since` in Unix seconds).
pub fn event_filter(q: &Params) -> AdminResult<EventFilter> {
    let since = q
        .get("since")
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| AdminError::invalid("since must be Unix seconds"))
        })
        .transpose()?;
    Ok(EventFilter {
        kind: q.get("kind").map(str::to_string),
        user_id: q.get("user_id").map(str::to_string),
        client_id: q.get("client_id").map(str::to_string),
        since,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientAuthMethod, SessionKind};
    use crate::testing::*;

    fn actor() -> Actor {
        Actor::Cli
    }

    fn q(pairs: &[(&str, &str)]) -> Params {
        params(pairs)
    }

    fn page(limit: i64, cursor: Option<String>) -> PageParams {
        PageParams { limit, cursor }
    }

    fn admin_client(h: &mut Harness) -> Client {
        h.client(ClientSpec {
            name: "ops".into(),
            grant_types: Some(vec![
                GrantType::Password,
                GrantType::ClientCredentials,
                GrantType::RefreshToken,
            ]),
            scope: Some(Scopes::parse("admin api").unwrap()),
            access_token_format: Some(TokenFormat::Opaque),
            ..Default::default()
        })
        .0
    }

    fn cc_token(h: &mut Harness, c: &Client, scope: &str) -> String {
        let p = params(&[("grant_type", "client_credentials"), ("scope", scope)]);
        let t = issued(h.at(T0, |s, ctx, rng| {
            crate::grants::client_credentials::handle(s, ctx, rng, c, &p)
        }));
        t.access_token
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(
            PageParams::from_query(&q(&[])).unwrap().limit,
            DEFAULT_LIMIT
        );
        assert_eq!(
            PageParams::from_query(&q(&[("limit", "200")]))
                .unwrap()
                .limit,
            200
        );
        for bad in ["0", "201", "-1", "x", "1.5"] {
            assert!(
                PageParams::from_query(&q(&[("limit", bad)])).is_err(),
                "{bad}"
            );
        }
        let c = key_cursor(5, "a:b");
        assert_eq!(
            decode_key(&c).unwrap(),
            PageKey {
                at: 5,
                id: "a:b".into()
            }
        );
        for bad in [
            "",
            "!!",
            &encode("5".into()),
            &encode("x:a".into()),
            &encode("5:".into()),
        ] {
            assert!(decode_key(bad).is_err(), "{bad}");
        }
        assert!(decode_token_key(&encode("5:other:x".into())).is_err());
        assert!(decode_token_key(&key_cursor(5, "x")).is_err());
    }

    #[test]
    fn only_admin_users_and_admin_clients_pass() {
        let mut h = Harness::default();
        let c = admin_client(&mut h);
        let root = h.user("root");
        let admin = h.edit_user(&root.id, |u| u.is_admin = true);
        let plain = h.user("plain");
        let at = |h: &mut Harness, tok: &str| {
            h.at(T0 + 1, |s, _, _| {
                authorize(s, TokenRef::Opaque(tok), T0 + 1)
            })
            .unwrap()
        };
        let t = h.login(&c, &admin, T0).access_token;
        assert_eq!(
            at(&mut h, &t),
            Ok(Actor::User {
                user_id: admin.id.clone(),
                client_id: c.id.clone()
            })
        );
        let t = h.login(&c, &plain, T0).access_token;
        assert_eq!(at(&mut h, &t), Err(BearerRefusal::InsufficientScope));
        assert_eq!(at(&mut h, "garbage"), Err(BearerRefusal::InvalidToken));

        let t = cc_token(&mut h, &c, "admin");
        assert_eq!(
            at(&mut h, &t),
            Ok(Actor::Client {
                client_id: c.id.clone()
            })
        );
        let no_admin = cc_token(&mut h, &c, "api");
        assert_eq!(at(&mut h, &no_admin), Err(BearerRefusal::InsufficientScope));
        // the client loses the scope: its admin token stops working at once
        let mut c2 = c.clone();
        c2.scope = Scopes::parse("api").unwrap();
        h.store.update_client(&c2).unwrap();
        assert_eq!(at(&mut h, &t), Err(BearerRefusal::InsufficientScope));
        c2.scope = Scopes::parse("admin").unwrap();
        c2.disabled = true;
        h.store.update_client(&c2).unwrap();
        assert_eq!(at(&mut h, &t), Err(BearerRefusal::InvalidToken));
    }

    #[test]
    fn client_create_update_rotate_delete() {
        let mut h = Harness::default();
        let spec = ClientSpec {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        };
        let created = h
            .at(T0, |s, _, rng| create_client(s, rng, &actor(), spec, T0))
            .unwrap();
        let old = created.secret.clone().unwrap();
        let id = created.client.id.clone();

        let bad = ClientPatch {
            redirect_uris: Some(vec!["https://app.example/#frag".into()]),
            ..Default::default()
        };
        let e = h
            .at(T0, |s, _, rng| {
                update_client(s, rng, &actor(), &id, bad, T0)
            })
            .unwrap_err();
        assert!(
            matches!(e, AdminError::OAuth(ref o) if o.code == ErrorCode::InvalidRedirectUri),
            "{e:?}"
        );
        let patch = ClientPatch {
            name: Some("  Renamed ".into()),
            scope: Some(Scopes::parse("openid").unwrap()),
            disabled: Some(true),
            ..Default::default()
        };
        let c = h
            .at(T0 + 5, |s, _, rng| {
                update_client(s, rng, &actor(), &id, patch, T0 + 5)
            })
            .unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.scope.to_string(),
                c.disabled,
                c.updated_at
            ),
            ("Renamed", "openid".to_string(), true, T0 + 5)
        );
        assert_eq!(c.secret_hash, created.client.secret_hash, "secret kept");
        assert_eq!(c.id, id);

        let (c, new) = h
            .at(T0, |s, _, rng| {
                rotate_client_secret(s, rng, &actor(), &id, T0)
            })
            .unwrap();
        assert_ne!(new, old);
        assert!(crate::secret::verify_token(
            &new,
            c.secret_hash.as_deref().unwrap()
        ));
        assert!(!crate::secret::verify_token(
            &old,
            c.secret_hash.as_deref().unwrap()
        ));
        assert_eq!(h.store.events_of("client_secret_rotated").len(), 1);

        let public = h
            .client(ClientSpec {
                name: "pub".into(),
                auth_method: Some(ClientAuthMethod::None),
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                ..Default::default()
            })
            .0;
        assert!(h
            .at(T0, |s, _, rng| rotate_client_secret(
                s,
                rng,
                &actor(),
                &public.id,
                T0
            ))
            .is_err());
        // public clients may not take client_credentials, on update as at creation
        let cc = ClientPatch {
            grant_types: Some(vec![GrantType::ClientCredentials]),
            ..Default::default()
        };
        assert!(h
            .at(T0, |s, _, rng| update_client(
                s,
                rng,
                &actor(),
                &public.id,
                cc,
                T0
            ))
            .is_err());

        h.at(T0, |s, _, rng| delete_client(s, rng, &actor(), &id, T0))
            .unwrap();
        assert_eq!(
            h.at(T0, |s, _, rng| delete_client(s, rng, &actor(), &id, T0)),
            Err(AdminError::not_found("client"))
        );
        let mut builtin = public.clone();
        builtin.first_party = true;
        h.store.update_client(&builtin).unwrap();
        assert!(matches!(
            h.at(T0, |s, _, rng| delete_client(
                s,
                rng,
                &actor(),
                &public.id,
                T0
            )),
            Err(AdminError::Conflict(_))
        ));
    }

    #[test]
    fn users_create_update_disable_delete() {
        let mut h = Harness::default();
        let u = h
            .at(T0, |s, _, rng| {
                create_user(
                    s,
                    rng,
                    &actor(),
                    "carol",
                    None,
                    Some("phc".into()),
                    false,
                    T0,
                )
            })
            .unwrap();
        assert!(matches!(
            h.at(T0, |s, _, rng| create_user(
                s,
                rng,
                &actor(),
                "carol",
                None,
                None,
                false,
                T0
            )),
            Err(AdminError::Conflict(_))
        ));
        assert!(matches!(
            h.at(T0, |s, _, rng| create_user(
                s,
                rng,
                &actor(),
                "a b",
                None,
                None,
                false,
                T0
            )),
            Err(AdminError::OAuth(_))
        ));
        let bad = UserPatch {
            email: Some(Some("nope".into())),
            ..Default::default()
        };
        assert!(h
            .at(T0, |s, _, rng| update_user(
                s,
                rng,
                &actor(),
                &u.id,
                bad,
                T0
            ))
            .is_err());
        let patch = UserPatch {
            email: Some(Some("carol@example.com".into())),
            is_admin: Some(true),
            password_hash: Some("phc2".into()),
            ..Default::default()
        };
        let u2 = h
            .at(T0, |s, _, rng| {
                update_user(s, rng, &actor(), &u.id, patch, T0)
            })
            .unwrap();
        assert_eq!(u2.email.as_deref(), Some("carol@example.com"));
        assert!(u2.is_admin && u2.password_hash.as_deref() == Some("phc2"));
        let ev = &h.store.events_of("user_updated")[0].detail;
        assert!(!ev.contains("phc2"), "no hash in the trail: {ev}");

        // an administrator cannot lock themselves out
        let me = Actor::User {
            user_id: u.id.clone(),
            client_id: "c".into(),
        };
        let demote = UserPatch {
            is_admin: Some(false),
            ..Default::default()
        };
        for r in [
            h.at(T0, |s, _, rng| update_user(s, rng, &me, &u.id, demote, T0))
                .map(drop),
            h.at(T0, |s, _, rng| {
                set_user_disabled(s, rng, &me, &u.id, true, T0)
            })
            .map(drop),
            h.at(T0, |s, _, rng| delete_user(s, rng, &me, &u.id, T0)),
        ] {
            assert!(matches!(r, Err(AdminError::Conflict(_))), "{r:?}");
        }

        // disabling ends every live session and revokes its tokens
        let c = admin_client(&mut h);
        let t1 = h.login(&c, &u2, T0);
        let t2 = h.login(&c, &u2, T0 + 1);
        let d = h
            .at(T0 + 2, |s, _, rng| {
                set_user_disabled(s, rng, &actor(), &u.id, true, T0 + 2)
            })
            .unwrap();
        assert!(d.disabled);
        for t in [&t1, &t2] {
            let sid = t.session_state.clone().unwrap();
            assert_eq!(h.store.session(&sid).revoked_at, Some(T0 + 2));
            let (access, refresh) = h.store.tokens_of_session(&sid);
            assert!(access
                .iter()
                .chain([].iter())
                .all(|a| a.revoked_at.is_some()));
            assert!(refresh.iter().all(|r| r.revoked_at.is_some()));
        }
        assert_eq!(h.store.events_of("session_ended").len(), 2);
        assert_eq!(h.store.events_of("user_disabled").len(), 1);
        let e = h
            .at(T0 + 3, |s, _, rng| {
                set_user_disabled(s, rng, &actor(), &u.id, false, T0 + 3)
            })
            .unwrap();
        assert!(!e.disabled);

        h.at(T0, |s, _, rng| delete_user(s, rng, &actor(), &u.id, T0))
            .unwrap();
        assert!(h.store.get_user(&u.id).unwrap().is_none());
        assert_eq!(
            h.at(T0, |s, _, rng| delete_user(s, rng, &actor(), &u.id, T0)),
            Err(AdminError::not_found("user"))
        );
    }

    #[test]
    fn pages_walk_every_item_once() {
        let mut h = Harness::default();
        for i in 0..5 {
            let mut u = h.user(&format!("u{i}"));
            // two users share a creation time: the id breaks the tie
            u.created_at = T0 + i64::from(i / 2);
            h.store.update_user(&u).unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let p = list_users(&mut h.store, &page(2, cursor)).unwrap();
            assert!(p.items.len() <= 2);
            seen.extend(p.items.into_iter().map(|u| u.username));
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
    }

    #[test]
    fn tokens_of_both_kinds_page_in_one_order() {
        let mut h = Harness::default();
        let c = admin_client(&mut h);
        let u = h.user("dave");
        // three logins (an access and a refresh token each) in one second,
        // one more a second later, and a refresh
        for _ in 0..3 {
            h.login(&c, &u, T0);
        }
        let last = h.login(&c, &u, T0 + 1);
        h.at(T0 + 2, |s, ctx, rng| {
            let p = params(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", last.refresh_token.as_deref().unwrap()),
            ]);
            crate::grants::refresh_token::handle(s, ctx, rng, &c, &p)
        })
        .unwrap();
        let all = list_tokens(&mut h.store, TokenOwner::User(&u.id), &page(200, None)).unwrap();
        assert_eq!(all.items.len(), 10);
        assert!(all.next_cursor.is_none());
        let key = |t: &TokenSummary| (t.issued_at, t.kind);
        assert!(all.items.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
        assert!(all
            .items
            .iter()
            .any(|t| t.kind == TokenKind::Refresh && t.consumed_at.is_some()));
        for limit in 1..=4 {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let p = list_tokens(&mut h.store, TokenOwner::User(&u.id), &page(limit, cursor))
                    .unwrap();
                seen.extend(p.items);
                match p.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen, all.items, "limit {limit}");
        }
        let by_client =
            list_tokens(&mut h.store, TokenOwner::Client(&c.id), &page(200, None)).unwrap();
        assert_eq!(by_client.items, all.items);
        assert_eq!(
            list_tokens(&mut h.store, TokenOwner::User("nobody"), &page(1, None)),
            Err(AdminError::not_found("user"))
        );

        // revoke one access token by jti
        let jti = all.items[0].id.clone();
        assert_eq!(
            h.at(T0, |s, _, rng| revoke_access_token(
                s,
                rng,
                &actor(),
                &jti,
                T0
            )),
            Ok(true)
        );
        assert_eq!(
            h.at(T0, |s, _, rng| revoke_access_token(
                s,
                rng,
                &actor(),
                &jti,
                T0
            )),
            Ok(false)
        );
        assert!(h
            .at(T0, |s, _, rng| revoke_access_token(
                s,
                rng,
                &actor(),
                "nope",
                T0
            ))
            .is_err());
    }

    #[test]
    fn sessions_list_live_ones_and_revoke() {
        let mut h = Harness::default();
        let c = admin_client(&mut h);
        let u = h.user("erin");
        let a = h.login(&c, &u, T0);
        let b = h.login(&c, &u, T0 + 1);
        let idle = h.policy.session_idle;
        let live = |h: &mut Harness, now| {
            list_sessions(&mut h.store, &u.id, &page(50, None), now, idle)
                .unwrap()
                .items
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        };
        let (sa, sb) = (a.session_state.unwrap(), b.session_state.unwrap());
        assert_eq!(live(&mut h, T0 + 2), [sa.clone(), sb.clone()]);
        assert_eq!(
            h.at(T0 + 3, |s, _, rng| revoke_session(s, rng, &sa, T0 + 3)),
            Ok(true)
        );
        assert_eq!(
            h.at(T0 + 3, |s, _, rng| revoke_session(s, rng, &sa, T0 + 3)),
            Ok(false)
        );
        assert_eq!(live(&mut h, T0 + 4), [sb]);
        // idle sessions are not live
        assert!(live(&mut h, T0 + 1 + idle).is_empty());
        assert!(h
            .at(T0, |s, _, rng| revoke_session(s, rng, "nope", T0))
            .is_err());
        assert_eq!(h.store.session(&sa).kind, SessionKind::Password);
    }

    #[test]
    fn events_filter_and_page_newest_first() {
        let mut h = Harness::default();
        for i in 0..4 {
            let kind = if i % 2 == 0 { "even" } else { "odd" };
            h.at(T0 + i, |s, _, rng| {
                audit(s, rng, T0 + i, kind, Some("u"), None, None, json!({}))
            })
            .unwrap();
        }
        let f = event_filter(&q(&[("kind", "even")])).unwrap();
        let p = list_events(&mut h.store, &f, &page(1, None)).unwrap();
        assert_eq!(p.items[0].at, T0 + 2);
        let p = list_events(&mut h.store, &f, &page(1, p.next_cursor)).unwrap();
        assert_eq!(p.items[0].at, T0);
        assert!(p.next_cursor.is_none());
        let f = event_filter(&q(&[("since", &(T0 + 1).to_string())])).unwrap();
        assert_eq!(
            list_events(&mut h.store, &f, &page(50, None))
                .unwrap()
                .items
                .len(),
            3
        );
        assert!(event_filter(&q(&[("since", "yesterday")])).is_err());
    }
}

//! Personal access tokens (seeds 002 and 003): long-lived bearer tokens a
//! person makes for scripts, CI and gateways.
//!
//! Decisions kept here, so the server only moves bytes:
//!
//! - **Shape.** `pcp_` followed by 32 random bytes in base64url (47
//!   characters). The prefix lets secret scanners find leaked tokens and lets
//!   the server tell a PAT from an access token without a lookup. The token
//!   is shown once; the store keeps its SHA-256 ([`crate::secret::hash_token`]).
//! - **Scope.** A PAT may carry only scopes the access token used to create
//!   it carries: what the person could get through a normal login, never
//!   more. Creating one needs an access token, not a PAT, so a stolen PAT
//!   cannot mint successors that outlive it.
//! - **Liveness** ([`status`]): not revoked, not expired, not disabled, used
//!   within the last `inactivity_days` (seed 003: "Using PAT will result in
//!   account deactivation if the account is inactive for 90 days"), and its
//!   user enabled. Inactivity is computed from the last use (or creation),
//!   never stored, and is final: enabling an inactive PAT does not revive it
//!   ("Account deactivation requires a new PAT").
//! - **Last use** is not written on every request: the server keeps recent
//!   uses in memory ([`RecentUse`]) and flushes them in batches
//!   ([`crate::ports::PatStore::touch_pats`]); liveness takes the later of
//!   the two.
//! - **Management.** The owner, or an administrator (a user who `is_admin`,
//!   through a token with scope `admin`), may read, disable, enable and
//!   delete a PAT; anyone else is told it does not exist.

use serde_json::{json, Value};

use crate::error::{ErrorCode, OAuthError};
use crate::introspect::ADMIN_SCOPE;
use crate::issuer::Issuer;
use crate::model::{AccessToken, PatKind, PersonalAccessToken, Scopes, TokenFormat, User};
use crate::ports::{AuditStore, PatStore, Random, UserStore};
use crate::secret::{hash_token, random_token};
use crate::sessions::audit;
use crate::users::new_uuid;

/// Every PAT begins with this, so that secret scanners find it.
pub const PAT_PREFIX: &str = "pcp_";

/// `client_id` of a PAT that was not minted for a client (introspection,
/// forward-auth JWTs): PATs are not issued to any OAuth client.
pub const PAT_CLIENT_ID: &str = "portcullis-pat";

/// Days without use after which a PAT stops working, unless configured.
pub const DEFAULT_INACTIVITY_DAYS: u32 = 90;

const DAY: i64 = 86_400;
const TOKEN_BYTES: usize = 32;
const MAX_NAME_CHARS: usize = 100;

/// Is this string shaped like a PAT (our prefix)? Says nothing of whether it
/// is one.
pub fn looks_like_pat(token: &str) -> bool {
    token.starts_with(PAT_PREFIX)
}

/// Rules from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatPolicy {
    /// A PAT unused for this many seconds is inactive; `None`: never.
    pub inactivity_secs: Option<i64>,
}

impl PatPolicy {
    /// `days` = 0 turns the inactivity rule off.
    pub fn from_days(days: u32) -> PatPolicy {
        PatPolicy {
            inactivity_secs: (days > 0).then(|| i64::from(days) * DAY),
        }
    }
}

impl Default for PatPolicy {
    fn default() -> Self {
        PatPolicy::from_days(DEFAULT_INACTIVITY_DAYS)
    }
}

/// Uses not yet written to the store (the server keeps them in memory and
/// flushes them in batches).
pub trait RecentUse {
    /// When the PAT `id` was last used, if that is not in the store yet.
    fn last_used(&self, id: &str) -> Option<i64>;
}

/// No unflushed uses: the store's `last_used_at` is all there is.
pub struct NoRecentUse;

impl RecentUse for NoRecentUse {
    fn last_used(&self, _: &str) -> Option<i64> {
        None
    }
}

impl RecentUse for std::collections::HashMap<String, i64> {
    fn last_used(&self, id: &str) -> Option<i64> {
        self.get(id).copied()
    }
}

/// What liveness checks need: the policy and the unflushed uses.
#[derive(Clone, Copy)]
pub struct PatCheck<'a> {
    pub policy: PatPolicy,
    pub recent: &'a dyn RecentUse,
}

impl PatCheck<'static> {
    /// The store's last use only.
    pub fn store_only(policy: PatPolicy) -> PatCheck<'static> {
        PatCheck {
            policy,
            recent: &NoRecentUse,
        }
    }
}

impl PatCheck<'_> {
    /// When `pat` was last used: the later of the store and the unflushed
    /// uses.
    pub fn last_used(&self, pat: &PersonalAccessToken) -> Option<i64> {
        match (pat.last_used_at, self.recent.last_used(&pat.id)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn status(&self, pat: &PersonalAccessToken, now: i64) -> PatStatus {
        status(pat, self.last_used(pat), now, self.policy)
    }
}

/// A PAT's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatStatus {
    Active,
    Disabled,
    Expired,
    /// Unused for longer than the inactivity limit: final.
    Inactive,
    Revoked,
}

impl PatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PatStatus::Active => "active",
            PatStatus::Disabled => "disabled",
            PatStatus::Expired => "expired",
            PatStatus::Inactive => "inactive",
            PatStatus::Revoked => "revoked",
        }
    }
}

/// Is `pat` live at `now`, given when it was `last_used_at` (store and
/// memory together, see [`PatCheck::last_used`])? The user's state is
/// checked separately ([`resolve`]).
///
/// Inactivity counts from the last use, or from creation for a PAT never
/// used: a PAT unused for exactly the limit is inactive.
pub fn status(
    pat: &PersonalAccessToken,
    last_used_at: Option<i64>,
    now: i64,
    policy: PatPolicy,
) -> PatStatus {
    if pat.revoked_at.is_some() {
        return PatStatus::Revoked;
    }
    if pat.expires_at.is_some_and(|exp| exp <= now) {
        return PatStatus::Expired;
    }
    if pat.disabled {
        return PatStatus::Disabled;
    }
    if let Some(limit) = policy.inactivity_secs {
        let since = last_used_at.map_or(pat.created_at, |u| u.max(pat.created_at));
        if now.saturating_sub(since) >= limit {
            return PatStatus::Inactive;
        }
    }
    PatStatus::Active
}

/// The `client_id` a PAT acts as.
pub fn client_id(pat: &PersonalAccessToken) -> &str {
    pat.client_id.as_deref().unwrap_or(PAT_CLIENT_ID)
}

/// The live PAT behind a presented token, and its (enabled) user. Anything
/// else, including a string that is not a PAT, is `None`.
pub fn resolve<T>(
    tx: &mut T,
    token: &str,
    check: &PatCheck,
    now: i64,
) -> Result<Option<(PersonalAccessToken, User)>, OAuthError>
where
    T: PatStore + UserStore,
{
    if !looks_like_pat(token) {
        return Ok(None);
    }
    // Looked up by the SHA-256 of a 256-bit secret: the lookup's timing
    // tells nothing usable about any stored token.
    let Some(pat) = tx.get_pat_by_hash(&hash_token(token))? else {
        return Ok(None);
    };
    if check.status(&pat, now) != PatStatus::Active {
        return Ok(None);
    }
    match tx.get_user(&pat.user_id)? {
        Some(u) if !u.disabled => Ok(Some((pat, u))),
        _ => Ok(None),
    }
}

/// A live PAT seen as an access token record, for routes that take either
/// (`/api/auth/me`, userinfo): `jti` is the PAT's id, and a PAT without
/// expiry never expires.
pub fn as_access_token(pat: &PersonalAccessToken) -> AccessToken {
    AccessToken {
        jti: pat.id.clone(),
        token_hash: Some(pat.token_hash.clone()),
        format: TokenFormat::Opaque,
        session_id: None,
        client_id: client_id(pat).to_string(),
        user_id: Some(pat.user_id.clone()),
        scope: pat.scope.clone(),
        audience: vec![],
        issued_at: pat.created_at,
        expires_at: pat.expires_at.unwrap_or(i64::MAX),
        revoked_at: pat.revoked_at,
        dpop_jkt: None,
    }
}

/// Scopes given as a JSON list: each item one RFC 6749 §3.3 scope-token.
pub fn scopes_from_list(items: &[String]) -> Result<Scopes, OAuthError> {
    let bad = || {
        OAuthError::with(
            ErrorCode::InvalidScope,
            "each scope must be one scope-token",
        )
    };
    for s in items {
        if s.is_empty() || s.contains(' ') {
            return Err(bad());
        }
    }
    Scopes::parse(&items.join(" ")).map_err(|_| bad())
}

/// What a person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatRequest {
    pub name: String,
    pub scope: Scopes,
    pub expires_at: Option<i64>,
}

/// A PAT just made: the token in clear (shown once) and the stored record.
pub struct NewPat {
    pub token: String,
    pub record: PersonalAccessToken,
}

/// Make a PAT for `owner`. `granted` is the scope of the access token the
/// request came with: the PAT may carry no more (`invalid_scope`).
pub fn create<T>(
    tx: &mut T,
    rng: &mut dyn Random,
    owner: &User,
    granted: &Scopes,
    req: PatRequest,
    now: i64,
) -> Result<NewPat, OAuthError>
where
    T: PatStore + AuditStore,
{
    let name = req.name.trim().to_string();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(OAuthError::invalid_request(format!(
            "name must be 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    if req.scope.is_empty() {
        return Err(OAuthError::with(
            ErrorCode::InvalidScope,
            "scopes must name at least one scope",
        ));
    }
    if !req.scope.is_subset(granted) {
        return Err(OAuthError::with(
            ErrorCode::InvalidScope,
            "scopes exceed those of the access token used to create the personal access token",
        ));
    }
    if req.expires_at.is_some_and(|exp| exp <= now) {
        return Err(OAuthError::invalid_request(
            "expires_at must be in the future",
        ));
    }
    if owner.disabled {
        return Err(OAuthError::with(
            ErrorCode::AccessDenied,
            "account is disabled",
        ));
    }
    let token = format!("{PAT_PREFIX}{}", random_token(rng, TOKEN_BYTES));
    let record = PersonalAccessToken {
        id: new_uuid(rng),
        token_hash: hash_token(&token),
        user_id: owner.id.clone(),
        name,
        scope: req.scope,
        kind: PatKind::Personal,
        client_id: None,
        created_at: now,
        expires_at: req.expires_at,
        last_used_at: None,
        disabled: false,
        revoked_at: None,
    };
    tx.insert_pat(&record)?;
    audit(
        tx,
        rng,
        now,
        "pat_created",
        Some(&owner.id),
        None,
        None,
        json!({"pat_id": record.id, "name": record.name, "scope": record.scope.to_string()}),
    )?;
    Ok(NewPat { token, record })
}

/// Who manages PATs: a user, through an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub user_id: String,
    /// The user `is_admin` and the token carries scope `admin`.
    pub admin: bool,
}

impl Manager {
    pub fn new(user: &User, token_scope: &Scopes) -> Manager {
        Manager {
            user_id: user.id.clone(),
            admin: user.is_admin && token_scope.contains(ADMIN_SCOPE),
        }
    }

    pub fn may_manage(&self, pat: &PersonalAccessToken) -> bool {
        self.admin || pat.user_id == self.user_id
    }
}

fn insufficient_scope() -> OAuthError {
    OAuthError::with(
        ErrorCode::InsufficientScope,
        "managing another user's personal access tokens needs an administrator's token with scope admin",
    )
}

/// The PATs of `user_id` (the manager's own when `None`). Another user's
/// need an administrator (`insufficient_scope`).
pub fn list<T: PatStore>(
    tx: &mut T,
    who: &Manager,
    user_id: Option<&str>,
) -> Result<Vec<PersonalAccessToken>, OAuthError> {
    let user_id = user_id.unwrap_or(&who.user_id);
    if user_id != who.user_id && !who.admin {
        return Err(insufficient_scope());
    }
    Ok(tx.list_pats(user_id)?)
}

/// One PAT, if it exists and `who` may manage it (otherwise `None`: another
/// user's PAT does not exist for them).
pub fn get<T: PatStore>(
    tx: &mut T,
    who: &Manager,
    id: &str,
) -> Result<Option<PersonalAccessToken>, OAuthError> {
    Ok(tx.get_pat(id)?.filter(|p| who.may_manage(p)))
}

/// Disable or enable a PAT; the PAT as it is now, or `None` as in [`get`].
pub fn set_disabled<T>(
    tx: &mut T,
    rng: &mut dyn Random,
    who: &Manager,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<Option<PersonalAccessToken>, OAuthError>
where
    T: PatStore + AuditStore,
{
    let Some(mut pat) = get(tx, who, id)? else {
        return Ok(None);
    };
    if pat.disabled != disabled {
        tx.set_pat_disabled(&pat.id, disabled)?;
        pat.disabled = disabled;
        let kind = if disabled {
            "pat_disabled"
        } else {
            "pat_enabled"
        };
        audit(
            tx,
            rng,
            now,
            kind,
            Some(&pat.user_id),
            None,
            None,
            json!({"pat_id": pat.id, "by": who.user_id}),
        )?;
    }
    Ok(Some(pat))
}

/// Delete a PAT; `false` when it does not exist (for `who`).
pub fn delete<T>(
    tx: &mut T,
    rng: &mut dyn Random,
    who: &Manager,
    id: &str,
    now: i64,
) -> Result<bool, OAuthError>
where
    T: PatStore + AuditStore,
{
    let Some(pat) = get(tx, who, id)? else {
        return Ok(false);
    };
    if !tx.delete_pat(&pat.id)? {
        return Ok(false);
    }
    audit(
        tx,
        rng,
        now,
        "pat_deleted",
        Some(&pat.user_id),
        None,
        None,
        json!({"pat_id": pat.id, "by": who.user_id}),
    )?;
    Ok(true)
}

/// A PAT as its owner or an administrator sees it: never the token, never
/// its hash.
pub fn view(pat: &PersonalAccessToken, check: &PatCheck, now: i64) -> Value {
    json!({
        "id": pat.id,
        "name": pat.name,
        "user_id": pat.user_id,
        "kind": pat.kind.as_str(),
        "client_id": pat.client_id,
        "scopes": pat.scope.iter().collect::<Vec<_>>(),
        "scope": pat.scope.to_string(),
        "created_at": pat.created_at,
        "expires_at": pat.expires_at,
        "last_used_at": check.last_used(pat),
        "disabled": pat.disabled,
        "status": check.status(pat, now).as_str(),
    })
}

/// Who a bearer token stands for, whatever its kind: what a forward-auth
/// JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user, or the client for a token without one.
    pub sub: String,
    pub client_id: String,
    pub scope: Scopes,
    /// The presented token's own end, if any: the JWT never outlives it.
    pub expires_at: Option<i64>,
}

impl Subject {
    pub fn of_pat(pat: &PersonalAccessToken) -> Subject {
        Subject {
            sub: pat.user_id.clone(),
            client_id: client_id(pat).to_string(),
            scope: pat.scope.clone(),
            expires_at: pat.expires_at,
        }
    }

    pub fn of_access_token(t: &AccessToken) -> Subject {
        Subject {
            sub: t.user_id.clone().unwrap_or_else(|| t.client_id.clone()),
            client_id: t.client_id.clone(),
            scope: t.scope.clone(),
            expires_at: Some(t.expires_at),
        }
    }
}

/// Claims of the short JWT the forward-auth endpoint hands a gateway: an
/// RFC 9068 access token (§2.2: `iss`, `exp`, `aud`, `sub`, `client_id`,
/// `iat`, `jti`; §2.2.3: `scope`), for `aud`, living `lifetime` seconds or
/// less (never past the presented token's end). It is not recorded: it is
/// checked offline against the JWKS and dies on its own.
pub fn forward_claims(
    issuer: &Issuer,
    subject: &Subject,
    aud: &str,
    jti: &str,
    lifetime: i64,
    now: i64,
) -> Value {
    let end = now.saturating_add(lifetime);
    let exp = subject.expires_at.map_or(end, |e| e.min(end));
    json!({
        "iss": issuer.as_str(),
        "sub": subject.sub,
        "aud": aud,
        "exp": exp,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": subject.client_id,
        "scope": subject.scope.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ports::PatStore;
    use crate::testing::*;

    fn scopes(s: &str) -> Scopes {
        Scopes::parse(s).unwrap()
    }

    fn req(name: &str, scope: &str, expires_at: Option<i64>) -> PatRequest {
        PatRequest {
            name: name.into(),
            scope: scopes(scope),
            expires_at,
        }
    }

    fn make(h: &mut Harness, owner: &User, scope: &str, expires_at: Option<i64>) -> NewPat {
        let granted = scopes("api:read api:write profile");
        let r = req("ci", scope, expires_at);
        h.at(T0, |s, _, rng| create(s, rng, owner, &granted, r, T0))
            .unwrap()
    }

    fn pat_at(created_at: i64, last_used_at: Option<i64>) -> PersonalAccessToken {
        PersonalAccessToken {
            id: "p".into(),
            token_hash: "h".into(),
            user_id: "u".into(),
            name: "n".into(),
            scope: Scopes::default(),
            kind: PatKind::Personal,
            client_id: None,
            created_at,
            expires_at: None,
            last_used_at,
            disabled: false,
            revoked_at: None,
        }
    }

    const DAYS_90: i64 = 90 * DAY;

    #[test]
    fn inactivity_counts_from_last_use_or_creation() {
        let policy = PatPolicy::from_days(90);
        let never_used = pat_at(T0, None);
        assert_eq!(
            status(&never_used, None, T0 + DAYS_90 - 1, policy),
            PatStatus::Active
        );
        assert_eq!(
            status(&never_used, None, T0 + DAYS_90, policy),
            PatStatus::Inactive
        );
        // A use resets the clock.
        let used = pat_at(T0, Some(T0 + 10 * DAY));
        assert_eq!(
            status(&used, used.last_used_at, T0 + DAYS_90 + DAY, policy),
            PatStatus::Active
        );
        assert_eq!(
            status(&used, used.last_used_at, T0 + 100 * DAY, policy),
            PatStatus::Inactive
        );
        // Unflushed uses count as much as stored ones.
        let recent: HashMap<String, i64> = [("p".to_string(), T0 + 50 * DAY)].into();
        let check = PatCheck {
            policy,
            recent: &recent,
        };
        assert_eq!(check.last_used(&used), Some(T0 + 50 * DAY));
        assert_eq!(check.status(&used, T0 + 139 * DAY), PatStatus::Active);
        assert_eq!(check.status(&used, T0 + 140 * DAY), PatStatus::Inactive);
        // An older memory value does not hide a newer stored one.
        let later = pat_at(T0, Some(T0 + 60 * DAY));
        assert_eq!(check.last_used(&later), Some(T0 + 60 * DAY));
        // A last use before creation (clock skew between nodes) counts from creation.
        let skewed = pat_at(T0, Some(T0 - DAY));
        assert_eq!(
            status(&skewed, skewed.last_used_at, T0 + DAYS_90 - 1, policy),
            PatStatus::Active
        );
        // 0 days: no inactivity rule at all.
        assert_eq!(
            status(
                &never_used,
                None,
                T0 + 10_000 * DAY,
                PatPolicy::from_days(0)
            ),
            PatStatus::Active
        );
        assert_eq!(PatPolicy::default(), PatPolicy::from_days(90));
    }

    #[test]
    fn revoked_expired_and_disabled_are_not_active() {
        let policy = PatPolicy::from_days(90);
        let mut p = pat_at(T0, None);
        p.expires_at = Some(T0 + 100);
        assert_eq!(status(&p, None, T0 + 99, policy), PatStatus::Active);
        assert_eq!(status(&p, None, T0 + 100, policy), PatStatus::Expired);
        p.disabled = true;
        assert_eq!(status(&p, None, T0 + 1, policy), PatStatus::Disabled);
        assert_eq!(status(&p, None, T0 + 100, policy), PatStatus::Expired);
        p.revoked_at = Some(T0 + 1);
        assert_eq!(status(&p, None, T0 + 2, policy), PatStatus::Revoked);
    }

    #[test]
    fn create_shows_a_prefixed_token_once_and_stores_its_hash() {
        let mut h = Harness::default();
        let alice = h.user("alice");
        let n = make(&mut h, &alice, "api:read", Some(T0 + 3600));
        assert!(n.token.starts_with("pcp_"));
        assert_eq!(n.token.len(), 4 + 43);
        assert!(n.token[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let stored = &h.store.pats[0];
        assert_eq!(stored.token_hash, hash_token(&n.token));
        assert_eq!(stored, &n.record);
        assert_eq!(
            (stored.user_id.as_str(), stored.kind, stored.expires_at),
            (alice.id.as_str(), PatKind::Personal, Some(T0 + 3600))
        );
        let ev = h.store.events_of("pat_created");
        assert_eq!(ev.len(), 1);
        assert!(!ev[0].detail.contains(&n.token) && !ev[0].detail.contains(&stored.token_hash));
        // Two PATs never share a token.
        let m = make(&mut h, &alice, "api:read", None);
        assert_ne!(m.token, n.token);
        assert_ne!(m.record.id, n.record.id);
        let v = view(&m.record, &PatCheck::store_only(PatPolicy::default()), T0);
        assert!(!v.to_string().contains(&m.record.token_hash));
        assert_eq!(v["scopes"], json!(["api:read"]));
        assert_eq!(v["status"], "active");
    }

    #[test]
    fn create_refuses_more_scope_than_the_creating_token_and_bad_input() {
        let mut h = Harness::default();
        let alice = h.user("alice");
        let granted = scopes("api:read profile");
        let mut run = |r: PatRequest| {
            h.at(T0, |s, _, rng| create(s, rng, &alice, &granted, r, T0))
                .map(|_| ())
                .map_err(|e| e.code)
        };
        assert_eq!(
            run(req("ci", "api:read api:write", None)),
            Err(ErrorCode::InvalidScope)
        );
        assert_eq!(run(req("ci", "admin", None)), Err(ErrorCode::InvalidScope));
        assert_eq!(run(req("ci", "", None)), Err(ErrorCode::InvalidScope));
        assert_eq!(
            run(req("  ", "api:read", None)),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            run(req(&"x".repeat(101), "api:read", None)),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            run(req("a\nb", "api:read", None)),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            run(req("ci", "api:read", Some(T0))),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(run(req("ci", "api:read profile", Some(T0 + 1))), Ok(()));
        assert_eq!(h.store.pats.len(), 1);
    }

    #[test]
    fn scopes_from_a_list() {
        let ok = scopes_from_list(&["b".into(), "a".into(), "a".into()]).unwrap();
        assert_eq!(ok.to_string(), "a b");
        for bad in [
            vec!["a b".to_string()],
            vec![String::new()],
            vec!["\"".into()],
        ] {
            assert_eq!(
                scopes_from_list(&bad).unwrap_err().code,
                ErrorCode::InvalidScope
            );
        }
    }

    #[test]
    fn resolve_finds_only_live_pats_of_enabled_users() {
        let mut h = Harness::default();
        let alice = h.user("alice");
        let n = make(&mut h, &alice, "api:read", Some(T0 + 2 * DAY));
        let check = PatCheck::store_only(PatPolicy::from_days(1));
        let live = |h: &mut Harness, tok: &str, now: i64| {
            resolve(&mut h.store, tok, &check, now).unwrap().is_some()
        };
        assert!(live(&mut h, &n.token, T0 + 1));
        let (pat, user) = resolve(&mut h.store, &n.token, &check, T0 + 1)
            .unwrap()
            .unwrap();
        assert_eq!((pat.id, user.id), (n.record.id.clone(), alice.id.clone()));
        // Not a PAT, a near miss, expiry.
        assert!(!live(&mut h, "garbage", T0 + 1));
        assert!(!live(&mut h, &format!("{}x", n.token), T0 + 1));
        assert!(!live(&mut h, &n.token[4..], T0 + 1));
        assert!(!live(&mut h, &n.token, T0 + 2 * DAY));
        // Disabled, then enabled again.
        h.store.set_pat_disabled(&n.record.id, true).unwrap();
        assert!(!live(&mut h, &n.token, T0 + 1));
        h.store.set_pat_disabled(&n.record.id, false).unwrap();
        assert!(live(&mut h, &n.token, T0 + 1));
        // Its user disabled.
        h.edit_user(&alice.id, |u| u.disabled = true);
        assert!(!live(&mut h, &n.token, T0 + 1));
        h.edit_user(&alice.id, |u| u.disabled = false);
        // Inactivity (one day here): a recorded use keeps it alive.
        assert!(!live(&mut h, &n.token, T0 + DAY));
        h.store
            .touch_pats(&[(n.record.id.clone(), T0 + 500)])
            .unwrap();
        assert!(live(&mut h, &n.token, T0 + DAY));
        // Revoked.
        h.store.pats[0].revoked_at = Some(T0 + 2);
        assert!(!live(&mut h, &n.token, T0 + 3));
    }

    #[test]
    fn touch_pats_only_moves_last_use_forward() {
        let mut h = Harness::default();
        let alice = h.user("alice");
        let a = make(&mut h, &alice, "api:read", None).record.id;
        let b = make(&mut h, &alice, "api:read", None).record.id;
        let n = h
            .store
            .touch_pats(&[
                (a.clone(), T0 + 10),
                (b.clone(), T0 + 5),
                ("nope".into(), 1),
            ])
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(h.store.touch_pats(&[(a.clone(), T0 + 9)]).unwrap(), 0);
        let last = |h: &mut Harness, id: &str| h.store.get_pat(id).unwrap().unwrap().last_used_at;
        assert_eq!(last(&mut h, &a), Some(T0 + 10));
        assert_eq!(last(&mut h, &b), Some(T0 + 5));
    }

    #[test]
    fn only_the_owner_or_an_admin_manages_a_pat() {
        let mut h = Harness::default();
        let alice = h.user("alice");
        let bob = h.user("bob");
        let root = h.user("root");
        let root = h.edit_user(&root.id, |u| u.is_admin = true);
        let id = make(&mut h, &alice, "api:read", None).record.id;
        let owner = Manager::new(&alice, &scopes("api:read"));
        let other = Manager::new(&bob, &scopes("admin"));
        let admin = Manager::new(&root, &scopes("admin"));
        let admin_without_scope = Manager::new(&root, &scopes("api:read"));
        assert!(!other.admin && admin.admin && !admin_without_scope.admin);

        assert!(get(&mut h.store, &owner, &id).unwrap().is_some());
        assert!(get(&mut h.store, &other, &id).unwrap().is_none());
        assert!(get(&mut h.store, &admin_without_scope, &id)
            .unwrap()
            .is_none());
        assert!(get(&mut h.store, &admin, &id).unwrap().is_some());

        assert_eq!(list(&mut h.store, &owner, None).unwrap().len(), 1);
        assert!(list(&mut h.store, &other, None).unwrap().is_empty());
        assert_eq!(
            list(&mut h.store, &other, Some(&alice.id))
                .unwrap_err()
                .code,
            ErrorCode::InsufficientScope
        );
        assert_eq!(
            list(&mut h.store, &owner, Some(&alice.id)).unwrap().len(),
            1
        );
        assert_eq!(
            list(&mut h.store, &admin, Some(&alice.id)).unwrap().len(),
            1
        );

        let toggle = |h: &mut Harness, who: &Manager, off: bool| {
            h.at(T0 + 1, |s, _, rng| {
                set_disabled(s, rng, who, &id, off, T0 + 1)
            })
            .unwrap()
            .map(|p| p.disabled)
        };
        assert_eq!(toggle(&mut h, &other, true), None);
        assert!(!h.store.pats[0].disabled);
        assert_eq!(toggle(&mut h, &owner, true), Some(true));
        assert_eq!(toggle(&mut h, &owner, true), Some(true));
        assert_eq!(h.store.events_of("pat_disabled").len(), 1);
        assert_eq!(toggle(&mut h, &admin, false), Some(false));
        assert_eq!(h.store.events_of("pat_enabled").len(), 1);

        let del = |h: &mut Harness, who: &Manager| {
            h.at(T0 + 2, |s, _, rng| delete(s, rng, who, &id, T0 + 2))
                .unwrap()
        };
        assert!(!del(&mut h, &other));
        assert!(del(&mut h, &admin));
        assert!(!del(&mut h, &owner));
        assert!(h.store.pats.is_empty());
        assert_eq!(h.store.events_of("pat_deleted").len(), 1);
    }

    #[test]
    fn a_pat_as_an_access_token_and_a_forward_auth_subject() {
        let mut h = Harness::default();
        let alice = h.user("alice");
        let n = make(&mut h, &alice, "api:read", Some(T0 + 30));
        let at = as_access_token(&n.record);
        assert_eq!(
            (at.client_id.as_str(), at.user_id.as_deref(), at.expires_at),
            (PAT_CLIENT_ID, Some(alice.id.as_str()), T0 + 30)
        );
        let issuer = Issuer::parse(ISSUER).unwrap();
        let s = Subject::of_pat(&n.record);
        let c = forward_claims(&issuer, &s, "https://api.example", "j1", 60, T0);
        assert_eq!(
            c,
            json!({
                "iss": ISSUER, "sub": alice.id, "aud": "https://api.example",
                "exp": T0 + 30, "iat": T0, "nbf": T0, "jti": "j1",
                "client_id": "portcullis-pat", "scope": "api:read",
            })
        );
        let forever = make(&mut h, &alice, "api:read", None);
        let c = forward_claims(
            &issuer,
            &Subject::of_pat(&forever.record),
            ISSUER,
            "j",
            60,
            T0,
        );
        assert_eq!(c["exp"], T0 + 60);
        assert_eq!(as_access_token(&forever.record).expires_at, i64::MAX);
    }

    fn rs_client(h: &mut Harness, public: bool) -> crate::model::Client {
        use crate::model::{ClientAuthMethod, GrantType};
        h.client(crate::clients::ClientSpec {
            name: "rs".into(),
            grant_types: Some(vec![GrantType::Password]),
            scope: Some(scopes("api:read")),
            auth_method: public.then_some(ClientAuthMethod::None),
            ..Default::default()
        })
        .0
    }

    #[test]
    fn introspection_answers_a_live_pat_as_token_use_pat() {
        use crate::introspect::{client_caller, introspect_with, Presented, TokenHint};
        let mut h = Harness::default();
        let alice = h.user("alice");
        let forever = make(&mut h, &alice, "api:read profile", None);
        let expiring = make(&mut h, &alice, "api:read", Some(T0 + 500));
        let rs = client_caller(&rs_client(&mut h, false), false).unwrap();
        let public = client_caller(&rs_client(&mut h, true), false).unwrap();
        let recent: HashMap<String, i64> = HashMap::new();
        let check = PatCheck {
            policy: PatPolicy::from_days(90),
            recent: &recent,
        };
        let ask = |h: &mut Harness, caller, tok: &str, hint, now| {
            let (issuer, policy) = (h.issuer.clone(), h.policy.clone());
            let a = introspect_with(
                &mut h.store,
                &issuer,
                &policy,
                &check,
                caller,
                Presented::Opaque(tok),
                hint,
                now,
            )
            .unwrap();
            serde_json::to_value(a).unwrap()
        };
        let v = ask(&mut h, &rs, &forever.token, None, T0 + 1);
        assert_eq!(
            v,
            json!({
                "active": true, "token_use": "pat", "token_type": "Bearer",
                "sub": alice.id, "username": "alice", "scope": "api:read profile",
                "client_id": PAT_CLIENT_ID, "iat": T0, "nbf": T0, "iss": ISSUER,
                "jti": forever.record.id,
            })
        );
        // A hint never hides it (RFC 7662 §2.1).
        let v = ask(
            &mut h,
            &rs,
            &forever.token,
            Some(TokenHint::RefreshToken),
            T0 + 1,
        );
        assert_eq!(v["token_use"], "pat");
        let v = ask(&mut h, &rs, &expiring.token, None, T0 + 1);
        assert_eq!(v["exp"], T0 + 500);
        let inactive = json!({"active": false});
        assert_eq!(ask(&mut h, &rs, &expiring.token, None, T0 + 500), inactive);
        // A public client sees only its own tokens; no PAT is.
        assert_eq!(ask(&mut h, &public, &forever.token, None, T0 + 1), inactive);
        // Disabled; inactive after 90 days unused.
        h.store.set_pat_disabled(&forever.record.id, true).unwrap();
        assert_eq!(ask(&mut h, &rs, &forever.token, None, T0 + 1), inactive);
        h.store.set_pat_disabled(&forever.record.id, false).unwrap();
        assert_eq!(
            ask(&mut h, &rs, &forever.token, None, T0 + DAYS_90),
            inactive
        );
        // Without its prefix it is no PAT.
        assert_eq!(
            ask(&mut h, &rs, &forever.token[4..], None, T0 + 1),
            inactive
        );
    }

    #[test]
    fn revocation_leaves_pats_to_their_owner() {
        use crate::introspect::Presented;
        use crate::revoke::revoke;
        let mut h = Harness::default();
        let alice = h.user("alice");
        let n = make(&mut h, &alice, "api:read", None);
        let c = rs_client(&mut h, false);
        let r = h.at(T0 + 1, |s, _, rng| {
            revoke(s, rng, &c, Presented::Opaque(&n.token), None, T0 + 1)
        });
        assert_eq!(r.unwrap_err().code, ErrorCode::UnsupportedTokenType);
        let check = PatCheck::store_only(PatPolicy::default());
        assert!(resolve(&mut h.store, &n.token, &check, T0 + 2)
            .unwrap()
            .is_some());
        assert!(h.store.events_of("access_token_revoked").is_empty());
    }
}

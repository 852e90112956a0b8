//! Token introspection (RFC 7662): who may ask, and what a token's record
//! says about it at `now`.
//!
//! The server checks a JWT's signature, `typ`, `iss` and `exp` (it holds the
//! keys) and hands over its `jti`; from there the record decides, exactly as
//! [`crate::access::resolve`] decides for bearer tokens at our own routes, so
//! a revoked JWT introspects inactive at once.
//!
//! Token kinds are looked up in [`TOKEN_KINDS`] order, the hinted kind first
//! (RFC 7662 §2.1). A new kind (personal access tokens) slots in as a
//! [`TokenUse`] variant, an entry of [`TOKEN_KINDS`], and one arm in
//! [`live_token`] (and in `revoke::find`).

use serde::Serialize;
use serde_json::{json, Value};

use crate::access::{self, TokenRef};
use crate::error::{ErrorCode, OAuthError};
use crate::issuer::Issuer;
use crate::model::{AccessToken, Client, PersonalAccessToken, RefreshToken, User};
use crate::pats::{self, PatCheck, PatPolicy};
use crate::ports::{ClientStore, PatStore, SessionStore, TokenStore, UserStore};
use crate::secret::hash_token;
use crate::tokens::TokenPolicy;

/// The scope an access token needs to introspect any token as an
/// administrator.
pub const ADMIN_SCOPE: &str = "admin";

/// `token_type_hint` (RFC 7662 §2.1, RFC 7009 §2.1; values from the OAuth
/// Token Type Hints registry, RFC 7009 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHint {
    AccessToken,
    RefreshToken,
}

impl TokenHint {
    /// RFC 7662 §2.1: "If the server is unable to locate the token using
    /// the given hint, it MUST extend its search across all of its supported
    /// token types." An unknown hint is therefore no error: it is ignored.
    pub fn parse(value: Option<&str>) -> Option<TokenHint> {
        match value? {
            "access_token" => Some(TokenHint::AccessToken),
            "refresh_token" => Some(TokenHint::RefreshToken),
            _ => None,
        }
    }

    fn kind(self) -> TokenUse {
        match self {
            TokenHint::AccessToken => TokenUse::Access,
            TokenHint::RefreshToken => TokenUse::Refresh,
        }
    }
}

/// A token as the server saw it, before any record is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// A JWT access token whose signature, `typ` (`at+jwt`), `iss` and `exp`
    /// the server verified: its `jti`.
    VerifiedJwt { jti: &'a str },
    /// Something shaped like a JWT that did not verify (bad signature, an
    /// unknown or retired key, another `typ`, expired): no record is read.
    UnverifiedJwt,
    /// Anything else, as presented: an opaque access token, a refresh
    /// token or a personal access token.
    Opaque(&'a str),
}

/// What kind of token it is: `token_use` in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    Access,
    Refresh,
    /// A personal access token (`pcp_...`, [`crate::pats`]).
    Pat,
}

/// Every kind an opaque string may be, in the order they are looked up
/// when no hint says otherwise.
pub const TOKEN_KINDS: &[TokenUse] = &[TokenUse::Access, TokenUse::Refresh, TokenUse::Pat];

/// The kinds to try for an opaque token: the hinted kind first, then the
/// others (RFC 7662 §2.1, RFC 7009 §2.1).
pub fn lookup_order(hint: Option<TokenHint>) -> Vec<TokenUse> {
    let first = hint.map(TokenHint::kind);
    first
        .into_iter()
        .chain(TOKEN_KINDS.iter().copied().filter(|k| Some(*k) != first))
        .collect()
}

/// Who is asking (RFC 7662 §2.1: "the endpoint MUST also require some form
/// of authorization to access this endpoint").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A client: confidential (authenticated with its secret) or public
    /// (its `client_id` alone).
    Client { id: String, public: bool },
    /// An administrator's access token (user `is_admin`, scope `admin`).
    Admin { user_id: String, client_id: String },
}

impl Caller {
    /// The client the caller acts through: `aud` of a JWT answer.
    pub fn client_id(&self) -> &str {
        match self {
            Caller::Client { id, .. } => id,
            Caller::Admin { client_id, .. } => client_id,
        }
    }

    /// A public client proves nothing but its id, so it learns only about
    /// its own tokens (RFC 7662 §4: the server decides what a caller may
    /// see); another client's token is simply not active for it.
    fn may_see(&self, token_client_id: &str) -> bool {
        match self {
            Caller::Client { id, public: true } => id == token_client_id,
            Caller::Client { public: false, .. } | Caller::Admin { .. } => true,
        }
    }
}

/// A client that authenticated (`client_auth::authenticate`) as the caller.
/// With `resource_servers_only`, only clients registered as resource
/// servers may introspect; any other gets `invalid_client` (401), as a
/// caller "not authorized to use this endpoint" (RFC 7662 §2.3 answers
/// authentication failures as RFC 6749 §5.2 does).
pub fn client_caller(client: &Client, resource_servers_only: bool) -> Result<Caller, OAuthError> {
    if resource_servers_only && !client.is_resource_server {
        return Err(OAuthError::with(
            ErrorCode::InvalidClient,
            "only resource servers may introspect tokens",
        ));
    }
    Ok(Caller::Client {
        id: client.id.clone(),
        public: client.is_public(),
    })
}

/// Why a bearer token may not introspect. RFC 7662 §2.3: both are 401, "as
/// described in Section 3 of OAuth 2.0 Bearer Token Usage [RFC6750]".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerRefusal {
    /// Unknown, expired, revoked, its session ended or its user disabled.
    InvalidToken,
    /// A good token, but not an administrator's with scope `admin`.
    InsufficientScope,
}

/// An administrator's access token as the caller: live (the same rules as
/// every bearer token), of a user who `is_admin`, with scope `admin`.
pub fn admin_caller<T>(
    tx: &mut T,
    token: TokenRef,
    now: i64,
) -> Result<Result<Caller, BearerRefusal>, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore,
{
    let Some((record, user)) = access::resolve_bearer(tx, token, now)? else {
        return Ok(Err(BearerRefusal::InvalidToken));
    };
    match user {
        Some(u) if u.is_admin && record.scope.contains(ADMIN_SCOPE) => Ok(Ok(Caller::Admin {
            user_id: u.id,
            client_id: record.client_id,
        })),
        _ => Ok(Err(BearerRefusal::InsufficientScope)),
    }
}

/// The members of an active token's answer (RFC 7662 §2.2), plus
/// `token_use`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub scope: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` for access tokens. A refresh token is not presented to
    /// resource servers, so it has no RFC 6749 §5.1 token type: omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Absent for a personal access token without expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub iat: i64,
    pub nbf: i64,
    /// The user's id, or the client's for a token without a user.
    pub sub: String,
    /// One audience as a string, several as an array (RFC 7519 §4.1.3).
    /// Absent for a personal access token (it is good at any resource).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub aud: Value,
    pub iss: String,
    pub jti: String,
    pub token_use: TokenUse,
    /// RFC 9449 §6.2: the DPoP key a bound token is bound to, `{"jkt": ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Value>,
}

/// The answer (RFC 7662 §2.2). Anything not live is exactly
/// `{"active": false}`: "the authorization server MUST NOT include any
/// additional information about an inactive token".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten)]
    pub token: Option<TokenInfo>,
}

impl Introspection {
    pub fn inactive() -> Introspection {
        Introspection {
            active: false,
            token: None,
        }
    }

    fn active(token: TokenInfo) -> Introspection {
        Introspection {
            active: true,
            token: Some(token),
        }
    }
}

fn aud_value(aud: &[String]) -> Value {
    match aud {
        [one] => json!(one),
        many => json!(many),
    }
}

/// A stable, public id for a refresh token, which has no `jti`: the first
/// 128 bits of its hash (the hash is the store key; a prefix of it reveals
/// nothing usable about the token).
pub fn refresh_token_id(token_hash: &str) -> String {
    token_hash.get(..32).unwrap_or(token_hash).to_string()
}

fn cnf(jkt: Option<&str>) -> Option<Value> {
    jkt.map(|j| json!({ "jkt": j }))
}

fn access_info(issuer: &Issuer, t: AccessToken, user: Option<User>) -> TokenInfo {
    let token_type = crate::tokens::token_type(&t);
    TokenInfo {
        scope: t.scope.to_string(),
        sub: t.user_id.clone().unwrap_or_else(|| t.client_id.clone()),
        client_id: t.client_id,
        username: user.map(|u| u.username),
        token_type: Some(token_type),
        cnf: cnf(t.dpop_jkt.as_deref()),
        exp: Some(t.expires_at),
        iat: t.issued_at,
        nbf: t.issued_at,
        aud: aud_value(&t.audience),
        iss: issuer.as_str().to_string(),
        jti: t.jti,
        token_use: TokenUse::Access,
    }
}

fn refresh_info(issuer: &Issuer, t: RefreshToken, user: Option<User>) -> TokenInfo {
    TokenInfo {
        scope: t.scope.to_string(),
        sub: t.user_id.clone().unwrap_or_else(|| t.client_id.clone()),
        client_id: t.client_id,
        username: user.map(|u| u.username),
        token_type: None,
        cnf: cnf(t.dpop_jkt.as_deref()),
        exp: Some(t.expires_at),
        iat: t.issued_at,
        nbf: t.issued_at,
        aud: aud_value(&t.audience),
        iss: issuer.as_str().to_string(),
        jti: refresh_token_id(&t.token_hash),
        token_use: TokenUse::Refresh,
    }
}

/// A live refresh token: not revoked, not consumed (rotation used it up),
/// not expired; its session live (not ended, within its maximum and idle
/// lifetimes, as the refresh grant requires); its user enabled.
fn live_refresh<T>(
    tx: &mut T,
    hash: &str,
    policy: &TokenPolicy,
    now: i64,
) -> Result<Option<(RefreshToken, Option<User>)>, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore,
{
    let Some(rt) = tx.get_refresh_token(hash)? else {
        return Ok(None);
    };
    if rt.revoked_at.is_some() || rt.consumed_at.is_some() || rt.expires_at <= now {
        return Ok(None);
    }
    match tx.get_session(&rt.session_id)? {
        Some(s)
            if s.revoked_at.is_none()
                && s.expires_at > now
                && s.last_used_at + policy.session_idle > now => {}
        _ => return Ok(None),
    }
    let user = match &rt.user_id {
        Some(id) => match tx.get_user(id)? {
            Some(u) if !u.disabled => Some(u),
            _ => return Ok(None),
        },
        None => None,
    };
    Ok(Some((rt, user)))
}

/// A live personal access token: `token_use` `pat`, `sub` its user,
/// `client_id` its client or `portcullis-pat`, `jti` its (public) id, `exp`
/// only if it expires, no `aud`.
fn pat_info(issuer: &Issuer, p: PersonalAccessToken, user: User) -> TokenInfo {
    TokenInfo {
        scope: p.scope.to_string(),
        client_id: pats::client_id(&p).to_string(),
        username: Some(user.username),
        token_type: Some("Bearer"),
        exp: p.expires_at,
        iat: p.created_at,
        nbf: p.created_at,
        sub: p.user_id,
        aud: Value::Null,
        iss: issuer.as_str().to_string(),
        jti: p.id,
        token_use: TokenUse::Pat,
        cnf: None,
    }
}

/// The live token of one kind behind an opaque string, if any.
fn live_token<T>(
    tx: &mut T,
    issuer: &Issuer,
    policy: &TokenPolicy,
    pat_check: &PatCheck,
    kind: TokenUse,
    token: &str,
    now: i64,
) -> Result<Option<TokenInfo>, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore + PatStore,
{
    Ok(match kind {
        TokenUse::Access => access::resolve(tx, TokenRef::Opaque(token), now)?
            .map(|(t, u)| access_info(issuer, t, u)),
        TokenUse::Refresh => live_refresh(tx, &hash_token(token), policy, now)?
            .map(|(t, u)| refresh_info(issuer, t, u)),
        // Only strings with the PAT prefix are looked up.
        TokenUse::Pat => {
            pats::resolve(tx, token, pat_check, now)?.map(|(p, u)| pat_info(issuer, p, u))
        }
    })
}

/// RFC 7662 §2.2: is the token active at `now`, and what is known of it, as
/// `caller` may see it. Personal access tokens are judged by the default
/// [`PatPolicy`] and their stored last use; the server calls
/// [`introspect_with`] with its configuration and unflushed uses.
pub fn introspect<T>(
    tx: &mut T,
    issuer: &Issuer,
    policy: &TokenPolicy,
    caller: &Caller,
    token: Presented,
    hint: Option<TokenHint>,
    now: i64,
) -> Result<Introspection, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore + PatStore,
{
    let pat_check = PatCheck::store_only(PatPolicy::default());
    introspect_with(tx, issuer, policy, &pat_check, caller, token, hint, now)
}

/// [`introspect`], with the rules for personal access tokens. A PAT is
/// active only for confidential callers and administrators: a public
/// client sees only tokens issued to itself, and no PAT is.
#[allow(clippy::too_many_arguments)]
pub fn introspect_with<T>(
    tx: &mut T,
    issuer: &Issuer,
    policy: &TokenPolicy,
    pat_check: &PatCheck,
    caller: &Caller,
    token: Presented,
    hint: Option<TokenHint>,
    now: i64,
) -> Result<Introspection, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore + PatStore,
{
    let found = match token {
        Presented::UnverifiedJwt => None,
        // A verified JWT is an access token: the hint does not matter.
        Presented::VerifiedJwt { jti } => {
            access::resolve(tx, TokenRef::Jti(jti), now)?.map(|(t, u)| access_info(issuer, t, u))
        }
        Presented::Opaque(value) => {
            let mut found = None;
            for kind in lookup_order(hint) {
                found = live_token(tx, issuer, policy, pat_check, kind, value, now)?;
                if found.is_some() {
                    break;
                }
            }
            found
        }
    };
    Ok(match found {
        Some(info) if caller.may_see(&info.client_id) => Introspection::active(info),
        _ => Introspection::inactive(),
    })
}

/// The claims of a JWT answer (RFC 9701 §5): `iss`, `aud` (the caller's
/// client), `iat`, and the introspection object under
/// `token_introspection`. The server signs it with `typ`
/// `token-introspection+jwt`.
pub fn jwt_response_claims(
    issuer: &Issuer,
    caller: &Caller,
    answer: &Introspection,
    now: i64,
) -> Value {
    json!({
        "iss": issuer.as_str(),
        "aud": caller.client_id(),
        "iat": now,
        "token_introspection": answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientSpec;
    use crate::model::{ClientAuthMethod, GrantType, Scopes, TokenFormat};
    use crate::ports::ClientStore;
    use crate::testing::*;
    use crate::tokens::TokenResponse;

    fn client(h: &mut Harness, format: TokenFormat, public: bool) -> Client {
        h.client(ClientSpec {
            name: "cli".into(),
            grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
            scope: Some(Scopes::parse("api admin").unwrap()),
            access_token_format: Some(format),
            auth_method: public.then_some(ClientAuthMethod::None),
            redirect_uris: if public {
                vec!["http://127.0.0.1/cb".into()]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .0
    }

    fn rs() -> Caller {
        Caller::Client {
            id: "rs".into(),
            public: false,
        }
    }

    fn ask(h: &mut Harness, caller: &Caller, token: Presented, now: i64) -> Introspection {
        let policy = h.policy.clone();
        let issuer = h.issuer.clone();
        introspect(&mut h.store, &issuer, &policy, caller, token, None, now).unwrap()
    }

    fn jti_of(t: &TokenResponse) -> String {
        TestSigner::claims(&t.access_token)["jti"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn setup(format: TokenFormat) -> (Harness, Client, User, TokenResponse) {
        let mut h = Harness::default();
        let c = client(&mut h, format, false);
        let u = h.user("alice");
        let t = h.login(&c, &u, T0);
        (h, c, u, t)
    }

    #[test]
    fn hints_order_the_lookup_and_unknown_ones_are_ignored() {
        assert_eq!(
            TokenHint::parse(Some("refresh_token")),
            Some(TokenHint::RefreshToken)
        );
        assert_eq!(
            TokenHint::parse(Some("access_token")),
            Some(TokenHint::AccessToken)
        );
        assert_eq!(TokenHint::parse(Some("id_token")), None);
        assert_eq!(TokenHint::parse(None), None);
        assert_eq!(
            lookup_order(None),
            vec![TokenUse::Access, TokenUse::Refresh, TokenUse::Pat]
        );
        assert_eq!(
            lookup_order(Some(TokenHint::RefreshToken)),
            vec![TokenUse::Refresh, TokenUse::Access, TokenUse::Pat]
        );
    }

    #[test]
    fn live_opaque_access_and_refresh_tokens_answer_every_member() {
        let (mut h, c, u, t) = setup(TokenFormat::Opaque);
        let a = ask(&mut h, &rs(), Presented::Opaque(&t.access_token), T0 + 1);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["active"], true);
        assert_eq!(v["token_use"], "access");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["client_id"], c.id.as_str());
        assert_eq!(v["sub"], u.id.as_str());
        assert_eq!(v["username"], "alice");
        assert_eq!(v["scope"], "admin api");
        assert_eq!(v["iss"], ISSUER);
        assert_eq!(v["aud"], ISSUER);
        assert_eq!(v["exp"], T0 + 300);
        assert_eq!((v["iat"].as_i64(), v["nbf"].as_i64()), (Some(T0), Some(T0)));
        assert!(v["jti"].as_str().is_some_and(|j| !j.is_empty()));

        let rt = t.refresh_token.clone().unwrap();
        for hint in [
            None,
            Some(TokenHint::AccessToken),
            Some(TokenHint::RefreshToken),
        ] {
            let policy = h.policy.clone();
            let r = introspect(
                &mut h.store,
                &h.issuer.clone(),
                &policy,
                &rs(),
                Presented::Opaque(&rt),
                hint,
                T0 + 1,
            )
            .unwrap();
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["token_use"], "refresh", "{hint:?}");
            assert_eq!(v["jti"], refresh_token_id(&hash_token(&rt)));
            assert!(v.get("token_type").is_none());
            assert_eq!(v["username"], "alice");
        }
    }

    #[test]
    fn anything_not_live_is_exactly_active_false() {
        let (mut h, c, u, t) = setup(TokenFormat::Opaque);
        let inactive = serde_json::json!({"active": false});
        let at = t.access_token.clone();
        let rt = t.refresh_token.clone().unwrap();
        let check = |h: &mut Harness, tok: &str, now: i64| {
            serde_json::to_value(ask(h, &rs(), Presented::Opaque(tok), now)).unwrap()
        };
        // garbage, an unverifiable JWT, expiry
        assert_eq!(check(&mut h, "garbage", T0 + 1), inactive);
        assert_eq!(
            serde_json::to_value(ask(&mut h, &rs(), Presented::UnverifiedJwt, T0)).unwrap(),
            inactive
        );
        assert_eq!(check(&mut h, &at, T0 + 300), inactive);
        // idle session: the refresh token is no longer live
        assert_eq!(check(&mut h, &rt, T0 + 3_600), inactive);
        assert_eq!(check(&mut h, &rt, T0 + 3_599)["active"], true);
        // disabled user
        h.edit_user(&u.id, |u| u.disabled = true);
        assert_eq!(check(&mut h, &at, T0 + 1), inactive);
        assert_eq!(check(&mut h, &rt, T0 + 1), inactive);
        h.edit_user(&u.id, |u| u.disabled = false);
        // consumed refresh token: inactive, its successor live
        let p = params(&[("refresh_token", &rt)]);
        let next = issued(h.at(T0 + 10, |s, ctx, rng| {
            crate::grants::refresh_token::handle(s, ctx, rng, &c, &p)
        }));
        assert_eq!(check(&mut h, &rt, T0 + 11), inactive);
        let rt2 = next.refresh_token.clone().unwrap();
        assert_eq!(check(&mut h, &rt2, T0 + 11)["active"], true);
        // session ended: every token of it
        let sid = t.session_state.clone().unwrap();
        let session = h.store.session(&sid).clone();
        h.at(T0 + 12, |s, _, rng| {
            crate::sessions::end_session(s, rng, &session, T0 + 12, "test")
        })
        .unwrap();
        assert_eq!(check(&mut h, &rt2, T0 + 13), inactive);
        assert_eq!(check(&mut h, &next.access_token, T0 + 13), inactive);
    }

    #[test]
    fn a_revoked_jwt_is_inactive_at_once() {
        let (mut h, _, _, t) = setup(TokenFormat::Jwt);
        let jti = jti_of(&t);
        let live = ask(&mut h, &rs(), Presented::VerifiedJwt { jti: &jti }, T0 + 1);
        assert!(live.active);
        assert_eq!(live.token.unwrap().jti, jti);
        h.store.revoke_access_token(&jti, T0 + 2).unwrap();
        assert_eq!(
            ask(&mut h, &rs(), Presented::VerifiedJwt { jti: &jti }, T0 + 3),
            Introspection::inactive()
        );
    }

    #[test]
    fn a_public_client_sees_only_its_own_tokens() {
        let (mut h, c, u, t) = setup(TokenFormat::Opaque);
        let public = client(&mut h, TokenFormat::Opaque, true);
        let own = h.login(&public, &u, T0);
        let me = client_caller(&public, false).unwrap();
        assert!(ask(&mut h, &me, Presented::Opaque(&own.access_token), T0 + 1).active);
        assert!(
            ask(
                &mut h,
                &me,
                Presented::Opaque(own.refresh_token.as_deref().unwrap()),
                T0 + 1
            )
            .active
        );
        assert_eq!(
            ask(&mut h, &me, Presented::Opaque(&t.access_token), T0 + 1),
            Introspection::inactive()
        );
        // a confidential client sees either
        let conf = client_caller(&c, false).unwrap();
        assert!(ask(&mut h, &conf, Presented::Opaque(&own.access_token), T0 + 1).active);
    }

    #[test]
    fn resource_servers_only_refuses_other_clients() {
        let mut h = Harness::default();
        let mut c = client(&mut h, TokenFormat::Opaque, false);
        assert!(client_caller(&c, false).is_ok());
        assert_eq!(
            client_caller(&c, true).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        c.is_resource_server = true;
        h.store.update_client(&c).unwrap();
        assert!(client_caller(&c, true).is_ok());
    }

    #[test]
    fn only_an_admin_token_with_scope_admin_is_an_admin_caller() {
        let (mut h, c, u, _) = setup(TokenFormat::Opaque);
        let admin = h.edit_user(&u.id, |u| u.is_admin = true);
        let t = h.login(&c, &admin, T0);
        let who = admin_caller(&mut h.store, TokenRef::Opaque(&t.access_token), T0 + 1).unwrap();
        assert_eq!(
            who,
            Ok(Caller::Admin {
                user_id: u.id.clone(),
                client_id: c.id.clone()
            })
        );
        // expired
        assert_eq!(
            admin_caller(&mut h.store, TokenRef::Opaque(&t.access_token), T0 + 300).unwrap(),
            Err(BearerRefusal::InvalidToken)
        );
        // without the admin scope
        let narrow = crate::grants::password::PasswordRequest {
            username: "alice".into(),
            password: "pw".into(),
            otp: None,
            scope: Scopes::parse("api").unwrap(),
            scope_named: true,
            audience: vec![ISSUER.into()],
            resource: vec![],
        };
        let t2 = issued(h.at(T0, |s, ctx, rng| {
            crate::grants::password::complete(s, ctx, rng, &c, &admin, None, &narrow, 300)
        }));
        assert_eq!(
            admin_caller(&mut h.store, TokenRef::Opaque(&t2.access_token), T0 + 1).unwrap(),
            Err(BearerRefusal::InsufficientScope)
        );
        // not an admin any more
        h.edit_user(&u.id, |u| u.is_admin = false);
        assert_eq!(
            admin_caller(&mut h.store, TokenRef::Opaque(&t.access_token), T0 + 1).unwrap(),
            Err(BearerRefusal::InsufficientScope)
        );
        // an admin caller sees a public client's token too
        let caller = Caller::Admin {
            user_id: u.id.clone(),
            client_id: c.id.clone(),
        };
        let public = client(&mut h, TokenFormat::Opaque, true);
        let pt = h.login(&public, &u, T0);
        assert!(ask(&mut h, &caller, Presented::Opaque(&pt.access_token), T0 + 1).active);
    }

    #[test]
    fn jwt_answer_wraps_the_object_for_the_caller() {
        let issuer = Issuer::parse(ISSUER).unwrap();
        let c = jwt_response_claims(&issuer, &rs(), &Introspection::inactive(), T0);
        assert_eq!(
            c,
            serde_json::json!({"iss": ISSUER, "aud": "rs", "iat": T0, "token_introspection": {"active": false}})
        );
    }
}

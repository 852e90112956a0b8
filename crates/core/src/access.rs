//! Is a presented access token good? Used by userinfo, `/api/auth/me` and
//! introspection. A JWT's signature and `iss` are checked by the server
//! (which holds the keys); this decides from the record: not revoked, not
//! expired, its session live, its client and its user enabled. So a revoked JWT stops
//! working at once.

use crate::error::OAuthError;
use crate::model::{AccessToken, User};
use crate::ports::{ClientStore, SessionStore, TokenStore, UserStore};
use crate::secret::hash_token;

/// How the token was presented.
pub enum TokenRef<'a> {
    /// A JWT whose signature was verified: its `jti`.
    Jti(&'a str),
    /// An opaque token, as presented.
    Opaque(&'a str),
}

/// The live record behind a token, and its user (if it has one).
pub fn resolve<T>(
    tx: &mut T,
    token: TokenRef,
    now: i64,
) -> Result<Option<(AccessToken, Option<User>)>, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore,
{
    let record = match token {
        TokenRef::Jti(jti) => tx.get_access_token_by_jti(jti)?,
        TokenRef::Opaque(t) => tx.get_access_token_by_hash(&hash_token(t))?,
    };
    let Some(record) = record else {
        return Ok(None);
    };
    if record.revoked_at.is_some() || record.expires_at <= now {
        return Ok(None);
    }
    if let Some(sid) = &record.session_id {
        match tx.get_session(sid)? {
            Some(s) if s.revoked_at.is_none() && s.expires_at > now => {}
            _ => return Ok(None),
        }
    }
    // A disabled (or deleted) client's tokens stop at once, as a disabled user's do.
    match tx.get_client(&record.client_id)? {
        Some(c) if !c.disabled => {}
        _ => return Ok(None),
    }
    let user = match &record.user_id {
        Some(id) => match tx.get_user(id)? {
            Some(u) if !u.disabled => Some(u),
            _ => return Ok(None),
        },
        None => None,
    };
    Ok(Some((record, user)))
}

/// [`resolve`] for a token presented as a bearer token (RFC 6750): a
/// DPoP-bound token is not one and is refused (RFC 9449 §7.2), so a stolen
/// bound token is no use without its key at routes that take only bearer
/// tokens (the admin API, forward auth, introspection by bearer token).
pub fn resolve_bearer<T>(
    tx: &mut T,
    token: TokenRef,
    now: i64,
) -> Result<Option<(AccessToken, Option<User>)>, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore,
{
    Ok(resolve(tx, token, now)?.filter(|(record, _)| record.dpop_jkt.is_none()))
}

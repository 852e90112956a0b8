//! Token revocation (RFC 7009). The client has authenticated
//! (`client_auth::authenticate`; a public client by its `client_id` alone);
//! this decides what its request revokes.
//!
//! - A refresh token ends its whole session: every access and refresh token
//!   of that login is revoked and the end is audited. RFC 7009 §2.1: "If
//!   the particular token is a refresh token and the authorization server
//!   supports the revocation of access tokens, then the authorization server
//!   SHOULD also invalidate all access tokens based on the same
//!   authorization grant".
//! - An access token is revoked alone (RFC 7009 §2.1: "If the token passed
//!   to the request is an access token, the server MAY revoke the
//!   respective refresh token as well"; we do not).
//! - A token issued to another client revokes nothing and is refused with
//!   `unauthorized_client`. RFC 7009 §2.1: "The authorization server first
//!   validates the client credentials ... and then verifies whether the
//!   token was issued to the client making the revocation request. If this
//!   validation fails, the request is refused and the client is informed of
//!   the error by the authorization server as described below."
//! - A personal access token is not revoked here, whoever asks: it was
//!   issued to no client, and its owner (or an administrator) disables or
//!   deletes it through `/api/pats`. It is answered `unsupported_token_type`
//!   (RFC 7009 §2.2.1: "The authorization server does not support the
//!   revocation of the presented token type"), so a caller learns that
//!   nothing happened.
//! - Unknown, garbage or already invalid tokens change nothing and succeed.
//!   RFC 7009 §2.2: "Note: invalid tokens do not cause an error response
//!   since the client cannot handle such an error in a reasonable way".

use serde_json::json;

use crate::error::{ErrorCode, OAuthError};
use crate::introspect::{lookup_order, Presented, TokenHint, TokenUse};
use crate::model::{AccessToken, Client, PersonalAccessToken, RefreshToken};
use crate::pats;
use crate::ports::{AuditStore, PatStore, Random, SessionStore, TokenStore};
use crate::secret::hash_token;
use crate::sessions::{audit, end_session};

/// The record behind a presented token, live or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Access(AccessToken),
    Refresh(RefreshToken),
    Pat(PersonalAccessToken),
}

impl Found {
    pub fn client_id(&self) -> &str {
        match self {
            Found::Access(t) => &t.client_id,
            Found::Refresh(t) => &t.client_id,
            Found::Pat(p) => pats::client_id(p),
        }
    }
}

/// Look a presented token up: a verified JWT by `jti`; an opaque string by
/// hash, the hinted kind first, then every other kind (RFC 7009 §2.1: "If
/// the server is unable to locate the token using the given hint, it MUST
/// extend its search across all of its supported token types").
pub fn find<T: TokenStore + PatStore>(
    tx: &mut T,
    token: Presented,
    hint: Option<TokenHint>,
) -> Result<Option<Found>, OAuthError> {
    match token {
        Presented::UnverifiedJwt => Ok(None),
        Presented::VerifiedJwt { jti } => Ok(tx.get_access_token_by_jti(jti)?.map(Found::Access)),
        Presented::Opaque(value) => {
            let hash = hash_token(value);
            for kind in lookup_order(hint) {
                let found = match kind {
                    TokenUse::Access => tx.get_access_token_by_hash(&hash)?.map(Found::Access),
                    TokenUse::Refresh => tx.get_refresh_token(&hash)?.map(Found::Refresh),
                    TokenUse::Pat if pats::looks_like_pat(value) => {
                        tx.get_pat_by_hash(&hash)?.map(Found::Pat)
                    }
                    TokenUse::Pat => None,
                };
                if found.is_some() {
                    return Ok(found);
                }
            }
            Ok(None)
        }
    }
}

/// What a revocation request did. Every variant answers 200 (RFC 7009
/// §2.2: "The authorization server responds with HTTP status code 200 if
/// the token has been revoked successfully or if the client submitted an
/// invalid token").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// An access token was revoked, that token only.
    AccessTokenRevoked,
    /// A refresh token's session ended: all its tokens are revoked.
    SessionEnded,
    /// A token of this client that was already invalid: nothing changed.
    AlreadyInvalid,
    /// No such token (or a JWT that did not verify): nothing changed.
    Unknown,
}

/// Revoke `token` for `client` at `now`. `Err(unauthorized_client)` when
/// the token was issued to another client; nothing is written then.
pub fn revoke<T>(
    tx: &mut T,
    rng: &mut dyn Random,
    client: &Client,
    token: Presented,
    hint: Option<TokenHint>,
    now: i64,
) -> Result<Revocation, OAuthError>
where
    T: TokenStore + SessionStore + AuditStore + PatStore,
{
    let Some(found) = find(tx, token, hint)? else {
        return Ok(Revocation::Unknown);
    };
    if let Found::Pat(_) = found {
        return Err(OAuthError::with(
            ErrorCode::UnsupportedTokenType,
            "personal access tokens are disabled or deleted by their owner at /api/pats",
        ));
    }
    if found.client_id() != client.id {
        return Err(OAuthError::with(
            ErrorCode::UnauthorizedClient,
            "the token was issued to another client",
        ));
    }
    match found {
        Found::Access(t) => {
            if t.revoked_at.is_some() || t.expires_at <= now {
                return Ok(Revocation::AlreadyInvalid);
            }
            if !tx.revoke_access_token(&t.jti, now)? {
                return Ok(Revocation::AlreadyInvalid);
            }
            // The jti is an identifier, not the token: safe in the trail.
            audit(
                tx,
                rng,
                now,
                "access_token_revoked",
                t.user_id.as_deref(),
                Some(&t.client_id),
                t.session_id.as_deref(),
                json!({"reason": "revocation", "jti": t.jti}),
            )?;
            Ok(Revocation::AccessTokenRevoked)
        }
        // Any refresh token of the session (even one rotation has used up)
        // names the grant; ending the session is what the client asked for.
        // Answered above.
        Found::Pat(_) => Ok(Revocation::Unknown),
        Found::Refresh(t) => match tx.get_session(&t.session_id)? {
            Some(session) if session.revoked_at.is_none() => {
                end_session(tx, rng, &session, now, "revocation")?;
                Ok(Revocation::SessionEnded)
            }
            Some(_) => Ok(Revocation::AlreadyInvalid),
            // No session row (should not happen): revoke its tokens anyway.
            None => Ok(if tx.revoke_session_tokens(&t.session_id, now)? > 0 {
                Revocation::SessionEnded
            } else {
                Revocation::AlreadyInvalid
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{resolve, TokenRef};
    use crate::clients::ClientSpec;
    use crate::model::{GrantType, Scopes, TokenFormat, User};
    use crate::testing::*;
    use crate::tokens::TokenResponse;

    fn client(h: &mut Harness, format: TokenFormat) -> Client {
        h.client(ClientSpec {
            name: "cli".into(),
            grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
            scope: Some(Scopes::parse("api").unwrap()),
            access_token_format: Some(format),
            ..Default::default()
        })
        .0
    }

    fn setup(format: TokenFormat) -> (Harness, Client, User, TokenResponse) {
        let mut h = Harness::default();
        let c = client(&mut h, format);
        let u = h.user("alice");
        let t = h.login(&c, &u, T0);
        (h, c, u, t)
    }

    fn run(
        h: &mut Harness,
        c: &Client,
        token: Presented,
        hint: Option<TokenHint>,
        now: i64,
    ) -> Result<Revocation, ErrorCode> {
        h.at(now, |s, _, rng| revoke(s, rng, c, token, hint, now))
            .map_err(|e| e.code)
    }

    fn live(h: &mut Harness, t: &str, now: i64) -> bool {
        resolve(&mut h.store, TokenRef::Opaque(t), now)
            .unwrap()
            .is_some()
    }

    fn refresh_live(h: &mut Harness, c: &Client, rt: &str, now: i64) -> bool {
        let p = params(&[("refresh_token", rt)]);
        matches!(
            h.at(now, |s, ctx, rng| {
                crate::grants::refresh_token::handle(s, ctx, rng, c, &p)
            }),
            Ok(crate::tokens::Outcome::Issued(_))
        )
    }

    #[test]
    fn revoking_a_refresh_token_ends_its_session() {
        let (mut h, c, u, t) = setup(TokenFormat::Opaque);
        let other = h.login(&c, &u, T0);
        let rt = t.refresh_token.clone().unwrap();
        // rotate once: the successor and a second access token join the family
        let p = params(&[("refresh_token", &rt)]);
        let next = issued(h.at(T0 + 5, |s, ctx, rng| {
            crate::grants::refresh_token::handle(s, ctx, rng, &c, &p)
        }));
        let rt2 = next.refresh_token.clone().unwrap();
        assert_eq!(
            run(
                &mut h,
                &c,
                Presented::Opaque(&rt2),
                Some(TokenHint::RefreshToken),
                T0 + 6
            ),
            Ok(Revocation::SessionEnded)
        );
        assert!(!live(&mut h, &t.access_token, T0 + 7));
        assert!(!live(&mut h, &next.access_token, T0 + 7));
        assert!(!refresh_live(&mut h, &c, &rt2, T0 + 7));
        let sid = t.session_state.clone().unwrap();
        assert_eq!(h.store.session(&sid).revoked_at, Some(T0 + 6));
        let ended = h.store.events_of("session_ended");
        assert_eq!(ended.len(), 1);
        assert!(ended[0].detail.contains("revocation") && !ended[0].detail.contains(&rt2));
        // the other session is untouched
        assert!(live(&mut h, &other.access_token, T0 + 7));
        // again: already invalid, no second audit event
        assert_eq!(
            run(&mut h, &c, Presented::Opaque(&rt2), None, T0 + 8),
            Ok(Revocation::AlreadyInvalid)
        );
        assert_eq!(h.store.events_of("session_ended").len(), 1);
    }

    #[test]
    fn revoking_an_access_token_revokes_it_alone() {
        let (mut h, c, _, t) = setup(TokenFormat::Opaque);
        let rt = t.refresh_token.clone().unwrap();
        // a wrong hint does not stop the search
        assert_eq!(
            run(
                &mut h,
                &c,
                Presented::Opaque(&t.access_token),
                Some(TokenHint::RefreshToken),
                T0 + 1
            ),
            Ok(Revocation::AccessTokenRevoked)
        );
        assert!(!live(&mut h, &t.access_token, T0 + 2));
        assert!(refresh_live(&mut h, &c, &rt, T0 + 2));
        assert_eq!(h.store.events_of("access_token_revoked").len(), 1);
        assert_eq!(
            run(&mut h, &c, Presented::Opaque(&t.access_token), None, T0 + 3),
            Ok(Revocation::AlreadyInvalid)
        );
    }

    #[test]
    fn a_jwt_is_revoked_by_jti() {
        let (mut h, c, _, t) = setup(TokenFormat::Jwt);
        let jti = TestSigner::claims(&t.access_token)["jti"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            run(
                &mut h,
                &c,
                Presented::VerifiedJwt { jti: &jti },
                None,
                T0 + 1
            ),
            Ok(Revocation::AccessTokenRevoked)
        );
        assert!(resolve(&mut h.store, TokenRef::Jti(&jti), T0 + 2)
            .unwrap()
            .is_none());
        assert_eq!(
            run(&mut h, &c, Presented::UnverifiedJwt, None, T0 + 1),
            Ok(Revocation::Unknown)
        );
    }

    #[test]
    fn another_clients_token_is_refused_and_stays_live() {
        let (mut h, c, _, t) = setup(TokenFormat::Opaque);
        let other = client(&mut h, TokenFormat::Opaque);
        let rt = t.refresh_token.clone().unwrap();
        for tok in [t.access_token.as_str(), rt.as_str()] {
            assert_eq!(
                run(&mut h, &other, Presented::Opaque(tok), None, T0 + 1),
                Err(ErrorCode::UnauthorizedClient)
            );
        }
        assert!(live(&mut h, &t.access_token, T0 + 2));
        assert!(refresh_live(&mut h, &c, &rt, T0 + 2));
        assert!(h.store.events.is_empty());
    }

    #[test]
    fn unknown_and_expired_tokens_change_nothing() {
        let (mut h, c, _, t) = setup(TokenFormat::Opaque);
        assert_eq!(
            run(&mut h, &c, Presented::Opaque("garbage"), None, T0 + 1),
            Ok(Revocation::Unknown)
        );
        assert_eq!(
            run(
                &mut h,
                &c,
                Presented::Opaque(&t.access_token),
                None,
                T0 + 300
            ),
            Ok(Revocation::AlreadyInvalid)
        );
        assert!(h.store.events.is_empty());
    }
}

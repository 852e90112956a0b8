//! `sessions::logout` and `access::resolve` against [`MemStore`], with time
//! passed in.

use crate::access::{resolve, TokenRef};
use crate::clients::ClientSpec;
use crate::error::ErrorCode;
use crate::model::{Client, GrantType, Scopes, TokenFormat, User};
use crate::ports::SessionStore;
use crate::sessions::logout;
use crate::testing::*;
use crate::tokens::TokenResponse;

fn cli(h: &mut Harness, format: TokenFormat) -> Client {
    h.client(ClientSpec {
        name: "cli".into(),
        grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
        scope: Some(Scopes::parse("openid api:read").unwrap()),
        access_token_format: Some(format),
        ..Default::default()
    })
    .0
}

fn setup(format: TokenFormat) -> (Harness, Client, User, TokenResponse) {
    let mut h = Harness::default();
    let c = cli(&mut h, format);
    let alice = h.user("alice");
    let t = h.login(&c, &alice, T0);
    (h, c, alice, t)
}

fn do_logout(h: &mut Harness, c: &Client, token: &str, now: i64) -> Result<(), ErrorCode> {
    h.at(now, |s, _, rng| logout(s, rng, c, token, now))
        .map_err(|e| e.code)
}

fn live(h: &mut Harness, token: &str, now: i64) -> bool {
    h.at(now, |s, _, _| resolve(s, TokenRef::Opaque(token), now))
        .unwrap()
        .is_some()
}

#[test]
fn logout_ends_the_session_and_revokes_its_tokens() {
    let (mut h, c, alice, t) = setup(TokenFormat::Opaque);
    let other = h.login(&c, &alice, T0);
    let sid = t.session_state.clone().unwrap();
    let rt = t.refresh_token.clone().unwrap();

    assert_eq!(do_logout(&mut h, &c, &rt, T0 + 5), Ok(()));
    assert_eq!(h.store.session(&sid).revoked_at, Some(T0 + 5));
    let (access, refresh) = h.store.tokens_of_session(&sid);
    assert!(access.iter().all(|a| a.revoked_at == Some(T0 + 5)));
    assert!(refresh.iter().all(|r| r.revoked_at == Some(T0 + 5)));
    assert!(!live(&mut h, &t.access_token, T0 + 6));
    let ended = h.store.events_of("session_ended");
    assert_eq!(ended.len(), 1);
    assert!(ended[0].detail.contains("logout") && !ended[0].detail.contains(&rt));

    // The other session of the same user is untouched.
    assert!(live(&mut h, &other.access_token, T0 + 6));
    let osid = other.session_state.unwrap();
    assert_eq!(h.store.session(&osid).revoked_at, None);

    // The refresh token no longer refreshes; a second logout is harmless.
    let p = params(&[("refresh_token", &rt)]);
    let r = h.at(T0 + 7, |s, ctx, rng| {
        crate::grants::refresh_token::handle(s, ctx, rng, &c, &p)
    });
    assert_eq!(err(r).code, ErrorCode::InvalidGrant);
    assert_eq!(do_logout(&mut h, &c, &rt, T0 + 8), Ok(()));
    assert_eq!(h.store.session(&sid).revoked_at, Some(T0 + 5));
}

#[test]
fn logout_with_another_clients_or_an_unknown_token_is_invalid_grant() {
    let (mut h, _, _, t) = setup(TokenFormat::Opaque);
    let other = cli(&mut h, TokenFormat::Opaque);
    let rt = t.refresh_token.unwrap();
    assert_eq!(
        do_logout(&mut h, &other, &rt, T0 + 1),
        Err(ErrorCode::InvalidGrant)
    );
    assert_eq!(
        do_logout(&mut h, &other, "nope", T0 + 1),
        Err(ErrorCode::InvalidGrant)
    );
    let sid = t.session_state.unwrap();
    assert_eq!(h.store.session(&sid).revoked_at, None);
    assert!(live(&mut h, &t.access_token, T0 + 1));
    assert!(h.store.events.is_empty());
}

#[test]
fn resolve_finds_live_opaque_and_jwt_tokens() {
    let (mut h, _, alice, t) = setup(TokenFormat::Opaque);
    let (rec, user) = h
        .at(T0 + 1, |s, _, _| {
            resolve(s, TokenRef::Opaque(&t.access_token), T0 + 1)
        })
        .unwrap()
        .unwrap();
    assert_eq!(rec.session_id, t.session_state);
    assert_eq!(user.map(|u| u.id), Some(alice.id.clone()));
    // The hash, or the jti, of an opaque token is not the token.
    assert!(!live(&mut h, &rec.token_hash.clone().unwrap(), T0 + 1));
    assert!(!live(&mut h, "unknown", T0 + 1));

    let (mut h, _, _, t) = setup(TokenFormat::Jwt);
    let jti = TestSigner::claims(&t.access_token)["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let found = h
        .at(T0, |s, _, _| resolve(s, TokenRef::Jti(&jti), T0))
        .unwrap();
    assert!(found.is_some());
    // A JWT is not looked up as an opaque token.
    assert!(!live(&mut h, &t.access_token, T0));
}

#[test]
fn resolve_client_credentials_token_has_no_user() {
    let mut h = Harness::default();
    let (svc, _) = h.client(ClientSpec {
        name: "svc".into(),
        grant_types: Some(vec![GrantType::ClientCredentials]),
        access_token_format: Some(TokenFormat::Opaque),
        ..Default::default()
    });
    let p = params(&[]);
    let t = issued(h.at(T0, |s, ctx, rng| {
        crate::grants::client_credentials::handle(s, ctx, rng, &svc, &p)
    }));
    let (rec, user) = h
        .at(T0, |s, _, _| {
            resolve(s, TokenRef::Opaque(&t.access_token), T0)
        })
        .unwrap()
        .unwrap();
    assert_eq!((rec.client_id, user), (svc.id, None));
}

#[test]
fn resolve_refuses_expired_and_revoked_tokens() {
    let (mut h, _, _, t) = setup(TokenFormat::Opaque);
    // Access tokens live 300 s: good until the last second, not at expires_at.
    assert!(live(&mut h, &t.access_token, T0 + 299));
    assert!(!live(&mut h, &t.access_token, T0 + 300));

    let (mut h, _, _, t) = setup(TokenFormat::Opaque);
    h.store.access_tokens[0].revoked_at = Some(T0 + 1);
    assert!(!live(&mut h, &t.access_token, T0 + 2));
}

#[test]
fn resolve_refuses_tokens_of_revoked_or_expired_sessions_and_disabled_users() {
    let (mut h, _, _, t) = setup(TokenFormat::Opaque);
    let sid = t.session_state.clone().unwrap();
    // The session alone is revoked (its tokens are not): still refused.
    h.store.revoke_session(&sid, T0 + 1).unwrap();
    assert!(!live(&mut h, &t.access_token, T0 + 2));

    let (mut h, _, _, t) = setup(TokenFormat::Opaque);
    h.store.sessions[0].expires_at = T0 + 10;
    assert!(live(&mut h, &t.access_token, T0 + 9));
    assert!(!live(&mut h, &t.access_token, T0 + 10));

    let (mut h, _, alice, t) = setup(TokenFormat::Opaque);
    h.edit_user(&alice.id, |u| u.disabled = true);
    assert!(!live(&mut h, &t.access_token, T0 + 1));
    h.edit_user(&alice.id, |u| u.disabled = false);
    assert!(live(&mut h, &t.access_token, T0 + 1));
    h.store.users.clear();
    assert!(!live(&mut h, &t.access_token, T0 + 1), "deleted user");
}

#[test]
fn resolve_refuses_tokens_of_a_disabled_client() {
    let (mut h, client, _, t) = setup(TokenFormat::Opaque);
    assert!(live(&mut h, &t.access_token, T0 + 1));
    let c = h
        .store
        .clients
        .iter_mut()
        .find(|c| c.id == client.id)
        .unwrap();
    c.disabled = true;
    assert!(
        !live(&mut h, &t.access_token, T0 + 1),
        "a disabled client's tokens stop at once"
    );
    h.store.clients.iter_mut().for_each(|c| c.disabled = false);
    assert!(live(&mut h, &t.access_token, T0 + 1));
    h.store.clients.retain(|c| c.id != client.id);
    assert!(!live(&mut h, &t.access_token, T0 + 1), "deleted client");
}

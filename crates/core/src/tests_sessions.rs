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

const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36";

/// A code for `user` signed in with the browser session `bs` (stored when
/// `browser_ua` is given), exchanged by the client's HTTP library `app/1.0`.
fn code_session(browser_ua: Option<&str>) -> crate::model::Session {
    use crate::authorize::{check_request, issue_code};
    use crate::grants::authorization_code;
    use crate::model::{BrowserSession, ClientAuthMethod};
    use crate::ports::BrowserSessionStore;
    const REDIRECT: &str = "https://app.example/cb";
    const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier";
    let mut h = Harness::default();
    let c = h
        .client(ClientSpec {
            name: "app".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: Some(vec![GrantType::AuthorizationCode]),
            auth_method: Some(ClientAuthMethod::None),
            ..Default::default()
        })
        .0;
    let alice = h.user("alice");
    let challenge = crate::pkce::s256(VERIFIER);
    let pairs = [
        ("response_type", "code"),
        ("client_id", c.id.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let req = check_request(&c, REDIRECT.into(), &params(&pairs), &h.policy.resources).unwrap();
    let bs = BrowserSession {
        id_hash: "bs".into(),
        user_id: alice.id.clone(),
        auth_time: T0,
        amr: vec!["pwd".into()],
        created_at: T0,
        last_seen_at: T0,
        expires_at: T0 + 3_600,
        revoked_at: None,
        user_agent: browser_ua.map(str::to_string),
    };
    if browser_ua.is_some() {
        h.store.insert_browser_session(&bs).unwrap();
    }
    let code = issue_code(&mut h.store, &mut h.rng, &req, &bs, T0 + 1).unwrap();
    if browser_ua.is_some() {
        // Issuing a code is a use of the browser session.
        let seen = h.store.get_browser_session("bs").unwrap().unwrap();
        assert_eq!(seen.last_seen_at, T0 + 1);
    }
    h.user_agent = Some("app/1.0".into());
    let p = params(&[
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("redirect_uri", REDIRECT),
    ]);
    issued(h.at(T0 + 2, |s, ctx, rng| {
        authorization_code::handle(s, ctx, rng, &c, &p)
    }));
    h.store.sessions.last().unwrap().clone()
}

#[test]
fn a_code_flow_session_is_shown_as_the_browser_that_signed_in() {
    let s = code_session(Some(BROWSER_UA));
    assert_eq!(s.user_agent.as_deref(), Some(BROWSER_UA));
    // No browser session on record: the token request's User-Agent.
    let s = code_session(None);
    assert_eq!(s.user_agent.as_deref(), Some("app/1.0"));
}

#[test]
fn a_password_session_is_shown_as_the_software_that_asked() {
    let mut h = Harness::default();
    let c = cli(&mut h, TokenFormat::Opaque);
    let alice = h.user("alice");
    h.login(&c, &alice, T0);
    assert_eq!(h.store.sessions.last().unwrap().user_agent, None);
    h.user_agent = Some("my-cli/1.2".into());
    h.login(&c, &alice, T0 + 1);
    let s = h.store.sessions.last().unwrap();
    assert_eq!(s.user_agent.as_deref(), Some("my-cli/1.2"));
    let live = h.store.list_live_sessions(&alice.id, T0 + 2).unwrap();
    assert_eq!(live.len(), 2);
}

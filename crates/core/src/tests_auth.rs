//! `throttle` and `client_auth::authenticate` against [`MemStore`], with
//! time passed in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::client_auth::{authenticate, credentials, decode_basic, Credentials};
use crate::clients::ClientSpec;
use crate::error::ErrorCode;
use crate::model::{Client, ClientAuthMethod, GrantType};
use crate::ports::ClientStore;
use crate::testing::*;
use crate::throttle::{blocked_for, record, ThrottlePolicy};

// ---------------------------------------------------------------- throttle

const P: ThrottlePolicy = ThrottlePolicy {
    max_failures: 3,
    window: 60,
    block: 300,
};

fn fail(s: &mut MemStore, p: &ThrottlePolicy, user: &str, now: i64) {
    record(s, p, user, true, now).unwrap();
}

fn blocked(s: &mut MemStore, p: &ThrottlePolicy, user: &str, now: i64) -> Option<i64> {
    blocked_for(s, p, user, now).unwrap()
}

#[test]
fn throttle_blocks_after_max_failures_within_the_window() {
    let mut s = MemStore::default();
    fail(&mut s, &P, "alice", T0);
    fail(&mut s, &P, "alice", T0 + 10);
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 10), None);
    fail(&mut s, &P, "alice", T0 + 20);
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 20), Some(300));
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 319), Some(1));
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 320), None);
    // Per username, case and surrounding spaces aside.
    assert_eq!(blocked(&mut s, &P, " ALICE ", T0 + 21), Some(299));
    assert_eq!(blocked(&mut s, &P, "bob", T0 + 21), None);
}

#[test]
fn throttle_failures_spread_beyond_the_window_do_not_block() {
    let mut s = MemStore::default();
    for i in 0..10 {
        // Two failures per window, never three.
        fail(&mut s, &P, "alice", T0 + i * 61);
        fail(&mut s, &P, "alice", T0 + i * 61 + 1);
        assert_eq!(blocked(&mut s, &P, "alice", T0 + i * 61 + 1), None);
    }
}

#[test]
fn throttle_is_cleared_by_a_success() {
    let mut s = MemStore::default();
    fail(&mut s, &P, "alice", T0);
    fail(&mut s, &P, "alice", T0 + 1);
    record(&mut s, &P, "Alice", false, T0 + 2).unwrap();
    fail(&mut s, &P, "alice", T0 + 3);
    fail(&mut s, &P, "alice", T0 + 4);
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 4), None);
    fail(&mut s, &P, "alice", T0 + 5);
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 5), Some(300));
}

#[test]
fn throttle_max_failures_zero_turns_it_off() {
    let off = ThrottlePolicy {
        max_failures: 0,
        ..P
    };
    let mut s = MemStore::default();
    for i in 0..100 {
        fail(&mut s, &off, "alice", T0 + i);
    }
    assert_eq!(blocked(&mut s, &off, "alice", T0 + 100), None);
    assert!(s.attempts.is_empty(), "nothing recorded");
    // A block recorded while it was on is not enforced once it is off.
    for i in 0..3 {
        fail(&mut s, &P, "alice", T0 + i);
    }
    assert!(blocked(&mut s, &P, "alice", T0 + 3).is_some());
    assert_eq!(blocked(&mut s, &off, "alice", T0 + 3), None);
}

// ---------------------------------------------------------------- client_auth

fn confidential(h: &mut Harness, method: ClientAuthMethod) -> (Client, String) {
    let (c, secret) = h.client(ClientSpec {
        name: "svc".into(),
        grant_types: Some(vec![GrantType::ClientCredentials]),
        auth_method: Some(method),
        ..Default::default()
    });
    (c, secret.unwrap())
}

fn public(h: &mut Harness) -> Client {
    h.client(ClientSpec {
        name: "spa".into(),
        grant_types: Some(vec![GrantType::AuthorizationCode]),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        auth_method: Some(ClientAuthMethod::None),
        ..Default::default()
    })
    .0
}

fn basic(id: &str, secret: &str) -> Credentials {
    Credentials::Basic {
        id: id.into(),
        secret: secret.into(),
    }
}

fn post(id: &str, secret: &str) -> Credentials {
    Credentials::Post {
        id: id.into(),
        secret: secret.into(),
    }
}

fn id_only(id: &str) -> Credentials {
    Credentials::IdOnly { id: id.into() }
}

fn auth(h: &mut Harness, creds: &Credentials, now: i64) -> Result<Client, ErrorCode> {
    authenticate(&mut h.store, creds, now).map_err(|e| e.code)
}

#[test]
fn confidential_client_with_the_right_secret_by_basic_or_post() {
    let mut h = Harness::default();
    for method in [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ] {
        let (c, secret) = confidential(&mut h, method);
        for creds in [basic(&c.id, &secret), post(&c.id, &secret)] {
            assert_eq!(
                auth(&mut h, &creds, T0),
                Ok(c.clone()),
                "{method} {creds:?}"
            );
        }
    }
}

#[test]
fn basic_header_through_credentials_authenticates() {
    let mut h = Harness::default();
    let (c, secret) = confidential(&mut h, ClientAuthMethod::ClientSecretBasic);
    let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", c.id, secret)));
    let creds = credentials(Some(decode_basic(&header).unwrap()), &params(&[])).unwrap();
    assert_eq!(auth(&mut h, &creds, T0).map(|c| c.id), Ok(c.id));
}

#[test]
fn wrong_secret_and_unknown_client_look_alike() {
    let mut h = Harness::default();
    let (c, secret) = confidential(&mut h, ClientAuthMethod::ClientSecretBasic);
    let wrong = authenticate(&mut h.store, &basic(&c.id, &format!("{secret}x")), T0).unwrap_err();
    let unknown = authenticate(&mut h.store, &post("nobody", &secret), T0).unwrap_err();
    assert_eq!(wrong.code, ErrorCode::InvalidClient);
    assert_eq!(wrong, unknown, "no oracle for which client ids exist");
    for creds in [post(&c.id, ""), basic(&c.id, &secret.to_uppercase())] {
        assert_eq!(
            auth(&mut h, &creds, T0).err(),
            Some(ErrorCode::InvalidClient)
        );
    }
    assert_eq!(
        auth(&mut h, &Credentials::Nothing, T0).err(),
        Some(ErrorCode::InvalidClient)
    );
}

#[test]
fn public_clients_present_no_secret_confidential_ones_must() {
    let mut h = Harness::default();
    let spa = public(&mut h);
    assert_eq!(auth(&mut h, &id_only(&spa.id), T0), Ok(spa.clone()));
    for creds in [post(&spa.id, "guess"), basic(&spa.id, "")] {
        assert_eq!(
            auth(&mut h, &creds, T0).err(),
            Some(ErrorCode::InvalidClient)
        );
    }
    let (svc, _) = confidential(&mut h, ClientAuthMethod::ClientSecretPost);
    assert_eq!(
        auth(&mut h, &id_only(&svc.id), T0).err(),
        Some(ErrorCode::InvalidClient)
    );
}

#[test]
fn disabled_client_is_refused() {
    let mut h = Harness::default();
    let (mut c, secret) = confidential(&mut h, ClientAuthMethod::ClientSecretBasic);
    c.disabled = true;
    h.store.update_client(&c).unwrap();
    assert_eq!(
        auth(&mut h, &basic(&c.id, &secret), T0).err(),
        Some(ErrorCode::InvalidClient)
    );
    let mut spa = public(&mut h);
    spa.disabled = true;
    h.store.update_client(&spa).unwrap();
    assert_eq!(
        auth(&mut h, &id_only(&spa.id), T0).err(),
        Some(ErrorCode::InvalidClient)
    );
}

#[test]
fn expired_secret_is_refused_from_its_expiry_on() {
    let mut h = Harness::default();
    let (mut c, secret) = confidential(&mut h, ClientAuthMethod::ClientSecretBasic);
    c.secret_expires_at = T0 + 100;
    h.store.update_client(&c).unwrap();
    let creds = basic(&c.id, &secret);
    assert!(auth(&mut h, &creds, T0 + 99).is_ok());
    assert_eq!(
        auth(&mut h, &creds, T0 + 100).err(),
        Some(ErrorCode::InvalidClient)
    );
    // 0 means it never expires (RFC 7591 §3.2.1).
    c.secret_expires_at = 0;
    h.store.update_client(&c).unwrap();
    assert!(auth(&mut h, &creds, i64::MAX).is_ok());
}

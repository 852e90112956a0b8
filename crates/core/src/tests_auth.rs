//! `throttle` and `client_auth::authenticate` against [`MemStore`], with
//! time passed in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::client_auth::{
    authenticate, authenticate_gated, authenticate_throttled, counts_as_failure, credentials,
    decode_basic, Credentials,
};
use crate::clients::ClientSpec;
use crate::error::ErrorCode;
use crate::model::{Client, ClientAuthMethod, GrantType};
use crate::ports::ClientStore;
use crate::ports::ThrottleState;
use crate::testing::*;
use crate::throttle::{blocked_for, record, refusal, state, Kind, ThrottlePolicy, Throttles};

// ---------------------------------------------------------------- throttle

const P: ThrottlePolicy = ThrottlePolicy {
    max_failures: 3,
    window: 60,
    block: 300,
};

/// `p` for every kind.
fn all(p: &ThrottlePolicy) -> Throttles {
    Throttles {
        user: p.clone(),
        otp: p.clone(),
        client: p.clone(),
    }
}

fn fail(s: &mut MemStore, p: &ThrottlePolicy, user: &str, now: i64) {
    record(s, &all(p), Kind::User, user, true, now).unwrap();
}

fn blocked(s: &mut MemStore, p: &ThrottlePolicy, user: &str, now: i64) -> Option<i64> {
    blocked_for(s, &all(p), Kind::User, user, now).unwrap()
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
    record(&mut s, &all(&P), Kind::User, "Alice", false, T0 + 2).unwrap();
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

#[test]
fn throttle_kinds_are_counted_apart() {
    let mut s = MemStore::default();
    let t = all(&P);
    for i in 0..3 {
        record(&mut s, &t, Kind::Otp, "alice", true, T0 + i).unwrap();
    }
    assert_eq!(
        blocked_for(&mut s, &t, Kind::Otp, "Alice", T0 + 3).unwrap(),
        Some(299)
    );
    // Wrong codes do not block passwords, nor a client named like the user.
    assert_eq!(blocked(&mut s, &P, "alice", T0 + 3), None);
    assert_eq!(
        blocked_for(&mut s, &t, Kind::Client, "alice", T0 + 3).unwrap(),
        None
    );
    // Client ids compare exactly.
    for i in 0..3 {
        record(&mut s, &t, Kind::Client, "Svc", true, T0 + i).unwrap();
    }
    assert!(blocked_for(&mut s, &t, Kind::Client, "Svc", T0 + 3)
        .unwrap()
        .is_some());
    assert_eq!(
        blocked_for(&mut s, &t, Kind::Client, "svc", T0 + 3).unwrap(),
        None
    );
    let mut keys: Vec<_> = s.attempts.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["client:Svc", "otp:alice"]);
}

#[test]
fn throttle_policies_are_per_kind() {
    let mut s = MemStore::default();
    let t = Throttles {
        user: P,
        otp: ThrottlePolicy::OFF,
        client: ThrottlePolicy {
            max_failures: 1,
            window: 10,
            block: 20,
        },
    };
    for i in 0..10 {
        record(&mut s, &t, Kind::Otp, "alice", true, T0 + i).unwrap();
    }
    assert_eq!(
        blocked_for(&mut s, &t, Kind::Otp, "alice", T0 + 10).unwrap(),
        None
    );
    record(&mut s, &t, Kind::Client, "svc", true, T0).unwrap();
    assert_eq!(
        blocked_for(&mut s, &t, Kind::Client, "svc", T0).unwrap(),
        Some(20)
    );
    assert_eq!(t.span(), 360);
}

#[test]
fn throttle_refusal_is_a_429_with_retry_after() {
    let mut s = MemStore::default();
    let t = all(&P);
    assert_eq!(
        state(&mut s, &t, Kind::User, "alice", T0).unwrap(),
        ThrottleState::Clear
    );
    fail(&mut s, &P, "alice", T0);
    assert_eq!(
        state(&mut s, &t, Kind::User, "alice", T0).unwrap(),
        ThrottleState::Failing
    );
    fail(&mut s, &P, "alice", T0);
    fail(&mut s, &P, "alice", T0);
    assert_eq!(
        state(&mut s, &t, Kind::User, "alice", T0 + 1).unwrap(),
        ThrottleState::Blocked(299)
    );
    let e = refusal(299);
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert_eq!(e.retry_after, Some(299));
    assert_eq!(refusal(0).retry_after, Some(1), "never Retry-After: 0");
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

#[test]
fn a_blocked_client_is_refused_before_its_secret_is_checked() {
    let mut h = Harness::default();
    let (c, secret) = confidential(&mut h, ClientAuthMethod::ClientSecretBasic);
    let t = all(&P);
    let wrong = basic(&c.id, "wrong");
    for i in 0..2 {
        let e = authenticate_throttled(&mut h.store, &t, &wrong, T0 + i).unwrap_err();
        assert_eq!(counts_as_failure(&wrong, &e), Some(c.id.as_str()));
        record(&mut h.store, &t, Kind::Client, &c.id, true, T0 + i).unwrap();
    }
    // A success clears the two failures...
    assert!(
        authenticate_gated(&mut h.store, &t, &basic(&c.id, &secret), T0 + 2)
            .unwrap()
            .1,
        "failures on record"
    );
    authenticate_throttled(&mut h.store, &t, &basic(&c.id, &secret), T0 + 2).unwrap();
    assert!(h.store.attempts.is_empty());
    // ...so three more are needed to block.
    for i in 3..6 {
        record(&mut h.store, &t, Kind::Client, &c.id, true, T0 + i).unwrap();
    }
    let e = authenticate_throttled(&mut h.store, &t, &basic(&c.id, &secret), T0 + 6).unwrap_err();
    assert_eq!(e.retry_after, Some(299), "the right secret is refused too");
    assert_eq!(counts_as_failure(&basic(&c.id, &secret), &e), None);
    // Once the block has passed, the right secret works and clears.
    authenticate_throttled(&mut h.store, &t, &basic(&c.id, &secret), T0 + 305).unwrap();
    assert!(h.store.attempts.is_empty());
    // Refusals that are not invalid_client, or name no client, do not count.
    let other = crate::error::OAuthError::invalid_request("x");
    assert_eq!(counts_as_failure(&wrong, &other), None);
    let none = authenticate(&mut h.store, &Credentials::Nothing, T0).unwrap_err();
    assert_eq!(counts_as_failure(&Credentials::Nothing, &none), None);
}

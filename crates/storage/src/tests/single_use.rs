//! Single use decided by the store, also under concurrency.

use std::sync::Barrier;

use portcullis_core::model::{BrowserSession, Consent};
use portcullis_core::ports::*;

use super::fixtures::*;
use crate::testing::each_backend;
use crate::Store;

/// Run `f(i)` on `n` threads released at once, each in its own write
/// transaction; return the results.
fn race<T: Send>(
    store: &Store,
    n: usize,
    f: impl Fn(&mut crate::Tx<'_>, usize) -> StoreResult<T> + Sync,
) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    store.write(|tx| f(tx, i)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_code_is_consumed_once() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| tx.insert_code(&code("k1")));
        assert!(w(store, |tx| tx.consume_code("k1", 100)));
        assert!(!w(store, |tx| tx.consume_code("k1", 101)));
        assert!(!w(store, |tx| tx.consume_code("nope", 101)));
        assert_eq!(
            w(store, |tx| tx.get_code("k1")).unwrap().consumed_at,
            Some(100)
        );

        w(store, |tx| tx.insert_code(&code("k2")));
        let wins = race(store, 20, |tx, i| tx.consume_code("k2", 200 + i as i64));
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    });
}

#[test]
fn a_refresh_token_is_consumed_once_by_twenty_threads() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))?;
            tx.insert_refresh_token(&refresh_token("r1", "s1"))
        });
        let wins = race(store, 20, |tx, i| {
            tx.consume_refresh_token("r1", 1000 + i as i64)
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
        let consumed_at = w(store, |tx| tx.get_refresh_token("r1"))
            .unwrap()
            .consumed_at
            .unwrap();
        assert_eq!(
            wins.iter().position(|w| *w),
            Some((consumed_at - 1000) as usize)
        );
        assert!(!w(store, |tx| tx.consume_refresh_token("r1", 2000)));
        assert!(!w(store, |tx| tx.consume_refresh_token("nope", 2000)));
    });
}

#[test]
fn concurrent_secret_writers_agree() {
    each_backend(|store| {
        let values = race(store, 12, |tx, i| {
            tx.get_or_insert_secret("cookie_key", &format!("candidate-{i}"), 1)
        });
        assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
        assert!(values[0].starts_with("candidate-"));
    });
}

#[test]
fn totp_step_is_used_once_under_concurrency() {
    each_backend(|store| {
        seed(store);
        let wins = race(store, 10, |tx, _| tx.use_totp_step("u1", 55_555_555));
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    });
}

#[test]
fn concurrent_login_failures_are_all_counted() {
    each_backend(|store| {
        race(store, 10, |tx, _| {
            tx.record_failure("mallory", 5_000, 300, 10, 60)
        });
        assert_eq!(w(store, |tx| tx.blocked_for("mallory", 5_000)), Some(60));
    });
}

#[test]
fn a_recovery_code_is_used_once_and_replaced_sets_forget_the_old() {
    each_backend(|store| {
        seed(store);
        let hashes: Vec<String> = (0..3).map(|i| format!("h{i}")).collect();
        w(store, |tx| tx.replace_recovery_codes("u1", &hashes, 10));
        assert_eq!(w(store, |tx| tx.count_recovery_codes("u1")), 3);
        assert!(w(store, |tx| tx.use_recovery_code("u1", "h0", 11)));
        assert!(!w(store, |tx| tx.use_recovery_code("u1", "h0", 12)));
        assert!(!w(store, |tx| tx.use_recovery_code("u2", "h1", 12)));
        assert_eq!(w(store, |tx| tx.count_recovery_codes("u1")), 2);
        let wins = race(store, 10, |tx, i| {
            tx.use_recovery_code("u1", "h1", 20 + i as i64)
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        w(store, |tx| {
            tx.replace_recovery_codes("u1", &["n0".to_string()], 30)
        });
        assert!(!w(store, |tx| tx.use_recovery_code("u1", "h2", 31)));
        assert_eq!(w(store, |tx| tx.count_recovery_codes("u1")), 1);
        assert_eq!(w(store, |tx| tx.delete_recovery_codes("u1")), 1);
        assert_eq!(w(store, |tx| tx.count_recovery_codes("u1")), 0);
    });
}

#[test]
fn a_users_other_browser_sessions_end_and_consents_list() {
    each_backend(|store| {
        seed(store);
        let bs = |h: &str| BrowserSession {
            id_hash: h.into(),
            user_id: "u1".into(),
            auth_time: 1,
            amr: vec!["pwd".into()],
            created_at: 1,
            last_seen_at: 1,
            expires_at: 1000,
            revoked_at: None,
            user_agent: None,
        };
        w(store, |tx| {
            for h in ["b1", "b2", "b3"] {
                tx.insert_browser_session(&bs(h))?;
            }
            Ok(())
        });
        assert_eq!(
            w(store, |tx| tx.revoke_user_browser_sessions(
                "u1",
                Some("b2"),
                5
            )),
            2
        );
        assert!(w(store, |tx| tx.get_browser_session("b2"))
            .unwrap()
            .revoked_at
            .is_none());
        assert_eq!(
            w(store, |tx| tx.get_browser_session("b1"))
                .unwrap()
                .revoked_at,
            Some(5)
        );
        assert_eq!(
            w(store, |tx| tx.revoke_user_browser_sessions("u1", None, 6)),
            1
        );
        w(store, |tx| {
            tx.upsert_consent(&Consent {
                user_id: "u1".into(),
                client_id: "c1".into(),
                scope: scopes("openid"),
                granted_at: 1,
                updated_at: 1,
            })
        });
        let list = w(store, |tx| tx.list_consents("u1"));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].client_id, "c1");
        assert!(w(store, |tx| tx.list_consents("u2")).is_empty());
    });
}

#[test]
fn a_device_code_is_answered_once_and_exchanged_once() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| tx.insert_device_code(&device_code("d1", "u-1")));
        // The user code is unique too.
        let dup = store.write(|tx| tx.insert_device_code(&device_code("d2", "u-1")));
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        let found = w(store, |tx| tx.get_device_code_by_user_code("u-1")).unwrap();
        assert_eq!(found, device_code("d1", "u-1"));

        // Polls are remembered with the interval.
        assert!(w(store, |tx| tx.record_device_poll(
            "d1",
            1_700_000_010,
            10
        )));
        // No answer after expiry; one answer before it.
        let amr = vec!["pwd".to_string(), "otp".to_string()];
        let late = (1_700_000_050, amr.as_slice());
        assert!(!w(store, |tx| tx.decide_device_code(
            "d1",
            "u1",
            Some(late),
            1_700_000_600
        )));
        let wins = race(store, 10, |tx, i| {
            let approval = (i % 2 == 0).then_some((1_700_000_050, amr.as_slice()));
            tx.decide_device_code("d1", "u1", approval, 1_700_000_060)
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        let d = w(store, |tx| tx.get_device_code("d1")).unwrap();
        assert_eq!(d.last_polled_at, Some(1_700_000_010));
        assert_eq!(d.interval, 10);
        assert_eq!(d.user_id.as_deref(), Some("u1"));
        assert!(d.approved_at.is_some() != d.denied_at.is_some());
        if d.approved_at.is_some() {
            assert_eq!(d.amr, amr);
            assert_eq!(d.auth_time, Some(1_700_000_050));
        }

        let wins = race(store, 20, |tx, i| {
            tx.consume_device_code("d1", 1_700_000_100 + i as i64)
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        assert!(!w(store, |tx| tx.consume_device_code("d1", 1_700_000_200)));
    });
}

#[test]
fn a_pushed_request_is_used_once_and_not_after_expiry() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| tx.insert_pushed_request(&pushed_request("p1")));
        let dup = store.write(|tx| tx.insert_pushed_request(&pushed_request("p1")));
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        assert_eq!(
            w(store, |tx| tx.get_pushed_request("p1")),
            Some(pushed_request("p1"))
        );
        assert!(!w(store, |tx| tx.use_pushed_request("p1", 1_700_000_060)));
        let wins = race(store, 10, |tx, i| {
            tx.use_pushed_request("p1", 1_700_000_010 + i as i64)
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        let used = w(store, |tx| tx.get_pushed_request("p1")).unwrap();
        assert!(used.used_at.is_some());
        assert!(w(store, |tx| tx.get_pushed_request("p2")).is_none());
    });
}

#[test]
fn passkeys_belong_to_their_user_and_a_challenge_is_spent_once() {
    use portcullis_core::model::Passkey;
    use portcullis_core::passkeys::PasskeyKind;
    each_backend(|store| {
        seed(store);
        let key = |id: &str, user: &str, cred: &str, at: i64| Passkey {
            id: id.into(),
            user_id: user.into(),
            name: format!("key {id}"),
            credential_id: cred.into(),
            credential: "{\"cred\":1}".into(),
            kind: PasskeyKind::Hardware,
            created_at: at,
            last_used_at: None,
        };
        w(store, |tx| {
            tx.insert_passkey(&key("p2", "u1", "cred-b", 20))?;
            tx.insert_passkey(&key("p1", "u1", "cred-a", 10))
        });
        let dup = store.write(|tx| tx.insert_passkey(&key("p3", "u2", "cred-a", 30)));
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        let mine = w(store, |tx| tx.list_passkeys("u1"));
        assert_eq!(
            mine.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["p1", "p2"]
        );
        assert_eq!(mine[0], key("p1", "u1", "cred-a", 10));
        assert!(!w(store, |tx| tx.rename_passkey("u2", "p1", "stolen")));
        assert!(w(store, |tx| tx.rename_passkey("u1", "p1", "Desk")));
        assert!(w(store, |tx| tx.record_passkey_use(
            "p1",
            "{\"cred\":2}",
            50
        )));
        let p = w(store, |tx| tx.get_passkey_by_credential_id("cred-a")).unwrap();
        assert_eq!(
            (p.name.as_str(), p.credential.as_str(), p.last_used_at),
            ("Desk", "{\"cred\":2}", Some(50))
        );
        assert!(!w(store, |tx| tx.delete_passkey("u2", "p1")));
        assert!(w(store, |tx| tx.delete_passkey("u1", "p1")));
        assert_eq!(w(store, |tx| tx.count_passkeys("u1")), 1);

        // A ceremony's challenge is spent once, through the one-time
        // identifiers (core's passkeys::spend_challenge), under a race.
        let wins = race(store, 10, |tx, _| tx.consume_jti("challenge-h1", 200));
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    });
}

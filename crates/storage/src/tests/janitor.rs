//! The janitor's deletes: only what is past its cutoff, in bounded batches,
//! and idle dynamic clients only when they hold nothing live.

use diesel::prelude::*;
use portcullis_core::janitor::{plan, remove_idle_clients, JanitorPolicy};
use portcullis_core::model::*;
use portcullis_core::ports::*;

use super::fixtures::*;
use crate::schema::{access_tokens, audit_events, authorization_codes, clients, sessions};
use crate::testing::each_backend;

fn count_codes(store: &crate::Store) -> i64 {
    raw(store, |c| authorization_codes::table.count().get_result(c))
}

#[test]
fn codes_go_in_batches_and_only_past_the_cutoff() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            for i in 0..7 {
                let mut c = code(&format!("old{i}"));
                c.expires_at = 1_000 + i;
                tx.insert_code(&c)?;
            }
            let mut live = code("live");
            live.expires_at = 5_000;
            tx.insert_code(&live)
        });
        assert_eq!(w(store, |tx| tx.purge(Purge::Codes, 2_000, 3)), 3);
        assert_eq!(w(store, |tx| tx.purge(Purge::Codes, 2_000, 3)), 3);
        assert_eq!(w(store, |tx| tx.purge(Purge::Codes, 2_000, 3)), 1);
        assert_eq!(w(store, |tx| tx.purge(Purge::Codes, 2_000, 3)), 0);
        assert_eq!(count_codes(store), 1);
        assert!(w(store, |tx| tx.get_code("live")).is_some());
    });
}

#[test]
fn expired_and_long_revoked_sessions_go_with_their_tokens() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            let mut expired = session("s-expired", Some("u1"), "c1");
            expired.expires_at = 1_000;
            let mut revoked = session("s-revoked", Some("u1"), "c1");
            revoked.revoked_at = Some(1_500);
            tx.insert_session(&expired)?;
            tx.insert_session(&revoked)?;
            tx.insert_session(&session("s-live", Some("u1"), "c1"))?;
            tx.insert_access_token(&access_token("a-expired", Some("s-expired")))?;
            tx.insert_access_token(&access_token("a-live", Some("s-live")))?;
            tx.insert_refresh_token(&refresh_token("r-revoked", "s-revoked"))
        });
        let now = 2_000;
        for (what, cutoff) in plan(now, &policy()) {
            w(store, |tx| tx.purge(what, cutoff, 100));
        }
        // Revoked only 500 s ago: kept (ended sessions stay a day).
        assert!(w(store, |tx| tx.get_session("s-revoked")).is_some());
        assert!(w(store, |tx| tx.get_session("s-expired")).is_none());
        assert!(w(store, |tx| tx.get_access_token_by_jti("a-expired")).is_none());
        assert!(w(store, |tx| tx.get_access_token_by_jti("a-live")).is_some());
        assert!(w(store, |tx| tx.get_session("s-live")).is_some());

        let later = 1_500 + 86_400 + 1;
        assert_eq!(
            w(store, |tx| tx.purge(
                Purge::SessionsRevoked,
                later - 86_400,
                100
            )),
            1
        );
        assert!(w(store, |tx| tx.get_refresh_token("r-revoked")).is_none());
        let left: i64 = raw(store, |c| sessions::table.count().get_result(c));
        assert_eq!(left, 1);
    });
}

#[test]
fn expired_tokens_go_live_ones_stay() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            let mut old = access_token("old", None);
            old.expires_at = 100;
            tx.insert_access_token(&old)?;
            tx.insert_access_token(&access_token("new", None))
        });
        assert_eq!(w(store, |tx| tx.purge(Purge::AccessTokens, 200, 100)), 1);
        let jtis: Vec<String> = raw(store, |c| {
            access_tokens::table.select(access_tokens::jti).load(c)
        });
        assert_eq!(jtis, vec!["new".to_string()]);
    });
}

#[test]
fn audit_events_past_retention_go() {
    each_backend(|store| {
        w(store, |tx| {
            for (id, at) in [("e1", 100), ("e2", 200), ("e3", 300)] {
                tx.append_event(&AuditEvent {
                    id: id.into(),
                    at,
                    kind: "test".into(),
                    user_id: None,
                    client_id: None,
                    session_id: None,
                    detail: "{}".into(),
                })?;
            }
            Ok(())
        });
        assert_eq!(w(store, |tx| tx.purge(Purge::AuditEvents, 250, 100)), 2);
        let left: Vec<String> = raw(store, |c| {
            audit_events::table.select(audit_events::id).load(c)
        });
        assert_eq!(left, vec!["e3".to_string()]);
    });
}

fn policy() -> JanitorPolicy {
    JanitorPolicy {
        audit_retention: None,
        dynamic_client_idle: Some(1_000),
        throttle_span: 600,
    }
}

fn dynamic(id: &str, created_at: i64) -> Client {
    Client {
        registration_token_hash: Some(format!("rat-{id}")),
        created_at,
        ..client(id)
    }
}

#[test]
fn idle_dynamic_clients_go_unless_they_hold_something_live() {
    each_backend(|store| {
        seed(store);
        let now = 100_000;
        w(store, |tx| {
            tx.insert_client(&dynamic("idle", 10))?;
            tx.insert_client(&dynamic("young", now - 10))?;
            tx.insert_client(&dynamic("with-session", 10))?;
            tx.insert_client(&dynamic("recently-used", 10))?;
            // Not dynamic: never removed by the janitor.
            tx.insert_client(&Client {
                created_at: 10,
                ..client("static")
            })?;
            let mut s = session("s1", Some("u1"), "with-session");
            s.expires_at = now + 1_000;
            tx.insert_session(&s)?;
            // A token issued recently (and since expired) marks the client used.
            let mut t = access_token("t1", None);
            t.client_id = "recently-used".into();
            t.issued_at = now - 500;
            t.expires_at = now - 400;
            tx.insert_access_token(&t)
        });
        let last_used: Option<i64> = raw(store, |c| {
            clients::table
                .find("recently-used")
                .select(clients::last_used_at)
                .first(c)
        });
        assert_eq!(last_used, Some(now - 500));

        let removed = w(store, |tx| {
            remove_idle_clients(tx, &mut Seq(0), now, &policy(), 100)
                .map_err(|e| StoreError::Backend(e.to_string()))
        });
        assert_eq!(removed, vec!["idle".to_string()]);
        assert!(w(store, |tx| tx.get_client("idle")).is_none());
        for kept in ["young", "with-session", "recently-used", "static", "c1"] {
            assert!(w(store, |tx| tx.get_client(kept)).is_some(), "{kept}");
        }
        let events = w(store, |tx| tx.recent_events(10));
        assert!(events
            .iter()
            .any(|e| e.kind == "client_removed_idle" && e.client_id.as_deref() == Some("idle")));

        // Once its session ends, that client goes too.
        w(store, |tx| tx.revoke_session("s1", now).map(drop));
        let removed = w(store, |tx| {
            remove_idle_clients(tx, &mut Seq(1), now, &policy(), 100)
                .map_err(|e| StoreError::Backend(e.to_string()))
        });
        assert_eq!(removed, vec!["with-session".to_string()]);
    });
}

/// A deterministic `Random` for audit ids.
struct Seq(u8);

impl Random for Seq {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

#[test]
fn expired_device_codes_go() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_device_code(&device_code("old", "u-old"))?;
            let mut live = device_code("live", "u-live");
            live.expires_at = 1_700_001_000;
            tx.insert_device_code(&live)
        });
        assert_eq!(
            w(store, |tx| tx.purge(Purge::DeviceCodes, 1_700_000_700, 100)),
            1
        );
        assert!(w(store, |tx| tx.get_device_code("old")).is_none());
        assert!(w(store, |tx| tx.get_device_code("live")).is_some());
    });
}

#[test]
fn expired_pushed_requests_go() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_pushed_request(&pushed_request("old"))?;
            let mut live = pushed_request("live");
            live.expires_at = 1_700_001_000;
            tx.insert_pushed_request(&live)
        });
        assert_eq!(
            w(store, |tx| tx.purge(
                Purge::PushedRequests,
                1_700_000_700,
                100
            )),
            1
        );
        assert!(w(store, |tx| tx.get_pushed_request("old")).is_none());
        assert!(w(store, |tx| tx.get_pushed_request("live")).is_some());
    });
}

#[test]
fn a_jti_is_used_once_and_forgotten_after_its_jwt_expires() {
    each_backend(|store| {
        assert!(w(store, |tx| tx.consume_jti("k-old", 1_700_000_100)));
        assert!(w(store, |tx| tx.consume_jti("k-live", 1_700_001_000)));
        // A replay of either is refused, whatever expiry it claims.
        assert!(!w(store, |tx| tx.consume_jti("k-old", 1_800_000_000)));
        assert!(!w(store, |tx| tx.consume_jti("k-live", 1_700_001_000)));
        assert_eq!(
            w(store, |tx| tx.purge(Purge::UsedJtis, 1_700_000_700, 100)),
            1
        );
        // Only the expired one went: it could be recorded again.
        assert!(w(store, |tx| tx.consume_jti("k-old", 1_700_002_000)));
        assert!(!w(store, |tx| tx.consume_jti("k-live", 1_700_002_000)));
    });
}

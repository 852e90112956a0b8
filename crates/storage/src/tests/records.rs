//! Round trips of every record type through its store trait.

use portcullis_core::model::*;
use portcullis_core::ports::*;

use super::fixtures::*;
use crate::testing::each_backend;

fn is_conflict<T: std::fmt::Debug>(r: StoreResult<T>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

#[test]
fn clients_round_trip() {
    each_backend(|store| {
        let mut c = client("c1");
        w(store, |tx| tx.insert_client(&c));
        assert_eq!(w(store, |tx| tx.get_client("c1")), Some(c.clone()));
        assert_eq!(w(store, |tx| tx.get_client("nope")), None);
        assert!(is_conflict(store.write(|tx| tx.insert_client(&c))));

        let mut public = client("c0");
        public.secret_hash = None;
        public.auth_method = ClientAuthMethod::None;
        public.grant_types = GrantType::ALL.to_vec();
        public.scope = Scopes::default();
        public.metadata = serde_json::json!({});
        public.created_at -= 10;
        w(store, |tx| tx.insert_client(&public));
        assert_eq!(
            w(store, |tx| tx.list_clients()),
            vec![public.clone(), c.clone()]
        );

        c.secret_hash = None;
        c.name = "Renamed".into();
        c.redirect_uris = vec![];
        c.post_logout_redirect_uris = vec!["https://app.example/bye".into()];
        c.access_token_format = TokenFormat::Opaque;
        c.signing_alg = SigningAlg::EdDsa;
        c.registration_token_hash = Some("rat".into());
        c.is_resource_server = true;
        c.first_party = true;
        c.disabled = true;
        c.updated_at += 5;
        c.secret_expires_at = 1_900_000_000;
        assert!(w(store, |tx| tx.update_client(&c)));
        assert_eq!(w(store, |tx| tx.get_client("c1")), Some(c.clone()));
        assert!(!w(store, |tx| tx.update_client(&client("ghost"))));

        assert!(w(store, |tx| tx.delete_client("c0")));
        assert!(!w(store, |tx| tx.delete_client("c0")));
        assert_eq!(w(store, |tx| tx.list_clients()), vec![c]);
    });
}

#[test]
fn deleting_a_client_or_user_cascades() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))?;
            tx.insert_access_token(&access_token("a1", Some("s1")))?;
            tx.insert_refresh_token(&refresh_token("r1", "s1"))?;
            tx.insert_code(&code("k1"))?;
            tx.upsert_consent(&Consent {
                user_id: "u2".into(),
                client_id: "c1".into(),
                scope: scopes("openid"),
                granted_at: 1,
                updated_at: 1,
            })
        });
        assert!(w(store, |tx| tx.delete_client("c1")));
        w(store, |tx| {
            assert_eq!(tx.get_session("s1")?, None);
            assert_eq!(tx.get_access_token_by_jti("a1")?, None);
            assert_eq!(tx.get_refresh_token("r1")?, None);
            assert_eq!(tx.get_code("k1")?, None);
            assert_eq!(tx.get_consent("u2", "c1")?, None);
            Ok(())
        });
        // A dependent row must name an existing parent.
        assert!(matches!(
            store.write(|tx| tx.insert_session(&session("s2", Some("u1"), "c1"))),
            Err(StoreError::Backend(_))
        ));
    });
}

#[test]
fn users_round_trip() {
    each_backend(|store| {
        let mut u = user("u1", "alice");
        w(store, |tx| tx.insert_user(&u));
        assert_eq!(w(store, |tx| tx.get_user("u1")), Some(u.clone()));
        assert_eq!(
            w(store, |tx| tx.get_user_by_username("alice")),
            Some(u.clone())
        );
        assert_eq!(w(store, |tx| tx.get_user_by_username("Alice")), None);
        assert_eq!(w(store, |tx| tx.get_user("nope")), None);
        assert!(is_conflict(
            store.write(|tx| tx.insert_user(&user("u1", "other")))
        ));
        assert!(is_conflict(
            store.write(|tx| tx.insert_user(&user("u9", "alice")))
        ));

        let mut bare = user("u2", "bob");
        bare.email = None;
        bare.email_verified = false;
        bare.password_hash = None;
        bare.totp_secret = Some("enc:v1:abc".into());
        bare.totp_last_step = Some(7);
        bare.created_at += 1;
        w(store, |tx| tx.insert_user(&bare));
        assert_eq!(
            w(store, |tx| tx.list_users()),
            vec![u.clone(), bare.clone()]
        );

        u.username = "alice2".into();
        u.email = None;
        u.password_hash = None;
        u.is_admin = true;
        u.disabled = true;
        u.totp_secret = Some("JBSWY3DPEHPK3PXP".into());
        u.updated_at += 9;
        assert!(w(store, |tx| tx.update_user(&u)));
        assert_eq!(w(store, |tx| tx.get_user("u1")), Some(u.clone()));
        assert!(!w(store, |tx| tx.update_user(&user("ghost", "ghost"))));
        u.username = "bob".into();
        assert!(is_conflict(store.write(|tx| tx.update_user(&u))));
    });
}

#[test]
fn totp_steps_only_move_forward() {
    each_backend(|store| {
        seed(store);
        assert!(w(store, |tx| tx.use_totp_step("u1", 100)));
        assert!(!w(store, |tx| tx.use_totp_step("u1", 100)));
        assert!(!w(store, |tx| tx.use_totp_step("u1", 99)));
        assert!(w(store, |tx| tx.use_totp_step("u1", 101)));
        assert!(!w(store, |tx| tx.use_totp_step("ghost", 1)));
        assert_eq!(
            w(store, |tx| tx.get_user("u1")).unwrap().totp_last_step,
            Some(101)
        );
        // update_user with a stale record does not move the step back.
        let mut stale = user("u1", "alice");
        stale.totp_last_step = None;
        assert!(w(store, |tx| tx.update_user(&stale)));
        assert_eq!(
            w(store, |tx| tx.get_user("u1")).unwrap().totp_last_step,
            Some(101)
        );
        assert!(!w(store, |tx| tx.use_totp_step("u1", 101)));
    });
}

#[test]
fn signing_keys_round_trip() {
    each_backend(|store| {
        let key = |kid: &str, alg, created_at| SigningKey {
            kid: kid.into(),
            alg,
            private_key:
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n"
                    .into(),
            public_jwk: format!(r#"{{"kty":"OKP","kid":"{kid}"}}"#),
            created_at,
            activates_at: created_at + 60,
            retires_at: None,
        };
        let (new, old) = (
            key("k2", SigningAlg::EdDsa, 2_000),
            key("k1", SigningAlg::Rs256, 1_000),
        );
        w(store, |tx| {
            tx.insert_key(&new)?;
            tx.insert_key(&old)
        });
        assert_eq!(
            w(store, |tx| tx.list_keys()),
            vec![old.clone(), new.clone()]
        );
        assert!(is_conflict(store.write(|tx| tx.insert_key(&old))));
        assert!(w(store, |tx| tx.set_key_retires_at("k1", 5_000)));
        assert!(!w(store, |tx| tx.set_key_retires_at("k9", 5_000)));
        assert_eq!(w(store, |tx| tx.list_keys())[0].retires_at, Some(5_000));
    });
}

#[test]
fn sessions_round_trip() {
    each_backend(|store| {
        seed(store);
        let s1 = session("s1", Some("u1"), "c1");
        let mut s0 = session("s0", Some("u1"), "c1");
        s0.kind = SessionKind::LoginApi;
        s0.created_at -= 1;
        let mut machine = session("s2", None, "c1");
        machine.kind = SessionKind::Password;
        machine.amr = vec![];
        let mut expired = session("s3", Some("u1"), "c1");
        expired.expires_at = 1_700_000_500;
        let other = session("s4", Some("u2"), "c1");
        w(store, |tx| {
            for s in [&s1, &s0, &machine, &expired, &other] {
                tx.insert_session(s)?;
            }
            Ok(())
        });
        assert_eq!(w(store, |tx| tx.get_session("s2")), Some(machine.clone()));
        assert_eq!(w(store, |tx| tx.get_session("nope")), None);
        assert!(is_conflict(store.write(|tx| tx.insert_session(&s1))));
        assert_eq!(
            w(store, |tx| tx.list_live_sessions("u1", 1_700_001_000)),
            vec![s0.clone(), s1.clone()]
        );

        assert!(w(store, |tx| tx.touch_session("s1", 1_700_000_900)));
        assert!(!w(store, |tx| tx.touch_session("nope", 1_700_000_900)));
        assert!(w(store, |tx| tx.revoke_session("s0", 1_700_000_950)));
        assert!(!w(store, |tx| tx.revoke_session("s0", 1_700_000_960)));
        assert!(!w(store, |tx| tx.touch_session("s0", 1_700_000_970)));
        let s0 = w(store, |tx| tx.get_session("s0")).unwrap();
        assert_eq!(s0.revoked_at, Some(1_700_000_950));
        let live = w(store, |tx| tx.list_live_sessions("u1", 1_700_001_000));
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].last_used_at, 1_700_000_900);
    });
}

#[test]
fn browser_sessions_round_trip() {
    each_backend(|store| {
        seed(store);
        let bs = BrowserSession {
            id_hash: "bs-hash".into(),
            user_id: "u1".into(),
            auth_time: 10,
            amr: vec!["pwd".into()],
            created_at: 10,
            last_seen_at: 11,
            expires_at: 99,
            revoked_at: None,
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0".into()),
        };
        w(store, |tx| tx.insert_browser_session(&bs));
        // Live ones, newest first: not the expired one, not another user's.
        let newer = BrowserSession {
            id_hash: "bs-newer".into(),
            created_at: 12,
            user_agent: None,
            ..bs.clone()
        };
        let expired = BrowserSession {
            id_hash: "bs-expired".into(),
            expires_at: 15,
            ..bs.clone()
        };
        w(store, |tx| tx.insert_browser_session(&newer));
        w(store, |tx| tx.insert_browser_session(&expired));
        assert_eq!(
            w(store, |tx| tx.list_live_browser_sessions("u1", 15)),
            vec![newer.clone(), bs.clone()]
        );
        assert_eq!(
            w(store, |tx| tx.list_live_browser_sessions("u2", 15)),
            vec![]
        );
        assert_eq!(
            w(store, |tx| tx.get_browser_session("bs-hash")),
            Some(bs.clone())
        );
        assert_eq!(w(store, |tx| tx.get_browser_session("nope")), None);
        assert!(is_conflict(
            store.write(|tx| tx.insert_browser_session(&bs))
        ));
        assert!(w(store, |tx| tx.touch_browser_session("bs-hash", 14)));
        let seen = w(store, |tx| tx.get_browser_session("bs-hash")).unwrap();
        assert_eq!(seen.last_seen_at, 14);
        assert!(w(store, |tx| tx.revoke_browser_session("bs-hash", 20)));
        assert!(
            !w(store, |tx| tx.touch_browser_session("bs-hash", 21)),
            "revoked"
        );
        assert!(!w(store, |tx| tx.revoke_browser_session("bs-hash", 21)));
        assert_eq!(
            w(store, |tx| tx.get_browser_session("bs-hash"))
                .unwrap()
                .revoked_at,
            Some(20)
        );
    });
}

#[test]
fn codes_round_trip() {
    each_backend(|store| {
        seed(store);
        let c = code("k1");
        let mut bare = code("k2");
        bare.browser_session_id = None;
        bare.nonce = None;
        bare.resource = vec![];
        w(store, |tx| {
            tx.insert_code(&c)?;
            tx.insert_code(&bare)
        });
        assert_eq!(w(store, |tx| tx.get_code("k1")), Some(c.clone()));
        assert_eq!(w(store, |tx| tx.get_code("k2")), Some(bare));
        assert_eq!(w(store, |tx| tx.get_code("nope")), None);
        assert!(is_conflict(store.write(|tx| tx.insert_code(&c))));

        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))
        });
        assert_eq!(
            w(store, |tx| tx.sessions_of_browser_session(
                c.browser_session_id.as_deref().unwrap()
            )),
            Vec::<String>::new()
        );
        assert!(w(store, |tx| tx.set_code_session("k1", "s1")));
        assert!(!w(store, |tx| tx.set_code_session("nope", "s1")));
        let bs = c.browser_session_id.clone().unwrap();
        assert_eq!(
            w(store, |tx| tx.sessions_of_browser_session(&bs)),
            vec!["s1".to_string()]
        );
        assert_eq!(
            w(store, |tx| tx.sessions_of_browser_session("other")),
            Vec::<String>::new()
        );
        assert_eq!(
            w(store, |tx| tx.get_code("k1"))
                .unwrap()
                .session_id
                .as_deref(),
            Some("s1")
        );
    });
}

#[test]
fn tokens_round_trip() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))
        });
        let at = access_token("a1", Some("s1"));
        let mut jwt = access_token("a2", None);
        jwt.token_hash = None;
        jwt.format = TokenFormat::Jwt;
        jwt.user_id = None;
        jwt.audience = vec![];
        let mut jwt2 = jwt.clone();
        jwt2.jti = "a3".into();
        w(store, |tx| {
            tx.insert_access_token(&at)?;
            tx.insert_access_token(&jwt)?;
            tx.insert_access_token(&jwt2) // two NULL hashes do not collide
        });
        assert_eq!(
            w(store, |tx| tx.get_access_token_by_jti("a1")),
            Some(at.clone())
        );
        assert_eq!(
            w(store, |tx| tx.get_access_token_by_hash("at-hash-a1")),
            Some(at.clone())
        );
        assert_eq!(w(store, |tx| tx.get_access_token_by_jti("a2")), Some(jwt));
        assert_eq!(w(store, |tx| tx.get_access_token_by_hash("nope")), None);
        assert!(is_conflict(store.write(|tx| tx.insert_access_token(&at))));
        let mut same_hash = access_token("a9", None);
        same_hash.token_hash = at.token_hash.clone();
        assert!(is_conflict(
            store.write(|tx| tx.insert_access_token(&same_hash))
        ));
        assert!(w(store, |tx| tx.revoke_access_token("a1", 50)));
        assert!(!w(store, |tx| tx.revoke_access_token("a1", 51)));
        assert_eq!(
            w(store, |tx| tx.get_access_token_by_jti("a1"))
                .unwrap()
                .revoked_at,
            Some(50)
        );

        let mut rt = refresh_token("r1", "s1");
        rt.parent_hash = Some("r0".into());
        rt.user_id = None;
        w(store, |tx| tx.insert_refresh_token(&rt));
        assert_eq!(w(store, |tx| tx.get_refresh_token("r1")), Some(rt.clone()));
        assert_eq!(w(store, |tx| tx.get_refresh_token("nope")), None);
        assert!(is_conflict(store.write(|tx| tx.insert_refresh_token(&rt))));
    });
}

#[test]
fn revoke_session_tokens_touches_that_session_only() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))?;
            tx.insert_session(&session("s2", Some("u1"), "c1"))?;
            tx.insert_access_token(&access_token("a1", Some("s1")))?;
            tx.insert_access_token(&access_token("a2", Some("s1")))?;
            tx.insert_access_token(&access_token("a3", Some("s2")))?;
            tx.insert_access_token(&access_token("a4", None))?;
            tx.insert_refresh_token(&refresh_token("r1", "s1"))?;
            tx.insert_refresh_token(&refresh_token("r2", "s2"))
        });
        assert!(w(store, |tx| tx.revoke_access_token("a2", 5)));
        assert_eq!(w(store, |tx| tx.revoke_session_tokens("s1", 9)), 2);
        assert_eq!(w(store, |tx| tx.revoke_session_tokens("s1", 10)), 0);
        w(store, |tx| {
            let at = |tx: &mut crate::Tx<'_>, jti| {
                tx.get_access_token_by_jti(jti)
                    .map(|t| t.unwrap().revoked_at)
            };
            assert_eq!(at(tx, "a1")?, Some(9));
            assert_eq!(at(tx, "a2")?, Some(5));
            assert_eq!(at(tx, "a3")?, None);
            assert_eq!(at(tx, "a4")?, None);
            assert_eq!(tx.get_refresh_token("r1")?.unwrap().revoked_at, Some(9));
            assert_eq!(tx.get_refresh_token("r2")?.unwrap().revoked_at, None);
            Ok(())
        });
    });
}

#[test]
fn consents_upsert_and_delete() {
    each_backend(|store| {
        seed(store);
        let mut c = Consent {
            user_id: "u1".into(),
            client_id: "c1".into(),
            scope: scopes("openid"),
            granted_at: 1,
            updated_at: 1,
        };
        w(store, |tx| tx.upsert_consent(&c));
        assert_eq!(w(store, |tx| tx.get_consent("u1", "c1")), Some(c.clone()));
        c.scope = scopes("openid profile");
        c.updated_at = 2;
        w(store, |tx| tx.upsert_consent(&c));
        assert_eq!(w(store, |tx| tx.get_consent("u1", "c1")), Some(c.clone()));
        assert_eq!(w(store, |tx| tx.get_consent("u2", "c1")), None);
        assert!(w(store, |tx| tx.delete_consent("u1", "c1")));
        assert!(!w(store, |tx| tx.delete_consent("u1", "c1")));
        assert_eq!(w(store, |tx| tx.get_consent("u1", "c1")), None);
    });
}

#[test]
fn pats_round_trip() {
    each_backend(|store| {
        seed(store);
        let pat = |id: &str, user_id: &str, created_at| PersonalAccessToken {
            id: id.into(),
            token_hash: format!("pat-hash-{id}"),
            user_id: user_id.into(),
            name: format!("token {id}"),
            scope: scopes("mcp:read"),
            kind: PatKind::Personal,
            client_id: None,
            created_at,
            expires_at: None,
            last_used_at: None,
            disabled: false,
            revoked_at: None,
        };
        let p1 = pat("p1", "u1", 20);
        let mut p2 = pat("p2", "u1", 10);
        p2.kind = PatKind::Mcp;
        p2.client_id = Some("c1".into());
        p2.expires_at = Some(99);
        p2.last_used_at = Some(15);
        p2.revoked_at = Some(16);
        let p3 = pat("p3", "u2", 5);
        w(store, |tx| {
            for p in [&p1, &p2, &p3] {
                tx.insert_pat(p)?;
            }
            Ok(())
        });
        assert_eq!(
            w(store, |tx| tx.get_pat_by_hash("pat-hash-p2")),
            Some(p2.clone())
        );
        assert_eq!(w(store, |tx| tx.get_pat_by_hash("nope")), None);
        assert_eq!(
            w(store, |tx| tx.list_pats("u1")),
            vec![p2.clone(), p1.clone()]
        );
        assert!(is_conflict(store.write(|tx| tx.insert_pat(&p1))));
        let mut same_hash = pat("p9", "u2", 1);
        same_hash.token_hash = p1.token_hash.clone();
        assert!(is_conflict(store.write(|tx| tx.insert_pat(&same_hash))));

        assert!(w(store, |tx| tx.set_pat_disabled("p1", true)));
        assert!(
            w(store, |tx| tx.get_pat_by_hash("pat-hash-p1"))
                .unwrap()
                .disabled
        );
        assert!(w(store, |tx| tx.set_pat_disabled("p1", false)));
        assert!(
            !w(store, |tx| tx.get_pat_by_hash("pat-hash-p1"))
                .unwrap()
                .disabled
        );
        assert!(!w(store, |tx| tx.set_pat_disabled("nope", true)));
        assert!(w(store, |tx| tx.delete_pat("p1")));
        assert!(!w(store, |tx| tx.delete_pat("p1")));
        assert_eq!(w(store, |tx| tx.list_pats("u1")), vec![p2]);
    });
}

#[test]
fn audit_events_newest_first() {
    each_backend(|store| {
        let ev = |id: &str, at| AuditEvent {
            id: id.into(),
            at,
            kind: "login.success".into(),
            user_id: Some("u-gone".into()), // no foreign key: the trail outlives users
            client_id: None,
            session_id: Some("s-gone".into()),
            detail: r#"{"ip":"192.0.2.1"}"#.into(),
        };
        w(store, |tx| {
            for (id, at) in [("e1", 10), ("e2", 30), ("e3", 20), ("e4", 30)] {
                tx.append_event(&ev(id, at))?;
            }
            Ok(())
        });
        let ids = |events: Vec<AuditEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(w(store, |tx| tx.recent_events(3))), ["e4", "e2", "e3"]);
        assert_eq!(
            ids(w(store, |tx| tx.recent_events(0))),
            Vec::<String>::new()
        );
        assert_eq!(w(store, |tx| tx.recent_events(10))[3], ev("e1", 10));
        assert!(is_conflict(store.write(|tx| tx.append_event(&ev("e1", 1)))));
    });
}

#[test]
fn secrets_first_writer_wins() {
    each_backend(|store| {
        assert_eq!(
            w(store, |tx| tx.get_or_insert_secret("cookie", "first", 1)),
            "first"
        );
        assert_eq!(
            w(store, |tx| tx.get_or_insert_secret("cookie", "second", 2)),
            "first"
        );
        assert_eq!(w(store, |tx| tx.get_or_insert_secret("other", "x", 3)), "x");
    });
}

#[test]
fn a_corrupt_row_is_reported_not_hidden() {
    use diesel::prelude::*;
    each_backend(|store| {
        seed(store);
        raw(store, |c| {
            diesel::update(crate::schema::clients::table)
                .set(crate::schema::clients::signing_alg.eq("HS256"))
                .execute(c)
        });
        assert!(
            matches!(store.read(|tx| tx.get_client("c1")), Err(StoreError::Corrupt(m)) if m.contains("signing_alg"))
        );
    });
}

#[test]
fn login_throttle_blocks_after_max_failures_in_a_window() {
    each_backend(|store| {
        let fail = |now| w(store, |tx| tx.record_failure("alice", now, 300, 3, 60));
        assert_eq!(w(store, |tx| tx.blocked_for("alice", 1000)), None);
        fail(1000);
        fail(1010);
        assert_eq!(w(store, |tx| tx.blocked_for("alice", 1020)), None);
        fail(1020); // third failure within 300 s
        assert_eq!(w(store, |tx| tx.blocked_for("alice", 1030)), Some(50));
        assert_eq!(w(store, |tx| tx.blocked_for("bob", 1030)), None);
        assert_eq!(w(store, |tx| tx.blocked_for("alice", 1080)), None);

        // A new window starts once the old one is over.
        fail(1400);
        assert_eq!(w(store, |tx| tx.blocked_for("alice", 1401)), None);
        fail(1401);
        w(store, |tx| tx.clear_failures("alice"));
        fail(1402);
        fail(1403);
        assert_eq!(w(store, |tx| tx.blocked_for("alice", 1404)), None);
    });
}

#[test]
fn pats_by_id_and_last_use_batches() {
    each_backend(|store| {
        seed(store);
        let pat = |id: &str, last_used_at| PersonalAccessToken {
            id: id.into(),
            token_hash: format!("touch-hash-{id}"),
            user_id: "u1".into(),
            name: id.into(),
            scope: scopes("api"),
            kind: PatKind::Personal,
            client_id: None,
            created_at: 1,
            expires_at: None,
            last_used_at,
            disabled: false,
            revoked_at: None,
        };
        let (a, b) = (pat("ta", None), pat("tb", Some(50)));
        w(store, |tx| {
            tx.insert_pat(&a)?;
            tx.insert_pat(&b)
        });
        assert_eq!(w(store, |tx| tx.get_pat("ta")), Some(a.clone()));
        assert_eq!(w(store, |tx| tx.get_pat("nope")), None);
        // One batch: a first use, an older use (ignored), an unknown id.
        let batch = vec![
            ("ta".to_string(), 10),
            ("tb".to_string(), 40),
            ("nope".to_string(), 99),
        ];
        assert_eq!(w(store, |tx| tx.touch_pats(&batch)), 1);
        let last = |id: &str| w(store, |tx| tx.get_pat(id)).unwrap().last_used_at;
        assert_eq!((last("ta"), last("tb")), (Some(10), Some(50)));
        assert_eq!(w(store, |tx| tx.touch_pats(&[("tb".to_string(), 60)])), 1);
        assert_eq!(last("tb"), Some(60));
        assert_eq!(w(store, |tx| tx.touch_pats(&[])), 0);
    });
}

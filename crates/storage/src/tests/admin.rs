//! `AdminStore`: keyset pages walk every row once in a stable order, on
//! both backends; filters; deleting a user cascades.

use portcullis_core::model::*;
use portcullis_core::ports::*;

use super::fixtures::*;
use crate::testing::each_backend;
use crate::Store;

fn key(at: i64, id: &str) -> PageKey {
    PageKey { at, id: id.into() }
}

/// Walk a list page by page (`limit` per page); every item once.
fn walk<T: Clone>(
    limit: i64,
    mut page: impl FnMut(Option<&PageKey>, i64) -> Vec<T>,
    key_of: impl Fn(&T) -> PageKey,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    let mut after: Option<PageKey> = None;
    loop {
        let items = page(after.as_ref(), limit);
        assert!(items.len() <= usize::try_from(limit).unwrap());
        let Some(last) = items.last() else { break };
        after = Some(key_of(last));
        out.extend(items);
    }
    out
}

#[test]
fn clients_and_users_page_by_creation_then_id() {
    each_backend(|store| {
        let times = [5, 3, 5, 1, 5];
        for (i, t) in times.iter().enumerate() {
            let mut c = client(&format!("c{i}"));
            c.created_at = *t;
            let mut u = user(&format!("u{i}"), &format!("user{i}"));
            u.created_at = *t;
            w(store, |tx| {
                tx.insert_client(&c)?;
                tx.insert_user(&u)
            });
        }
        let want = ["3", "1", "0", "2", "4"];
        for limit in [1, 2, 5, 10] {
            let cs = walk(
                limit,
                |after, n| w(store, |tx| tx.list_clients_page(after, n)),
                |c: &Client| key(c.created_at, &c.id),
            );
            let ids: Vec<String> = cs.iter().map(|c| c.id[1..].to_string()).collect();
            assert_eq!(ids, want, "clients, limit {limit}");
            let us = walk(
                limit,
                |after, n| w(store, |tx| tx.list_users_page(after, n)),
                |u: &User| key(u.created_at, &u.id),
            );
            let ids: Vec<String> = us.iter().map(|u| u.id[1..].to_string()).collect();
            assert_eq!(ids, want, "users, limit {limit}");
        }
        // full records come back
        assert_eq!(
            w(store, |tx| tx.list_clients_page(Some(&key(3, "c1")), 1)),
            vec![{
                let mut c = client("c0");
                c.created_at = 5;
                c
            }]
        );
        assert!(w(store, |tx| tx.list_users_page(Some(&key(5, "u4")), 10)).is_empty());
    });
}

#[test]
fn deleting_a_user_removes_everything_of_theirs() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))?;
            tx.insert_access_token(&access_token("a1", Some("s1")))?;
            tx.insert_refresh_token(&refresh_token("r1", "s1"))?;
            tx.insert_code(&code("k1"))?;
            tx.insert_session(&session("s2", Some("u2"), "c1"))
        });
        assert!(w(store, |tx| tx.delete_user("u1")));
        assert!(!w(store, |tx| tx.delete_user("u1")));
        w(store, |tx| {
            assert_eq!(tx.get_user("u1")?, None);
            assert_eq!(tx.get_session("s1")?, None);
            assert_eq!(tx.get_access_token_by_jti("a1")?, None);
            assert_eq!(tx.get_refresh_token("r1")?, None);
            assert_eq!(tx.get_code("k1")?, None);
            assert!(tx.get_session("s2")?.is_some());
            assert!(tx.get_user("u2")?.is_some());
            Ok(())
        });
    });
}

#[test]
fn live_sessions_of_a_user_page_and_skip_ended_ones() {
    each_backend(|store| {
        seed(store);
        let mk = |id: &str, created: i64, f: &dyn Fn(&mut Session)| {
            let mut s = session(id, Some("u1"), "c1");
            s.created_at = created;
            s.last_used_at = 1_000;
            s.expires_at = 2_000;
            f(&mut s);
            s
        };
        let rows = [
            mk("a", 10, &|_| {}),
            mk("b", 10, &|_| {}),
            mk("c", 5, &|_| {}),
            mk("revoked", 1, &|s| s.revoked_at = Some(20)),
            mk("expired", 1, &|s| s.expires_at = 1_500),
            mk("idle", 1, &|s| s.last_used_at = 400),
            {
                let mut s = session("other", Some("u2"), "c1");
                s.expires_at = 2_000;
                s
            },
        ];
        w(store, |tx| {
            for s in &rows {
                tx.insert_session(s)?;
            }
            Ok(())
        });
        for limit in [1, 2, 10] {
            let got = walk(
                limit,
                |after, n| {
                    w(store, |tx| {
                        tx.list_live_sessions_page("u1", 1_500, 500, after, n)
                    })
                },
                |s: &Session| key(s.created_at, &s.id),
            );
            let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids, ["c", "a", "b"], "limit {limit}");
        }
        assert_eq!(
            w(store, |tx| tx
                .list_live_sessions_page("u1", 1_500, 500, None, 1))[0],
            rows[2]
        );
    });
}

fn tokens(store: &Store, owner: TokenOwner<'_>, kind: TokenKind, limit: i64) -> Vec<TokenSummary> {
    walk(
        limit,
        |after, n| {
            w(store, |tx| match kind {
                TokenKind::Access => tx.list_access_tokens_page(owner, after, n),
                TokenKind::Refresh => tx.list_refresh_tokens_page(owner, after, n),
            })
        },
        |t: &TokenSummary| key(t.issued_at, &t.id),
    )
}

#[test]
fn tokens_of_a_user_or_client_page_without_hashes() {
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_client(&client("c2"))?;
            tx.insert_session(&session("s1", Some("u1"), "c1"))?;
            tx.insert_session(&session("s2", None, "c2"))
        });
        // hashes as the server makes them: 64 hex digits
        let hash = |n: u8| portcullis_core::secret::hash_token(&format!("refresh {n}"));
        let mut access = Vec::new();
        let mut refresh = Vec::new();
        for n in 0..4u8 {
            let mut a = access_token(&format!("j{n}"), Some("s1"));
            a.issued_at = 100 + i64::from(n / 2);
            let mut r = refresh_token(&hash(n), "s1");
            r.issued_at = 100 + i64::from(n / 2);
            if n == 1 {
                r.consumed_at = Some(150);
            }
            access.push(a);
            refresh.push(r);
        }
        let mut own = access_token("mine", Some("s2"));
        own.client_id = "c2".into();
        own.user_id = None;
        w(store, |tx| {
            for a in &access {
                tx.insert_access_token(a)?;
            }
            for r in &refresh {
                tx.insert_refresh_token(r)?;
            }
            tx.insert_access_token(&own)
        });
        let a_want: Vec<TokenSummary> = access.iter().map(TokenSummary::of_access).collect();
        let mut r_want: Vec<TokenSummary> = refresh.iter().map(TokenSummary::of_refresh).collect();
        r_want.sort_by(|x, y| (x.issued_at, &x.id).cmp(&(y.issued_at, &y.id)));
        for limit in [1, 3, 10] {
            assert_eq!(
                tokens(store, TokenOwner::User("u1"), TokenKind::Access, limit),
                a_want
            );
            assert_eq!(
                tokens(store, TokenOwner::Client("c1"), TokenKind::Access, limit),
                a_want
            );
            assert_eq!(
                tokens(store, TokenOwner::User("u1"), TokenKind::Refresh, limit),
                r_want,
                "limit {limit}"
            );
        }
        let r = &r_want[0];
        assert_eq!(r.id.len(), 32);
        assert!(refresh.iter().any(|x| x.token_hash.starts_with(&r.id)));
        assert!(r_want.iter().any(|t| t.consumed_at == Some(150)));
        assert_eq!(r.session_id.as_deref(), Some("s1"));
        assert_eq!(
            tokens(store, TokenOwner::Client("c2"), TokenKind::Access, 5),
            vec![TokenSummary::of_access(&own)]
        );
        assert!(tokens(store, TokenOwner::User("u2"), TokenKind::Refresh, 5).is_empty());
        // an empty id means "from this second on"; the next second skips it
        let from = |at| {
            w(store, |tx| {
                tx.list_refresh_tokens_page(TokenOwner::User("u1"), Some(&key(at, "")), 10)
            })
        };
        assert_eq!(from(101).len(), 2);
        assert_eq!(from(102).len(), 0);
        let access_from = w(store, |tx| {
            tx.list_access_tokens_page(TokenOwner::User("u1"), Some(&key(100, "")), 10)
        });
        assert_eq!(access_from.len(), 4);
    });
}

#[test]
fn events_filter_and_page_newest_first() {
    each_backend(|store| {
        let ev =
            |id: &str, at: i64, kind: &str, user: Option<&str>, client: Option<&str>| AuditEvent {
                id: id.into(),
                at,
                kind: kind.into(),
                user_id: user.map(Into::into),
                client_id: client.map(Into::into),
                session_id: None,
                detail: "{}".into(),
            };
        let all = [
            ev("e1", 10, "login", Some("u1"), Some("c1")),
            ev("e2", 20, "session_ended", Some("u1"), Some("c1")),
            ev("e3", 20, "login", Some("u2"), Some("c2")),
            ev("e4", 30, "login", Some("u1"), None),
            ev("e5", 40, "client_created", None, Some("c1")),
        ];
        w(store, |tx| {
            for e in &all {
                tx.append_event(e)?;
            }
            Ok(())
        });
        let list = |f: EventFilter, limit: i64| -> Vec<String> {
            walk(
                limit,
                |before, n| w(store, |tx| tx.list_events_page(&f, before, n)),
                |e: &AuditEvent| key(e.at, &e.id),
            )
            .into_iter()
            .map(|e| e.id)
            .collect()
        };
        for limit in [1, 2, 10] {
            assert_eq!(
                list(EventFilter::default(), limit),
                ["e5", "e4", "e3", "e2", "e1"]
            );
        }
        let kind = |k: &str| EventFilter {
            kind: Some(k.into()),
            ..Default::default()
        };
        assert_eq!(list(kind("login"), 1), ["e4", "e3", "e1"]);
        let f = EventFilter {
            kind: Some("login".into()),
            user_id: Some("u1".into()),
            ..Default::default()
        };
        assert_eq!(list(f, 1), ["e4", "e1"]);
        let f = EventFilter {
            client_id: Some("c1".into()),
            since: Some(20),
            ..Default::default()
        };
        assert_eq!(list(f, 2), ["e5", "e2"]);
        assert_eq!(
            w(store, |tx| tx.list_events_page(
                &EventFilter::default(),
                None,
                1
            )),
            vec![all[4].clone()]
        );
    });
}

//! `Store::read`/`write`, `ping`, `open`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use portcullis_core::ports::*;

use super::fixtures::*;
use crate::testing::{each_backend, TestDb};
use crate::{Backend, Store};

#[derive(Debug, PartialEq)]
enum AppError {
    Store(StoreError),
    Denied,
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

#[test]
fn an_err_from_the_closure_rolls_everything_back() {
    each_backend(|store| {
        let r: Result<(), AppError> = store.write(|tx| {
            tx.insert_client(&client("c1"))?;
            tx.insert_user(&user("u1", "alice"))?;
            Err(AppError::Denied)
        });
        assert_eq!(r, Err(AppError::Denied));
        assert_eq!(w(store, |tx| tx.get_client("c1")), None);
        assert_eq!(w(store, |tx| tx.get_user("u1")), None);

        // A store error inside the closure rolls back the earlier writes too.
        let r = store.write(|tx| {
            tx.insert_client(&client("c2"))?;
            tx.insert_client(&client("c2"))
        });
        assert!(matches!(r, Err(StoreError::Conflict(_))));
        assert_eq!(w(store, |tx| tx.list_clients()), vec![]);

        // Ok commits, even when the value says "denied" (the refresh-reuse rule).
        let r: Result<Result<(), &str>, AppError> = store.write(|tx| {
            tx.insert_client(&client("c3"))?;
            Ok(Err("invalid_grant"))
        });
        assert_eq!(r, Ok(Err("invalid_grant")));
        assert!(store.read(|tx| tx.get_client("c3")).unwrap().is_some());
        // The connection went back to the pool in a usable state.
        for _ in 0..20 {
            store.ping().unwrap();
        }
    });
}

#[test]
fn a_panicking_closure_does_not_poison_the_pool() {
    each_backend(|store| {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.write(|tx| -> StoreResult<()> {
                tx.insert_client(&client("c1"))?;
                panic!("boom")
            })
        }));
        assert!(outcome.is_err());
        for _ in 0..10 {
            assert_eq!(w(store, |tx| tx.get_client("c1")), None);
        }
    });
}

#[test]
fn open_accepts_paths_and_urls_and_creates_the_file() {
    let db = TestDb::sqlite();
    assert!(!std::path::Path::new(&db.url).exists());
    let store = Store::open(&format!("sqlite://{}", db.url), 2, Duration::from_secs(5)).unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.ping().unwrap();
    assert!(std::path::Path::new(&db.url).exists());
    assert_eq!(store.migrate().unwrap(), super::migrations::versions());
    drop(store);
    let again = Store::open(&db.url, 1, Duration::from_secs(5)).unwrap();
    assert_eq!(again.migrate().unwrap(), Vec::<String>::new());
    assert!(format!("{again:?}").contains(&db.url));

    if let Some(pg) = TestDb::postgres() {
        let store = Store::open(&pg.url, 2, Duration::from_secs(5)).unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        store.ping().unwrap();
    }
}

#[test]
fn sqlite_pragmas_are_set_on_every_connection() {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = BigInt)]
        v: i64,
    }
    let db = TestDb::sqlite();
    let store = db.store();
    let one = |sql: &str| raw(&store, |c| diesel::sql_query(sql).get_result::<Value>(c)).v;
    let mode = raw(&store, |c| {
        diesel::sql_query("PRAGMA journal_mode").get_result::<Mode>(c)
    })
    .journal_mode;
    let fk = one("SELECT foreign_keys AS v FROM pragma_foreign_keys");
    let busy = one("SELECT timeout AS v FROM pragma_busy_timeout");
    let sync = one("SELECT synchronous AS v FROM pragma_synchronous");
    // The query planner stability guarantee (.cargo/config.toml): without
    // it every cached statement with a bound LIMIT is parsed again at
    // each use.
    let qpsg = one("SELECT sqlite_compileoption_used('ENABLE_QPSG') AS v");
    // Savepoints' sub-journals in memory (2 = MEMORY), not in temp files.
    let temp = one("SELECT temp_store AS v FROM pragma_temp_store");
    assert_eq!(
        (mode.as_str(), fk, busy, sync, qpsg, temp),
        ("wal", 1, 5000, 1, 1, 2)
    );
}

/// A first writer that inserts client `c1`, then holds the writers' turn
/// until `behind` writers queue behind it; returns once it holds it.
fn first_writer<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    store: &'s Store,
    behind: usize,
) -> std::thread::ScopedJoinHandle<'s, StoreResult<()>> {
    let holding = std::sync::Arc::new(AtomicBool::new(false));
    let held = holding.clone();
    let group = store.group().unwrap();
    let first = s.spawn(move || {
        store.write(|tx| {
            tx.insert_client(&client("c1"))?;
            held.store(true, Ordering::SeqCst);
            while group.queued() < behind {
                std::thread::yield_now();
            }
            Ok(())
        })
    });
    while !holding.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    first
}

/// Group commit (group.rs): three writers queued together share one
/// SQLite commit; the refused one's writes alone are undone; the first
/// returns only once the last has run (its writes are committed then).
#[test]
fn sqlite_writers_queued_together_share_one_commit() {
    let db = TestDb::sqlite();
    let store = db.store();
    let before = store.pool_state().group_commit.unwrap();
    let last_ran = AtomicBool::new(false);
    std::thread::scope(|s| {
        let first = first_writer(s, &store, 2);
        let ok = s.spawn(|| {
            store.write(|tx| {
                tx.insert_client(&client("c2"))?;
                last_ran.store(true, Ordering::SeqCst);
                Ok::<_, StoreError>(())
            })
        });
        let refused = s.spawn(|| {
            store.write(|tx| {
                tx.insert_client(&client("c3"))?;
                last_ran.store(true, Ordering::SeqCst);
                Err::<(), _>(AppError::Denied)
            })
        });
        assert_eq!(first.join().unwrap(), Ok(()));
        // The first writer's answer waited for the writers after it.
        assert!(last_ran.load(Ordering::SeqCst));
        assert_eq!(ok.join().unwrap(), Ok(()));
        assert_eq!(refused.join().unwrap(), Err(AppError::Denied));
    });
    let after = store.pool_state().group_commit.unwrap();
    // Two writes kept, in one commit.
    assert_eq!(
        (after.commits - before.commits, after.writes - before.writes),
        (1, 2)
    );
    let ids: Vec<String> = w(&store, |tx| tx.list_clients())
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
}

/// A failed COMMIT fails every writer of its batch: none is told its
/// writes are stored when they are not.
#[test]
fn a_failed_group_commit_fails_every_writer_of_the_batch() {
    use diesel::connection::SimpleConnection;
    let db = TestDb::sqlite();
    let store = db.store();
    std::thread::scope(|s| {
        let first = first_writer(s, &store, 1);
        let breaker = s.spawn(|| {
            store.write(|tx| {
                // A foreign key checked only at COMMIT, and broken.
                tx.conn
                    .batch_execute(
                        "PRAGMA defer_foreign_keys = ON; INSERT INTO sessions (id, client_id, \
                         kind, auth_time, amr, created_at, last_used_at, expires_at) VALUES \
                         ('s1', 'no-such-client', 'x', 0, '[]', 0, 0, 0)",
                    )
                    .map_err(crate::error::db_error)?;
                Ok::<_, StoreError>(())
            })
        });
        assert!(matches!(first.join().unwrap(), Err(StoreError::Backend(_))));
        assert!(matches!(
            breaker.join().unwrap(),
            Err(StoreError::Backend(_))
        ));
    });
    assert_eq!(w(&store, |tx| tx.list_clients()), vec![]);
    // The store goes on.
    w(&store, |tx| tx.insert_client(&client("c2")));
    assert_eq!(w(&store, |tx| tx.list_clients()).len(), 1);
}

/// A writer that panics inside a batch ends it: the writers before it
/// are told their writes failed, and the store goes on.
#[test]
fn a_panic_inside_a_batch_fails_the_writers_before_it() {
    let db = TestDb::sqlite();
    let store = db.store();
    std::thread::scope(|s| {
        let first = first_writer(s, &store, 1);
        let panicking = s.spawn(|| {
            store.write(|tx| -> StoreResult<()> {
                tx.insert_client(&client("c2"))?;
                panic!("boom")
            })
        });
        assert!(matches!(first.join().unwrap(), Err(StoreError::Backend(_))));
        assert!(panicking.join().is_err());
    });
    assert_eq!(w(&store, |tx| tx.list_clients()), vec![]);
    w(&store, |tx| tx.insert_client(&client("c3")));
    assert_eq!(w(&store, |tx| tx.list_clients()).len(), 1);
}

/// Automatic checkpoints are off on the writers' connection (group.rs);
/// the background checkpointer copies the log back, so SQLite starts it
/// again from its beginning and the `-wal` file stops growing.
#[test]
fn the_background_checkpoint_keeps_the_log_from_growing() {
    let db = TestDb::sqlite();
    let store = db.store();
    let wal = format!("{}-wal", db.url);
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let burst = |from: usize| {
        for i in from..from + 100 {
            w(&store, |tx| tx.insert_client(&client(&format!("c{i}"))));
        }
        // Two checkpoint rounds.
        std::thread::sleep(Duration::from_millis(300));
    };
    burst(0);
    let first = wal_len();
    assert!(first > 0, "the writes went through the log");
    for round in 1..4 {
        burst(round * 100);
    }
    let last = wal_len();
    // Without the checkpointer the log holds all 400 transactions: about
    // four times the first burst's.
    assert!(
        last < first * 2,
        "log grew from {first} to {last} bytes: not checkpointed"
    );
    assert_eq!(w(&store, |tx| tx.list_clients()).len(), 400);
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Writes handed to the writer thread (`Store::write_queued`) are batched:
/// two hundred queued at once take fewer commits than writes; each caller
/// hears its own result; a refused write's rows are not stored.
#[test]
fn queued_writes_share_commits_and_each_hears_its_own_answer() {
    let db = TestDb::sqlite();
    let store = db.store();
    let before = store.pool_state().group_commit.unwrap();
    let answers: Vec<_> = (0..200)
        .map(|i| {
            let id = format!("c{i}");
            let queued = store.write_queued(move |tx| {
                tx.insert_client(&client(&id))?;
                if i % 50 == 7 {
                    return Err(AppError::Denied);
                }
                Ok(i)
            });
            queued.map_err(|_| "no writer thread").unwrap()
        })
        .collect();
    let results: Vec<Result<usize, AppError>> = block_on(async { futures_all(answers).await });
    for (i, r) in results.iter().enumerate() {
        if i % 50 == 7 {
            assert_eq!(r, &Err(AppError::Denied));
        } else {
            assert_eq!(r, &Ok(i));
        }
    }
    let after = store.pool_state().group_commit.unwrap();
    let commits = after.commits - before.commits;
    assert!(commits < 200, "{commits} commits for 200 writes");
    assert_eq!(after.writes - before.writes, 196);
    assert_eq!(w(&store, |tx| tx.list_clients()).len(), 196);
    // PostgreSQL has no writer thread: the closure comes back.
    if let Some(pg) = TestDb::postgres() {
        let pg = pg.store();
        assert!(pg.write_queued(|_tx| Ok::<_, StoreError>(())).is_err());
    }
}

async fn futures_all<T>(fs: Vec<impl std::future::Future<Output = T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(fs.len());
    for f in fs {
        out.push(f.await);
    }
    out
}

/// A queued write that panics fails (and so may the writes of its batch),
/// the writer thread goes on, and what is stored is exactly what was
/// acknowledged, with plain writes from other threads mixed in.
#[test]
fn what_is_stored_is_exactly_what_was_acknowledged() {
    let db = TestDb::sqlite();
    let store = db.store();
    std::thread::scope(|s| {
        let plain = s.spawn(|| {
            (0..100)
                .map(|i| {
                    let id = format!("p{i}");
                    (
                        id.clone(),
                        store.write(|tx| tx.insert_client(&client(&id))).is_ok(),
                    )
                })
                .collect::<Vec<_>>()
        });
        let answers: Vec<_> = (0..100)
            .map(|i| {
                let id = format!("q{i}");
                let f = store
                    .write_queued(move |tx| -> StoreResult<()> {
                        tx.insert_client(&client(&id))?;
                        if i == 40 {
                            panic!("boom");
                        }
                        Ok(())
                    })
                    .map_err(|_| "no writer thread")
                    .unwrap();
                (format!("q{i}"), f)
            })
            .collect();
        let queued: Vec<(String, bool)> = block_on(async {
            let mut out = Vec::new();
            for (id, f) in answers {
                out.push((id, f.await.is_ok()));
            }
            out
        });
        let mut acknowledged: Vec<String> = queued
            .iter()
            .chain(plain.join().unwrap().iter())
            .filter(|(_, ok)| *ok)
            .map(|(id, _)| id.clone())
            .collect();
        assert!(!queued[40].1, "the panicking write failed");
        assert!(queued.iter().filter(|(_, ok)| *ok).count() >= 50);
        acknowledged.sort();
        let mut stored: Vec<String> = w(store_ref(&store), |tx| tx.list_clients())
            .into_iter()
            .map(|c| c.id)
            .collect();
        stored.sort();
        assert_eq!(stored, acknowledged);
    });
    // The writer thread goes on.
    let again = store.write_queued(|tx| tx.insert_client(&client("after")));
    assert_eq!(block_on(again.map_err(|_| ()).unwrap()), Ok(()));
}

fn store_ref(s: &crate::Store) -> &crate::Store {
    s
}

/// The UPDATEs every token grant runs (the client's last use, the refresh
/// token's consumption, the session's last use) are prepared once per
/// connection and then taken from diesel's statement cache: diesel's own
/// `update(..)` is never cached.
#[test]
fn the_grants_updates_are_prepared_once_per_connection() {
    use diesel::connection::{Connection, InstrumentationEvent};
    use std::sync::{Arc, Mutex};
    each_backend(|store| {
        seed(store);
        w(store, |tx| {
            tx.insert_session(&session("s1", Some("u1"), "c1"))
        });
        w(store, |tx| {
            tx.insert_refresh_token(&refresh_token("r1", "s1"))
        });
        let cached = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = cached.clone();
        let (consumed, touched) = w(store, |tx| {
            tx.conn
                .set_instrumentation(move |e: InstrumentationEvent<'_>| {
                    if let InstrumentationEvent::CacheQuery { sql, .. } = e {
                        seen.lock().unwrap().push(sql.to_string());
                    }
                });
            let mut consumed = vec![];
            let mut touched = vec![];
            for i in 0..3 {
                tx.insert_access_token(&access_token(&format!("j{i}"), Some("s1")))?;
                consumed.push(tx.consume_refresh_token("r1", 1_700_000_300 + i)?);
                touched.push(tx.touch_session("s1", 1_700_000_300 + i)?);
            }
            Ok((consumed, touched))
        });
        assert_eq!(consumed, [true, false, false]);
        assert_eq!(touched, [true, true, true]);
        let updates: Vec<String> = cached
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.starts_with("UPDATE"))
            .cloned()
            .collect();
        assert_eq!(updates.len(), 3, "{updates:?}");
        for table in ["clients", "refresh_tokens", "sessions"] {
            let n = updates
                .iter()
                .filter(|s| s.starts_with(&format!("UPDATE {table} ")))
                .count();
            assert_eq!(n, 1, "{table}: {updates:?}");
        }
        // What they wrote.
        let t = w(store, |tx| tx.get_refresh_token("r1")).unwrap();
        assert_eq!(t.consumed_at, Some(1_700_000_300));
        let s = w(store, |tx| tx.get_session("s1")).unwrap();
        assert_eq!(s.last_used_at, 1_700_000_302);
        let last_used = raw(store, |c| {
            use crate::schema::clients;
            use diesel::prelude::*;
            clients::table
                .find("c1")
                .select(clients::last_used_at)
                .first::<Option<i64>>(c)
        });
        assert_eq!(last_used, Some(1_700_000_200));
    });
}

/// `try_read` runs the read only when a pooled connection is idle, and
/// otherwise hands the closure back without waiting (the introspection
/// endpoint then runs it on a blocking thread).
#[test]
fn try_read_never_waits_for_a_connection() {
    let db = TestDb::sqlite();
    let store = Store::open(&db.url, 1, Duration::from_secs(5)).unwrap();
    store.migrate().unwrap();
    seed(&store);
    let found = |tx: &mut crate::Tx<'_>| tx.get_client("c1").map(|c| c.is_some());
    assert!(matches!(store.try_read(found), Ok(Ok(true))));
    // The pool's one connection is busy with this read: no wait, f back.
    let inner = store
        .read(|_tx| Ok::<_, StoreError>(store.try_read(found).is_err()))
        .unwrap();
    assert!(inner, "handed back while the only connection was taken");
    assert!(matches!(store.try_read(found), Ok(Ok(true))));
}

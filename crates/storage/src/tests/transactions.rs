//! `Store::read`/`write`, `ping`, `open`.

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
    assert_eq!((mode.as_str(), fk, busy, sync), ("wal", 1, 5000, 1));
}

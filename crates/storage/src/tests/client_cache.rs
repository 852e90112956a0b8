//! The client cache (`client_cache.rs`, migration 13): a kept record is
//! used only while no row of `clients` changed, whoever changed it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use diesel::connection::{Connection, InstrumentationEvent};
use diesel::RunQueryDsl;
use portcullis_core::ports::*;
use portcullis_core::OAuthError;

use super::fixtures::*;
use crate::testing::TestDb;
use crate::Store;

fn each_db(f: impl Fn(&TestDb)) {
    f(&TestDb::sqlite());
    if let Some(pg) = TestDb::postgres() {
        f(&pg);
    }
}

/// The client's name and how many statements reading it took.
fn read_counted(store: &Store, id: &str) -> (Option<String>, usize) {
    let queries = Arc::new(AtomicUsize::new(0));
    let seen = queries.clone();
    let name = store
        .read(|tx| {
            tx.conn
                .set_instrumentation(move |e: InstrumentationEvent<'_>| {
                    if let InstrumentationEvent::StartQuery { .. } = e {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                });
            let name = tx.get_client(id)?.map(|c| c.name);
            tx.conn
                .set_instrumentation(|_: InstrumentationEvent<'_>| {});
            Ok::<_, OAuthError>(name)
        })
        .unwrap();
    (name, queries.load(Ordering::SeqCst))
}

/// A rename through another `Store` on the same database (another node,
/// or the CLI in another process), with plain SQL.
fn rename_elsewhere(db: &TestDb, name: &str) {
    let other = db.store();
    other
        .write(|tx| {
            diesel::sql_query(format!(
                "UPDATE clients SET name = '{name}' WHERE id = 'c1'"
            ))
            .execute(tx.conn)
            .map_err(crate::error::db_error)
        })
        .unwrap();
}

#[test]
fn a_kept_client_serves_until_any_writer_changes_the_clients() {
    each_db(|db| {
        let store = db.store();
        seed(&store);
        let first = read_counted(&store, "c1");
        let (name, queries) = read_counted(&store, "c1");
        assert_eq!(name, first.0);
        assert_eq!(queries, 1, "kept: only the epoch is read");

        rename_elsewhere(db, "renamed elsewhere");
        let (name, queries) = read_counted(&store, "c1");
        assert_eq!(name.as_deref(), Some("renamed elsewhere"));
        assert_eq!(queries, 2, "the epoch moved: the row is read again");

        // Through this store's own write path.
        let mut c = w(&store, |tx| tx.get_client("c1")).unwrap();
        c.name = "renamed here".into();
        assert!(w(&store, |tx| tx.update_client(&c)));
        assert_eq!(
            read_counted(&store, "c1").0.as_deref(),
            Some("renamed here")
        );

        // A grant's "last used" write touches no column a record holds:
        // the record stays kept.
        let first_use = read_counted(&store, "c1");
        let mut t = access_token("j1", None);
        t.user_id = None;
        w(&store, |tx| tx.insert_access_token(&t));
        assert_eq!(first_use, (Some("renamed here".into()), 1));
        assert_eq!(read_counted(&store, "c1"), (Some("renamed here".into()), 1));

        assert!(w(&store, |tx| tx.delete_client("c1")));
        assert_eq!(read_counted(&store, "c1").0, None);
    });
}

#[test]
fn a_change_that_rolled_back_leaves_nothing_kept() {
    each_db(|db| {
        let store = db.store();
        seed(&store);
        let before = read_counted(&store, "c1").0;
        let refused = store.write(|tx| {
            let mut c = tx
                .get_client("c1")?
                .ok_or_else(|| OAuthError::server("no c1"))?;
            c.name = "never committed".into();
            tx.update_client(&c)?;
            // Read (and kept) under the change's own epoch.
            assert_eq!(
                tx.get_client("c1")?.map(|c| c.name).as_deref(),
                Some("never committed")
            );
            Err::<(), _>(OAuthError::server("roll back"))
        });
        assert!(refused.is_err());
        assert_eq!(read_counted(&store, "c1").0, before);
    });
}

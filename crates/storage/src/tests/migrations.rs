//! Migrations: idempotent, safe to run from several nodes at once, and
//! `schema.rs` matching what they create.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::fixtures::raw;
use crate::schema::*;
use crate::testing::{each_backend, TestDb};
use crate::{Backend, Store};

#[test]
fn migrate_is_idempotent() {
    each_backend(|store| {
        // each_backend's store is migrated already.
        assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
        assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    });
}

#[test]
fn concurrent_migrate_applies_once() {
    let run = |db: &TestDb| {
        let stores: Vec<Store> = (0..6)
            .map(|_| Store::open(&db.url, 1, std::time::Duration::from_secs(10)).unwrap())
            .collect();
        let applied: Vec<Vec<String>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .map(|st| s.spawn(move || st.migrate().unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            applied.iter().filter(|a| !a.is_empty()).count(),
            1,
            "{applied:?}"
        );
        assert_eq!(
            applied.iter().flatten().cloned().collect::<Vec<_>>(),
            versions()
        );
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let n = raw(&stores[0], |c| {
            diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations")
                .get_result::<Count>(c)
        })
        .n;
        assert_eq!(usize::try_from(n).unwrap(), versions().len());
    };
    run(&TestDb::sqlite());
    match TestDb::postgres() {
        Some(db) => run(&db),
        None => eprintln!(
            "PORTCULLIS_TEST_DATABASE_URL not set: concurrent PostgreSQL migrate did not run"
        ),
    }
}

/// Every migration version, from `migrations/sqlite` (the PostgreSQL
/// directory has the same names), in order.
pub(super) fn versions() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some(name.split_once('_')?.0.to_string()))
        .collect();
    v.sort();
    v
}

#[derive(QueryableByName, Debug, PartialEq)]
struct DbColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
}

/// The table's columns as the database has them, in order.
fn db_columns(store: &Store, table: &str) -> Vec<DbColumn> {
    let sql = match store.backend() {
        Backend::Sqlite => format!(r#"SELECT name, lower(type) AS ty, "notnull" AS not_null FROM pragma_table_info('{table}') ORDER BY cid"#),
        Backend::Postgres => format!(
            "SELECT column_name::text AS name, data_type::text AS ty, \
             CASE WHEN is_nullable = 'NO' THEN 1::bigint ELSE 0::bigint END AS not_null \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' \
             ORDER BY ordinal_position"
        ),
    };
    raw(store, |c| diesel::sql_query(sql).load(c))
}

/// Every table in schema.rs: its name, and the column names of
/// `SELECT <all_columns>` (from diesel's SQL), after running that SELECT.
macro_rules! schema_tables {
    ($store:expr, $($t:ident),+ $(,)?) => {{
        let mut out = Vec::new();
        $(
            let query = $t::table.select($t::all_columns).limit(1);
            raw($store, |c| query.execute(c));
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
            let select = &sql["SELECT ".len()..sql.find(" FROM ").unwrap()];
            let cols: Vec<String> = select.split(", ").map(|c| c.rsplit('.').next().unwrap().trim_matches('`').to_owned()).collect();
            out.push((stringify!($t), cols));
        )+
        out
    }};
}

fn schema_rs_tables(store: &Store) -> Vec<(&'static str, Vec<String>)> {
    schema_tables!(
        store,
        clients,
        users,
        signing_keys,
        sessions,
        browser_sessions,
        authorization_codes,
        access_tokens,
        refresh_tokens,
        consents,
        personal_access_tokens,
        audit_events,
        server_secrets,
        login_attempts,
        initial_access_tokens,
        recovery_codes,
        device_codes,
        pushed_requests,
        used_jtis,
        cache_epochs,
    )
}

#[test]
fn schema_rs_matches_the_migrated_database() {
    each_backend(|store| {
        for (table, cols) in schema_rs_tables(store) {
            let db: Vec<String> = db_columns(store, table)
                .into_iter()
                .map(|c| c.name)
                .collect();
            assert_eq!(db, cols, "{} columns of {table}", store.backend());
        }
        // login_attempts has no store trait yet: check its types by hand.
        let row = raw(store, |c| {
            diesel::insert_into(login_attempts::table)
                .values((
                    login_attempts::key.eq("ip:192.0.2.1"),
                    login_attempts::failures.eq(3),
                    login_attempts::window_start.eq(1_700_000_000_000_i64),
                    login_attempts::blocked_until.eq(None::<i64>),
                ))
                .execute(c)?;
            login_attempts::table.first::<(String, i32, i64, Option<i64>)>(c)
        });
        assert_eq!(row, ("ip:192.0.2.1".into(), 3, 1_700_000_000_000, None));
    });
}

#[test]
fn both_dialects_declare_the_same_columns() {
    let Some(pg) = TestDb::postgres() else {
        eprintln!("PORTCULLIS_TEST_DATABASE_URL not set: dialect comparison did not run");
        return;
    };
    let sqlite = TestDb::sqlite().store();
    let pg = pg.store();
    let pg_type = |t: &str| match t {
        "text" => "text",
        "bigint" => "bigint",
        "boolean" => "boolean",
        "integer" => "integer",
        other => panic!("unexpected PostgreSQL type {other}"),
    };
    for (table, _) in schema_rs_tables(&sqlite) {
        let (a, b) = (db_columns(&sqlite, table), db_columns(&pg, table));
        assert_eq!(a.len(), b.len(), "{table}");
        for (s, p) in a.iter().zip(&b) {
            assert_eq!(
                (&s.name, s.ty.as_str(), s.not_null),
                (&p.name, pg_type(&p.ty), p.not_null),
                "{table}"
            );
        }
    }
}

/// Migration 12: access tokens without a session or a user (client
/// credentials) take no entry in those two indexes, and the lookups by
/// session and by user still find their tokens through them.
#[test]
fn access_tokens_index_only_the_sessions_and_users_they_have() {
    use super::fixtures::{access_token, seed, session, w};
    use portcullis_core::ports::{SessionStore, TokenStore};
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let db = TestDb::sqlite();
    let store = db.store();
    seed(&store);
    w(&store, |tx| {
        tx.insert_session(&session("s1", Some("u1"), "c1"))?;
        tx.insert_access_token(&access_token("with", Some("s1")))?;
        let mut cc = access_token("without", None);
        cc.user_id = None;
        cc.token_hash = Some("at-hash-cc".into());
        tx.insert_access_token(&cc)
    });
    let plan = |sql: &str| -> String {
        raw(&store, |c| {
            diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load::<Plan>(c)
        })
        .into_iter()
        .map(|p| p.detail)
        .collect::<Vec<_>>()
        .join("; ")
    };
    let by_session = plan(
        "UPDATE access_tokens SET revoked_at = 1 WHERE session_id = 's1' AND revoked_at IS NULL",
    );
    assert!(
        by_session.contains("INDEX access_tokens_session_id"),
        "{by_session}"
    );
    let by_user = plan("SELECT jti FROM access_tokens WHERE user_id = 'u1'");
    assert!(by_user.contains("INDEX access_tokens_user_id"), "{by_user}");
    // Both are partial indexes (1 in pragma_index_list's `partial`).
    for index in ["access_tokens_session_id", "access_tokens_user_id"] {
        let n = raw(&store, |c| {
            diesel::sql_query(format!(
                "SELECT partial AS n FROM pragma_index_list('access_tokens') WHERE name = '{index}'"
            ))
            .get_result::<Count>(c)
        })
        .n;
        assert_eq!(n, 1, "{index}");
    }
    // The cascades still reach the token: deleting the session removes it.
    raw(&store, |c| {
        diesel::delete(sessions::table.find("s1")).execute(c)
    });
    assert!(w(&store, |tx| tx.get_access_token_by_jti("with")).is_none());
    assert!(w(&store, |tx| tx.get_access_token_by_jti("without")).is_some());
}

/// Migration 13: an UPDATE of any column of `clients` but `last_used_at`
/// sets a new cache epoch (columns added later must join the triggers'
/// lists); `last_used_at` alone does not.
#[test]
fn every_client_column_but_last_use_renews_the_cache_epoch() {
    use super::fixtures::{seed, w};
    each_backend(|store| {
        seed(store);
        let epoch = || {
            raw(store, |c| {
                cache_epochs::table
                    .find("clients")
                    .select(cache_epochs::epoch)
                    .first::<i64>(c)
            })
        };
        let columns = db_columns(store, "clients");
        assert!(columns.len() > 10, "{}", columns.len());
        for col in columns {
            let before = epoch();
            let n = w(store, |tx| {
                diesel::sql_query(format!(
                    "UPDATE clients SET {0} = {0} WHERE id = 'c1'",
                    col.name
                ))
                .execute(tx.conn)
                .map_err(crate::error::db_error)
            });
            assert_eq!(n, 1);
            let renewed = epoch() != before;
            assert_eq!(renewed, col.name != "last_used_at", "{}", col.name);
        }
    });
}

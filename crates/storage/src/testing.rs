//! Throwaway databases for tests (feature `testing`; always on in this
//! crate's own tests).
//!
//! PostgreSQL runs when `PORTCULLIS_TEST_DATABASE_URL` names a server (for
//! example `postgres://postgres@127.0.0.1:5432/postgres`): each [`TestDb`]
//! is then a fresh database on it, dropped afterwards. When the variable is
//! set, an unreachable server fails the test; it is never skipped.

use std::path::PathBuf;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::Store;

pub const DATABASE_URL_VAR: &str = "PORTCULLIS_TEST_DATABASE_URL";

/// A fresh database: a temporary SQLite file or a new PostgreSQL database.
/// Removed (file) or dropped (`DROP DATABASE ... WITH (FORCE)`) on drop.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    File(PathBuf),
    Database { server_url: String, name: String },
}

impl TestDb {
    /// A new SQLite file in the temporary directory (not created yet; `Store::open` creates it).
    pub fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!(
            "portcullis_test_{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        TestDb {
            url: path.display().to_string(),
            cleanup: Cleanup::File(path),
        }
    }

    /// A new database on the server named by `PORTCULLIS_TEST_DATABASE_URL`,
    /// or `None` when the variable is unset or empty.
    ///
    /// # Panics
    /// When the variable is set and the server cannot be reached or refuses
    /// `CREATE DATABASE`.
    pub fn postgres() -> Option<TestDb> {
        let server_url = std::env::var(DATABASE_URL_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())?;
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&server_url).unwrap_or_else(|e| {
            panic!(
                "{DATABASE_URL_VAR} is set but PostgreSQL at {} is unreachable: {e}",
                crate::conn::redact(&server_url)
            )
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let mut url = url::Url::parse(&server_url).unwrap_or_else(|e| {
            panic!(
                "{DATABASE_URL_VAR} is not a URL ({e}): {}",
                crate::conn::redact(&server_url)
            )
        });
        url.set_path(&name);
        Some(TestDb {
            url: url.into(),
            cleanup: Cleanup::Database { server_url, name },
        })
    }

    /// Open (pool of 8) and migrate.
    ///
    /// # Panics
    /// When either fails.
    pub fn store(&self) -> Store {
        let store = Store::open(&self.url, 8, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("opening test database: {e}"));
        store
            .migrate()
            .unwrap_or_else(|e| panic!("migrating test database: {e}"));
        store
    }
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

impl TestDb {
    /// The SQLite file, for a SQLite database.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.cleanup {
            Cleanup::File(path) => Some(path),
            Cleanup::Database { .. } => None,
        }
    }

    /// Every row of every table (`schema::TABLES`) as text, one line each:
    /// the table's name, a tab, the row as a JSON object of its columns.
    /// On SQLite the write-ahead log is checkpointed into the file first.
    ///
    /// # Panics
    /// When the database cannot be read.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let mut push = |table: &str, lines: Vec<Line>| {
            for l in lines {
                out.push_str(table);
                out.push('\t');
                out.push_str(&l.line);
                out.push('\n');
            }
        };
        match &self.cleanup {
            Cleanup::File(path) => {
                let mut c = diesel::SqliteConnection::establish(&path.display().to_string())
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut c)
                    .unwrap_or_else(|e| panic!("checkpoint: {e}"));
                for table in crate::schema::TABLES {
                    let columns: Vec<Line> = diesel::sql_query(format!(
                        "SELECT name AS line FROM pragma_table_info('{table}')"
                    ))
                    .load(&mut c)
                    .unwrap_or_else(|e| panic!("columns of {table}: {e}"));
                    let pairs: Vec<String> = columns
                        .iter()
                        .map(|col| format!("'{0}', \"{0}\"", col.line))
                        .collect();
                    let sql = format!(
                        "SELECT json_object({}) AS line FROM \"{table}\"",
                        pairs.join(", ")
                    );
                    push(
                        table,
                        diesel::sql_query(sql)
                            .load(&mut c)
                            .unwrap_or_else(|e| panic!("rows of {table}: {e}")),
                    );
                }
            }
            Cleanup::Database { .. } => {
                let mut c =
                    PgConnection::establish(&self.url).unwrap_or_else(|e| panic!("connect: {e}"));
                for table in crate::schema::TABLES {
                    let sql = format!("SELECT row_to_json(t)::text AS line FROM \"{table}\" t");
                    push(
                        table,
                        diesel::sql_query(sql)
                            .load(&mut c)
                            .unwrap_or_else(|e| panic!("rows of {table}: {e}")),
                    );
                }
            }
        }
        out
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Database { server_url, name } => {
                let dropped = PgConnection::establish(server_url)
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut c)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = dropped {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            }
        }
    }
}

/// Run `f` on a fresh, migrated SQLite store, then on a fresh PostgreSQL
/// store when `PORTCULLIS_TEST_DATABASE_URL` is set (saying so on stderr
/// when it is not).
pub fn each_backend(f: impl Fn(&Store)) {
    let db = TestDb::sqlite();
    f(&db.store());
    match TestDb::postgres() {
        Some(db) => f(&db.store()),
        None => {
            eprintln!("{DATABASE_URL_VAR} not set: the PostgreSQL half of this test did not run")
        }
    }
}

//! Schema migrations: one directory per dialect, same version names.

use diesel::backend::Backend as DieselBackend;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::sql_types::BigInt;
use diesel::{RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use portcullis_core::ports::{StoreError, StoreResult};

use crate::conn::{one_line, AnyConnection};
use crate::error::OrStore;
use crate::Store;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The PostgreSQL advisory lock that serialises `migrate()` across nodes
/// ("portcull" in ASCII).
const MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

impl Store {
    /// Run pending migrations; returns the versions applied now (empty when
    /// the schema is current). Several nodes may call this at once: on
    /// PostgreSQL it runs under a session advisory lock, on SQLite inside
    /// one `BEGIN IMMEDIATE` transaction. It uses a connection of its own,
    /// closed afterwards, so a lock can never stay behind in the pool.
    pub fn migrate(&self) -> StoreResult<Vec<String>> {
        let mut conn = self
            .target()
            .connect()
            .map_err(|e| StoreError::Backend(one_line(&format!("connect for migrations: {e}"))))?;
        let applied = match &mut conn {
            AnyConnection::Postgresql(c) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(c)
                    .store()?;
                let applied = run(c, POSTGRES_MIGRATIONS);
                let unlocked =
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                        .execute(c);
                let applied = applied?;
                unlocked.store()?;
                applied
            }
            AnyConnection::Sqlite(c) => sqlite_exclusive(c)?,
        };
        if !applied.is_empty() {
            tracing::debug!(versions = ?applied, "applied migrations");
        }
        Ok(applied)
    }
}

/// Each migration's own transaction nests as a savepoint inside this one.
/// Foreign keys are off while migrations run (this connection is closed
/// afterwards), as SQLite's table-rebuild procedure requires: otherwise
/// `DROP TABLE` of a rebuilt parent would cascade into its children. The
/// result is checked with `foreign_key_check` before commit instead.
fn sqlite_exclusive(c: &mut SqliteConnection) -> StoreResult<Vec<String>> {
    c.batch_execute("PRAGMA foreign_keys = OFF").store()?;
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").store()?;
    let applied = run(c, SQLITE_MIGRATIONS).and_then(|applied| {
        let broken: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
            "(SELECT COUNT(*) FROM pragma_foreign_key_check)",
        ))
        .get_result(c)
        .store()?;
        match broken {
            0 => Ok(applied),
            _ => Err(StoreError::Backend(
                "migration failed: foreign_key_check found dangling references".into(),
            )),
        }
    });
    match applied {
        Ok(applied) => AnsiTransactionManager::commit_transaction(c)
            .store()
            .map(|()| applied),
        Err(e) => {
            let _ = AnsiTransactionManager::rollback_transaction(c);
            Err(e)
        }
    }
}

fn run<DB: DieselBackend>(
    c: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> StoreResult<Vec<String>> {
    c.run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
}

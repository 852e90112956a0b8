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
        self.migrate_with(&mut |_| {})
    }

    /// [`Store::migrate`], telling `progress` before and after each
    /// migration (a long one on a big database shows where it is).
    pub fn migrate_with(
        &self,
        progress: &mut dyn FnMut(MigrationStep<'_>),
    ) -> StoreResult<Vec<String>> {
        let mut conn = self
            .target()
            .connect()
            .map_err(|e| StoreError::Backend(one_line(&format!("connect for migrations: {e}"))))?;
        let applied = match &mut conn {
            AnyConnection::Postgresql(c) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(c)
                    .store()?;
                let applied = run(c, POSTGRES_MIGRATIONS, progress);
                let unlocked =
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                        .execute(c);
                let applied = applied?;
                unlocked.store()?;
                applied
            }
            AnyConnection::Sqlite(c) => sqlite_exclusive(c, progress)?,
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
fn sqlite_exclusive(
    c: &mut SqliteConnection,
    progress: &mut dyn FnMut(MigrationStep<'_>),
) -> StoreResult<Vec<String>> {
    c.batch_execute("PRAGMA foreign_keys = OFF").store()?;
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").store()?;
    let applied = run(c, SQLITE_MIGRATIONS, progress).and_then(|applied| {
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
    progress: &mut dyn FnMut(MigrationStep<'_>),
) -> StoreResult<Vec<String>> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
        StoreError::Backend(format!("migration failed: {e}"))
    };
    let pending = c.pending_migrations(migrations).map_err(failed)?;
    let total = pending.len();
    let mut applied = Vec::with_capacity(total);
    for (i, m) in pending.iter().enumerate() {
        let name = m.name().to_string();
        progress(MigrationStep {
            index: i + 1,
            total,
            name: &name,
            took: None,
        });
        let started = std::time::Instant::now();
        let version = c.run_migration(m.as_ref()).map_err(failed)?;
        progress(MigrationStep {
            index: i + 1,
            total,
            name: &name,
            took: Some(started.elapsed()),
        });
        applied.push(version.to_string());
    }
    Ok(applied)
}

/// Progress of `migrate_with`: before each migration (`took` None) and
/// after it.
#[derive(Debug, Clone, Copy)]
pub struct MigrationStep<'a> {
    pub index: usize,
    pub total: usize,
    pub name: &'a str,
    pub took: Option<std::time::Duration>,
}

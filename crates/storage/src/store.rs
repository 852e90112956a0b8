//! `Store` (the pool) and `Tx` (one transaction on one connection).

use std::fmt;
use std::sync::Arc;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{QueryResult, RunQueryDsl};
use portcullis_core::ports::{StoreError, StoreResult};

use crate::conn::{AnyConnection, Manager, Target};
use crate::error::{db_error, pool_error, OrStore};
use crate::group::{Group, GroupStats, Queue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A snapshot of the connection pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
    /// SQLite: commits and the writes they held (group commit).
    pub group_commit: Option<GroupStats>,
}

/// The database: a connection pool. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    target: Target,
    /// SQLite has one writer at a time. Write transactions of this process
    /// queue here for the one writers' connection, so they wait on a futex
    /// instead of sleeping in SQLite's busy handler (1, 2, 5 ... 100 ms
    /// steps), and the writers that queued together share one commit
    /// (group commit, `group.rs`). Other processes on the same file (the
    /// CLI) still meet `busy_timeout`. `None` on PostgreSQL, whose writers
    /// run in parallel.
    writer: Option<Arc<Group>>,
    /// SQLite: the inbox of the writer thread, for [`Store::write_queued`].
    /// Kept apart from `writer`, which that thread holds: the thread ends
    /// when the last `Store` clone, and so the last sender, is dropped.
    queue: Option<Queue>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.target.redacted())
            .finish_non_exhaustive()
    }
}

/// One transaction. Every store trait of `portcullis_core::ports` is
/// implemented on it (see `repo/`).
pub struct Tx<'a> {
    pub(crate) conn: &'a mut AnyConnection,
}

impl Store {
    pub(crate) fn new(pool: r2d2::Pool<Manager>, target: Target) -> Store {
        let writer = (target.backend() == Backend::Sqlite).then(|| {
            let group = Arc::new(Group::new(target.clone()));
            crate::group::spawn_checkpointer(&group);
            group
        });
        let queue = writer.as_ref().and_then(Queue::start);
        Store {
            pool,
            target,
            writer,
            queue,
        }
    }

    #[cfg(test)]
    pub(crate) fn pool_for_tests(&self) -> &r2d2::Pool<Manager> {
        &self.pool
    }

    /// The SQLite writers' queue, for tests.
    #[cfg(test)]
    pub(crate) fn group(&self) -> Option<&Group> {
        self.writer.as_deref()
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    pub fn backend(&self) -> Backend {
        self.target.backend()
    }

    /// How many connections the pool holds, how many are idle, and its limit.
    pub fn pool_state(&self) -> PoolState {
        let s = self.pool.state();
        PoolState {
            connections: s.connections,
            idle: s.idle_connections,
            max: self.pool.max_size(),
            group_commit: self.writer.as_ref().map(|g| g.stats()),
        }
    }

    /// The database's own consistency check: SQLite's `PRAGMA
    /// integrity_check` (every page, index and constraint); on PostgreSQL,
    /// which keeps its own consistency across crashes, a query over every
    /// table. Returns the problems found (empty: intact).
    pub fn integrity_check(&self) -> StoreResult<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let mut conn = self.pool.get().map_err(pool_error)?;
        match &mut *conn {
            AnyConnection::Sqlite(c) => {
                let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check")
                    .load(c)
                    .store()?;
                Ok(lines
                    .into_iter()
                    .map(|l| l.integrity_check)
                    .filter(|l| l != "ok")
                    .collect())
            }
            AnyConnection::Postgresql(c) => {
                for table in crate::schema::TABLES {
                    diesel::sql_query(format!("SELECT COUNT(*) FROM {table}"))
                        .execute(c)
                        .store()?;
                }
                Ok(Vec::new())
            }
        }
    }

    /// An online, consistent copy of a SQLite database into a new file
    /// (`VACUUM INTO`: readers and writers go on meanwhile). PostgreSQL has
    /// its own tools (`pg_dump`): refused there.
    pub fn backup_to(&self, path: &str) -> StoreResult<()> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(path)
                .execute(c)
                .store()
                .map(drop),
            AnyConnection::Postgresql(_) => Err(StoreError::Backend(
                "backup copies SQLite databases; for PostgreSQL use pg_dump".into(),
            )),
        }
    }

    /// `SELECT 1`: readiness.
    pub fn ping(&self) -> StoreResult<()> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .store()
            .map(drop)
    }

    /// Run `f` in one read transaction (`BEGIN`): a consistent view across
    /// several reads. Err from the closure rolls back. Writes belong in
    /// [`Store::write`] (on SQLite a deferred transaction that starts writing
    /// may fail with `SQLITE_BUSY` instead of waiting).
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.run(false, f)
    }

    /// Run `f` in one write transaction (SQLite: `BEGIN IMMEDIATE`, so the
    /// write lock is taken up front and waits under `busy_timeout` instead
    /// of failing on upgrade). Err from the closure rolls back its writes;
    /// Ok returns once they are committed. On SQLite, writers that queue
    /// together share one commit (`group.rs`); each still sees the writes
    /// of the ones before it, as with one transaction each.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        match &self.writer {
            Some(group) => group.write(f),
            None => self.run(true, f),
        }
    }

    /// [`Store::write`] off the caller's thread, for async callers: on
    /// SQLite the process's writer thread runs `f`, back to back with the
    /// other queued writes, and the future answers once its batch is
    /// committed (`group.rs`). `Err(f)` where there is no writer thread
    /// (PostgreSQL): run `f` with [`Store::write`] on a blocking thread.
    pub fn write_queued<T, E, F>(
        &self,
        f: F,
    ) -> Result<impl std::future::Future<Output = Result<T, E>> + Send, F>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Some(queue) = &self.queue else {
            return Err(f);
        };
        let answer = queue.push(f);
        Ok(async move {
            match answer.await {
                Ok(result) => result,
                // The write panicked (its batch rolled back).
                Err(_) => Err(StoreError::Backend("the write failed".into()).into()),
            }
        })
    }

    /// [`Store::read`] only if a pooled connection is idle now; otherwise
    /// `f` is handed back untouched (`Err(f)`), without waiting for one.
    /// For callers that must not block (an async worker).
    pub fn try_read<T, E: From<StoreError>, F: FnOnce(&mut Tx<'_>) -> Result<T, E>>(
        &self,
        f: F,
    ) -> Result<Result<T, E>, F> {
        match self.pool.try_get() {
            Some(mut pooled) => Ok(in_transaction(&mut pooled, false, f)),
            None => Err(f),
        }
    }

    fn run<T, E: From<StoreError>>(
        &self,
        write: bool,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut pooled = self.pool.get().map_err(pool_error)?;
        in_transaction(&mut pooled, write, f)
    }
}

/// `f` in one transaction on `conn`: committed on `Ok`, rolled back on `Err`.
fn in_transaction<T, E: From<StoreError>>(
    conn: &mut AnyConnection,
    write: bool,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
) -> Result<T, E> {
    begin(conn, write).map_err(db_error)?;
    match f(&mut Tx { conn: &mut *conn }) {
        Ok(value) => {
            AnyConnection::commit_transaction(conn).map_err(db_error)?;
            Ok(value)
        }
        Err(e) => {
            // A failed rollback leaves the connection marked broken, so
            // the pool drops it; the caller's error is the one to report.
            if let Err(rollback) = AnyConnection::rollback_transaction(conn) {
                tracing::error!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// `AnyConnection`'s transaction manager delegates to each variant's
/// `AnsiTransactionManager`, so opening the transaction on the inner
/// connection with our own SQL leaves diesel's bookkeeping consistent.
pub(crate) fn begin(conn: &mut AnyConnection, write: bool) -> QueryResult<()> {
    match conn {
        AnyConnection::Sqlite(c) if write => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        _ => AnyConnection::begin_transaction(conn),
    }
}

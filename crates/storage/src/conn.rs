//! Connections: the one connection type over both backends, the pool, the
//! SQLite pragmas, and `Store::open`.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{Pool, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::{Backend, Store};

/// Both backends behind one diesel connection type (SQLite last: the derive
/// tries variants in order).
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Set on every new SQLite connection, as one `batch_execute` (a
/// multi-statement `sql_query` would run only the first pragma), followed
/// by the [`SqliteSync`] setting. `busy_timeout` comes first so that
/// switching to WAL waits for a lock instead of failing. `temp_store =
/// MEMORY` keeps the sub-journal of a savepoint (every write of a group
/// commit runs in one, storage's group.rs) in memory: left to files, it
/// spilled past 64 KiB and every page a write touched was first copied out
/// with a `pwrite` (docs/performance.md, change 7).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;";

/// SQLite's `synchronous` setting in WAL mode (docs/operations.md, "The
/// database").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteSync {
    /// `NORMAL`, the default: a commit is written to the WAL without an
    /// fsync; nothing acknowledged is lost when the process dies, the last
    /// commits may be lost on power loss or an operating-system crash.
    #[default]
    Normal,
    /// `FULL`: the WAL is fsynced at every commit, so an acknowledged
    /// transaction survives power loss too, at one fsync per write.
    Full,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL;",
            SqliteSync::Full => "PRAGMA synchronous = FULL;",
        }
    }
}

/// How [`Store::open_with`] opens the database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long to wait for the database (at start and per checkout).
    pub connect_timeout: Duration,
    /// SQLite only.
    pub sqlite_sync: SqliteSync,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("bad database URL: {0}")]
    BadUrl(String),
    #[error("cannot open database {url_redacted}: {cause}")]
    Unreachable { url_redacted: String, cause: String },
}

/// Where the database is, parsed from the argument of [`Store::open`].
#[derive(Clone)]
pub(crate) enum Target {
    /// A file path, handed to SQLite as is, and its `synchronous` setting.
    Sqlite(String, SqliteSync),
    /// A libpq URL.
    Postgres(String),
}

impl Target {
    fn parse(url: &str, connect_timeout: Duration) -> Result<Target, OpenError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let mut parsed = url::Url::parse(url)
                .map_err(|e| OpenError::BadUrl(format!("{}: {e}", redact(url))))?;
            if !parsed.query_pairs().any(|(k, _)| k == "connect_timeout") {
                // libpq's own limit, so a blackholed host cannot hold a pool
                // thread for minutes after `open` gave up.
                let secs = connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
                parsed
                    .query_pairs_mut()
                    .append_pair("connect_timeout", &secs.to_string());
            }
            return Ok(Target::Postgres(parsed.into()));
        }
        // `sqlite:///abs/path` leaves `/abs/path`, `sqlite://rel.db` leaves `rel.db`.
        let path = if lower.starts_with("sqlite://") {
            &url["sqlite://".len()..]
        } else if lower.starts_with("sqlite:") {
            &url["sqlite:".len()..]
        } else if lower.contains("://") {
            return Err(OpenError::BadUrl(format!(
                "{}: expected a SQLite file path, sqlite://path or postgres://...",
                redact(url)
            )));
        } else {
            url
        };
        if path.is_empty() || path == ":memory:" || path.contains('?') {
            return Err(OpenError::BadUrl(format!(
                "{url}: expected a SQLite file path (no query string, no :memory:, since every pooled \
                 connection must see the same database)"
            )));
        }
        Ok(Target::Sqlite(path.to_owned(), SqliteSync::default()))
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Target::Sqlite(..) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) fn redacted(&self) -> String {
        match self {
            Target::Sqlite(path, _) => path.clone(),
            Target::Postgres(url) => redact(url),
        }
    }

    /// A new connection of the right variant (never tries the other
    /// backend, unlike `AnyConnection::establish`, which would open a SQLite
    /// file named after an unreachable PostgreSQL URL).
    pub(crate) fn connect(&self) -> diesel::ConnectionResult<AnyConnection> {
        match self {
            Target::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgresql),
            Target::Sqlite(path, sync) => {
                let mut conn = SqliteConnection::establish(path)?;
                let pragmas = format!("{SQLITE_PRAGMAS} {}", sync.pragma());
                conn.batch_execute(&pragmas).map_err(|e| {
                    diesel::ConnectionError::BadConnection(format!("setting SQLite pragmas: {e}"))
                })?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// libpq's messages span lines ("...failed: Connection refused\n\tIs the
/// server running..."); log lines and CLI errors should not.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Never prints a password.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replace the password (in the authority or a `password` query parameter)
/// with `***`.
pub(crate) fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return match url.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') => format!("{scheme}://***"),
            _ => url.to_owned(),
        };
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.into()
}

/// r2d2 glue. Not `diesel::r2d2::ConnectionManager<AnyConnection>`: its
/// `establish` tries each backend in turn and hides why PostgreSQL failed.
#[derive(Debug)]
pub(crate) struct Manager(pub(crate) Target);

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        self.0
            .connect()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection left inside a transaction (a panic, a failed rollback)
    /// is dropped rather than reused.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Connection failures in the pool's background threads go to the debug
/// log (r2d2's default handler writes errors to the `log` crate): callers
/// see them anyway, in `OpenError` or in the `StoreError` of `pool.get()`.
#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<diesel::r2d2::Error> for LogErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::debug!(%error, "database connection failed");
    }
}

impl Store {
    /// Accepts a SQLite file path (`./portcullis.db`, `/x/y.db`), a
    /// `sqlite://path` URL (also `sqlite:///abs/path`), or a
    /// `postgres://`/`postgresql://` URL. Creates the SQLite file if missing.
    /// Gives up after `connect_timeout` if the database cannot be reached.
    /// Error messages show the URL with any password replaced by `***`.
    pub fn open(
        database_url: &str,
        pool_size: u32,
        connect_timeout: Duration,
    ) -> Result<Store, OpenError> {
        Store::open_with(
            database_url,
            &OpenOptions {
                pool_size,
                connect_timeout,
                sqlite_sync: SqliteSync::default(),
            },
        )
    }

    /// [`Store::open`] with every option.
    pub fn open_with(database_url: &str, options: &OpenOptions) -> Result<Store, OpenError> {
        let OpenOptions {
            pool_size,
            connect_timeout,
            sqlite_sync,
        } = *options;
        let mut target = Target::parse(database_url.trim(), connect_timeout)?;
        if let Target::Sqlite(_, sync) = &mut target {
            *sync = sqlite_sync;
        }
        let backend = target.backend();
        let url_redacted = redact(database_url.trim());
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(connect_timeout)
            // A checkout ping catches PostgreSQL restarts; a SQLite file
            // has nothing to lose between uses.
            .test_on_check_out(backend == Backend::Postgres)
            .error_handler(Box::new(LogErrors))
            .build(Manager(target.clone()))
            .map_err(|e| OpenError::Unreachable {
                url_redacted: url_redacted.clone(),
                cause: one_line(&e.to_string()),
            })?;
        tracing::debug!(backend = %backend, database = %url_redacted, pool_size, "database opened");
        Ok(Store::new(pool, target))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sqlite_path(url: &str) -> String {
        match Target::parse(url, Duration::from_secs(1)).unwrap() {
            Target::Sqlite(p, _) => p,
            Target::Postgres(u) => panic!("{url} parsed as postgres {u}"),
        }
    }

    #[test]
    fn parses_sqlite_forms() {
        assert_eq!(sqlite_path("./portcullis.db"), "./portcullis.db");
        assert_eq!(sqlite_path("/x/y.db"), "/x/y.db");
        assert_eq!(sqlite_path("sqlite://rel.db"), "rel.db");
        assert_eq!(sqlite_path("sqlite:///abs/path.db"), "/abs/path.db");
        assert_eq!(sqlite_path("sqlite:rel.db"), "rel.db");
        for bad in [
            "",
            "sqlite://",
            ":memory:",
            "sqlite://x.db?mode=rwc",
            "mysql://u@h/db",
        ] {
            assert!(
                matches!(
                    Target::parse(bad, Duration::from_secs(1)),
                    Err(OpenError::BadUrl(_))
                ),
                "{bad}"
            );
        }
    }

    /// `synchronous` as a new pooled connection reports it: 1 is NORMAL,
    /// 2 is FULL.
    fn synchronous_of(sync: Option<SqliteSync>) -> i64 {
        use diesel::RunQueryDsl;
        let db = crate::testing::TestDb::sqlite();
        let store = match sync {
            None => Store::open(&db.url, 1, Duration::from_secs(5)).unwrap(),
            Some(sqlite_sync) => Store::open_with(
                &db.url,
                &OpenOptions {
                    pool_size: 1,
                    connect_timeout: Duration::from_secs(5),
                    sqlite_sync,
                },
            )
            .unwrap(),
        };
        let mut conn = store.pool_for_tests().get().unwrap();
        let AnyConnection::Sqlite(conn) = &mut *conn else {
            panic!("not SQLite")
        };
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT synchronous FROM pragma_synchronous)",
        ))
        .get_result(conn)
        .unwrap()
    }

    #[test]
    fn sqlite_synchronous_is_normal_unless_asked_for_full() {
        assert_eq!(synchronous_of(None), 1);
        assert_eq!(synchronous_of(Some(SqliteSync::Normal)), 1);
        assert_eq!(synchronous_of(Some(SqliteSync::Full)), 2);
    }

    #[test]
    fn postgres_url_gets_connect_timeout() {
        let Target::Postgres(u) =
            Target::parse("postgresql://u@h/db", Duration::from_millis(2500)).unwrap()
        else {
            panic!("not postgres")
        };
        assert_eq!(u, "postgresql://u@h/db?connect_timeout=3");
        let Target::Postgres(u) = Target::parse(
            "postgres://u@h/db?connect_timeout=9",
            Duration::from_secs(1),
        )
        .unwrap() else {
            panic!("not postgres")
        };
        assert_eq!(u, "postgres://u@h/db?connect_timeout=9");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgres://u@h/db?password=secret&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
        assert_eq!(redact("postgres://u:se cret@[bad/db"), "postgres://***");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn unreachable_postgres_fails_fast_and_redacts() {
        let started = std::time::Instant::now();
        let err = Store::open(
            "postgres://u:hunter2@127.0.0.1:1/db",
            2,
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        let msg = err.to_string();
        assert!(matches!(err, OpenError::Unreachable { .. }), "{msg}");
        assert!(
            !msg.contains("hunter2") && msg.contains("postgres://u:***@127.0.0.1:1/db: "),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

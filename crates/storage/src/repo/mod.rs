//! One module per store trait, each implemented on [`Tx`](crate::Tx), and
//! the column codecs they share: enums as their wire names, lists as JSON
//! arrays of strings, scopes in canonical space-joined form.

/// Run `$body` with `$c` bound to the backend's own connection, compiled
/// once per backend. diesel's `MultiConnection` (`AnyConnection`) writes a
/// query's whole SQL text again at every execution, even when the prepared
/// statement comes from the cache (its `SerializedQuery`): 13% of the
/// writer thread under client-credentials load (docs/performance.md,
/// change 10). The hot paths of the grants and of introspection use this.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::conn::AnyConnection::Sqlite($c) => $body,
            $crate::conn::AnyConnection::Postgresql($c) => $body,
        }
    };
}

/// The row of `$table` whose primary key is `$key`, as `$row`, if any
/// ([`native!`]).
macro_rules! find_row {
    ($conn:expr, $table:expr, $key:expr, $row:ty) => {
        native!($conn, |c| $table
            .find($key)
            .select(<$row>::as_select())
            .first(c)
            .optional())
    };
}

mod admin;
mod audit;
mod browser_sessions;
mod clients;
mod codes;
mod consents;
mod device_codes;
mod initial_access_tokens;
mod janitor;
mod keys;
mod passkeys;
mod pats;
mod pushed_requests;
mod recovery_codes;
mod secrets;
mod sessions;
mod throttle;
mod tokens;
mod used_jtis;
mod users;

use std::fmt::Display;
use std::str::FromStr;

use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryResult, RunQueryDsl};
use portcullis_core::model::Scopes;
use portcullis_core::ports::{StoreError, StoreResult};

use crate::conn::{AnyConnection, MultiBackend};
use crate::error::corrupt;

/// Parse a column holding a wire name (`ClientAuthMethod`, `SigningAlg`, ...).
pub(crate) fn parse<T: FromStr>(column: &str, s: &str) -> StoreResult<T>
where
    T::Err: Display,
{
    s.parse().map_err(|e| corrupt(column, e))
}

pub(crate) fn parse_scopes(column: &str, s: &str) -> StoreResult<Scopes> {
    Scopes::parse(s).map_err(|e| corrupt(column, e))
}

/// A list column: a JSON array of strings.
pub(crate) fn list_text<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    serde_json::Value::from_iter(items.into_iter().map(|s| s.as_ref().to_owned())).to_string()
}

pub(crate) fn parse_list<T: FromStr>(column: &str, s: &str) -> StoreResult<Vec<T>>
where
    T::Err: Display,
{
    let items: Vec<String> = serde_json::from_str(s).map_err(|e| corrupt(column, e))?;
    items.iter().map(|item| parse(column, item)).collect()
}

/// Row to record for an optional row.
pub(crate) fn record<R: TryInto<T, Error = StoreError>, T>(
    row: Option<R>,
) -> StoreResult<Option<T>> {
    row.map(TryInto::try_into).transpose()
}

pub(crate) fn records<R: TryInto<T, Error = StoreError>, T>(rows: Vec<R>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(TryInto::try_into).collect()
}

/// `INSERT ... <clause>` for the `ON CONFLICT` clauses that diesel's
/// `MultiBackend` does not model. SQLite (3.24+) and PostgreSQL both speak
/// `ON CONFLICT (cols) DO NOTHING | DO UPDATE SET c = excluded.c`.
pub(crate) struct OnConflict<I> {
    insert: I,
    clause: &'static str,
}

pub(crate) fn on_conflict<I>(insert: I, clause: &'static str) -> OnConflict<I> {
    OnConflict { insert, clause }
}

impl<I: QueryFragment<MultiBackend>> QueryFragment<MultiBackend> for OnConflict<I> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        self.insert.walk_ast(out.reborrow())?;
        out.push_sql(" ");
        out.push_sql(self.clause);
        Ok(())
    }
}

impl<I> QueryId for OnConflict<I> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<I> RunQueryDsl<AnyConnection> for OnConflict<I> {}

/// A value bound into a [`Fixed`] statement.
pub(crate) enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

/// A statement whose SQL text never changes, so that diesel keeps its
/// prepared form in the connection's statement cache (keyed by `K`, a
/// type of its own per statement). diesel prepares every
/// `diesel::update(..)` anew, because a changeset's columns may vary: on the
/// writer thread the UPDATEs of the token grants were parsed at every use
/// (docs/performance.md, change 8). `parts` are the SQL between the binds:
/// one more part than binds.
pub(crate) struct Fixed<'a, K, const N: usize> {
    parts: &'static [&'static str],
    binds: [Bind<'a>; N],
    key: std::marker::PhantomData<K>,
}

pub(crate) fn fixed<'a, K, const N: usize>(
    parts: &'static [&'static str],
    binds: [Bind<'a>; N],
) -> Fixed<'a, K, N> {
    debug_assert_eq!(parts.len(), binds.len() + 1);
    Fixed {
        parts,
        binds,
        key: std::marker::PhantomData,
    }
}

impl<K, DB, const N: usize> QueryFragment<DB> for Fixed<'_, K, N>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.binds.get(i) {
                Some(Bind::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Some(Bind::Text(v)) => out.push_bind_param::<Text, _>(*v)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl<K: 'static, const N: usize> QueryId for Fixed<'_, K, N> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K, C, const N: usize> RunQueryDsl<C> for Fixed<'_, K, N> {}

//! Portcullis storage: the store ports of `portcullis_core` on diesel, with
//! SQLite and PostgreSQL behind one code path (`AnyConnection`).
//!
//! A [`Store`] is a pool; [`Store::read`] and [`Store::write`] run a closure
//! in one transaction on a [`Tx`], which implements every store trait.
//! This crate makes no OAuth decision.

mod client_cache;
mod conn;
mod error;
mod group;
mod migrate;
mod repo;
mod schema;
mod store;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use conn::{AnyConnection, OpenError, OpenOptions, SqliteSync};
pub use group::GroupStats;
pub use migrate::MigrationStep;
pub use store::{Backend, PoolState, Store, Tx};

//! diesel and r2d2 errors to `StoreError`, in one place. Deliberately not a
//! `From` impl: every call site says `.store()`.

use std::fmt::Display;

use diesel::result::{DatabaseErrorKind, Error};
use portcullis_core::ports::{StoreError, StoreResult};

use crate::conn::one_line;

pub(crate) trait OrStore<T> {
    fn store(self) -> StoreResult<T>;
}

impl<T> OrStore<T> for diesel::QueryResult<T> {
    fn store(self) -> StoreResult<T> {
        self.map_err(db_error)
    }
}

pub(crate) fn db_error(e: Error) -> StoreError {
    match e {
        // The message names the constraint, never the duplicate value.
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StoreError::Conflict(info.message().to_owned())
        }
        other => StoreError::Backend(one_line(&other.to_string())),
    }
}

pub(crate) fn pool_error(e: r2d2::Error) -> StoreError {
    StoreError::Backend(format!(
        "no database connection: {}",
        one_line(&e.to_string())
    ))
}

pub(crate) fn corrupt(column: &str, e: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {e}"))
}

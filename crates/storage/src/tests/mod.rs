//! The storage tests. Each runs on SQLite and, when
//! `PORTCULLIS_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database.

mod admin;
mod client_cache;
mod fixtures;
mod janitor;
mod migrations;
mod records;
mod single_use;
mod transactions;

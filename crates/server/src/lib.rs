//! Portcullis server: the only crate that knows HTTP, HTML, JSON and
//! configuration. `main.rs` is a thin shell over [`cli`].

pub mod admin;
pub mod auth;
pub mod cli;
pub mod client_assertion;
pub mod client_metadata;
pub mod config;
pub mod crypto;
pub mod doctor;
pub mod dpop;
pub mod endpoints;
pub mod extract;
pub mod janitor;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod passkeys;
pub mod passwords;
pub mod render;
pub mod routes;
pub mod startup;
pub mod state;

//! One module per endpoint: extract, call core (inside one store
//! transaction on a blocking thread), render.

pub mod discovery;
pub mod health;
pub mod jwks;
pub mod login_api;
pub mod logout;
pub mod token;

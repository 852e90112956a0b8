//! Portcullis core: the grant engine.
//!
//! Pure logic: no HTTP, no SQL, no clock and no OS randomness of its own.
//! Time comes in as `now` (Unix seconds) arguments, randomness through the
//! [`ports::Random`] port, persistence through the store traits in [`ports`].

pub mod access;
pub mod client_auth;
pub mod clients;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod issuer;
pub mod keys;
pub mod model;
pub mod params;
pub mod ports;
pub mod redirect;
pub mod secret;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod users;

pub use error::{ErrorCode, OAuthError};
pub use issuer::Issuer;

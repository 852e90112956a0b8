//! Portcullis core: the grant engine.
//!
//! Pure logic: no HTTP, no SQL, no clock and no OS randomness of its own.
//! Time comes in as `now` (Unix seconds) arguments, randomness through the
//! [`ports::Random`] port, persistence through the store traits in [`ports`].

pub mod discovery;
pub mod error;
pub mod issuer;
pub mod keys;
pub mod model;
pub mod ports;
pub mod secret;

pub use error::{ErrorCode, OAuthError};
pub use issuer::Issuer;

//! Portcullis core: the grant engine.
//!
//! Pure logic: no HTTP, no SQL, no clock and no OS randomness of its own.
//! Time comes in as `now` (Unix seconds) arguments, randomness through the
//! [`ports::Random`] port, persistence through the store traits in [`ports`].

pub mod access;
pub mod account;
pub mod admin;
pub mod authorize;
pub mod client_assertion;
pub mod client_auth;
pub mod client_metadata;
pub mod clients;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod issuer;
pub mod janitor;
pub mod keys;
pub mod model;
pub mod par;
pub mod params;
pub mod passkeys;
pub mod pats;
pub mod pkce;
pub mod ports;
pub mod redirect;
pub mod register;
pub mod resources;
pub mod revoke;
pub mod second_factor;
pub mod secret;
pub mod sessions;
#[cfg(test)]
pub mod testing;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod user_agent;
pub mod users;

#[cfg(test)]
mod tests_auth;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_resources;
#[cfg(test)]
mod tests_sessions;

pub use error::{ErrorCode, OAuthError};
pub use issuer::Issuer;

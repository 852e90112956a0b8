//! One module per endpoint: extract, call core (inside one store
//! transaction on a blocking thread), render.

pub mod account;
pub mod authorize;
pub mod device;
pub mod device_authorization;
pub mod discovery;
pub mod end_session;
pub mod forward_auth;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod login_api;
pub mod logout;
pub mod par;
pub mod pats;
pub mod register;
pub mod resource_metadata;
pub mod revoke;
pub mod signin;
pub mod token;
pub mod userinfo;

//! Domain records and value types. Records are what the store ports read and
//! write; value types (`Scopes`, `SigningAlg`, ...) parse and validate input.

mod records;
mod scope;
mod values;

pub use records::*;
pub use scope::{ScopeError, Scopes};
pub use values::*;

//! Scope sets (RFC 6749 §3.3).

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens. Order and duplicates do not matter (RFC 6749 §3.3:
/// "the strings are order-independent"); the canonical form is sorted and
/// space-joined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeSet<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope contains a character outside RFC 6749 §3.3 scope-token")]
pub struct ScopeError;

impl Scopes {
    /// Parse a space-delimited scope string. RFC 6749 §3.3:
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, separated by single
    /// spaces; we accept runs of spaces as a courtesy.
    pub fn parse(s: &str) -> Result<Scopes, ScopeError> {
        let mut set = BTreeSet::new();
        for tok in s.split(' ').filter(|t| !t.is_empty()) {
            if !tok
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err(ScopeError);
            }
            set.insert(tok.to_string());
        }
        Ok(Scopes(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).cloned().collect())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_canonicalises() {
        let s = Scopes::parse("profile  openid openid email").unwrap();
        assert_eq!(s.to_string(), "email openid profile");
        assert!(s.contains("openid"));
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn rejects_forbidden_characters() {
        assert_eq!(Scopes::parse("a\"b"), Err(ScopeError));
        assert_eq!(Scopes::parse("a\\b"), Err(ScopeError));
        assert_eq!(Scopes::parse("a\tb"), Err(ScopeError));
        assert_eq!(Scopes::parse("é"), Err(ScopeError));
    }

    #[test]
    fn subset_and_intersection() {
        let all = Scopes::parse("a b c").unwrap();
        let some = Scopes::parse("c a").unwrap();
        assert!(some.is_subset(&all));
        assert!(!all.is_subset(&some));
        assert_eq!(
            all.intersection(&Scopes::parse("b z").unwrap()).to_string(),
            "b"
        );
    }
}

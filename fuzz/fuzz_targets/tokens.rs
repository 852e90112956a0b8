//! Presented token strings in core: the PAT shape (`pats::looks_like_pat`),
//! secret digests (`secret::hash_token`, `verify_token`), refresh successors
//! (`grants::refresh_token::successors`) and scope strings
//! (`Scopes::parse`, RFC 6749 §3.3).
//!
//! Properties: never panics; a token verifies against its own digest and
//! not against another's; successors are base64url and differ from the
//! presented token; a scope string that parses prints in a canonical form
//! that parses to the same set and prints the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::grants::refresh_token::successors;
use portcullis_core::model::Scopes;
use portcullis_core::pats::{looks_like_pat, PAT_PREFIX};
use portcullis_core::secret::{hash_token, verify_token};

fn base64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fuzz_target!(|input: (&str, &str)| {
    let (token, other) = input;

    assert_eq!(looks_like_pat(token), token.starts_with(PAT_PREFIX));

    let digest = hash_token(token);
    assert_eq!(digest.len(), 64);
    assert!(verify_token(token, &digest));
    assert!(!verify_token(token, other) || other == digest);
    if other != token {
        assert!(!verify_token(other, &digest));
    }

    let next = successors(b"fuzz-derive-key", token);
    assert!(base64url(&next.refresh));
    assert!(base64url(&next.access.opaque));
    assert!(base64url(&next.access.jti));
    assert_ne!(next.refresh, token);
    assert_ne!(next.refresh, next.access.opaque);

    if let Ok(scopes) = Scopes::parse(token) {
        let printed = scopes.to_string();
        let again = Scopes::parse(&printed).expect("canonical form parses");
        assert_eq!(again, scopes);
        assert_eq!(again.to_string(), printed);
        assert_eq!(
            printed.split(' ').filter(|s| !s.is_empty()).count(),
            scopes.iter().count()
        );
    }
});

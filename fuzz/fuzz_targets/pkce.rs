//! PKCE (RFC 7636, S256 only): `pkce::is_well_formed`, `s256`, `verify_s256`.
//!
//! Properties: never panics; a challenge is always well formed (43
//! characters of base64url); a verifier passes against its own challenge
//! exactly when it is well formed (§4.1); any challenge it passes against is
//! its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::pkce::{is_well_formed, s256, verify_s256};

fuzz_target!(|input: (&str, &str)| {
    let (verifier, challenge) = input;
    let own = s256(verifier);
    assert_eq!(own.len(), 43);
    assert!(is_well_formed(&own));
    assert_eq!(verify_s256(verifier, &own), is_well_formed(verifier));
    if verify_s256(verifier, challenge) {
        assert_eq!(challenge, own);
    }
    if is_well_formed(verifier) {
        assert!((43..=128).contains(&verifier.len()));
        assert!(verifier.is_ascii());
    }
});

//! `Authorization` header values: Basic client credentials (RFC 6749
//! §2.3.1, `extract::basic_value` over core's `decode_basic`) and bearer
//! tokens (RFC 6750 §2.1, `extract::bearer_value`).
//!
//! Properties: never panics; a malformed Basic value is `invalid_client`;
//! credentials encoded as §2.3.1 says (form-urlencode, then Base64) decode to
//! what was encoded; a bearer token read back is non-empty, trimmed, and
//! reads the same when presented again.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis_core::ErrorCode;
use portcullis_server::extract::{basic_value, bearer_value};

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(|input: (&str, String, String)| {
    let (raw, id, secret) = input;

    match basic_value(raw) {
        Ok(Some((id, _))) => assert!(!id.is_empty(), "a Basic client id is never empty"),
        Ok(None) => assert!(!raw
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("basic "))),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidClient),
    }
    if let Some(token) = bearer_value(raw) {
        assert!(!token.is_empty());
        assert_eq!(token.trim(), token);
        assert_eq!(
            bearer_value(&format!("Bearer {token}")),
            Some(token.clone())
        );
        assert_eq!(bearer_value(&format!("bEaReR {token}")), Some(token));
    }

    // RFC 6749 §2.3.1: encode, then decode.
    let header = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)))
    );
    let decoded = basic_value(&header);
    if id.is_empty() {
        assert!(decoded.is_err());
    } else {
        assert_eq!(decoded.expect("well-formed Basic"), Some((id, secret)));
    }
});

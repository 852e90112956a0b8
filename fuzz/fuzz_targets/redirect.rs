//! Redirect URI rules (RFC 6749 §3.1.2, RFC 8252 §7) and matching at the
//! authorization endpoint (`redirect::validate_redirect_uri`,
//! `match_redirect`).
//!
//! Properties: never panics; a valid URI matches itself, and is the default
//! when it is the only one registered; a match is always the requested
//! string; a match that is not an exact registered string is an http
//! loopback URI that differs from a registered loopback URI in its port
//! only (RFC 8252 §7.3), with no fragment; a match among
//! valid registered URIs is itself valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::redirect::{is_loopback, match_redirect, validate_redirect_uri};
use url::Url;

fuzz_target!(|input: (Vec<String>, Option<String>)| {
    let (registered, requested) = input;
    let registered: Vec<String> = registered.into_iter().take(4).collect();

    for uri in &registered {
        if validate_redirect_uri(uri).is_ok() {
            assert!(!uri.contains('#'));
            let one = std::slice::from_ref(uri);
            assert_eq!(match_redirect(one, Some(uri)).as_ref(), Some(uri));
            assert_eq!(match_redirect(one, None).as_ref(), Some(uri));
        }
    }
    if let Some(r) = &requested {
        let _ = validate_redirect_uri(r);
    }

    let Some(found) = match_redirect(&registered, requested.as_deref()) else {
        return;
    };
    let Some(requested) = requested else {
        assert_eq!(registered.len(), 1);
        assert_eq!(found, registered[0]);
        return;
    };
    assert_eq!(found, requested);
    if !registered.contains(&requested) {
        let req = Url::parse(&requested).expect("a loopback match parses");
        assert_eq!(req.scheme(), "http");
        assert!(is_loopback(&req));
        assert!(req.fragment().is_none());
        // RFC 9700 §2.1: "exact string matching except for port numbers in
        // localhost redirection URIs of native apps".
        let without_port = |mut u: Url| {
            let _ = u.set_port(None);
            u
        };
        let req_np = without_port(req.clone());
        assert!(
            registered.iter().any(|r| Url::parse(r).is_ok_and(|reg| {
                reg.scheme() == "http" && is_loopback(&reg) && without_port(reg) == req_np
            })),
            "{requested:?} matched {registered:?}"
        );
    }
    if registered.iter().all(|r| validate_redirect_uri(r).is_ok()) {
        assert!(
            validate_redirect_uri(&found).is_ok(),
            "{found:?} matched {registered:?} but is not a valid redirect URI"
        );
    }
});

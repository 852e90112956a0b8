//! Form bodies and query strings (`Params::from_urlencoded`, what
//! `extract::form` and every query reader use), and the admin API's paging
//! parameters and cursors.
//!
//! Properties: never panics; an accepted request re-encodes to the same
//! parameters; a refusal is `invalid_request`; paging a list with the
//! cursors it hands out visits every item once, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::admin::{page_in_memory, AdminError, PageParams};
use portcullis_core::params::Params;
use portcullis_core::ErrorCode;

/// Keys that may repeat (RFC 8707 §2); kept in step with params.rs.
const REPEATABLE: &[&str] = &["resource", "audience"];

fuzz_target!(|data: &[u8]| {
    let params = match Params::from_urlencoded(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            return;
        }
    };

    // Re-encode what was accepted; it must read back the same.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .into_owned()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        ser.append_pair(k, v);
        // RFC 6749 §3.1: an empty value counts as absent; present ones are kept.
        assert!(params.contains(k));
        if REPEATABLE.contains(&k.as_str()) {
            assert!(params.all(k).contains(v));
        } else {
            assert_eq!(params.get(k), Some(v.as_str()), "single value of {k:?}");
        }
    }
    let again = Params::from_urlencoded(ser.finish().as_bytes()).expect("re-encoded params parse");
    assert_eq!(again, params);

    // The admin API's paging over a fixed list.
    let Ok(page) = PageParams::from_query(&params) else {
        return;
    };
    assert!(page.limit >= 1);
    let items: Vec<(i64, String)> = (0..7)
        .map(|i| (i64::from(i % 3) - 1, format!("id-{i}:x")))
        .collect();
    match page_in_memory(items.clone(), &page, |x| x.clone()) {
        Ok(first) => assert!(first.items.len() as i64 <= page.limit),
        // A fuzzed cursor may be refused, but only as a bad request.
        Err(e) => assert!(
            matches!(&e, AdminError::OAuth(o) if o.code == ErrorCode::InvalidRequest),
            "{e:?}"
        ),
    }
    // Walking every page from the start visits each item once, in order.
    let mut sorted = items.clone();
    sorted.sort();
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..=items.len() {
        let p = PageParams {
            limit: page.limit.min(3),
            cursor: cursor.take(),
        };
        let got = page_in_memory(items.clone(), &p, |x| x.clone()).expect("our own cursor");
        seen.extend(got.items);
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, sorted);
});

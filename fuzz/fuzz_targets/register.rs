//! Dynamic client registration metadata (RFC 7591 §2, RFC 7592 §2.2):
//! `register::new_registration`, `client_information` and
//! `replace_metadata` on arbitrary JSON.
//!
//! Properties: never panics; a refusal is `invalid_client_metadata` or
//! `invalid_redirect_uri` (RFC 7591 §3.2.2), or `invalid_request` for an
//! update's own rules; a registered client's information response, sent
//! back as an update (RFC 7592 §2.2), changes nothing; an update keeps the
//! client's id and secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::ports::Random;
use portcullis_core::register::{
    client_information, new_registration, replace_metadata, SERVER_MEMBERS,
};
use portcullis_core::{ErrorCode, Issuer};
use serde_json::{json, Value};

struct Counter(u8);

impl Random for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(13);
            *b = self.0;
        }
    }
}

const NOW: i64 = 1_700_000_000;

fn refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidClientMetadata | ErrorCode::InvalidRedirectUri
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let issuer = Issuer::parse("https://issuer.example/tenant").expect("issuer");
    let mut rng = Counter(0);

    // The fuzzed document as an update of a fixed registered client.
    let mut base = new_registration(
        &json!({"redirect_uris": ["https://app.example/cb"]}),
        NOW,
        &mut rng,
    )
    .expect("a plain registration");
    // A short id the fuzzer can find (seeds/register/update.json uses it).
    base.client.id = "fuzz-client".into();
    match replace_metadata(&base.client, &doc, NOW + 1, &mut rng) {
        Ok(updated) => {
            assert_eq!(updated.id, base.client.id);
            assert_eq!(updated.secret_hash, base.client.secret_hash);
            assert_eq!(
                updated.registration_token_hash,
                base.client.registration_token_hash
            );
        }
        Err(e) => assert!(
            refusal(e.code) || e.code == ErrorCode::InvalidRequest,
            "{e:?}"
        ),
    }

    // The fuzzed document as a registration.
    let reg = match new_registration(&doc, NOW, &mut rng) {
        Ok(r) => r,
        Err(e) => {
            assert!(refusal(e.code), "{e:?}");
            return;
        }
    };
    assert!(!reg.client.name.is_empty());
    assert!(!reg.client.grant_types.is_empty());
    for uri in reg
        .client
        .redirect_uris
        .iter()
        .chain(&reg.client.post_logout_redirect_uris)
    {
        assert!(portcullis_core::redirect::validate_redirect_uri(uri).is_ok());
    }

    // RFC 7592 §2.2: the information response, minus the members the server
    // sets, is a valid update that leaves the client as it was.
    let info = client_information(
        &reg.client,
        reg.secret.as_deref(),
        &reg.registration_token,
        &issuer,
    );
    let mut update = info.as_object().expect("an object").clone();
    for m in SERVER_MEMBERS {
        update.remove(*m);
    }
    let again = replace_metadata(&reg.client, &Value::Object(update), NOW + 5, &mut rng)
        .unwrap_or_else(|e| panic!("own information refused as an update: {e:?}\n{info}"));
    let mut expected = reg.client.clone();
    expected.updated_at = NOW + 5;
    assert_eq!(again, expected, "{info}");
});

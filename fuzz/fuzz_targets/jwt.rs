//! JWTs presented to the server (`KeyRing::verify` / `verify_any_age`, what
//! `auth::access_bearer`, introspection and `id_token_hint` use): header and
//! claims parsing, `kid`/`alg`/`typ` checks, signature, `iss` and `exp`.
//!
//! Three shapes of input: any string; a token we signed with some bytes
//! changed; and claims of the fuzzer's choosing, signed by us.
//!
//! Properties: never panics; a token verifies only if it carries claims we
//! signed (a changed token that still verifies carries the same claims);
//! claims we sign read back as signed when `typ`, `iss` and `exp` fit, and
//! not otherwise.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use portcullis_core::model::SigningAlg;
use portcullis_server::crypto::SecretBox;
use portcullis_server::keys::{generate, to_record, KeyRing};
use serde_json::{json, Value};

const ISSUER: &str = "https://issuer.example";
const TYP: &str = "at+jwt";
const NOW: i64 = 1_700_000_000;

/// One key of each algorithm, and one token each signed with it.
struct Fixture {
    ring: KeyRing,
    claims: Value,
    tokens: Vec<(SigningAlg, String)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let sealer = SecretBox::new(None);
    let records = SigningAlg::ALL
        .iter()
        .map(|alg| {
            let g = generate(*alg).expect("key generation");
            to_record(&g, *alg, &sealer, 0, 0).expect("record")
        })
        .collect();
    let ring = KeyRing::load(records, &sealer).expect("key ring");
    let claims = json!({"iss": ISSUER, "exp": NOW + 60, "jti": "fixture", "sub": "s"});
    let tokens = SigningAlg::ALL
        .iter()
        .map(|alg| (*alg, ring.sign(*alg, TYP, &claims, NOW).expect("sign")))
        .collect();
    Fixture {
        ring,
        claims,
        tokens,
    }
});

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Any presented string.
    Raw(&'a str),
    /// One of our tokens with bytes replaced (position, byte).
    Edited { alg: u8, edits: Vec<(u16, u8)> },
    /// Claims the fuzzer picks (JSON text), signed by us.
    Signed {
        alg: u8,
        claims: &'a [u8],
        typ_matches: bool,
    },
}

fn pick(alg: u8) -> SigningAlg {
    SigningAlg::ALL[usize::from(alg) % SigningAlg::ALL.len()]
}

fuzz_target!(|input: Input| {
    let f = &*FIXTURE;
    match input {
        Input::Raw(token) => {
            if let Some(claims) = f.ring.verify_any_age(token, TYP, ISSUER) {
                assert_eq!(claims, f.claims, "{token:?} verified");
            }
        }
        Input::Edited { alg, edits } => {
            let alg = pick(alg);
            let (_, token) = f
                .tokens
                .iter()
                .find(|(a, _)| *a == alg)
                .expect("a token per alg");
            let mut bytes = token.clone().into_bytes();
            for (at, b) in edits.into_iter().take(8) {
                let i = usize::from(at) % bytes.len();
                bytes[i] = b;
            }
            let Ok(edited) = String::from_utf8(bytes) else {
                return;
            };
            if let Some(claims) = f.ring.verify(&edited, TYP, ISSUER, NOW) {
                assert_eq!(claims, f.claims, "{edited:?} verified");
            }
        }
        Input::Signed {
            alg,
            claims,
            typ_matches,
        } => {
            let Ok(claims) = serde_json::from_slice::<Value>(claims) else {
                return;
            };
            let typ = if typ_matches { TYP } else { "JWT" };
            let token = f.ring.sign(pick(alg), typ, &claims, NOW).expect("sign");
            let got = f.ring.verify(&token, TYP, ISSUER, NOW);
            // What the verifier reads is the claims as serialized then parsed.
            let as_sent: Value =
                serde_json::from_str(&claims.to_string()).expect("our own JSON parses");
            let fits = typ_matches
                && as_sent.get("iss").and_then(Value::as_str) == Some(ISSUER)
                && as_sent
                    .get("exp")
                    .and_then(Value::as_i64)
                    .is_some_and(|exp| exp > NOW);
            if fits {
                assert_eq!(got, Some(as_sent));
            } else {
                assert_eq!(got, None);
            }
        }
    }
});

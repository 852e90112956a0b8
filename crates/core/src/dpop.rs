//! DPoP (RFC 9449): checking a proof JWT, the key thumbprint a token is
//! bound to (`cnf.jkt`), stateless server nonces, and the per-client
//! requirement. The server hands over the `DPoP` header values, the
//! request's method and URL and the clock; single use of a proof's `jti`
//! is the store's ([`consume`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::ports::JtiStore;
use crate::secret::hash_token;
use crate::tokens::derive;

/// RFC 9449 §4.2: the proof's `typ`.
pub const TYP: &str = "dpop+jwt";

/// The proof algorithms accepted (and advertised as
/// `dpop_signing_alg_values_supported`, RFC 9449 §5.1): asymmetric only
/// (§4.3 item 5: never `none` nor a MAC).
pub const ALGS: &[&str] = &["ES256", "RS256", "PS256", "EdDSA"];

/// RFC 9449 §5.2: the client metadata member that makes DPoP mandatory for
/// a client's token requests.
pub const BOUND_ACCESS_TOKENS: &str = "dpop_bound_access_tokens";

/// The shortest RSA modulus accepted for a proof key (RFC 7518 §3.3: "A
/// key of size 2048 bits or larger MUST be used with these algorithms").
const MIN_RSA_BITS: usize = 2048;

/// The longest `jti` accepted.
const MAX_JTI: usize = 256;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2,
/// §6.4; RFC 8037 §2): a proof carrying one is refused (§4.3 item 7).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// How proofs are checked, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    /// How far `iat` may be from now, either way (RFC 9449 §4.3 item 11,
    /// §11.1).
    pub window: i64,
    /// Server nonces (RFC 9449 §8): how long one is good, or `None` when
    /// nonces are not required.
    pub nonce_lifetime: Option<i64>,
}

/// The request a proof must match.
pub struct Target<'a> {
    /// `htm` (RFC 9449 §4.2).
    pub method: &'a str,
    /// `htu`: the URL of the endpoint, without query or fragment.
    pub url: &'a str,
    /// The access token presented with the proof, at a resource (`ath`,
    /// RFC 9449 §4.3 item 11 / §7).
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check but single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of its key: what a token is bound to.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn invalid(msg: &str) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidDpopProof, msg)
}

fn use_nonce() -> OAuthError {
    OAuthError::with(
        ErrorCode::UseDpopNonce,
        "a DPoP nonce is required: use the DPoP-Nonce header's value",
    )
}

/// Does the client require DPoP for its token requests (RFC 9449 §5.2)?
pub fn required(client: &Client) -> bool {
    client.metadata.get(BOUND_ACCESS_TOKENS) == Some(&Value::Bool(true))
}

/// The nonce the server hands out at `now` (RFC 9449 §8): an HMAC of the
/// time bucket under the server's derivation key, so every node gives and
/// accepts the same one without state.
pub fn nonce(key: &[u8], lifetime: i64, now: i64) -> String {
    let bucket = now.div_euclid(lifetime.max(1));
    derive(key, "dpop-nonce", &bucket.to_string())
}

/// Is `presented` the current nonce or the one before it (so a nonce
/// handed out just before a bucket ends still works)?
fn nonce_ok(key: &[u8], lifetime: i64, now: i64, presented: &str) -> bool {
    let lifetime = lifetime.max(1);
    [now, now - lifetime]
        .iter()
        .any(|t| constant_time_eq(nonce(key, lifetime, *t).as_bytes(), presented.as_bytes()))
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 over its required
/// members in lexicographic order, base64url.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, OAuthError> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(invalid("the proof's jwk has an unsupported kty")),
    };
    let mut parts = Vec::with_capacity(members.len());
    for m in members {
        let v = jwk
            .get(*m)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the proof's jwk is incomplete"))?;
        parts.push(format!(
            "{}:{}",
            Value::String((*m).into()),
            Value::String(v.into())
        ));
    }
    let canonical = format!("{{{}}}", parts.join(","));
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// Is `s` shaped like a SHA-256 thumbprint: 43 base64url characters?
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// RFC 9449 §4.3 item 9: `htu` matches the request URL ignoring query and
/// fragment, after the RFC 3986 §6.2.2-6.2.3 normalization the URL parser
/// applies (scheme and host case, default port, dot segments). It does not
/// decode percent-encoded unreserved characters (§6.2.2.2): an `htu` that
/// spells `~` as `%7E` is refused, which fails closed.
fn same_url(htu: &str, expected: &str) -> bool {
    let strip = |s: &str| {
        Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    match (strip(htu), strip(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The bit length of an RSA JWK's modulus `n` (0 when it is missing or
/// not base64url).
fn rsa_bits(jwk: &Map<String, Value>) -> usize {
    let Some(n) = jwk
        .get("n")
        .and_then(Value::as_str)
        .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
    else {
        return 0;
    };
    match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i) * 8 - n[i].leading_zeros() as usize,
        None => 0,
    }
}

fn segment(part: &str) -> Result<Map<String, Value>, OAuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid("the proof is not a JWT"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("the proof is not a JWT")),
    }
}

/// The key of the proof's header, checked (§4.3 items 5-7): a supported
/// asymmetric `alg`, a public `jwk` whose type and curve fit it.
fn header_key(header: &Map<String, Value>) -> Result<(Algorithm, Map<String, Value>), OAuthError> {
    // §4.3 item 4: typ is dpop+jwt.
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(invalid("the proof's typ must be dpop+jwt"));
    }
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let (alg, kty, crv) = match alg_name {
        "ES256" => (Algorithm::ES256, "EC", Some("P-256")),
        "RS256" => (Algorithm::RS256, "RSA", None),
        "PS256" => (Algorithm::PS256, "RSA", None),
        "EdDSA" => (Algorithm::EdDSA, "OKP", Some("Ed25519")),
        _ => {
            return Err(invalid(
                "the proof's alg must be one of ES256, RS256, PS256, EdDSA",
            ))
        }
    };
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(invalid(
            "the proof's header must carry its public key (jwk)",
        ));
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the proof's jwk must not contain a private key"));
    }
    let fits = jwk.get("kty").and_then(Value::as_str) == Some(kty)
        && crv.is_none_or(|c| jwk.get("crv").and_then(Value::as_str) == Some(c));
    if !fits {
        return Err(invalid("the proof's jwk does not fit its alg"));
    }
    if kty == "RSA" && rsa_bits(jwk) < MIN_RSA_BITS {
        return Err(invalid("the proof's RSA key must have at least 2048 bits"));
    }
    Ok((alg, jwk.clone()))
}

/// Check the `DPoP` header values of a request (RFC 9449 §4.3). `None`: no
/// proof was sent. `nonce_key` is the server's derivation key (for
/// [`Rules::nonce_lifetime`]). Single use of the `jti` is left to
/// [`consume`], inside the request's transaction.
pub fn check(
    headers: &[&str],
    target: &Target,
    rules: &Rules,
    nonce_key: &[u8],
    now: i64,
) -> Result<Option<Proof>, OAuthError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => one.trim(),
        // §4.3 item 1: not more than one DPoP header.
        _ => return Err(invalid("more than one DPoP header")),
    };
    let mut parts = proof.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the proof is not a JWT"));
    };
    let header = segment(h)?;
    let (alg, jwk_map) = header_key(&header)?;
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk_map.clone()))
        .map_err(|_| invalid("the proof's jwk is not a usable key"))?;
    let key =
        DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the proof's jwk is not a usable key"))?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    // §4.3 item 6: the signature verifies with the header's key.
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|_| invalid("the proof's signature does not verify"))?
        .claims;

    // §4.3 item 3: every required claim.
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or_else(|| invalid("the proof needs a jti"))?;
    // §4.3 item 8: htm is the request's method.
    if text("htm") != Some(target.method) {
        return Err(invalid("the proof's htm is not this request's method"));
    }
    // §4.3 item 9.
    if !text("htu").is_some_and(|u| same_url(u, target.url)) {
        return Err(invalid("the proof's htu is not this endpoint"));
    }
    // §4.3 item 11 (and §11.1): iat within the acceptance window.
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the proof needs a numeric iat"))?;
    if iat < now - rules.window || iat > now + rules.window {
        return Err(invalid("the proof's iat is outside the acceptance window"));
    }
    // §4.3 item 10 / §8: the server's nonce, when it asks for one.
    if let Some(lifetime) = rules.nonce_lifetime {
        if !text("nonce").is_some_and(|n| nonce_ok(nonce_key, lifetime, now, n)) {
            return Err(use_nonce());
        }
    }
    // §4.3 item 12 / §7: at a resource, ath is the hash of the token.
    if let Some(token) = target.access_token {
        let ok = text("ath").is_some_and(|a| constant_time_eq(a.as_bytes(), ath(token).as_bytes()));
        if !ok {
            return Err(invalid("the proof's ath does not match the access token"));
        }
    }
    Ok(Some(Proof {
        jkt: thumbprint(&jwk_map)?,
        jti: jti.to_string(),
        iat,
    }))
}

/// RFC 9449 §11.1: a proof is used once. Its `jti` (per key) is recorded
/// until the proof could no longer be accepted anyway.
pub fn consume(tx: &mut impl JtiStore, proof: &Proof, rules: &Rules) -> Result<(), OAuthError> {
    let key = hash_token(&format!("dpop:{}:{}", proof.jkt, proof.jti));
    if tx.consume_jti(&key, proof.iat + rules.window)? {
        Ok(())
    } else {
        Err(invalid("the proof was already used"))
    }
}

/// A grant (`what`: a code, a refresh token) bound to the key `bound` is
/// good only with a proof by that key (RFC 9449 §5, §10): without a proof
/// `invalid_dpop_proof`, with another key's `invalid_grant`.
pub fn check_binding(
    bound: Option<&str>,
    request_jkt: Option<&str>,
    what: &str,
) -> Result<(), OAuthError> {
    match (bound, request_jkt) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(invalid(&format!(
            "this {what} is bound to a DPoP key: send a DPoP proof"
        ))),
        (Some(b), Some(j)) if same_key(b, j) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::with(
            ErrorCode::InvalidGrant,
            format!("the {what} is bound to another DPoP key"),
        )),
    }
}

/// RFC 9449 §10.1: a proof sent with a pushed authorization request binds
/// the code to its key, as `dpop_jkt` does; when both are sent they must
/// name the same key.
pub fn bind_pushed(
    params: &mut crate::params::Params,
    proof_jkt: Option<&str>,
) -> Result<(), OAuthError> {
    let Some(jkt) = proof_jkt else {
        return Ok(());
    };
    if params.get("dpop_jkt").is_some_and(|d| !same_key(d, jkt)) {
        return Err(invalid("dpop_jkt is not the key of the DPoP proof"));
    }
    params.set_if_absent("dpop_jkt", jkt.to_string());
    Ok(())
}

/// Are two thumbprints the same key?
pub fn same_key(a: &str, b: &str) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// RFC 9449 §5: the key a new refresh token is bound to. A public client's
/// is bound to the key of the request's proof; a confidential client's is
/// not ("already sender-constrained" by client authentication).
pub fn refresh_binding<'a>(client: &Client, request_jkt: Option<&'a str>) -> Option<&'a str> {
    request_jkt.filter(|_| client.is_public())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    use super::*;
    use crate::testing::MemStore;

    // Two P-256 keys made for these tests only.
    const KEY1: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAi91eYgoXH2mrwdo
AhMjOnZvEogrIvKbbJOgbEIjWfChRANCAATE1tyof6DH00iVAHkqhui+/+Bv4x5r
ya9YqBiuVRCv2kJq4JXT50lsNbsjDZk3VK/ZCMkWIdgrLy1IcjaU+7VC
-----END PRIVATE KEY-----";
    const X1: &str = "xNbcqH-gx9NIlQB5Kobovv_gb-Mea8mvWKgYrlUQr9o";
    const Y1: &str = "QmrgldPnSWw1uyMNmTdUr9kIyRYh2CsvLUhyNpT7tUI";
    const KEY2: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9IaeeK4gC2L66S+f
XpM1sYPNQhkhYdrMqlGMdOTTSiuhRANCAARI2H4pjlVApCzGOAmUp7mt2W4tw6j/
AzF4gdbmBbnRs2RsxhR2pVRYPkpmLyLKR2HeJW15s+3jfQKoh3X29uJb
-----END PRIVATE KEY-----";

    const NOW: i64 = 1_800_000_000;
    const URL: &str = "https://as.example/t/oauth/token";
    const NONCE_KEY: &[u8] = b"derivation key";

    fn rules() -> Rules {
        Rules {
            window: 60,
            nonce_lifetime: None,
        }
    }

    fn jwk() -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": X1, "y": Y1})
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// A JWT with this header and these claims, signed with `key` by `alg`.
    fn jwt(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
        format!("{input}.{sig}")
    }

    fn es256(pem: &str) -> EncodingKey {
        EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
    }

    fn header() -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk()})
    }

    fn claims() -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW})
    }

    /// A good proof, with `changes` applied to its claims.
    fn proof_with(changes: Value) -> String {
        let mut c = claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        jwt(&header(), &c, &es256(KEY1), Algorithm::ES256)
    }

    fn target() -> Target<'static> {
        Target {
            method: "POST",
            url: URL,
            access_token: None,
        }
    }

    fn run(proof: &str, target: &Target, rules: &Rules) -> Result<Option<Proof>, OAuthError> {
        check(&[proof], target, rules, NONCE_KEY, NOW)
    }

    fn refused(proof: &str, target: &Target, rules: &Rules) -> ErrorCode {
        run(proof, target, rules).unwrap_err().code
    }

    #[test]
    fn a_good_proof_gives_its_key_thumbprint() {
        let p = run(&proof_with(json!({})), &target(), &rules())
            .unwrap()
            .unwrap();
        assert_eq!(p.jti, "j-1");
        assert_eq!(p.iat, NOW);
        assert_eq!(p.jkt, thumbprint(jwk().as_object().unwrap()).unwrap());
        // No header: no proof, no error.
        assert_eq!(check(&[], &target(), &rules(), NONCE_KEY, NOW), Ok(None));
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn htm_and_htu_must_match_the_request() {
        let r = rules();
        let code = |c| refused(&proof_with(c), &target(), &r);
        assert_eq!(code(json!({"htm": "GET"})), ErrorCode::InvalidDpopProof);
        assert_eq!(
            code(json!({"htu": "https://as.example/t/oauth/userinfo"})),
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            code(json!({"htu": "https://other.example/t/oauth/token"})),
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(code(json!({"htm": null})), ErrorCode::InvalidDpopProof);
        assert_eq!(code(json!({"htu": null})), ErrorCode::InvalidDpopProof);
        assert_eq!(code(json!({"jti": null})), ErrorCode::InvalidDpopProof);
        // §4.3 item 9: query and fragment are ignored; the URL is normalized.
        for htu in [
            "https://as.example/t/oauth/token?x=1",
            "https://as.example/t/oauth/token#f",
            "HTTPS://AS.example:443/t/oauth/token",
        ] {
            assert!(
                run(&proof_with(json!({ "htu": htu })), &target(), &r).is_ok(),
                "{htu}"
            );
        }
    }

    #[test]
    fn iat_must_be_within_the_window() {
        let r = rules();
        let ok = |iat: i64| run(&proof_with(json!({ "iat": iat })), &target(), &r);
        assert!(ok(NOW - 60).is_ok());
        assert!(ok(NOW + 60).is_ok());
        assert_eq!(ok(NOW - 61).unwrap_err().code, ErrorCode::InvalidDpopProof);
        assert_eq!(ok(NOW + 61).unwrap_err().code, ErrorCode::InvalidDpopProof);
        let s = run(&proof_with(json!({"iat": "now"})), &target(), &r);
        assert_eq!(s.unwrap_err().code, ErrorCode::InvalidDpopProof);
    }

    #[test]
    fn a_proof_is_used_once() {
        let r = rules();
        let p = run(&proof_with(json!({})), &target(), &r).unwrap().unwrap();
        let mut store = MemStore::default();
        assert_eq!(consume(&mut store, &p, &r), Ok(()));
        assert_eq!(
            consume(&mut store, &p, &r).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
        // The same jti under another key is another proof.
        let other = Proof {
            jkt: "other".into(),
            ..p
        };
        assert_eq!(consume(&mut store, &other, &r), Ok(()));
    }

    #[test]
    fn only_asymmetric_algorithms_with_a_public_key() {
        let r = rules();
        let t = target();
        // alg none, unsigned.
        let none = format!(
            "{}.{}.",
            b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk()})),
            b64(&claims())
        );
        assert_eq!(refused(&none, &t, &r), ErrorCode::InvalidDpopProof);
        // HS256 with a symmetric key in the header.
        let secret = EncodingKey::from_secret(b"shared");
        let hs = jwt(
            &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2hhcmVk"}}),
            &claims(),
            &secret,
            Algorithm::HS256,
        );
        assert_eq!(refused(&hs, &t, &r), ErrorCode::InvalidDpopProof);
        // A private key in the jwk.
        let mut private = jwk();
        private["d"] = json!("AAAA");
        let leaked = jwt(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
            &claims(),
            &es256(KEY1),
            Algorithm::ES256,
        );
        assert_eq!(refused(&leaked, &t, &r), ErrorCode::InvalidDpopProof);
        // Another typ, no jwk, a jwk of another type than the alg's.
        for h in [
            json!({"typ": "JWT", "alg": "ES256", "jwk": jwk()}),
            json!({"typ": "dpop+jwt", "alg": "ES256"}),
            json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk()}),
        ] {
            let p = jwt(&h, &claims(), &es256(KEY1), Algorithm::ES256);
            assert_eq!(refused(&p, &t, &r), ErrorCode::InvalidDpopProof, "{h}");
        }
        // Not a JWT at all, and two headers.
        assert_eq!(refused("not.a.jwt", &t, &r), ErrorCode::InvalidDpopProof);
        let good = proof_with(json!({}));
        let two = check(&[&good, &good], &t, &r, NONCE_KEY, NOW);
        assert_eq!(two.unwrap_err().code, ErrorCode::InvalidDpopProof);
    }

    #[test]
    fn rsa_proof_keys_have_at_least_2048_bits() {
        let rsa = |bytes: usize| {
            let mut n = vec![0xffu8; bytes];
            n[0] = 0x80;
            json!({"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(&n)})
        };
        let key = |jwk: Value| {
            let h = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk});
            header_key(h.as_object().unwrap()).map(|_| ())
        };
        assert_eq!(rsa_bits(rsa(256).as_object().unwrap()), 2048);
        assert_eq!(key(rsa(256)), Ok(()));
        let short = key(rsa(128)).unwrap_err();
        assert_eq!(short.code, ErrorCode::InvalidDpopProof);
        assert!(short.description.unwrap().contains("2048"));
        // Under 2048 bits however long the encoding (a leading zero byte).
        let mut n = vec![0xffu8; 256];
        n[0] = 0;
        n[1] = 0x7f;
        let padded = json!({"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(&n)});
        assert!(key(padded).is_err());
        assert!(key(json!({"kty": "RSA", "e": "AQAB"})).is_err());
    }

    #[test]
    fn the_signature_must_be_by_the_header_key() {
        // Signed by key 2, claiming key 1.
        let forged = jwt(&header(), &claims(), &es256(KEY2), Algorithm::ES256);
        assert_eq!(
            refused(&forged, &target(), &rules()),
            ErrorCode::InvalidDpopProof
        );
        // A claim changed after signing.
        let good = proof_with(json!({}));
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW + 1})),
            parts[2]
        );
        assert_eq!(
            refused(&tampered, &target(), &rules()),
            ErrorCode::InvalidDpopProof
        );
    }

    #[test]
    fn at_a_resource_ath_must_hash_the_token() {
        let t = Target {
            method: "POST",
            url: URL,
            access_token: Some("the-token"),
        };
        let r = rules();
        assert_eq!(
            refused(&proof_with(json!({})), &t, &r),
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            refused(&proof_with(json!({"ath": ath("another")})), &t, &r),
            ErrorCode::InvalidDpopProof
        );
        assert!(run(&proof_with(json!({"ath": ath("the-token")})), &t, &r).is_ok());
    }

    #[test]
    fn a_required_nonce_is_the_current_or_previous_one() {
        let r = Rules {
            window: 60,
            nonce_lifetime: Some(300),
        };
        let t = target();
        assert_eq!(
            refused(&proof_with(json!({})), &t, &r),
            ErrorCode::UseDpopNonce
        );
        assert_eq!(
            refused(&proof_with(json!({"nonce": "made-up"})), &t, &r),
            ErrorCode::UseDpopNonce
        );
        let current = nonce(NONCE_KEY, 300, NOW);
        assert!(run(&proof_with(json!({ "nonce": current })), &t, &r).is_ok());
        let previous = nonce(NONCE_KEY, 300, NOW - 300);
        assert!(run(&proof_with(json!({ "nonce": previous })), &t, &r).is_ok());
        let older = nonce(NONCE_KEY, 300, NOW - 600);
        assert_eq!(
            refused(&proof_with(json!({ "nonce": older })), &t, &r),
            ErrorCode::UseDpopNonce
        );
        // Another server key: another nonce.
        assert_ne!(nonce(b"other", 300, NOW), current);
    }

    #[test]
    fn a_bound_grant_needs_a_proof_by_its_key() {
        assert_eq!(check_binding(None, None, "code"), Ok(()));
        assert_eq!(check_binding(None, Some("k"), "code"), Ok(()));
        assert_eq!(check_binding(Some("k"), Some("k"), "code"), Ok(()));
        let none = check_binding(Some("k"), None, "code").unwrap_err();
        assert_eq!(none.code, ErrorCode::InvalidDpopProof);
        let other = check_binding(Some("k"), Some("j"), "code").unwrap_err();
        assert_eq!(other.code, ErrorCode::InvalidGrant);
        // RFC 9449 §10: dpop_jkt is a thumbprint.
        assert!(is_thumbprint(
            &thumbprint(jwk().as_object().unwrap()).unwrap()
        ));
        assert!(!is_thumbprint("short"));
        assert!(!is_thumbprint(&format!("{}+", "a".repeat(42))));
    }

    #[test]
    fn a_proof_at_par_binds_the_code() {
        let parse = |pairs: &[(&str, &str)]| {
            crate::params::Params::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .unwrap()
        };
        let mut p = parse(&[("scope", "openid")]);
        bind_pushed(&mut p, None).unwrap();
        assert_eq!(p.get("dpop_jkt"), None);
        bind_pushed(&mut p, Some("k1")).unwrap();
        assert_eq!(p.get("dpop_jkt"), Some("k1"));
        let mut same = parse(&[("dpop_jkt", "k1")]);
        bind_pushed(&mut same, Some("k1")).unwrap();
        assert_eq!(same.get("dpop_jkt"), Some("k1"));
        let mut other = parse(&[("dpop_jkt", "k2")]);
        let e = bind_pushed(&mut other, Some("k1")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDpopProof);
    }
}

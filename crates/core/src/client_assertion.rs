//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521
//! §4.2, OpenID Connect Core §9): a JWT the client signs with a key it
//! registered (`jwks`) or publishes (`jwks_uri`). The checks here are pure:
//! the keys and `now` come in; fetching a `jwks_uri` is the server's work.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::ports::{ClientStore, JtiStore};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The members of `Client::metadata` holding the client's keys (RFC 7591 §2).
pub const JWKS: &str = "jwks";
pub const JWKS_URI: &str = "jwks_uri";

/// The algorithms an assertion may be signed with (never `none` or HS*),
/// for `token_endpoint_auth_signing_alg_values_supported`.
pub const ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY: i64 = 60;
/// The longest an assertion may live from now (RFC 7523 §3 (4) lets the
/// server bound it): five minutes.
pub const MAX_LIFETIME: i64 = 300;
/// At most this many keys in a registered or fetched set.
pub const MAX_KEYS: usize = 20;
/// An assertion longer than this is refused unread.
const MAX_ASSERTION_LEN: usize = 8192;

fn invalid_client(msg: &str) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidClient, msg)
}

/// Where a client's keys are.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientKeys {
    /// Registered with the client (`jwks`).
    Inline(JwkSet),
    /// Published at this URL (`jwks_uri`), fetched by the server.
    Uri(String),
}

/// `metadata` with the client's keys set from the RFC 7591 §2 members
/// `jwks` or `jwks_uri` given beside it (CLI flags, admin API fields): the
/// one given replaces either kind already there (rotating keys). Both given
/// are kept, for [`crate::clients`] to refuse. A `metadata` that is not an
/// object comes back as it is, for the same checks to refuse.
pub fn with_keys(
    metadata: Option<Value>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
) -> Option<Value> {
    if jwks.is_none() && jwks_uri.is_none() {
        return metadata;
    }
    let mut metadata = metadata.unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(obj) = metadata.as_object_mut() {
        obj.remove(JWKS);
        obj.remove(JWKS_URI);
        if let Some(set) = jwks {
            obj.insert(JWKS.into(), set);
        }
        if let Some(uri) = jwks_uri {
            obj.insert(JWKS_URI.into(), Value::String(uri));
        }
    }
    Some(metadata)
}

/// The keys of a `private_key_jwt` client, from its metadata.
pub fn client_keys(client: &Client) -> Option<ClientKeys> {
    if let Some(uri) = client.metadata.get(JWKS_URI).and_then(Value::as_str) {
        return Some(ClientKeys::Uri(uri.to_string()));
    }
    let set = client.metadata.get(JWKS)?;
    parse_jwks(set).ok().map(ClientKeys::Inline)
}

/// A JWK Set (RFC 7517 §5) a client may use: 1 to [`MAX_KEYS`] public
/// keys, each of a type some allowed algorithm uses (no symmetric keys,
/// no private members).
pub fn parse_jwks(value: &Value) -> Result<JwkSet, String> {
    let keys = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("jwks must be a JWK Set: an object with a keys array")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold 1 to {MAX_KEYS} keys"));
    }
    for key in keys {
        // RFC 7517 §4, RFC 7518 §6.3.2 and §6.2.2: private key members.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| key.get(*m).is_some())
        {
            return Err("jwks must hold public keys only".into());
        }
    }
    let set: JwkSet =
        serde_json::from_value(value.clone()).map_err(|e| format!("jwks is not a JWK Set: {e}"))?;
    if let Some(bad) = set.keys.iter().find(|k| key_algorithms(k).is_empty()) {
        let kid = bad.common.key_id.as_deref().unwrap_or("(no kid)");
        return Err(format!(
            "jwks: key {kid} is not an RSA, P-256 or Ed25519 public key"
        ));
    }
    Ok(set)
}

/// The algorithms a key may verify (RFC 7518 §3.1, RFC 8037 §3.1).
fn key_algorithms(jwk: &Jwk) -> &'static [Algorithm] {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[Algorithm::RS256, Algorithm::PS256],
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            &[Algorithm::ES256]
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        _ => &[],
    }
}

/// The `kid` in an assertion's header, read without checking anything (to
/// choose whether fetched keys are stale).
pub fn header_kid(assertion: &str) -> Option<String> {
    jsonwebtoken::decode_header(assertion).ok()?.kid
}

/// The key under which a used assertion is kept (RFC 7523 §3 (7): the
/// `jti` is single-use per client).
pub fn jti_key(client_id: &str, jti: &str) -> String {
    hex(&Sha256::digest(
        format!("private_key_jwt:{client_id}:{jti}").as_bytes(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A checked assertion: what its single use is recorded under, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti_key: String,
    pub expires_at: i64,
}

/// Check `assertion` (RFC 7523 §3) for `client_id`: signed by one of `keys`
/// with an allowed algorithm, `iss` and `sub` the client id, `aud`
/// containing one of `audiences` (the token endpoint URL or the issuer),
/// `exp` present, not past and at most [`MAX_LIFETIME`] ahead, `nbf` and
/// `iat` not in the future, and a `jti`. Every refusal is `invalid_client`.
pub fn verify(
    assertion: &str,
    client_id: &str,
    keys: &JwkSet,
    audiences: &[String],
    now: i64,
) -> Result<Verified, OAuthError> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(invalid_client("client_assertion is too long"));
    }
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid_client("client_assertion is not a signed JWT"))?;
    if !ALGORITHMS.contains(&alg_name(header.alg)) {
        return Err(invalid_client(
            "client_assertion alg must be RS256, PS256, ES256 or EdDSA",
        ));
    }
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| key_algorithms(k).contains(&header.alg))
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == alg_name(header.alg))
        })
        .collect();
    if candidates.is_empty() {
        return Err(invalid_client(
            "no registered key of the client matches the client_assertion's kid and alg",
        ));
    }
    let mut validation = Validation::new(header.alg);
    // Claims are checked below against `now`, not the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = candidates
        .iter()
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .find_map(|key| jsonwebtoken::decode::<Value>(assertion, &key, &validation).ok())
        .ok_or_else(|| invalid_client("client_assertion signature does not verify"))?
        .claims;
    check_claims(&claims, client_id, audiences, now)
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::PS256 => "PS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "",
    }
}

/// RFC 7523 §3 (1)-(7) on verified claims.
fn check_claims(
    claims: &Value,
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> Result<Verified, OAuthError> {
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let time = |k: &str| claims.get(k).and_then(Value::as_i64);
    // RFC 7523 §3 (1), (2); OIDC Core §9: iss and sub are the client_id.
    if text("iss") != Some(client_id) {
        return Err(invalid_client("client_assertion iss must be the client_id"));
    }
    if text("sub") != Some(client_id) {
        return Err(invalid_client("client_assertion sub must be the client_id"));
    }
    // RFC 7523 §3 (3): aud identifies this server.
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_client(
            "client_assertion aud must be the token endpoint or the issuer",
        ));
    }
    // RFC 7523 §3 (4): exp is required, and bounded here.
    let exp = time("exp").ok_or_else(|| invalid_client("client_assertion needs exp"))?;
    if exp + LEEWAY <= now {
        return Err(invalid_client("client_assertion has expired"));
    }
    if exp > now + MAX_LIFETIME + LEEWAY {
        return Err(invalid_client(
            "client_assertion exp is too far ahead (at most 5 minutes)",
        ));
    }
    // RFC 7523 §3 (5), (6): not before, issued at.
    for claim in ["nbf", "iat"] {
        match claims.get(claim) {
            None => {}
            Some(v) => match v.as_i64() {
                Some(t) if t <= now + LEEWAY => {}
                _ => {
                    return Err(invalid_client(
                        "client_assertion nbf or iat is in the future or not a number",
                    ))
                }
            },
        }
    }
    // RFC 7523 §3 (7), OIDC Core §9: jti is required here, and single-use.
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid_client("client_assertion needs a jti"))?;
    Ok(Verified {
        jti_key: jti_key(client_id, jti),
        // Kept while the assertion could still be accepted.
        expires_at: exp + LEEWAY,
    })
}

/// Authenticate a `private_key_jwt` client by its assertion: the client
/// must exist, be enabled and use `private_key_jwt`; the assertion must
/// verify against its registered keys, or `fetched` (its `jwks_uri` keys,
/// fetched by the caller); its `jti` is then used up.
pub fn authenticate(
    tx: &mut (impl ClientStore + JtiStore),
    client_id: &str,
    assertion: &str,
    fetched: Option<&JwkSet>,
    audiences: &[String],
    now: i64,
) -> Result<Client, OAuthError> {
    let client = tx
        .get_client(client_id)?
        .ok_or_else(|| invalid_client("unknown client or wrong credentials"))?;
    if client.disabled {
        return Err(invalid_client("client is disabled"));
    }
    if client.auth_method != crate::model::ClientAuthMethod::PrivateKeyJwt {
        return Err(invalid_client(
            "this client does not authenticate with private_key_jwt",
        ));
    }
    let keys = match client_keys(&client) {
        Some(ClientKeys::Inline(set)) => set,
        Some(ClientKeys::Uri(_)) => fetched
            .cloned()
            .ok_or_else(|| invalid_client("the client's jwks_uri could not be read"))?,
        None => return Err(invalid_client("the client has no keys registered")),
    };
    let verified = verify(assertion, client_id, &keys, audiences, now)?;
    if !tx.consume_jti(&verified.jti_key, verified.expires_at)? {
        return Err(invalid_client("client_assertion has already been used"));
    }
    Ok(client)
}

/// Why a client's `jwks_uri` cannot be used (`invalid_client`).
pub fn jwks_uri_refused(why: &str) -> OAuthError {
    OAuthError::with(
        ErrorCode::InvalidClient,
        format!("the client's jwks_uri cannot be used: {why}"),
    )
}

/// The `jwks_uri` to fetch: https, with a host and no credentials or
/// fragment; `allow_http_loopback` (development) also takes plain http on a
/// loopback host.
pub fn jwks_url(uri: &str, allow_http_loopback: bool) -> Result<url::Url, OAuthError> {
    let url = url::Url::parse(uri).map_err(|_| jwks_uri_refused("it is not a valid URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http_loopback && crate::redirect::is_loopback(&url) => {}
        _ => return Err(jwks_uri_refused("it must use https")),
    }
    if url.host().is_none()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(jwks_uri_refused(
            "it must have a host, and no fragment or credentials",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::client_auth::{self, Credentials};
    use crate::clients::ClientSpec;
    use crate::model::{ClientAuthMethod, GrantType};
    use crate::params::Params;
    use crate::ports::ClientStore;
    use crate::testing::keys::*;
    use crate::testing::Harness;

    const NOW: i64 = 1_800_000_000;
    const TOKEN_URL: &str = "https://as.example/t/oauth/token";
    const ISSUER: &str = "https://as.example/t";

    fn audiences() -> Vec<String> {
        vec![TOKEN_URL.to_string(), ISSUER.to_string()]
    }

    /// The public keys of the test keys, with kids `rsa`, `ec` and `ed`.
    fn jwks() -> Value {
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "n": RSA_N, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": EC_X, "y": EC_Y},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": ED_X},
        ]})
    }

    fn key_set() -> JwkSet {
        parse_jwks(&jwks()).unwrap()
    }

    fn claims(id: &str) -> Value {
        json!({"iss": id, "sub": id, "aud": TOKEN_URL, "exp": NOW + 60, "iat": NOW, "jti": "a-1"})
    }

    /// `claims` with `changes` applied (a null removes the claim).
    fn changed(id: &str, changes: Value) -> Value {
        let mut c = claims(id);
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn sign(alg: Algorithm, kid: &str, claims: &Value) -> String {
        let key = match alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PEM.as_bytes()),
            _ => Ok(EncodingKey::from_secret(b"a shared secret")),
        }
        .unwrap();
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn es256(claims: &Value) -> String {
        sign(Algorithm::ES256, "ec", claims)
    }

    fn refusal(assertion: &str) -> String {
        let err = verify(assertion, "c1", &key_set(), &audiences(), NOW).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient, "{err:?}");
        err.description.unwrap_or_default()
    }

    #[test]
    fn each_allowed_algorithm_verifies_with_its_key() {
        for (alg, kid) in [
            (Algorithm::RS256, "rsa"),
            (Algorithm::PS256, "rsa"),
            (Algorithm::ES256, "ec"),
            (Algorithm::EdDSA, "ed"),
        ] {
            let v = verify(
                &sign(alg, kid, &claims("c1")),
                "c1",
                &key_set(),
                &audiences(),
                NOW,
            )
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
            assert_eq!(v.jti_key, jti_key("c1", "a-1"));
            assert_eq!(v.expires_at, NOW + 60 + LEEWAY);
        }
        // Without a kid, every key of a fitting type is tried.
        let mut header = Header::new(Algorithm::ES256);
        header.kid = None;
        let key = EncodingKey::from_ec_pem(EC_PEM.as_bytes()).unwrap();
        let no_kid = jsonwebtoken::encode(&header, &claims("c1"), &key).unwrap();
        assert!(verify(&no_kid, "c1", &key_set(), &audiences(), NOW).is_ok());
        // The issuer is an accepted audience too, also inside an array.
        let aud = changed("c1", json!({"aud": ["https://other.example", ISSUER]}));
        assert!(verify(&es256(&aud), "c1", &key_set(), &audiences(), NOW).is_ok());
    }

    #[test]
    fn iss_sub_and_aud_must_name_the_client_and_this_server() {
        assert!(refusal(&es256(&changed("c1", json!({"iss": "c2"})))).contains("iss"));
        assert!(refusal(&es256(&changed("c1", json!({"iss": null})))).contains("iss"));
        assert!(refusal(&es256(&changed("c1", json!({"sub": "c2"})))).contains("sub"));
        // Signed for another client: its iss and sub are not this client.
        assert!(refusal(&es256(&claims("c2"))).contains("iss"));
        for aud in [
            json!("https://as.example/t/oauth/introspect"),
            json!(["https://elsewhere.example/token"]),
            json!(null),
            json!(42),
        ] {
            let msg = refusal(&es256(&changed("c1", json!({ "aud": aud }))));
            assert!(msg.contains("aud"), "{aud}: {msg}");
        }
    }

    #[test]
    fn exp_is_required_not_past_and_at_most_five_minutes_ahead() {
        assert!(refusal(&es256(&changed("c1", json!({"exp": null})))).contains("exp"));
        assert!(refusal(&es256(&changed("c1", json!({"exp": "soon"})))).contains("exp"));
        let past = changed("c1", json!({"exp": NOW - LEEWAY - 1}));
        assert!(refusal(&es256(&past)).contains("expired"));
        let far = changed("c1", json!({"exp": NOW + MAX_LIFETIME + LEEWAY + 1}));
        assert!(refusal(&es256(&far)).contains("too far"));
        // Within the leeway either way is still accepted.
        for exp in [NOW - LEEWAY + 1, NOW + MAX_LIFETIME + LEEWAY] {
            let ok = changed("c1", json!({ "exp": exp }));
            assert!(verify(&es256(&ok), "c1", &key_set(), &audiences(), NOW).is_ok());
        }
        for claim in ["nbf", "iat"] {
            let future = changed("c1", json!({ claim: NOW + LEEWAY + 1 }));
            assert!(refusal(&es256(&future)).contains("future"), "{claim}");
        }
    }

    #[test]
    fn jti_is_required() {
        assert!(refusal(&es256(&changed("c1", json!({"jti": null})))).contains("jti"));
        assert!(refusal(&es256(&changed("c1", json!({"jti": ""})))).contains("jti"));
        let long = "j".repeat(257);
        assert!(refusal(&es256(&changed("c1", json!({ "jti": long })))).contains("jti"));
    }

    #[test]
    fn only_the_registered_keys_and_asymmetric_algorithms_are_accepted() {
        // HS256 with a "secret" (for instance the public key's bytes).
        assert!(refusal(&sign(Algorithm::HS256, "rsa", &claims("c1"))).contains("alg"));
        // alg none, unsigned.
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims("c1")));
        assert_eq!(
            verify(&none, "c1", &key_set(), &audiences(), NOW)
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
        // An unknown kid, and a kid whose key is of another type.
        assert!(refusal(&sign(Algorithm::ES256, "nope", &claims("c1"))).contains("kid"));
        assert!(refusal(&sign(Algorithm::ES256, "rsa", &claims("c1"))).contains("kid"));
        // Signed by a key that is not the client's, under its kid.
        let other = json!({"keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256",
             "x": "xNbcqH-gx9NIlQB5Kobovv_gb-Mea8mvWKgYrlUQr9o",
             "y": "QmrgldPnSWw1uyMNmTdUr9kIyRYh2CsvLUhyNpT7tUI"},
        ]});
        let err = verify(
            &es256(&claims("c1")),
            "c1",
            &parse_jwks(&other).unwrap(),
            &audiences(),
            NOW,
        )
        .unwrap_err();
        assert!(err.description.unwrap().contains("signature"));
        // A tampered payload does not verify.
        let good = es256(&claims("c1"));
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&changed("c1", json!({"jti": "other"}))),
            parts[2]
        );
        assert!(refusal(&forged).contains("signature"));
        // A key that names another alg is not used for this one.
        let pinned = json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "alg": "PS256", "n": RSA_N, "e": "AQAB"},
        ]});
        let err = verify(
            &sign(Algorithm::RS256, "rsa", &claims("c1")),
            "c1",
            &parse_jwks(&pinned).unwrap(),
            &audiences(),
            NOW,
        )
        .unwrap_err();
        assert!(err.description.unwrap().contains("kid"));
        // Garbage and oversized assertions.
        assert!(refusal("not.a.jwt").contains("JWT"));
        assert!(refusal(&"a".repeat(MAX_ASSERTION_LEN + 1)).contains("too long"));
    }

    #[test]
    fn registered_key_sets_hold_public_keys_of_usable_types() {
        assert!(parse_jwks(&jwks()).is_ok());
        let cases = [
            json!([]),
            json!({"keys": []}),
            json!({"keys": "x"}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": [{"kty": "RSA", "n": RSA_N, "e": "AQAB", "d": "private"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-384", "x": EC_X, "y": EC_Y}]}),
            json!({"keys": [{"kty": "RSA"}]}),
            json!({"keys": vec![json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X}); MAX_KEYS + 1]}),
        ];
        for bad in cases {
            assert!(parse_jwks(&bad).is_err(), "{bad}");
        }
    }

    fn key_client(h: &mut Harness, metadata: Value) -> Client {
        h.client(ClientSpec {
            name: "signed".into(),
            grant_types: Some(vec![GrantType::ClientCredentials]),
            auth_method: Some(ClientAuthMethod::PrivateKeyJwt),
            metadata: Some(metadata),
            ..Default::default()
        })
        .0
    }

    #[test]
    fn authenticate_uses_up_the_jti_and_checks_the_client() {
        let mut h = Harness::default();
        let client = key_client(&mut h, json!({ "jwks": jwks() }));
        let id = client.id.clone();
        let a = es256(&claims(&id));
        let auth = |h: &mut Harness, a: &str, fetched: Option<&JwkSet>| {
            authenticate(&mut h.store, &id, a, fetched, &audiences(), NOW)
        };
        assert_eq!(auth(&mut h, &a, None).unwrap().id, id);
        // RFC 7523 §3 (7): the same assertion again is a replay.
        let again = auth(&mut h, &a, None).unwrap_err();
        assert!(again.description.unwrap().contains("already been used"));
        // Another jti is fine; a jti is per client (another client may use it).
        let b = es256(&changed(&id, json!({"jti": "a-2"})));
        assert!(auth(&mut h, &b, None).is_ok());
        let other = key_client(&mut h, json!({ "jwks": jwks() }));
        let c = es256(&claims(&other.id));
        assert!(authenticate(&mut h.store, &other.id, &c, None, &audiences(), NOW).is_ok());

        // Unknown and disabled clients, and a secret client.
        let d = es256(&changed(&id, json!({"jti": "a-3"})));
        assert!(authenticate(&mut h.store, "nobody", &d, None, &audiences(), NOW).is_err());
        let mut off = h.store.get_client(&id).unwrap().unwrap();
        off.disabled = true;
        h.store.update_client(&off).unwrap();
        let err = auth(&mut h, &d, None).unwrap_err();
        assert!(err.description.unwrap().contains("disabled"));
        let secret = h.client(ClientSpec {
            name: "secret".into(),
            grant_types: Some(vec![GrantType::ClientCredentials]),
            metadata: Some(json!({ "jwks": jwks() })),
            ..Default::default()
        });
        let s = es256(&claims(&secret.0.id));
        let err =
            authenticate(&mut h.store, &secret.0.id, &s, None, &audiences(), NOW).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient);
        assert!(err.description.unwrap().contains("does not authenticate"));
    }

    #[test]
    fn a_jwks_uri_client_needs_the_fetched_keys() {
        let mut h = Harness::default();
        let client = key_client(&mut h, json!({"jwks_uri": "https://client.example/jwks"}));
        assert_eq!(
            client_keys(&client),
            Some(ClientKeys::Uri("https://client.example/jwks".into()))
        );
        let a = es256(&claims(&client.id));
        let err = authenticate(&mut h.store, &client.id, &a, None, &audiences(), NOW).unwrap_err();
        assert!(err.description.unwrap().contains("jwks_uri"));
        let set = key_set();
        assert!(authenticate(&mut h.store, &client.id, &a, Some(&set), &audiences(), NOW).is_ok());
    }

    #[test]
    fn registration_needs_keys_for_private_key_jwt() {
        let mut rng = crate::testing::SeqRandom(1);
        let spec = |metadata: Value| ClientSpec {
            name: "k".into(),
            grant_types: Some(vec![GrantType::ClientCredentials]),
            auth_method: Some(ClientAuthMethod::PrivateKeyJwt),
            metadata: Some(metadata),
            ..Default::default()
        };
        let made =
            crate::clients::new_client(spec(json!({ "jwks": jwks() })), NOW, &mut rng).unwrap();
        // Its keys are public: no secret is made.
        assert!(made.secret.is_none() && made.client.secret_hash.is_none());
        for bad in [
            json!({}),
            json!({"jwks": jwks(), "jwks_uri": "https://c.example/jwks"}),
            json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            json!({"jwks_uri": "ftp://c.example/jwks"}),
            json!({"jwks_uri": "https://c.example/jwks#frag"}),
        ] {
            let err = crate::clients::new_client(spec(bad.clone()), NOW, &mut rng)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(err.code, ErrorCode::InvalidClientMetadata, "{bad}");
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn a_request_carries_one_assertion_and_nothing_else() {
        let a = es256(&claims("c1"));
        let creds = client_auth::credentials(
            None,
            &params(&[
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &a),
            ]),
        )
        .unwrap();
        // Without client_id, the assertion's sub names the client.
        assert_eq!(
            creds,
            Credentials::Assertion {
                id: "c1".into(),
                assertion: a.clone()
            }
        );
        let with_id = params(&[
            ("client_id", "c9"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ]);
        assert_eq!(
            client_auth::credentials(None, &with_id)
                .unwrap()
                .client_id(),
            Some("c9")
        );
        let basic = Some(("c1".to_string(), "s".to_string()));
        let both = params(&[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ]);
        assert_eq!(
            client_auth::credentials(basic, &both).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let secret = params(&[
            ("client_secret", "s"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ]);
        assert_eq!(
            client_auth::credentials(None, &secret).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let half = params(&[("client_assertion", &a)]);
        assert_eq!(
            client_auth::credentials(None, &half).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let saml = params(&[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &a),
        ]);
        assert_eq!(
            client_auth::credentials(None, &saml).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let nameless = params(&[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", "x.y.z"),
        ]);
        assert_eq!(
            client_auth::credentials(None, &nameless).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn only_checked_assertions_authenticate_a_key_client() {
        let mut h = Harness::default();
        let client = key_client(&mut h, json!({ "jwks": jwks() }));
        let id = client.id.clone();
        // An unchecked assertion or a bare client_id never authenticates it.
        for creds in [
            Credentials::Assertion {
                id: id.clone(),
                assertion: es256(&claims(&id)),
            },
            Credentials::IdOnly { id: id.clone() },
            Credentials::Post {
                id: id.clone(),
                secret: String::new(),
            },
        ] {
            let err = client_auth::authenticate(&mut h.store, &creds, NOW).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClient, "{creds:?}");
        }
        let ok =
            client_auth::authenticate(&mut h.store, &Credentials::Asserted { id: id.clone() }, NOW);
        assert_eq!(ok.unwrap().id, id);
    }

    #[test]
    fn a_jwks_uri_must_be_https_without_credentials_or_fragment() {
        assert!(jwks_url("https://c.example/jwks", false).is_ok());
        assert!(jwks_url("http://127.0.0.1:8080/jwks", true).is_ok());
        for bad in [
            "http://c.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "https://user:pw@c.example/jwks",
            "https://c.example/jwks#k",
            "file:///etc/passwd",
            "not a url",
        ] {
            let err = jwks_url(bad, false).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClient, "{bad}");
        }
        assert!(jwks_url("http://c.example/jwks", true).is_err());
    }
}

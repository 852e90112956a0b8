//! Signing keys: generation (RS256, ES256, EdDSA), the public JWK, storage
//! (encrypted at rest when configured) and the in-memory key ring that signs.
//! Which key signs and which are published is core's schedule
//! (`portcullis_core::keys`); this module holds the material.

use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use portcullis_core::keys as schedule;
use portcullis_core::model::{SigningAlg, SigningKey};
use portcullis_core::ports::{KeyStore, SecretStore, StoreError};
use portcullis_storage::Store;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::crypto::{SealError, SecretBox};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key {kid} cannot be read: {cause}")]
    Load { kid: String, cause: String },
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no active {0} signing key")]
    NoKey(SigningAlg),
    #[error("signing failed")]
    Sign,
}

/// A newly generated key: its PKCS#8 DER and public JWK (with kid, alg, use).
pub struct Generated {
    pub kid: String,
    pub pkcs8_der: Vec<u8>,
    pub public_jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in
/// lexicographic order, base64url. Used as `kid`.
fn thumbprint(required: &Value) -> String {
    // serde_json's Map keeps keys sorted (no preserve_order feature), which
    // is the order RFC 7638 §3.2 asks for.
    let canonical = required.to_string();
    b64(&Sha256::digest(canonical.as_bytes()))
}

fn finish(alg: SigningAlg, required: Value, pkcs8_der: Vec<u8>) -> Generated {
    let kid = thumbprint(&required);
    let mut jwk = required;
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("kid".into(), json!(kid));
        obj.insert("alg".into(), json!(alg.as_str()));
        obj.insert("use".into(), json!("sig"));
    }
    Generated {
        kid,
        pkcs8_der,
        public_jwk: jwk,
    }
}

pub fn generate(alg: SigningAlg) -> Result<Generated, KeyError> {
    let rng = SystemRandom::new();
    let gen_err = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    match alg {
        SigningAlg::Rs256 => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key =
                rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, 2048).map_err(|e| gen_err(&e))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| gen_err(&e))?
                .as_bytes()
                .to_vec();
            let required = json!({"e": b64(&key.e().to_bytes_be()), "kty": "RSA", "n": b64(&key.n().to_bytes_be())});
            Ok(finish(alg, required, der))
        }
        SigningAlg::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| gen_err(&e))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|e| gen_err(&e))?;
            // Uncompressed point: 0x04 || x (32) || y (32).
            let point = pair.public_key().as_ref();
            let (x, y) = match (point.get(1..33), point.get(33..65)) {
                (Some(x), Some(y)) => (x, y),
                _ => return Err(KeyError::Generate("unexpected EC point".into())),
            };
            let required = json!({"crv": "P-256", "kty": "EC", "x": b64(x), "y": b64(y)});
            Ok(finish(alg, required, doc.as_ref().to_vec()))
        }
        SigningAlg::EdDsa => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| gen_err(&e))?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|e| gen_err(&e))?;
            let required =
                json!({"crv": "Ed25519", "kty": "OKP", "x": b64(pair.public_key().as_ref())});
            Ok(finish(alg, required, doc.as_ref().to_vec()))
        }
    }
}

fn to_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

fn from_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).ok()
}

/// A record ready to store: the private key as PKCS#8 PEM, sealed.
pub fn to_record(
    g: &Generated,
    alg: SigningAlg,
    sealer: &SecretBox,
    now: i64,
    activates_at: i64,
) -> Result<SigningKey, KeyError> {
    Ok(SigningKey {
        kid: g.kid.clone(),
        alg,
        private_key: sealer.seal(&to_pem(&g.pkcs8_der))?,
        public_jwk: g.public_jwk.to_string(),
        created_at: now,
        activates_at,
        retires_at: None,
    })
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct Loaded {
    record: SigningKey,
    jwk: Value,
    signer: Signer,
    /// The public key in the form aws-lc-rs verifies with.
    public: Vec<u8>,
}

/// Every stored key, parsed once (signing never re-parses a key).
pub struct KeyRing {
    keys: Vec<Loaded>,
    rng: SystemRandom,
}

impl KeyRing {
    pub fn load(records: Vec<SigningKey>, sealer: &SecretBox) -> Result<KeyRing, KeyError> {
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let load_err = |cause: String| KeyError::Load {
                kid: record.kid.clone(),
                cause,
            };
            let pem = sealer.open(&record.private_key)?;
            let der = from_pem(&pem).ok_or_else(|| load_err("not PEM".into()))?;
            let signer = match record.alg {
                SigningAlg::Rs256 => RsaKeyPair::from_pkcs8(&der)
                    .map(Signer::Rsa)
                    .map_err(|e| load_err(e.to_string()))?,
                SigningAlg::Es256 => {
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                        .map(Signer::Ec)
                        .map_err(|e| load_err(e.to_string()))?
                }
                SigningAlg::EdDsa => Ed25519KeyPair::from_pkcs8(&der)
                    .map(Signer::Ed)
                    .map_err(|e| load_err(e.to_string()))?,
            };
            let jwk =
                serde_json::from_str(&record.public_jwk).map_err(|e| load_err(e.to_string()))?;
            let public = match &signer {
                Signer::Rsa(k) => k.public_key().as_ref().to_vec(),
                Signer::Ec(k) => k.public_key().as_ref().to_vec(),
                Signer::Ed(k) => k.public_key().as_ref().to_vec(),
            };
            keys.push(Loaded {
                record,
                jwk,
                signer,
                public,
            });
        }
        Ok(KeyRing {
            keys,
            rng: SystemRandom::new(),
        })
    }

    pub fn records(&self) -> Vec<SigningKey> {
        self.keys.iter().map(|k| k.record.clone()).collect()
    }

    /// The JWKS document at `now`: public keys only (RFC 7517 §5).
    pub fn jwks(&self, now: i64) -> Value {
        let records = self.records();
        let published: Vec<&Value> = schedule::published_keys(&records, now)
            .filter_map(|r| {
                self.keys
                    .iter()
                    .find(|k| k.record.kid == r.kid)
                    .map(|k| &k.jwk)
            })
            .collect();
        json!({ "keys": published })
    }

    /// Sign a JWS (compact serialization) with the active key for `alg`.
    /// `typ` goes into the header (`JWT`, `at+jwt`, ...).
    pub fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &Value,
        now: i64,
    ) -> Result<String, KeyError> {
        let records = self.records();
        let active = schedule::signing_key(&records, alg, now).ok_or(KeyError::NoKey(alg))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.record.kid == active.kid)
            .ok_or(KeyError::NoKey(alg))?;
        let header = json!({"alg": alg.as_str(), "typ": typ, "kid": key.record.kid});
        let mut input = b64(header.to_string().as_bytes());
        input.push('.');
        input.push_str(&b64(claims.to_string().as_bytes()));
        let sig = match &key.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                sig
            }
            Signer::Ec(k) => k
                .sign(&self.rng, input.as_bytes())
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec(),
            Signer::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        input.push('.');
        input.push_str(&b64(&sig));
        Ok(input)
    }
}

impl KeyRing {
    /// Verify a compact JWS made by one of our published keys, with the
    /// expected `typ`, issued by `issuer` and not expired at `now`. Returns
    /// its claims.
    pub fn verify(&self, token: &str, typ: &str, issuer: &str, now: i64) -> Option<Value> {
        let claims = self.verify_any_age(token, typ, issuer)?;
        (claims.get("exp")?.as_i64()? > now).then_some(claims)
    }

    /// Like [`KeyRing::verify`] without the expiry check (an expired ID
    /// token is still a fine `id_token_hint`). Retired keys still count.
    pub fn verify_any_age(&self, token: &str, typ: &str, issuer: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let key = self.keys.iter().find(|k| k.record.kid == kid)?;
        if header.get("alg")?.as_str()? != key.record.alg.as_str()
            || header.get("typ")?.as_str()? != typ
        {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let signed = &token[..h.len() + 1 + p.len()];
        let alg: &dyn aws_lc_rs::signature::VerificationAlgorithm = match key.record.alg {
            SigningAlg::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::Es256 => &ECDSA_P256_SHA256_FIXED,
            SigningAlg::EdDsa => &ED25519,
        };
        UnparsedPublicKey::new(alg, &key.public)
            .verify(signed.as_bytes(), &sig)
            .ok()?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        (claims.get("iss")?.as_str()? == issuer).then_some(claims)
    }
}

/// Core's `Signer` port over a key ring at one instant.
pub struct RingSigner {
    pub ring: Arc<KeyRing>,
    pub now: i64,
}

impl portcullis_core::ports::Signer for RingSigner {
    fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &Value,
    ) -> Result<String, portcullis_core::OAuthError> {
        self.ring
            .sign(alg, typ, claims, self.now)
            .map_err(|e| portcullis_core::OAuthError::server(e.to_string()))
    }
}

/// A signer for the inside of a write transaction: it records what to sign
/// and answers a placeholder, and [`DeferredSigner::finish`] signs after the
/// commit. A signature (RS256: about 0.3–0.4 ms) made inside the transaction
/// would hold SQLite's only write lock all that time; signed afterwards,
/// signatures run on every core while the next transaction writes.
/// Core decides the claims either way; they are signed unchanged, except
/// an ID token's `at_hash` over a placeholder, which is recomputed over the
/// access token it stands for (OIDC Core §3.1.3.6).
pub struct DeferredSigner {
    jobs: std::cell::RefCell<Vec<(SigningAlg, String, Value)>>,
}

/// What a deferred signature stands in for until it is made; never sent.
const PENDING_JWS: &str = "\u{1}pending-jws:";

fn pending_jws(i: usize) -> String {
    format!("{PENDING_JWS}{i}")
}

impl DeferredSigner {
    pub fn new() -> DeferredSigner {
        DeferredSigner {
            jobs: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Nothing was recorded: there is nothing to sign.
    pub fn is_empty(&self) -> bool {
        self.jobs.borrow().is_empty()
    }

    /// Every recorded signature is an elliptic-curve one (ES256, EdDSA:
    /// tens of µs), none RSA (hundreds).
    pub fn is_cheap(&self) -> bool {
        self.jobs
            .borrow()
            .iter()
            .all(|(alg, _, _)| matches!(alg, SigningAlg::Es256 | SigningAlg::EdDsa))
    }

    /// Make the recorded signatures (in order) and put each in place of its
    /// placeholder among `fields`. A placeholder left without a signature
    /// is an error, never an answer.
    pub fn finish(
        self,
        signer: &RingSigner,
        fields: &mut [&mut String],
    ) -> Result<(), portcullis_core::OAuthError> {
        use portcullis_core::ports::Signer;
        let mut signed: Vec<String> = Vec::new();
        for (alg, typ, mut claims) in self.jobs.into_inner() {
            let real_at = claims
                .get("at_hash")
                .and_then(Value::as_str)
                .and_then(|h| {
                    (0..signed.len())
                        .find(|k| portcullis_core::tokens::at_hash(alg, &pending_jws(*k)) == h)
                })
                .and_then(|k| signed.get(k))
                .map(|access| portcullis_core::tokens::at_hash(alg, access));
            if let (Some(h), Some(obj)) = (real_at, claims.as_object_mut()) {
                obj.insert("at_hash".into(), Value::String(h));
            }
            signed.push(signer.sign(alg, &typ, &claims)?);
        }
        for field in fields.iter_mut() {
            if let Some(rest) = field.strip_prefix(PENDING_JWS) {
                let jws = rest
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| signed.get(k))
                    .ok_or_else(|| portcullis_core::OAuthError::server("unsigned token"))?;
                **field = jws.clone();
            }
        }
        Ok(())
    }
}

impl Default for DeferredSigner {
    fn default() -> Self {
        DeferredSigner::new()
    }
}

impl portcullis_core::ports::Signer for DeferredSigner {
    fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &Value,
    ) -> Result<String, portcullis_core::OAuthError> {
        let mut jobs = self.jobs.borrow_mut();
        jobs.push((alg, typ.to_string(), claims.clone()));
        Ok(pending_jws(jobs.len() - 1))
    }
}

/// The key ring shared by request handlers, reloaded from the database
/// periodically and after a local rotation.
pub struct Keys {
    ring: RwLock<Arc<KeyRing>>,
    sealer: SecretBox,
}

impl Keys {
    pub fn new(ring: KeyRing, sealer: SecretBox) -> Keys {
        Keys {
            ring: RwLock::new(Arc::new(ring)),
            sealer,
        }
    }

    pub fn sealer(&self) -> &SecretBox {
        &self.sealer
    }

    pub fn current(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn reload(&self, store: &Store) -> Result<(), KeyError> {
        let records = store.read(|tx| tx.list_keys())?;
        let ring = Arc::new(KeyRing::load(records, &self.sealer)?);
        match self.ring.write() {
            Ok(mut g) => *g = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }
}

/// Create a key for every algorithm that has none (first start).
/// Returns the kids created.
pub fn ensure_keys(store: &Store, sealer: &SecretBox, now: i64) -> Result<Vec<String>, KeyError> {
    let existing = store.read(|tx| tx.list_keys())?;
    let mut created = Vec::new();
    for alg in schedule::missing_algs(&existing, now) {
        let g = generate(alg)?;
        let record = to_record(&g, alg, sealer, now, now)?;
        // Another node starting on the same database may have made one
        // meanwhile: decided again under the lock.
        let inserted = store.write(|tx| {
            tx.lock_keys()?;
            let still_missing = schedule::missing_algs(&tx.list_keys()?, now).contains(&alg);
            if still_missing {
                tx.insert_key(&record)?;
            }
            Ok::<_, KeyError>(still_missing)
        })?;
        if inserted {
            created.push(record.kid);
        }
    }
    Ok(created)
}

/// Rotate the given algorithms: each new key is published now and signs
/// after `propagation_delay`; older keys retire once every token they may
/// have signed has expired.
pub fn rotate(
    store: &Store,
    sealer: &SecretBox,
    algs: &[SigningAlg],
    now: i64,
    propagation_delay: i64,
    max_token_lifetime: i64,
) -> Result<Vec<SigningKey>, KeyError> {
    let mut out = Vec::new();
    for &alg in algs {
        let g = generate(alg)?;
        let record = to_record(&g, alg, sealer, now, now + propagation_delay)?;
        store.write(|tx| install(tx, &record, now, propagation_delay, max_token_lifetime))?;
        out.push(record);
    }
    Ok(out)
}

/// The scheduled rotation (`keys.rotation_period_secs`): rotate each
/// algorithm whose newest key is a period old. Every node runs this; a
/// claim row (unique per algorithm and replaced key) lets exactly one of
/// them rotate, and the others pick the new key up at their next reload.
pub fn rotate_due(
    store: &Store,
    sealer: &SecretBox,
    now: i64,
    period: i64,
    propagation_delay: i64,
    max_token_lifetime: i64,
) -> Result<Vec<SigningKey>, KeyError> {
    if period <= 0 {
        return Ok(Vec::new());
    }
    let existing = store.read(|tx| tx.list_keys())?;
    let mut out = Vec::new();
    for alg in schedule::rotations_due(&existing, now, period) {
        // Generated outside the transaction: an RSA key takes a while.
        let g = generate(alg)?;
        let record = to_record(&g, alg, sealer, now, now + propagation_delay)?;
        let rotated = store.write(|tx| -> Result<bool, KeyError> {
            let existing = tx.list_keys()?;
            if !schedule::rotations_due(&existing, now, period).contains(&alg) {
                return Ok(false);
            }
            let newest = schedule::published_keys(&existing, now)
                .filter(|k| k.alg == alg)
                .max_by_key(|k| (k.created_at, k.kid.clone()))
                .map(|k| k.kid.clone())
                .unwrap_or_default();
            let claim = format!("key_rotation:{alg}:{newest}");
            if tx.get_or_insert_secret(&claim, &record.kid, now)? != record.kid {
                return Ok(false);
            }
            install(tx, &record, now, propagation_delay, max_token_lifetime)?;
            Ok(true)
        })?;
        if rotated {
            out.push(record);
        }
    }
    Ok(out)
}

/// Insert a new key and schedule the retirement of the older keys of its
/// algorithm.
fn install(
    tx: &mut portcullis_storage::Tx<'_>,
    record: &SigningKey,
    now: i64,
    propagation_delay: i64,
    max_token_lifetime: i64,
) -> Result<(), KeyError> {
    let existing = tx.list_keys()?;
    for (kid, at) in schedule::retirements(
        &existing,
        record.alg,
        now,
        propagation_delay,
        max_token_lifetime,
    ) {
        tx.set_key_retires_at(&kid, at)?;
    }
    tx.insert_key(record)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

    fn ring_for(alg: SigningAlg, sealer: &SecretBox) -> (KeyRing, Generated) {
        let g = generate(alg).unwrap();
        let rec = to_record(&g, alg, sealer, 100, 100).unwrap();
        (KeyRing::load(vec![rec], sealer).unwrap(), g)
    }

    fn decoding_key(jwk: &Value) -> DecodingKey {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        DecodingKey::from_jwk(&jwk).unwrap()
    }

    #[test]
    fn every_algorithm_signs_what_jsonwebtoken_verifies_with_the_published_jwk() {
        let sealer = SecretBox::new(Some("k"));
        for (alg, jalg) in [
            (SigningAlg::Rs256, Algorithm::RS256),
            (SigningAlg::Es256, Algorithm::ES256),
            (SigningAlg::EdDsa, Algorithm::EdDSA),
        ] {
            let (ring, g) = ring_for(alg, &sealer);
            let jwks = ring.jwks(200);
            let jwk = &jwks["keys"][0];
            assert_eq!(jwk["kid"], g.kid.as_str());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg}: JWKS leaks {private}");
            }
            let token = ring
                .sign(
                    alg,
                    "at+jwt",
                    &json!({"sub": "x", "exp": 4_000_000_000u64}),
                    200,
                )
                .unwrap();
            let header = decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(g.kid.as_str()));
            let mut v = Validation::new(jalg);
            v.validate_aud = false;
            let data = decode::<Value>(&token, &decoding_key(jwk), &v).unwrap();
            assert_eq!(data.claims["sub"], "x");
        }
    }

    #[test]
    fn deferred_signatures_replace_their_placeholders_and_fix_at_hash() {
        use portcullis_core::ports::Signer;
        use portcullis_core::tokens::at_hash;
        let sealer = SecretBox::new(None);
        for (alg, jalg) in [
            (SigningAlg::Rs256, Algorithm::RS256),
            (SigningAlg::EdDsa, Algorithm::EdDSA),
        ] {
            let (ring, _) = ring_for(alg, &sealer);
            let jwk = ring.jwks(200)["keys"][0].clone();
            let deferred = DeferredSigner::new();
            let exp = 4_000_000_000u64;
            let mut access = deferred
                .sign(alg, "at+jwt", &json!({"sub": "u", "exp": exp}))
                .unwrap();
            // What core does: the ID token's at_hash over the string it got.
            let mut id = deferred
                .sign(
                    alg,
                    "JWT",
                    &json!({"sub": "u", "exp": exp, "at_hash": at_hash(alg, &access)}),
                )
                .unwrap();
            let mut untouched = "opaque-token".to_string();
            assert!(access.starts_with(PENDING_JWS) && id.starts_with(PENDING_JWS));
            let signer = RingSigner {
                ring: Arc::new(ring),
                now: 200,
            };
            deferred
                .finish(&signer, &mut [&mut access, &mut id, &mut untouched])
                .unwrap();
            assert_eq!(untouched, "opaque-token");
            let mut v = Validation::new(jalg);
            v.validate_aud = false;
            let key = decoding_key(&jwk);
            let a = decode::<Value>(&access, &key, &v).unwrap();
            assert_eq!(
                decode_header(&access).unwrap().typ.as_deref(),
                Some("at+jwt")
            );
            assert_eq!(a.claims["sub"], "u");
            let i = decode::<Value>(&id, &key, &v).unwrap();
            assert_eq!(i.claims["at_hash"], at_hash(alg, &access), "{alg}");
        }
        // A placeholder with no signature behind it is an error.
        let deferred = DeferredSigner::new();
        let (ring, _) = ring_for(SigningAlg::Rs256, &sealer);
        let signer = RingSigner {
            ring: Arc::new(ring),
            now: 200,
        };
        let mut stray = pending_jws(3);
        assert!(deferred.finish(&signer, &mut [&mut stray]).is_err());
    }

    #[test]
    fn verify_accepts_our_tokens_only() {
        let sealer = SecretBox::new(None);
        for alg in SigningAlg::ALL.iter().copied() {
            let (ring, _) = ring_for(alg, &sealer);
            let claims = json!({"iss": "https://i.example", "exp": 1000, "jti": "j"});
            let t = ring.sign(alg, "at+jwt", &claims, 200).unwrap();
            assert_eq!(
                ring.verify(&t, "at+jwt", "https://i.example", 500).unwrap()["jti"],
                "j"
            );
            assert!(
                ring.verify(&t, "JWT", "https://i.example", 500).is_none(),
                "typ must match"
            );
            assert!(
                ring.verify(&t, "at+jwt", "https://other.example", 500)
                    .is_none(),
                "iss must match"
            );
            assert!(
                ring.verify(&t, "at+jwt", "https://i.example", 1000)
                    .is_none(),
                "expired"
            );
            let mut tampered = t.clone();
            tampered.pop();
            tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
            assert!(
                ring.verify(&tampered, "at+jwt", "https://i.example", 500)
                    .is_none(),
                "bad signature"
            );
            let (other, _) = ring_for(alg, &sealer);
            assert!(
                other
                    .verify(&t, "at+jwt", "https://i.example", 500)
                    .is_none(),
                "unknown kid"
            );
            assert!(ring
                .verify("a.b", "at+jwt", "https://i.example", 500)
                .is_none());
        }
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let required = json!({
            "e": "AQAB", "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        });
        assert_eq!(
            thumbprint(&required),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn encrypted_keys_need_the_key_to_load() {
        let sealer = SecretBox::new(Some("right"));
        let g = generate(SigningAlg::EdDsa).unwrap();
        let rec = to_record(&g, SigningAlg::EdDsa, &sealer, 1, 1).unwrap();
        assert!(rec.private_key.starts_with("enc:v1:"));
        assert!(KeyRing::load(vec![rec.clone()], &SecretBox::new(None)).is_err());
        assert!(KeyRing::load(vec![rec], &SecretBox::new(Some("wrong"))).is_err());
    }

    #[test]
    fn pending_key_is_published_but_does_not_sign() {
        let sealer = SecretBox::new(None);
        let old = generate(SigningAlg::Es256).unwrap();
        let new = generate(SigningAlg::Es256).unwrap();
        let recs = vec![
            to_record(&old, SigningAlg::Es256, &sealer, 0, 0).unwrap(),
            to_record(&new, SigningAlg::Es256, &sealer, 100, 400).unwrap(),
        ];
        let ring = KeyRing::load(recs, &sealer).unwrap();
        assert_eq!(ring.jwks(200)["keys"].as_array().unwrap().len(), 2);
        let kid_at = |now| {
            decode_header(
                ring.sign(SigningAlg::Es256, "JWT", &json!({}), now)
                    .unwrap(),
            )
            .unwrap()
            .kid
            .unwrap()
        };
        assert_eq!(kid_at(200), old.kid);
        assert_eq!(kid_at(400), new.kid);
    }
}

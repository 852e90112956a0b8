//! Minting tokens. Access tokens are JWTs (RFC 9068) or opaque, per client;
//! refresh tokens are opaque. Every token is recorded (opaque ones by hash
//! only) so that it can be revoked and introspected. A JWT's claims are a
//! function of its record, so the same token can be given again (refresh
//! retry within the grace window) without keeping it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::error::{ErrorCode, OAuthError};
use crate::issuer::Issuer;
use crate::model::{
    AccessToken, Client, RefreshToken, Scopes, Session, SigningAlg, TokenFormat, User,
};
use crate::ports::{Random, Signer, TokenStore};
use crate::resources::{access_scope, Resources, TokenSettings};
use crate::secret::{hash_token, random_token};

/// Lifetimes and session rules, from configuration.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub access_token_lifetime: i64,
    pub refresh_token_lifetime: i64,
    pub id_token_lifetime: i64,
    /// `aud` when a request names no resource; `None`: the issuer.
    pub default_audience: Option<String>,
    /// How long a consumed refresh token still returns its successor.
    pub refresh_reuse_grace: i64,
    pub session_idle: i64,
    pub session_max: i64,
    pub max_sessions_per_user: Option<u32>,
    pub evict_oldest_session: bool,
    /// The protected resources (RFC 8707, RFC 9728).
    pub resources: Resources,
}

/// Everything a grant needs besides the store and randomness.
pub struct Ctx<'a> {
    pub issuer: &'a Issuer,
    pub policy: &'a TokenPolicy,
    pub signer: &'a dyn Signer,
    /// Server-wide key for deriving refresh successors (HMAC-SHA256).
    pub derive_key: &'a [u8],
    pub now: i64,
    /// The thumbprint of the key of the request's checked DPoP proof (RFC
    /// 9449 §5): the access token is bound to it; `None`: no proof.
    pub dpop_jkt: Option<&'a str>,
    /// The request's `User-Agent`, cleaned ([`crate::user_agent::clean`]):
    /// the device or software a session started here is shown as.
    pub user_agent: Option<&'a str>,
}

/// The token endpoint's success body (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Keycloak's name for the session id (seed 003).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_state: Option<String>,
}

/// What a grant decided. `Denied` is an error that must still commit (a
/// refresh-token reuse revokes the session and then refuses), unlike `Err`,
/// which rolls the transaction back.
#[derive(Debug)]
pub enum Outcome {
    Issued(TokenResponse),
    Denied {
        error: OAuthError,
        login_failure: bool,
    },
}

pub type GrantResult = Result<Outcome, OAuthError>;

pub fn invalid_grant(msg: &str) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidGrant, msg)
}

/// The random or derived parts of one access token.
pub struct Material {
    pub jti: String,
    pub opaque: String,
}

impl Material {
    pub fn random(rng: &mut dyn Random) -> Material {
        Material {
            jti: random_token(rng, 16),
            opaque: random_token(rng, 32),
        }
    }
}

/// HMAC-SHA256(key, label || 0 || input), base64url: the derivation behind
/// refresh successors.
pub fn derive(key: &[u8], label: &str, input: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// `aud` for a request: its resources (RFC 8707 §2; configured URIs,
/// unknown ones refused, see [`crate::resources`]), else the default
/// audience, else the issuer.
pub fn audience(ctx: &Ctx, resources: &[String]) -> Result<Vec<String>, OAuthError> {
    let named = ctx.policy.resources.resolve(resources)?;
    if !named.is_empty() {
        return Ok(named);
    }
    Ok(vec![ctx
        .policy
        .default_audience
        .clone()
        .unwrap_or_else(|| ctx.issuer.as_str().to_string())])
}

/// Where an access token goes and what it looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `aud`.
    pub aud: Vec<String>,
    /// Format, algorithm and lifetime: the resource's, else the client's.
    pub settings: TokenSettings,
    /// The access token's scope: the granted one, downscoped to what the
    /// resource accepts (RFC 8707 §2.2).
    pub scope: Scopes,
}

/// The access token for `aud` given the `granted` scope; `lifetime` is the
/// grant's usual one; `named`: the request named its scope (see
/// [`crate::resources::access_scope`]).
pub fn target(
    ctx: &Ctx,
    client: &Client,
    aud: Vec<String>,
    granted: &Scopes,
    named: bool,
    lifetime: i64,
) -> Result<Target, OAuthError> {
    let (settings, accepted) = ctx.policy.resources.access(client, lifetime, &aud)?;
    let scope = access_scope(&accepted, granted, named)?;
    Ok(Target {
        aud,
        settings,
        scope,
    })
}

/// Requested scope checked against what may be granted (RFC 6749 §3.3):
/// none requested means all of `allowed`; more than `allowed` is
/// `invalid_scope`.
pub fn requested_scope(requested: Option<&str>, allowed: &Scopes) -> Result<Scopes, OAuthError> {
    match requested {
        None => Ok(allowed.clone()),
        Some(s) => {
            let s = Scopes::parse(s)
                .map_err(|_| OAuthError::with(ErrorCode::InvalidScope, "malformed scope"))?;
            if !s.is_subset(allowed) {
                return Err(OAuthError::with(
                    ErrorCode::InvalidScope,
                    "scope exceeds what this client may be granted",
                ));
            }
            Ok(s)
        }
    }
}

fn aud_claim(aud: &[String]) -> Value {
    match aud {
        [one] => json!(one),
        many => json!(many),
    }
}

/// RFC 9068 §2.2 claims of an access token, from its record.
pub fn access_claims(issuer: &Issuer, t: &AccessToken) -> Value {
    let mut c = json!({
        "iss": issuer.as_str(),
        "sub": t.user_id.as_deref().unwrap_or(&t.client_id),
        "aud": aud_claim(&t.audience),
        "exp": t.expires_at,
        "iat": t.issued_at,
        "nbf": t.issued_at,
        "jti": t.jti,
        "client_id": t.client_id,
        "scope": t.scope.to_string(),
    });
    if let Some(obj) = c.as_object_mut() {
        if let Some(sid) = &t.session_id {
            obj.insert("sid".into(), json!(sid));
        }
        // RFC 9449 §6.1: a DPoP-bound JWT names its key's thumbprint.
        if let Some(jkt) = &t.dpop_jkt {
            obj.insert("cnf".into(), json!({ "jkt": jkt }));
        }
    }
    c
}

/// RFC 9449 §5: `token_type` is `DPoP` for a DPoP-bound access token, else
/// `Bearer` (RFC 6750).
pub fn token_type(t: &AccessToken) -> &'static str {
    if t.dpop_jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// The string form of a recorded access token, given its material; a JWT
/// is signed with `alg`.
pub fn render_access(
    ctx: &Ctx,
    alg: SigningAlg,
    t: &AccessToken,
    m: &Material,
) -> Result<String, OAuthError> {
    match t.format {
        TokenFormat::Opaque => Ok(m.opaque.clone()),
        // RFC 9068 §2.1: typ "at+jwt".
        TokenFormat::Jwt => ctx
            .signer
            .sign(alg, "at+jwt", &access_claims(ctx.issuer, t)),
    }
}

/// Record and render an access token; bound to the request's DPoP key, if
/// any. A client that requires DPoP (RFC 9449 §5.2) gets none without.
pub fn mint_access(
    tx: &mut impl TokenStore,
    ctx: &Ctx,
    client: &Client,
    user: Option<&User>,
    session: Option<&Session>,
    target: &Target,
    m: &Material,
) -> Result<(String, AccessToken), OAuthError> {
    if ctx.dpop_jkt.is_none() && crate::dpop::required(client) {
        return Err(crate::dpop::invalid(
            "this client must send a DPoP proof with its token requests",
        ));
    }
    let format = target.settings.format;
    let record = AccessToken {
        jti: m.jti.clone(),
        token_hash: (format == TokenFormat::Opaque).then(|| hash_token(&m.opaque)),
        format,
        session_id: session.map(|s| s.id.clone()),
        client_id: client.id.clone(),
        user_id: user.map(|u| u.id.clone()),
        scope: target.scope.clone(),
        audience: target.aud.clone(),
        issued_at: ctx.now,
        expires_at: ctx.now + target.settings.lifetime,
        revoked_at: None,
        dpop_jkt: ctx.dpop_jkt.map(str::to_string),
    };
    tx.insert_access_token(&record)?;
    let token = render_access(ctx, target.settings.alg, &record, m)?;
    Ok((token, record))
}

/// What a refresh token carries over from its grant: the granted scope,
/// the audience of access tokens that name no resource, and the resources
/// the grant authorized (RFC 8707 §2.2: "any refresh token that is
/// returned is bound to the full original grant").
pub struct RefreshGrant<'a> {
    pub scope: &'a Scopes,
    pub aud: &'a [String],
    pub resource: &'a [String],
    /// The DPoP key it is bound to ([`crate::dpop::refresh_binding`]).
    pub dpop_jkt: Option<&'a str>,
}

/// Record a refresh token (its string is chosen by the caller: random, or
/// derived from its predecessor). It never outlives its session.
pub fn mint_refresh(
    tx: &mut impl TokenStore,
    ctx: &Ctx,
    session: &Session,
    grant: &RefreshGrant,
    token: &str,
    parent_hash: Option<String>,
) -> Result<RefreshToken, OAuthError> {
    let record = RefreshToken {
        token_hash: hash_token(token),
        session_id: session.id.clone(),
        client_id: session.client_id.clone(),
        user_id: session.user_id.clone(),
        scope: grant.scope.clone(),
        audience: grant.aud.to_vec(),
        issued_at: ctx.now,
        expires_at: (ctx.now + ctx.policy.refresh_token_lifetime).min(session.expires_at),
        consumed_at: None,
        revoked_at: None,
        parent_hash,
        resource: grant.resource.to_vec(),
        dpop_jkt: grant.dpop_jkt.map(str::to_string),
    };
    tx.insert_refresh_token(&record)?;
    Ok(record)
}

/// OIDC Core §3.1.3.6: at_hash is the left half of the hash of the access
/// token, with the hash that goes with the signing algorithm (SHA-512 for
/// Ed25519).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// What an ID token says beyond the standard claims.
pub struct IdTokenInput<'a> {
    pub user: &'a User,
    pub session: &'a Session,
    pub scope: &'a Scopes,
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

/// An ID token (OIDC Core §2) signed with the client's algorithm.
pub fn id_token(ctx: &Ctx, client: &Client, input: &IdTokenInput) -> Result<String, OAuthError> {
    let mut c = json!({
        "iss": ctx.issuer.as_str(),
        "sub": input.user.id,
        "aud": client.id,
        "azp": client.id,
        "exp": ctx.now + ctx.policy.id_token_lifetime,
        "iat": ctx.now,
        "auth_time": input.session.auth_time,
        "sid": input.session.id,
        "amr": input.session.amr,
    });
    if let Some(obj) = c.as_object_mut() {
        if let Some(n) = input.nonce {
            obj.insert("nonce".into(), json!(n));
        }
        if let Some(at) = input.access_token {
            obj.insert("at_hash".into(), json!(at_hash(client.signing_alg, at)));
        }
        if input.scope.contains("profile") {
            obj.insert("preferred_username".into(), json!(input.user.username));
        }
        if input.scope.contains("email") {
            if let Some(e) = &input.user.email {
                obj.insert("email".into(), json!(e));
                obj.insert("email_verified".into(), json!(input.user.email_verified));
            }
        }
    }
    ctx.signer.sign(client.signing_alg, "JWT", &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_is_keyed_and_labelled() {
        let a = derive(b"k1", "refresh", "tok");
        assert_eq!(a, derive(b"k1", "refresh", "tok"));
        assert_ne!(a, derive(b"k2", "refresh", "tok"));
        assert_ne!(a, derive(b"k1", "access", "tok"));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn at_hash_matches_oidc_example() {
        // OIDC Core A.3 access token and at_hash (RS256).
        assert_eq!(
            at_hash(
                SigningAlg::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn requested_scope_rules() {
        let allowed = Scopes::parse("a b").unwrap();
        assert_eq!(requested_scope(None, &allowed).unwrap(), allowed);
        assert_eq!(
            requested_scope(Some("b"), &allowed).unwrap().to_string(),
            "b"
        );
        assert_eq!(
            requested_scope(Some("a c"), &allowed).unwrap_err().code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            requested_scope(Some("a\""), &allowed).unwrap_err().code,
            ErrorCode::InvalidScope
        );
    }
}

//! What every resource server of Portcullis does: know its own resource URL,
//! publish its protected resource metadata (RFC 9728), find Portcullis's
//! keys (RFC 8414 metadata, then the JWKS), check bearer JWTs (RFC 9068),
//! and say why a request is refused (RFC 6750 §3, RFC 9728 §5.1).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

/// This server as a protected resource.
#[derive(Clone)]
pub struct Resource {
    /// The resource URL exactly as configured: the `resource` that clients
    /// send and the `aud` that tokens must contain, compared as strings.
    pub url: String,
    parsed: Url,
    /// The authorization server (Portcullis) whose tokens are accepted.
    pub issuer: String,
    /// The scope the tools need.
    pub scope: String,
}

impl Resource {
    pub fn new(url: &str, issuer: &str, scope: &str) -> Result<Self, String> {
        let parsed = Url::parse(url).map_err(|e| format!("resource URL {url:?}: {e}"))?;
        // RFC 8707 §2: an absolute URI without a fragment; RFC 9728 §1.2
        // discourages a query, and this example does not support one.
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(format!(
                "resource URL {url:?}: an http(s) URL without query or fragment, please"
            ));
        }
        // RFC 6749 §3.3: scope tokens are printable ASCII without `"` or `\`,
        // so the scope can be quoted in WWW-Authenticate as it is.
        let token_ok = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        };
        if !scope.split(' ').all(token_ok) {
            return Err(format!("scope {scope:?}: not an RFC 6749 scope"));
        }
        Ok(Resource {
            url: url.to_string(),
            parsed,
            issuer: issuer.to_string(),
            scope: scope.to_string(),
        })
    }

    /// `https://mcp.example.com` for `https://mcp.example.com/mcp`.
    pub fn origin(&self) -> String {
        self.parsed.origin().ascii_serialization()
    }

    /// Where MCP is served: the resource URL's path.
    pub fn mcp_path(&self) -> String {
        self.parsed.path().to_string()
    }

    /// RFC 9728 §3.1: `/.well-known/oauth-protected-resource` goes between
    /// the host and the resource's path (without a terminating slash), so
    /// `https://mcp.example.com/mcp` publishes at
    /// `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.
    pub fn metadata_path(&self) -> String {
        let path = self.parsed.path().trim_end_matches('/');
        format!("/.well-known/oauth-protected-resource{path}")
    }

    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.origin(), self.metadata_path())
    }

    /// RFC 9728 §2: the protected resource metadata document.
    pub fn metadata(&self) -> Value {
        json!({
            "resource": self.url,
            "authorization_servers": [self.issuer],
            "scopes_supported": self.scope.split(' ').collect::<Vec<_>>(),
            // RFC 6750 §2.1: the token travels in the Authorization header only.
            "bearer_methods_supported": ["header"],
            "resource_name": "Portcullis example MCP server",
        })
    }
}

/// The claims this server uses from an access token (RFC 9068 §2.2); `iss`,
/// `aud` and `exp` are checked by `jsonwebtoken` before this is read.
#[derive(Deserialize)]
pub struct Claims {
    /// The user (or, for a client acting for itself, the client id).
    pub sub: String,
    /// RFC 9068 §2.2.3: space-separated scopes.
    #[serde(default)]
    pub scope: String,
}

/// Checks access tokens against the keys Portcullis publishes.
pub struct Verifier {
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: ureq::Agent,
    keys: RwLock<Keys>,
}

struct Keys {
    set: JwkSet,
    fetched_at: Instant,
}

/// An unknown `kid` makes us fetch the JWKS again (Portcullis publishes a
/// new key before it signs with it), but not more often than this, so that
/// forged tokens cannot make us hammer the authorization server.
const MIN_REFETCH: Duration = Duration::from_secs(10);

impl Verifier {
    /// RFC 8414 §3: read the authorization server's metadata, check that it
    /// names the issuer we were given (§3.3), and fetch its JWKS.
    pub fn discover(resource: &Resource) -> Result<Self, String> {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let url = authorization_server_metadata_url(&resource.issuer)?;
        let meta = get_json(&http, &url)?;
        if meta["issuer"].as_str() != Some(resource.issuer.as_str()) {
            return Err(format!(
                "{url} names issuer {}, not {}",
                meta["issuer"], resource.issuer
            ));
        }
        let jwks_uri = meta["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{url} has no jwks_uri"))?
            .to_string();
        let set = fetch_jwks(&http, &jwks_uri)?;
        Ok(Verifier {
            issuer: resource.issuer.clone(),
            audience: resource.url.clone(),
            jwks_uri,
            http,
            keys: RwLock::new(Keys {
                set,
                fetched_at: Instant::now(),
            }),
        })
    }

    /// The published key `kid`, fetching the JWKS again if it is new to us.
    fn key(&self, kid: &str) -> Result<Jwk, String> {
        let known = |keys: &Keys| keys.set.find(kid).cloned();
        {
            let keys = self.keys.read().map_err(|_| "key cache poisoned")?;
            if let Some(jwk) = known(&keys) {
                return Ok(jwk);
            }
            if keys.fetched_at.elapsed() < MIN_REFETCH {
                return Err(format!("unknown kid {kid:?}"));
            }
        }
        let set = fetch_jwks(&self.http, &self.jwks_uri)?;
        let mut keys = self.keys.write().map_err(|_| "key cache poisoned")?;
        *keys = Keys {
            set,
            fetched_at: Instant::now(),
        };
        known(&keys).ok_or_else(|| format!("unknown kid {kid:?}"))
    }

    /// RFC 9068 §4: how a resource server validates a JWT access token.
    /// Blocking (it may fetch the JWKS): call it off the async threads.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        // §4 step 1: the type is at+jwt, so an ID token is not taken for one.
        let typ = header.typ.as_deref().unwrap_or("");
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(format!("typ {typ:?} is not at+jwt"));
        }
        let kid = header.kid.ok_or("no kid")?;
        let jwk = self.key(&kid)?;
        // The algorithm comes from the published key, never from the token
        // alone; `decode` refuses a header whose `alg` differs.
        let alg: Algorithm = jwk
            .common
            .key_algorithm
            .ok_or("published key has no alg")?
            .try_into()
            .map_err(|e: jsonwebtoken::errors::Error| e.to_string())?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        let mut v = Validation::new(alg);
        // §4 steps 2, 4, 5: the issuer, the audience and the expiry. The
        // audience must contain this server's resource URL, exactly (RFC 8707
        // §2: a token for another resource is refused here). `jsonwebtoken`
        // checks a claim only when present, so all are required.
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

/// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` goes between the
/// host and the issuer's path: `https://auth.example.com/tenant` →
/// `https://auth.example.com/.well-known/oauth-authorization-server/tenant`.
fn authorization_server_metadata_url(issuer: &str) -> Result<String, String> {
    let url = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?}: {e}"))?;
    let path = url.path().trim_end_matches('/');
    Ok(format!(
        "{}/.well-known/oauth-authorization-server{path}",
        url.origin().ascii_serialization()
    ))
}

fn get_json(http: &ureq::Agent, url: &str) -> Result<Value, String> {
    let mut res = http
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let text = res
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}"))
}

fn fetch_jwks(http: &ureq::Agent, url: &str) -> Result<JwkSet, String> {
    serde_json::from_value(get_json(http, url)?).map_err(|e| format!("JWKS at {url}: {e}"))
}

/// The bearer token of a request (RFC 6750 §2.1), if any.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

/// Let a request through with its token's claims, or answer why not.
pub async fn authorize(
    req: &HttpRequest,
    resource: &Resource,
    verifier: &Arc<Verifier>,
) -> Result<Claims, HttpResponse> {
    let meta = resource.metadata_url();
    let Some(token) = bearer(req) else {
        // RFC 9728 §5.1: point the client at our metadata; RFC 6750 §3.1: no
        // error code when the request had no credentials.
        return Err(challenge(
            HttpResponse::Unauthorized(),
            format!("Bearer resource_metadata=\"{meta}\""),
        ));
    };
    let verifier = Arc::clone(verifier);
    let claims = match web::block(move || verifier.verify(&token)).await {
        Ok(Ok(claims)) => claims,
        Ok(Err(why)) => {
            eprintln!("token refused: {why}");
            // RFC 6750 §3.1: invalid_token, 401.
            return Err(challenge(
                HttpResponse::Unauthorized(),
                format!("Bearer error=\"invalid_token\", resource_metadata=\"{meta}\""),
            ));
        }
        Err(_) => return Err(HttpResponse::InternalServerError().finish()),
    };
    let needed = &resource.scope;
    if !needed
        .split(' ')
        .all(|s| claims.scope.split(' ').any(|t| t == s))
    {
        // RFC 6750 §3.1: insufficient_scope, 403, naming the scope needed
        // (MCP clients then ask the person for more: step-up authorization).
        return Err(challenge(
            HttpResponse::Forbidden(),
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{meta}\""
            ),
        ));
    }
    Ok(claims)
}

fn challenge(mut res: actix_web::HttpResponseBuilder, value: String) -> HttpResponse {
    res.insert_header((header::WWW_AUTHENTICATE, value))
        .finish()
}

//! Protected resources: the registry behind resource indicators (RFC 8707)
//! and protected resource metadata (RFC 9728). It comes from configuration
//! as data; this module decides which `resource` values are acceptable, what
//! an access token for them looks like, and what their metadata says.
//!
//! Rules:
//! - A resource indicator is an absolute URI without a fragment (RFC 8707
//!   §2). Two indicators name the same resource when they are equal after
//!   lower-casing the scheme and the host; the rest compares exactly.
//! - With resources configured, an indicator that names none of them is
//!   `invalid_target` (RFC 8707 §2: "unknown"), and `aud` carries the
//!   resource's URI as configured. With none configured, any well-formed
//!   indicator is accepted as given (development without configuration).
//! - A configured resource may set the access token's format, signing
//!   algorithm and lifetime (winning over the client's) and the scopes it
//!   accepts. One access token serves several resources only when their
//!   settings and scopes agree; otherwise `invalid_target`, and the client
//!   asks for one resource at a time (RFC 8707 §2.2 lets a token request name
//!   a subset of the authorized resources).
//! - Scopes (RFC 8707 §2.2: "the authorization server should downscope the
//!   scope value associated with an access token to the value the respective
//!   resource is able to process"): an access token for a resource that lists
//!   scopes carries only those among them, plus the OpenID Connect scopes
//!   ([`OIDC_SCOPES`]), which concern the user and this server (ID token,
//!   userinfo, refresh) rather than the resource.

use serde::Serialize;
use url::Url;

use crate::error::{ErrorCode, OAuthError};
use crate::issuer::Issuer;
use crate::model::{Client, Scopes, SigningAlg, TokenFormat};

/// Scopes that pass through a resource's scope list: they govern the ID
/// token, userinfo and refresh tokens, not access at the resource.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The RFC 9728 §3 well-known URI suffix.
pub const METADATA_SUFFIX: &str = "/.well-known/oauth-protected-resource";

/// One configured protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The resource identifier exactly as configured: `aud` of its access
    /// tokens and `resource` of its metadata (RFC 9728 §2).
    pub uri: String,
    /// Human-readable name (RFC 9728 §2 `resource_name`).
    pub name: Option<String>,
    /// Scopes an access token for it may carry besides [`OIDC_SCOPES`];
    /// empty: any.
    pub scopes: Scopes,
    /// Access-token format; `None`: the client's.
    pub format: Option<TokenFormat>,
    /// Access-token signing algorithm; `None`: the client's.
    pub alg: Option<SigningAlg>,
    /// Access-token lifetime in seconds; `None`: the grant's usual one.
    pub lifetime: Option<i64>,
}

impl Resource {
    /// A resource with no settings of its own: any scope, the client's
    /// token settings.
    pub fn new(uri: impl Into<String>) -> Resource {
        Resource {
            uri: uri.into(),
            name: None,
            scopes: Scopes::default(),
            format: None,
            alg: None,
            lifetime: None,
        }
    }
}

/// What an access token looks like: format, algorithm, lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSettings {
    pub format: TokenFormat,
    pub alg: SigningAlg,
    pub lifetime: i64,
}

/// The configured resources. Empty: resource indicators are checked for
/// shape only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources(Vec<Resource>);

/// RFC 8707 §2: "an absolute URI ... MUST NOT include a fragment component".
pub fn is_indicator(uri: &str) -> bool {
    !uri.contains('#') && Url::parse(uri).is_ok()
}

fn malformed() -> OAuthError {
    OAuthError::with(
        ErrorCode::InvalidTarget,
        "resource must be an absolute URI without a fragment",
    )
}

/// The comparison form: scheme and host lower-cased, the rest as given.
fn canonical(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return uri.to_string();
    };
    let scheme = scheme.to_ascii_lowercase();
    let Some(after) = rest.strip_prefix("//") else {
        return format!("{scheme}:{rest}");
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    format!(
        "{scheme}://{userinfo}{}{tail}",
        hostport.to_ascii_lowercase()
    )
}

/// Whether two resource indicators name the same resource.
pub fn same(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

impl Resources {
    /// The registry, or why a resource cannot be used (the message names it).
    pub fn new(list: Vec<Resource>) -> Result<Resources, String> {
        for (i, r) in list.iter().enumerate() {
            if !is_indicator(&r.uri) {
                return Err(format!(
                    "resource {:?}: not an absolute URI without a fragment",
                    r.uri
                ));
            }
            if r.lifetime.is_some_and(|l| l <= 0) {
                return Err(format!("resource {:?}: lifetime must be positive", r.uri));
            }
            if list[..i].iter().any(|o| same(&o.uri, &r.uri)) {
                return Err(format!("resource {:?} is configured twice", r.uri));
            }
        }
        Ok(Resources(list))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.0.iter()
    }

    /// The configured resource `uri` names.
    pub fn find(&self, uri: &str) -> Option<&Resource> {
        let c = canonical(uri);
        self.0.iter().find(|r| canonical(&r.uri) == c)
    }

    /// Requested resource indicators (RFC 8707 §2) as the identifiers to
    /// bind: the configured URIs, or with nothing configured the values as
    /// given; duplicates dropped. Malformed or unknown: `invalid_target`.
    pub fn resolve(&self, requested: &[String]) -> Result<Vec<String>, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        for r in requested {
            if !is_indicator(r) {
                return Err(malformed());
            }
            let uri = if self.is_empty() {
                r.clone()
            } else {
                match self.find(r) {
                    Some(found) => found.uri.clone(),
                    None => {
                        return Err(OAuthError::with(
                            ErrorCode::InvalidTarget,
                            "unknown resource: not one this server issues tokens for",
                        ))
                    }
                }
            };
            if !out.iter().any(|o| same(o, &uri)) {
                out.push(uri);
            }
        }
        Ok(out)
    }

    /// The settings and accepted scopes of an access token for `aud`: a
    /// configured resource's own, else the client's and `lifetime`. Several
    /// audiences must agree, else `invalid_target`.
    pub fn access(
        &self,
        client: &Client,
        lifetime: i64,
        aud: &[String],
    ) -> Result<(TokenSettings, Scopes), OAuthError> {
        let of = |uri: &str| {
            let r = self.find(uri);
            let settings = TokenSettings {
                format: r
                    .and_then(|r| r.format)
                    .unwrap_or(client.access_token_format),
                alg: r.and_then(|r| r.alg).unwrap_or(client.signing_alg),
                lifetime: r.and_then(|r| r.lifetime).unwrap_or(lifetime),
            };
            (settings, r.map(|r| r.scopes.clone()).unwrap_or_default())
        };
        let mut each = aud.iter().map(|a| of(a));
        let first = each.next().unwrap_or_else(|| of(""));
        if each.any(|other| other != first) {
            return Err(OAuthError::with(
                ErrorCode::InvalidTarget,
                "these resources take different access tokens (format, signing algorithm, \
                 lifetime or scopes): request one resource at a time",
            ));
        }
        Ok(first)
    }
}

/// RFC 8707 §2.2: a token request may name only resources the grant
/// authorized ("those that were originally granted by the resource owner or
/// a subset thereof"). `requested` empty: `None` (the caller's default).
pub fn narrow(
    resources: &Resources,
    authorized: &[String],
    requested: &[String],
) -> Result<Option<Vec<String>>, OAuthError> {
    if requested.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for r in resources.resolve(requested)? {
        match authorized.iter().find(|a| same(a, &r)) {
            Some(a) => out.push(a.clone()),
            None => {
                return Err(OAuthError::with(
                    ErrorCode::InvalidTarget,
                    "resource was not authorized by this grant",
                ))
            }
        }
    }
    Ok(Some(out))
}

fn is_oidc(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope)
}

/// The scope of an access token for a resource that accepts `accepted`
/// (empty: any): `granted` without the scopes it does not accept, the OIDC
/// ones kept. `named`: the request named its scope; then asking for
/// resource scopes of which the resource accepts none is `invalid_scope`.
pub fn access_scope(
    accepted: &Scopes,
    granted: &Scopes,
    named: bool,
) -> Result<Scopes, OAuthError> {
    if accepted.is_empty() {
        return Ok(granted.clone());
    }
    let kept: Vec<&str> = granted
        .iter()
        .filter(|s| is_oidc(s) || accepted.contains(s))
        .collect();
    let asked_for_resource = granted.iter().any(|s| !is_oidc(s));
    let got_for_resource = kept.iter().any(|s| !is_oidc(s));
    if named && asked_for_resource && !got_for_resource {
        return Err(OAuthError::with(
            ErrorCode::InvalidScope,
            "none of the requested scopes is accepted by the resource",
        ));
    }
    Scopes::parse(&kept.join(" "))
        .map_err(|_| OAuthError::with(ErrorCode::InvalidScope, "malformed scope"))
}

/// RFC 9728 §2: the protected resource metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// The metadata of `r`, whose tokens `issuer` issues. `scopes_supported`
/// lists the resource's scopes (nothing when it accepts any).
pub fn metadata(r: &Resource, issuer: &Issuer) -> ResourceMetadata {
    ResourceMetadata {
        resource: r.uri.clone(),
        authorization_servers: vec![issuer.as_str().to_string()],
        scopes_supported: r.scopes.iter().map(str::to_string).collect(),
        // RFC 6750 §2.1 only: the token endpoint's answer goes in a header.
        bearer_methods_supported: vec!["header"],
        resource_name: r.name.clone(),
    }
}

/// Where the metadata of `uri` lives (RFC 9728 §3.1), as path and query on
/// the resource's origin: the well-known suffix goes between the host and
/// the path, and a path of just `/` is dropped ("any terminating slash
/// (/) following the host component MUST be removed").
pub fn metadata_location(uri: &str) -> Option<(String, Option<String>)> {
    let url = Url::parse(uri).ok()?;
    if !url.has_host() {
        return None;
    }
    // The path and query as configured (not as the URL parser normalises them).
    let after = uri.split_once("://")?.1;
    let tail = &after[after.find(['/', '?']).unwrap_or(after.len())..];
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (tail, None),
    };
    let path = if path == "/" { "" } else { path };
    Some((format!("{METADATA_SUFFIX}{path}"), query))
}

/// The absolute URL of `uri`'s metadata (RFC 9728 §3.1), on its origin.
pub fn metadata_url(uri: &str) -> Option<String> {
    let origin = Url::parse(uri).ok()?.origin();
    if !origin.is_tuple() {
        return None;
    }
    let (path, query) = metadata_location(uri)?;
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("{}{path}{query}", origin.ascii_serialization()))
}

/// Whether `uri` is on the issuer's origin (scheme, host and port), where
/// this server serves its metadata.
pub fn on_issuer_origin(issuer: &Issuer, uri: &str) -> bool {
    match (Url::parse(issuer.as_str()), Url::parse(uri)) {
        (Ok(i), Ok(u)) => i.origin() == u.origin(),
        _ => false,
    }
}

/// The resource whose metadata this server serves at `path` and `query`:
/// one on the issuer's origin (scheme, host and port) whose RFC 9728 §3.1
/// location they are.
pub fn served_at<'a>(
    resources: &'a Resources,
    issuer: &Issuer,
    path: &str,
    query: Option<&str>,
) -> Option<&'a Resource> {
    resources.iter().find(|r| {
        on_issuer_origin(issuer, &r.uri)
            && metadata_location(&r.uri)
                .is_some_and(|(p, q)| p == path && q.as_deref() == query.filter(|q| !q.is_empty()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(uri: &str) -> Resource {
        Resource::new(uri)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scheme_and_host_compare_without_case_the_rest_exactly() {
        assert!(same(
            "HTTPS://API.Example.COM/mcp",
            "https://api.example.com/mcp"
        ));
        assert!(same(
            "https://u@API.example:8443/x?q=A",
            "https://u@api.example:8443/x?q=A"
        ));
        assert!(!same(
            "https://api.example.com/MCP",
            "https://api.example.com/mcp"
        ));
        assert!(!same(
            "https://api.example.com/mcp/",
            "https://api.example.com/mcp"
        ));
        assert!(!same(
            "https://api.example.com/x?q=A",
            "https://api.example.com/x?q=a"
        ));
        assert!(same("URN:example:api", "urn:example:api"));
        assert!(!same("urn:example:API", "urn:example:api"));
    }

    #[test]
    fn resolve_binds_configured_uris_and_refuses_unknown_ones() {
        let reg = Resources::new(vec![res("https://API.example.com/mcp")]).unwrap();
        assert_eq!(
            reg.resolve(&strings(&[
                "https://api.EXAMPLE.com/mcp",
                "HTTPS://api.example.com/mcp"
            ]))
            .unwrap(),
            strings(&["https://API.example.com/mcp"]),
            "the configured spelling, once"
        );
        for bad in [
            "https://api.example.com/MCP",
            "https://other.example/",
            "not a uri",
        ] {
            assert_eq!(
                reg.resolve(&strings(&[bad])).unwrap_err().code,
                ErrorCode::InvalidTarget,
                "{bad}"
            );
        }
        assert_eq!(
            reg.resolve(&strings(&["https://api.example.com/mcp#f"]))
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn without_configuration_any_indicator_is_accepted_as_given() {
        let reg = Resources::default();
        assert_eq!(
            reg.resolve(&strings(&["https://Anything.example/x"]))
                .unwrap(),
            strings(&["https://Anything.example/x"])
        );
        assert_eq!(
            reg.resolve(&strings(&["https://a.example/#frag"]))
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            reg.resolve(&strings(&["/relative"])).unwrap_err().code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn configuration_is_checked() {
        assert!(
            Resources::new(vec![res("https://a.example/"), res("HTTPS://A.example/")])
                .unwrap_err()
                .contains("twice")
        );
        assert!(Resources::new(vec![res("https://a.example/#x")]).is_err());
        assert!(Resources::new(vec![Resource {
            lifetime: Some(0),
            ..res("https://a.example/")
        }])
        .is_err());
    }

    #[test]
    fn narrow_allows_a_subset_only() {
        let reg = Resources::default();
        let authorized = strings(&["https://a.example/", "https://b.example/"]);
        assert_eq!(narrow(&reg, &authorized, &[]).unwrap(), None);
        assert_eq!(
            narrow(&reg, &authorized, &strings(&["https://B.example/"])).unwrap(),
            Some(strings(&["https://b.example/"]))
        );
        assert_eq!(
            narrow(&reg, &authorized, &strings(&["https://c.example/"]))
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            narrow(&reg, &[], &strings(&["https://a.example/"]))
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn access_scope_keeps_accepted_and_oidc_scopes() {
        let s = |v: &str| Scopes::parse(v).unwrap();
        let accepted = s("mcp:tools mcp:read");
        assert_eq!(
            access_scope(&accepted, &s("openid mcp:tools api:write"), true)
                .unwrap()
                .to_string(),
            "mcp:tools openid"
        );
        assert_eq!(
            access_scope(&accepted, &s("openid api:write"), true)
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope,
            "asked for resource scopes, none accepted"
        );
        assert_eq!(
            access_scope(&accepted, &s("openid api:write"), false)
                .unwrap()
                .to_string(),
            "openid",
            "not named: the token just carries less"
        );
        assert_eq!(
            access_scope(&accepted, &s("openid profile"), true)
                .unwrap()
                .to_string(),
            "openid profile",
            "a sign-in asks for no resource scope"
        );
        assert_eq!(
            access_scope(&Scopes::default(), &s("a b"), true)
                .unwrap()
                .to_string(),
            "a b"
        );
    }

    #[test]
    fn metadata_location_inserts_the_well_known_suffix() {
        let loc = |u: &str| metadata_location(u).unwrap();
        assert_eq!(loc("https://h.example"), (METADATA_SUFFIX.into(), None));
        assert_eq!(loc("https://h.example/"), (METADATA_SUFFIX.into(), None));
        assert_eq!(
            loc("https://h.example/tenant/mcp"),
            (format!("{METADATA_SUFFIX}/tenant/mcp"), None)
        );
        assert_eq!(
            loc("https://h.example/api/"),
            (format!("{METADATA_SUFFIX}/api/"), None)
        );
        assert_eq!(
            loc("https://h.example/?v=1"),
            (METADATA_SUFFIX.into(), Some("v=1".into()))
        );
        assert_eq!(metadata_location("urn:example:api"), None);
        assert_eq!(
            metadata_url("HTTPS://Api.Example.com:443/v1?x=1").as_deref(),
            Some("https://api.example.com/.well-known/oauth-protected-resource/v1?x=1")
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource")
        );
        assert_eq!(metadata_url("urn:example:api"), None);
    }

    #[test]
    fn served_only_on_the_issuers_origin() {
        let issuer = Issuer::parse("https://auth.example.com/tenant").unwrap();
        let reg = Resources::new(vec![
            res("https://AUTH.example.com:443/mcp"),
            res("https://auth.example.com"),
            res("https://api.example.com/orders"),
            res("http://auth.example.com/plain"),
        ])
        .unwrap();
        let at = |p: &str, q: Option<&str>| served_at(&reg, &issuer, p, q).map(|r| r.uri.as_str());
        assert_eq!(
            at("/.well-known/oauth-protected-resource/mcp", None),
            Some("https://AUTH.example.com:443/mcp")
        );
        assert_eq!(
            at("/.well-known/oauth-protected-resource", Some("")),
            Some("https://auth.example.com")
        );
        assert_eq!(
            at("/.well-known/oauth-protected-resource/orders", None),
            None
        );
        assert_eq!(
            at("/.well-known/oauth-protected-resource/plain", None),
            None
        );
        assert_eq!(at("/.well-known/oauth-protected-resource/MCP", None), None);
    }

    #[test]
    fn metadata_document_members() {
        let issuer = Issuer::parse("https://auth.example.com").unwrap();
        let r = Resource {
            name: Some("Tools".into()),
            scopes: Scopes::parse("mcp:tools").unwrap(),
            ..res("https://Auth.example.com/mcp")
        };
        assert_eq!(
            serde_json::to_value(metadata(&r, &issuer)).unwrap(),
            serde_json::json!({
                "resource": "https://Auth.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["mcp:tools"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Tools",
            })
        );
        let bare = serde_json::to_value(metadata(&res("https://x.example/"), &issuer)).unwrap();
        assert!(bare.get("scopes_supported").is_none() && bare.get("resource_name").is_none());
    }
}

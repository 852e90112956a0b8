//! The issuer identifier (RFC 8414 §2, OIDC Discovery §3).

use std::fmt;
use url::Url;

/// A validated issuer: `https` (or `http`, for development), a host, an
/// optional path, and no query, fragment or trailing slash. The string is kept
/// byte for byte as configured, since clients compare it exactly
/// (RFC 8414 §3.3, RFC 9207 §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    raw: String,
    url: Url,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    #[error("issuer is not a URL: {0}")]
    NotAUrl(String),
    #[error("issuer must use https or http")]
    Scheme,
    #[error("issuer must not have a query or fragment (RFC 8414 §2)")]
    QueryOrFragment,
    #[error("issuer must not end with a slash")]
    TrailingSlash,
    #[error("issuer must not carry user information")]
    UserInfo,
}

impl Issuer {
    pub fn parse(raw: &str) -> Result<Issuer, IssuerError> {
        if raw.contains('?') || raw.contains('#') {
            return Err(IssuerError::QueryOrFragment);
        }
        if raw.ends_with('/') {
            return Err(IssuerError::TrailingSlash);
        }
        let url = Url::parse(raw).map_err(|e| IssuerError::NotAUrl(e.to_string()))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(IssuerError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(IssuerError::NotAUrl("no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(IssuerError::UserInfo);
        }
        Ok(Issuer {
            raw: raw.to_string(),
            url,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The path component without its leading slash (`tenant` for
    /// `https://host/tenant`), or `""` for an issuer at the root.
    pub fn path(&self) -> &str {
        self.url.path().trim_start_matches('/')
    }

    /// An absolute URL of an endpoint under the issuer (`/oauth/token` ->
    /// `https://host/tenant/oauth/token`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.raw, path)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_root_and_path_issuers() {
        let i = Issuer::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(i.as_str(), "http://127.0.0.1:8080");
        assert_eq!(i.path(), "");
        let i = Issuer::parse("https://auth.example.com/tenant").unwrap();
        assert_eq!(i.path(), "tenant");
        assert!(i.is_https());
        assert_eq!(
            i.endpoint("/oauth/token"),
            "https://auth.example.com/tenant/oauth/token"
        );
    }

    #[test]
    fn refuses_trailing_slash_query_fragment() {
        assert_eq!(
            Issuer::parse("https://a.example/"),
            Err(IssuerError::TrailingSlash)
        );
        assert_eq!(
            Issuer::parse("https://a.example?x=1"),
            Err(IssuerError::QueryOrFragment)
        );
        assert_eq!(
            Issuer::parse("https://a.example#f"),
            Err(IssuerError::QueryOrFragment)
        );
        assert_eq!(Issuer::parse("ftp://a.example"), Err(IssuerError::Scheme));
        assert!(matches!(
            Issuer::parse("not a url"),
            Err(IssuerError::NotAUrl(_))
        ));
        assert_eq!(
            Issuer::parse("https://u:p@a.example"),
            Err(IssuerError::UserInfo)
        );
    }
}

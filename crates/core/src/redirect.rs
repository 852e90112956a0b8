//! Redirect URI rules for registration (RFC 6749 §3.1.2, RFC 8252 §7,
//! OAuth 2.1 §2.3.1). Matching at the authorization endpoint comes with it.

use url::{Host, Url};

/// What kind of redirect a URI is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https://...`
    Https,
    /// `http://` on a loopback address (RFC 8252 §7.3).
    Loopback,
    /// A private-use scheme such as `com.example.app:/cb` (RFC 8252 §7.1).
    PrivateUse,
}

/// Is `uri` acceptable as a registered redirect URI? The error says why.
pub fn validate_redirect_uri(uri: &str) -> Result<RedirectKind, String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI ({e})"))?;
    // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment.
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!("{uri:?} has a fragment"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(RedirectKind::Https),
        "http" if is_loopback(&url) => Ok(RedirectKind::Loopback),
        "http" => Err(format!(
            "{uri:?} uses http on a host other than loopback; use https"
        )),
        // RFC 8252 §7.1: private-use schemes contain a period (reverse DNS).
        s if s.contains('.') => Ok(RedirectKind::PrivateUse),
        "javascript" | "data" | "file" | "vbscript" => {
            Err(format!("{uri:?} uses a forbidden scheme"))
        }
        _ => Err(format!(
            "{uri:?} must be https, http on loopback, or a reverse-domain private-use scheme"
        )),
    }
}

/// `127.0.0.1` (any of 127/8), `[::1]` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The redirect URI an authorization request will use (RFC 6749 §3.1.2.3).
/// Absent: the client's only registered URI. Present: an exact string match,
/// or, for a registered loopback URI, the same URI on any port (RFC 8252
/// §7.3: native apps listen on an ephemeral port). RFC 9700 §2.1: "exact
/// string matching except for port numbers in localhost redirection URIs of
/// native apps", so everything but the port (user information included)
/// must be the same.
pub fn match_redirect(registered: &[String], requested: Option<&str>) -> Option<String> {
    let Some(requested) = requested else {
        return match registered {
            [only] => Some(only.clone()),
            _ => None,
        };
    };
    if registered.iter().any(|r| r == requested) {
        return Some(requested.to_string());
    }
    let req = Url::parse(requested).ok()?;
    if req.scheme() != "http" || !is_loopback(&req) || req.fragment().is_some() {
        return None;
    }
    let req = without_port(req);
    registered.iter().find_map(|r| {
        let reg = Url::parse(r).ok()?;
        let same = reg.scheme() == "http" && is_loopback(&reg) && without_port(reg) == req;
        same.then(|| requested.to_string())
    })
}

fn without_port(mut url: Url) -> Url {
    // Only fails for URLs that cannot have a port; ours are http.
    let _ = url.set_port(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_and_private_use() {
        assert_eq!(
            validate_redirect_uri("https://app.example.com/cb"),
            Ok(RedirectKind::Https)
        );
        assert_eq!(
            validate_redirect_uri("http://127.0.0.1:5173/cb"),
            Ok(RedirectKind::Loopback)
        );
        assert_eq!(
            validate_redirect_uri("http://[::1]/cb"),
            Ok(RedirectKind::Loopback)
        );
        assert_eq!(
            validate_redirect_uri("http://localhost:3000/cb"),
            Ok(RedirectKind::Loopback)
        );
        assert_eq!(
            validate_redirect_uri("com.example.app:/oauth"),
            Ok(RedirectKind::PrivateUse)
        );
    }

    #[test]
    fn matching_is_exact_except_loopback_ports() {
        let reg = vec![
            "https://app.example/cb".to_string(),
            "http://127.0.0.1/cb".to_string(),
        ];
        assert_eq!(
            match_redirect(&reg, Some("https://app.example/cb")).as_deref(),
            Some("https://app.example/cb")
        );
        assert_eq!(match_redirect(&reg, Some("https://app.example/cb/")), None);
        assert_eq!(
            match_redirect(&reg, Some("https://app.example/cb?x=1")),
            None
        );
        assert_eq!(
            match_redirect(&reg, Some("http://127.0.0.1:51234/cb")).as_deref(),
            Some("http://127.0.0.1:51234/cb")
        );
        assert_eq!(
            match_redirect(&reg, Some("http://127.0.0.1:51234/other")),
            None
        );
        assert_eq!(
            match_redirect(&reg, Some("http://localhost:51234/cb")),
            None,
            "host must match literally"
        );
        assert_eq!(
            match_redirect(&reg, None),
            None,
            "two registered: must name one"
        );
        assert_eq!(
            match_redirect(&reg[..1], None).as_deref(),
            Some("https://app.example/cb")
        );
    }

    #[test]
    fn a_loopback_match_differs_in_the_port_only() {
        // RFC 9700 §2.1: exact matching except for the port of a loopback
        // redirect URI; user information is part of the URI like the rest.
        let reg = vec!["http://127.0.0.1/cb".to_string()];
        assert_eq!(
            match_redirect(&reg, Some("http://user:pw@127.0.0.1:5000/cb")),
            None
        );
        assert_eq!(match_redirect(&reg, Some("http://user@127.0.0.1/cb")), None);
        let with_user = vec!["http://app@127.0.0.1/cb".to_string()];
        assert_eq!(
            match_redirect(&with_user, Some("http://127.0.0.1:5000/cb")),
            None
        );
        assert_eq!(
            match_redirect(&with_user, Some("http://app@127.0.0.1:5000/cb")).as_deref(),
            Some("http://app@127.0.0.1:5000/cb")
        );
    }

    #[test]
    fn refuses_fragments_plain_http_and_dangerous_schemes() {
        assert!(validate_redirect_uri("https://app.example.com/cb#x").is_err());
        assert!(validate_redirect_uri("http://app.example.com/cb").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
        assert!(validate_redirect_uri("myapp:/cb").is_err());
    }
}

//! Scenario (g): the authorization code flow with PKCE (RFC 7636), end to
//! end over HTTP as a browser without JavaScript does it, followed by the
//! client's code exchange. One flow is one "request" in the figures.
//!
//! GET /oauth/authorize -> 200 sign-in page -> POST /oauth/authorize/login
//! -> 200 consent page (only while the user has not consented to this client
//! yet; afterwards the sign-in answers 303 straight away) -> POST
//! /oauth/authorize/consent -> 303 to the redirect URI with `code` ->
//! POST /oauth/token (authorization_code + code_verifier) -> 200.
//!
//! A signed-in browser (the session cookie kept, consent remembered) skips
//! the forms: GET /oauth/authorize answers 303 with the code at once.
//!
//! Cookies are kept by hand ([`Jar`]) so that a "fresh browser" can reuse
//! the worker's keep-alive connection.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

/// The redirect URI the bench's authorization-code client is registered
/// with (a loopback URI; nothing listens there, the driver reads the 303).
pub const REDIRECT_URI: &str = "http://127.0.0.1/cb";
/// The scope the flow asks for (an OpenID Connect sign-in plus the API).
pub const AUTHCODE_SCOPE: &str = "openid api:read";

/// Why a flow did not end with a token.
#[derive(Debug)]
pub enum FlowError {
    /// No answer (connection error or timeout).
    Transport(reqwest::Error),
    /// A step answered, but not as the flow expects.
    Step {
        step: &'static str,
        status: u16,
        detail: String,
    },
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowError::Transport(e) => write!(f, "no answer: {e}"),
            FlowError::Step {
                step,
                status,
                detail,
            } => write!(f, "{step} answered {status}: {detail}"),
        }
    }
}

impl std::error::Error for FlowError {}

impl From<reqwest::Error> for FlowError {
    fn from(e: reqwest::Error) -> Self {
        FlowError::Transport(e)
    }
}

fn off_script(step: &'static str, status: StatusCode, detail: impl Into<String>) -> FlowError {
    FlowError::Step {
        step,
        status: status.as_u16(),
        detail: detail.into(),
    }
}

/// A browser's cookies for one host: name -> value.
#[derive(Debug, Default, Clone)]
pub struct Jar(BTreeMap<String, String>);

impl Jar {
    /// Take the `Set-Cookie` headers of an answer (a `Max-Age=0` or an
    /// empty value removes the cookie).
    pub fn store(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let mut parts = v.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let expired = parts.any(|a| {
                a.trim()
                    .split_once('=')
                    .is_some_and(|(k, v)| k.eq_ignore_ascii_case("max-age") && v.trim() == "0")
            });
            if expired || value.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// The `Cookie` request header, if there is anything to send.
    pub fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Undo the HTML escaping of an attribute value (minijinja escapes `&`,
/// `<`, `>`, `"`, `'` and `/`; numeric references in general).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of attribute `attr` inside one tag's text, unescaped.
fn attribute(tag: &str, attr: &str) -> Option<String> {
    let marker = format!("{attr}=\"");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&marker) {
        let start = from + i;
        // A whole attribute name, not the tail of another (`data-name=`).
        let whole = start == 0 || tag[..start].ends_with(|c: char| c.is_ascii_whitespace());
        let vstart = start + marker.len();
        let vend = tag[vstart..].find('"')? + vstart;
        if whole {
            return Some(unescape(&tag[vstart..vend]));
        }
        from = vend;
    }
    None
}

/// Every `<input type="hidden">` of a page, as (name, value) pairs, in
/// document order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        rest = &rest[i + "<input".len()..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        rest = &rest[end..];
        if attribute(tag, "type").as_deref() != Some("hidden") {
            continue;
        }
        if let Some(name) = attribute(tag, "name") {
            out.push((name, attribute(tag, "value").unwrap_or_default()));
        }
    }
    out
}

/// The `code` of an authorization response `Location`, after checking that
/// it goes to `redirect_uri` and carries our `state` (RFC 6749 §4.1.2); an
/// `error` there is reported as such (RFC 6749 §4.1.2.1).
pub fn code_from_location(
    location: &str,
    redirect_uri: &str,
    state: &str,
) -> Result<String, String> {
    let url = Url::parse(location).map_err(|e| format!("Location {location:?}: {e}"))?;
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    if base.as_str() != redirect_uri {
        return Err(format!("Location {location:?} is not {redirect_uri}"));
    }
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(e) = get("error") {
        return Err(format!(
            "error={e} {}",
            get("error_description").unwrap_or_default()
        ));
    }
    if get("state").as_deref() != Some(state) {
        return Err(format!(
            "Location {location:?} does not carry state {state}"
        ));
    }
    get("code").ok_or_else(|| format!("Location {location:?} has no code"))
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What one flow needs to know.
pub struct FlowTarget<'a> {
    pub base_url: &'a str,
    pub client_id: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

/// One request with the jar's cookies; the jar takes the answer's.
async fn send(
    jar: &mut Jar,
    req: reqwest::RequestBuilder,
) -> Result<(StatusCode, reqwest::header::HeaderMap, String), reqwest::Error> {
    let req = match jar.header() {
        Some(c) => req.header(COOKIE, c),
        None => req,
    };
    let resp = req.send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    jar.store(&headers);
    let body = resp.text().await?;
    Ok((status, headers, body))
}

/// Post the page's form (its hidden fields plus `extra`) to `action`.
async fn submit(
    http: &reqwest::Client,
    jar: &mut Jar,
    url: String,
    html: &str,
    extra: &[(&str, &str)],
) -> Result<(StatusCode, reqwest::header::HeaderMap, String), reqwest::Error> {
    let mut form = hidden_fields(html);
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    send(jar, http.post(url).form(&form)).await
}

fn location(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers.get(LOCATION).and_then(|v| v.to_str().ok())
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

/// One whole flow in `jar`'s browser (a signed-in browser skips the forms);
/// `n` makes the state and code_verifier unique. Returns the token
/// endpoint's 200 body.
pub async fn flow(
    http: &reqwest::Client,
    jar: &mut Jar,
    t: &FlowTarget<'_>,
    n: u64,
) -> Result<Vec<u8>, FlowError> {
    // RFC 7636 §4.1: 43 to 128 unreserved characters.
    let verifier = format!("bench-code-verifier-{n:020}-0123456789abcdefghij");
    let state = format!("s{n}");
    let mut url = Url::parse(&format!("{}/oauth/authorize", t.base_url))
        .map_err(|e| off_script("authorize", StatusCode::OK, e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", t.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", AUTHCODE_SCOPE)
        .append_pair("state", &state)
        .append_pair("code_challenge", &s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    let (mut status, mut headers, mut body) = send(jar, http.get(url)).await?;
    let mut step = "GET /oauth/authorize";
    if status == StatusCode::OK && body.contains("name=\"password\"") {
        let login = [("username", t.username), ("password", t.password)];
        let action = format!("{}/oauth/authorize/login", t.base_url);
        (status, headers, body) = submit(http, jar, action, &body, &login).await?;
        step = "POST /oauth/authorize/login";
    }
    if status == StatusCode::OK && body.contains("name=\"consent\"") {
        let action = format!("{}/oauth/authorize/consent", t.base_url);
        let approve = [("consent", "approve")];
        (status, headers, body) = submit(http, jar, action, &body, &approve).await?;
        step = "POST /oauth/authorize/consent";
    }
    if status != StatusCode::SEE_OTHER {
        return Err(off_script(step, status, excerpt(&body)));
    }
    let loc = location(&headers).unwrap_or("");
    let code = code_from_location(loc, REDIRECT_URI, &state)
        .map_err(|detail| off_script(step, status, detail))?;

    // RFC 6749 §4.1.3 with RFC 7636 §4.5: a public client names itself.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", t.client_id),
        ("code_verifier", verifier.as_str()),
    ];
    let resp = http
        .post(format!("{}/oauth/token", t.base_url))
        .form(&form)
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if status != StatusCode::OK {
        return Err(off_script(
            "POST /oauth/token",
            status,
            excerpt(&String::from_utf8_lossy(&body)),
        ));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn hidden_fields_reads_every_hidden_input_unescaped() {
        let html = r#"<form method="post" action="/oauth/authorize/login">
  <input type="hidden" name="csrf" value="abc&#x2f;def">
  <input type="hidden" name="redirect_uri" value="http:&#x2f;&#x2f;127.0.0.1&#x2f;cb">
  <input type="hidden" name="scope" value="openid api:read">
  <input type="hidden" name="q" value="a&amp;b &quot;c&quot; &#x27;d&#39;">
  <input type="hidden" name="empty" value="">
  <input type="text" id="username" name="username" value="bench">
  <input type="password" name="password">
</form>"#;
        assert_eq!(
            hidden_fields(html),
            vec![
                ("csrf".to_string(), "abc/def".to_string()),
                ("redirect_uri".into(), "http://127.0.0.1/cb".into()),
                ("scope".into(), "openid api:read".into()),
                ("q".into(), "a&b \"c\" 'd'".into()),
                ("empty".into(), String::new()),
            ]
        );
    }

    #[test]
    fn attribute_needs_a_whole_name() {
        assert_eq!(
            attribute(r#" data-name="x" name="csrf""#, "name").as_deref(),
            Some("csrf")
        );
        assert_eq!(attribute(r#" data-name="x""#, "name"), None);
    }

    #[test]
    fn unescape_leaves_stray_ampersands() {
        assert_eq!(unescape("a & b &bogus; &#x41;"), "a & b &bogus; A");
        assert_eq!(unescape("tail &amp"), "tail &amp");
    }

    #[test]
    fn code_from_location_checks_target_and_state() {
        let ok = "http://127.0.0.1/cb?code=c0de%2Bx&state=s7&iss=http%3A%2F%2F127.0.0.1%3A9";
        assert_eq!(
            code_from_location(ok, REDIRECT_URI, "s7").as_deref(),
            Ok("c0de+x")
        );
        assert!(code_from_location(ok, REDIRECT_URI, "s8").is_err());
        assert!(code_from_location(ok, "http://127.0.0.1/other", "s7").is_err());
        let denied = "http://127.0.0.1/cb?error=access_denied&state=s7";
        let err = code_from_location(denied, REDIRECT_URI, "s7").unwrap_err();
        assert!(err.contains("access_denied"), "{err}");
        assert!(code_from_location("http://127.0.0.1/cb?state=s7", REDIRECT_URI, "s7").is_err());
        assert!(code_from_location("", REDIRECT_URI, "s7").is_err());
    }

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn jar_keeps_replaces_and_expires_cookies() {
        let mut jar = Jar::default();
        assert_eq!(jar.header(), None);
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("csrf=one; Path=/; HttpOnly; SameSite=Lax"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("sid=s1; Max-Age=3600"));
        jar.store(&h);
        assert_eq!(jar.header().as_deref(), Some("csrf=one; sid=s1"));
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("csrf=two"));
        h.append(SET_COOKIE, HeaderValue::from_static("sid=gone; Max-Age=0"));
        jar.store(&h);
        assert_eq!(jar.header().as_deref(), Some("csrf=two"));
        jar.clear();
        assert_eq!(jar.header(), None);
    }
}

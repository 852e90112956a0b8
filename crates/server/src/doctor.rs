//! `portcullis doctor <url>`: the discovery an MCP or OIDC client does,
//! step by step, against any issuer or MCP server URL (ours or anyone's),
//! reporting in plain words the first step that would fail for such a
//! client and what to change. The order follows the MCP authorization spec:
//! the resource's 401 and its protected resource metadata (RFC 9728), the
//! authorization server's metadata in each well-known form (RFC 8414 §3.1,
//! OIDC Discovery §4), PKCE S256, a way to register (RFC 7591, or client ID
//! metadata documents), the JWKS, CORS for browser-based clients.

use std::time::Duration;

use serde_json::Value;
use url::Url;

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works for most clients; some (browser-based ones, say) would stumble.
    Warn,
    /// A client following the spec stops here.
    Fail,
}

/// One step's finding, and what to change when it is not fine.
#[derive(Debug, Clone)]
pub struct Finding {
    pub verdict: Verdict,
    pub step: &'static str,
    pub detail: String,
    pub fix: Option<String>,
}

/// The findings in order; the last is the failure, if any.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn ok(&mut self, step: &'static str, detail: impl Into<String>) {
        self.push(Verdict::Ok, step, detail.into(), None);
    }
    fn warn(&mut self, step: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(Verdict::Warn, step, detail.into(), Some(fix.into()));
    }
    fn fail(&mut self, step: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(Verdict::Fail, step, detail.into(), Some(fix.into()));
    }
    fn push(&mut self, verdict: Verdict, step: &'static str, detail: String, fix: Option<String>) {
        self.findings.push(Finding {
            verdict,
            step,
            detail,
            fix,
        });
    }

    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.verdict == Verdict::Fail)
    }

    /// Plain text: one line per step, the fix indented under it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let tag = match f.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            out.push_str(&format!("{tag}  {}: {}\n", f.step, f.detail));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        out.push_str(if self.failed() {
            "A client following the spec stops at the FAIL above.\n"
        } else {
            "An MCP or OIDC client can discover this server, register and start an authorization.\n"
        });
        out
    }
}

struct Http {
    agent: ureq::Agent,
}

/// What a request answered (or why it got no answer).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl Http {
    fn new() -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Http { agent }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Answer, String> {
        let result = match method {
            "POST" => {
                let mut req = self.agent.post(url);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req.send(body.unwrap_or(""))
            }
            "OPTIONS" => {
                let mut req = self.agent.options(url);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req.call()
            }
            _ => {
                let mut req = self.agent.get(url);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req.call()
            }
        };
        let mut res = result.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = res
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn get_json(&self, url: &str) -> Result<Value, String> {
        let a = self.send("GET", url, &[], None)?;
        if a.status != 200 {
            return Err(format!("GET {url} answered {}", a.status));
        }
        a.json()
            .ok_or_else(|| format!("GET {url} did not answer JSON"))
    }
}

/// `https://host/.well-known/<name><path>` (path insertion, RFC 8414 §3.1
/// and RFC 9728 §3.1); the path without its trailing slash.
fn well_known(url: &Url, name: &str) -> String {
    let path = url.path().trim_end_matches('/');
    format!("{}/.well-known/{name}{path}", origin(url))
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// `resource_metadata="..."` of a `WWW-Authenticate: Bearer` challenge.
fn resource_metadata_param(challenge: &str) -> Option<String> {
    let at = challenge.find("resource_metadata=")?;
    let rest = challenge[at + "resource_metadata=".len()..].trim_start();
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    Some(value.to_string())
}

/// Run every step against `target`.
pub fn diagnose(target: &str) -> Report {
    let mut r = Report::default();
    let url = match Url::parse(target) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            r.fail(
                "url",
                format!("{target:?} is not an absolute http(s) URL"),
                "give the issuer (https://auth.example.com) or the MCP server's URL (https://mcp.example.com/mcp)",
            );
            return r;
        }
    };
    let http = Http::new();
    let issuer = match resource_step(&http, &url, &mut r) {
        Some(Some(issuer)) => issuer,
        Some(None) => target.trim_end_matches('/').to_string(),
        None => return r,
    };
    authorization_server_step(&http, &issuer, &mut r);
    r
}

/// The resource part. `Some(Some(issuer))`: a protected resource naming its
/// authorization server; `Some(None)`: not a resource (taken as an issuer);
/// `None`: failed.
fn resource_step(http: &Http, url: &Url, r: &mut Report) -> Option<Option<String>> {
    const STEP: &str = "protected resource";
    // What an MCP client does first: call the server without a token.
    let probe = http.send(
        "POST",
        url.as_str(),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        Some(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    );
    let mut prm_url = None;
    match &probe {
        Ok(a) if a.status == 401 => {
            match a.header("www-authenticate").and_then(resource_metadata_param) {
                Some(u) => {
                    r.ok(STEP, format!("401 names its metadata: {u}"));
                    prm_url = Some(u);
                }
                None => r.warn(
                    STEP,
                    "401 without resource_metadata in WWW-Authenticate; clients fall back to the well-known URL",
                    "answer 401 with WWW-Authenticate: Bearer resource_metadata=\"<metadata URL>\" (RFC 9728 §5.1)",
                ),
            }
        }
        Ok(_) | Err(_) => {}
    }
    let candidates: Vec<String> = match prm_url {
        Some(u) => vec![u],
        None => {
            let mut c = vec![well_known(url, "oauth-protected-resource")];
            let root = format!("{}/.well-known/oauth-protected-resource", origin(url));
            if !c.contains(&root) {
                c.push(root);
            }
            c
        }
    };
    let found = candidates
        .iter()
        .find_map(|u| http.get_json(u).ok().map(|doc| (u.clone(), doc)));
    let Some((prm_url, doc)) = found else {
        if let Ok(a) = &probe {
            if a.status == 401 {
                r.fail(
                    STEP,
                    format!("answers 401 but serves no protected resource metadata (tried {})", candidates.join(", ")),
                    format!("serve RFC 9728 metadata at {} naming resource {} and its authorization_servers", candidates[0], url),
                );
                return None;
            }
        }
        r.ok(
            "url",
            "no protected resource metadata here: taking the URL as an authorization server's issuer",
        );
        return Some(None);
    };
    // RFC 9728 §3.3: the resource in the document is the URL the client used.
    let resource = doc["resource"].as_str().unwrap_or_default();
    if resource != url.as_str() && resource != url.as_str().trim_end_matches('/') {
        r.fail(
            STEP,
            format!("{prm_url} names resource {resource:?}, not {url}: clients must reject it (RFC 9728 §3.3)"),
            format!("set \"resource\" to exactly {url}"),
        );
        return None;
    }
    let Some(issuer) = doc["authorization_servers"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
    else {
        r.fail(
            STEP,
            format!("{prm_url} lists no authorization_servers"),
            "add \"authorization_servers\": [\"<issuer>\"] (RFC 9728 §2)",
        );
        return None;
    };
    let scopes = doc["scopes_supported"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    r.ok(
        STEP,
        format!("{prm_url}: resource {resource}, authorization server {issuer}, scopes [{scopes}]"),
    );
    Some(Some(issuer.to_string()))
}

fn authorization_server_step(http: &Http, issuer: &str, r: &mut Report) {
    const STEP: &str = "authorization server metadata";
    let Ok(iss) = Url::parse(issuer) else {
        r.fail(
            STEP,
            format!("issuer {issuer:?} is not a URL"),
            "publish the issuer's https URL",
        );
        return;
    };
    // The forms MCP clients try, in their order (RFC 8414 §3.1 path
    // insertion, OIDC Discovery path insertion, then path appending).
    let path = iss.path().trim_end_matches('/');
    let mut forms = vec![
        well_known(&iss, "oauth-authorization-server"),
        well_known(&iss, "openid-configuration"),
    ];
    if !path.is_empty() {
        forms.push(format!(
            "{}{path}/.well-known/openid-configuration",
            origin(&iss)
        ));
    }
    let found = forms
        .iter()
        .find_map(|u| http.get_json(u).ok().map(|doc| (u.clone(), doc)));
    let Some((meta_url, meta)) = found else {
        r.fail(
            STEP,
            format!("none of {} answers JSON", forms.join(", ")),
            format!("serve RFC 8414 metadata at {}", forms[0]),
        );
        return;
    };
    // RFC 8414 §3.3: the issuer in the document is the issuer asked for.
    let named = meta["issuer"].as_str().unwrap_or_default();
    if named != issuer {
        r.fail(
            STEP,
            format!("{meta_url} names issuer {named:?}, not {issuer:?}: clients must reject it (RFC 8414 §3.3)"),
            "make the issuer setting the exact public URL clients use",
        );
        return;
    }
    r.ok(STEP, format!("{meta_url} (issuer {issuer})"));

    for (field, why) in [
        ("authorization_endpoint", "where the browser signs in"),
        ("token_endpoint", "where codes become tokens"),
    ] {
        if meta[field].as_str().is_none() {
            r.fail(
                "endpoints",
                format!("no {field} ({why})"),
                format!("add {field} to the metadata"),
            );
            return;
        }
    }
    r.ok(
        "endpoints",
        "authorization_endpoint and token_endpoint present",
    );

    let s256 = meta["code_challenge_methods_supported"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m == "S256"));
    if !s256 {
        r.fail(
            "PKCE",
            "code_challenge_methods_supported does not list S256: MCP clients refuse to go on",
            "support PKCE S256 and list it in code_challenge_methods_supported",
        );
        return;
    }
    r.ok("PKCE", "S256 advertised");

    let registration = meta["registration_endpoint"].as_str();
    let cimd = meta["client_id_metadata_document_supported"] == true;
    match (registration, cimd) {
        (None, false) => {
            r.fail(
                "registration",
                "neither registration_endpoint (RFC 7591) nor client_id_metadata_document_supported: a client without a pre-registered client_id cannot start",
                "enable dynamic client registration (Portcullis: registration.policy = \"open\" or \"token\")",
            );
            return;
        }
        (Some(e), _) => r.ok("registration", format!("dynamic registration at {e}")),
        (None, true) => r.ok("registration", "client ID metadata documents supported"),
    }

    match meta["jwks_uri"].as_str() {
        None => r.warn(
            "JWKS",
            "no jwks_uri: resource servers cannot check JWTs, OIDC clients cannot check ID tokens",
            "publish the signing keys and list jwks_uri",
        ),
        Some(u) => match http.get_json(u) {
            Ok(doc) if doc["keys"].as_array().is_some_and(|k| !k.is_empty()) => r.ok(
                "JWKS",
                format!("{u}: {} keys", doc["keys"].as_array().map_or(0, Vec::len)),
            ),
            Ok(_) => r.warn(
                "JWKS",
                format!("{u} has no keys"),
                "publish at least one signing key",
            ),
            Err(e) => r.warn("JWKS", e, "serve the JWKS at jwks_uri"),
        },
    }

    // Browser-based clients (web MCP clients) read metadata and call the
    // token endpoint cross-origin, with MCP's own header.
    let mut cors_ok = true;
    // A browser preflights only the headers that are not CORS-safelisted:
    // MCP's own, and a JSON content type for registration.
    let mut targets = vec![
        ("metadata", meta_url.as_str(), "GET", "mcp-protocol-version"),
        (
            "token endpoint",
            meta["token_endpoint"].as_str().unwrap_or_default(),
            "POST",
            "mcp-protocol-version",
        ),
    ];
    if let Some(reg) = registration {
        targets.push((
            "registration endpoint",
            reg,
            "POST",
            "content-type,mcp-protocol-version",
        ));
    }
    for (what, url, method, request_headers) in targets {
        let pre = http.send(
            "OPTIONS",
            url,
            &[
                ("Origin", "http://localhost:6274"),
                ("Access-Control-Request-Method", method),
                ("Access-Control-Request-Headers", request_headers),
            ],
            None,
        );
        let allowed = pre
            .as_ref()
            .ok()
            .and_then(|a| a.header("access-control-allow-origin").map(str::to_string));
        if allowed.is_none() {
            cors_ok = false;
            r.warn(
                "CORS",
                format!("the {what} ({url}) answers no CORS preflight naming MCP-Protocol-Version"),
                "allow any origin with the headers Authorization, Content-Type and MCP-Protocol-Version",
            );
        }
    }
    if cors_ok {
        r.ok(
            "CORS",
            "metadata and token endpoint allow browser-based clients",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_metadata_is_read_from_a_challenge() {
        assert_eq!(
            resource_metadata_param(
                r#"Bearer error="invalid_token", resource_metadata="https://r.example/.well-known/oauth-protected-resource/mcp""#
            ),
            Some("https://r.example/.well-known/oauth-protected-resource/mcp".into())
        );
        assert_eq!(
            resource_metadata_param("Bearer resource_metadata=https://r.example/m, scope=x"),
            Some("https://r.example/m".into())
        );
        assert_eq!(resource_metadata_param(r#"Bearer realm="x""#), None);
    }

    #[test]
    fn well_known_urls_insert_the_path() {
        let u = Url::parse("https://auth.example.com/tenant/").unwrap();
        assert_eq!(
            well_known(&u, "oauth-authorization-server"),
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant"
        );
        let root = Url::parse("https://auth.example.com").unwrap();
        assert_eq!(
            well_known(&root, "openid-configuration"),
            "https://auth.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn a_bad_url_is_one_failure() {
        let r = diagnose("not a url");
        assert!(r.failed());
        assert_eq!(r.findings.len(), 1);
        assert!(r.render().contains("FAIL  url"));
    }
}

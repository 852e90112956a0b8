//! Pushed authorization requests (RFC 9126). A client posts its
//! authorization request's parameters to the PAR endpoint (authenticated as
//! at the token endpoint), they are checked with the authorization
//! endpoint's rules and kept under a one-time `request_uri`; the browser
//! then carries only `client_id` and `request_uri` to `/oauth/authorize`.

use crate::authorize::{self, AUTH_PARAMS};
use crate::error::OAuthError;
use crate::model::{Client, PushedRequest};
use crate::params::Params;
use crate::ports::{PushedRequestStore, Random, StoreError};
use crate::resources::Resources;
use crate::secret::{hash_token, random_token};

/// The PAR endpoint (RFC 9126 §2).
pub const PAR_PATH: &str = "/oauth/par";

/// RFC 9126 §2.2: the `request_uri` is a URN with this prefix.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Default lifetime of a `request_uri` (RFC 9126 §2.2: "a short lifetime";
/// the RFC's examples use 60 seconds).
pub const DEFAULT_LIFETIME: i64 = 60;

/// Once used at the authorization endpoint, the pushed parameters stay
/// readable this long for the sign-in and consent steps that follow (the
/// pages carry only `client_id` and `request_uri` as the request's proof).
pub const FLOW_WINDOW: i64 = 3600;

/// Parameters that authenticate the client: never stored with the request.
const CLIENT_AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// The PAR endpoint's success response (RFC 9126 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Check a pushed request from an authenticated `client` as the
/// authorization endpoint would (RFC 9126 §2.1) and keep it. Errors are
/// RFC 6749 §5.2 errors for the PAR endpoint's JSON answer (§2.3).
pub fn push(
    tx: &mut impl PushedRequestStore,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
    resources: &Resources,
    lifetime: i64,
    now: i64,
) -> Result<Pushed, OAuthError> {
    // RFC 9126 §2.1: "The request_uri authorization request parameter is
    // one exception, and it MUST NOT be provided."
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri must not be sent to the pushed authorization request endpoint",
        ));
    }
    if params.get("client_id").is_some_and(|id| id != client.id) {
        return Err(OAuthError::invalid_request(
            "client_id does not match the authenticated client",
        ));
    }
    // RFC 9126 §2.1: the same checks as at the authorization endpoint.
    let (client, redirect_uri) = authorize::check_found_client(client.clone(), params)?;
    authorize::check_request(&client, redirect_uri, params, resources)?;
    let pairs: Vec<(&str, &String)> = AUTH_PARAMS
        .iter()
        .filter(|k| **k != "client_id" && !CLIENT_AUTH_PARAMS.contains(k))
        .flat_map(|k| params.all(k).iter().map(move |v| (*k, v)))
        .collect();
    let json = serde_json::to_string(&pairs)
        .map_err(|e| OAuthError::from(StoreError::Backend(e.to_string())))?;
    let random = random_token(rng, 32);
    tx.insert_pushed_request(&PushedRequest {
        uri_hash: hash_token(&random),
        client_id: client.id.clone(),
        params: json,
        created_at: now,
        expires_at: now + lifetime,
        used_at: None,
    })?;
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{random}"),
        expires_in: lifetime,
    })
}

/// The registration metadata member of RFC 9126 §6.
pub const REQUIRE_PAR: &str = "require_pushed_authorization_requests";

/// Does this client require pushed authorization requests (RFC 9126 §6)?
/// Kept in the client's registration metadata.
pub fn required(client: &Client) -> bool {
    client.metadata.get(REQUIRE_PAR) == Some(&serde_json::Value::Bool(true))
}

/// RFC 9126 §6: a client that requires PAR may only use the authorization
/// endpoint with a `request_uri`; else `invalid_request` (redirected to the
/// client, as the other errors after the redirect URI is known).
pub fn check_required(client: &Client, params: &Params) -> Result<(), OAuthError> {
    if required(client) && !by_reference(params) {
        return Err(OAuthError::invalid_request(
            "this client must use pushed authorization requests",
        ));
    }
    Ok(())
}

/// Did the authorization request come by reference (RFC 9126 §4)?
pub fn by_reference(params: &Params) -> bool {
    params.contains("request_uri")
}

/// The first use of a `request_uri` at the authorization endpoint (RFC 9126
/// §4): it must be this client's, unexpired and unused; it is marked used.
/// Returns the pushed parameters with `client_id` and `request_uri` (every
/// other query parameter is ignored). An error is shown as a page.
pub fn open(
    tx: &mut impl PushedRequestStore,
    params: &Params,
    now: i64,
) -> Result<Params, OAuthError> {
    let (found, client_id, uri) = find(tx, params)?;
    // RFC 9126 §4: one-time use; an expired one is refused.
    if !tx.use_pushed_request(&found.uri_hash, now)? {
        return Err(invalid());
    }
    expand(&found, client_id, uri)
}

/// A later step of the same flow (sign-in, second factor, consent): the
/// pushed parameters again, for a `request_uri` already used, within
/// [`FLOW_WINDOW`] of its first use.
pub fn resume(
    tx: &mut impl PushedRequestStore,
    params: &Params,
    now: i64,
) -> Result<Params, OAuthError> {
    let (found, client_id, uri) = find(tx, params)?;
    match found.used_at {
        Some(used) if used + FLOW_WINDOW > now => expand(&found, client_id, uri),
        _ => Err(invalid()),
    }
}

fn invalid() -> OAuthError {
    OAuthError::invalid_request("request_uri is unknown, expired or already used")
}

fn find<'p>(
    tx: &mut impl PushedRequestStore,
    params: &'p Params,
) -> Result<(PushedRequest, &'p str, &'p str), OAuthError> {
    let client_id = params.require("client_id")?;
    let uri = params.require("request_uri")?;
    let random = uri.strip_prefix(REQUEST_URI_PREFIX).ok_or_else(invalid)?;
    let found = tx
        .get_pushed_request(&hash_token(random))?
        .ok_or_else(invalid)?;
    // RFC 9126 §4: the request_uri must have been pushed by this client.
    if found.client_id != client_id {
        return Err(invalid());
    }
    Ok((found, client_id, uri))
}

fn expand(found: &PushedRequest, client_id: &str, uri: &str) -> Result<Params, OAuthError> {
    let pairs: Vec<(String, String)> = serde_json::from_str(&found.params).map_err(|e| {
        OAuthError::from(StoreError::Corrupt(format!("pushed_requests.params: {e}")))
    })?;
    Params::parse(pairs.into_iter().chain([
        ("client_id".to_string(), client_id.to_string()),
        ("request_uri".to_string(), uri.to_string()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::{new_client, ClientSpec};
    use crate::error::ErrorCode;
    use crate::pkce;
    use crate::testing::{MemStore, SeqRandom};

    const NOW: i64 = 1_000_000;

    fn client(seed: u64, metadata: serde_json::Value) -> Client {
        let spec = ClientSpec {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            metadata: Some(metadata),
            ..ClientSpec::default()
        };
        new_client(spec, 0, &mut SeqRandom(seed)).unwrap().client
    }

    fn params(extra: &[(&str, &str)]) -> Params {
        let mut pairs: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("redirect_uri".into(), "https://app.example/cb".into()),
            ("code_challenge".into(), pkce::s256(&"v".repeat(43))),
            ("code_challenge_method".into(), "S256".into()),
            ("state".into(), "st".into()),
            ("client_secret".into(), "hush".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                pairs.push((k.to_string(), v.to_string()));
            }
        }
        Params::parse(pairs).unwrap()
    }

    fn push_(s: &mut MemStore, c: &Client, p: &Params) -> Result<Pushed, OAuthError> {
        let seed = s.pushed_requests.len() as u64;
        push(
            s,
            &mut SeqRandom(seed),
            c,
            p,
            &Resources::default(),
            60,
            NOW,
        )
    }

    fn by_ref(c: &Client, uri: &str) -> Params {
        Params::parse([
            ("client_id".to_string(), c.id.clone()),
            ("request_uri".to_string(), uri.to_string()),
            ("state".to_string(), "ignored".to_string()),
        ])
        .unwrap()
    }

    #[test]
    fn pushed_request_is_opened_once_with_its_own_parameters() {
        let (mut s, c) = (MemStore::default(), client(1, serde_json::json!({})));
        let pushed = push_(&mut s, &c, &params(&[])).unwrap();
        assert!(pushed.request_uri.starts_with(REQUEST_URI_PREFIX));
        assert_eq!(pushed.expires_in, 60);
        // Only the hash is stored, and never the client's credentials.
        let row = &s.pushed_requests[0];
        let random = &pushed.request_uri[REQUEST_URI_PREFIX.len()..];
        assert_eq!(row.uri_hash, hash_token(random));
        assert!(!row.params.contains("hush") && !row.params.contains(random));
        let opened = open(&mut s, &by_ref(&c, &pushed.request_uri), NOW + 1).unwrap();
        assert_eq!(
            opened.get("state"),
            Some("st"),
            "query parameters are ignored"
        );
        assert_eq!(opened.get("client_id"), Some(c.id.as_str()));
        assert_eq!(opened.get("request_uri"), Some(pushed.request_uri.as_str()));
        // One-time use, but the later steps of the flow may read it.
        let again = open(&mut s, &by_ref(&c, &pushed.request_uri), NOW + 2);
        assert_eq!(again.unwrap_err().code, ErrorCode::InvalidRequest);
        let later = resume(&mut s, &by_ref(&c, &pushed.request_uri), NOW + 300).unwrap();
        assert_eq!(later, opened);
        assert!(resume(
            &mut s,
            &by_ref(&c, &pushed.request_uri),
            NOW + 1 + FLOW_WINDOW
        )
        .is_err());
    }

    #[test]
    fn expired_unknown_unused_or_foreign_request_uris_are_refused() {
        let (mut s, c) = (MemStore::default(), client(1, serde_json::json!({})));
        let other = client(2, serde_json::json!({}));
        let uri = push_(&mut s, &c, &params(&[])).unwrap().request_uri;
        assert!(
            resume(&mut s, &by_ref(&c, &uri), NOW).is_err(),
            "not used yet"
        );
        assert!(open(&mut s, &by_ref(&other, &uri), NOW).is_err());
        assert!(open(&mut s, &by_ref(&c, &format!("{uri}x")), NOW).is_err());
        assert!(open(&mut s, &by_ref(&c, "https://app.example/r"), NOW).is_err());
        assert!(
            open(&mut s, &by_ref(&c, &uri), NOW + 60).is_err(),
            "expired"
        );
        let uri = push_(&mut s, &c, &params(&[])).unwrap().request_uri;
        assert!(open(&mut s, &by_ref(&c, &uri), NOW + 59).is_ok());
    }

    #[test]
    fn pushed_parameters_follow_the_authorization_endpoint_rules() {
        let (mut s, c) = (MemStore::default(), client(1, serde_json::json!({})));
        let err = |s: &mut MemStore, extra: &[(&str, &str)]| {
            push_(s, &c, &params(extra)).unwrap_err().code
        };
        // RFC 9126 §2.1: request_uri MUST NOT be pushed.
        let bad = [
            ("request_uri", REQUEST_URI_PREFIX),
            ("redirect_uri", "https://evil.example/cb"),
            ("code_challenge", ""),
            ("code_challenge_method", "plain"),
            ("response_mode", "fragment"),
            ("client_id", "someone-else"),
        ];
        for (k, v) in bad {
            assert_eq!(err(&mut s, &[(k, v)]), ErrorCode::InvalidRequest, "{k}");
        }
        assert_eq!(err(&mut s, &[("scope", "admin")]), ErrorCode::InvalidScope);
        assert_eq!(
            err(&mut s, &[("response_type", "token")]),
            ErrorCode::UnsupportedResponseType
        );
        assert!(s.pushed_requests.is_empty());
    }

    #[test]
    fn a_client_may_require_pushed_requests() {
        let strict = client(3, serde_json::json!({ REQUIRE_PAR: true }));
        let lax = client(1, serde_json::json!({}));
        let direct = params(&[]);
        assert!(check_required(&lax, &direct).is_ok());
        let e = check_required(&strict, &direct).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(check_required(&strict, &by_ref(&strict, "urn:x")).is_ok());
        // Pushing is how such a client gets a request_uri.
        assert!(push_(&mut MemStore::default(), &strict, &params(&[])).is_ok());
    }
}

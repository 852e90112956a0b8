//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! as the MCP authorization specification of 2025-11-25 uses it): a client
//! whose `client_id` is an https URL is not registered beforehand; the
//! authorization server fetches the JSON document at that URL and reads the
//! client's metadata from it. The server fetches (it knows HTTP); this
//! module decides which URLs may be fetched, turns a fetched document into a
//! [`Client`], and keeps that client's row in step with its document.
//!
//! Rules, with the draft text they follow (section titles rather than
//! numbers: the numbers moved between revisions):
//!
//! - "Client Identifier": the URL "MUST have an https scheme, MUST contain
//!   a path component, MUST NOT contain single-dot or double-dot path
//!   segments, MAY contain a query string component, MUST NOT contain a
//!   fragment component, MUST NOT contain a username or password component,
//!   and MAY contain a port". Portcullis also wants it in its normal form
//!   (lower-case scheme and host, no default port), so that the string the
//!   client sends is the URL fetched; plain `http` on a loopback host is
//!   allowed only for development (`allow_http_loopback`).
//! - "Client Metadata": the document "MUST contain a client_id property
//!   whose value MUST match the URL of the document using simple string
//!   comparison" (byte for byte here); it "MUST NOT include a client_secret
//!   or client_secret_expires_at property"; `token_endpoint_auth_method`
//!   "MUST NOT include client_secret_post, client_secret_basic,
//!   client_secret_jwt, or any other method based around a shared symmetric
//!   secret". Every other member follows RFC 7591 §2, with the same checks
//!   as dynamic registration ([`crate::register::parse_metadata`]).
//! - "Maximum Response Size": a limit of 5 kilobytes is recommended
//!   ([`MAX_DOCUMENT_BYTES`]; the server stops reading past it).
//!
//! Portcullis's own choices: such clients are public (`none`, with PKCE)
//! or authenticate with `private_key_jwt` (RFC 7523 §2.2) against the
//! `jwks` or `jwks_uri` their document publishes (a `jwks_uri` is fetched
//! with the same guard as the document). A document that names no method
//! is a public client. Some clients publish the
//! server-metadata member `token_endpoint_auth_methods_supported` (a list)
//! instead of `token_endpoint_auth_method`: that is tolerated, and `none`
//! is picked when listed. A document without `client_name` is named after
//! its host. Every refusal is `invalid_client` ("the client is unknown"),
//! with a description saying why.
//!
//! The client is kept as a row of the clients table (its id is the URL,
//! marked with [`MARK`] and the time it was fetched in its metadata), so
//! that codes, tokens and consents keep their foreign key and refresh works
//! later; [`save`] writes it when a code is issued and whenever the token
//! endpoint sees a newer fetch. An administrator's settings on that row
//! (disabled, resource server, token format, signing algorithm) survive
//! re-fetches.

use serde_json::{json, Map, Value};
use url::Url;

use crate::clients::client_with_id;
use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::ports::{AuditStore, ClientStore, Random, StoreError};
use crate::redirect::is_loopback;
use crate::register::{parse_metadata, response_types, DYNAMIC};
use crate::sessions::audit;

/// The member of `Client::metadata` that marks a client read from a
/// metadata document.
pub const MARK: &str = "metadata_document";

/// The member of `Client::metadata` holding when the document was fetched
/// (Unix seconds).
pub const FETCHED_AT: &str = "fetched_at";

/// The most of a document the server reads ("Maximum Response Size": 5
/// kilobytes recommended).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// The longest client_id URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// Methods built on a shared symmetric secret: never in a document.
const SHARED_SECRET_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
];

/// A refusal: the client is unknown, and why.
pub fn refused(why: impl std::fmt::Display) -> OAuthError {
    OAuthError::with(
        ErrorCode::InvalidClient,
        format!("the client's metadata document cannot be used: {why}"),
    )
}

/// Does this `client_id` name a metadata document (rather than a row of the
/// clients table)? Ids Portcullis issues never start with a URL scheme.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Is this client read from a metadata document?
pub fn is_document_client(client: &Client) -> bool {
    client.metadata.get(MARK) == Some(&Value::Bool(true))
}

/// The URL to fetch for `client_id`, if the rules of "Client Identifier"
/// allow it. `allow_http_loopback`: development only, plain `http` on a
/// loopback host.
pub fn check_url(client_id: &str, allow_http_loopback: bool) -> Result<Url, OAuthError> {
    if client_id.len() > MAX_URL_LEN {
        return Err(refused(format!(
            "the client_id URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = Url::parse(client_id).map_err(|_| refused("the client_id is not a valid URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http_loopback && is_loopback(&url) => {}
        _ => return Err(refused("the client_id URL must use https")),
    }
    if client_id.contains('#') {
        return Err(refused("the client_id URL must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            "the client_id URL must not contain a username or password",
        ));
    }
    // The path as written (Url::parse removes dot segments, so look at the
    // raw text): from the first '/' after the authority up to the query.
    let after_scheme = client_id
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let before_query = after_scheme.split('?').next().unwrap_or_default();
    let Some(slash) = before_query.find('/') else {
        return Err(refused("the client_id URL must contain a path"));
    };
    let dot = |seg: &str| {
        let s = seg.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    };
    if before_query[slash..].split('/').any(dot) {
        return Err(refused(
            "the client_id URL must not contain . or .. path segments",
        ));
    }
    if url.as_str() != client_id {
        return Err(refused(format!(
            "the client_id URL must be written in its normal form: {}",
            url.as_str()
        )));
    }
    Ok(url)
}

/// The method the document asks for (`none` when it names none), or why
/// not: `none` (a public client with PKCE) or `private_key_jwt` (RFC 7523
/// §2.2, with the `jwks` or `jwks_uri` the document publishes).
fn check_auth_method(doc: &Map<String, Value>) -> Result<&'static str, OAuthError> {
    let one = |m: &str| -> Result<&'static str, OAuthError> {
        match m {
            "none" => Ok("none"),
            "private_key_jwt" => Ok("private_key_jwt"),
            m if SHARED_SECRET_METHODS.contains(&m) => Err(refused(format!(
                "token_endpoint_auth_method {m} relies on a shared secret, which a metadata document cannot have; use none or private_key_jwt"
            ))),
            other => Err(refused(format!(
                "token_endpoint_auth_method {:?} is not supported; use none or private_key_jwt",
                other.chars().take(64).collect::<String>()
            ))),
        }
    };
    match doc.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) => return one(m),
        Some(_) => return Err(refused("token_endpoint_auth_method must be a string")),
    }
    // A quirk seen in the wild: the server-metadata member (a list).
    match doc.get("token_endpoint_auth_methods_supported") {
        None | Some(Value::Null) => Ok("none"),
        Some(Value::Array(list)) => {
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            match names.first() {
                _ if names.contains(&"none") => Ok("none"),
                Some(first) => one(first),
                None => Ok("none"),
            }
        }
        Some(_) => Err(refused(
            "token_endpoint_auth_methods_supported must be an array of strings",
        )),
    }
}

/// The client a document fetched from `client_id` describes, fetched at
/// `now`. `client_id` must have passed [`check_url`]; `body` is the
/// response body (at most [`MAX_DOCUMENT_BYTES`]).
pub fn client_from_document(client_id: &str, body: &[u8], now: i64) -> Result<Client, OAuthError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| refused("the document is not valid JSON"))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| refused("the document must be a JSON object"))?;
    match obj.get("client_id") {
        Some(Value::String(id)) if id == client_id => {}
        Some(Value::String(_)) => {
            return Err(refused(
                "its client_id does not match the URL it was fetched from (they must be equal byte for byte)",
            ))
        }
        _ => return Err(refused("it has no client_id")),
    }
    for m in ["client_secret", "client_secret_expires_at"] {
        if obj.get(m).is_some_and(|v| !v.is_null()) {
            return Err(refused(format!(
                "it must not contain {m}: such clients have no shared secret"
            )));
        }
    }
    let method = check_auth_method(obj)?;

    let mut doc = obj.clone();
    doc.insert("token_endpoint_auth_method".into(), json!(method));
    let named = match obj.get("client_name") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    };
    if !named {
        let host = Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| client_id.to_string());
        doc.insert("client_name".into(), json!(host));
    }
    let mut spec = parse_metadata(&Value::Object(doc))
        .map_err(|e| refused(e.description.unwrap_or_else(|| e.code.to_string())))?;
    let mut kept = match spec.metadata.take() {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    kept.remove(DYNAMIC);
    kept.insert(MARK.into(), Value::Bool(true));
    kept.insert(FETCHED_AT.into(), json!(now));
    spec.metadata = Some(Value::Object(kept));
    let mut client = client_with_id(spec, client_id.to_string(), None, now)
        .map_err(|e| refused(e.description.unwrap_or_else(|| e.code.to_string())))?;
    client.response_types = response_types(&client.grant_types);
    Ok(client)
}

/// `fresh` (read from its document) with the settings an administrator
/// made on the stored row kept: disabled, resource server, token format,
/// signing algorithm, and when it was first stored.
pub fn merge(stored: Option<&Client>, fresh: &Client) -> Client {
    let mut c = fresh.clone();
    if let Some(s) = stored {
        c.created_at = s.created_at;
        c.disabled = s.disabled;
        c.is_resource_server = s.is_resource_server;
        c.first_party = s.first_party;
        c.access_token_format = s.access_token_format;
        c.signing_alg = s.signing_alg;
    }
    c
}

/// The client as it stands now: `fresh` merged with its stored row, if any.
/// A row under that id that is not a metadata-document client makes the
/// client unknown.
pub fn current(tx: &mut impl ClientStore, fresh: &Client) -> Result<Client, OAuthError> {
    let stored = tx.get_client(&fresh.id)?;
    if stored.as_ref().is_some_and(|s| !is_document_client(s)) {
        return Err(OAuthError::with(ErrorCode::InvalidClient, "unknown client"));
    }
    Ok(merge(stored.as_ref(), fresh))
}

/// When the document behind `client` was fetched.
fn fetched_at(client: &Client) -> i64 {
    client
        .metadata
        .get(FETCHED_AT)
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Store `fresh` (merged with its row): insert it the first time (audited
/// as `client_registered` via `metadata_document`), update it when its
/// document changed, unless the row holds a later fetch (another node's).
/// Returns the client as stored.
pub fn save(
    tx: &mut (impl ClientStore + AuditStore),
    rng: &mut dyn Random,
    fresh: &Client,
    now: i64,
) -> Result<Client, OAuthError> {
    let stored = tx.get_client(&fresh.id)?;
    if stored.as_ref().is_some_and(|s| !is_document_client(s)) {
        return Err(OAuthError::with(ErrorCode::InvalidClient, "unknown client"));
    }
    let merged = merge(stored.as_ref(), fresh);
    match stored {
        Some(s) if fetched_at(&s) > fetched_at(fresh) => return Ok(s),
        Some(s) if s == merged => {}
        Some(_) => {
            tx.update_client(&merged)?;
        }
        None => {
            match tx.insert_client(&merged) {
                Ok(()) => {}
                // Another request stored it first; this one is retried by
                // the client (a failed statement ends a PostgreSQL
                // transaction, so no second try here).
                Err(StoreError::Conflict(_)) => {
                    return Err(OAuthError::with(
                        ErrorCode::TemporarilyUnavailable,
                        "the client was being stored by another request; try again",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            audit(
                tx,
                rng,
                now,
                "client_registered",
                None,
                Some(&merged.id),
                None,
                json!({"via": "metadata_document", "public": true}),
            )?;
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientAuthMethod, GrantType, SigningAlg};
    use crate::testing::{MemStore, SeqRandom, T0};

    const ID: &str = "https://app.example/oauth/client.json";

    fn doc(extra: Value) -> Vec<u8> {
        let mut d = json!({
            "client_id": ID,
            "client_name": "Example MCP client",
            "redirect_uris": ["http://127.0.0.1:3000/callback", "https://app.example/cb"],
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                d.as_object_mut().unwrap().remove(k);
            } else {
                d[k] = v.clone();
            }
        }
        serde_json::to_vec(&d).unwrap()
    }

    fn why(body: &[u8]) -> String {
        let e = client_from_document(ID, body, T0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClient);
        e.description.unwrap()
    }

    #[test]
    fn a_document_becomes_a_public_client_named_by_its_url() {
        let c = client_from_document(
            ID,
            &doc(json!({"logo_uri": "https://app.example/l.png"})),
            T0,
        )
        .unwrap();
        assert_eq!(c.id, ID);
        assert_eq!(c.auth_method, ClientAuthMethod::None);
        assert!(c.secret_hash.is_none() && c.registration_token_hash.is_none());
        assert_eq!(c.name, "Example MCP client");
        assert_eq!(
            c.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(c.response_types, vec!["code".to_string()]);
        assert!(is_document_client(&c));
        assert_eq!(c.metadata[FETCHED_AT], T0);
        assert!(c.metadata.get(DYNAMIC).is_none(), "not a registered client");
        assert_eq!(c.metadata["logo_uri"], "https://app.example/l.png");
        assert_eq!((c.created_at, c.updated_at), (T0, T0));
    }

    #[test]
    fn client_id_must_equal_the_url_byte_for_byte() {
        for other in [
            "https://app.example/oauth/client.json/",
            "https://APP.example/oauth/client.json",
            "https://app.example:443/oauth/client.json",
            "https://app.example/oauth/client.json?",
            "https://app.example/oauth/Client.json",
        ] {
            let d = why(&doc(json!({ "client_id": other })));
            assert!(d.contains("does not match"), "{other}: {d}");
        }
        assert!(why(&doc(json!({"client_id": null}))).contains("no client_id"));
        assert!(why(&doc(json!({"client_id": 7}))).contains("no client_id"));
    }

    #[test]
    fn redirect_uris_follow_the_registration_rules() {
        let cases = [
            (json!({"redirect_uris": null}), "redirect_uris"),
            (json!({"redirect_uris": []}), "redirect_uris"),
            (
                json!({"redirect_uris": "https://app.example/cb"}),
                "redirect_uris",
            ),
            (json!({"redirect_uris": ["http://app.example/cb"]}), "http"),
            (
                json!({"redirect_uris": ["https://app.example/cb#x"]}),
                "fragment",
            ),
            (
                json!({"redirect_uris": ["javascript:alert(1)"]}),
                "redirect_uris",
            ),
        ];
        for (extra, needle) in cases {
            let d = why(&doc(extra.clone()));
            assert!(d.contains(needle), "{extra}: {d}");
        }
    }

    #[test]
    fn shared_secrets_are_refused_and_private_key_jwt_needs_keys() {
        for m in SHARED_SECRET_METHODS {
            let d = why(&doc(json!({ "token_endpoint_auth_method": m })));
            assert!(d.contains("shared secret"), "{m}: {d}");
        }
        let d = why(&doc(
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
        ));
        assert!(d.contains("needs jwks or jwks_uri"), "{d}");
        let d = why(&doc(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        })));
        assert!(d.contains("jwks"), "{d}");
        let keyed = json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks.json",
        });
        let c = client_from_document(ID, &doc(keyed), T0).unwrap();
        assert_eq!(c.auth_method, ClientAuthMethod::PrivateKeyJwt);
        assert!(c.secret_hash.is_none());
        assert_eq!(c.metadata["jwks_uri"], "https://app.example/jwks.json");
        let listed = json!({
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "jwks_uri": "https://app.example/jwks.json",
        });
        let c = client_from_document(ID, &doc(listed), T0).unwrap();
        assert_eq!(c.auth_method, ClientAuthMethod::PrivateKeyJwt);
        let d = why(&doc(
            json!({"token_endpoint_auth_method": "tls_client_auth"}),
        ));
        assert!(d.contains("not supported"), "{d}");
        for m in ["client_secret", "client_secret_expires_at"] {
            let d = why(&doc(json!({ m: "x" })));
            assert!(d.contains(m), "{d}");
        }
        // A public client that also asks for a grant only confidential
        // clients may use.
        let d = why(&doc(
            json!({"grant_types": ["authorization_code", "client_credentials"]}),
        ));
        assert!(d.contains("client_credentials"), "{d}");
        let d = why(&doc(json!({"grant_types": ["password"]})));
        assert!(d.contains("password"), "{d}");
    }

    #[test]
    fn a_list_of_supported_methods_is_tolerated_when_it_offers_none() {
        let c = client_from_document(
            ID,
            &doc(json!({"token_endpoint_auth_methods_supported": ["private_key_jwt", "none"]})),
            T0,
        )
        .unwrap();
        assert_eq!(c.auth_method, ClientAuthMethod::None);
        let c = client_from_document(
            ID,
            &doc(json!({"token_endpoint_auth_method": "none", "token_endpoint_auth_methods_supported": ["client_secret_basic"]})),
            T0,
        )
        .unwrap();
        assert!(c.is_public(), "the singular member wins");
        let d = why(&doc(
            json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]}),
        ));
        assert!(d.contains("shared secret"), "{d}");
        let d = why(&doc(
            json!({"token_endpoint_auth_methods_supported": "none"}),
        ));
        assert!(d.contains("array"), "{d}");
    }

    #[test]
    fn a_document_without_a_name_is_named_after_its_host() {
        for name in [json!(null), json!(""), json!("  ")] {
            let c = client_from_document(ID, &doc(json!({ "client_name": name })), T0).unwrap();
            assert_eq!(c.name, "app.example");
        }
        assert!(why(&doc(json!({"client_name": 5}))).contains("client_name"));
    }

    #[test]
    fn not_json_or_not_an_object_is_refused() {
        assert!(why(b"<html>").contains("not valid JSON"));
        assert!(why(b"[1]").contains("JSON object"));
    }

    #[test]
    fn client_id_urls_follow_the_drafts_rules() {
        for ok in [
            ID,
            "https://app.example/",
            "https://app.example:8443/c?v=1",
            "https://192.0.2.7/c.json",
        ] {
            assert_eq!(check_url(ok, false).unwrap().as_str(), ok);
        }
        let cases = [
            ("http://app.example/c.json", "https"),
            ("http://127.0.0.1:8080/c.json", "https"),
            ("ftp://app.example/c.json", "https"),
            ("https://app.example", "path"),
            ("https://app.example?x", "path"),
            ("https://app.example/a/../c.json", ". or .."),
            ("https://app.example/./c.json", ". or .."),
            ("https://app.example/a/%2E%2e/c.json", ". or .."),
            ("https://app.example/c.json#top", "fragment"),
            ("https://user@app.example/c.json", "username"),
            ("https://u:p@app.example/c.json", "username"),
            ("https://APP.example/c.json", "normal form"),
            ("https://app.example:443/c.json", "normal form"),
            ("https://app.example/a b", "normal form"),
            ("https://", "not a valid URL"),
        ];
        for (url, needle) in cases {
            let e = check_url(url, false).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidClient);
            let d = e.description.unwrap();
            assert!(d.contains(needle), "{url}: {d}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long, false).is_err());
        // Development: plain http, on loopback only.
        assert!(check_url("http://127.0.0.1:8080/c.json", true).is_ok());
        assert!(check_url("http://localhost:8080/c.json", true).is_ok());
        assert!(check_url("http://app.example/c.json", true).is_err());
    }

    #[test]
    fn only_urls_name_documents() {
        assert!(is_document_url(ID));
        assert!(is_document_url("http://127.0.0.1/c"));
        assert!(!is_document_url("Zx3kq0abcdEF"));
        assert!(!is_document_url("portcullis-login-api"));
        assert!(!is_document_url("urn:example:client"));
    }

    #[test]
    fn saving_inserts_once_updates_on_change_and_keeps_admin_settings() {
        let mut s = MemStore::default();
        let mut rng = SeqRandom(1);
        let first = client_from_document(ID, &doc(json!({})), T0).unwrap();
        let stored = save(&mut s, &mut rng, &first, T0).unwrap();
        assert_eq!(stored, first);
        assert_eq!(s.events_of("client_registered").len(), 1);
        // The same fetch again: nothing to write.
        save(&mut s, &mut rng, &first, T0 + 1).unwrap();
        assert_eq!(s.get_client(ID).unwrap().unwrap(), first);

        // An administrator disables it and changes its signing algorithm;
        // a later fetch with new redirect URIs keeps both.
        let mut admin = first.clone();
        admin.disabled = true;
        admin.signing_alg = SigningAlg::Es256;
        s.update_client(&admin).unwrap();
        let later = client_from_document(
            ID,
            &doc(json!({"redirect_uris": ["https://app.example/new"]})),
            T0 + 600,
        )
        .unwrap();
        let stored = save(&mut s, &mut rng, &later, T0 + 600).unwrap();
        assert!(stored.disabled);
        assert_eq!(stored.signing_alg, SigningAlg::Es256);
        assert_eq!(
            stored.redirect_uris,
            vec!["https://app.example/new".to_string()]
        );
        assert_eq!((stored.created_at, stored.updated_at), (T0, T0 + 600));
        assert_eq!(stored.metadata[FETCHED_AT], T0 + 600);
        assert_eq!(s.get_client(ID).unwrap().unwrap(), stored);
        assert_eq!(current(&mut s, &later).unwrap(), stored);
        assert_eq!(s.events_of("client_registered").len(), 1, "audited once");
        // An older fetch (another node's cache) does not overwrite it.
        let older = client_from_document(ID, &doc(json!({})), T0 + 300).unwrap();
        assert_eq!(save(&mut s, &mut rng, &older, T0 + 700).unwrap(), stored);
        assert_eq!(s.get_client(ID).unwrap().unwrap(), stored);
    }

    #[test]
    fn a_row_that_is_not_a_document_client_is_never_overwritten() {
        let mut s = MemStore::default();
        let fresh = client_from_document(ID, &doc(json!({})), T0).unwrap();
        let mut other = fresh.clone();
        other.metadata = json!({});
        s.insert_client(&other).unwrap();
        let e = save(&mut s, &mut SeqRandom(2), &fresh, T0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClient);
        assert_eq!(
            current(&mut s, &fresh).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        assert_eq!(s.get_client(ID).unwrap().unwrap(), other);
    }
}

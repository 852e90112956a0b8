//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document)
//! against the real binary: a `client_id` URL served by a small HTTP server
//! inside the test (on 127.0.0.1, reachable only through the development
//! setting `client_metadata_documents.allow_private_addresses`), used for
//! the whole code flow with PKCE, a refresh and a revocation; the SSRF
//! guard without that setting (nothing fetched); every refusal the draft
//! asks for; and the cache.

use std::time::Duration;

use base64::Engine;
use portcullis_e2e::client_keys::{self, ClientKey};
use portcullis_e2e::doc_server::{DocServer, Reply};
use portcullis_e2e::{
    add_user, approve, browser_like, databases, location_params, param, sign_in, verify_jwt,
    Server, TestDb,
};
use serde_json::{json, Value};
use sha2::Digest;

const VERIFIER: &str = "correct-horse-battery-staple-0123456789-abcdefghij";
const REDIRECT: &str = "http://127.0.0.1:43210/cb";
const DEV: (&str, &str) = (
    "PORTCULLIS_CLIENT_METADATA_DOCUMENTS__ALLOW_PRIVATE_ADDRESSES",
    "true",
);

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

/// Serve a valid document for `path` on `docs` (its `client_id` is its URL).
fn document(docs: &DocServer, path: &str, extra: Value, cache_control: &str) -> String {
    let id = docs.url(path);
    docs.set(path, Reply::json(&doc(&id, extra), cache_control));
    id
}

/// A client metadata document for `client_id`, with `extra` members
/// (`null` removes one).
fn doc(client_id: &str, extra: Value) -> Value {
    let mut d = json!({
        "client_id": client_id,
        "client_name": "Doc App",
        "redirect_uris": [REDIRECT],
        "scope": "openid profile email offline_access",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            d.as_object_mut().unwrap().remove(k);
        } else {
            d[k] = v.clone();
        }
    }
    d
}

fn authorize_url(s: &Server, client_id: &str) -> String {
    let pairs = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email offline_access"),
        ("state", "st-1"),
        ("code_challenge", &challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
    ];
    let q = reqwest::Url::parse_with_params("http://x/", &pairs)
        .unwrap()
        .query()
        .unwrap()
        .to_string();
    s.url(&format!("/oauth/authorize?{q}"))
}

/// The authorization request is refused with an error page (never a
/// redirect) whose text contains `needle`; the page's HTML.
fn refused_page(s: &Server, client_id: &str, needle: &str) -> String {
    let res = browser_like()
        .get(authorize_url(s, client_id))
        .send()
        .unwrap();
    assert_eq!(res.status(), 400, "{client_id}");
    assert!(res.headers().get("location").is_none(), "never redirected");
    let html = res.text().unwrap();
    assert!(html.contains("invalid_client"), "{client_id}: {html}");
    assert!(
        html.contains(needle),
        "{client_id}: {needle:?} not in {html}"
    );
    html
}

fn token(s: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    s.token(None, form)
}

/// Sign in as alice and approve; the code.
fn sign_in_and_approve(s: &Server, http: &reqwest::blocking::Client, client_id: &str) -> String {
    let html = sign_in(s, http, &authorize_url(s, client_id), "alice", "pw");
    assert!(html.contains("Allow Doc App?"), "{html}");
    assert!(
        html.contains("describes itself at 127.0.0.1"),
        "the consent page names the document's host: {html}"
    );
    assert!(html.contains("(127.0.0.1)"), "and the redirect host");
    let p = location_params(&approve(s, http, &html));
    assert_eq!(param(&p, "state"), Some("st-1"));
    param(&p, "code").expect("a code").to_string()
}

fn exchange(s: &Server, client_id: &str, code: &str) -> (u16, Value) {
    token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
}

fn refresh(s: &Server, client_id: &str, refresh_token: &str) -> (u16, Value) {
    token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
    )
}

#[test]
fn a_document_client_goes_through_the_code_flow_refresh_and_revocation() {
    for db in databases() {
        let docs = DocServer::start();
        let id = document(&docs, "/client.json", json!({}), "max-age=3600");
        add_user(&db, "alice", "pw", &["--email", "alice@example.com"]);
        let s = Server::start_with(&db, &[], &[DEV]);
        let meta = s.get_json("/.well-known/oauth-authorization-server");
        assert_eq!(meta["client_id_metadata_document_supported"], true);

        let http = browser_like();
        let code = sign_in_and_approve(&s, &http, &id);
        let (status, tokens) = exchange(&s, &id, &code);
        assert_eq!(status, 200, "{tokens}");
        let at = tokens["access_token"].as_str().unwrap();
        let (_, claims) = verify_jwt(&s, at, "at+jwt", |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.validate_aud = false;
            v
        });
        assert_eq!(claims["client_id"], id.as_str());
        let id_token = tokens["id_token"].as_str().unwrap();
        let (_, id_claims) = verify_jwt(&s, id_token, "JWT", |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.set_audience(&[id.as_str()]);
            v
        });
        assert_eq!(id_claims["aud"], id.as_str());

        // A refresh, by the public client alone.
        let rt = tokens["refresh_token"].as_str().unwrap();
        let (status, refreshed) = refresh(&s, &id, rt);
        assert_eq!(status, 200, "{refreshed}");
        let rt2 = refreshed["refresh_token"].as_str().unwrap().to_string();

        // A second authorization within max-age: consent is remembered, and
        // the document is not fetched again.
        let again = http.get(authorize_url(&s, &id)).send().unwrap();
        assert_eq!(again.status(), 303);
        let code2 = param(&location_params(&again), "code").unwrap().to_string();
        let (status, body) = exchange(&s, &id, &code2);
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            docs.hits("/client.json"),
            1,
            "one fetch for two authorizations, two exchanges and a refresh"
        );

        // Revocation works from the stored client; the refresh token is dead.
        let res = s.post_form(
            "/oauth/revoke",
            None,
            &[("token", rt2.as_str()), ("client_id", id.as_str())],
        );
        assert_eq!(res.status(), 200);
        let (status, body) = refresh(&s, &id, &rt2);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        // A secret is no way in: the client is public.
        let res = s.post_form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", "guess"),
            ],
        );
        assert_eq!(res.status(), 401);
    }
}

/// RFC 7523 §2.2 for a document client: the document publishes its keys
/// (`jwks_uri`, on the same host); the code is exchanged with an assertion,
/// and the client alone (no assertion) is refused.
#[test]
fn a_document_client_may_authenticate_with_private_key_jwt() {
    for db in databases() {
        let docs = DocServer::start();
        let key = ClientKey::es256("doc-key");
        docs.set(
            "/jwks.json",
            Reply::json(&ClientKey::jwks(&[&key]), "max-age=3600"),
        );
        let id = document(
            &docs,
            "/signed.json",
            json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": docs.url("/jwks.json"),
            }),
            "max-age=3600",
        );
        add_user(&db, "alice", "pw", &["--email", "alice@example.com"]);
        let s = Server::start_with(&db, &[], &[DEV]);
        let http = browser_like();
        let code = sign_in_and_approve(&s, &http, &id);
        // The client alone is no longer enough.
        let (status, body) = exchange(&s, &id, &code);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{body}"
        );
        // The refused attempt did not use the code up.
        let assertion = key.assertion(&id, &s.issuer, "doc-1");
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        fields.extend_from_slice(&client_keys::form(&assertion));
        let (status, tokens) = token(&s, &fields);
        assert_eq!(status, 200, "{tokens}");
        assert!(tokens["refresh_token"].is_string());
        // A refresh, with a new assertion; the used one is refused.
        let rt = tokens["refresh_token"].as_str().unwrap();
        let again = key.assertion(&id, &s.issuer, "doc-2");
        let mut fields = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        fields.extend_from_slice(&client_keys::form(&again));
        let (status, body) = token(&s, &fields);
        assert_eq!(status, 200, "{body}");
        let (status, body) = token(&s, &fields);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert_eq!(docs.hits("/jwks.json"), 1, "the key set is cached");
    }
}

#[test]
fn without_the_development_setting_private_addresses_are_never_fetched() {
    let db = TestDb::sqlite();
    let docs = DocServer::start();
    document(&docs, "/client.json", json!({}), "max-age=3600");
    let port = docs.port;
    let s = Server::start(&db);
    // Plain http: refused on its face.
    refused_page(&s, &docs.url("/client.json"), "must use https");
    // https to loopback, by name and by address: refused before any
    // connection, without naming the address a name resolved to.
    for id in [
        format!("https://localhost:{port}/client.json"),
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://[::1]:{port}/client.json"),
        format!("https://[::ffff:7f00:1]:{port}/client.json"),
        "https://10.0.0.1/client.json".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let html = refused_page(&s, &id, "private or special-purpose address");
        if id.contains("localhost") {
            assert!(
                !html.contains("127.0.0.1") && !html.contains("::1"),
                "{html}"
            );
        }
        let (status, body) = token(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", "x"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    assert_eq!(docs.connections(), 0, "nothing was fetched");
}

#[test]
fn documents_that_break_the_rules_are_refused() {
    for db in databases() {
        let docs = DocServer::start();
        let s = Server::start_with(&db, &[], &[DEV]);
        let good = doc(&docs.url("/big.json"), json!({"padding": "x".repeat(6000)}));

        // client_id differs from the URL (a trailing slash).
        let other = docs.url("/mismatch.json/");
        docs.set(
            "/mismatch.json",
            Reply::json(&doc(&other, json!({})), "max-age=60"),
        );
        // Larger than 5 KB, announced or not.
        docs.set("/big.json", Reply::json(&good, "max-age=60"));
        let mut streamed = Reply::json(
            &doc(
                &docs.url("/big-stream.json"),
                json!({"padding": "x".repeat(6000)}),
            ),
            "max-age=60",
        );
        streamed.length = false;
        docs.set("/big-stream.json", streamed);
        // A redirect to a valid document: not followed.
        let target = document(&docs, "/target.json", json!({}), "max-age=60");
        docs.set(
            "/moved.json",
            Reply {
                status: 302,
                headers: vec![("Location".into(), target.clone())],
                body: vec![],
                length: true,
            },
        );
        // Not JSON; not found.
        let mut html = Reply::json(&doc(&docs.url("/page.json"), json!({})), "max-age=60");
        html.headers[0].1 = "text/html".into();
        docs.set("/page.json", html);
        // Shared secrets; no redirect URIs; a secret in the document.
        document(
            &docs,
            "/secret-method.json",
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "max-age=60",
        );
        document(
            &docs,
            "/jwt-method.json",
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "max-age=60",
        );
        document(
            &docs,
            "/no-redirects.json",
            json!({"redirect_uris": null}),
            "max-age=60",
        );
        document(
            &docs,
            "/bad-redirect.json",
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "max-age=60",
        );
        document(
            &docs,
            "/with-secret.json",
            json!({"client_secret": "s3cret"}),
            "max-age=60",
        );

        for (path, needle) in [
            ("/mismatch.json", "does not match"),
            ("/big.json", "larger than 5 KB"),
            ("/big-stream.json", "larger than 5 KB"),
            ("/moved.json", "does not follow"),
            ("/page.json", "JSON"),
            ("/missing.json", "HTTP 404"),
            ("/secret-method.json", "shared secret"),
            ("/jwt-method.json", "needs jwks or jwks_uri"),
            ("/no-redirects.json", "redirect_uris"),
            ("/bad-redirect.json", "use https"),
            ("/with-secret.json", "client_secret"),
        ] {
            refused_page(&s, &docs.url(path), needle);
            assert_eq!(docs.hits(path), 1, "{path} fetched once");
        }
        assert_eq!(
            docs.hits("/target.json"),
            0,
            "the redirect was not followed"
        );

        // The token endpoint says invalid_client for the same documents.
        let (status, body) = token(
            &s,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &docs.url("/mismatch.json")),
                ("refresh_token", "x"),
            ],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );

        // The known quirk is tolerated: a list of supported methods with none.
        let quirk = document(
            &docs,
            "/quirk.json",
            json!({"token_endpoint_auth_methods_supported": ["private_key_jwt", "none"]}),
            "max-age=60",
        );
        let res = browser_like()
            .get(authorize_url(&s, &quirk))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "the sign-in page");
        // A valid document with an unregistered redirect URI: still a page.
        let res = browser_like()
            .get(authorize_url(&s, &quirk).replace("43210", "43210%2Fother"))
            .send()
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.headers().get("location").is_none());
    }
}

#[test]
fn no_store_is_cached_for_the_minimum() {
    let db = TestDb::sqlite();
    let docs = DocServer::start();
    let id = document(&docs, "/client.json", json!({}), "no-store");
    let zero = document(&docs, "/zero.json", json!({}), "max-age=0");
    let s = Server::start_with(&db, &[], &[DEV]);
    for client_id in [&id, &zero, &id, &zero] {
        let res = browser_like()
            .get(authorize_url(&s, client_id))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        docs.hits("/client.json"),
        1,
        "no-store: kept for min_cache_secs"
    );
    assert_eq!(
        docs.hits("/zero.json"),
        1,
        "max-age=0: kept for min_cache_secs"
    );
}

#[test]
fn a_stale_document_is_fetched_again_and_a_broken_one_stops_refresh() {
    let db = TestDb::sqlite();
    let docs = DocServer::start();
    let id = document(&docs, "/client.json", json!({}), "max-age=3600");
    add_user(&db, "alice", "pw", &[]);
    let s = Server::start_with(
        &db,
        &[],
        &[
            DEV,
            ("PORTCULLIS_CLIENT_METADATA_DOCUMENTS__MIN_CACHE_SECS", "1"),
            ("PORTCULLIS_CLIENT_METADATA_DOCUMENTS__MAX_CACHE_SECS", "1"),
        ],
    );
    let code = sign_in_and_approve(&s, &browser_like(), &id);
    let (status, tokens) = exchange(&s, &id, &code);
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let before = docs.hits("/client.json");

    // max-age=3600 is clamped to max_cache_secs (1): after it, the
    // document is fetched again; now it names another client_id.
    docs.set(
        "/client.json",
        Reply::json(&doc(&docs.url("/other.json"), json!({})), "max-age=3600"),
    );
    std::thread::sleep(Duration::from_millis(2100));
    let (status, body) = refresh(&s, &id, &rt);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{body}"
    );
    assert_eq!(docs.hits("/client.json"), before + 1);
    refused_page(&s, &id, "does not match");

    // Fixed again: the refresh token (untouched by the refusals) works.
    document(&docs, "/client.json", json!({}), "max-age=3600");
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = refresh(&s, &id, &rt);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn when_turned_off_a_client_id_url_is_an_unknown_client() {
    let db = TestDb::sqlite();
    let docs = DocServer::start();
    let id = document(&docs, "/client.json", json!({}), "max-age=3600");
    let s = Server::start_with(
        &db,
        &[],
        &[
            DEV,
            ("PORTCULLIS_CLIENT_METADATA_DOCUMENTS__ENABLED", "false"),
        ],
    );
    let meta = s.get_json("/.well-known/openid-configuration");
    assert!(meta.get("client_id_metadata_document_supported").is_none());
    refused_page(&s, &id, "does not accept client_id URLs");
    let (status, body) = refresh(&s, &id, "x");
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(docs.connections(), 0);
}

//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect
//! Core §9) against the real binary, on SQLite and PostgreSQL: clients made
//! by the CLI (`--jwks-file`), the admin API (`jwks`, and a key rotation
//! through PATCH) and dynamic registration (`jwks_uri`, served by a small
//! HTTP server inside the test); assertions signed here (ES256, EdDSA) and
//! by openid-client's `PrivateKeyJwt`; every refusal RFC 7523 §3 asks for,
//! a replayed `jti`, and the SSRF guard on `jwks_uri`.

use std::ffi::OsStr;

use portcullis_e2e::client_keys::{claims, form, ClientKey};
use portcullis_e2e::doc_server::{DocServer, Reply};
use portcullis_e2e::{add_client, cli_json, databases, NodeSession, Server, TestDb};
use serde_json::{json, Value};

const MIN_CACHE: (&str, &str) = ("PORTCULLIS_CLIENT_METADATA_DOCUMENTS__MIN_CACHE_SECS", "1");
const SECOND: std::time::Duration = std::time::Duration::from_millis(1100);
const DEV: (&str, &str) = (
    "PORTCULLIS_CLIENT_METADATA_DOCUMENTS__ALLOW_PRIVATE_ADDRESSES",
    "true",
);

/// POST `path` with `fields` and the assertion's members; (status, body).
fn post(s: &Server, path: &str, fields: &[(&str, &str)], assertion: &str) -> (u16, Value) {
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.extend_from_slice(&form(assertion));
    let res = s.post_form(path, None, &all);
    let status = res.status().as_u16();
    let text = res.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn client_credentials(s: &Server, assertion: &str) -> (u16, Value) {
    post(
        s,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("scope", "api")],
        assertion,
    )
}

/// The refusal is `401 invalid_client` whose description contains `needle`.
fn assert_refused(answer: (u16, Value), needle: &str) {
    let (status, body) = answer;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let why = body["error_description"].as_str().unwrap_or("");
    assert!(why.contains(needle), "{needle:?} not in {why:?}");
}

/// `portcullis client add` with `--jwks-file` holding `jwks`.
fn cli_client(db: &TestDb, jwks: &Value) -> Value {
    let dir = std::env::temp_dir().join(format!("pkjwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.json", jwks["keys"][0]["kid"].as_str().unwrap()));
    std::fs::write(&file, jwks.to_string()).unwrap();
    let c = cli_json(
        db,
        &[
            "client",
            "add",
            "--name",
            "signed",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--jwks-file",
            file.to_str().unwrap(),
        ],
        "",
    );
    std::fs::remove_file(&file).unwrap();
    c
}

#[test]
fn registered_keys_authenticate_and_every_rfc_7523_check_holds() {
    for db in databases() {
        let key = ClientKey::es256("k1");
        let c = cli_client(&db, &ClientKey::jwks(&[&key]));
        assert_eq!(c["token_endpoint_auth_method"], "private_key_jwt");
        assert!(c.get("client_secret").is_none(), "no secret: {c}");
        let id = c["client_id"].as_str().unwrap().to_string();
        let s = Server::start(&db);
        let meta = s.get_json("/.well-known/openid-configuration");
        assert!(meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt")));
        assert_eq!(
            meta["token_endpoint_auth_signing_alg_values_supported"],
            json!(["RS256", "PS256", "ES256", "EdDSA"])
        );
        let token_url = s.url("/oauth/token");

        // RFC 7523 §3 (3): the token endpoint or the issuer as audience.
        let first = key.assertion(&id, &token_url, "j-1");
        let (status, body) = client_credentials(&s, &first);
        assert_eq!(status, 200, "{body}");
        let at = body["access_token"].as_str().unwrap().to_string();
        let (status, _) = client_credentials(&s, &key.assertion(&id, &s.issuer, "j-2"));
        assert_eq!(status, 200);

        // RFC 7523 §3 (7): the same jti again is a replay.
        assert_refused(client_credentials(&s, &first), "already been used");
        // Signed by a key that is not the client's (under its kid).
        let thief = ClientKey::es256("k1");
        assert_refused(
            client_credentials(&s, &thief.assertion(&id, &token_url, "j-3")),
            "signature",
        );
        // An unknown kid.
        let stranger = ClientKey::es256("k9");
        assert_refused(
            client_credentials(&s, &stranger.assertion(&id, &token_url, "j-4")),
            "kid",
        );
        // Another audience, expired, too long-lived, no jti, iss not the client.
        let intro = s.url("/oauth/introspect");
        assert_refused(
            client_credentials(&s, &key.assertion(&id, &intro, "j-5")),
            "aud",
        );
        let mut c = claims(&id, &token_url, "j-6");
        c["exp"] = json!(c["iat"].as_i64().unwrap() - 3600);
        assert_refused(client_credentials(&s, &key.sign(&c)), "expired");
        let mut c = claims(&id, &token_url, "j-7");
        c["exp"] = json!(c["iat"].as_i64().unwrap() + 3600);
        assert_refused(client_credentials(&s, &key.sign(&c)), "too far");
        let mut c = claims(&id, &token_url, "j-8");
        c.as_object_mut().unwrap().remove("jti");
        assert_refused(client_credentials(&s, &key.sign(&c)), "jti");
        let mut c = claims(&id, &token_url, "j-9");
        c["iss"] = json!("someone-else");
        assert_refused(client_credentials(&s, &key.sign(&c)), "iss");
        // A client_id beside the assertion must be its subject.
        let other = add_client(&db, &["--grant-type", "client_credentials"]);
        let (status, body) = post(
            &s,
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &other.id),
            ],
            &key.assertion(&id, &token_url, "j-10"),
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        // A secret client cannot use an assertion, nor this client a secret.
        assert_refused(
            client_credentials(&s, &key.assertion(&other.id, &token_url, "j-11")),
            "does not authenticate with private_key_jwt",
        );
        let (status, body) = s.token(
            Some(&portcullis_e2e::TestClient {
                id: id.clone(),
                secret: Some("guess".into()),
            }),
            &[("grant_type", "client_credentials")],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        // Two methods at once (RFC 6749 §2.3): invalid_request.
        let res = s
            .http
            .post(&token_url)
            .basic_auth(&other.id, other.secret.as_deref())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", form("x")[0].1),
                ("client_assertion", &key.assertion(&id, &token_url, "j-12")),
            ])
            .send()
            .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");

        // Introspection and revocation take the same authentication, and
        // refuse a replay too (their work is a read).
        let intro_assertion = key.assertion(&id, &s.issuer, "j-13");
        let (status, info) = post(&s, "/oauth/introspect", &[("token", &at)], &intro_assertion);
        assert_eq!(
            (status, info["active"].as_bool()),
            (200, Some(true)),
            "{info}"
        );
        assert_eq!(info["client_id"], id.as_str());
        assert_refused(
            post(&s, "/oauth/introspect", &[("token", &at)], &intro_assertion),
            "already been used",
        );
        let (status, _) = post(
            &s,
            "/oauth/revoke",
            &[("token", &at)],
            &key.assertion(&id, &s.issuer, "j-14"),
        );
        assert_eq!(status, 200);
        let (_, info) = post(
            &s,
            "/oauth/introspect",
            &[("token", &at)],
            &key.assertion(&id, &s.issuer, "j-15"),
        );
        assert_eq!(info["active"], false);
    }
}

#[test]
fn the_admin_api_registers_keys_and_rotates_them() {
    for db in databases() {
        let robot = add_client(
            &db,
            &["--grant-type", "client_credentials", "--scope", "admin"],
        );
        let s = Server::start(&db);
        let (_, t) = s.token(
            Some(&robot),
            &[("grant_type", "client_credentials"), ("scope", "admin")],
        );
        let admin = t["access_token"].as_str().unwrap().to_string();
        let old = ClientKey::es256("old");
        let res = s
            .http
            .post(s.url("/admin/api/clients"))
            .bearer_auth(&admin)
            .json(&json!({
                "client_name": "signed by the admin",
                "grant_types": ["client_credentials"],
                "scope": "api",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": ClientKey::jwks(&[&old]),
            }))
            .send()
            .unwrap();
        assert_eq!(res.status(), 201);
        let c: Value = res.json().unwrap();
        assert!(c.get("client_secret").is_none(), "{c}");
        assert_eq!(c["metadata"]["jwks"]["keys"][0]["kid"], "old");
        let id = c["client_id"].as_str().unwrap().to_string();
        let token_url = s.url("/oauth/token");
        let (status, _) = client_credentials(&s, &old.assertion(&id, &token_url, "a-1"));
        assert_eq!(status, 200);

        // Keys that are not a public JWK Set are refused.
        for bad in [
            json!({"keys": []}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        ] {
            let res = s
                .http
                .patch(s.url(&format!("/admin/api/clients/{id}")))
                .bearer_auth(&admin)
                .json(&json!({ "jwks": bad }))
                .send()
                .unwrap();
            assert_eq!(res.status(), 400);
            assert_eq!(
                res.json::<Value>().unwrap()["error"],
                "invalid_client_metadata"
            );
        }
        // Rotation: the new key (Ed25519) works at once, the old one no more.
        let new = ClientKey::ed25519("new");
        let res = s
            .http
            .patch(s.url(&format!("/admin/api/clients/{id}")))
            .bearer_auth(&admin)
            .json(&json!({ "jwks": ClientKey::jwks(&[&new]) }))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let (status, body) = client_credentials(&s, &new.assertion(&id, &token_url, "a-2"));
        assert_eq!(status, 200, "{body}");
        assert_refused(
            client_credentials(&s, &old.assertion(&id, &token_url, "a-3")),
            "kid",
        );
    }
}

/// A JWK Set served at `/jwks.json` of `docs`.
fn serve_jwks(docs: &DocServer, keys: &[&ClientKey]) -> String {
    docs.set(
        "/jwks.json",
        Reply::json(&ClientKey::jwks(keys), "max-age=3600"),
    );
    docs.url("/jwks.json")
}

fn register_with_jwks_uri(s: &Server, jwks_uri: &str) -> String {
    let res = s
        .http
        .post(s.url("/oauth/register"))
        .json(&json!({
            "client_name": "published keys",
            "grant_types": ["client_credentials"],
            "scope": "api",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
        }))
        .send()
        .unwrap();
    assert_eq!(res.status(), 201);
    let c: Value = res.json().unwrap();
    assert!(c.get("client_secret").is_none(), "{c}");
    assert_eq!(c["jwks_uri"], jwks_uri);
    c["client_id"].as_str().unwrap().to_string()
}

#[test]
fn a_jwks_uri_is_fetched_cached_and_fetched_again_for_a_new_kid() {
    for db in databases() {
        let docs = DocServer::start();
        let k1 = ClientKey::es256("k1");
        let uri = serve_jwks(&docs, &[&k1]);
        // Fetched sets are kept an hour (max-age), but an unknown kid may
        // fetch again after a second (min_cache_secs; a minute by default).
        let s = Server::start_with(&db, &[], &[DEV, MIN_CACHE]);
        let id = register_with_jwks_uri(&s, &uri);
        let token_url = s.url("/oauth/token");
        for n in 0..3 {
            let (status, body) =
                client_credentials(&s, &k1.assertion(&id, &token_url, &format!("u-{n}")));
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(docs.hits("/jwks.json"), 1, "cached for three grants");

        // The client rotates: an assertion under an unknown kid makes the
        // server read the set again (once).
        let k2 = ClientKey::ed25519("k2");
        serve_jwks(&docs, &[&k2]);
        std::thread::sleep(SECOND);
        let (status, body) = client_credentials(&s, &k2.assertion(&id, &token_url, "u-9"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(docs.hits("/jwks.json"), 2);
        // A key the client no longer publishes is refused.
        assert_refused(
            client_credentials(&s, &k1.assertion(&id, &token_url, "u-10")),
            "kid",
        );

        // A set that is not a JWK Set, or a failing server: invalid_client.
        let k3 = ClientKey::es256("k3");
        std::thread::sleep(SECOND);
        docs.set(
            "/jwks.json",
            Reply::json(
                &json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
                "max-age=0",
            ),
        );
        assert_refused(
            client_credentials(&s, &k3.assertion(&id, &token_url, "u-11")),
            "jwks_uri",
        );
        let mut broken = Reply::json(&json!({}), "max-age=0");
        broken.status = 500;
        docs.set("/jwks.json", broken);
        std::thread::sleep(SECOND);
        assert_refused(
            client_credentials(&s, &k3.assertion(&id, &token_url, "u-12")),
            "jwks_uri",
        );
    }
}

#[test]
fn without_the_development_setting_a_private_jwks_uri_is_never_fetched() {
    let db = TestDb::sqlite();
    let docs = DocServer::start();
    let key = ClientKey::es256("k1");
    let uri = serve_jwks(&docs, &[&key]);
    let s = Server::start(&db);
    let id = register_with_jwks_uri(&s, &uri);
    let assertion = key.assertion(&id, &s.url("/oauth/token"), "p-1");
    assert_refused(client_credentials(&s, &assertion), "jwks_uri");
    assert_eq!(docs.connections(), 0, "nothing was fetched");
}

#[test]
fn openid_client_private_key_jwt() {
    for db in databases() {
        let s = Server::start(&db);
        let mut node = NodeSession::start(
            "private_key_jwt.mjs",
            &["openid-client"],
            &[("PORTCULLIS_ISSUER", OsStr::new(&s.issuer))],
        );
        let jwk = node.line()["jwk"].clone();
        let c = cli_client(&db, &json!({ "keys": [jwk] }));
        node.send(c["client_id"].as_str().unwrap());
        let out = node.finish();
        assert_eq!(out["token_type"], "bearer", "{out}");
        assert_eq!(out["scope"], "api");
        assert_eq!(out["active_before"], true);
        assert_eq!(out["client_id_before"], c["client_id"]);
        assert_eq!(out["active_after"], false);
        assert!(out["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt")));
    }
}

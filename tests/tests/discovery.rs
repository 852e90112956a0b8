//! Metadata, JWKS, health and unknown paths, against the real binary, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use openidconnect::core::CoreProviderMetadata;
use openidconnect::IssuerUrl;
use portcullis_e2e::{databases, Server, TestDb};
use serde_json::Value;

#[test]
fn metadata_documents_agree_and_name_the_issuer_byte_for_byte() {
    for db in databases() {
        let s = Server::start(&db);
        let oidc = s.get_json("/.well-known/openid-configuration");
        let oauth = s.get_json("/.well-known/oauth-authorization-server");
        assert_eq!(oidc, oauth);
        assert_eq!(oidc["issuer"], s.issuer.as_str());
        assert_eq!(s.issuer, s.base, "default issuer is http://<bound address>");
        assert_eq!(
            oidc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            oidc["response_types_supported"],
            serde_json::json!(["code"])
        );
        assert_eq!(oidc["id_token_signing_alg_values_supported"][0], "RS256");
        assert!(oidc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"none".into()));
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "grant_types_supported",
            "scopes_supported",
            "subject_types_supported",
        ] {
            assert!(!oidc[key].is_null(), "{key} missing");
        }
        assert_eq!(oidc["jwks_uri"], format!("{}/oauth/jwks", s.issuer));
    }
}

#[test]
fn a_real_relying_party_discovers_the_provider_and_its_keys() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let http = openidconnect::reqwest::blocking::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // openidconnect checks that the document's issuer equals the one asked
    // for and fetches the JWKS it names.
    let meta =
        CoreProviderMetadata::discover(&IssuerUrl::new(s.issuer.clone()).unwrap(), &http).unwrap();
    assert_eq!(meta.issuer().as_str(), s.issuer);
    assert_eq!(meta.jwks().keys().len(), 3);
}

#[test]
fn jwks_serves_one_public_key_per_algorithm_with_kid_alg_use() {
    for db in databases() {
        let s = Server::start(&db);
        let res = s.get("/oauth/jwks");
        assert_eq!(res.status(), 200);
        let jwks: Value = res.json().unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
        algs.sort();
        assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
        for k in keys {
            assert!(k["kid"].as_str().is_some_and(|k| !k.is_empty()));
            assert_eq!(k["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(
                    k.get(private).is_none(),
                    "JWKS publishes private member {private}"
                );
            }
        }
        // Keys are created once: a restart on the same database keeps them.
        drop(s);
        let again = Server::start(&db).get_json("/oauth/jwks");
        assert_eq!(again, jwks);
    }
}

#[test]
fn metadata_and_jwks_allow_any_origin() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/oauth/jwks",
    ] {
        let res = s
            .http
            .get(s.url(path))
            .header("Origin", "https://spa.example")
            .send()
            .unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "{path}");
        let pre = s
            .http
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("Origin", "https://spa.example")
            .header("Access-Control-Request-Method", "GET")
            // MCP clients name their protocol revision on discovery.
            .header("Access-Control-Request-Headers", "mcp-protocol-version")
            .send()
            .unwrap();
        assert!(
            pre.status().is_success(),
            "preflight {path}: {}",
            pre.status()
        );
        assert_eq!(pre.headers()["access-control-allow-origin"], "*");
        assert_eq!(
            pre.headers()["access-control-allow-headers"],
            "mcp-protocol-version"
        );
    }
}

#[test]
fn issuer_with_a_path_is_served_at_every_well_known_form() {
    let db = TestDb::sqlite();
    // The issuer is public; the server listens on an ephemeral port. Tests
    // reach the paths directly.
    let s = Server::start_with(&db, &["--issuer", "https://auth.example.com/tenant"], &[]);
    assert_eq!(s.issuer, "https://auth.example.com/tenant");
    for path in [
        "/.well-known/oauth-authorization-server/tenant",
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/openid-configuration",
    ] {
        let doc = s.get_json(path);
        assert_eq!(doc["issuer"], "https://auth.example.com/tenant", "{path}");
        assert_eq!(
            doc["token_endpoint"],
            "https://auth.example.com/tenant/oauth/token"
        );
    }
    assert_eq!(s.get("/tenant/oauth/jwks").status(), 200);
    // The root forms belong to another issuer and are not served.
    assert_eq!(
        s.get("/.well-known/oauth-authorization-server").status(),
        404
    );
}

#[test]
fn health_and_readiness() {
    for db in databases() {
        let s = Server::start(&db);
        assert_eq!(s.get_json("/healthz")["status"], "ok");
        assert_eq!(s.get_json("/readyz")["status"], "ok");
    }
}

#[test]
fn unknown_paths_get_json_404_and_every_response_has_a_request_id() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let res = s.get("/no/such/thing?code=secret");
    assert_eq!(res.status(), 404);
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"], "not_found");
    let res = s
        .http
        .get(s.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

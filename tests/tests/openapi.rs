//! `/openapi.json`: an OpenAPI 3.1 document generated from the handlers.
//! Every operation it lists is routed (the document names nothing that
//! does not exist), and the endpoints this build serves are in it.

use portcullis_e2e::{Server, TestDb};
use serde_json::Value;

#[test]
fn every_documented_operation_is_routed() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let doc = s.get_json("/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], s.issuer.as_str());
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            // Fill path parameters with a placeholder.
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = s.http.request(m, s.url(&concrete)).send().unwrap();
            let status = res.status().as_u16();
            if status == 404 {
                // A documented 404 (a missing resource) is a JSON body
                // other than the router's own "no such endpoint".
                let body: Value = res.json().unwrap_or(Value::Null);
                assert_ne!(
                    body["error_description"], "no such endpoint",
                    "{method} {path} is documented but not routed"
                );
            }
            assert_ne!(
                status, 405,
                "{method} {path} is documented but not routed for that method"
            );
            assert!(
                status < 500,
                "{method} {path} answered {status} to an empty request"
            );
        }
    }
    assert!(operations >= 50, "{operations} operations");
    for must in [
        "/oauth/token",
        "/oauth/authorize",
        "/oauth/introspect",
        "/oauth/revoke",
        "/oauth/userinfo",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/{path}",
    ] {
        assert!(paths.contains_key(must), "{must} missing from the document");
    }
}

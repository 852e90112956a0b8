//! `/openapi.json`: an OpenAPI 3.1 document generated from the handlers.
//! Every operation it lists is routed (the document names nothing that
//! does not exist), and the endpoints this build serves are in it. What
//! scripts/schemathesis found answering otherwise than documented is pinned
//! here too.

use portcullis_e2e::{add_client, add_user, Server, TestDb};
use serde_json::Value;

/// Does the document list `status` among the responses of `method path`?
fn documents(doc: &Value, method: &str, path: &str, status: u16) -> bool {
    doc["paths"][path][method]["responses"]
        .get(status.to_string())
        .is_some()
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

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

/// A form body is a set of named fields: its schema is an object with
/// properties, never a bare string (schemathesis could make no request
/// from a string schema for a form).
#[test]
fn form_bodies_are_documented_as_objects() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let doc = s.get_json("/openapi.json");
    let mut forms = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let form = &op["requestBody"]["content"]["application/x-www-form-urlencoded"];
            if form.is_null() {
                continue;
            }
            forms += 1;
            let schema = resolve(&doc, &form["schema"]);
            assert_eq!(schema["type"], "object", "{method} {path}: {schema}");
            assert!(
                schema["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty()),
                "{method} {path}: no fields in {schema}"
            );
        }
    }
    assert!(forms >= 8, "{forms} form bodies");
}

/// A repeated query parameter is `invalid_request` (RFC 6749 §3.1), a 400
/// that the document lists.
#[test]
fn a_repeated_query_parameter_is_a_documented_400() {
    let db = TestDb::sqlite();
    add_user(&db, "ann", "pw", &[]);
    let c = add_client(&db, &["--grant-type", "password", "--scope", "openid"]);
    let s = Server::start(&db);
    let (status, body) = s.token(
        Some(&c),
        &[
            ("grant_type", "password"),
            ("username", "ann"),
            ("password", "pw"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let res = s
        .http
        .get(s.url("/api/pats?user_id=a&user_id=b"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let err: Value = res.json().unwrap();
    assert_eq!(err["error"], "invalid_request");
    let doc = s.get_json("/openapi.json");
    assert!(documents(&doc, "get", "/api/pats", 400));
}

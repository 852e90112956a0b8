//! Every route that takes a body caps it: a 2 MB body to each POST, PUT and
//! PATCH operation of `/openapi.json` (as an administrator, with client
//! credentials and a session cookie, so that the request gets as far as the
//! body) is answered 4xx with an error body, never 5xx, and the server
//! keeps serving.

use portcullis_e2e::{add_client, add_user, Server, TestDb};
use serde_json::Value;

const BIG: usize = 2 * 1024 * 1024;

#[test]
fn an_oversized_body_is_a_4xx_on_every_route_that_takes_one() {
    let db = TestDb::sqlite();
    add_user(&db, "root", "pw", &["--admin"]);
    let ops = add_client(
        &db,
        &["--grant-type", "password", "--scope", "openid admin api"],
    );
    let s = Server::start(&db);
    let (status, body) = s.token(
        Some(&ops),
        &[
            ("grant_type", "password"),
            ("username", "root"),
            ("password", "pw"),
            ("scope", "admin api"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().unwrap().to_string();
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", ops.id, ops.secret.as_deref().unwrap())
        )
    );

    // A registered client, so that its management route reads the body.
    let reg: Value = s
        .http
        .post(s.url("/oauth/register"))
        .json(&serde_json::json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let registered = reg["client_id"].as_str().unwrap().to_string();
    let rat = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let doc = s.get_json("/openapi.json");
    let mut tried = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["post", "put", "patch"].contains(&method.as_str()) {
                continue;
            }
            let management = path.starts_with("/oauth/register/");
            let id = if management { registered.as_str() } else { "x" };
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { id } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            // The media type the operation documents (form or JSON).
            let content = &op["requestBody"]["content"];
            let ct = if content.get("application/x-www-form-urlencoded").is_some() {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            let filler = if ct == "application/json" {
                format!("{{\"x\":\"{}\"}}", "a".repeat(BIG))
            } else {
                format!("x={}", "a".repeat(BIG))
            };
            // A bearer token where the route takes one, Basic client
            // credentials for the OAuth endpoints.
            let auth = if management {
                format!("Bearer {rat}")
            } else if path.starts_with("/oauth/") && path != "/oauth/register" {
                basic.clone()
            } else {
                format!("Bearer {admin}")
            };
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = s
                .http
                .request(m, s.url(&concrete))
                .header("Content-Type", ct)
                .header("Authorization", auth)
                .body(filler)
                .send();
            let what = format!("{} {path}", method.to_uppercase());
            let res = res.unwrap_or_else(|e| panic!("{what}: no answer ({e})"));
            let status = res.status().as_u16();
            let text = res.text().unwrap_or_default();
            if op.get("requestBody").is_none() {
                // A route that takes no body never reads it: whatever it
                // answers, not a failure.
                assert!(status < 500, "{what}: {status} {text:.200}");
                tried.push(what);
                continue;
            }
            // Refused for its size, not for anything checked later.
            assert!([400, 413].contains(&status), "{what}: {status} {text:.200}");
            if status != 413 && !text.trim_start().starts_with('<') {
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                    panic!("{what}: {status} without a JSON error: {text:.200}")
                });
                assert!(body["error"].is_string(), "{what}: {body}");
            }
            tried.push(what);
            // Still up.
            assert_eq!(
                s.get("/healthz").status(),
                200,
                "after {}",
                tried.last().unwrap()
            );
        }
    }
    assert!(tried.len() >= 10, "{tried:?}");
    for must in [
        "POST /oauth/token",
        "POST /oauth/register",
        "POST /api/auth/login",
    ] {
        assert!(tried.iter().any(|t| t == must), "{must} in {tried:?}");
    }
}

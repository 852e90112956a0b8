//! The direct JSON login API of seed 000: `POST /api/auth/login`,
//! `GET /api/auth/me`.

use portcullis_e2e::{add_user, cli_json, databases, Server, TestDb};
use serde_json::{json, Value};

fn login(s: &Server, body: Value) -> (u16, Value) {
    let res = s.login_api(&body);
    let status = res.status().as_u16();
    (status, res.json().unwrap())
}

#[test]
fn login_returns_token_expiration_and_refresh_token_and_me_answers() {
    for db in databases() {
        let (id, _) = add_user(
            &db,
            "ivy@example.com",
            "pw",
            &["--email", "ivy@example.com"],
        );
        let s = Server::start_with(
            &db,
            &[],
            &[("PORTCULLIS_LOGIN_API__TOKEN_LIFETIME_SECS", "7200")],
        );
        let (status, body) = login(&s, json!({"username": "ivy@example.com", "password": "pw"}));
        assert_eq!(status, 200, "{body}");
        let token = body["token"].as_str().unwrap();
        assert!(body["refresh_token"].is_string());
        // RFC 3339, about two hours from now
        let exp = body["expiration"].as_str().unwrap();
        assert!(exp.ends_with('Z') && exp.contains('T'), "{exp}");
        assert_eq!(body["expires_in"], 7200);
        let me = s
            .http
            .get(s.url("/api/auth/me"))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(me.status(), 200);
        let me: Value = me.json().unwrap();
        assert_eq!(me["id"], id.as_str());
        assert_eq!(me["username"], "ivy@example.com");
        assert_eq!(me["email"], "ivy@example.com");

        // a disabled user stops working at once
        cli_json(
            &db,
            &["user", "disable", "--username", "ivy@example.com"],
            "",
        );
        assert_eq!(s.me_status(token), 401);
        let (status, _) = login(&s, json!({"username": "ivy@example.com", "password": "pw"}));
        assert_eq!(status, 401);
        cli_json(
            &db,
            &["user", "enable", "--username", "ivy@example.com"],
            "",
        );
        assert_eq!(s.me_status(token), 200);
    }
}

#[test]
fn login_with_totp_and_bad_input() {
    let db = TestDb::sqlite();
    let (_, secret) = add_user(&db, "jay", "pw", &["--totp"]);
    let s = Server::start(&db);
    let (status, body) = login(&s, json!({"username": "jay", "password": "pw"}));
    assert_eq!(status, 401);
    assert!(body["error_description"].as_str().unwrap().contains("OTP"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let code = portcullis_core::totp::code_at(&secret.unwrap(), now).unwrap();
    let (status, _) = login(
        &s,
        json!({"username": "jay", "password": "pw", "otp": code}),
    );
    assert_eq!(status, 200);
    let (status, _) = login(&s, json!({"username": "jay", "password": "wrong"}));
    assert_eq!(status, 401);

    // malformed JSON, wrong types, wrong content type: 400 invalid_request
    for (ct, body) in [
        ("application/json", "{not json"),
        ("application/json", "{\"username\": 5, \"password\": \"x\"}"),
        ("application/json", "{\"username\": \"jay\"}"),
        (
            "text/plain",
            "{\"username\": \"jay\", \"password\": \"pw\"}",
        ),
    ] {
        let res = s
            .http
            .post(s.url("/api/auth/login"))
            .header("Content-Type", ct)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
    }
}

#[test]
fn me_refuses_missing_bad_and_forged_tokens() {
    let db = TestDb::sqlite();
    add_user(&db, "kim", "pw", &[]);
    let s = Server::start(&db);
    let res = s.get("/api/auth/me");
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let res = s
            .http
            .get(s.url("/api/auth/me"))
            .bearer_auth(bad)
            .send()
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
    // a real token with its payload altered
    let (_, body) = login(&s, json!({"username": "kim", "password": "pw"}));
    let token = body["token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("someone-else");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(s.me_status(&forged), 401);
    assert_eq!(s.me_status(token), 200);
}

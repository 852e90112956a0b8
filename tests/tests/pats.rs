//! Personal access tokens (`/api/pats`), their use as bearer tokens
//! (introspection, `/api/auth/me`, forward auth), token exchange (RFC 8693)
//! and the forward-auth endpoint, against the real binary.

use jsonwebtoken::{decode_header, Algorithm, Validation};
use portcullis_core::model::{PatKind, PersonalAccessToken, Scopes};
use portcullis_core::ports::PatStore;
use portcullis_e2e::{add_client, add_user, cli, databases, Server, TestClient, TestDb};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const FA_HEADER: &str = "X-Portcullis-Personal-Access-Token";
const RS: &str = "https://orders.example.com/api";

/// A confidential client for the password grant, with every scope the tests use.
fn login_client(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--grant-type",
            "password",
            "--scope",
            "openid profile api:read api:write admin",
        ],
    )
}

/// A confidential client that introspects.
fn resource_server(db: &TestDb) -> TestClient {
    add_client(
        db,
        &["--grant-type", "client_credentials", "--scope", "api:read"],
    )
}

fn login(s: &Server, c: &TestClient, user: &str, scope: &str) -> String {
    let (status, body) = s.token(
        Some(c),
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", "pw"),
            ("scope", scope),
        ],
    );
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A request to the PAT API with a bearer token; (status, JSON body or null).
fn call(
    s: &Server,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s.http.request(m, s.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let text = res.text().unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
    };
    (status, v)
}

fn create(s: &Server, bearer: &str, body: Value) -> (u16, Value) {
    call(s, "POST", "/api/pats", Some(bearer), Some(body))
}

fn introspect(s: &Server, rs: &TestClient, token: &str) -> Value {
    let (status, v) = s.introspect(Some(rs), &[("token", token)]);
    assert_eq!(status, 200, "{v}");
    v
}

/// GET /oauth/forward-auth with the given headers: (status, response).
fn forward(s: &Server, headers: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut req = s.http.get(s.url("/oauth/forward-auth"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().unwrap()
}

/// The JWT a forward-auth answer carries in `Authorization`.
fn forwarded_jwt(res: &reqwest::blocking::Response) -> String {
    let v = res.headers()["authorization"].to_str().unwrap();
    v.strip_prefix("Bearer ")
        .expect("Bearer scheme")
        .to_string()
}

/// Verify an RFC 9068 access token against the JWKS for `audience`.
fn verify(s: &Server, jwt: &str, audience: &str) -> Value {
    portcullis_e2e::verify_jwt(s, jwt, "at+jwt", |a| {
        let mut v = Validation::new(a);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v
    })
    .1
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn lifecycle_create_use_disable_enable_delete() {
    for db in databases() {
        let c = login_client(&db);
        let rs = resource_server(&db);
        let (alice, _) = add_user(&db, "alice", "pw", &[]);
        let server = Server::start(&db);
        let s = &server;
        let at = login(s, &c, "alice", "openid profile api:read api:write");

        // Created: the token is shown once, with the pcp_ prefix.
        let (status, made) = create(
            s,
            &at,
            json!({"name": "ci", "scopes": ["api:read", "profile"]}),
        );
        assert_eq!(status, 201, "{made}");
        let token = made["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("pcp_"), "{token}");
        let id = made["id"].as_str().unwrap().to_string();
        assert_eq!(made["name"], "ci");
        assert_eq!(made["user_id"], alice.as_str());
        assert_eq!(made["scopes"], json!(["api:read", "profile"]));
        assert_eq!(made["status"], "active");
        assert_eq!(made["expires_at"], Value::Null);
        let hash = sha256_hex(&token);
        assert!(!made.to_string().contains(&hash));

        // Listed and read without the token or its hash.
        let (status, list) = call(s, "GET", "/api/pats", Some(&at), None);
        assert_eq!(status, 200, "{list}");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], id.as_str());
        for v in [
            &list,
            &call(s, "GET", &format!("/api/pats/{id}"), Some(&at), None).1,
        ] {
            let text = v.to_string();
            assert!(!text.contains(&token) && !text.contains(&hash), "{text}");
            assert!(!text.contains("\"token\""), "{text}");
        }

        // Introspected by a resource server: token_use pat.
        let v = introspect(s, &rs, &token);
        assert_eq!(v["active"], true, "{v}");
        assert_eq!(v["token_use"], "pat");
        assert_eq!(v["sub"], alice.as_str());
        assert_eq!(v["username"], "alice");
        assert_eq!(v["scope"], "api:read profile");
        assert_eq!(v["client_id"], "portcullis-pat");
        assert_eq!(v["jti"], id.as_str());
        assert!(v.get("exp").is_none(), "no expiry: no exp");
        assert!(v["iat"].as_i64().is_some());

        // A bearer token at our own routes and at forward auth.
        assert_eq!(s.me_status(&token), 200);
        let me: Value = s
            .http
            .get(s.url("/api/auth/me"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            (me["username"].as_str(), me["client_id"].as_str()),
            (Some("alice"), Some("portcullis-pat"))
        );
        assert_eq!(forward(s, &[(FA_HEADER, &token)]).status(), 200);

        // Its use shows at once (flushed to the database later).
        let (_, one) = call(s, "GET", &format!("/api/pats/{id}"), Some(&at), None);
        assert!(one["last_used_at"].as_i64().is_some(), "{one}");

        // Disabled: inactive everywhere.
        let (status, v) = call(
            s,
            "POST",
            &format!("/api/pats/{id}/disable"),
            Some(&at),
            None,
        );
        assert_eq!(
            (status, v["status"].as_str(), v["disabled"].as_bool()),
            (200, Some("disabled"), Some(true)),
            "{v}"
        );
        assert_eq!(introspect(s, &rs, &token), json!({"active": false}));
        let res = forward(s, &[(FA_HEADER, &token)]);
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert_eq!(s.me_status(&token), 401);

        // Enabled again: active.
        let (status, v) = call(
            s,
            "POST",
            &format!("/api/pats/{id}/enable"),
            Some(&at),
            None,
        );
        assert_eq!((status, v["status"].as_str()), (200, Some("active")), "{v}");
        assert_eq!(introspect(s, &rs, &token)["active"], true);

        // RFC 7009 revocation does not take PATs: the owner disables or deletes them here.
        let (status, body) = s.revoke(Some(&rs), &[("token", &token)]);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("unsupported_token_type"), "{body}");
        assert_eq!(introspect(s, &rs, &token)["active"], true);

        // Deleted: gone.
        let (status, v) = call(s, "DELETE", &format!("/api/pats/{id}"), Some(&at), None);
        assert_eq!((status, v), (204, Value::Null));
        assert_eq!(
            call(s, "GET", &format!("/api/pats/{id}"), Some(&at), None).0,
            404
        );
        assert_eq!(
            call(s, "DELETE", &format!("/api/pats/{id}"), Some(&at), None).0,
            404
        );
        assert_eq!(introspect(s, &rs, &token), json!({"active": false}));
        assert_eq!(forward(s, &[(FA_HEADER, &token)]).status(), 401);
        let (_, list) = call(s, "GET", "/api/pats", Some(&at), None);
        assert_eq!(list["items"], json!([]));
    }
}

#[test]
fn scopes_ownership_and_administrators() {
    let db = TestDb::sqlite();
    let c = login_client(&db);
    let (alice, _) = add_user(&db, "alice", "pw", &[]);
    add_user(&db, "bob", "pw", &[]);
    add_user(&db, "root", "pw", &["--admin"]);
    let server = Server::start(&db);
    let s = &server;
    let narrow = login(s, &c, "alice", "api:read");

    // No more than the token used to create it.
    let (status, v) = create(
        s,
        &narrow,
        json!({"name": "x", "scopes": ["api:read", "api:write"]}),
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    let (status, v) = create(s, &narrow, json!({"name": "x", "scopes": ["admin"]}));
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    let (status, v) = create(
        s,
        &narrow,
        json!({"name": "x", "scopes": ["api:read api:write"]}),
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    // Malformed requests.
    for bad in [
        json!({"scopes": ["api:read"]}),
        json!({"name": "x", "scopes": "api:read"}),
        json!({"name": "", "scopes": ["api:read"]}),
        json!({"name": "x", "scopes": ["api:read"], "extra": 1}),
    ] {
        let (status, v) = create(s, &narrow, bad.clone());
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
    let res = s
        .http
        .post(s.url("/api/pats"))
        .bearer_auth(&narrow)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    // No token; a bad one.
    let res = s
        .http
        .post(s.url("/api/pats"))
        .json(&json!({"name": "x", "scopes": ["api:read"]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        create(s, "garbage", json!({"name": "x", "scopes": ["api:read"]})).0,
        401
    );
    assert_eq!(call(s, "GET", "/api/pats", None, None).0, 401);

    let (status, made) = create(s, &narrow, json!({"name": "mine", "scopes": ["api:read"]}));
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    let pat = made["token"].as_str().unwrap().to_string();

    // A PAT cannot make or manage PATs.
    assert_eq!(
        create(s, &pat, json!({"name": "child", "scopes": ["api:read"]})).0,
        401
    );
    assert_eq!(call(s, "GET", "/api/pats", Some(&pat), None).0, 401);

    // Another user cannot touch it: it does not exist for them.
    let bob = login(s, &c, "bob", "api:read admin");
    for (m, p) in [
        ("GET", format!("/api/pats/{id}")),
        ("POST", format!("/api/pats/{id}/disable")),
        ("POST", format!("/api/pats/{id}/enable")),
        ("DELETE", format!("/api/pats/{id}")),
    ] {
        let (status, v) = call(s, m, &p, Some(&bob), None);
        assert_eq!(
            (status, v["error"].as_str()),
            (404, Some("not_found")),
            "{m} {p}"
        );
    }
    assert_eq!(
        call(s, "GET", "/api/pats", Some(&bob), None).1["items"],
        json!([])
    );
    let (status, v) = call(
        s,
        "GET",
        &format!("/api/pats?user_id={alice}"),
        Some(&bob),
        None,
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("insufficient_scope")),
        "{v}"
    );
    let res = s
        .http
        .get(s.url(&format!("/api/pats?user_id={alice}")))
        .bearer_auth(&bob)
        .send()
        .unwrap();
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    let (status, _) = call(
        s,
        "GET",
        &format!("/api/pats?user_id={alice}&user_id={alice}"),
        Some(&narrow),
        None,
    );
    assert_eq!(status, 400);
    assert_eq!(
        call(s, "GET", &format!("/api/pats/{id}"), Some(&narrow), None).0,
        200
    );

    // An administrator without scope admin is just a user.
    let root_plain = login(s, &c, "root", "api:read");
    assert_eq!(
        call(
            s,
            "GET",
            &format!("/api/pats/{id}"),
            Some(&root_plain),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(
            s,
            "GET",
            &format!("/api/pats?user_id={alice}"),
            Some(&root_plain),
            None
        )
        .0,
        403
    );

    // With it, anyone's.
    let root = login(s, &c, "root", "admin");
    let (status, v) = call(
        s,
        "GET",
        &format!("/api/pats?user_id={alice}"),
        Some(&root),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(s, "GET", &format!("/api/pats/{id}"), Some(&root), None).0,
        200
    );
    let (status, v) = call(
        s,
        "POST",
        &format!("/api/pats/{id}/disable"),
        Some(&root),
        None,
    );
    assert_eq!((status, v["status"].as_str()), (200, Some("disabled")));
    let (status, v) = call(
        s,
        "POST",
        &format!("/api/pats/{id}/enable"),
        Some(&root),
        None,
    );
    assert_eq!((status, v["status"].as_str()), (200, Some("active")));
    assert_eq!(
        call(s, "DELETE", &format!("/api/pats/{id}"), Some(&root), None).0,
        204
    );
    assert_eq!(
        call(s, "GET", &format!("/api/pats/{id}"), Some(&narrow), None).0,
        404
    );
}

#[test]
fn expiry_inactivity_and_disabled_users() {
    let db = TestDb::sqlite();
    let c = login_client(&db);
    let rs = resource_server(&db);
    let (alice, _) = add_user(&db, "alice", "pw", &[]);
    let server = Server::start(&db);
    let s = &server;
    let at = login(s, &c, "alice", "api:read");

    // expires_at as Unix seconds or RFC 3339; never in the past.
    let soon = now() + 6;
    let (status, short) = create(
        s,
        &at,
        json!({"name": "short", "scopes": ["api:read"], "expires_at": soon}),
    );
    assert_eq!(status, 201, "{short}");
    assert_eq!(short["expires_at"], soon);
    let (status, dated) = create(
        s,
        &at,
        json!({"name": "dated", "scopes": ["api:read"], "expires_at": "2999-01-01T00:00:00Z"}),
    );
    assert_eq!(status, 201, "{dated}");
    assert_eq!(dated["expires_at"], 32_472_144_000i64);
    for bad in [
        json!(now() - 1),
        json!("yesterday"),
        json!("2001-01-01T00:00:00Z"),
    ] {
        let (status, v) = create(
            s,
            &at,
            json!({"name": "x", "scopes": ["api:read"], "expires_at": bad}),
        );
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
    let short_token = short["token"].as_str().unwrap().to_string();
    let v = introspect(s, &rs, &short_token);
    assert_eq!(
        (v["active"].as_bool(), v["exp"].as_i64()),
        (Some(true), Some(soon)),
        "{v}"
    );
    std::thread::sleep(std::time::Duration::from_millis(6_100));
    assert_eq!(introspect(s, &rs, &short_token), json!({"active": false}));
    assert_eq!(forward(s, &[(FA_HEADER, &short_token)]).status(), 401);
    let (_, v) = call(
        s,
        "GET",
        &format!("/api/pats/{}", short["id"].as_str().unwrap()),
        Some(&at),
        None,
    );
    assert_eq!(v["status"], "expired");

    // Unused for 90 days (the default): inactive for good.
    let t = now();
    let stale = "pcp_stale-token-made-for-the-inactivity-test-0001";
    let fresh = "pcp_fresh-token-made-for-the-inactivity-test-0002";
    let row = |id: &str, token: &str, last_used_at: Option<i64>| PersonalAccessToken {
        id: id.into(),
        token_hash: sha256_hex(token),
        user_id: alice.clone(),
        name: id.into(),
        scope: Scopes::parse("api:read").unwrap(),
        kind: PatKind::Personal,
        client_id: None,
        created_at: t - 200 * 86_400,
        expires_at: None,
        last_used_at,
        disabled: false,
        revoked_at: None,
    };
    db.store()
        .write(|tx| {
            tx.insert_pat(&row("stale", stale, Some(t - 91 * 86_400)))?;
            tx.insert_pat(&row("fresh", fresh, Some(t - 89 * 86_400)))
        })
        .unwrap();
    assert_eq!(introspect(s, &rs, stale), json!({"active": false}));
    assert_eq!(forward(s, &[(FA_HEADER, stale)]).status(), 401);
    assert_eq!(
        call(s, "GET", "/api/pats/stale", Some(&at), None).1["status"],
        "inactive"
    );
    // Enabling does not revive it.
    let (_, v) = call(s, "POST", "/api/pats/stale/enable", Some(&at), None);
    assert_eq!(v["status"], "inactive");
    assert_eq!(introspect(s, &rs, fresh)["active"], true);

    // A disabled user's PATs are inactive.
    let dated_token = dated["token"].as_str().unwrap().to_string();
    assert_eq!(introspect(s, &rs, &dated_token)["active"], true);
    let out = cli(&db, &["user", "disable", "--username", "alice"], "");
    assert!(out.status.success());
    assert_eq!(introspect(s, &rs, &dated_token), json!({"active": false}));
    assert_eq!(introspect(s, &rs, fresh), json!({"active": false}));
    assert_eq!(forward(s, &[(FA_HEADER, &dated_token)]).status(), 401);
}

#[test]
fn token_exchange_turns_a_pat_into_a_jwt_for_one_resource() {
    let db = TestDb::sqlite();
    let c = login_client(&db);
    let rs = resource_server(&db);
    let gw = add_client(
        &db,
        &["--grant-type", EXCHANGE, "--scope", "api:read api:write"],
    );
    let (alice, _) = add_user(&db, "alice", "pw", &[]);
    let server = Server::start(&db);
    let s = &server;
    let at = login(s, &c, "alice", "openid api:read api:write");
    let (_, made) = create(
        s,
        &at,
        json!({"name": "ci", "scopes": ["api:read", "api:write"]}),
    );
    let pat = made["token"].as_str().unwrap().to_string();

    let meta = s.get_json("/.well-known/openid-configuration");
    assert!(meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(EXCHANGE)));

    let exchange = |client: &TestClient, subject: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", AT_TYPE),
        ];
        form.extend_from_slice(extra);
        s.token(Some(client), &form)
    };
    let (status, v) = exchange(&gw, &pat, &[("resource", RS), ("scope", "api:read")]);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["issued_token_type"], AT_TYPE);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "api:read");
    assert_eq!(v["expires_in"], 300);
    assert!(v.get("refresh_token").is_none());
    let jwt = v["access_token"].as_str().unwrap();
    let claims = verify(s, jwt, RS);
    assert_eq!(claims["aud"], RS);
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["client_id"], gw.id.as_str());
    assert_eq!(claims["scope"], "api:read");
    // Recorded like any access token: it introspects, bound to the resource.
    let iv = introspect(s, &rs, jwt);
    assert_eq!(
        (
            iv["active"].as_bool(),
            iv["aud"].as_str(),
            iv["token_use"].as_str()
        ),
        (Some(true), Some(RS), Some("access")),
        "{iv}"
    );

    // An access token is a fine subject as well; `audience` names the target.
    let (status, v) = exchange(&gw, &at, &[("audience", "orders")]);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        verify(s, v["access_token"].as_str().unwrap(), "orders")["sub"],
        alice.as_str()
    );

    // RFC 8693 §2.2.2: a bad subject token is invalid_request.
    for bad in [
        "garbage",
        "pcp_not-a-real-token",
        jwt.split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".")
            .as_str(),
    ] {
        let (status, v) = exchange(&gw, bad, &[]);
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {v}"
        );
    }
    // Other errors.
    let (status, v) = exchange(&gw, &pat, &[("scope", "openid")]);
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    let (status, v) = exchange(
        &gw,
        &pat,
        &[("resource", RS), ("resource", "https://other.example")],
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_target")),
        "{v}"
    );
    let (status, v) = exchange(&gw, &pat, &[("resource", "relative/path")]);
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_target")),
        "{v}"
    );
    let (status, v) = s.token(
        Some(&gw),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &pat),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:saml2",
            ),
        ],
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (status, v) = s.token(
        Some(&gw),
        &[("grant_type", EXCHANGE), ("subject_token_type", AT_TYPE)],
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    // A client without the grant.
    let (status, v) = exchange(&rs, &pat, &[]);
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{v}"
    );
    // No client authentication.
    let (status, v) = s.token(
        None,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &pat),
            ("subject_token_type", AT_TYPE),
        ],
    );
    assert_eq!(
        (status, v["error"].as_str()),
        (401, Some("invalid_client")),
        "{v}"
    );
    // A disabled PAT cannot be exchanged.
    let id = made["id"].as_str().unwrap();
    call(
        s,
        "POST",
        &format!("/api/pats/{id}/disable"),
        Some(&at),
        None,
    );
    let (status, v) = exchange(&gw, &pat, &[]);
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
}

#[test]
fn forward_auth_with_a_header_or_a_bearer_token() {
    let db = TestDb::sqlite();
    let c = login_client(&db);
    let (alice, _) = add_user(&db, "alice", "pw", &[]);
    let server = Server::start(&db);
    let s = &server;
    let at = login(s, &c, "alice", "api:read");
    let (_, made) = create(s, &at, json!({"name": "gw", "scopes": ["api:read"]}));
    let pat = made["token"].as_str().unwrap().to_string();

    for headers in [
        vec![(FA_HEADER, pat.as_str())],
        vec![("authorization", &format!("Bearer {pat}") as &str)],
    ] {
        let res = forward(s, &headers);
        assert_eq!(res.status(), 200, "{headers:?}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let jwt = forwarded_jwt(&res);
        let claims = verify(s, &jwt, &s.issuer);
        assert_eq!(claims["sub"], alice.as_str());
        assert_eq!(claims["client_id"], "portcullis-pat");
        assert_eq!(claims["scope"], "api:read");
        let (exp, iat) = (
            claims["exp"].as_i64().unwrap(),
            claims["iat"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 60);
    }
    // An access token as bearer.
    let res = forward(s, &[("authorization", &format!("Bearer {at}"))]);
    assert_eq!(res.status(), 200);
    let claims = verify(s, &forwarded_jwt(&res), &s.issuer);
    assert_eq!(claims["client_id"], c.id.as_str());
    // Gateways forward the original method.
    let res = s
        .http
        .post(s.url("/oauth/forward-auth"))
        .header(FA_HEADER, &pat)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    // Nothing, or something bad: 401 with a Bearer challenge.
    let res = forward(s, &[]);
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert!(res.headers().get("authorization").is_none());
    for bad in ["garbage", "pcp_nope", "a.b.c"] {
        let res = forward(s, &[(FA_HEADER, bad)]);
        assert_eq!(res.status(), 401, "{bad}");
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        let res = forward(s, &[("authorization", &format!("Bearer {bad}"))]);
        assert_eq!(res.status(), 401, "{bad}");
    }
    drop(server);

    // The header, audience and lifetime come from configuration.
    let server = Server::start_with(
        &db,
        &[],
        &[
            ("PORTCULLIS_PATS__FORWARD_AUTH_HEADER", "X-Api-Key"),
            (
                "PORTCULLIS_PATS__FORWARD_AUTH_AUDIENCE",
                "https://upstream.example",
            ),
            ("PORTCULLIS_PATS__FORWARD_AUTH_LIFETIME_SECS", "30"),
            ("PORTCULLIS_PATS__FORWARD_AUTH_SIGNING_ALG", "ES256"),
        ],
    );
    let s = &server;
    assert_eq!(forward(s, &[(FA_HEADER, &pat)]).status(), 401);
    let res = forward(s, &[("X-Api-Key", &pat)]);
    assert_eq!(res.status(), 200);
    let jwt = forwarded_jwt(&res);
    assert_eq!(decode_header(&jwt).unwrap().alg, Algorithm::ES256);
    let claims = verify(s, &jwt, "https://upstream.example");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        30
    );
}

#[test]
fn last_uses_are_flushed_in_batches() {
    let db = TestDb::sqlite();
    let c = login_client(&db);
    add_user(&db, "alice", "pw", &[]);
    let server = Server::start_with(&db, &[], &[("PORTCULLIS_PATS__LAST_USED_FLUSH_SECS", "1")]);
    let s = &server;
    let at = login(s, &c, "alice", "api:read");
    let (_, made) = create(s, &at, json!({"name": "ci", "scopes": ["api:read"]}));
    let pat = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    let stored = || {
        db.store()
            .read(|tx| tx.get_pat(&id))
            .unwrap()
            .unwrap()
            .last_used_at
    };
    assert_eq!(stored(), None);
    let before = now();
    for _ in 0..5 {
        assert_eq!(forward(s, &[(FA_HEADER, &pat)]).status(), 200);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stored().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let last = stored().expect("last use flushed");
    assert!(last >= before && last <= now(), "{last}");
}

//! The admin API (`/admin/api/...`): who may use it, clients, users,
//! sessions, tokens, personal access tokens, signing keys and the audit
//! trail, paging and bad input, against the real binary (the main flows on
//! SQLite and PostgreSQL).

use portcullis_core::model::{PatKind, PersonalAccessToken, Scopes};
use portcullis_core::ports::PatStore;
use portcullis_e2e::{add_client, add_user, cli_json, databases, Server, TestClient, TestDb};
use reqwest::Method;
use serde_json::{json, Value};

/// An answer: status, JSON body (`Null` when empty) and `WWW-Authenticate`.
struct Answer {
    status: u16,
    body: Value,
    challenge: Option<String>,
}

fn call(
    s: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = s.http.request(method, s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().expect("admin request");
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = res.text().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    };
    Answer {
        status,
        body,
        challenge,
    }
}

/// A call that must answer `want`; its body.
fn expect(
    s: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    let a = call(s, method.clone(), path, Some(token), body);
    assert_eq!(a.status, want, "{method} {path}: {}", a.body);
    a.body
}

fn get(s: &Server, path: &str, token: &str) -> Value {
    expect(s, Method::GET, path, token, None, 200)
}

fn error_of(a: &Answer) -> (u16, &str) {
    (a.status, a.body["error"].as_str().unwrap_or(""))
}

/// The people and clients every test starts with.
struct World {
    s: Server,
    /// Password and refresh grants, scope `openid profile admin api`.
    ops: TestClient,
    /// Client credentials with scope `admin`.
    robot: TestClient,
    root_id: String,
    bob_id: String,
    /// root's token with scope `admin`.
    admin: String,
}

fn world(db: &TestDb, env: &[(&str, &str)]) -> World {
    let (root_id, _) = add_user(db, "root", "pw", &["--admin"]);
    let (bob_id, _) = add_user(db, "bob", "pw", &[]);
    let ops = add_client(
        db,
        &[
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile admin api",
        ],
    );
    let robot = add_client(
        db,
        &["--grant-type", "client_credentials", "--scope", "admin"],
    );
    let s = Server::start_with(db, &[], env);
    let admin = password(&s, &ops, "root", "pw", "admin")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        s,
        ops,
        robot,
        root_id,
        bob_id,
        admin,
    }
}

fn password(s: &Server, c: &TestClient, user: &str, pw: &str, scope: &str) -> Value {
    let (status, body) = s.token(
        Some(c),
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
            ("scope", scope),
        ],
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn client_credentials(s: &Server, c: &TestClient) -> (u16, Value) {
    s.token(Some(c), &[("grant_type", "client_credentials")])
}

fn refresh(s: &Server, c: &TestClient, rt: &str) -> (u16, Value) {
    s.token(
        Some(c),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
}

fn st(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
        .to_string()
}

/// Every item of a list, walking it `limit` at a time; checks each page.
fn walk(s: &Server, path: &str, token: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = get(s, &url, token);
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{url}: {page}");
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(got.len(), limit, "a page before the last is full");
                cursor = Some(c.to_string());
            }
            None => return items,
        }
    }
    panic!("{path}: the cursor never ended");
}

#[test]
fn only_administrators_and_admin_clients_get_in() {
    for db in databases() {
        let w = world(&db, &[]);
        let s = &w.s;
        let path = "/admin/api/clients";

        let a = call(s, Method::GET, path, None, None);
        assert_eq!(a.status, 401);
        assert_eq!(a.challenge.as_deref(), Some("Bearer"));
        let a = call(s, Method::GET, path, Some("garbage"), None);
        assert_eq!(error_of(&a), (401, "invalid_token"));
        assert!(a.challenge.unwrap().contains("invalid_token"));

        // a user who is not an administrator, even with scope admin
        let bob = password(s, &w.ops, "bob", "pw", "admin api");
        let a = call(s, Method::GET, path, bob["access_token"].as_str(), None);
        assert_eq!(error_of(&a), (403, "insufficient_scope"));
        assert!(a.challenge.unwrap().contains("scope=\"admin\""));
        // an administrator's token without scope admin
        let root_api = password(s, &w.ops, "root", "pw", "api");
        let a = call(
            s,
            Method::GET,
            path,
            root_api["access_token"].as_str(),
            None,
        );
        assert_eq!(error_of(&a), (403, "insufficient_scope"));

        // an administrator's token with scope admin
        let list = get(s, path, &w.admin);
        assert!(list["items"].as_array().unwrap().len() >= 2);
        assert!(list["next_cursor"].is_null());
        // a client granted admin, with its own token
        let (status, body) = client_credentials(s, &w.robot);
        assert_eq!(status, 200, "{body}");
        let robot = st(&body, "access_token");
        get(s, path, &robot);
        // a client without admin
        let plain = add_client(
            &db,
            &["--grant-type", "client_credentials", "--scope", "api"],
        );
        let (_, body) = client_credentials(s, &plain);
        let a = call(s, Method::GET, path, body["access_token"].as_str(), None);
        assert_eq!(error_of(&a), (403, "insufficient_scope"));

        // disabling the robot client ends its admin rights at once
        expect(
            s,
            Method::PATCH,
            &format!("/admin/api/clients/{}", w.robot.id),
            &w.admin,
            Some(json!({"disabled": true})),
            200,
        );
        assert_eq!(call(s, Method::GET, path, Some(&robot), None).status, 401);
    }
}

#[test]
fn clients_crud_and_secret_rotation() {
    for db in databases() {
        let w = world(&db, &[]);
        let (s, t) = (&w.s, w.admin.as_str());

        let made = expect(
            s,
            Method::POST,
            "/admin/api/clients",
            t,
            Some(json!({
                "client_name": "Billing",
                "grant_types": ["client_credentials"],
                "scope": "api",
                "access_token_format": "opaque",
            })),
            201,
        );
        let id = st(&made, "client_id");
        let secret = st(&made, "client_secret");
        assert_eq!(made["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(made["signing_alg"], "RS256", "the defaults of client add");
        let billing = TestClient {
            id: id.clone(),
            secret: Some(secret.clone()),
        };
        assert_eq!(client_credentials(s, &billing).0, 200);

        let one = get(s, &format!("/admin/api/clients/{id}"), t);
        assert_eq!(one["client_name"], "Billing");
        let shown = one.to_string();
        assert!(one.get("client_secret").is_none() && !shown.contains(&secret));
        assert!(!shown.contains("hash"), "{shown}");
        let all = get(s, "/admin/api/clients?limit=200", t);
        assert!(all["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id.as_str()));

        // metadata: redirect URIs follow the core rules
        let a = call(
            s,
            Method::PATCH,
            &format!("/admin/api/clients/{id}"),
            Some(t),
            Some(
                json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://a.example/cb#frag"]}),
            ),
        );
        assert_eq!(error_of(&a), (400, "invalid_redirect_uri"));
        let a = call(
            s,
            Method::PATCH,
            &format!("/admin/api/clients/{id}"),
            Some(t),
            Some(json!({"grant_types": ["authorization_code"]})),
        );
        assert_eq!(error_of(&a), (400, "invalid_redirect_uri"), "{}", a.body);
        let a = call(
            s,
            Method::PATCH,
            &format!("/admin/api/clients/{id}"),
            Some(t),
            Some(json!({"grant_types": ["implicit"]})),
        );
        assert_eq!(error_of(&a), (400, "invalid_client_metadata"));
        let changed = expect(
            s,
            Method::PATCH,
            &format!("/admin/api/clients/{id}"),
            t,
            Some(json!({
                "client_name": "Billing v2",
                "grant_types": ["client_credentials", "authorization_code"],
                "redirect_uris": ["https://billing.example/cb"],
                "scope": "api reports",
            })),
            200,
        );
        assert_eq!(changed["client_name"], "Billing v2");
        assert_eq!(
            changed["redirect_uris"],
            json!(["https://billing.example/cb"])
        );
        assert_eq!(changed["scope"], "api reports");
        assert_eq!(client_credentials(s, &billing).0, 200, "secret kept");

        // a new secret: the old one stops working at once, the new one works
        let rotated = expect(
            s,
            Method::POST,
            &format!("/admin/api/clients/{id}/secret"),
            t,
            None,
            200,
        );
        let new_secret = st(&rotated, "client_secret");
        assert_ne!(new_secret, secret);
        let (status, body) = client_credentials(s, &billing);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let billing = TestClient {
            id: id.clone(),
            secret: Some(new_secret),
        };
        assert_eq!(client_credentials(s, &billing).0, 200);

        // a public client has no secret to rotate
        let public = add_client(&db, &["--public", "--redirect-uri", "http://127.0.0.1/cb"]);
        let a = call(
            s,
            Method::POST,
            &format!("/admin/api/clients/{}/secret", public.id),
            Some(t),
            None,
        );
        assert_eq!(error_of(&a), (400, "invalid_request"));
        // the built-in login API client stays
        let a = call(
            s,
            Method::DELETE,
            "/admin/api/clients/portcullis-login-api",
            Some(t),
            None,
        );
        assert_eq!(error_of(&a), (409, "conflict"));

        expect(
            s,
            Method::DELETE,
            &format!("/admin/api/clients/{id}"),
            t,
            None,
            204,
        );
        let a = call(
            s,
            Method::GET,
            &format!("/admin/api/clients/{id}"),
            Some(t),
            None,
        );
        assert_eq!(error_of(&a), (404, "not_found"));
        assert_eq!(client_credentials(s, &billing).0, 401);
    }
}

fn login_api(s: &Server, user: &str, pw: &str) -> (u16, Value) {
    let res = s
        .http
        .post(s.url("/api/auth/login"))
        .json(&json!({"username": user, "password": pw}))
        .send()
        .unwrap();
    (res.status().as_u16(), res.json().unwrap())
}

#[test]
fn users_crud_and_disabling_ends_sessions() {
    for db in databases() {
        let w = world(&db, &[]);
        let (s, t) = (&w.s, w.admin.as_str());

        let carol = expect(
            s,
            Method::POST,
            "/admin/api/users",
            t,
            Some(
                json!({"username": "carol", "email": "carol@example.com", "password": "first pw"}),
            ),
            201,
        );
        let id = st(&carol, "id");
        assert_eq!(carol["admin"], false);
        let shown = carol.to_string();
        assert!(
            !shown.contains("first pw") && !shown.contains("argon2"),
            "{shown}"
        );
        assert_eq!(login_api(s, "carol", "first pw").0, 200);

        let a = call(
            s,
            Method::POST,
            "/admin/api/users",
            Some(t),
            Some(json!({"username": "carol", "password": "x"})),
        );
        assert_eq!(error_of(&a), (409, "conflict"));
        let a = call(
            s,
            Method::PATCH,
            &format!("/admin/api/users/{id}"),
            Some(t),
            Some(json!({"email": "not an address"})),
        );
        assert_eq!(error_of(&a), (400, "invalid_request"));

        let changed = expect(
            s,
            Method::PATCH,
            &format!("/admin/api/users/{id}"),
            t,
            Some(json!({"password": "second pw", "admin": true, "email": null})),
            200,
        );
        assert_eq!(changed["admin"], true);
        assert!(changed["email"].is_null());
        assert_eq!(login_api(s, "carol", "first pw").0, 401);
        let (status, session) = login_api(s, "carol", "second pw");
        assert_eq!(status, 200);
        let me_token = st(&session, "token");
        let rt = st(&session, "refresh_token");
        assert_eq!(s.me_status(&me_token), 200);
        let listed = get(s, &format!("/admin/api/users/{id}/sessions"), t);
        let live = listed["items"].as_array().unwrap();
        assert_eq!(live.len(), 2, "both logins: {listed}");
        assert!(live
            .iter()
            .all(|x| x["client_id"] == "portcullis-login-api"));

        // disabling ends every session: the refresh token and /me stop working
        let disabled = expect(
            s,
            Method::POST,
            &format!("/admin/api/users/{id}/disable"),
            t,
            None,
            200,
        );
        assert_eq!(disabled["disabled"], true);
        assert_eq!(s.me_status(&me_token), 401);
        let (status, body) = s.token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", "portcullis-login-api"),
            ],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let listed = get(s, &format!("/admin/api/users/{id}/sessions"), t);
        assert!(listed["items"].as_array().unwrap().is_empty());
        assert_eq!(login_api(s, "carol", "second pw").0, 401);
        let events = get(
            s,
            &format!("/admin/api/events?kind=session_ended&user_id={id}"),
            t,
        );
        assert_eq!(events["items"][0]["detail"]["reason"], "user_disabled");

        expect(
            s,
            Method::POST,
            &format!("/admin/api/users/{id}/enable"),
            t,
            None,
            200,
        );
        assert_eq!(login_api(s, "carol", "second pw").0, 200);
        assert_eq!(s.me_status(&me_token), 401, "ended sessions stay ended");

        // an administrator cannot lock themselves out
        for (method, path) in [
            (
                Method::POST,
                format!("/admin/api/users/{}/disable", w.root_id),
            ),
            (Method::DELETE, format!("/admin/api/users/{}", w.root_id)),
        ] {
            let a = call(s, method, &path, Some(t), None);
            assert_eq!(error_of(&a), (409, "conflict"), "{path}");
        }

        expect(
            s,
            Method::DELETE,
            &format!("/admin/api/users/{id}"),
            t,
            None,
            204,
        );
        let a = call(
            s,
            Method::GET,
            &format!("/admin/api/users/{id}"),
            Some(t),
            None,
        );
        assert_eq!(error_of(&a), (404, "not_found"));
        assert_eq!(login_api(s, "carol", "second pw").0, 401);
        let users = get(s, "/admin/api/users", t);
        let mut names: Vec<&str> = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["bob", "root"]);
    }
}

#[test]
fn sessions_and_tokens_list_and_revoke() {
    for db in databases() {
        let w = world(&db, &[]);
        let (s, t) = (&w.s, w.admin.as_str());
        let first = password(s, &w.ops, "bob", "pw", "openid api");
        let second = password(s, &w.ops, "bob", "pw", "api");

        let sessions = get(s, &format!("/admin/api/users/{}/sessions", w.bob_id), t);
        let items = sessions["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let mut ids: Vec<String> = items.iter().map(|x| st(x, "id")).collect();
        ids.sort();
        let mut want = vec![st(&first, "session_state"), st(&second, "session_state")];
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(items[0]["amr"], json!(["pwd"]));
        let first_session = st(&first, "session_state");

        // tokens of bob: an access and a refresh token per login, no secrets
        let tokens = get(s, &format!("/admin/api/tokens?user_id={}", w.bob_id), t);
        let items = tokens["items"].as_array().unwrap();
        assert_eq!(items.len(), 4, "{tokens}");
        let text = tokens.to_string();
        for secret in [&first, &second] {
            for k in ["access_token", "refresh_token"] {
                assert!(!text.contains(&st(secret, k)), "{k} shown");
            }
        }
        assert!(!text.contains("hash"));
        let kinds: Vec<&str> = items.iter().map(|x| x["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "access").count(), 2);
        for x in items {
            for f in [
                "jti",
                "client_id",
                "user_id",
                "scope",
                "aud",
                "issued_at",
                "expires_at",
            ] {
                assert!(!x[f].is_null(), "{f} in {x}");
            }
            assert!(x.get("revoked_at").is_some() && x.get("consumed_at").is_some());
        }
        let by_client = get(s, &format!("/admin/api/tokens?client_id={}", w.ops.id), t);
        // root's admin token was issued to the same client
        assert_eq!(by_client["items"].as_array().unwrap().len(), 6);

        // revoke an access token by jti: it introspects inactive at once
        let at = st(&second, "access_token");
        let jti = items
            .iter()
            .find(|x| x["kind"] == "access" && x["session_id"] == second["session_state"])
            .map(|x| st(x, "jti"))
            .unwrap();
        assert_eq!(
            s.introspect(Some(&w.ops), &[("token", &at)]).1["active"],
            true
        );
        expect(
            s,
            Method::DELETE,
            &format!("/admin/api/tokens/{jti}"),
            t,
            None,
            204,
        );
        assert_eq!(
            s.introspect(Some(&w.ops), &[("token", &at)]).1,
            json!({"active": false})
        );
        let again = get(s, &format!("/admin/api/tokens?user_id={}", w.bob_id), t);
        let revoked = again["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["jti"] == jti.as_str())
            .unwrap()
            .clone();
        assert!(revoked["revoked_at"].is_i64());
        // its refresh token lives on
        assert_eq!(refresh(s, &w.ops, &st(&second, "refresh_token")).0, 200);

        // end the first session: its refresh token and access token die
        expect(
            s,
            Method::DELETE,
            &format!("/admin/api/sessions/{first_session}"),
            t,
            None,
            204,
        );
        let (status, _) = refresh(s, &w.ops, &st(&first, "refresh_token"));
        assert_eq!(status, 400);
        assert_eq!(
            s.introspect(Some(&w.ops), &[("token", &st(&first, "access_token"))])
                .1,
            json!({"active": false})
        );
        let sessions = get(s, &format!("/admin/api/users/{}/sessions", w.bob_id), t);
        assert_eq!(sessions["items"].as_array().unwrap().len(), 1);
        let ended = get(
            s,
            &format!("/admin/api/events?kind=session_ended&user_id={}", w.bob_id),
            t,
        );
        assert_eq!(ended["items"][0]["detail"]["reason"], "admin");
        let revoked = get(s, "/admin/api/events?kind=access_token_revoked", t);
        assert_eq!(revoked["items"][0]["detail"]["jti"], jti.as_str());
    }
}

#[test]
fn personal_access_tokens_list_disable_enable_revoke() {
    let db = TestDb::sqlite();
    let w = world(&db, &[]);
    let (s, t) = (&w.s, w.admin.as_str());
    let pat = |id: &str, created_at: i64| PersonalAccessToken {
        id: id.into(),
        token_hash: format!("hash-of-{id}"),
        user_id: w.bob_id.clone(),
        name: format!("token {id}"),
        scope: Scopes::parse("api").unwrap(),
        kind: PatKind::Personal,
        client_id: None,
        created_at,
        expires_at: None,
        last_used_at: None,
        disabled: false,
        revoked_at: None,
    };
    db.store()
        .write(|tx| {
            tx.insert_pat(&pat("p1", 10))?;
            tx.insert_pat(&pat("p2", 20))
        })
        .unwrap();
    let path = format!("/admin/api/users/{}/pats", w.bob_id);
    let listed = walk(s, &path, t, 1);
    let ids: Vec<String> = listed.iter().map(|p| st(p, "id")).collect();
    assert_eq!(ids, ["p1", "p2"]);
    assert!(!serde_json::to_string(&listed).unwrap().contains("hash-of"));

    expect(s, Method::POST, "/admin/api/pats/p1/disable", t, None, 204);
    assert_eq!(get(s, &path, t)["items"][0]["disabled"], true);
    expect(s, Method::POST, "/admin/api/pats/p1/enable", t, None, 204);
    assert_eq!(get(s, &path, t)["items"][0]["disabled"], false);
    expect(s, Method::DELETE, "/admin/api/pats/p1", t, None, 204);
    assert_eq!(get(s, &path, t)["items"].as_array().unwrap().len(), 1);
    for (m, p) in [
        (Method::DELETE, "/admin/api/pats/p1"),
        (Method::POST, "/admin/api/pats/nope/disable"),
        (Method::GET, "/admin/api/users/nobody/pats"),
    ] {
        let a = call(s, m, p, Some(t), None);
        assert_eq!(error_of(&a), (404, "not_found"), "{p}");
    }
}

#[test]
fn signing_keys_list_and_rotate() {
    for db in databases() {
        let w = world(&db, &[]);
        let (s, t) = (&w.s, w.admin.as_str());
        let keys = get(s, "/admin/api/keys", t);
        let items = keys["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|k| k["state"] == "active"));
        assert!(!keys.to_string().contains("PRIVATE"));

        let rotated = expect(
            s,
            Method::POST,
            "/admin/api/keys/rotate",
            t,
            Some(json!({"alg": "ES256"})),
            200,
        );
        let new = &rotated["rotated"][0];
        assert_eq!(
            (new["alg"].as_str(), new["state"].as_str()),
            (Some("ES256"), Some("pending"))
        );
        let kid = st(new, "kid");
        assert_eq!(rotated["keys"].as_array().unwrap().len(), 4);
        // this node reloaded its key ring: the new key is published at once
        let jwks = s.get_json("/oauth/jwks");
        assert!(jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()));
        let listed = walk(s, "/admin/api/keys", t, 1);
        assert_eq!(listed.len(), 4);
        // as `portcullis keys list` says
        let cli = cli_json(&db, &["keys", "list"], "");
        assert_eq!(cli.as_array().unwrap().len(), 4);

        // no body: every algorithm
        let all = expect(s, Method::POST, "/admin/api/keys/rotate", t, None, 200);
        assert_eq!(all["rotated"].as_array().unwrap().len(), 3);
        let a = call(
            s,
            Method::POST,
            "/admin/api/keys/rotate",
            Some(t),
            Some(json!({"alg": "HS256"})),
        );
        assert_eq!(error_of(&a), (400, "invalid_request"));
        let events = get(s, "/admin/api/events?kind=signing_keys_rotated", t);
        assert_eq!(events["items"].as_array().unwrap().len(), 2);
        let one = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["detail"]["kids"].as_array().unwrap().len() == 1)
            .unwrap();
        assert_eq!(one["detail"]["kids"], json!([kid]));
        assert_eq!(one["detail"]["actor"]["user_id"], w.root_id.as_str());
    }
}

#[test]
fn audit_events_appear_and_filter() {
    for db in databases() {
        let w = world(&db, &[("PORTCULLIS_TOKENS__REFRESH_REUSE_GRACE_SECS", "0")]);
        let (s, t) = (&w.s, w.admin.as_str());
        let before = get(s, "/admin/api/events?limit=1", t)["items"][0]["at"]
            .as_i64()
            .unwrap_or(0);

        // a refresh token used twice, past the grace window
        let login = password(s, &w.ops, "bob", "pw", "api");
        let rt = st(&login, "refresh_token");
        assert_eq!(refresh(s, &w.ops, &rt).0, 200);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(refresh(s, &w.ops, &rt).0, 400);

        let reuse = get(s, "/admin/api/events?kind=refresh_token_reuse", t);
        let items = reuse["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{reuse}");
        assert_eq!(items[0]["user_id"], w.bob_id.as_str());
        assert_eq!(items[0]["client_id"], w.ops.id.as_str());
        assert!(!reuse.to_string().contains(&rt));
        let ended = get(
            s,
            &format!(
                "/admin/api/events?kind=session_ended&client_id={}",
                w.ops.id
            ),
            t,
        );
        assert_eq!(ended["items"].as_array().unwrap().len(), 1);

        // admin changes are audited with their actor
        let made = expect(
            s,
            Method::POST,
            "/admin/api/clients",
            t,
            Some(json!({"client_name": "x", "redirect_uris": ["https://x.example/cb"]})),
            201,
        );
        let id = st(&made, "client_id");
        let ev = get(s, &format!("/admin/api/events?client_id={id}"), t);
        assert_eq!(ev["items"][0]["kind"], "client_created");
        assert_eq!(
            ev["items"][0]["detail"]["actor"]["user_id"],
            w.root_id.as_str()
        );

        // filters combine; newest first
        let bob = get(s, &format!("/admin/api/events?user_id={}", w.bob_id), t);
        let items = bob["items"].as_array().unwrap();
        assert!(items.len() >= 2);
        assert!(items.iter().all(|e| e["user_id"] == w.bob_id.as_str()));
        assert!(items
            .windows(2)
            .all(|p| p[0]["at"].as_i64() >= p[1]["at"].as_i64()));
        let since = get(s, &format!("/admin/api/events?since={before}"), t);
        assert!(since["items"].as_array().unwrap().len() >= 3);
        let future = get(s, "/admin/api/events?since=99999999999", t);
        assert!(future["items"].as_array().unwrap().is_empty());
        let a = call(
            s,
            Method::GET,
            "/admin/api/events?since=yesterday",
            Some(t),
            None,
        );
        assert_eq!(error_of(&a), (400, "invalid_request"));
    }
}

#[test]
fn limit_one_walks_every_item_exactly_once() {
    for db in databases() {
        for i in 0..4 {
            add_client(
                &db,
                &[
                    "--grant-type",
                    "client_credentials",
                    "--scope",
                    &format!("s{i}"),
                ],
            );
            add_user(&db, &format!("user{i}"), "pw", &[]);
        }
        let w = world(&db, &[]);
        let (s, t) = (&w.s, w.admin.as_str());
        for i in 0..3 {
            password(s, &w.ops, "bob", "pw", "api");
            // each an audit event
            let user = json!({"username": format!("api{i}"), "password": "pw"});
            expect(s, Method::POST, "/admin/api/users", t, Some(user), 201);
        }
        for (path, id) in [
            ("/admin/api/clients".to_string(), "client_id"),
            ("/admin/api/users".to_string(), "id"),
            ("/admin/api/events".to_string(), "id"),
            (format!("/admin/api/tokens?client_id={}", w.ops.id), "jti"),
            (format!("/admin/api/users/{}/sessions", w.bob_id), "id"),
        ] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let full = get(s, &format!("{path}{sep}limit=200"), t);
            let full = full["items"].as_array().unwrap().clone();
            assert!(full.len() >= 3, "{path}: {full:?}");
            let key = |v: &Value| st(v, id);
            for limit in [1, 2] {
                let walked = walk(s, &path, t, limit);
                assert_eq!(walked, full, "{path} by {limit}");
                let mut ids: Vec<String> = walked.iter().map(key).collect();
                ids.sort();
                ids.dedup();
                assert_eq!(ids.len(), full.len(), "{path}: each item once");
            }
        }
    }
}

#[test]
fn bad_input_is_an_error_never_a_crash() {
    let db = TestDb::sqlite();
    let w = world(&db, &[]);
    let (s, t) = (&w.s, w.admin.as_str());
    let raw = |method: Method, path: &str, ct: &str, body: &str| {
        let res = s
            .http
            .request(method, s.url(path))
            .bearer_auth(t)
            .header("content-type", ct)
            .body(body.to_string())
            .send()
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().unwrap();
        (
            status,
            body["error"].as_str().unwrap_or("").to_string(),
            body,
        )
    };
    for (ct, body, why) in [
        ("application/json", "{\"client_name\": ", "malformed JSON"),
        ("application/json", "[1, 2]", "not an object"),
        (
            "text/plain",
            "{\"client_name\": \"x\"}",
            "wrong content type",
        ),
        ("application/json", "{\"client_name\": 5}", "wrong type"),
        (
            "application/json",
            "{\"client_name\": \"x\", \"colour\": 1}",
            "unknown field",
        ),
        ("application/json", "{}", "missing field"),
    ] {
        let (status, error, body) = raw(Method::POST, "/admin/api/clients", ct, body);
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_request"),
            "{why}: {body}"
        );
    }
    let (_, _, body) = raw(
        Method::POST,
        "/admin/api/clients",
        "application/json",
        "{\"client_name\": \"x\", \"colour\": 1}",
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("colour"));
    // a wrongly typed password is not echoed back
    let (status, _, body) = raw(
        Method::POST,
        "/admin/api/users",
        "application/json",
        "{\"username\": \"eve\", \"password\": 123456789}",
    );
    assert_eq!(status, 400);
    assert!(!body.to_string().contains("123456789"));

    let a = call(
        s,
        Method::POST,
        "/admin/api/clients",
        Some(t),
        Some(json!({"client_name": "x", "redirect_uris": ["not a uri"]})),
    );
    assert_eq!(error_of(&a), (400, "invalid_redirect_uri"));
    let a = call(
        s,
        Method::POST,
        "/admin/api/clients",
        Some(t),
        Some(
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
        ),
    );
    assert_eq!(error_of(&a), (400, "invalid_client_metadata"));
    let a = call(
        s,
        Method::POST,
        "/admin/api/users",
        Some(t),
        Some(json!({"username": "eve", "password": ""})),
    );
    assert_eq!(error_of(&a), (400, "invalid_request"));

    for (m, p) in [
        (Method::GET, "/admin/api/clients/nope"),
        (Method::PATCH, "/admin/api/clients/nope"),
        (Method::DELETE, "/admin/api/clients/nope"),
        (Method::POST, "/admin/api/clients/nope/secret"),
        (Method::GET, "/admin/api/users/nope"),
        (Method::PATCH, "/admin/api/users/nope"),
        (Method::POST, "/admin/api/users/nope/disable"),
        (Method::POST, "/admin/api/users/nope/enable"),
        (Method::DELETE, "/admin/api/users/nope"),
        (Method::GET, "/admin/api/users/nope/sessions"),
        (Method::DELETE, "/admin/api/sessions/nope"),
        (Method::DELETE, "/admin/api/tokens/nope"),
        (Method::GET, "/admin/api/tokens?user_id=nope"),
        (Method::GET, "/admin/api/tokens?client_id=nope"),
    ] {
        let body = (m == Method::PATCH).then(|| json!({}));
        let a = call(s, m.clone(), p, Some(t), body);
        assert_eq!(error_of(&a), (404, "not_found"), "{m} {p}: {}", a.body);
    }
    for p in [
        "/admin/api/clients?limit=0",
        "/admin/api/clients?limit=201",
        "/admin/api/clients?limit=ten",
        "/admin/api/clients?cursor=%%%",
        "/admin/api/clients?cursor=bm90LWEtY3Vyc29y",
        "/admin/api/clients?limit=1&limit=2",
        "/admin/api/tokens",
        &format!(
            "/admin/api/tokens?user_id={}&client_id={}",
            w.bob_id, w.ops.id
        ),
        &format!("/admin/api/tokens?user_id={}&cursor=MTA6eA", w.bob_id),
    ] {
        let a = call(s, Method::GET, p, Some(t), None);
        assert_eq!(error_of(&a), (400, "invalid_request"), "{p}: {}", a.body);
    }
    let a = call(s, Method::PUT, "/admin/api/clients", Some(t), None);
    assert_eq!(a.status, 405);
    let a = call(s, Method::GET, "/admin/api/nothing", Some(t), None);
    assert_eq!(error_of(&a), (404, "not_found"));
}

//! `POST /oauth/introspect` (RFC 7662, and RFC 9701 JWT answers): every
//! token kind and state, the callers allowed (confidential clients, public
//! clients for their own tokens, administrators' bearer tokens) and those
//! refused, against the real binary on SQLite and PostgreSQL.

use jsonwebtoken::{decode_header, Algorithm, Validation};
use portcullis_core::ports::ClientStore;
use portcullis_e2e::{add_client, add_user, cli, databases, Server, TestClient, TestDb};
use serde_json::{json, Value};

fn inactive() -> Value {
    json!({"active": false})
}

/// A confidential client allowed the password and refresh grants.
fn password_client(db: &TestDb, extra: &[&str]) -> TestClient {
    let mut args = vec![
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile api admin",
    ];
    args.extend_from_slice(extra);
    add_client(db, &args)
}

/// A public client allowed the password and refresh grants.
fn public_client(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--public",
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
            "--scope",
            "api",
            "--access-token-format",
            "opaque",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
    )
}

/// A confidential client that introspects (a resource server in spirit).
fn caller_client(db: &TestDb) -> TestClient {
    add_client(
        db,
        &["--grant-type", "client_credentials", "--scope", "api"],
    )
}

/// Password grant for `client` (Basic, or `client_id` alone when public).
fn login(s: &Server, client: &TestClient, user: &str, scope: &str) -> Value {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", user),
        ("password", "pw"),
        ("scope", scope),
    ];
    let basic = if client.secret.is_some() {
        Some(client)
    } else {
        form.push(("client_id", client.id.as_str()));
        None
    };
    let (status, body) = s.token(basic, &form);
    assert_eq!(status, 200, "{body}");
    body
}

fn refresh(s: &Server, client: &TestClient, rt: &str) -> Value {
    let (status, body) = s.token(
        Some(client),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// Introspect `token` as `caller`; the answer, which must be 200.
fn ask(s: &Server, caller: &TestClient, token: &str) -> Value {
    let (status, body) = s.introspect(Some(caller), &[("token", token)]);
    assert_eq!(status, 200, "{body}");
    body
}

fn st<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

/// The claims of one of our JWTs, unverified (the token tests verify them).
fn claims(token: &str) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn set_resource_server(db: &TestDb, client_id: &str) {
    let store = db.store();
    store
        .write(|tx| {
            let mut c = tx.get_client(client_id)?.expect("client");
            c.is_resource_server = true;
            tx.update_client(&c)
        })
        .unwrap();
}

#[test]
fn live_tokens_of_every_kind_answer_their_members() {
    for db in databases() {
        let opaque = password_client(&db, &["--access-token-format", "opaque"]);
        let rs256 = add_client(
            &db,
            &[
                "--grant-type",
                "client_credentials",
                "--scope",
                "api",
                "--signing-alg",
                "RS256",
            ],
        );
        let es256 = add_client(
            &db,
            &[
                "--grant-type",
                "client_credentials",
                "--scope",
                "api",
                "--signing-alg",
                "ES256",
            ],
        );
        let rs = caller_client(&db);
        let (alice, _) = add_user(&db, "alice", "pw", &[]);
        let server = Server::start(&db);
        let s = &server;

        // An opaque access token of a user.
        let t = login(s, &opaque, "alice", "openid api");
        let at = st(&t, "access_token");
        let res = s.post_form("/oauth/introspect", Some(&rs), &[("token", at)]);
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let v: Value = res.json().unwrap();
        assert_eq!(v["active"], true);
        assert_eq!(v["token_use"], "access");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["scope"], "api openid");
        assert_eq!(v["client_id"], opaque.id.as_str());
        assert_eq!(v["username"], "alice");
        assert_eq!(v["sub"], alice.as_str());
        assert_eq!(v["aud"], s.issuer.as_str());
        assert_eq!(v["iss"], s.issuer.as_str());
        assert!(v["jti"].as_str().is_some_and(|j| !j.is_empty()));
        let (exp, iat) = (v["exp"].as_i64().unwrap(), v["iat"].as_i64().unwrap());
        assert_eq!(exp - iat, 300);
        assert_eq!(v["nbf"].as_i64(), Some(iat));

        // Its refresh token: a stable id, no token_type, the same owner.
        let rt = st(&t, "refresh_token");
        let v = ask(s, &rs, rt);
        assert_eq!(v["active"], true, "{v}");
        assert_eq!(v["token_use"], "refresh");
        assert!(v.get("token_type").is_none());
        assert_eq!(v["client_id"], opaque.id.as_str());
        assert_eq!(
            (v["sub"].as_str(), v["username"].as_str()),
            (Some(alice.as_str()), Some("alice"))
        );
        let id = st(&v, "jti").to_string();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(ask(s, &rs, rt)["jti"], id.as_str(), "stable");
        assert!(v["exp"].as_i64().unwrap() > exp);

        // Hints only order the search (RFC 7662 §2.1): a wrong or unknown one still finds it.
        for (tok, hint, kind) in [
            (at, "refresh_token", "access"),
            (rt, "access_token", "refresh"),
            (rt, "refresh_token", "refresh"),
            (at, "id_token", "access"),
        ] {
            let (status, v) = s.introspect(Some(&rs), &[("token", tok), ("token_type_hint", hint)]);
            assert_eq!(
                (status, v["token_use"].as_str()),
                (200, Some(kind)),
                "{hint}"
            );
        }

        // JWT access tokens signed RS256 and ES256, without a user.
        for (c, alg) in [(&rs256, "RS256"), (&es256, "ES256")] {
            let (status, t) = s.token(Some(c), &[("grant_type", "client_credentials")]);
            assert_eq!(status, 200);
            let jwt = st(&t, "access_token");
            assert_eq!(
                decode_header(jwt).unwrap().alg,
                alg.parse::<Algorithm>().unwrap()
            );
            let v = ask(s, &rs, jwt);
            let c_ = claims(jwt);
            assert_eq!(v["active"], true, "{alg}: {v}");
            assert_eq!(v["token_use"], "access");
            assert_eq!(v["jti"], c_["jti"]);
            assert_eq!(v["exp"], c_["exp"]);
            assert_eq!(v["iat"], c_["iat"]);
            assert_eq!(v["sub"], c.id.as_str());
            assert_eq!(v["client_id"], c.id.as_str());
            assert!(v.get("username").is_none());
            assert_eq!(v["scope"], "api");
            // client_secret_post works as well as Basic
            let (status, v) = s.introspect(
                None,
                &[
                    ("token", jwt),
                    ("client_id", &rs.id),
                    ("client_secret", rs.secret.as_deref().unwrap()),
                ],
            );
            assert_eq!((status, v["active"].as_bool()), (200, Some(true)));
            // a tampered signature is not ours
            let mut bad = jwt.to_string();
            let last = bad.pop().unwrap();
            bad.push(if last == 'A' { 'B' } else { 'A' });
            assert_eq!(ask(s, &rs, &bad), inactive(), "{alg}");
        }

        // An ID token is a JWT of ours, but not an access token (typ JWT, not at+jwt).
        let id_token = st(&t, "id_token");
        assert_eq!(ask(s, &rs, id_token), inactive());
        // Garbage of every shape: exactly {"active": false}.
        for garbage in ["garbage", "a.b.c", "x".repeat(4000).as_str(), "é"] {
            assert_eq!(ask(s, &rs, garbage), inactive(), "{garbage}");
        }
    }
}

#[test]
fn expired_tokens_are_inactive() {
    for db in databases() {
        let opaque = password_client(&db, &["--access-token-format", "opaque"]);
        let jwt = password_client(&db, &[]);
        let rs = caller_client(&db);
        add_user(&db, "bob", "pw", &[]);
        let s = Server::start_with(
            &db,
            &[],
            &[("PORTCULLIS_TOKENS__ACCESS_TOKEN_LIFETIME_SECS", "3")],
        );
        // Each checked right after its login: times are whole seconds, and a
        // busy machine may take a while between two logins.
        let a = login(&s, &opaque, "bob", "api");
        let at1 = st(&a, "access_token");
        assert_eq!(ask(&s, &rs, at1)["active"], true);
        let b = login(&s, &jwt, "bob", "api");
        let at2 = st(&b, "access_token");
        assert_eq!(at2.matches('.').count(), 2);
        assert_eq!(ask(&s, &rs, at2)["active"], true);
        std::thread::sleep(std::time::Duration::from_millis(4100));
        assert_eq!(ask(&s, &rs, at1), inactive());
        assert_eq!(ask(&s, &rs, at2), inactive());
        // the refresh token lives on
        assert_eq!(ask(&s, &rs, st(&a, "refresh_token"))["active"], true);
    }
}

#[test]
fn revoked_consumed_ended_and_disabled_tokens_are_inactive() {
    for db in databases() {
        let c = password_client(&db, &[]);
        let rs = caller_client(&db);
        add_user(&db, "carol", "pw", &[]);
        add_user(&db, "dan", "pw", &[]);
        let s = Server::start(&db);

        // A revoked JWT is inactive at once: the record decides.
        let t = login(&s, &c, "carol", "api");
        let at = st(&t, "access_token");
        assert_eq!(at.matches('.').count(), 2);
        assert_eq!(ask(&s, &rs, at)["active"], true);
        assert_eq!(s.revoke(Some(&c), &[("token", at)]).0, 200);
        assert_eq!(ask(&s, &rs, at), inactive());

        // A consumed refresh token is inactive; its successor is live.
        let rt = st(&t, "refresh_token");
        let next = refresh(&s, &c, rt);
        assert_eq!(ask(&s, &rs, rt), inactive());
        let rt2 = st(&next, "refresh_token");
        assert_eq!(ask(&s, &rs, rt2)["active"], true);
        assert_eq!(ask(&s, &rs, st(&next, "access_token"))["active"], true);

        // Logout ends the session: every token of it.
        let res = s.post_form("/oauth/logout", Some(&c), &[("refresh_token", rt2)]);
        assert_eq!(res.status(), 204);
        assert_eq!(ask(&s, &rs, rt2), inactive());
        assert_eq!(ask(&s, &rs, st(&next, "access_token")), inactive());

        // A disabled user's tokens are inactive, and live again once enabled.
        let d = login(&s, &c, "dan", "api");
        let (dat, drt) = (st(&d, "access_token"), st(&d, "refresh_token"));
        let out = cli(&db, &["user", "disable", "--username", "dan"], "");
        assert!(out.status.success());
        assert_eq!(ask(&s, &rs, dat), inactive());
        assert_eq!(ask(&s, &rs, drt), inactive());
        let out = cli(&db, &["user", "enable", "--username", "dan"], "");
        assert!(out.status.success());
        assert_eq!(ask(&s, &rs, dat)["active"], true);
    }
}

#[test]
fn a_public_client_sees_only_its_own_tokens() {
    for db in databases() {
        let public = public_client(&db);
        let other = password_client(&db, &["--access-token-format", "opaque"]);
        add_user(&db, "erin", "pw", &[]);
        let s = Server::start(&db);
        let own = login(&s, &public, "erin", "api");
        let theirs = login(&s, &other, "erin", "api");
        let me = [("client_id", public.id.as_str())];
        let as_public = |token: &str| {
            let mut form = me.to_vec();
            form.push(("token", token));
            let (status, v) = s.introspect(None, &form);
            assert_eq!(status, 200, "{v}");
            v
        };
        assert_eq!(as_public(st(&own, "access_token"))["active"], true);
        assert_eq!(as_public(st(&own, "refresh_token"))["token_use"], "refresh");
        // another client's tokens, live as they are, are not active for it
        assert_eq!(as_public(st(&theirs, "access_token")), inactive());
        assert_eq!(as_public(st(&theirs, "refresh_token")), inactive());
        assert_eq!(as_public("garbage"), inactive());
        // ... while a confidential client sees them
        let rs = caller_client(&db);
        assert_eq!(ask(&s, &rs, st(&theirs, "access_token"))["active"], true);
        assert_eq!(ask(&s, &rs, st(&own, "access_token"))["active"], true);
    }
}

#[test]
fn an_administrators_bearer_token_may_introspect_and_others_get_401() {
    for db in databases() {
        // JWT access tokens for the bearer, so its signature is checked too
        let admin_cli = password_client(&db, &[]);
        let apps = password_client(&db, &["--access-token-format", "opaque"]);
        add_user(&db, "root", "pw", &["--admin"]);
        add_user(&db, "frank", "pw", &[]);
        let s = Server::start(&db);
        let admin = login(&s, &admin_cli, "root", "admin api");
        let bearer = st(&admin, "access_token");
        assert_eq!(bearer.matches('.').count(), 2);
        let target = login(&s, &apps, "frank", "api");
        let token = st(&target, "access_token");

        let res = s.introspect_as(bearer, &[("token", token)]);
        assert_eq!(res.status(), 200);
        let v: Value = res.json().unwrap();
        assert_eq!(
            (v["active"].as_bool(), v["username"].as_str()),
            (Some(true), Some("frank"))
        );
        let res = s.introspect_as(bearer, &[("token", "garbage")]);
        assert_eq!(res.json::<Value>().unwrap(), inactive());

        // RFC 7662 §2.3: a bearer token without the privilege is a 401 (RFC 6750 §3).
        let refused = |bearer: &str, error: &str| {
            let res = s.introspect_as(bearer, &[("token", token)]);
            assert_eq!(res.status(), 401, "{error}");
            let challenge = res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                challenge.starts_with("Bearer") && challenge.contains(error),
                "{challenge}"
            );
            assert_eq!(res.json::<Value>().unwrap()["error"], error);
        };
        // a user who is not an administrator, even with scope admin
        let plain = login(&s, &admin_cli, "frank", "admin api");
        refused(st(&plain, "access_token"), "insufficient_scope");
        // an administrator without scope admin
        let narrow = login(&s, &admin_cli, "root", "api");
        refused(st(&narrow, "access_token"), "insufficient_scope");
        // garbage, a tampered JWT, a revoked token
        refused("garbage", "invalid_token");
        refused(&format!("{bearer}x"), "invalid_token");
        assert_eq!(s.revoke(Some(&admin_cli), &[("token", bearer)]).0, 200);
        refused(bearer, "invalid_token");

        // a bearer token and client credentials at once: one method per request
        let fresh = login(&s, &admin_cli, "root", "admin");
        let res = s.introspect_as(
            st(&fresh, "access_token"),
            &[("token", token), ("client_id", &apps.id)],
        );
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
    }
}

/// Verify an RFC 9701 answer against the JWKS; its claims.
fn verify_answer(s: &Server, jwt: &str, audience: &str) -> Value {
    let (alg, claims) = portcullis_e2e::verify_jwt(s, jwt, "token-introspection+jwt", |a| {
        let mut v = Validation::new(a);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.set_audience(&[audience]);
        v
    });
    assert_eq!(alg, Algorithm::RS256);
    claims
}

#[test]
fn a_jwt_answer_is_signed_for_the_caller() {
    for db in databases() {
        let c = password_client(&db, &["--access-token-format", "opaque"]);
        let rs = caller_client(&db);
        add_user(&db, "gina", "pw", &[]);
        let s = Server::start(&db);
        let t = login(&s, &c, "gina", "api");
        let at = st(&t, "access_token");
        let jwt_answer = |token: &str, accept: &str| {
            s.http
                .post(s.url("/oauth/introspect"))
                .basic_auth(&rs.id, rs.secret.as_deref())
                .header("Accept", accept)
                .form(&[("token", token)])
                .send()
                .unwrap()
        };
        let res = jwt_answer(at, "application/token-introspection+jwt");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"],
            "application/token-introspection+jwt"
        );
        assert_eq!(res.headers()["cache-control"], "no-store");
        let claims = verify_answer(&s, &res.text().unwrap(), &rs.id);
        assert_eq!(claims["iss"], s.issuer.as_str());
        assert_eq!(claims["aud"], rs.id.as_str());
        assert!(claims["iat"].as_i64().is_some());
        let inner = &claims["token_introspection"];
        assert_eq!(
            inner,
            &ask(&s, &rs, at),
            "the same object as the JSON answer"
        );
        assert_eq!(inner["active"], true);
        assert_eq!(inner["username"], "gina");

        // an inactive token: {"active": false} inside, signed all the same
        let res = jwt_answer(
            "garbage",
            "application/json;q=0.5, application/token-introspection+jwt",
        );
        let claims = verify_answer(&s, &res.text().unwrap(), &rs.id);
        assert_eq!(claims["token_introspection"], inactive());
        // q=0 refuses the JWT form; anything else gets JSON
        for accept in [
            "application/token-introspection+jwt;q=0",
            "application/json",
            "*/*",
        ] {
            let res = jwt_answer(at, accept);
            assert!(
                res.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"),
                "{accept}"
            );
        }
    }
}

#[test]
fn callers_that_cannot_introspect_get_rfc6749_errors() {
    let db = TestDb::sqlite();
    let c = password_client(&db, &["--access-token-format", "opaque"]);
    let rs = caller_client(&db);
    let s = Server::start(&db);
    let err = |res: reqwest::blocking::Response| {
        let status = res.status().as_u16();
        let basic = res
            .headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Basic"));
        let body: Value = res.json().unwrap();
        (
            status,
            body["error"].as_str().unwrap_or("").to_string(),
            basic,
        )
    };
    // no client authentication at all
    assert_eq!(
        err(s.post_form("/oauth/introspect", None, &[("token", "x")])),
        (401, "invalid_client".into(), false)
    );
    // a wrong secret over Basic: 401 with WWW-Authenticate: Basic
    let wrong = TestClient {
        id: rs.id.clone(),
        secret: Some("wrong".into()),
    };
    assert_eq!(
        err(s.post_form("/oauth/introspect", Some(&wrong), &[("token", "x")])),
        (401, "invalid_client".into(), true)
    );
    // a confidential client presenting its id alone
    assert_eq!(
        err(s.post_form(
            "/oauth/introspect",
            None,
            &[("token", "x"), ("client_id", &c.id)]
        )),
        (401, "invalid_client".into(), false)
    );
    // no token
    assert_eq!(
        err(s.post_form("/oauth/introspect", Some(&rs), &[])),
        (400, "invalid_request".into(), false)
    );
    // a repeated token, a JSON body
    let res = s
        .http
        .post(s.url("/oauth/introspect"))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("token=a&token=b")
        .send()
        .unwrap();
    assert_eq!(err(res).0, 400);
    let res = s
        .http
        .post(s.url("/oauth/introspect"))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .json(&json!({"token": "a"}))
        .send()
        .unwrap();
    assert_eq!(err(res), (400, "invalid_request".into(), false));
    // GET is not the endpoint
    assert!(s.get("/oauth/introspect").status().is_client_error());
}

#[test]
fn resource_servers_only_refuses_other_clients_but_not_administrators() {
    for db in databases() {
        let c = password_client(&db, &["--access-token-format", "opaque"]);
        let rs = caller_client(&db);
        let public = public_client(&db);
        set_resource_server(&db, &rs.id);
        add_user(&db, "hank", "pw", &[]);
        add_user(&db, "root", "pw", &["--admin"]);
        let s = Server::start_with(
            &db,
            &[],
            &[("PORTCULLIS_INTROSPECTION__RESOURCE_SERVERS_ONLY", "true")],
        );
        let t = login(&s, &c, "hank", "api");
        let at = st(&t, "access_token");
        assert_eq!(ask(&s, &rs, at)["active"], true);
        let (status, v) = s.introspect(Some(&c), &[("token", at)]);
        assert_eq!((status, v["error"].as_str()), (401, Some("invalid_client")));
        let own = login(&s, &public, "hank", "api");
        let (status, v) = s.introspect(
            None,
            &[
                ("token", st(&own, "access_token")),
                ("client_id", &public.id),
            ],
        );
        assert_eq!((status, v["error"].as_str()), (401, Some("invalid_client")));
        let admin = login(&s, &c, "root", "admin");
        let res = s.introspect_as(st(&admin, "access_token"), &[("token", at)]);
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().unwrap()["active"], true);
    }
}

#[test]
fn discovery_advertises_introspection_and_revocation() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let m = s.get_json("/.well-known/openid-configuration");
    assert_eq!(
        m["introspection_endpoint"],
        format!("{}/oauth/introspect", s.issuer)
    );
    assert_eq!(
        m["revocation_endpoint"],
        format!("{}/oauth/revoke", s.issuer)
    );
    for key in [
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        let methods = m[key].as_array().unwrap_or_else(|| panic!("{key}"));
        assert!(methods.contains(&"client_secret_basic".into()), "{key}");
    }
}

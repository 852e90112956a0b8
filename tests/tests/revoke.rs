//! `POST /oauth/revoke` (RFC 7009): a refresh token ends its session, an
//! access token goes alone, another client's token is refused, unknown
//! tokens succeed; against the real binary on SQLite and PostgreSQL.

use portcullis_e2e::{add_client, add_user, databases, Server, TestClient, TestDb};
use serde_json::{json, Value};

fn password_client(db: &TestDb, extra: &[&str]) -> TestClient {
    let mut args = vec![
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--scope",
        "api",
    ];
    args.extend_from_slice(extra);
    add_client(db, &args)
}

fn login(s: &Server, client: &TestClient, user: &str) -> Value {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", user),
        ("password", "pw"),
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

fn st<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

/// Is `token` active, as a confidential client `rs` sees it?
fn active(s: &Server, rs: &TestClient, token: &str) -> bool {
    let (status, v) = s.introspect(Some(rs), &[("token", token)]);
    assert_eq!(status, 200, "{v}");
    if v["active"] == false {
        assert_eq!(v, json!({"active": false}));
    }
    v["active"] == true
}

/// Revoke; the status, after checking a 200 has an empty body.
fn revoke(s: &Server, client: &TestClient, form: &[(&str, &str)]) -> u16 {
    let (status, body) = s.revoke(Some(client), form);
    if status == 200 {
        assert_eq!(body, "", "RFC 7009 §2.2: the body of a success is empty");
    }
    status
}

fn refresh_status(s: &Server, c: &TestClient, rt: &str) -> u16 {
    s.token(
        Some(c),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .0
}

fn rs_client(db: &TestDb) -> TestClient {
    add_client(
        db,
        &["--grant-type", "client_credentials", "--scope", "api"],
    )
}

#[test]
fn revoking_a_refresh_token_ends_its_session() {
    for db in databases() {
        let c = password_client(&db, &["--access-token-format", "opaque"]);
        let rs = rs_client(&db);
        add_user(&db, "alice", "pw", &[]);
        let s = Server::start(&db);

        // A live refresh token: its access token goes with it.
        let t = login(&s, &c, "alice");
        let other = login(&s, &c, "alice");
        let (at, rt) = (st(&t, "access_token"), st(&t, "refresh_token"));
        assert!(active(&s, &rs, at) && active(&s, &rs, rt));
        let res = s.post_form(
            "/oauth/revoke",
            Some(&c),
            &[("token", rt), ("token_type_hint", "refresh_token")],
        );
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.text().unwrap(), "");
        assert!(!active(&s, &rs, at));
        assert!(!active(&s, &rs, rt));
        assert_eq!(s.me_status(at), 401);
        assert_eq!(refresh_status(&s, &c, rt), 400);
        // the user's other session is untouched
        assert!(active(&s, &rs, st(&other, "access_token")));
        assert!(active(&s, &rs, st(&other, "refresh_token")));

        // After rotation: revoking the first (used) refresh token ends the
        // session, so the successor and both access tokens go too.
        let t1 = login(&s, &c, "alice");
        let rt1 = st(&t1, "refresh_token");
        let (status, t2) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
        );
        assert_eq!(status, 200);
        let rt2 = st(&t2, "refresh_token");
        assert!(active(&s, &rs, rt2) && active(&s, &rs, st(&t2, "access_token")));
        assert_eq!(revoke(&s, &c, &[("token", rt1)]), 200);
        for tok in [st(&t1, "access_token"), st(&t2, "access_token"), rt2] {
            assert!(!active(&s, &rs, tok));
        }
        assert_eq!(refresh_status(&s, &c, rt2), 400);
        // revoking again: already invalid, still 200
        assert_eq!(revoke(&s, &c, &[("token", rt2)]), 200);
    }
}

#[test]
fn revoking_an_access_token_revokes_it_alone() {
    for db in databases() {
        let opaque = password_client(&db, &["--access-token-format", "opaque"]);
        let jwt = password_client(&db, &["--signing-alg", "ES256"]);
        let rs = rs_client(&db);
        add_user(&db, "bob", "pw", &[]);
        let s = Server::start(&db);
        for c in [&opaque, &jwt] {
            let t = login(&s, c, "bob");
            let (at, rt) = (st(&t, "access_token"), st(&t, "refresh_token"));
            // a wrong hint does not stop the search (RFC 7009 §2.1)
            assert_eq!(
                revoke(
                    &s,
                    c,
                    &[("token", at), ("token_type_hint", "refresh_token")]
                ),
                200
            );
            assert!(!active(&s, &rs, at));
            assert_eq!(s.me_status(at), 401);
            // the refresh token, and the session, live on
            assert!(active(&s, &rs, rt));
            let (status, next) = s.token(
                Some(c),
                &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            );
            assert_eq!(status, 200, "{next}");
            assert!(active(&s, &rs, st(&next, "access_token")));
            // revoking it again is fine
            assert_eq!(revoke(&s, c, &[("token", at)]), 200);
        }
    }
}

#[test]
fn another_clients_token_is_refused_and_stays_active() {
    for db in databases() {
        let owner = password_client(&db, &["--access-token-format", "opaque"]);
        let thief = password_client(&db, &[]);
        let public = add_client(
            &db,
            &[
                "--public",
                "--grant-type",
                "password",
                "--scope",
                "api",
                "--redirect-uri",
                "http://127.0.0.1/cb",
            ],
        );
        let rs = rs_client(&db);
        add_user(&db, "carol", "pw", &[]);
        let s = Server::start(&db);
        let t = login(&s, &owner, "carol");
        for tok in [st(&t, "access_token"), st(&t, "refresh_token")] {
            let (status, body) = s.revoke(Some(&thief), &[("token", tok)]);
            assert_eq!(status, 400);
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"], "unauthorized_client");
            let (status, _) = s.revoke(None, &[("token", tok), ("client_id", &public.id)]);
            assert_eq!(status, 400);
            assert!(active(&s, &rs, tok), "revoked nothing");
        }
        // a public client revokes its own token with its client_id alone
        let own = login(&s, &public, "carol");
        let at = st(&own, "access_token");
        let (status, body) = s.revoke(None, &[("token", at), ("client_id", &public.id)]);
        assert_eq!((status, body.as_str()), (200, ""));
        assert!(!active(&s, &rs, at));
    }
}

#[test]
fn unknown_and_garbage_tokens_answer_200() {
    for db in databases() {
        let c = password_client(&db, &[]);
        let s = Server::start(&db);
        for (token, hint) in [
            ("garbage", None),
            ("a.b.c", None),
            ("eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.", Some("access_token")),
            ("garbage", Some("refresh_token")),
            ("garbage", Some("no_such_hint")),
        ] {
            let mut form = vec![("token", token)];
            if let Some(h) = hint {
                form.push(("token_type_hint", h));
            }
            assert_eq!(revoke(&s, &c, &form), 200, "{token} {hint:?}");
        }
        // client_secret_post works too
        let (status, _) = s.revoke(
            None,
            &[
                ("token", "garbage"),
                ("client_id", &c.id),
                ("client_secret", c.secret.as_deref().unwrap()),
            ],
        );
        assert_eq!(status, 200);
    }
}

#[test]
fn revocation_errors_are_those_of_the_token_endpoint() {
    let db = TestDb::sqlite();
    let c = password_client(&db, &[]);
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
    // no token
    assert_eq!(
        err(s.post_form("/oauth/revoke", Some(&c), &[])),
        (400, "invalid_request".into(), false)
    );
    // no client authentication
    assert_eq!(
        err(s.post_form("/oauth/revoke", None, &[("token", "x")])),
        (401, "invalid_client".into(), false)
    );
    // wrong secret over Basic
    let wrong = TestClient {
        id: c.id.clone(),
        secret: Some("wrong".into()),
    };
    assert_eq!(
        err(s.post_form("/oauth/revoke", Some(&wrong), &[("token", "x")])),
        (401, "invalid_client".into(), true)
    );
    // a confidential client presenting its id alone
    assert_eq!(
        err(s.post_form(
            "/oauth/revoke",
            None,
            &[("token", "x"), ("client_id", &c.id)]
        )),
        (401, "invalid_client".into(), false)
    );
    // two authentication methods
    assert_eq!(
        err(s.post_form(
            "/oauth/revoke",
            Some(&c),
            &[("token", "x"), ("client_secret", "s")]
        )),
        (400, "invalid_request".into(), false)
    );
    // wrong content type
    let res = s
        .http
        .post(s.url("/oauth/revoke"))
        .basic_auth(&c.id, c.secret.as_deref())
        .json(&json!({"token": "x"}))
        .send()
        .unwrap();
    assert_eq!(err(res), (400, "invalid_request".into(), false));
    assert!(s.get("/oauth/revoke").status().is_client_error());
}

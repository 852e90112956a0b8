//! `POST /oauth/token`: client authentication, the client credentials,
//! password (with TOTP) and refresh grants, and every RFC 6749 §5.2 error,
//! against the real binary on SQLite and PostgreSQL.

use jsonwebtoken::{Algorithm, Validation};
use portcullis_e2e::{add_client, add_user, databases, Server, TestClient, TestDb};
use serde_json::Value;

/// Verify a JWT against the server's JWKS; its claims.
fn verify(s: &Server, token: &str, alg: Algorithm, typ: &str) -> Value {
    let (used, claims) = portcullis_e2e::verify_jwt(s, token, typ, |a| {
        let mut v = Validation::new(a);
        v.validate_aud = false;
        v
    });
    assert_eq!(used, alg);
    claims
}

#[test]
fn client_credentials_issues_opaque_and_rfc9068_jwt_tokens() {
    for db in databases() {
        let opaque = add_client(
            &db,
            &[
                "--grant-type",
                "client_credentials",
                "--scope",
                "api:read api:write",
                "--access-token-format",
                "opaque",
            ],
        );
        let clients: Vec<(TestClient, Algorithm)> = [
            ("RS256", Algorithm::RS256),
            ("ES256", Algorithm::ES256),
            ("EdDSA", Algorithm::EdDSA),
        ]
        .into_iter()
        .map(|(name, alg)| {
            (
                add_client(
                    &db,
                    &[
                        "--grant-type",
                        "client_credentials",
                        "--scope",
                        "api:read",
                        "--signing-alg",
                        name,
                    ],
                ),
                alg,
            )
        })
        .collect();
        let s = Server::start(&db);

        let res = s.post_form(
            "/oauth/token",
            Some(&opaque),
            &[("grant_type", "client_credentials")],
        );
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 300);
        // RFC 6749 §3.3: no scope asked, the registered scope applies.
        assert_eq!(body["scope"], "api:read api:write");
        assert!(
            body.get("refresh_token").is_none(),
            "RFC 6749 §4.4.3: no refresh token"
        );
        assert_eq!(
            body["access_token"].as_str().unwrap().matches('.').count(),
            0,
            "opaque"
        );

        for (client, alg) in &clients {
            let (status, body) = s.token(
                Some(client),
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", "https://api.example.com"),
                ],
            );
            assert_eq!(status, 200, "{body}");
            let claims = verify(&s, body["access_token"].as_str().unwrap(), *alg, "at+jwt");
            assert_eq!(claims["sub"], client.id.as_str());
            assert_eq!(claims["client_id"], client.id.as_str());
            assert_eq!(claims["aud"], "https://api.example.com");
            assert_eq!(claims["scope"], "api:read");
            assert_eq!(
                claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
                300
            );
            assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        }
        // Without resource, aud is the issuer.
        let (_, body) = s.token(Some(&clients[0].0), &[("grant_type", "client_credentials")]);
        assert_eq!(
            verify(
                &s,
                body["access_token"].as_str().unwrap(),
                Algorithm::RS256,
                "at+jwt"
            )["aud"],
            s.issuer.as_str()
        );
    }
}

#[test]
fn client_authentication_methods_and_failures() {
    let db = TestDb::sqlite();
    let c = add_client(&db, &["--grant-type", "client_credentials", "--scope", "a"]);
    let public = add_client(&db, &["--public", "--redirect-uri", "http://127.0.0.1/cb"]);
    let s = Server::start(&db);
    let secret = c.secret.clone().unwrap();

    // client_secret_post
    let (status, _) = s.token(
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &secret),
        ],
    );
    assert_eq!(status, 200);
    // wrong secret over Basic: 401 with WWW-Authenticate: Basic (RFC 6749 §5.2)
    let wrong = TestClient {
        id: c.id.clone(),
        secret: Some("wrong".into()),
    };
    let res = s.post_form(
        "/oauth/token",
        Some(&wrong),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_client");
    // wrong secret in the body: 401 too
    let (status, body) = s.token(
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", "nope"),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // unknown client, no credentials at all
    let (status, _) = s.token(
        Some(&TestClient {
            id: "nobody".into(),
            secret: Some("x".into()),
        }),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(status, 401);
    let (status, body) = s.token(None, &[("grant_type", "client_credentials")]);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // two methods at once: invalid_request (RFC 6749 §2.3)
    let (status, body) = s.token(
        Some(&c),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // a confidential client presenting only its id
    let (status, _) = s.token(
        None,
        &[("grant_type", "client_credentials"), ("client_id", &c.id)],
    );
    assert_eq!(status, 401);
    // a public client may not use client_credentials
    let (status, body) = s.token(
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // RFC 6749 §2.3.1: Basic id and secret are form-urlencoded; a malformed header is invalid_client
    let res = s
        .http
        .post(s.url("/oauth/token"))
        .header("Authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[test]
fn malformed_requests_get_rfc6749_errors() {
    let db = TestDb::sqlite();
    let c = add_client(
        &db,
        &["--grant-type", "client_credentials", "--scope", "a b"],
    );
    let s = Server::start(&db);
    let err = |form: &[(&str, &str)]| {
        let (status, body) = s.token(Some(&c), form);
        (status, body["error"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(err(&[]), (400, "invalid_request".into()));
    assert_eq!(
        err(&[("grant_type", "implicit")]),
        (400, "unsupported_grant_type".into())
    );
    assert_eq!(
        err(&[
            ("grant_type", "password"),
            ("username", "u"),
            ("password", "p")
        ]),
        (400, "unauthorized_client".into())
    );
    assert_eq!(
        err(&[("grant_type", "client_credentials"), ("scope", "a z")]),
        (400, "invalid_scope".into())
    );
    assert_eq!(
        err(&[
            ("grant_type", "client_credentials"),
            ("resource", "not a uri")
        ]),
        (400, "invalid_target".into())
    );
    // narrower scope is fine
    let (status, body) = s.token(
        Some(&c),
        &[("grant_type", "client_credentials"), ("scope", "b")],
    );
    assert_eq!((status, body["scope"].as_str()), (200, Some("b")));
    // duplicated parameter
    let res = s
        .http
        .post(s.url("/oauth/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=a&scope=b")
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
    // resource may repeat (RFC 8707)
    let (status, _) = s.token(
        Some(&c),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://a.example"),
            ("resource", "https://b.example"),
        ],
    );
    assert_eq!(status, 200);
    // wrong content type, JSON body, oversized body, garbage bytes: 400 invalid_request, never 5xx
    for (ct, body) in [
        (
            "application/json",
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
        ),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
        (
            "application/x-www-form-urlencoded",
            format!("grant_type=client_credentials&scope={}", "a".repeat(20_000)).into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, b'=', 0x00, b'&', b'%'],
        ),
    ] {
        let res = s
            .http
            .post(s.url("/oauth/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .header("Content-Type", ct)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(res.status(), 400, "{ct}");
        assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
    }
    // GET is not the token endpoint
    assert!(s.get("/oauth/token").status().is_client_error());
}

fn password_client(db: &TestDb, extra: &[&str]) -> TestClient {
    let mut args = vec![
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile email api",
    ];
    args.extend_from_slice(extra);
    add_client(db, &args)
}

#[test]
fn password_grant_with_totp_and_replay() {
    for db in databases() {
        let c = password_client(&db, &[]);
        let (user_id, secret) = add_user(
            &db,
            "alice",
            "correct horse",
            &["--totp", "--email", "alice@example.com"],
        );
        let secret = secret.unwrap();
        let s = Server::start(&db);
        let base = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "openid email"),
        ];

        // right password, no code: invalid_grant saying an OTP is required
        let (status, body) = s.token(Some(&c), &base);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(
            body["error_description"].as_str().unwrap().contains("OTP"),
            "{body}"
        );
        // wrong code
        let mut form = base.to_vec();
        form.push(("otp", "000000"));
        let (status, body) = s.token(Some(&c), &form);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // right code (the `totp` alias works too)
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let code = portcullis_core::totp::code_at(&secret, now).unwrap();
        let mut form = base.to_vec();
        form.push(("totp", &code));
        let (status, body) = s.token(Some(&c), &form);
        assert_eq!(status, 200, "{body}");
        assert!(body["refresh_token"].is_string());
        assert!(body["refresh_expires_in"].as_i64().unwrap() > 0);
        assert!(body["session_state"].is_string());
        let id = verify(
            &s,
            body["id_token"].as_str().unwrap(),
            Algorithm::RS256,
            "JWT",
        );
        assert_eq!(id["sub"], user_id.as_str());
        assert_eq!(id["aud"], c.id.as_str());
        assert_eq!(id["email"], "alice@example.com");
        assert!(id["amr"].as_array().unwrap().contains(&"otp".into()));
        assert!(id["at_hash"].is_string());
        // the same code again: refused (RFC 6238 §5.2)
        let (status, body) = s.token(Some(&c), &form);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "replayed TOTP"
        );
        // wrong password: the same error, no hint which part was wrong
        let (status, body) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "nope"),
            ],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "nobody"),
                ("password", "nope"),
            ],
        );
        assert_eq!(status, 400);
        // missing password
        let (status, body) = s.token(
            Some(&c),
            &[("grant_type", "password"), ("username", "alice")],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
    }
}

#[test]
fn failed_logins_are_throttled_with_429() {
    let db = TestDb::sqlite();
    let c = password_client(&db, &[]);
    add_user(&db, "bob", "right", &[]);
    let s = Server::start_with(
        &db,
        &[],
        &[
            ("PORTCULLIS_LOGIN__MAX_FAILURES", "3"),
            ("PORTCULLIS_LOGIN__BLOCK_SECS", "60"),
        ],
    );
    for _ in 0..3 {
        let (status, _) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", "wrong"),
            ],
        );
        assert_eq!(status, 400);
    }
    // blocked: even the right password is not checked
    let res = s.post_form(
        "/oauth/token",
        Some(&c),
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "right"),
        ],
    );
    assert_eq!(res.status(), 429);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 60);
    assert!(res.json::<Value>().unwrap()["error"].is_string());
    // other usernames are not affected
    add_user(&db, "carol", "pw", &[]);
    let (status, _) = s.token(
        Some(&c),
        &[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", "pw"),
        ],
    );
    assert_eq!(status, 200);
}

#[test]
fn refresh_rotates_and_a_retry_within_grace_gets_the_same_tokens() {
    for db in databases() {
        let c = password_client(&db, &["--access-token-format", "opaque"]);
        add_user(&db, "dave", "pw", &[]);
        let s = Server::start(&db);
        let (_, first) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "dave"),
                ("password", "pw"),
                ("scope", "api profile"),
            ],
        );
        let rt = first["refresh_token"].as_str().unwrap().to_string();
        let (status, second) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        );
        assert_eq!(status, 200, "{second}");
        let rt2 = second["refresh_token"].as_str().unwrap();
        assert_ne!(rt2, rt);
        // a lost response: the retry gets the very same pair
        let (status, retry) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        );
        assert_eq!(status, 200);
        assert_eq!(retry["refresh_token"], second["refresh_token"]);
        assert_eq!(retry["access_token"], second["access_token"]);
        // narrower scope for the access token; the refresh token keeps all
        let (status, narrow) = s.token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt2),
                ("scope", "api"),
            ],
        );
        assert_eq!((status, narrow["scope"].as_str()), (200, Some("api")));
        let rt3 = narrow["refresh_token"].as_str().unwrap();
        let (status, wide) = s.token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt3),
                ("scope", "api profile email"),
            ],
        );
        assert_eq!(
            (status, wide["error"].as_str()),
            (400, Some("invalid_scope"))
        );
        let (status, full) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", rt3)],
        );
        assert_eq!((status, full["scope"].as_str()), (200, Some("api profile")));
        // another client cannot use it
        let other = password_client(&db, &[]);
        drop(s);
        let s = Server::start(&db);
        let rt4 = full["refresh_token"].as_str().unwrap();
        let (status, body) = s.token(
            Some(&other),
            &[("grant_type", "refresh_token"), ("refresh_token", rt4)],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, body) = s.token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "garbage"),
            ],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
}

#[test]
fn fifty_concurrent_refreshes_yield_one_successor() {
    for db in databases() {
        let c = password_client(&db, &["--access-token-format", "opaque"]);
        add_user(&db, "erin", "pw", &[]);
        let s = Server::start(&db);
        let (_, first) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "erin"),
                ("password", "pw"),
                ("scope", "api"),
            ],
        );
        let rt = first["refresh_token"].as_str().unwrap().to_string();
        let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    scope.spawn(|| {
                        s.token(
                            Some(&c),
                            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<&Value> = answers
            .iter()
            .filter(|(st, _)| *st == 200)
            .map(|(_, b)| b)
            .collect();
        assert!(!ok.is_empty());
        for (status, body) in &answers {
            assert!(
                *status == 200 || body["error"] == "invalid_grant",
                "{status} {body}"
            );
        }
        let successors: std::collections::BTreeSet<&str> = ok
            .iter()
            .map(|b| b["refresh_token"].as_str().unwrap())
            .collect();
        let accesses: std::collections::BTreeSet<&str> = ok
            .iter()
            .map(|b| b["access_token"].as_str().unwrap())
            .collect();
        assert_eq!(successors.len(), 1, "one successor refresh token");
        assert_eq!(
            accesses.len(),
            1,
            "one access token: nothing else usable appeared"
        );
        // and the successor works once more
        let succ = successors.into_iter().next().unwrap();
        let (status, _) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", succ)],
        );
        assert_eq!(status, 200);
    }
}

#[test]
fn reuse_after_the_grace_window_revokes_the_session() {
    for db in databases() {
        let c = password_client(&db, &[]);
        add_user(&db, "frank", "pw", &[]);
        let s = Server::start_with(
            &db,
            &[],
            &[("PORTCULLIS_TOKENS__REFRESH_REUSE_GRACE_SECS", "0")],
        );
        let (_, first) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "frank"),
                ("password", "pw"),
                ("scope", "api"),
            ],
        );
        let rt = first["refresh_token"].as_str().unwrap().to_string();
        let (_, second) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        );
        let at2 = second["access_token"].as_str().unwrap();
        assert_eq!(s.me_status(at2), 200);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        // the old token again, past the window: refused, and the family is gone
        let (status, body) = s.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _) = s.token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", second["refresh_token"].as_str().unwrap()),
            ],
        );
        assert_eq!(status, 400, "successor revoked with its session");
        assert_eq!(
            s.me_status(at2),
            401,
            "access token of the session revoked at once"
        );
        assert_eq!(s.me_status(first["access_token"].as_str().unwrap()), 401);
    }
}

#[test]
fn session_limit_refuses_or_evicts_the_oldest() {
    let db = TestDb::sqlite();
    let c = password_client(&db, &[]);
    add_user(&db, "gina", "pw", &[]);
    let login = |s: &Server| {
        s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "gina"),
                ("password", "pw"),
                ("scope", "api"),
            ],
        )
    };
    {
        let s = Server::start_with(&db, &[], &[("PORTCULLIS_SESSIONS__MAX_PER_USER", "2")]);
        assert_eq!(login(&s).0, 200);
        assert_eq!(login(&s).0, 200);
        let (status, body) = login(&s);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("session limit"));
    }
    let s = Server::start_with(
        &db,
        &[],
        &[
            ("PORTCULLIS_SESSIONS__MAX_PER_USER", "2"),
            ("PORTCULLIS_SESSIONS__LIMIT_POLICY", "evict_oldest"),
        ],
    );
    // two sessions already exist from above; a third login ends the oldest
    let (status, third) = login(&s);
    assert_eq!(status, 200, "{third}");
    assert_eq!(s.me_status(third["access_token"].as_str().unwrap()), 200);
}

#[test]
fn logout_ends_the_session_and_revokes_its_tokens() {
    for db in databases() {
        let public = add_client(
            &db,
            &[
                "--public",
                "--grant-type",
                "password",
                "--grant-type",
                "refresh_token",
                "--scope",
                "api",
                "--redirect-uri",
                "http://127.0.0.1/cb",
            ],
        );
        add_user(&db, "hank", "pw", &[]);
        let s = Server::start(&db);
        // a public client uses the password grant with its client_id alone
        let (status, t) = s.token(
            None,
            &[
                ("grant_type", "password"),
                ("client_id", &public.id),
                ("username", "hank"),
                ("password", "pw"),
            ],
        );
        assert_eq!(status, 200, "{t}");
        let (at, rt) = (
            t["access_token"].as_str().unwrap(),
            t["refresh_token"].as_str().unwrap(),
        );
        assert_eq!(s.me_status(at), 200);
        let res = s.post_form(
            "/oauth/logout",
            None,
            &[("client_id", &public.id), ("refresh_token", rt)],
        );
        assert_eq!(res.status(), 204);
        assert_eq!(s.me_status(at), 401);
        let (status, _) = s.token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &public.id),
                ("refresh_token", rt),
            ],
        );
        assert_eq!(status, 400);
        // logout without a refresh token, or with an unknown one
        let res = s.post_form("/oauth/logout", None, &[("client_id", &public.id)]);
        assert_eq!(res.status(), 400);
        let res = s.post_form(
            "/oauth/logout",
            None,
            &[("client_id", &public.id), ("refresh_token", "nope")],
        );
        assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_grant");
    }
}

//! Abuse limits: failed client authentication blocks a `client_id`, wrong
//! one-time codes block a username apart from wrong passwords; blocked
//! attempts get 429 with `Retry-After` before any credential is checked, a
//! success clears the failures, and successful traffic is never limited.

use std::time::Duration;

use portcullis_e2e::{
    add_client, add_user, browser_like, databases, submit, Server, TestClient, TestDb,
};
use serde_json::{json, Value};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A six-digit code that is wrong now and in the steps around now.
fn wrong_code(secret: &str) -> String {
    let t = now();
    let near: Vec<String> = (-2..=2)
        .map(|i| portcullis_core::totp::code_at(secret, t + 30 * i).unwrap())
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", 123_457 + n))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// A 429 with `Retry-After` in `1..=max` and the throttle's JSON error.
fn assert_throttled(status: u16, retry_after: Option<i64>, body: &Value, max: i64) {
    assert_eq!(status, 429, "{body}");
    let secs = retry_after.expect("Retry-After");
    assert!((1..=max).contains(&secs), "Retry-After {secs}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many failed attempts"),
        "{body}"
    );
}

fn retry_after(res: &reqwest::blocking::Response) -> Option<i64> {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// POST a form with Basic credentials: (status, Retry-After, JSON body).
fn post(
    s: &Server,
    path: &str,
    c: &TestClient,
    form: &[(&str, &str)],
) -> (u16, Option<i64>, Value) {
    let res = s.post_form(path, Some(c), form);
    let status = res.status().as_u16();
    let retry = retry_after(&res);
    let text = res.text().unwrap();
    (
        status,
        retry,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

#[test]
fn failed_client_authentication_blocks_the_client_id_until_the_block_passes() {
    for db in databases() {
        let args = ["--grant-type", "client_credentials", "--scope", "api"];
        let svc = add_client(&db, &args);
        let other = add_client(&db, &args);
        let s = Server::start_with(
            &db,
            &[],
            &[
                ("PORTCULLIS_CLIENT_AUTH__MAX_FAILURES", "3"),
                ("PORTCULLIS_CLIENT_AUTH__FAILURE_WINDOW_SECS", "600"),
                ("PORTCULLIS_CLIENT_AUTH__BLOCK_SECS", "3"),
            ],
        );
        let wrong = TestClient {
            id: svc.id.clone(),
            secret: Some("not-the-secret".into()),
        };
        // Successes are never limited.
        for _ in 0..10 {
            assert_eq!(post(&s, "/oauth/token", &svc, CC).0, 200);
        }
        // Two failures, then a success clears them...
        for _ in 0..2 {
            let (status, _, body) = post(&s, "/oauth/token", &wrong, CC);
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("invalid_client"))
            );
        }
        assert_eq!(post(&s, "/oauth/token", &svc, CC).0, 200);
        // ...so two more (at other endpoints, which count too) do not block.
        let (status, _, _) = post(&s, "/oauth/introspect", &wrong, &[("token", "x")]);
        assert_eq!(status, 401);
        let (status, _, _) = post(&s, "/oauth/revoke", &wrong, &[("token", "x")]);
        assert_eq!(status, 401);
        let (status, _, body) = post(&s, "/oauth/token", &svc, CC);
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_string();

        // Three failures in the window block the client_id.
        for _ in 0..3 {
            assert_eq!(post(&s, "/oauth/token", &wrong, CC).0, 401);
        }
        // Then even the right secret is refused, at every endpoint, before
        // the secret is checked.
        let (status, retry, body) = post(&s, "/oauth/token", &svc, CC);
        assert_throttled(status, retry, &body, 3);
        let (status, retry, body) = post(&s, "/oauth/introspect", &svc, &[("token", &token)]);
        assert_throttled(status, retry, &body, 3);
        let (status, retry, body) = post(&s, "/oauth/revoke", &svc, &[("token", &token)]);
        assert_throttled(status, retry, &body, 3);
        let (status, retry, body) = post(&s, "/oauth/token", &wrong, CC);
        assert_throttled(status, retry, &body, 3);
        // Another client is not affected.
        assert_eq!(post(&s, "/oauth/token", &other, CC).0, 200);

        // Once the block has passed, the right secret works again.
        std::thread::sleep(Duration::from_secs(retry.unwrap() as u64 + 1));
        let (status, _, body) = post(&s, "/oauth/introspect", &svc, &[("token", &token)]);
        assert_eq!((status, body["active"].as_bool()), (200, Some(true)));
        // That success (in a read-only endpoint) cleared the failures too:
        // two more do not block.
        for _ in 0..2 {
            assert_eq!(post(&s, "/oauth/token", &wrong, CC).0, 401);
        }
        assert_eq!(post(&s, "/oauth/token", &svc, CC).0, 200);
    }
}

fn password_client(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--grant-type",
            "password",
            "--scope",
            "openid",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--grant-type",
            "authorization_code",
        ],
    )
}

fn login_api(s: &Server, body: Value) -> (u16, Option<i64>, Value) {
    let res = s.login_api(&body);
    let status = res.status().as_u16();
    let retry = retry_after(&res);
    (status, retry, res.json().unwrap())
}

#[test]
fn wrong_one_time_codes_block_a_user_apart_from_wrong_passwords() {
    for db in databases() {
        let c = password_client(&db);
        let (_, ann) = add_user(&db, "ann", "ann-password", &["--totp"]);
        let ann = ann.unwrap();
        let (_, bob) = add_user(&db, "bob", "bob-password", &["--totp"]);
        let bob = bob.unwrap();
        let s = Server::start_with(
            &db,
            &[],
            &[
                ("PORTCULLIS_LOGIN__MAX_FAILURES", "3"),
                ("PORTCULLIS_LOGIN__OTP_MAX_FAILURES", "3"),
                ("PORTCULLIS_LOGIN__OTP_FAILURE_WINDOW_SECS", "600"),
                ("PORTCULLIS_LOGIN__OTP_BLOCK_SECS", "3"),
            ],
        );
        let grant = |password: &str, otp: Option<&str>| {
            let mut form = vec![
                ("grant_type", "password"),
                ("username", "ann"),
                ("password", password),
            ];
            if let Some(otp) = otp {
                form.push(("otp", otp));
            }
            post(&s, "/oauth/token", &c, &form)
        };
        let bad = wrong_code(&ann);

        // Password grant: two wrong codes after the right password...
        for _ in 0..2 {
            let (status, _, body) = grant("ann-password", Some(&bad));
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        // ...a success resets them...
        let good = portcullis_core::totp::code_at(&ann, now()).unwrap();
        assert_eq!(grant("ann-password", Some(&good)).0, 200);
        // ...wrong passwords are counted apart (two do not block)...
        for _ in 0..2 {
            assert_eq!(grant("wrong", Some(&bad)).0, 400);
        }
        // ...and so are codes: two, then a third that blocks.
        for _ in 0..3 {
            assert_eq!(grant("ann-password", Some(&bad)).0, 400);
        }
        let (status, retry, body) = grant("ann-password", Some(&bad));
        assert_throttled(status, retry, &body, 3);
        // The login API refuses the user as well, before any check.
        let (status, retry, body) = login_api(
            &s,
            json!({"username": "ann", "password": "ann-password", "otp": bad}),
        );
        assert_throttled(status, retry, &body, 3);
        // Once the block has passed: checked again (no code: asked for one).
        std::thread::sleep(Duration::from_secs(retry.unwrap() as u64 + 1));
        let (status, _, body) = grant("ann-password", None);
        assert_eq!(status, 400);
        assert!(body["error_description"].as_str().unwrap().contains("OTP"));

        // The login API: wrong codes count for its user too.
        let bad_bob = wrong_code(&bob);
        for _ in 0..3 {
            let (status, _, _) = login_api(
                &s,
                json!({"username": "bob", "password": "bob-password", "otp": bad_bob}),
            );
            assert_eq!(status, 401);
        }
        let (status, retry, body) = login_api(
            &s,
            json!({"username": "bob", "password": "bob-password", "otp": bad_bob}),
        );
        assert_throttled(status, retry, &body, 3);
    }
}

#[test]
fn wrong_codes_on_the_sign_in_page_get_429_with_retry_after() {
    for db in databases() {
        let c = password_client(&db);
        let (_, secret) = add_user(&db, "cy", "cy-password", &["--totp"]);
        let bad = wrong_code(&secret.unwrap());
        let s = Server::start_with(
            &db,
            &[],
            &[
                ("PORTCULLIS_LOGIN__OTP_MAX_FAILURES", "2"),
                ("PORTCULLIS_LOGIN__OTP_BLOCK_SECS", "60"),
            ],
        );
        let http = browser_like();
        let url = s.url(&format!("/oauth/authorize?{}", authorize_query(&c)));
        let page = http.get(&url).send().unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().unwrap();
        let login = [("username", "cy"), ("password", "cy-password")];
        let res = submit(&http, &s.base, &html, "/oauth/authorize/login", &login);
        assert_eq!(res.status(), 200);
        let mut html = res.text().unwrap();
        assert!(html.contains("name=\"pending\""), "the code step: {html}");
        // Two wrong codes: the page again; the third attempt: blocked.
        let mut res = None;
        for expected in [200, 200, 429] {
            let r = submit(
                &http,
                &s.base,
                &html,
                "/oauth/authorize/otp",
                &[("otp", &bad)],
            );
            assert_eq!(r.status(), expected);
            if expected == 429 {
                res = Some(r);
            } else {
                html = r.text().unwrap();
            }
        }
        let res = res.unwrap();
        let secs = retry_after(&res).expect("Retry-After");
        assert!((1..=60).contains(&secs), "{secs}");
        // Signing in again with the right password is refused too.
        let page = http.get(&url).send().unwrap();
        let html = page.text().unwrap();
        let res = submit(&http, &s.base, &html, "/oauth/authorize/login", &login);
        assert_eq!(res.status(), 429);
        assert!(retry_after(&res).is_some());
    }
}

/// An authorization request of `c` with PKCE.
fn authorize_query(c: &TestClient) -> String {
    reqwest::Url::parse_with_params(
        "http://x/",
        &[
            ("response_type", "code"),
            ("client_id", c.id.as_str()),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("scope", "openid"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap()
    .query()
    .unwrap()
    .to_string()
}

#[test]
fn wrong_registration_access_tokens_block_management_of_that_client() {
    for db in databases() {
        let s = Server::start_with(
            &db,
            &[],
            &[
                ("PORTCULLIS_CLIENT_AUTH__MAX_FAILURES", "2"),
                ("PORTCULLIS_CLIENT_AUTH__BLOCK_SECS", "60"),
            ],
        );
        let reg: Value = s
            .http
            .post(s.url("/oauth/register"))
            .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"]}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = reg["client_id"].as_str().unwrap();
        let rat = reg["registration_access_token"].as_str().unwrap();
        let path = s.url(&format!("/oauth/register/{id}"));
        let get = |token: &str| s.http.get(&path).bearer_auth(token).send().unwrap();
        assert_eq!(get("wrong").status(), 401);
        // A success clears the failure...
        assert_eq!(get(rat).status(), 200);
        assert_eq!(get("wrong").status(), 401);
        assert_eq!(get(rat).status(), 200);
        // ...two in a row block the client_id, for every management call.
        assert_eq!(get("wrong").status(), 401);
        assert_eq!(get("wrong").status(), 401);
        let res = get(rat);
        let retry = retry_after(&res);
        let status = res.status().as_u16();
        assert_throttled(status, retry, &res.json().unwrap(), 60);
        let res = s.http.delete(&path).bearer_auth(rat).send().unwrap();
        assert_eq!(res.status(), 429);
        // Its client secret is refused as well: one throttle per client.
        let c = TestClient {
            id: id.to_string(),
            secret: reg["client_secret"].as_str().map(str::to_string),
        };
        let (status, _, _) = post(&s, "/oauth/revoke", &c, &[("token", "x")]);
        assert_eq!(status, 429);
    }
}

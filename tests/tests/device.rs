//! The device authorization grant (RFC 8628) over plain HTTP: the device
//! authorization endpoint, the verification pages scripted like a browser
//! without JavaScript, and the token endpoint's polling answers
//! (authorization_pending, slow_down, access_denied, expired_token), tokens
//! once; guessing user codes ends in 429.

use portcullis_e2e::{
    add_client, add_user, answer_device, browser_like, databases, device_sign_in_and_answer, field,
    submit, verify_jwt, Server, TestClient, TestDb,
};
use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn tv(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--public",
            "--grant-type",
            DEVICE_GRANT,
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile offline_access",
        ],
    )
}

/// POST /oauth/device_authorization as a public client.
fn start(s: &Server, c: &TestClient, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("client_id", c.id.as_str())];
    form.extend_from_slice(extra);
    let res = s.post_form("/oauth/device_authorization", None, &form);
    let status = res.status().as_u16();
    (status, res.json().expect("JSON"))
}

fn poll(s: &Server, c: &TestClient, device_code: &str) -> (u16, Value) {
    s.token(
        None,
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", c.id.as_str()),
        ],
    )
}

/// The verification pages up to the page after the typed code.
fn enter_code(
    s: &Server,
    http: &reqwest::blocking::Client,
    typed: &str,
) -> reqwest::blocking::Response {
    let page = http.get(s.url("/device")).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    submit(http, &s.base, &html, "/device", &[("user_code", typed)])
}

#[test]
fn device_grant_pending_slow_down_approval_and_tokens_once() {
    for db in databases() {
        let c = tv(&db);
        let (user_id, _) = add_user(&db, "alice", "pw", &[]);
        let s = Server::start(&db);
        for doc in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let meta = s.get_json(doc);
            assert_eq!(
                meta["device_authorization_endpoint"],
                format!("{}/oauth/device_authorization", s.issuer)
            );
            let grants = meta["grant_types_supported"].as_array().unwrap();
            assert!(grants.iter().any(|g| g == DEVICE_GRANT), "{doc}");
        }

        let (status, d) = start(&s, &c, &[("scope", "openid offline_access")]);
        assert_eq!(status, 200, "{d}");
        let user_code = d["user_code"].as_str().unwrap().to_string();
        assert_eq!(user_code.len(), 9);
        assert_eq!(&user_code[4..5], "-");
        assert!(user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
        assert_eq!(d["verification_uri"], format!("{}/device", s.issuer));
        assert_eq!(
            d["verification_uri_complete"],
            format!("{}/device?user_code={user_code}", s.issuer)
        );
        assert_eq!(d["expires_in"], 600);
        assert_eq!(d["interval"], 5);
        let device_code = d["device_code"].as_str().unwrap().to_string();

        // RFC 8628 §3.5: pending, then too fast.
        let (status, e) = poll(&s, &c, &device_code);
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("authorization_pending"))
        );
        let (status, e) = poll(&s, &c, &device_code);
        assert_eq!((status, e["error"].as_str()), (400, Some("slow_down")));

        // The person: the complete URI fills the code in.
        let http = browser_like();
        let page = http
            .get(d["verification_uri_complete"].as_str().unwrap())
            .send()
            .unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = page.text().unwrap();
        assert_eq!(
            field(&html, "user_code").as_deref(),
            Some(user_code.as_str())
        );
        // Typed back in lower case with a space instead of the dash.
        let typed = user_code.to_lowercase().replace('-', " ");
        let login = submit(&http, &s.base, &html, "/device", &[("user_code", &typed)]);
        assert_eq!(login.status(), 200);
        let html = login.text().unwrap();
        assert!(
            html.contains("to continue to <strong>test</strong>"),
            "{html}"
        );
        let done = device_sign_in_and_answer(&s, &http, &html, "alice", "pw", true);
        assert!(done.contains("Device connected"), "{done}");

        // Tokens, once.
        let (status, t) = poll(&s, &c, &device_code);
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["token_type"], "Bearer");
        assert!(t["refresh_token"].is_string(), "offline_access");
        let (_, claims) = verify_jwt(&s, t["id_token"].as_str().unwrap(), "JWT", |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.set_audience(&[c.id.as_str()]);
            v
        });
        assert_eq!(claims["sub"], user_id.as_str());
        assert_eq!(s.me_status(t["access_token"].as_str().unwrap()), 200);
        let (status, e) = poll(&s, &c, &device_code);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));

        // The refresh token works for this client.
        let (status, r) = s.token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
                ("client_id", c.id.as_str()),
            ],
        );
        assert_eq!(status, 200, "{r}");

        // A used code is unknown on the page; the browser's session is kept:
        // a second device goes straight to consent.
        let again = enter_code(&s, &http, &user_code);
        let html = again.text().unwrap();
        assert!(html.contains("not valid, or it has expired"), "{html}");
        let (_, d2) = start(&s, &c, &[]);
        let consent = enter_code(&s, &http, d2["user_code"].as_str().unwrap());
        let html = consent.text().unwrap();
        assert!(
            html.contains("name=\"consent\" value=\"approve\""),
            "{html}"
        );
        assert!(
            html.contains("Stay connected when you are away"),
            "full scope: {html}"
        );
    }
}

#[test]
fn device_authorization_request_errors() {
    let db = TestDb::sqlite();
    let c = tv(&db);
    let web = add_client(&db, &["--public", "--redirect-uri", "http://127.0.0.1/cb"]);
    let confidential = add_client(&db, &["--grant-type", DEVICE_GRANT, "--scope", "api"]);
    let s = Server::start(&db);
    let (status, e) = start(&s, &c, &[("scope", "openid admin")]);
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_scope")));
    let (status, e) = start(&s, &c, &[("resource", "https://api.example/#f")]);
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
    let (status, e) = start(&s, &web, &[]);
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let res = s.post_form(
        "/oauth/device_authorization",
        None,
        &[("client_id", "nope")],
    );
    assert_eq!(res.status(), 401);
    // A confidential client authenticates as at the token endpoint.
    let res = s.post_form(
        "/oauth/device_authorization",
        None,
        &[("client_id", &confidential.id)],
    );
    assert_eq!(res.status(), 401);
    let res = s.post_form("/oauth/device_authorization", Some(&confidential), &[]);
    assert_eq!(res.status(), 200);
    let d: Value = res.json().unwrap();
    // Its device code is refused to another client.
    let (status, e) = poll(&s, &c, d["device_code"].as_str().unwrap());
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let (status, e) = poll(&s, &c, "unknown");
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
}

#[test]
fn denied_and_expired_device_codes() {
    for db in databases() {
        let c = tv(&db);
        add_user(&db, "alice", "pw", &[]);
        let s = Server::start_with(&db, &[], &[("PORTCULLIS_DEVICE__EXPIRES_IN_SECS", "2")]);

        let (_, d) = start(&s, &c, &[]);
        assert_eq!(d["expires_in"], 2);
        let http = browser_like();
        let user_code = d["user_code"].as_str().unwrap();
        let done = answer_device(&s, &http, user_code, "alice", "pw", false);
        assert!(done.contains("Access denied"), "{done}");
        let (status, e) = poll(&s, &c, d["device_code"].as_str().unwrap());
        assert_eq!((status, e["error"].as_str()), (400, Some("access_denied")));

        let (_, d) = start(&s, &c, &[]);
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let (status, e) = poll(&s, &c, d["device_code"].as_str().unwrap());
        assert_eq!((status, e["error"].as_str()), (400, Some("expired_token")));
        let html = enter_code(&s, &http, d["user_code"].as_str().unwrap())
            .text()
            .unwrap();
        assert!(html.contains("not valid, or it has expired"), "{html}");
    }
}

#[test]
fn guessing_user_codes_ends_in_429() {
    for db in databases() {
        let c = tv(&db);
        let s = Server::start_with(&db, &[], &[("PORTCULLIS_LOGIN__MAX_FAILURES", "3")]);
        let (_, d) = start(&s, &c, &[]);
        let http = browser_like();
        for guess in ["BBBB-BBBB", "CCCC-CCCC", "not a code"] {
            let res = enter_code(&s, &http, guess);
            assert_eq!(res.status(), 200, "{guess}");
            assert!(res.text().unwrap().contains("not valid"));
        }
        // Blocked, even for the right code, with Retry-After; also through
        // the later steps' forms.
        let res = enter_code(&s, &http, d["user_code"].as_str().unwrap());
        assert_eq!(res.status(), 429);
        let secs: i64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs > 0 && secs <= 300, "{secs}");
        assert!(res.text().unwrap().contains("Too many wrong codes"));
        let page = http.get(s.url("/device")).send().unwrap().text().unwrap();
        let res = submit(
            &http,
            &s.base,
            &page,
            "/device/login",
            &[
                ("user_code", d["user_code"].as_str().unwrap()),
                ("username", "alice"),
                ("password", "pw"),
            ],
        );
        assert_eq!(res.status(), 429);
        // A form without its CSRF token is refused before any lookup.
        let res = http
            .post(s.url("/device"))
            .form(&[("user_code", "BBBB-BBBB")])
            .send()
            .unwrap();
        assert_eq!(res.status(), 400);
    }
}

#[test]
fn a_user_with_totp_approves_with_the_second_factor() {
    let db = TestDb::sqlite();
    let c = tv(&db);
    let (_, secret) = add_user(&db, "alice", "pw", &["--totp"]);
    let s = Server::start(&db);
    let (_, d) = start(&s, &c, &[("scope", "openid")]);
    let http = browser_like();
    let login = enter_code(&s, &http, d["user_code"].as_str().unwrap());
    let otp = submit(
        &http,
        &s.base,
        &login.text().unwrap(),
        "/device/login",
        &[("username", "alice"), ("password", "pw")],
    );
    let html = otp.text().unwrap();
    assert!(html.contains("name=\"otp\""), "the TOTP step: {html}");
    // A wrong code shows the step again; a forged proof of the password step is refused.
    let again = submit(&http, &s.base, &html, "/device/otp", &[("otp", "000000")]);
    let html = again.text().unwrap();
    assert!(html.contains("That code is not right"), "{html}");
    let mut forged = portcullis_e2e::hidden_fields(&html);
    forged.retain(|(k, _)| k != "pending");
    forged.push(("pending".into(), "bm9ib2R5fDk5OTk5OTk5OTk.x".into()));
    forged.push(("otp".into(), "000000".into()));
    let res = http
        .post(s.url("/device/otp"))
        .form(&forged)
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let code = portcullis_core::totp::code_at(secret.as_deref().unwrap(), now).unwrap();
    let consent = submit(&http, &s.base, &html, "/device/otp", &[("otp", &code)]);
    let html = consent.text().unwrap();
    let done = submit(
        &http,
        &s.base,
        &html,
        "/device/consent",
        &[("consent", "approve")],
    );
    assert!(done.text().unwrap().contains("Device connected"));
    let (status, t) = poll(&s, &c, d["device_code"].as_str().unwrap());
    assert_eq!(status, 200, "{t}");
    let payload = t["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

//! The authorization code flow over plain HTTP (the pages need no
//! JavaScript): authorize, sign-in form, consent, code exchange with PKCE,
//! userinfo, remembered consent, and every refusal the issue lists.

use base64::Engine;
use portcullis_e2e::{
    add_client, add_user, browser_like, databases, field, location_params, param, submit, Server,
    TestClient, TestDb,
};
use serde_json::Value;
use sha2::Digest;

const VERIFIER: &str = "correct-horse-battery-staple-0123456789-abcdefghij";

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

fn app(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--post-logout-redirect-uri",
            "http://127.0.0.1/bye",
            "--grant-type",
            "authorization_code",
            "--scope",
            "openid profile email offline_access",
        ],
    )
}

fn authorize_url(s: &Server, c: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), c.id.clone()),
        ("redirect_uri".into(), "http://127.0.0.1:43210/cb".into()),
        ("scope".into(), "openid email profile offline_access".into()),
        ("state".into(), "st-1".into()),
        ("nonce".into(), "n-1".into()),
        ("code_challenge".into(), challenge(VERIFIER)),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k.to_string(), v.to_string()));
        }
    }
    let q: String = reqwest::Url::parse_with_params("http://x/", &pairs)
        .unwrap()
        .query()
        .unwrap()
        .to_string();
    s.url(&format!("/oauth/authorize?{q}"))
}

fn exchange(s: &Server, c: &TestClient, code: &str, verifier: &str) -> (u16, Value) {
    s.token(
        Some(c),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:43210/cb"),
            ("code_verifier", verifier),
        ],
    )
}

/// Sign in and approve; the redirect's parameters.
fn sign_in_and_approve(
    s: &Server,
    http: &reqwest::blocking::Client,
    c: &TestClient,
) -> Vec<(String, String)> {
    let page = http.get(authorize_url(s, c, &[])).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    let consent = submit(
        http,
        &s.base,
        &html,
        "/oauth/authorize/login",
        &[("username", "alice"), ("password", "pw")],
    );
    let html = consent.text().unwrap();
    assert!(
        html.contains("name=\"consent\" value=\"approve\""),
        "consent page expected: {html}"
    );
    let done = submit(
        http,
        &s.base,
        &html,
        "/oauth/authorize/consent",
        &[("consent", "approve")],
    );
    assert_eq!(done.status(), 303);
    location_params(&done)
}

#[test]
fn code_flow_with_pkce_id_token_userinfo_and_remembered_consent() {
    for db in databases() {
        let c = app(&db);
        let (user_id, _) = add_user(&db, "alice", "pw", &["--email", "alice@example.com"]);
        let s = Server::start(&db);
        let http = browser_like();

        // The login page: a real form with CSRF, and the security headers.
        let res = http.get(authorize_url(&s, &c, &[])).send().unwrap();
        assert_eq!(res.status(), 200);
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        let html = res.text().unwrap();
        assert!(html.contains("<input type=\"text\" id=\"username\" name=\"username\""));
        assert!(html.contains("type=\"password\" id=\"password\" name=\"password\""));
        assert!(field(&html, "csrf").is_some());

        let consent = submit(
            &http,
            &s.base,
            &html,
            "/oauth/authorize/login",
            &[("username", "alice"), ("password", "pw")],
        );
        assert_eq!(consent.status(), 200);
        let cookie = consent
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("portcullis_session="));
        let cookie = cookie.expect("session cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let html = consent.text().unwrap();
        assert!(
            html.contains("127.0.0.1"),
            "consent shows the redirect host"
        );
        assert!(
            html.contains("See your e-mail address"),
            "scopes in plain words"
        );
        let done = submit(
            &http,
            &s.base,
            &html,
            "/oauth/authorize/consent",
            &[("consent", "approve")],
        );
        assert_eq!(done.status(), 303);
        let loc = done.headers()["location"].to_str().unwrap().to_string();
        assert!(
            loc.starts_with("http://127.0.0.1:43210/cb?"),
            "any loopback port (RFC 8252 §7.3): {loc}"
        );
        let p = location_params(&done);
        assert_eq!(param(&p, "state"), Some("st-1"));
        assert_eq!(param(&p, "iss"), Some(s.issuer.as_str()), "RFC 9207");
        let code = param(&p, "code").unwrap().to_string();

        let (status, tokens) = exchange(&s, &c, &code, VERIFIER);
        assert_eq!(status, 200, "{tokens}");
        assert!(
            tokens["refresh_token"].is_string(),
            "offline_access granted"
        );
        let id_token = tokens["id_token"].as_str().unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id_token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["sub"], user_id.as_str());
        assert_eq!(claims["aud"], c.id.as_str());
        for k in ["at_hash", "sid", "auth_time", "amr", "iat", "exp"] {
            assert!(!claims[k].is_null(), "{k} in the ID token");
        }
        // userinfo by scope
        let at = tokens["access_token"].as_str().unwrap().to_string();
        let info: Value = s
            .http
            .get(s.url("/oauth/userinfo"))
            .bearer_auth(&at)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(info["sub"], user_id.as_str());
        assert_eq!(info["email"], "alice@example.com");
        assert_eq!(info["preferred_username"], "alice");

        // replay: refused, and what the first exchange issued is revoked
        let (status, body) = exchange(&s, &c, &code, VERIFIER);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let res = s
            .http
            .get(s.url("/oauth/userinfo"))
            .bearer_auth(&at)
            .send()
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));

        // remembered consent: the same scopes skip the page
        let again = http
            .get(authorize_url(&s, &c, &[("scope", "openid email")]))
            .send()
            .unwrap();
        assert_eq!(
            again.status(),
            303,
            "signed in and consented: straight back with a code"
        );
        let p = location_params(&again);
        assert!(param(&p, "code").is_some());
        // a wrong verifier for that code
        let (status, body) = exchange(
            &s,
            &c,
            param(&p, "code").unwrap(),
            &VERIFIER.replace('c', "d"),
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
}

#[test]
fn refusals_never_redirect_to_unverified_uris() {
    let db = TestDb::sqlite();
    let c = app(&db);
    let s = Server::start(&db);
    let http = browser_like();
    for extra in [
        &[("client_id", "nobody")][..],
        &[("redirect_uri", "https://evil.example/cb")],
        &[("redirect_uri", "http://127.0.0.1:43210/other")],
        &[("client_id", "")],
    ] {
        let res = http.get(authorize_url(&s, &c, extra)).send().unwrap();
        assert_eq!(res.status(), 400, "{extra:?}");
        assert!(res.headers().get("location").is_none());
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}

#[test]
fn redirectable_errors_carry_state_and_iss() {
    let db = TestDb::sqlite();
    let c = app(&db);
    let s = Server::start(&db);
    let http = browser_like();
    for (extra, error) in [
        (&[("code_challenge", "")][..], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "")], "invalid_request"),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_mode", "fragment")], "invalid_request"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("prompt", "none")], "login_required"),
        (
            &[("resource", "https://api.example/#frag")],
            "invalid_target",
        ),
    ] {
        let res = http.get(authorize_url(&s, &c, extra)).send().unwrap();
        assert_eq!(res.status(), 303, "{extra:?}");
        let p = location_params(&res);
        assert_eq!(param(&p, "error"), Some(error), "{extra:?}");
        assert_eq!(param(&p, "state"), Some("st-1"));
        assert_eq!(param(&p, "iss"), Some(s.issuer.as_str()));
    }
}

#[test]
fn wrong_password_missing_csrf_and_deny() {
    let db = TestDb::sqlite();
    let c = app(&db);
    add_user(&db, "alice", "pw", &[]);
    let s = Server::start(&db);
    let http = browser_like();
    let html = http
        .get(authorize_url(&s, &c, &[]))
        .send()
        .unwrap()
        .text()
        .unwrap();
    // wrong password: the form again, with a message, and no code
    let res = submit(
        &http,
        &s.base,
        &html,
        "/oauth/authorize/login",
        &[("username", "alice"), ("password", "nope")],
    );
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("location").is_none());
    let again = res.text().unwrap();
    assert!(again.contains("Wrong username or password"));
    assert!(again.contains("name=\"password\""));
    // no CSRF token: refused
    let mut form = portcullis_e2e::hidden_fields(&html);
    form.retain(|(k, _)| k != "csrf");
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), "pw".into()));
    let res = http
        .post(s.url("/oauth/authorize/login"))
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    // a CSRF token from another browser: refused
    let other = browser_like();
    let res = submit(
        &other,
        &s.base,
        &html,
        "/oauth/authorize/login",
        &[("username", "alice"), ("password", "pw")],
    );
    assert_eq!(res.status(), 400);
    // deny at the consent page
    let consent = submit(
        &http,
        &s.base,
        &html,
        "/oauth/authorize/login",
        &[("username", "alice"), ("password", "pw")],
    )
    .text()
    .unwrap();
    let res = submit(
        &http,
        &s.base,
        &consent,
        "/oauth/authorize/consent",
        &[("consent", "deny")],
    );
    assert_eq!(res.status(), 303);
    assert_eq!(
        param(&location_params(&res), "error"),
        Some("access_denied")
    );
}

#[test]
fn prompt_login_max_age_and_prompt_none_with_a_session() {
    let db = TestDb::sqlite();
    let c = app(&db);
    add_user(&db, "alice", "pw", &[]);
    let s = Server::start(&db);
    let http = browser_like();
    let p = sign_in_and_approve(&s, &http, &c);
    assert!(param(&p, "code").is_some());
    // prompt=none with a session and consent: a code, silently
    let res = http
        .get(authorize_url(&s, &c, &[("prompt", "none")]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(param(&location_params(&res), "code").is_some());
    // prompt=login: the form again
    let res = http
        .get(authorize_url(&s, &c, &[("prompt", "login")]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().unwrap().contains("name=\"password\""));
    // prompt=consent: the consent page even though consent is remembered
    let res = http
        .get(authorize_url(&s, &c, &[("prompt", "consent")]))
        .send()
        .unwrap();
    assert!(res.text().unwrap().contains("value=\"approve\""));
    // max_age=0 after a second: sign in again
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let res = http
        .get(authorize_url(&s, &c, &[("max_age", "0")]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn rp_initiated_logout() {
    for db in databases() {
        let c = app(&db);
        add_user(&db, "alice", "pw", &[]);
        let s = Server::start(&db);
        let http = browser_like();
        let p = sign_in_and_approve(&s, &http, &c);
        let (_, tokens) = exchange(&s, &c, param(&p, "code").unwrap(), VERIFIER);
        let id_token = tokens["id_token"].as_str().unwrap().to_string();
        let at = tokens["access_token"].as_str().unwrap().to_string();

        // an unregistered post_logout_redirect_uri: an error page, no redirect
        let res = http
            .get(s.url("/oauth/end-session"))
            .query(&[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ])
            .send()
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.headers().get("location").is_none());

        // without a hint: a confirmation page with CSRF
        let res = http.get(s.url("/oauth/end-session")).send().unwrap();
        assert_eq!(res.status(), 200);
        let html = res.text().unwrap();
        assert!(html.contains("Sign out"));
        let res = http
            .post(s.url("/oauth/end-session/confirm"))
            .form(&[("confirm", "yes")])
            .send()
            .unwrap();
        assert_eq!(res.status(), 400, "no CSRF token");
        assert_eq!(
            s.http
                .get(s.url("/oauth/userinfo"))
                .bearer_auth(&at)
                .send()
                .unwrap()
                .status(),
            200,
            "still signed in"
        );

        // with the ID token of the signed-in user: straight out, back to the registered URI
        let res = http
            .get(s.url("/oauth/end-session"))
            .query(&[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "http://127.0.0.1/bye"),
                ("state", "bye-1"),
            ])
            .send()
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "http://127.0.0.1/bye?state=bye-1"
        );
        assert_eq!(
            s.http
                .get(s.url("/oauth/userinfo"))
                .bearer_auth(&at)
                .send()
                .unwrap()
                .status(),
            401,
            "tokens revoked"
        );
        let (status, _) = s.token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        );
        assert_eq!(status, 400);
        // the browser is signed out: authorize shows the login form again
        let res = http.get(authorize_url(&s, &c, &[])).send().unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().unwrap().contains("name=\"password\""));
    }
}

#[test]
fn templates_can_be_branded_and_cookies_are_secure_under_https() {
    let db = TestDb::sqlite();
    let c = app(&db);
    let dir = std::env::temp_dir().join(format!("portcullis-tpl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("login.html"),
        "{% extends \"layout.html\" %}{% block content %}<h1>Welcome to ACME</h1><form method=\"post\" action=\"{{ action }}\"><input type=\"hidden\" name=\"csrf\" value=\"{{ csrf }}\"></form>{% endblock %}",
    )
    .unwrap();
    let s = Server::start_with(
        &db,
        &["--issuer", "https://auth.example.com"],
        &[("PORTCULLIS_PAGES__TEMPLATES_DIR", dir.to_str().unwrap())],
    );
    let res = browser_like()
        .get(authorize_url(&s, &c, &[]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("portcullis_csrf=")
            && cookie.contains("Secure")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let html = res.text().unwrap();
    assert!(html.contains("Welcome to ACME"), "the operator's template");
    assert!(html.contains("<style>"), "other templates stay built in");
    let _ = std::fs::remove_dir_all(dir);
}

/// The `action` of a page's first form, unescaped.
fn form_action(html: &str) -> String {
    let start = html.find("action=\"").expect("a form action") + "action=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The answer of a `response_mode=form_post` request: a page whose form
/// posts to the redirect URI, with the script allowed by a nonce; its
/// hidden fields.
fn posted_back(res: reqwest::blocking::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), 200, "form_post answers with a page");
    assert!(res.headers().get("location").is_none());
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("form-action http://127.0.0.1:43210"), "{csp}");
    let html = res.text().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("script-src with a nonce");
    assert!(
        html.contains(&format!(
            "<script nonce=\"{nonce}\">document.forms[0].submit();</script>"
        )),
        "{html}"
    );
    assert!(html.contains("<noscript>"), "a button without scripts");
    assert!(html.contains("method=\"post\""));
    assert_eq!(form_action(&html), "http://127.0.0.1:43210/cb");
    portcullis_e2e::hidden_fields(&html)
}

fn answer_consent(
    s: &Server,
    http: &reqwest::blocking::Client,
    html: &str,
    answer: &str,
) -> reqwest::blocking::Response {
    submit(
        http,
        &s.base,
        html,
        "/oauth/authorize/consent",
        &[("consent", answer)],
    )
}

#[test]
fn form_post_response_mode_posts_code_state_and_iss() {
    for db in databases() {
        let c = app(&db);
        add_user(&db, "alice", "pw", &[]);
        let s = Server::start(&db);
        let meta = s.get_json("/.well-known/openid-configuration");
        assert_eq!(
            meta["response_modes_supported"],
            serde_json::json!(["query", "form_post"])
        );
        let oauth_meta = s.get_json("/.well-known/oauth-authorization-server");
        assert_eq!(
            oauth_meta["response_modes_supported"],
            meta["response_modes_supported"]
        );
        let http = browser_like();
        let form_post = [("response_mode", "form_post")];

        // Success: code, state and iss as hidden fields; the code exchanges.
        let url = authorize_url(&s, &c, &form_post);
        let consent = portcullis_e2e::sign_in(&s, &http, &url, "alice", "pw");
        let done = answer_consent(&s, &http, &consent, "approve");
        let fields = posted_back(done);
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["code", "state", "iss"]);
        assert_eq!(param(&fields, "state"), Some("st-1"));
        assert_eq!(param(&fields, "iss"), Some(s.issuer.as_str()), "RFC 9207");
        let code = param(&fields, "code").unwrap().to_string();
        let (status, body) = exchange(&s, &c, &code, VERIFIER);
        assert_eq!(status, 200, "{body}");
        assert!(body["id_token"].is_string());

        // Remembered consent: the next request answers at once, posted too.
        let again = http.get(authorize_url(&s, &c, &form_post)).send().unwrap();
        let fields = posted_back(again);
        assert!(param(&fields, "code").is_some());

        // Errors are posted as well: a refused request and a denial.
        let bad = http
            .get(authorize_url(
                &s,
                &c,
                &[("response_mode", "form_post"), ("scope", "openid admin")],
            ))
            .send()
            .unwrap();
        let fields = posted_back(bad);
        assert_eq!(param(&fields, "error"), Some("invalid_scope"));
        assert_eq!(param(&fields, "state"), Some("st-1"));
        assert_eq!(param(&fields, "iss"), Some(s.issuer.as_str()));

        let fresh = browser_like();
        let none = fresh
            .get(authorize_url(
                &s,
                &c,
                &[("response_mode", "form_post"), ("prompt", "none")],
            ))
            .send()
            .unwrap();
        assert_eq!(param(&posted_back(none), "error"), Some("login_required"));

        let url = authorize_url(
            &s,
            &c,
            &[("response_mode", "form_post"), ("prompt", "consent")],
        );
        let consent = portcullis_e2e::sign_in(&s, &fresh, &url, "alice", "pw");
        let denied = answer_consent(&s, &fresh, &consent, "deny");
        let fields = posted_back(denied);
        assert_eq!(param(&fields, "error"), Some("access_denied"));
        assert_eq!(param(&fields, "state"), Some("st-1"));
        assert!(param(&fields, "code").is_none());
    }
}

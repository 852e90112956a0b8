//! Pushed authorization requests (RFC 9126) over plain HTTP: push, then
//! `/oauth/authorize` with `client_id` and `request_uri` through sign-in
//! and consent to a code and tokens; one-time use, expiry, another
//! client's `request_uri`, client authentication, the authorization
//! endpoint's rules applied at push time, and a client that requires PAR.

use base64::Engine;
use portcullis_e2e::{
    add_client, add_user, browser_like, databases, location_params, param, sign_in_and_approve,
    Server, TestClient, TestDb,
};
use serde_json::Value;
use sha2::Digest;

const VERIFIER: &str = "correct-horse-battery-staple-0123456789-abcdefghij";
const CB: &str = "http://127.0.0.1:43210/cb";

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

fn app(db: &TestDb, extra: &[&str]) -> TestClient {
    let mut args = vec![
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--grant-type",
        "authorization_code",
        "--scope",
        "openid profile email",
    ];
    args.extend_from_slice(extra);
    add_client(db, &args)
}

/// The authorization request's parameters, with `extra` replacing (or,
/// empty, removing) the defaults.
fn request(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("redirect_uri".into(), CB.into()),
        ("scope".into(), "openid email".into()),
        ("state".into(), "st-par".into()),
        ("nonce".into(), "n-par".into()),
        ("code_challenge".into(), challenge(VERIFIER)),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k.to_string(), v.to_string()));
        }
    }
    pairs
}

/// POST /oauth/par with Basic authentication; (status, JSON body).
fn push(s: &Server, c: &TestClient, extra: &[(&str, &str)]) -> (u16, Value) {
    let res = s
        .http
        .post(s.url("/oauth/par"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&request(extra))
        .send()
        .unwrap();
    let status = res.status().as_u16();
    if status == 201 {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (status, res.json().expect("JSON body"))
}

fn pushed_uri(s: &Server, c: &TestClient) -> String {
    let (status, body) = push(s, c, &[]);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    uri
}

fn by_reference(s: &Server, client_id: &str, uri: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("client_id", client_id), ("request_uri", uri)];
    pairs.extend_from_slice(extra);
    let u = reqwest::Url::parse_with_params(&s.url("/oauth/authorize"), &pairs).unwrap();
    u.to_string()
}

/// An error page, not a redirect (RFC 9126 §4).
fn assert_refused_page(res: reqwest::blocking::Response) {
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    let html = res.text().unwrap();
    assert!(html.contains("invalid_request"), "{html}");
}

#[test]
fn pushed_request_through_sign_in_and_consent_to_tokens_once() {
    for db in databases() {
        let c = app(&db, &[]);
        add_user(&db, "alice", "pw", &["--email", "alice@example.com"]);
        let s = Server::start(&db);
        let meta = s.get_json("/.well-known/oauth-authorization-server");
        assert_eq!(
            meta["pushed_authorization_request_endpoint"],
            format!("{}/oauth/par", s.issuer)
        );
        assert_eq!(meta["require_pushed_authorization_requests"], false);

        let uri = pushed_uri(&s, &c);
        // RFC 9126 §4: query parameters other than client_id are ignored.
        let http = browser_like();
        let page = http
            .get(by_reference(
                &s,
                &c.id,
                &uri,
                &[("state", "forged"), ("scope", "openid profile")],
            ))
            .send()
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().unwrap();
        let done = sign_in_and_approve(&http, &s.base, &html, "alice", "pw");
        assert_eq!(done.status(), 303);
        let loc = done.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with(CB), "{loc}");
        let params = location_params(&done);
        assert_eq!(param(&params, "state"), Some("st-par"));
        assert_eq!(param(&params, "iss"), Some(s.issuer.as_str()));
        let code = param(&params, "code").expect("code").to_string();
        let (status, tokens) = s.token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        );
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "email openid", "the pushed scope");
        assert!(tokens["id_token"].is_string());

        // One-time use: the same request_uri again is an error page.
        assert_refused_page(http.get(by_reference(&s, &c.id, &uri, &[])).send().unwrap());
        // Unknown request_uri.
        let unknown = format!("{uri}x");
        assert_refused_page(
            http.get(by_reference(&s, &c.id, &unknown, &[]))
                .send()
                .unwrap(),
        );
    }
}

#[test]
fn another_clients_or_an_expired_request_uri_is_refused() {
    for db in databases() {
        let c = app(&db, &[]);
        let other = app(&db, &[]);
        let s = Server::start_with(
            &db,
            &[],
            &[("PORTCULLIS_PAR__REQUEST_URI_LIFETIME_SECS", "1")],
        );
        let (status, body) = push(&s, &c, &[]);
        assert_eq!(status, 201);
        assert_eq!(body["expires_in"], 1);
        let uri = body["request_uri"].as_str().unwrap();
        // Presented by another client: refused (and not used up).
        assert_refused_page(
            s.http
                .get(by_reference(&s, &other.id, uri, &[]))
                .send()
                .unwrap(),
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
        assert_refused_page(
            s.http
                .get(by_reference(&s, &c.id, uri, &[]))
                .send()
                .unwrap(),
        );

        // Within its lifetime it opens the sign-in page.
        let (_, body) = push(&s, &c, &[]);
        let uri = body["request_uri"].as_str().unwrap();
        let page = s
            .http
            .get(by_reference(&s, &c.id, uri, &[]))
            .send()
            .unwrap();
        assert_eq!(page.status(), 200);
    }
}

#[test]
fn push_authenticates_the_client_and_checks_the_request() {
    for db in databases() {
        let c = app(&db, &[]);
        let public = app(&db, &["--public"]);
        let s = Server::start(&db);

        // RFC 9126 §2.3: invalid_client is 401.
        let wrong = TestClient {
            id: c.id.clone(),
            secret: Some("wrong".into()),
        };
        let (status, body) = push(&s, &wrong, &[]);
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");

        // The authorization endpoint's rules (RFC 9126 §2.1), as JSON 400s.
        let bad: &[(&[(&str, &str)], &str)] = &[
            (
                &[("redirect_uri", "http://evil.example/cb")],
                "invalid_request",
            ),
            (&[("code_challenge", "")], "invalid_request"),
            (&[("code_challenge_method", "plain")], "invalid_request"),
            (
                &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
                "invalid_request",
            ),
            (&[("scope", "openid admin")], "invalid_scope"),
            (&[("response_type", "token")], "unsupported_response_type"),
        ];
        for (extra, error) in bad {
            let (status, body) = push(&s, &c, extra);
            assert_eq!(status, 400, "{extra:?}: {body}");
            assert_eq!(body["error"], *error, "{extra:?}");
        }

        // A public client sends its client_id alone.
        let mut form = request(&[]);
        form.push(("client_id".into(), public.id.clone()));
        let res = s.http.post(s.url("/oauth/par")).form(&form).send().unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().unwrap();
        assert!(body["request_uri"].is_string());
    }
}

#[test]
fn a_client_that_requires_par_is_refused_a_direct_request() {
    for db in databases() {
        let c = app(&db, &["--require-par"]);
        add_user(&db, "bob", "pw", &[]);
        let s = Server::start(&db);
        // RFC 9126 §6: a direct request goes back with invalid_request.
        let mut direct = request(&[]);
        direct.push(("client_id".into(), c.id.clone()));
        let url = reqwest::Url::parse_with_params(&s.url("/oauth/authorize"), &direct).unwrap();
        let res = s.http.get(url).send().unwrap();
        assert_eq!(res.status(), 303);
        let params = location_params(&res);
        assert_eq!(param(&params, "error"), Some("invalid_request"));
        assert_eq!(param(&params, "state"), Some("st-par"));
        assert_eq!(param(&params, "iss"), Some(s.issuer.as_str()));

        // Pushed, it goes through.
        let uri = pushed_uri(&s, &c);
        let http = browser_like();
        let page = http.get(by_reference(&s, &c.id, &uri, &[])).send().unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().unwrap();
        let done = sign_in_and_approve(&http, &s.base, &html, "bob", "pw");
        assert_eq!(done.status(), 303);
        assert!(param(&location_params(&done), "code").is_some());
    }
}

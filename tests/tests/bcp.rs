//! Points of the OAuth 2.0 Security BCP (RFC 9700) that no other test file
//! shows on its own; docs/security.md maps every point to its test.

use portcullis_e2e::{add_client, add_user, Server, TestDb};

/// RFC 9700 §4.3.2 / RFC 6750 §2.3: access tokens in a URI leak into logs and
/// referrers, so our resource endpoints take them from the Authorization
/// header (or a form body) only, never from the query string.
#[test]
fn access_tokens_in_the_query_string_are_not_accepted() {
    let db = TestDb::sqlite();
    let c = add_client(
        &db,
        &["--grant-type", "password", "--scope", "openid profile"],
    );
    add_user(&db, "alice", "pw", &[]);
    let s = Server::start(&db);
    let (status, body) = s.token(
        Some(&c),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("scope", "openid profile"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();

    let header = s
        .http
        .get(s.url("/oauth/userinfo"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(header.status(), 200);

    for path in ["/oauth/userinfo", "/api/auth/me"] {
        let res = s
            .http
            .get(format!("{}?access_token={token}", s.url(path)))
            .send()
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
        // RFC 6750 §3: a challenge without an error code (no token was presented).
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{path}: {challenge}");
    }
}

/// RFC 9700 §2.6 (and §4.16): the authorization endpoint is for top-level
/// navigations only: it answers no CORS request, and its pages may not be
/// framed (clickjacking).
#[test]
fn the_authorization_endpoint_allows_no_cors_and_no_framing() {
    let db = TestDb::sqlite();
    let c = add_client(&db, &["--public", "--redirect-uri", "http://127.0.0.1/cb"]);
    let s = Server::start(&db);
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        s.url("/oauth/authorize"),
        c.id
    );
    let pre = s
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://attacker.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .unwrap();
    assert!(
        pre.headers().get("access-control-allow-origin").is_none(),
        "preflight answered with CORS: {:?}",
        pre.headers()
    );
    let res = s
        .http
        .get(&url)
        .header("Origin", "https://attacker.example")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // RFC 9700 §4.2.4: the pages load nothing from elsewhere and send no referrer.
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
}

/// RFC 9700 §2.1.1: PKCE is required of every client, so a code issued
/// without a challenge cannot exist, and a token request that presents a
/// verifier for such a code (the downgrade) has nothing to match: an
/// authorization request without `code_challenge`, or with `plain`, is
/// refused before a code is issued.
#[test]
fn authorization_requests_without_s256_pkce_are_refused() {
    let db = TestDb::sqlite();
    let c = add_client(&db, &["--redirect-uri", "https://app.example/cb"]);
    let s = Server::start(&db);
    for extra in [
        "",
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=plain",
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    ] {
        let url = format!(
            "{}?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s1{extra}",
            s.url("/oauth/authorize"),
            c.id
        );
        let res = s.http.get(url).send().unwrap();
        assert_eq!(res.status(), 303, "{extra}");
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("https://app.example/cb?error=invalid_request"),
            "{extra}: {location}"
        );
        assert!(!location.contains("code="), "{location}");
    }
}

/// RFC 9700 §4.15: a client must not choose its own `client_id` (it could
/// pose as another client or as a user's `sub`): registration assigns one
/// and ignores a submitted `client_id`.
#[test]
fn registration_assigns_the_client_id() {
    let db = TestDb::sqlite();
    let existing = add_client(&db, &["--redirect-uri", "https://app.example/cb"]);
    let s = Server::start(&db);
    for wanted in [existing.id.as_str(), "admin"] {
        let res = s
            .http
            .post(s.url("/oauth/register"))
            .json(&serde_json::json!({
                "client_id": wanted,
                "redirect_uris": ["https://evil.example/cb"],
                "token_endpoint_auth_method": "none",
            }))
            .send()
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().unwrap();
        let id = body["client_id"].as_str().unwrap();
        assert_ne!(id, wanted);
        assert!(!id.is_empty());
    }
}

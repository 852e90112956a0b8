//! DPoP (RFC 9449) end to end, on SQLite and PostgreSQL: openid-client's
//! own proofs (code flow with PKCE for a public client: bound access and
//! refresh tokens, userinfo with the proof, a refresh with another key
//! refused; client credentials), then hand-made proofs for what a library
//! does not do wrong on purpose (replay, wrong `htu`, no proof for a client
//! that requires DPoP, a bound token presented as a bearer token), and the
//! server nonce (§8) both by hand and through openid-client's retry.

use std::ffi::OsStr;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_e2e::{
    add_client, add_user, browser_like, databases, location_params, node_script,
    sign_in_and_approve, NodeSession, Server, TestClient, TestDb,
};
use serde_json::{json, Value};
use sha2::Digest;

const CB: &str = "http://127.0.0.1:43210/cb";

// A P-256 key made for this test only, and its public JWK members.
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAi91eYgoXH2mrwdo
AhMjOnZvEogrIvKbbJOgbEIjWfChRANCAATE1tyof6DH00iVAHkqhui+/+Bv4x5r
ya9YqBiuVRCv2kJq4JXT50lsNbsjDZk3VK/ZCMkWIdgrLy1IcjaU+7VC
-----END PRIVATE KEY-----";
const X: &str = "xNbcqH-gx9NIlQB5Kobovv_gb-Mea8mvWKgYrlUQr9o";
const Y: &str = "QmrgldPnSWw1uyMNmTdUr9kIyRYh2CsvLUhyNpT7tUI";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 thumbprint of [`KEY`].
fn jkt() -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{X}","y":"{Y}"}}"#);
    b64(&sha2::Sha256::digest(canonical.as_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A proof by [`KEY`] for `method` and `url`, with `extra` claims.
fn proof(method: &str, url: &str, extra: Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk =
        Some(serde_json::from_value(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y})).unwrap());
    let mut claims = json!({
        "jti": format!("{}-{}", now(), std::process::id()),
        "htm": method,
        "htu": url,
        "iat": now(),
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let key = EncodingKey::from_ec_pem(KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn jti(n: u32) -> Value {
    json!({ "jti": format!("jti-{n}-{}", now()) })
}

/// POST /oauth/token (Basic authentication for a confidential client) and an optional `DPoP`
/// header: (status, DPoP-Nonce header, body).
fn token(
    s: &Server,
    c: &TestClient,
    form: &[(&str, &str)],
    dpop: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = s.http.post(s.url("/oauth/token")).form(form);
    // A public client names itself in the form.
    if let Some(secret) = &c.secret {
        req = req.basic_auth(&c.id, Some(secret));
    }
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let nonce = res
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_string());
    (status, nonce, res.json().unwrap())
}

/// GET /oauth/userinfo with this `Authorization` value and optional proof:
/// (status, WWW-Authenticate).
fn userinfo(s: &Server, authorization: &str, dpop: Option<&str>) -> (u16, String) {
    let mut req = s
        .http
        .get(s.url("/oauth/userinfo"))
        .header("Authorization", authorization);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let res = req.send().unwrap();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status().as_u16(), challenge)
}

fn worker(db: &TestDb, extra: &[&str]) -> TestClient {
    let mut args = vec!["--grant-type", "client_credentials", "--scope", "api"];
    args.extend_from_slice(extra);
    add_client(db, &args)
}

/// dpop.mjs's client credentials grant with openid-client's DPoP.
fn library_client_credentials(s: &Server, c: &TestClient) -> Value {
    node_script(
        "dpop.mjs",
        &["openid-client"],
        &[
            ("PORTCULLIS_ISSUER", s.issuer.as_ref()),
            ("CLIENT_ID", c.id.as_ref()),
            ("CLIENT_SECRET", c.secret.as_deref().unwrap().as_ref()),
            ("MODE", OsStr::new("client_credentials")),
        ],
    )
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

#[test]
fn openid_client_code_flow_binds_access_and_refresh_tokens() {
    for db in databases() {
        code_flow(&db, false, false);
    }
}

/// The same through a pushed authorization request that carries a proof
/// (RFC 9449 §10.1: the code is bound to the key).
#[test]
fn openid_client_pushed_request_with_dpop() {
    for db in databases() {
        code_flow(&db, false, true);
    }
}

/// The same with server nonces (§8): openid-client retries at the token
/// endpoint and at userinfo with the nonce the server names.
#[test]
fn openid_client_code_flow_with_server_nonces() {
    for db in databases() {
        code_flow(&db, true, false);
    }
}

fn code_flow(db: &TestDb, nonce: bool, par: bool) {
    {
        let app = add_client(
            db,
            &[
                "--public",
                "--redirect-uri",
                CB,
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
                "--scope",
                "openid email offline_access",
            ],
        );
        let rs = worker(db, &[]);
        let (user_id, _) = add_user(db, "alice", "pw", &[]);
        let env: &[(&str, &str)] = if nonce {
            &[("PORTCULLIS_DPOP__REQUIRE_NONCE", "true")]
        } else {
            &[]
        };
        let s = Server::start_with(db, &[], env);
        let mut node = NodeSession::start(
            "dpop.mjs",
            &["openid-client"],
            &[
                ("PORTCULLIS_ISSUER", s.issuer.as_ref()),
                ("CLIENT_ID", app.id.as_ref()),
                ("REDIRECT_URI", OsStr::new(CB)),
                ("MODE", OsStr::new("code")),
                ("PAR", OsStr::new(if par { "1" } else { "0" })),
            ],
        );
        let url = node.line()["url"].as_str().unwrap().to_string();
        let http = browser_like();
        let html = http.get(&url).send().unwrap().text().unwrap();
        let done = sign_in_and_approve(&http, &s.base, &html, "alice", "pw");
        node.send(done.headers()["location"].to_str().unwrap());
        let seen = node.finish();

        // RFC 9449 §5: token_type DPoP (openid-client lower-cases it).
        assert_eq!(seen["token_type"], "dpop", "{seen}");
        assert_eq!(seen["refreshed_token_type"], "dpop", "{seen}");
        assert_eq!(seen["sub"], user_id.as_str());
        // Userinfo with the library's proof (ath, htm GET).
        assert_eq!(seen["userinfo_sub"], user_id.as_str());
        // The public client's refresh token is bound: another key is refused.
        assert_eq!(
            seen["other_key_refresh"]["error"], "invalid_grant",
            "{seen}"
        );

        // RFC 9449 §6.1-6.2: cnf.jkt in the JWT and in introspection.
        let at = seen["access_token"].as_str().unwrap();
        let payload = at.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let bound = claims["cnf"]["jkt"].as_str().expect("cnf.jkt").to_string();
        let (status, info) = s.introspect(Some(&rs), &[("token", at)]);
        assert_eq!(status, 200);
        assert_eq!(info["active"], true);
        assert_eq!(info["token_type"], "DPoP");
        assert_eq!(info["cnf"]["jkt"], bound.as_str());
        let rt = seen["refreshed_refresh_token"].as_str().unwrap();
        let (_, info) = s.introspect(Some(&rs), &[("token", rt)]);
        assert_eq!(info["cnf"]["jkt"], bound.as_str(), "{info}");

        // §7.2: a bound token is no bearer token; the DPoP scheme needs a
        // proof, by the token's key.
        let fresh = seen["refreshed_access_token"].as_str().unwrap();
        let (status, challenge) = userinfo(&s, &format!("Bearer {fresh}"), None);
        assert_eq!(status, 401);
        assert!(
            challenge.starts_with("DPoP error=\"invalid_token\""),
            "{challenge}"
        );
        let (status, challenge) = userinfo(&s, &format!("DPoP {fresh}"), None);
        assert_eq!(status, 401);
        assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
        if nonce {
            // A proof without the nonce: use_dpop_nonce, with the nonce.
            let ui = s.url("/oauth/userinfo");
            let ath = b64(&sha2::Sha256::digest(fresh.as_bytes()));
            let res = s
                .http
                .get(&ui)
                .header("Authorization", format!("DPoP {fresh}"))
                .header("DPoP", proof("GET", &ui, json!({ "ath": ath })))
                .send()
                .unwrap();
            assert_eq!(res.status().as_u16(), 401);
            let challenge = res.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains("use_dpop_nonce"), "{challenge}");
            assert!(res.headers().contains_key("dpop-nonce"));
            return;
        }
        let ui = s.url("/oauth/userinfo");
        let ath = b64(&sha2::Sha256::digest(fresh.as_bytes()));
        let mine = proof("GET", &ui, json!({ "ath": ath }));
        let (status, challenge) = userinfo(&s, &format!("DPoP {fresh}"), Some(&mine));
        assert_eq!(status, 401, "a proof by another key");
        assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
        assert_eq!(s.me_status(fresh), 401);
    }
}

#[test]
fn openid_client_client_credentials_with_dpop() {
    for db in databases() {
        let c = worker(&db, &[]);
        let s = Server::start(&db);
        let out = library_client_credentials(&s, &c);
        assert_eq!(
            out["dpop_signing_alg_values_supported"],
            json!(["ES256", "RS256", "PS256", "EdDSA"])
        );
        assert_eq!(out["token_type"], "dpop", "{out}");
        let (_, info) = s.introspect(
            Some(&c),
            &[("token", out["access_token"].as_str().unwrap())],
        );
        assert_eq!(info["token_type"], "DPoP");
        assert!(info["cnf"]["jkt"].is_string(), "{info}");
    }
}

#[test]
fn the_token_endpoint_checks_each_proof() {
    for db in databases() {
        let c = worker(&db, &[]);
        let s = Server::start(&db);
        let url = s.url("/oauth/token");

        // Browser clients may send the header cross-origin.
        let pre = s
            .http
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", "https://spa.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "dpop, content-type")
            .send()
            .unwrap();
        assert!(pre.status().is_success());
        let allowed = pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("dpop"), "{allowed}");

        // No proof: a bearer token, as before.
        let (status, _, body) = token(&s, &c, CC, None);
        assert_eq!(status, 200);
        assert_eq!(body["token_type"], "Bearer");

        // A good proof: bound to its key.
        let good = proof("POST", &url, jti(1));
        let (status, _, body) = token(&s, &c, CC, Some(&good));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        let (_, info) = s.introspect(
            Some(&c),
            &[("token", body["access_token"].as_str().unwrap())],
        );
        assert_eq!(info["cnf"]["jkt"], jkt().as_str());

        // The same proof again: a replay (§11.1).
        let (status, _, body) = token(&s, &c, CC, Some(&good));
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_dpop_proof");

        // Another endpoint, another method, a stale iat, not a JWT.
        for bad in [
            proof("POST", &s.url("/oauth/introspect"), jti(2)),
            proof("GET", &url, jti(3)),
            proof("POST", &url, json!({"jti": "stale", "iat": now() - 3600})),
            "not-a-proof".to_string(),
        ] {
            let (status, _, body) = token(&s, &c, CC, Some(&bad));
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_dpop_proof");
        }
    }
}

#[test]
fn a_client_may_require_dpop() {
    for db in databases() {
        let c = worker(&db, &["--require-dpop"]);
        let s = Server::start(&db);
        let (status, _, body) = token(&s, &c, CC, None);
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_dpop_proof");
        let p = proof("POST", &s.url("/oauth/token"), jti(1));
        let (status, _, body) = token(&s, &c, CC, Some(&p));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP");

        // RFC 9449 §5.2 through registration too.
        let reg = s
            .http
            .post(s.url("/oauth/register"))
            .json(&json!({
                "redirect_uris": [CB],
                "dpop_bound_access_tokens": true
            }))
            .send()
            .unwrap();
        assert_eq!(reg.status().as_u16(), 201);
        let info: Value = reg.json().unwrap();
        assert_eq!(info["dpop_bound_access_tokens"], true);
    }
}

#[test]
fn a_server_nonce_when_required() {
    for db in databases() {
        let c = worker(&db, &[]);
        let s = Server::start_with(&db, &[], &[("PORTCULLIS_DPOP__REQUIRE_NONCE", "true")]);
        let url = s.url("/oauth/token");
        // §8: no nonce: use_dpop_nonce with the nonce to use.
        let (status, nonce, body) = token(&s, &c, CC, Some(&proof("POST", &url, jti(1))));
        assert_eq!(status, 400);
        assert_eq!(body["error"], "use_dpop_nonce");
        let nonce = nonce.expect("DPoP-Nonce");
        let with = proof("POST", &url, json!({"jti": "n-2", "nonce": nonce}));
        let (status, _, body) = token(&s, &c, CC, Some(&with));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        let wrong = proof("POST", &url, json!({"jti": "n-3", "nonce": "made-up"}));
        let (status, _, body) = token(&s, &c, CC, Some(&wrong));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("use_dpop_nonce"))
        );

        // openid-client retries with the nonce on its own.
        let out = library_client_credentials(&s, &c);
        assert_eq!(out["token_type"], "dpop", "{out}");
    }
}

const VERIFIER: &str = "correct-horse-battery-staple-0123456789-abcdefghij";

/// A server with a public client (code flow) and alice.
fn public_app(db: &TestDb) -> (Server, TestClient) {
    let app = add_client(
        db,
        &["--public", "--redirect-uri", CB, "--scope", "openid email"],
    );
    add_user(db, "alice", "pw", &[]);
    (Server::start(db), app)
}

/// Exchange the code of the redirect `done` for a public client: refused
/// without a proof (the code stays usable), then granted with one by
/// [`KEY`], as DPoP.
fn exchange_bound_code(
    s: &Server,
    app: &TestClient,
    done: &reqwest::blocking::Response,
    verifier: &str,
) {
    let code = location_params(done)
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .expect("a code");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", app.id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier),
        ("redirect_uri", CB),
    ];
    let (status, _, body) = token(s, app, &form, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let url = s.url("/oauth/token");
    let p = proof("POST", &url, json!({"jti": format!("code-{code}")}));
    let (status, _, body) = token(s, app, &form, Some(&p));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// RFC 9449 §10: an authorization request with `dpop_jkt` binds the code
/// to that key: its exchange needs a proof by that key; a malformed
/// `dpop_jkt` is refused.
#[test]
fn dpop_jkt_binds_the_authorization_code() {
    for db in databases() {
        let (s, app) = public_app(&db);
        let challenge = b64(&sha2::Sha256::digest(VERIFIER.as_bytes()));
        let authorize = |jkt: &str| {
            let pairs = [
                ("response_type", "code"),
                ("client_id", app.id.as_str()),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("state", "st"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("dpop_jkt", jkt),
            ];
            let url = reqwest::Url::parse_with_params("http://x/", &pairs).unwrap();
            s.url(&format!("/oauth/authorize?{}", url.query().unwrap()))
        };

        let http = browser_like();
        let page = http.get(authorize("not a thumbprint")).send().unwrap();
        assert_eq!(page.status(), 303, "a redirected invalid_request");
        let loc = page.headers()["location"].to_str().unwrap();
        assert!(loc.contains("error=invalid_request"), "{loc}");

        let jkt = jkt();
        let html = http.get(authorize(&jkt)).send().unwrap().text().unwrap();
        let done = sign_in_and_approve(&http, &s.base, &html, "alice", "pw");
        // Without a proof: refused, and the code stays usable.
        exchange_bound_code(&s, &app, &done, VERIFIER);
    }
}

/// RFC 9449 §10.1: a proof sent with a pushed authorization request binds
/// the code to its key; a `dpop_jkt` naming another key is refused.
#[test]
fn a_proof_at_the_par_endpoint_binds_the_code() {
    for db in databases() {
        let (s, app) = public_app(&db);
        let challenge = b64(&sha2::Sha256::digest(VERIFIER.as_bytes()));
        let par_url = s.url("/oauth/par");
        let push = |dpop: &str, extra: &[(&str, &str)]| {
            let mut form = vec![
                ("client_id", app.id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ];
            form.extend_from_slice(extra);
            let res = s
                .http
                .post(&par_url)
                .header("DPoP", dpop)
                .form(&form)
                .send()
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().unwrap())
        };
        let other = "A".repeat(43);
        let (status, body) = push(&proof("POST", &par_url, jti(1)), &[("dpop_jkt", &other)]);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        let (status, body) = push(&proof("POST", &par_url, jti(2)), &[]);
        assert_eq!(status, 201, "{body}");

        let http = browser_like();
        let uri = body["request_uri"].as_str().unwrap();
        let query = reqwest::Url::parse_with_params(
            "http://x/",
            &[("client_id", app.id.as_str()), ("request_uri", uri)],
        )
        .unwrap();
        let page = s.url(&format!("/oauth/authorize?{}", query.query().unwrap()));
        let html = http.get(page).send().unwrap().text().unwrap();
        let done = sign_in_and_approve(&http, &s.base, &html, "alice", "pw");
        exchange_bound_code(&s, &app, &done, VERIFIER);
    }
}

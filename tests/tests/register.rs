//! Dynamic client registration (RFC 7591) and client management (RFC 7592)
//! against the real binary: a registered public native client runs the
//! whole code flow and rotates its refresh tokens; a confidential client
//! uses client credentials; every refusal; the `open` / `token` / `off`
//! policies; the per-address limit; CORS for browser-based and MCP clients.

use base64::Engine;
use portcullis_e2e::{
    add_client, add_user, browser_like, cli, cli_json, databases, location_params, param, submit,
    Server, TestClient, TestDb,
};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use sha2::Digest;

const VERIFIER: &str = "registered-client-verifier-0123456789-abcdefghijkl";
const REDIRECT: &str = "http://127.0.0.1:43210/cb";

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

/// POST /oauth/register with a JSON body (and an optional bearer token).
fn post(s: &Server, body: &Value, bearer: Option<&str>) -> Response {
    let mut req = s.http.post(s.url("/oauth/register")).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().unwrap()
}

/// (status, JSON body) of a registration.
fn register(s: &Server, body: &Value) -> (u16, Value) {
    let res = post(s, body, None);
    let status = res.status().as_u16();
    (status, res.json().unwrap())
}

/// A registration that must succeed.
fn registered(s: &Server, body: &Value) -> Value {
    let (status, out) = register(s, body);
    assert_eq!(status, 201, "{out}");
    out
}

fn www_authenticate(res: &Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A request to the client configuration endpoint.
fn manage(
    s: &Server,
    method: reqwest::Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut req = s.http.request(method, uri);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().unwrap()
}

/// The registration client URI on the bound address (the issuer is the
/// bound address in these tests, so it is the same URL).
fn config_uri(s: &Server, reg: &Value) -> String {
    let uri = reg["registration_client_uri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!(
            "{}/oauth/register/{}",
            s.issuer,
            reg["client_id"].as_str().unwrap()
        )
    );
    uri.to_string()
}

/// Sign in as alice and approve; the code.
fn authorize(s: &Server, client_id: &str) -> String {
    let http = browser_like();
    let url = reqwest::Url::parse_with_params(
        &s.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("state", "st-1"),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let page = http.get(url).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    let consent = submit(
        &http,
        &s.base,
        &html,
        "/oauth/authorize/login",
        &[("username", "alice"), ("password", "pw")],
    );
    let html = consent.text().unwrap();
    assert!(
        html.contains("Inspector"),
        "consent names the client: {html}"
    );
    let done = submit(
        &http,
        &s.base,
        &html,
        "/oauth/authorize/consent",
        &[("consent", "approve")],
    );
    assert_eq!(done.status(), 303);
    let p = location_params(&done);
    assert_eq!(param(&p, "state"), Some("st-1"));
    param(&p, "code").unwrap().to_string()
}

fn refresh(s: &Server, client_id: &str, token: &str) -> (u16, Value) {
    s.token(
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ],
    )
}

#[test]
fn a_registered_public_native_client_runs_the_code_flow_and_rotates_refresh_tokens() {
    for db in databases() {
        add_user(&db, "alice", "pw", &[]);
        let s = Server::start_with(
            &db,
            &[],
            &[("PORTCULLIS_TOKENS__REFRESH_REUSE_GRACE_SECS", "0")],
        );
        let meta = s.get_json("/.well-known/oauth-authorization-server");
        assert_eq!(
            meta["registration_endpoint"],
            format!("{}/oauth/register", s.issuer)
        );

        // What an MCP client sends (the MCP TypeScript SDK's shape).
        let res = post(
            &s,
            &json!({
                "redirect_uris": ["http://127.0.0.1/cb"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "client_name": "Inspector",
                "client_uri": "https://github.com/modelcontextprotocol/inspector",
                "scope": "openid offline_access"
            }),
            None,
        );
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let reg: Value = res.json().unwrap();
        let id = reg["client_id"].as_str().unwrap().to_string();
        assert!(reg.get("client_secret").is_none(), "public: no secret");
        assert_eq!(reg["client_secret_expires_at"], 0);
        assert!(reg["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
        assert_eq!(reg["application_type"], "native");
        assert_eq!(reg["token_endpoint_auth_method"], "none");
        assert_eq!(reg["scope"], "offline_access openid");
        assert_eq!(
            reg["client_uri"],
            "https://github.com/modelcontextprotocol/inspector"
        );
        let rat = reg["registration_access_token"].as_str().unwrap();
        assert!(rat.len() >= 43);
        let uri = config_uri(&s, &reg);

        // RFC 7592 read, on both backends.
        let read = manage(&s, reqwest::Method::GET, &uri, Some(rat), None);
        assert_eq!(read.status(), 200);
        let read: Value = read.json().unwrap();
        assert_eq!(read["client_id"], id.as_str());
        assert_eq!(read["redirect_uris"], json!(["http://127.0.0.1/cb"]));

        // The code flow: any loopback port (RFC 8252 §7.3), PKCE, no secret.
        let code = authorize(&s, &id);
        let (status, tokens) = s.token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", &id),
            ],
        );
        assert_eq!(status, 200, "{tokens}");
        assert!(tokens["id_token"].is_string());
        let r1 = tokens["refresh_token"].as_str().unwrap().to_string();

        // Refresh tokens of public clients rotate (OAuth 2.1 §4.3.1).
        let (status, t2) = refresh(&s, &id, &r1);
        assert_eq!(status, 200, "{t2}");
        let r2 = t2["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(r2, r1);
        let (status, t3) = refresh(&s, &id, &r2);
        assert_eq!(status, 200, "{t3}");
        let r3 = t3["refresh_token"].as_str().unwrap().to_string();
        assert!(r3 != r2 && r3 != r1);
        // Once the grace window (0 s here) has passed, a used one is dead,
        // and presenting it ends the whole session.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let (status, body) = refresh(&s, &id, &r1);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _) = refresh(&s, &id, &r3);
        assert_eq!(status, 400, "reuse revoked the session");
    }
}

#[test]
fn a_confidential_client_gets_a_secret_and_only_the_grants_it_registered() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let reg = registered(
        &s,
        &json!({
            "client_name": "Billing worker",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "api:read"
        }),
    );
    assert_eq!(reg["response_types"], json!([]));
    assert_eq!(reg["redirect_uris"], json!([]));
    let worker = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: reg["client_secret"].as_str().map(str::to_string),
    };
    assert!(worker.secret.as_deref().is_some_and(|s| s.len() >= 43));
    let (status, body) = s.token(Some(&worker), &[("grant_type", "client_credentials")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api:read");
    // client_secret_post works too (a confidential client may use either).
    let (status, _) = s.token(
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &worker.id),
            ("client_secret", worker.secret.as_deref().unwrap()),
        ],
    );
    assert_eq!(status, 200);

    // A web client that did not register client_credentials may not use it.
    let web = registered(
        &s,
        &json!({"redirect_uris": ["https://app.example/cb"], "client_name": "Web"}),
    );
    let web = TestClient {
        id: web["client_id"].as_str().unwrap().into(),
        secret: web["client_secret"].as_str().map(str::to_string),
    };
    let (status, body) = s.token(Some(&web), &[("grant_type", "client_credentials")]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[test]
fn defaults_apply_and_unknown_members_are_ignored() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let reg = registered(
        &s,
        &json!({
            "redirect_uris": ["https://app.example/cb"],
            "resource": "https://mcp.example/mcp",
            "jwks_uri": "https://app.example/jwks",
            "client_name#ja-Jpan-JP": "クライアント",
            "software_statement": null,
            "contacts": ["ops@app.example"],
            "software_id": "app",
            "software_version": "1.0"
        }),
    );
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert!(
        reg["client_secret"].is_string(),
        "default method has a secret"
    );
    assert_eq!(reg["application_type"], "web", "an https redirect");
    assert_eq!(reg["client_name"], "Unnamed client");
    assert_eq!(reg["scope"], "email offline_access openid profile");
    assert_eq!(reg["contacts"], json!(["ops@app.example"]));
    assert_eq!(
        (
            reg["software_id"].as_str(),
            reg["software_version"].as_str()
        ),
        (Some("app"), Some("1.0"))
    );
    // jwks_uri is understood now (private_key_jwt) and repeated (RFC 7591 §3.2.1).
    assert_eq!(reg["jwks_uri"], "https://app.example/jwks");
    for ignored in ["resource", "client_name#ja-Jpan-JP", "dynamic"] {
        assert!(reg.get(ignored).is_none(), "{ignored} echoed");
    }
    // A private-use scheme (RFC 8252 §7.1) is native too.
    let native = registered(
        &s,
        &json!({"redirect_uris": ["com.example.app:/oauth2redirect"], "token_endpoint_auth_method": "none"}),
    );
    assert_eq!(native["application_type"], "native");
    // The clients are marked dynamic in storage (for a later janitor); the
    // CLI's list shows them like any other client.
    let listed = cli_json(&db, &["client", "list"], "");
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
}

#[test]
fn every_refusal_is_an_rfc7591_error_naming_the_member() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let cases = [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            json!({"redirect_uris": ["/cb"]}),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (json!({}), "invalid_redirect_uri", "redirect_uris"),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["password"]}),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
            "client_credentials",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
            "response_types",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "scope": "openid admin"}),
            "invalid_client_metadata",
            "scope",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "logo_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
            "logo_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "application_type": "tv"}),
            "invalid_client_metadata",
            "application_type",
        ),
        (
            json!(["https://app.example/cb"]),
            "invalid_client_metadata",
            "JSON object",
        ),
    ];
    for (body, error, needle) in cases {
        let (status, out) = register(&s, &body);
        assert_eq!(status, 400, "{body}: {out}");
        assert_eq!(out["error"], error, "{body}");
        let desc = out["error_description"].as_str().unwrap_or_default();
        assert!(desc.contains(needle), "{body}: {desc}");
    }
    // Malformed JSON: the metadata cannot be read.
    let res = s
        .http
        .post(s.url("/oauth/register"))
        .header("content-type", "application/json")
        .body("{\"redirect_uris\": [")
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().unwrap()["error"],
        "invalid_client_metadata"
    );
    // Not JSON at all: the request is wrong, not the metadata.
    let res = s
        .http
        .post(s.url("/oauth/register"))
        .form(&[("redirect_uris", "https://app.example/cb")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
    // Too large.
    let huge =
        json!({"redirect_uris": ["https://app.example/cb"], "client_name": "x".repeat(20_000)});
    let (status, out) = register(&s, &huge);
    assert_eq!(
        (status, out["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Nothing was registered.
    let listed = cli_json(&db, &["client", "list"], "");
    let dynamic = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client_name"] != "Portcullis login API")
        .count();
    assert_eq!(dynamic, 0, "{listed}");
}

#[test]
fn rfc7592_read_update_delete_with_the_registration_access_token() {
    let db = TestDb::sqlite();
    let cli_client = add_client(&db, &["--redirect-uri", "https://cli.example/cb"]);
    let s = Server::start(&db);
    let reg = registered(
        &s,
        &json!({
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "App",
            "logo_uri": "https://app.example/logo.png",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
        }),
    );
    let other = registered(
        &s,
        &json!({"redirect_uris": ["https://other.example/cb"], "token_endpoint_auth_method": "none"}),
    );
    let id = reg["client_id"].as_str().unwrap();
    let rat = reg["registration_access_token"].as_str().unwrap();
    let secret = reg["client_secret"].as_str().unwrap();
    let uri = config_uri(&s, &reg);
    use reqwest::Method;

    // 401s: no token, a wrong token, another client's token, an unknown
    // client, a client made by the CLI (it has no registration token).
    let res = manage(&s, Method::GET, &uri, None, None);
    assert_eq!(res.status(), 401);
    assert_eq!(www_authenticate(&res), "Bearer");
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_token");
    for (target, token) in [
        (uri.clone(), "wrong"),
        (
            uri.clone(),
            other["registration_access_token"].as_str().unwrap(),
        ),
        (s.url("/oauth/register/nobody"), rat),
        (s.url(&format!("/oauth/register/{}", cli_client.id)), rat),
    ] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = json!({"client_id": id, "redirect_uris": ["https://app.example/cb"]});
            let res = manage(&s, method.clone(), &target, Some(token), Some(&body));
            assert_eq!(res.status(), 401, "{method} {target}");
            assert!(
                www_authenticate(&res).contains("error=\"invalid_token\""),
                "{method} {target}"
            );
        }
    }

    // Read: the registration, without the secret (only its hash is kept).
    let got: Value = manage(&s, Method::GET, &uri, Some(rat), None)
        .json()
        .unwrap();
    assert_eq!(got["client_name"], "App");
    assert_eq!(got["registration_access_token"], rat);
    assert!(got.get("client_secret").is_none());

    // Update: replaces the metadata (omitted members go), keeps the secret.
    let update = json!({
        "client_id": id,
        "client_secret": secret,
        "redirect_uris": ["https://app.example/new-cb"],
        "client_name": "App 2",
        "grant_types": ["client_credentials"]
    });
    let res = manage(&s, Method::PUT, &uri, Some(rat), Some(&update));
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().unwrap();
    assert_eq!(updated["client_name"], "App 2");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://app.example/new-cb"])
    );
    assert_eq!(updated["grant_types"], json!(["client_credentials"]));
    assert_eq!(updated["response_types"], json!([]));
    assert!(updated.get("logo_uri").is_none());
    assert_eq!(updated["client_id_issued_at"], reg["client_id_issued_at"]);
    let app = TestClient {
        id: id.into(),
        secret: Some(secret.into()),
    };
    let (status, tokens) = s.token(Some(&app), &[("grant_type", "client_credentials")]);
    assert_eq!(status, 200, "the secret still works: {tokens}");

    // Refused updates: no or another client_id, a chosen secret, a server
    // member, a change to a public client, a bad redirect.
    for (body, error) in [
        (
            json!({"redirect_uris": ["https://app.example/cb"]}),
            "invalid_request",
        ),
        (
            json!({"client_id": "other", "redirect_uris": ["https://app.example/cb"]}),
            "invalid_request",
        ),
        (
            json!({"client_id": id, "client_secret": "my-own-secret", "grant_types": ["client_credentials"]}),
            "invalid_request",
        ),
        (
            json!({"client_id": id, "registration_access_token": rat, "grant_types": ["client_credentials"]}),
            "invalid_request",
        ),
        (
            json!({"client_id": id, "token_endpoint_auth_method": "none", "redirect_uris": ["https://app.example/cb"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": id, "redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
    ] {
        let res = manage(&s, Method::PUT, &uri, Some(rat), Some(&body));
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json::<Value>().unwrap()["error"], error, "{body}");
    }
    let res = s
        .http
        .put(&uri)
        .bearer_auth(rat)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(
        res.json::<Value>().unwrap()["error"],
        "invalid_client_metadata"
    );

    // Delete: 204, then the client is gone for every purpose.
    let res = manage(&s, Method::DELETE, &uri, Some(rat), None);
    assert_eq!(res.status(), 204);
    let res = manage(&s, Method::GET, &uri, Some(rat), None);
    assert_eq!(res.status(), 401, "RFC 7592 §2.3: a deleted client is 401");
    let (status, body) = s.token(Some(&app), &[("grant_type", "client_credentials")]);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // The other client is untouched.
    let other_uri = config_uri(&s, &other);
    let res = manage(
        &s,
        Method::GET,
        &other_uri,
        other["registration_access_token"].as_str(),
        None,
    );
    assert_eq!(res.status(), 200);
}

#[test]
fn policy_token_needs_an_initial_access_token_from_the_cli() {
    let db = TestDb::sqlite();
    let s = Server::start_with(&db, &[], &[("PORTCULLIS_REGISTRATION__POLICY", "token")]);
    let meta = s.get_json("/.well-known/openid-configuration");
    assert!(meta["registration_endpoint"].is_string());
    let body = json!({"redirect_uris": ["https://app.example/cb"]});

    let res = post(&s, &body, None);
    assert_eq!(res.status(), 401);
    assert_eq!(www_authenticate(&res), "Bearer");
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_token");
    let res = post(&s, &body, Some("made-up"));
    assert_eq!(res.status(), 401);
    assert!(www_authenticate(&res).contains("error=\"invalid_token\""));

    let minted = cli_json(
        &db,
        &[
            "registration-token",
            "create",
            "--expires-in",
            "600",
            "--max-uses",
            "1",
        ],
        "",
    );
    let token = minted["token"].as_str().unwrap();
    assert_eq!(minted["max_uses"], 1);
    assert!(minted["expires_at"].as_i64().unwrap() > minted["created_at"].as_i64().unwrap());
    // A refused document does not spend the token.
    let res = post(
        &s,
        &json!({"redirect_uris": ["http://app.example/cb"]}),
        Some(token),
    );
    assert_eq!(res.status(), 400);
    let res = post(&s, &body, Some(token));
    assert_eq!(res.status(), 201);
    let res = post(&s, &body, Some(token));
    assert_eq!(res.status(), 401, "used up");

    let unlimited = cli_json(&db, &["registration-token", "create"], "");
    assert!(unlimited["expires_at"].is_null() && unlimited["max_uses"].is_null());
    let t = unlimited["token"].as_str().unwrap();
    assert_eq!(post(&s, &body, Some(t)).status(), 201);
    assert_eq!(post(&s, &body, Some(t)).status(), 201);

    let bad = cli(
        &db,
        &["registration-token", "create", "--expires-in", "0"],
        "",
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--expires-in"));
}

#[test]
fn policy_off_answers_404_and_is_not_advertised() {
    let db = TestDb::sqlite();
    let s = Server::start_with(&db, &[], &[("PORTCULLIS_REGISTRATION__POLICY", "off")]);
    let meta = s.get_json("/.well-known/openid-configuration");
    assert!(meta.get("registration_endpoint").is_none(), "{meta}");
    let (status, body) = register(&s, &json!({"redirect_uris": ["https://app.example/cb"]}));
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[test]
fn open_registration_is_rate_limited_per_address() {
    let db = TestDb::sqlite();
    let s = Server::start_with(
        &db,
        &[],
        &[
            ("PORTCULLIS_REGISTRATION__RATE_LIMIT", "2"),
            ("PORTCULLIS_REGISTRATION__RATE_WINDOW_SECS", "120"),
        ],
    );
    let good =
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
    let bad = json!({"redirect_uris": ["http://app.example/cb"]});
    for _ in 0..3 {
        assert_eq!(register(&s, &bad).0, 400, "refused documents do not count");
    }
    assert_eq!(register(&s, &good).0, 201);
    assert_eq!(register(&s, &good).0, 201);
    let res = post(&s, &good, None);
    assert_eq!(res.status(), 429);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

#[test]
fn cors_lets_browser_and_mcp_clients_register_and_use_tokens() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    for (path, method) in [
        ("/oauth/register", "POST"),
        ("/oauth/register/some-client", "PUT"),
        ("/oauth/register/some-client", "DELETE"),
        ("/oauth/token", "POST"),
        ("/oauth/revoke", "POST"),
    ] {
        let pre = s
            .http
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("Origin", "https://inspector.example")
            .header("Access-Control-Request-Method", method)
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .send()
            .unwrap();
        assert!(pre.status().is_success(), "{path}: {}", pre.status());
        assert_eq!(pre.headers()["access-control-allow-origin"], "*", "{path}");
        let allowed = pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for h in ["authorization", "content-type", "mcp-protocol-version"] {
            assert!(allowed.contains(h), "{path}: {allowed}");
        }
        let methods = pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(methods.contains(method), "{path}: {methods}");
    }
    // The real request carries the header too.
    let res = s
        .http
        .post(s.url("/oauth/register"))
        .header("Origin", "https://inspector.example")
        .header("MCP-Protocol-Version", "2025-06-18")
        .json(&json!({"redirect_uris": ["http://localhost:6274/oauth/callback"], "token_endpoint_auth_method": "none"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let res = s
        .http
        .post(s.url("/oauth/token"))
        .header("Origin", "https://inspector.example")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res
        .headers()
        .get("access-control-expose-headers")
        .is_some_and(|v| v
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("www-authenticate")));
}

//! Protected resources configured in `[[resources]]`: resource indicators
//! (RFC 8707) binding `aud` through the code flow and refresh, refusals
//! with `invalid_target`, protected resource metadata (RFC 9728) at its
//! path-inserted URL, and `portcullis resource` for resources hosted
//! elsewhere.

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use portcullis_e2e::{
    add_client, add_user, browser_like, cli, databases, location_params, param,
    sign_in_and_approve, verify_jwt, Server, TestClient, TestDb,
};
use serde_json::{json, Value};
use sha2::Digest;

/// The issuer the servers announce (they listen on 127.0.0.1:<port>).
const ISSUER: &str = "http://portcullis.test";
/// On the issuer's origin: ES256, 600 s, only `mcp:tools` (plus OIDC scopes).
const MCP: &str = "http://portcullis.test/mcp";
/// Hosted elsewhere, with the client's settings.
const API: &str = "https://api.example.com/v1";
/// Hosted elsewhere, opaque tokens.
const FILES: &str = "https://files.example.com/";
const REDIRECT: &str = "http://127.0.0.1:43210/cb";
const VERIFIER: &str = "correct-horse-battery-staple-0123456789-abcdefghij";

/// `[[resources]]` as a TOML file and as the equivalent environment variable.
const RESOURCES_TOML: &str = r#"
[[resources]]
uri = "http://portcullis.test/mcp"
name = "Tools"
scopes = ["mcp:tools"]
alg = "ES256"
lifetime_secs = 600

[[resources]]
uri = "https://api.example.com/v1"

[[resources]]
uri = "https://files.example.com/"
format = "opaque"

[[resources]]
uri = "http://PORTCULLIS.test/"
name = "Root"
"#;
const RESOURCES_ENV: &str = r#"[{uri="http://portcullis.test/mcp", name="Tools", scopes=["mcp:tools"], alg="ES256", lifetime_secs=600}, {uri="https://api.example.com/v1"}, {uri="https://files.example.com/", format="opaque"}, {uri="http://PORTCULLIS.test/", name="Root"}]"#;

fn start(db: &TestDb) -> Server {
    Server::start_with(
        db,
        &["--issuer", ISSUER],
        &[("PORTCULLIS_RESOURCES", RESOURCES_ENV)],
    )
}

fn app(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--redirect-uri",
            REDIRECT,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile offline_access mcp:tools api:write",
        ],
    )
}

fn authorize_url(s: &Server, c: &TestClient, extra: &[(&str, &str)]) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &c.id),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let url = reqwest::Url::parse_with_params("http://x/", &pairs).unwrap();
    s.url(&format!("/oauth/authorize?{}", url.query().unwrap()))
}

/// Sign in as alice and approve; the redirect's parameters.
fn authorize(s: &Server, c: &TestClient, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let http = browser_like();
    let page = http.get(authorize_url(s, c, extra)).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    let done = sign_in_and_approve(&http, &s.base, &html, "alice", "pw");
    assert_eq!(done.status(), 303);
    location_params(&done)
}

fn exchange(s: &Server, c: &TestClient, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(extra);
    s.token(Some(c), &form)
}

fn refresh(s: &Server, c: &TestClient, t: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", t["refresh_token"].as_str().unwrap()),
    ];
    form.extend_from_slice(extra);
    s.token(Some(c), &form)
}

/// The verified claims of a JWT access token, with `aud` required to be `aud`.
fn access_claims(s: &Server, token: &Value, aud: &str) -> (Algorithm, Value) {
    verify_jwt(
        s,
        token["access_token"].as_str().unwrap(),
        "at+jwt",
        |alg| {
            let mut v = Validation::new(alg);
            v.set_audience(&[aud]);
            v
        },
    )
}

#[test]
fn code_flow_binds_aud_to_the_resource_and_refresh_narrows_it() {
    for db in databases() {
        let c = app(&db);
        add_user(&db, "alice", "pw", &[]);
        let s = start(&db);

        // Two resources with different token settings may be authorized
        // together (scheme and host in any case)...
        let back = authorize(
            &s,
            &c,
            &[
                ("scope", "openid profile offline_access mcp:tools api:write"),
                ("resource", "HTTP://Portcullis.TEST/mcp"),
                ("resource", API),
            ],
        );
        let code = param(&back, "code").expect("a code").to_string();
        // ...but one access token cannot serve both: the request is refused
        // and the code stays usable (the refusal rolls back).
        let (status, e) = exchange(&s, &c, &code, &[]);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
        assert!(e["error_description"]
            .as_str()
            .unwrap()
            .contains("one resource at a time"));
        // A resource the authorization request did not name: refused.
        let (status, e) = exchange(&s, &c, &code, &[("resource", FILES)]);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));

        // RFC 8707 §2.2: a subset of the authorized resources.
        let (status, t) = exchange(&s, &c, &code, &[("resource", MCP)]);
        assert_eq!(status, 200, "{t}");
        let (alg, claims) = access_claims(&s, &t, MCP);
        // The resource's settings win over the client's (RS256, JWT, 300 s).
        assert_eq!(alg, Algorithm::ES256);
        assert_eq!(t["expires_in"], 600);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
        // Downscoped to what the resource accepts; OIDC scopes kept.
        assert_eq!(t["scope"], "mcp:tools offline_access openid profile");
        assert_eq!(claims["scope"], t["scope"]);
        // The ID token follows the grant and the client's algorithm.
        let id = t["id_token"].as_str().expect("an ID token");
        assert_eq!(
            jsonwebtoken::decode_header(id).unwrap().alg,
            Algorithm::RS256
        );

        // A refresh may narrow to another authorized resource (the refresh
        // token is bound to the full grant) with that resource's settings.
        let (status, r) = refresh(&s, &c, &t, &[("resource", API)]);
        assert_eq!(status, 200, "{r}");
        let (alg, claims) = access_claims(&s, &r, API);
        assert_eq!(
            (alg, r["expires_in"].as_i64()),
            (Algorithm::RS256, Some(300))
        );
        assert_eq!(
            claims["scope"],
            "api:write mcp:tools offline_access openid profile"
        );
        // It may not widen: a configured resource the grant did not authorize.
        let (status, e) = refresh(&s, &c, &r, &[("resource", FILES)]);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
        let (status, e) = refresh(&s, &c, &r, &[("resource", "https://evil.example/")]);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
        // Naming none: the audience of the grant's first access token.
        let (status, r) = refresh(&s, &c, &r, &[]);
        assert_eq!(status, 200, "{r}");
        assert_eq!(access_claims(&s, &r, MCP).0, Algorithm::ES256);
    }
}

#[test]
fn unknown_resources_get_invalid_target_at_authorize_and_token() {
    for db in databases() {
        let c = app(&db);
        add_user(&db, "alice", "pw", &[]);
        let svc = add_client(
            &db,
            &["--grant-type", "client_credentials", "--scope", "api:write"],
        );
        let s = start(&db);
        let http = browser_like();

        // Authorization endpoint: back to the client with the error.
        for bad in [
            "https://evil.example/",
            "http://portcullis.test/MCP",
            "https://api.example.com/v1#x",
        ] {
            let res = http
                .get(authorize_url(&s, &c, &[("resource", bad)]))
                .send()
                .unwrap();
            assert_eq!(res.status(), 303, "{bad}");
            let back = location_params(&res);
            assert_eq!(param(&back, "error"), Some("invalid_target"), "{bad}");
            assert_eq!(param(&back, "state"), Some("st-1"));
            assert_eq!(param(&back, "iss"), Some(ISSUER));
        }

        // Token endpoint.
        let (status, e) = s.token(
            Some(&svc),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://evil.example/"),
            ],
        );
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
        let (status, t) = s.token(
            Some(&svc),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "HTTPS://API.EXAMPLE.COM/v1"),
            ],
        );
        assert_eq!(status, 200, "{t}");
        assert_eq!(access_claims(&s, &t, API).1["aud"], API);
        // FILES issues opaque tokens whatever the client's format.
        let (status, t) = s.token(
            Some(&svc),
            &[("grant_type", "client_credentials"), ("resource", FILES)],
        );
        assert_eq!(status, 200, "{t}");
        assert!(!t["access_token"].as_str().unwrap().contains('.'));

        // A grant authorized without resources may not gain one at the token endpoint.
        let back = authorize(&s, &c, &[("scope", "openid")]);
        let code = param(&back, "code").expect("a code");
        let (status, e) = exchange(&s, &c, code, &[("resource", MCP)]);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")));
        // Scopes meant for resources, none accepted by this one: invalid_scope.
        let res = http
            .get(authorize_url(
                &s,
                &c,
                &[("resource", MCP), ("scope", "openid api:write")],
            ))
            .send()
            .unwrap();
        assert_eq!(
            param(&location_params(&res), "error"),
            Some("invalid_scope")
        );
    }
}

#[test]
fn protected_resource_metadata_at_its_path_inserted_url() {
    let db = TestDb::sqlite();
    let s = start(&db);
    // RFC 9728 §3.1: https://host/mcp -> https://host/.well-known/oauth-protected-resource/mcp
    let res = s
        .http
        .get(s.url("/.well-known/oauth-protected-resource/mcp"))
        .header("Origin", "https://inspector.example")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json().unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": MCP,
            "authorization_servers": [ISSUER],
            "scopes_supported": ["mcp:tools"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Tools",
        })
    );
    // A resource at the origin's root: no path to insert; `resource` as configured.
    let root = s.get_json("/.well-known/oauth-protected-resource");
    assert_eq!(
        (root["resource"].as_str(), root["resource_name"].as_str()),
        (Some("http://PORTCULLIS.test/"), Some("Root"))
    );
    assert!(root.get("scopes_supported").is_none());
    // Resources hosted elsewhere, unknown paths, a path in another case: JSON 404.
    for path in ["/v1", "/nope", "/MCP", "/mcp/"] {
        let res = s.get(&format!("/.well-known/oauth-protected-resource{path}"));
        assert_eq!(res.status(), 404, "{path}");
        let body: Value = res.json().unwrap();
        assert_eq!(body["error"], "not_found");
    }
    // The authorization server's own metadata is unchanged.
    assert_eq!(
        s.get_json("/.well-known/oauth-authorization-server")["issuer"],
        ISSUER
    );
}

#[test]
fn cli_prints_the_metadata_a_resource_elsewhere_should_serve() {
    let db = TestDb::sqlite();
    let path =
        std::env::temp_dir().join(format!("portcullis-resources-{}.toml", std::process::id()));
    std::fs::write(&path, format!("issuer = \"{ISSUER}\"\n{RESOURCES_TOML}")).unwrap();
    let config = path.to_str().unwrap();
    let resource = |args: &[&str]| {
        let mut all = vec!["--config", config, "resource"];
        all.extend_from_slice(args);
        cli(&db, &all, "")
    };

    let out = resource(&["metadata", "https://API.example.com/v1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": API,
            "authorization_servers": [ISSUER],
            "bearer_methods_supported": ["header"],
        })
    );

    let out = resource(&["metadata", "https://unknown.example/"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no resource \"https://unknown.example/\" is configured"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = resource(&["list"]);
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["uri"], MCP);
    assert_eq!(list[0]["metadata_served_here"], true);
    assert_eq!(list[0]["alg"], "ES256");
    assert_eq!(list[1]["metadata_served_here"], false);
    assert_eq!(
        list[1]["metadata_url"],
        "https://api.example.com/.well-known/oauth-protected-resource/v1"
    );
    assert_eq!(list[2]["format"], "opaque");
    std::fs::remove_file(&path).unwrap();
}

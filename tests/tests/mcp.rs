//! MCP end to end: the example resource server (examples/mcp-resource-server)
//! in front of the real binary, and the official MCP TypeScript SDK as the
//! client (tests/node/mcp.mjs), with a real headless Chromium for the person.
//! `scripts/test` builds both binaries and installs the npm packages.

use std::process::{Child, Command};

use portcullis_e2e::{
    add_client, add_user, chromium, databases, node_script, spawn_announced, target_bin,
    verify_jwt, Server, TestDb,
};
use serde_json::{json, Value};

/// A running example MCP server. Killed on drop.
struct McpServer {
    child: Child,
    /// Its resource URL, which is also where MCP is served.
    resource: String,
    /// Where its RFC 9728 document is.
    metadata: String,
}

impl McpServer {
    fn start(issuer: &str, scope: &str) -> McpServer {
        let mut cmd = Command::new(target_bin("mcp-resource-server"));
        cmd.args([
            "--bind",
            "127.0.0.1:0",
            "--issuer",
            issuer,
            "--scope",
            scope,
        ]);
        // A developer's settings for the example do not leak in.
        for var in ["MCP_BIND", "MCP_RESOURCE_URL", "MCP_ISSUER", "MCP_SCOPE"] {
            cmd.env_remove(var);
        }
        let (child, started) = spawn_announced(&mut cmd, "mcp-resource-server");
        let listening = started["listening"].as_str().expect("listening");
        let resource = started["resource"].as_str().expect("resource").to_string();
        assert_eq!(resource, format!("http://{listening}/mcp"));
        McpServer {
            child,
            metadata: format!("http://{listening}/.well-known/oauth-protected-resource/mcp"),
            resource,
        }
    }

    /// POST one JSON-RPC message to the MCP endpoint.
    fn post(&self, bearer: Option<&str>, msg: &Value) -> reqwest::blocking::Response {
        let mut req = reqwest::blocking::Client::new()
            .post(&self.resource)
            .header("Accept", "application/json, text/event-stream")
            .json(msg);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().expect("POST to the MCP server")
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn www_authenticate(res: &reqwest::blocking::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

#[test]
fn the_mcp_sdk_discovers_registers_signs_in_in_a_browser_and_calls_a_tool() {
    for db in databases() {
        let (user_id, _) = add_user(&db, "ada", "correct horse battery", &[]);
        let s = Server::start(&db);
        let a = McpServer::start(&s.issuer, "mcp:tools");
        let b = McpServer::start(&s.issuer, "mcp:tools");

        let seen = node_script(
            "mcp.mjs",
            &["@modelcontextprotocol/sdk", "playwright-core"],
            &[
                ("MCP_URL", a.resource.as_ref()),
                ("USERNAME", "ada".as_ref()),
                ("PASSWORD", "correct horse battery".as_ref()),
                ("CHROMIUM", chromium().as_os_str()),
            ],
        );

        // Without a token the server answered 401 and the SDK found its way:
        // our RFC 9728 document, Portcullis's RFC 8414 metadata, registration.
        assert_eq!(seen["first"], "UnauthorizedError");
        assert_eq!(
            seen["requests_before_authorization"],
            json!([
                format!("POST {}", a.resource),
                format!("GET {}", a.metadata),
                format!("GET {}/.well-known/oauth-authorization-server", s.issuer),
                format!("POST {}/oauth/register", s.issuer),
            ])
        );
        assert_eq!(seen["registered"]["token_endpoint_auth_method"], "none");
        assert_eq!(seen["registered"]["scope"], "mcp:tools");

        // The authorization request named the resource and used PKCE S256.
        let url = reqwest::Url::parse(seen["authorization_url"].as_str().unwrap()).unwrap();
        assert_eq!(
            url.as_str().split('?').next(),
            Some(&*format!("{}/oauth/authorize", s.issuer))
        );
        let q = |k: &str| -> Vec<String> {
            url.query_pairs()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .collect()
        };
        assert_eq!(q("resource"), [a.resource.as_str()], "RFC 8707");
        assert_eq!(q("code_challenge_method"), ["S256"], "RFC 7636");
        assert_eq!(q("code_challenge")[0].len(), 43);
        assert_eq!(q("scope"), ["mcp:tools"], "from scopes_supported");
        assert_eq!(
            q("client_id"),
            [seen["registered"]["client_id"].as_str().unwrap()]
        );

        // The person saw the consent page, and the code came back with `iss`.
        let consent = seen["consent_text"].as_str().unwrap();
        assert!(
            consent.contains("Allow MCP end-to-end client?"),
            "{consent}"
        );
        assert_eq!(seen["callback_iss"], s.issuer.as_str(), "RFC 9207");

        // After the exchange the tools work, and whoami is the user.
        assert_eq!(
            seen["requests_after_authorization"][2],
            format!("POST {}/oauth/token", s.issuer)
        );
        assert_eq!(seen["tools"], json!(["whoami"]));
        assert_eq!(seen["whoami"], user_id.as_str());
        assert_eq!(seen["scope"], "mcp:tools");

        // The token is an RFC 9068 JWT for resource A only.
        let token = seen["access_token"].as_str().unwrap();
        let (_, claims) = verify_jwt(&s, token, "at+jwt", |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.set_audience(&[&a.resource]);
            v
        });
        assert_eq!(claims["aud"], a.resource.as_str());
        assert_eq!(claims["sub"], user_id.as_str());

        // Resource A takes it; resource B, another resource of the same
        // issuer, refuses it (RFC 8707: the audience is A).
        let res = a.post(Some(token), &tools_list());
        assert_eq!(res.status(), 200);
        let res = b.post(Some(token), &tools_list());
        assert_eq!(res.status(), 401, "a token for A is refused by B");
        assert_eq!(
            www_authenticate(&res),
            format!(
                "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
                b.metadata
            )
        );
    }
}

/// A client made with the CLI, and a client-credentials token of it.
fn cc_token(s: &Server, db: &TestDb, scope: &str, resource: Option<&str>) -> (String, String) {
    let c = add_client(
        db,
        &["--grant-type", "client_credentials", "--scope", scope],
    );
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let (status, body) = s.token(Some(&c), &form);
    assert_eq!(status, 200, "{body}");
    (c.id, body["access_token"].as_str().unwrap().to_string())
}

#[test]
fn the_example_server_publishes_its_metadata_and_challenges_per_rfc_9728_and_6750() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let a = McpServer::start(&s.issuer, "mcp:tools");

    // RFC 9728 §3: the document, at the path-inserted well-known URL.
    let doc: Value = reqwest::blocking::get(&a.metadata).unwrap().json().unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": a.resource,
            "authorization_servers": [s.issuer],
            "scopes_supported": ["mcp:tools"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Portcullis example MCP server",
        })
    );

    // No token: 401 pointing at the document (RFC 9728 §5.1), no error code.
    let res = a.post(None, &tools_list());
    assert_eq!(res.status(), 401);
    assert_eq!(
        www_authenticate(&res),
        format!("Bearer resource_metadata=\"{}\"", a.metadata)
    );

    // A token of Portcullis without the resource (aud is the issuer): 401.
    let (_, no_aud) = cc_token(&s, &db, "mcp:tools", None);
    let res = a.post(Some(&no_aud), &tools_list());
    assert_eq!(res.status(), 401);
    assert!(www_authenticate(&res).starts_with("Bearer error=\"invalid_token\""));

    // The right audience without the scope: 403 naming it (RFC 6750 §3.1).
    let (_, narrow) = cc_token(&s, &db, "other", Some(&a.resource));
    let res = a.post(Some(&narrow), &tools_list());
    assert_eq!(res.status(), 403);
    assert_eq!(
        www_authenticate(&res),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"mcp:tools\", resource_metadata=\"{}\"",
            a.metadata
        )
    );

    // The right audience and scope: MCP answers; whoami is the client here.
    let (client_id, good) = cc_token(&s, &db, "mcp:tools", Some(&a.resource));
    let res = a.post(
        Some(&good),
        &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}}),
    );
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["result"]["content"][0]["text"], client_id.as_str());

    // A notification: 202, no body. An unknown method: JSON-RPC -32601.
    let res = a.post(
        Some(&good),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().unwrap(), "");
    let res = a.post(
        Some(&good),
        &json!({"jsonrpc": "2.0", "id": 8, "method": "nope"}),
    );
    assert_eq!(res.json::<Value>().unwrap()["error"]["code"], -32601);

    // A forged token (the signature of another) is refused.
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, sig) = narrow.rsplit_once('.').unwrap();
    let res = a.post(Some(&format!("{head}.{sig}")), &tools_list());
    assert_eq!(res.status(), 401);

    // No GET stream is offered (Streamable HTTP allows 405); a page of
    // another origin is refused (DNS rebinding).
    let http = reqwest::blocking::Client::new();
    let res = http.get(&a.resource).bearer_auth(&good).send().unwrap();
    assert_eq!(res.status(), 405);
    let res = http
        .post(&a.resource)
        .header("Origin", "http://evil.example")
        .bearer_auth(&good)
        .json(&tools_list())
        .send()
        .unwrap();
    assert_eq!(res.status(), 403);
}

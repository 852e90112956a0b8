//! `portcullis doctor <url>` against real servers: Portcullis itself, the
//! example MCP server in front of it, a Portcullis with registration and
//! client ID metadata documents off (an MCP client could not start), and an
//! address where nothing listens.

use std::process::Command;

use portcullis_e2e::{command, spawn_announced, target_bin, Server, TestDb};

/// (exit code, stdout, stderr)
fn doctor(url: &str) -> (i32, String, String) {
    let out = command().args(["doctor", url]).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn portcullis_itself_passes_every_step() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let (code, out, _) = doctor(&s.issuer);
    assert_eq!(code, 0, "{out}");
    for step in [
        "ok    authorization server metadata: ",
        "ok    PKCE: S256 advertised",
        "ok    registration: dynamic registration at ",
        "ok    JWKS: ",
        "ok    CORS: ",
    ] {
        assert!(out.contains(step), "{step:?} missing in\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn an_mcp_server_leads_to_its_authorization_server() {
    let db = TestDb::sqlite();
    let s = Server::start(&db);
    let mut cmd = Command::new(target_bin("mcp-resource-server"));
    cmd.args(["--bind", "127.0.0.1:0", "--issuer", &s.issuer]);
    let (mut child, started) = spawn_announced(&mut cmd, "mcp-resource-server");
    let resource = started["resource"].as_str().unwrap().to_string();
    let (code, out, _) = doctor(&resource);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok    protected resource: 401 names its metadata: "),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "resource {resource}, authorization server {}",
            s.issuer
        )),
        "{out}"
    );
    assert!(out.contains("ok    registration: "), "{out}");
}

#[test]
fn no_way_to_register_is_the_first_failing_step_with_its_fix() {
    let db = TestDb::sqlite();
    // Neither registration nor client ID metadata documents: no way in.
    let s = Server::start_with(
        &db,
        &[],
        &[
            ("PORTCULLIS_REGISTRATION__POLICY", "off"),
            ("PORTCULLIS_CLIENT_METADATA_DOCUMENTS__ENABLED", "false"),
        ],
    );
    let (code, out, err) = doctor(&s.issuer);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  registration: neither registration_endpoint"),
        "{out}"
    );
    assert!(
        out.contains("fix: enable dynamic client registration"),
        "{out}"
    );
    // It stops at the first failure.
    assert!(!out.contains("JWKS"), "{out}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
}

#[test]
fn nothing_listening_fails_plainly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (code, out, _) = doctor(&url);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  authorization server metadata: none of "),
        "{out}"
    );
    let (code, out, _) = doctor("mcp.example.com/mcp");
    assert_eq!(code, 1);
    assert!(out.contains("is not an absolute http(s) URL"), "{out}");
}

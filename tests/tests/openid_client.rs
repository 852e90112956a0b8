//! openid-client (npm), the certified relying-party library, as a real
//! client: discovery, client_credentials, introspection (RFC 7662) and
//! revocation (RFC 7009) against the real binary. `scripts/test` installs
//! it (`npm ci` in tests/node) when missing.

use std::process::Command;

use portcullis_e2e::{add_client, databases, Server};
use serde_json::Value;

#[test]
fn openid_client_discovers_gets_introspects_and_revokes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    assert!(
        dir.join("node_modules/openid-client").is_dir(),
        "openid-client is not installed: run `npm ci --prefix tests/node` (scripts/test does)"
    );
    for db in databases() {
        let c = add_client(
            &db,
            &[
                "--grant-type",
                "client_credentials",
                "--scope",
                "api",
                "--access-token-format",
                "opaque",
            ],
        );
        let s = Server::start(&db);
        let out = Command::new("node")
            .arg(dir.join("interop.mjs"))
            .env("PORTCULLIS_ISSUER", &s.issuer)
            .env("CLIENT_ID", &c.id)
            .env("CLIENT_SECRET", c.secret.as_deref().unwrap())
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "openid-client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
        assert_eq!(seen["issuer"], s.issuer.as_str());
        assert_eq!(
            seen["token_type"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref(),
            Some("bearer")
        );
        assert_eq!(seen["scope"], "api");
        assert_eq!(seen["live_active"], true);
        assert_eq!(seen["live_client_id"], c.id.as_str());
        assert_eq!(seen["revoked_active"], false);
    }
}

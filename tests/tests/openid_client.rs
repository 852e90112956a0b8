//! openid-client (npm), the certified relying-party library, as a real
//! client: discovery, client_credentials, introspection (RFC 7662) and
//! revocation (RFC 7009) against the real binary. `scripts/test` installs
//! it (`npm ci` in tests/node) when missing.

use portcullis_e2e::{add_client, databases, node_script, Server};

#[test]
fn openid_client_discovers_gets_introspects_and_revokes() {
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
        let seen = node_script(
            "interop.mjs",
            &["openid-client"],
            &[
                ("PORTCULLIS_ISSUER", s.issuer.as_ref()),
                ("CLIENT_ID", c.id.as_ref()),
                ("CLIENT_SECRET", c.secret.as_deref().unwrap().as_ref()),
            ],
        );
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

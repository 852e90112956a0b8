//! openid-client (npm), the certified relying-party library, as a real
//! client: discovery, client_credentials, introspection (RFC 7662) and
//! revocation (RFC 7009), the device authorization grant (RFC 8628) and
//! pushed authorization requests (RFC 9126)
//! against the real binary. `scripts/test` installs
//! it (`npm ci` in tests/node) when missing.

use portcullis_e2e::{
    add_client, add_user, answer_device, browser_like, databases, node_script, sign_in_and_approve,
    NodeSession, Server,
};

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

/// RFC 8628 with openid-client: `initiateDeviceAuthorization`, then
/// `pollDeviceAuthorizationGrant` while the person approves on the pages.
#[test]
fn openid_client_device_authorization_grant() {
    for db in databases() {
        let c = add_client(
            &db,
            &[
                "--public",
                "--grant-type",
                "urn:ietf:params:oauth:grant-type:device_code",
                "--scope",
                "openid offline_access",
            ],
        );
        let (user_id, _) = add_user(&db, "alice", "pw", &[]);
        let s = Server::start(&db);
        let mut node = NodeSession::start(
            "device.mjs",
            &["openid-client"],
            &[
                ("PORTCULLIS_ISSUER", s.issuer.as_ref()),
                ("CLIENT_ID", c.id.as_ref()),
            ],
        );
        let started = node.line();
        assert_eq!(
            started["device_authorization_endpoint"],
            format!("{}/oauth/device_authorization", s.issuer)
        );
        assert_eq!(started["verification_uri"], format!("{}/device", s.issuer));
        assert_eq!(started["interval"], 5);
        let user_code = started["user_code"].as_str().unwrap();
        let done = answer_device(&s, &browser_like(), user_code, "alice", "pw", true);
        assert!(done.contains("Device connected"), "{done}");

        let seen = node.finish();
        assert_eq!(seen["sub"], user_id.as_str());
        assert_eq!(seen["iss"], s.issuer.as_str());
        assert_eq!(seen["aud"], c.id.as_str());
        assert_eq!(seen["scope"], "offline_access openid");
        assert_eq!(seen["has_refresh_token"], true);
        assert_eq!(s.me_status(seen["access_token"].as_str().unwrap()), 200);
    }
}

/// RFC 9126 with openid-client: `buildAuthorizationUrlWithPAR` pushes the
/// request (Basic authentication) and builds the URL with `request_uri`;
/// the person signs in and approves; `authorizationCodeGrant` exchanges the
/// code with PKCE and checks `state`, `iss` and the ID token.
#[test]
fn openid_client_pushed_authorization_request() {
    for db in databases() {
        let cb = "http://127.0.0.1:43210/cb";
        let c = add_client(
            &db,
            &[
                "--redirect-uri",
                "http://127.0.0.1/cb",
                "--grant-type",
                "authorization_code",
                "--scope",
                "openid email",
                "--require-par",
            ],
        );
        let (user_id, _) = add_user(&db, "alice", "pw", &[]);
        let s = Server::start(&db);
        let mut node = NodeSession::start(
            "par.mjs",
            &["openid-client"],
            &[
                ("PORTCULLIS_ISSUER", s.issuer.as_ref()),
                ("CLIENT_ID", c.id.as_ref()),
                ("CLIENT_SECRET", c.secret.as_deref().unwrap().as_ref()),
                ("REDIRECT_URI", cb.as_ref()),
            ],
        );
        let started = node.line();
        assert_eq!(
            started["pushed_authorization_request_endpoint"],
            format!("{}/oauth/par", s.issuer)
        );
        let url = started["url"].as_str().unwrap();
        assert!(url.contains("request_uri=urn"), "{url}");
        assert!(!url.contains("code_challenge"), "{url}");

        let http = browser_like();
        let page = http.get(url).send().unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().unwrap();
        let done = sign_in_and_approve(&http, &s.base, &html, "alice", "pw");
        assert_eq!(done.status(), 303);
        let location = done.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(cb), "{location}");
        node.send(&location);

        let seen = node.finish();
        assert_eq!(seen["sub"], user_id.as_str());
        assert_eq!(seen["iss"], s.issuer.as_str());
        assert_eq!(seen["aud"], c.id.as_str());
        assert_eq!(seen["scope"], "email openid");
        assert_eq!(s.me_status(seen["access_token"].as_str().unwrap()), 200);
    }
}

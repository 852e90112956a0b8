//! The `portcullis` CLI, run as a real process: JSON on stdout, one line on
//! stderr and exit code 1 or 2 on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_e2e::{cli, cli_json, command, databases, Server, TestDb};
use serde_json::Value;

#[test]
fn user_add_and_list() {
    for db in databases() {
        let u = cli_json(
            &db,
            &[
                "user",
                "add",
                "--username",
                "alice",
                "--email",
                "alice@example.com",
                "--admin",
                "--password-stdin",
            ],
            "pw-alice\n",
        );
        let id = u["id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "a UUID");
        assert_eq!(u["admin"], true);
        assert!(u.get("totp").is_none());
        let list = cli_json(&db, &["user", "list"], "");
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["id"], id);
        assert_eq!(list[0]["email"], "alice@example.com");
        let text = list[0].to_string();
        assert!(
            !text.contains("argon2") && !text.contains("pw-alice"),
            "no hash or password in output"
        );
        // Duplicate username: runtime failure, exit 1, one line.
        let dup = cli(
            &db,
            &["user", "add", "--username", "alice", "--password-stdin"],
            "x\n",
        );
        assert_eq!(dup.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&dup.stderr).trim().lines().count(),
            1
        );
    }
}

#[test]
fn user_add_with_totp_prints_the_secret_and_otpauth_uri() {
    let db = TestDb::sqlite();
    let u = cli_json(
        &db,
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--totp",
            "--password-stdin",
        ],
        "pw",
    );
    let secret = u["totp"]["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160-bit secret in base32");
    let uri = u["totp"]["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")));
    assert_eq!(
        cli_json(&db, &["user", "list"], "")[0]["totp_enabled"],
        true
    );
}

#[test]
fn user_add_without_password_stdin_is_bad_usage() {
    let db = TestDb::sqlite();
    let out = cli(&db, &["user", "add", "--username", "carol"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
    let out = cli(
        &db,
        &["user", "add", "--username", "carol", "--password-stdin"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "empty password");
}

#[test]
fn client_add_confidential_and_public_and_list() {
    for db in databases() {
        let c = cli_json(
            &db,
            &[
                "client",
                "add",
                "--name",
                "Billing",
                "--grant-type",
                "client_credentials",
                "--scope",
                "api:read api:write",
                "--access-token-format",
                "opaque",
                "--signing-alg",
                "ES256",
            ],
            "",
        );
        assert!(c["client_secret"].as_str().is_some_and(|s| s.len() >= 43));
        assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(c["grant_types"], serde_json::json!(["client_credentials"]));
        assert_eq!(c["scope"], "api:read api:write");
        assert_eq!(c["access_token_format"], "opaque");
        assert_eq!(c["signing_alg"], "ES256");
        let p = cli_json(
            &db,
            &[
                "client",
                "add",
                "--name",
                "CLI",
                "--public",
                "--redirect-uri",
                "http://127.0.0.1/cb",
            ],
            "",
        );
        assert!(p.get("client_secret").is_none());
        assert_eq!(p["token_endpoint_auth_method"], "none");
        assert_eq!(p["application_type"], "native");
        let list = cli_json(&db, &["client", "list"], "");
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert!(
            !list.iter().any(|c| c.get("client_secret").is_some()),
            "list never shows secrets"
        );
        assert!(!Value::Array(list.clone())
            .to_string()
            .contains(c["client_secret"].as_str().unwrap()));
    }
}

#[test]
fn client_add_refuses_bad_input_with_exit_2() {
    let db = TestDb::sqlite();
    for args in [
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "http://evil.example/cb",
        ][..],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--public",
            "--grant-type",
            "client_credentials",
        ],
        &["client", "add", "--name", "X", "--grant-type", "implicit"],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--signing-alg",
            "HS256",
            "--redirect-uri",
            "https://a.example/cb",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--public",
            "--auth-method",
            "client_secret_post",
        ],
        &["client", "add"],
    ] {
        let out = cli(&db, args, "");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        cli_json(&db, &["client", "list"], ""),
        serde_json::json!([])
    );
}

#[test]
fn keys_rotate_publishes_at_once_and_signs_later() {
    for db in databases() {
        // First use creates the keys (serve does it at start).
        drop(Server::start(&db));
        let before = cli_json(&db, &["keys", "list"], "");
        assert_eq!(before.as_array().unwrap().len(), 3);
        assert!(before
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["state"] == "active"));
        let rotated = cli_json(&db, &["keys", "rotate", "--alg", "RS256"], "");
        let new_kid = rotated["rotated"][0]["kid"].as_str().unwrap().to_string();
        assert_eq!(rotated["rotated"][0]["state"], "pending");
        let keys = rotated["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 4);
        let old_rs = keys
            .iter()
            .find(|k| k["alg"] == "RS256" && k["kid"] != new_kid.as_str())
            .unwrap();
        assert_eq!(
            old_rs["state"], "active",
            "the old key signs until the new one activates"
        );
        assert!(
            old_rs["retires_at"].as_i64().unwrap()
                > rotated["rotated"][0]["activates_at"].as_i64().unwrap()
        );
        // A server started now publishes both RS256 keys.
        let s = Server::start(&db);
        let jwks = s.get_json("/oauth/jwks");
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids.len(), 4);
        assert!(kids.contains(&new_kid.as_str()));
    }
}

#[test]
fn migrate_is_idempotent() {
    for db in databases() {
        let out = cli(&db, &["migrate"], "");
        assert!(out.status.success());
        let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let applied = first["applied"].as_array().unwrap();
        assert!(applied.len() >= 3, "{first}");
        assert!(applied[0].as_str().unwrap().ends_with("_init"), "{first}");
        // Progress on stderr, one line before and one after each migration.
        let progress = String::from_utf8_lossy(&out.stderr);
        let n = applied.len();
        assert!(
            progress.contains(&format!("migration 1/{n}: 00000000000001_init ...")),
            "{progress}"
        );
        assert!(
            progress.contains(&format!("migration {n}/{n}: ")),
            "{progress}"
        );
        assert_eq!(progress.matches(" done in ").count(), n, "{progress}");
        // A second run finds nothing to do and says nothing.
        let again = cli(&db, &["migrate"], "");
        assert!(
            again.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            cli_json(&db, &["migrate"], "")["applied"],
            serde_json::json!([])
        );
    }
}

#[test]
fn bad_usage_exits_2() {
    let out = command().args(["no-such-command"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = command()
        .args([
            "keys",
            "rotate",
            "--alg",
            "none",
            "--database-url",
            TestDb::sqlite().url.as_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

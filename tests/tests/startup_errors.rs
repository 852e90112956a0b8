//! `serve` refuses bad settings with one line naming the key or URL and
//! exit code 2, never a panic trace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Output;

use portcullis_e2e::{command, Server, TestDb};

fn serve(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    serve_url(&db.url, args, env)
}

fn serve_url(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command();
    cmd.args(["--database-url", url]).args(args);
    if !args.contains(&"serve") {
        cmd.args(["serve", "--bind", "127.0.0.1:0"]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Any config that does start must not hang the test.
    cmd.env("PORTCULLIS_BIND", "127.0.0.1:0");
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    });
    let out = child.wait_with_output().unwrap();
    drop(killer);
    out
}

fn assert_refused(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "stderr should name {needle:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn issuer_with_trailing_slash_query_or_fragment_is_refused() {
    let db = TestDb::sqlite();
    for issuer in [
        "https://a.example/",
        "https://a.example?x=1",
        "https://a.example#f",
    ] {
        assert_refused(&serve(&db, &[], &[("PORTCULLIS_ISSUER", issuer)]), "issuer");
    }
}

#[test]
fn unknown_key_and_malformed_values_are_refused() {
    let db = TestDb::sqlite();
    assert_refused(
        &serve(&db, &[], &[("PORTCULLIS_NO_SUCH_SETTING", "1")]),
        "no_such_setting",
    );
    assert_refused(
        &serve(&db, &[], &[("PORTCULLIS_DATABASE__POOL_SIZE", "many")]),
        "pool_size",
    );
    let dir = std::env::temp_dir().join(format!("portcullis-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(b"[tokens]\naccess_token_lifetime = 5\n")
        .unwrap();
    assert_refused(
        &serve(&db, &["--config", file.to_str().unwrap()], &[]),
        "access_token_lifetime",
    );
    assert_refused(
        &serve(&db, &["--config", "/nonexistent/portcullis.toml"], &[]),
        "portcullis.toml",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unreachable_database_is_refused_naming_the_url_without_its_password() {
    let url = "postgres://someone:hunter2@127.0.0.1:1/nothing";
    let out = serve_url(
        url,
        &[],
        &[("PORTCULLIS_DATABASE__CONNECT_TIMEOUT_SECS", "2")],
    );
    assert_refused(&out, "127.0.0.1:1");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

#[test]
fn settings_layer_defaults_file_env_flags() {
    let db = TestDb::sqlite();
    let dir = std::env::temp_dir().join(format!("portcullis-layer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(&file, "issuer = \"https://from-file.example\"\n").unwrap();
    let cfg = file.to_str().unwrap();
    // file beats default
    let s = Server::start_with(&db, &["--config", cfg], &[]);
    assert_eq!(s.issuer, "https://from-file.example");
    drop(s);
    // env beats file
    let s = Server::start_with(
        &db,
        &["--config", cfg],
        &[("PORTCULLIS_ISSUER", "https://from-env.example")],
    );
    assert_eq!(s.issuer, "https://from-env.example");
    drop(s);
    // flag beats env
    let s = Server::start_with(
        &db,
        &["--config", cfg, "--issuer", "https://from-flag.example"],
        &[("PORTCULLIS_ISSUER", "https://from-env.example")],
    );
    assert_eq!(s.issuer, "https://from-flag.example");
    assert_eq!(
        s.get_json("/.well-known/openid-configuration")["issuer"],
        "https://from-flag.example"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn encrypted_keys_need_the_key_encryption_key() {
    let db = TestDb::sqlite();
    let kek = (
        "PORTCULLIS_KEY_ENCRYPTION_KEY",
        "an encryption key of enough length 0123456789",
    );
    let s = Server::start_with(&db, &[], &[kek]);
    let jwks = s.get_json("/oauth/jwks");
    drop(s);
    // Same key: starts and serves the same keys.
    assert_eq!(
        Server::start_with(&db, &[], &[kek]).get_json("/oauth/jwks"),
        jwks
    );
    // No key: refused, naming the setting.
    assert_refused(&serve(&db, &[], &[]), "key_encryption_key");
}

//! Secrets at rest and in logs: every flow runs once (passwords, TOTP,
//! password grant with a code, authorization code with PKCE over the
//! sign-in pages, the login API, refresh, client credentials, dynamic
//! registration and its management, a personal access token and its token
//! exchange, introspection, revocation, the admin API, an initial access
//! token), every secret seen on the way is collected, and then the database
//! (SQLite: the file, its write-ahead log and a dump of every table;
//! PostgreSQL: a dump of every table) and the server's whole output at log
//! level `trace` are searched for each of them. None may be there in clear.
//! Private signing keys, TOTP secrets and the server's derivation key are
//! sealed with `key_encryption_key`; without it they are in clear, but keys
//! and TOTP secrets only in their own columns (as docs/security.md says).

use std::io::Write;

use portcullis_e2e::{
    add_client, approve, browser_like, cli_json, databases, location_params, param, sign_in,
    Server, TestClient, TestDb,
};
use serde_json::{json, Value};
use sha2::Digest;

const SAM_PW: &str = "sam-Pa55word-7d1e";
const ADA_PW: &str = "ada-Pa55word-93c0";
const WRONG_PW: &str = "wrong-Pa55word-4b2a";
const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
const KEK: &str = "kek-for-the-secrets-test-0123456789abcdef";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What one run saw.
struct Seen {
    /// (what, value): none may be stored or logged in clear.
    secrets: Vec<(String, String)>,
    totp_secret: String,
    /// The server's stdout and stderr.
    log: String,
    /// SQLite: the file, `-wal` and `-shm` bytes as the server left them.
    files: Vec<u8>,
    /// Every row of every table.
    dump: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn s256(v: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

fn str_of(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_string()
}

fn client(db: &TestDb, args: &[&str], what: &str, seen: &mut Vec<(String, String)>) -> TestClient {
    let c = add_client(db, args);
    seen.push((format!("{what} client secret"), c.secret.clone().unwrap()));
    c
}

/// Run every flow on `db`, with or without a key encryption key.
fn run(db: &TestDb, kek: bool) -> Seen {
    let mut secrets: Vec<(String, String)> = Vec::new();
    // The CLI seals TOTP secrets with the key from a settings file.
    // One file per test (they run in parallel threads of one process).
    let config = std::env::temp_dir().join(format!(
        "portcullis-secrets-{}-{kek}.toml",
        std::process::id()
    ));
    let mut f = std::fs::File::create(&config).unwrap();
    if kek {
        writeln!(f, "key_encryption_key = \"{KEK}\"").unwrap();
    }
    drop(f);
    let config_arg = config.display().to_string();
    let user = |name: &str, pw: &str, extra: &[&str]| {
        let mut args = vec!["--config", config_arg.as_str(), "user", "add"];
        args.extend_from_slice(&["--username", name, "--password-stdin"]);
        args.extend_from_slice(extra);
        cli_json(db, &args, pw)
    };
    let sam = user("sam", SAM_PW, &["--totp", "--admin"]);
    let totp_secret = str_of(&sam["totp"], "secret");
    user("ada", ADA_PW, &[]);
    secrets.push(("sam's password".into(), SAM_PW.into()));
    secrets.push(("ada's password".into(), ADA_PW.into()));
    secrets.push(("a wrong password".into(), WRONG_PW.into()));
    secrets.push(("PKCE verifier".into(), VERIFIER.into()));

    let ops = client(
        db,
        &[
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile admin api:read offline_access",
        ],
        "password grant",
        &mut secrets,
    );
    let app = client(
        db,
        &[
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile offline_access api:read",
        ],
        "web app",
        &mut secrets,
    );
    let svc = client(
        db,
        &["--grant-type", "client_credentials", "--scope", "api:read"],
        "service",
        &mut secrets,
    );
    let gw = client(
        db,
        &["--grant-type", EXCHANGE, "--scope", "api:read"],
        "gateway",
        &mut secrets,
    );
    let iat = cli_json(db, &["registration-token", "create"], "");
    secrets.push(("initial access token".into(), str_of(&iat, "token")));

    let mut env = vec![("PORTCULLIS_LOG_LEVEL", "trace")];
    if kek {
        env.push(("PORTCULLIS_KEY_ENCRYPTION_KEY", KEK));
    }
    let s = Server::start_logged(db, &env);

    // Password grant with a TOTP code; a wrong password first.
    let (status, _) = s.token(
        Some(&ops),
        &[
            ("grant_type", "password"),
            ("username", "sam"),
            ("password", WRONG_PW),
        ],
    );
    assert_eq!(status, 400);
    let code = portcullis_core::totp::code_at(&totp_secret, now()).unwrap();
    let (status, body) = s.token(
        Some(&ops),
        &[
            ("grant_type", "password"),
            ("username", "sam"),
            ("password", SAM_PW),
            ("otp", &code),
            ("scope", "openid admin api:read"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let admin = str_of(&body, "access_token");
    secrets.push(("password grant access token".into(), admin.clone()));
    secrets.push((
        "password grant refresh token".into(),
        str_of(&body, "refresh_token"),
    ));

    // The direct login API.
    let res = s.login_api(&json!({"username": "ada", "password": ADA_PW}));
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    secrets.push(("login API token".into(), str_of(&body, "token")));
    secrets.push((
        "login API refresh token".into(),
        str_of(&body, "refresh_token"),
    ));

    // Authorization code with PKCE over the sign-in and consent pages.
    let http = browser_like();
    let url = reqwest::Url::parse_with_params(
        &s.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("redirect_uri", "http://127.0.0.1:5000/cb"),
            ("scope", "openid profile offline_access api:read"),
            ("state", "st"),
            ("nonce", "n"),
            ("code_challenge", &s256(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let consent = sign_in(&s, &http, url.as_str(), "ada", ADA_PW);
    let back = location_params(&approve(&s, &http, &consent));
    let auth_code = param(&back, "code").expect("a code").to_string();
    secrets.push(("authorization code".into(), auth_code.clone()));
    let (status, body) = s.token(
        Some(&app),
        &[
            ("grant_type", "authorization_code"),
            ("code", &auth_code),
            ("redirect_uri", "http://127.0.0.1:5000/cb"),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let ada_at = str_of(&body, "access_token");
    secrets.push(("code access token".into(), ada_at.clone()));
    let refresh = str_of(&body, "refresh_token");
    secrets.push(("code refresh token".into(), refresh.clone()));

    // Refresh.
    let (status, body) = s.token(
        Some(&app),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!(status, 200, "{body}");
    secrets.push((
        "refreshed access token".into(),
        str_of(&body, "access_token"),
    ));
    let refreshed = str_of(&body, "refresh_token");
    secrets.push(("rotated refresh token".into(), refreshed.clone()));

    // Client credentials.
    let (status, body) = s.token(Some(&svc), &[("grant_type", "client_credentials")]);
    assert_eq!(status, 200, "{body}");
    secrets.push((
        "client credentials token".into(),
        str_of(&body, "access_token"),
    ));

    // Dynamic registration and its management.
    let reg: Value = s
        .http
        .post(s.url("/oauth/register"))
        .json(&json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rat = str_of(&reg, "registration_access_token");
    secrets.push((
        "registered client secret".into(),
        str_of(&reg, "client_secret"),
    ));
    secrets.push(("registration access token".into(), rat.clone()));
    let read = s
        .http
        .get(s.url(&format!("/oauth/register/{}", str_of(&reg, "client_id"))))
        .bearer_auth(&rat)
        .send()
        .unwrap();
    assert_eq!(read.status(), 200);

    // A personal access token, exchanged for a JWT.
    let made: Value = s
        .http
        .post(s.url("/api/pats"))
        .bearer_auth(&admin)
        .json(&json!({"name": "ci", "scopes": ["api:read"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let pat = str_of(&made, "token");
    secrets.push(("personal access token".into(), pat.clone()));
    let (status, body) = s.token(
        Some(&gw),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &pat),
            ("subject_token_type", AT_TYPE),
            ("audience", "orders"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    secrets.push(("exchanged token".into(), str_of(&body, "access_token")));

    // Introspection and revocation.
    let (status, body) = s.introspect(Some(&svc), &[("token", &ada_at)]);
    assert_eq!((status, body["active"].as_bool()), (200, Some(true)));
    let (status, _) = s.introspect(Some(&svc), &[("token", &pat)]);
    assert_eq!(status, 200);
    let (status, _) = s.revoke(Some(&app), &[("token", &refreshed)]);
    assert_eq!(status, 200);

    // The admin API: read, and a new client secret.
    let users = s
        .http
        .get(s.url("/admin/api/users"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(users.status(), 200);
    let rotated: Value = s
        .http
        .post(s.url(&format!("/admin/api/clients/{}/secret", svc.id)))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    secrets.push((
        "rotated client secret".into(),
        str_of(&rotated, "client_secret"),
    ));

    let log = s.stop();
    let _ = std::fs::remove_file(&config);
    let mut files = Vec::new();
    if let Some(path) = db.sqlite_path() {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            files.extend(std::fs::read(p).unwrap_or_default());
        }
    }
    let dump = db.dump();
    if let Some(path) = db.sqlite_path() {
        // After the checkpoint: the file holds everything.
        files.extend(std::fs::read(path).unwrap());
    }
    Seen {
        secrets,
        totp_secret,
        log,
        files,
        dump,
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn hex(v: &str) -> String {
    v.bytes().map(|b| format!("{b:02x}")).collect()
}

/// No collected secret (nor its hex form) is in the log or the database.
fn assert_no_secret_in_clear(seen: &Seen, backend: &str) {
    assert!(seen.log.contains("request"), "the log was captured");
    assert!(seen.dump.contains("users\t"), "the dump has rows");
    for (what, value) in &seen.secrets {
        assert!(value.len() >= 8, "{what}: {value}");
        for form in [value.clone(), hex(value)] {
            assert!(!seen.log.contains(&form), "{backend}: {what} in the log");
            assert!(!seen.dump.contains(&form), "{backend}: {what} in a table");
            assert!(
                !contains(&seen.files, &form),
                "{backend}: {what} in the SQLite files"
            );
        }
    }
    assert!(
        !seen.log.contains(&seen.totp_secret),
        "{backend}: TOTP secret in the log"
    );
    assert!(
        !seen.log.contains("PRIVATE KEY"),
        "{backend}: key in the log"
    );
}

/// The stored value of the server secret `name`.
fn server_secret(dump: &str, name: &str) -> String {
    dump.lines()
        .filter_map(|l| l.strip_prefix("server_secrets\t"))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|row| row["name"] == name)
        .and_then(|row| row["value"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{name} in server_secrets"))
}

fn backend(db: &TestDb) -> &'static str {
    if db.sqlite_path().is_some() {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

/// The dump's lines that contain `needle`, by table.
fn tables_with<'a>(dump: &'a str, needle: &str) -> Vec<&'a str> {
    let mut t: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains(needle))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    t.dedup();
    t
}

#[test]
fn no_secret_is_stored_or_logged_in_clear_and_the_kek_seals_keys_and_totp_secrets() {
    for db in databases() {
        let backend = backend(&db);
        let seen = run(&db, true);
        assert_no_secret_in_clear(&seen, backend);
        for clear in [seen.totp_secret.as_str(), "PRIVATE KEY"] {
            assert!(!seen.dump.contains(clear), "{backend}: {clear} at rest");
            assert!(
                !contains(&seen.files, clear),
                "{backend}: {clear} in the files"
            );
        }
        // The server's own key (CSRF tokens, pending sign-ins, refresh
        // successors) is sealed too.
        let derive = server_secret(&seen.dump, "refresh_derive_key");
        assert!(
            derive.starts_with("enc:v1:"),
            "{backend}: refresh_derive_key in clear"
        );
        for line in seen
            .dump
            .lines()
            .filter(|l| l.starts_with("signing_keys\t"))
        {
            assert!(
                !line.contains("\"d\":") && !line.contains("\\\"d\\\":"),
                "{backend}: a private JWK member at rest: {line:.200}"
            );
        }
    }
}

#[test]
fn without_a_kek_keys_and_totp_secrets_are_in_clear_in_their_own_columns_only() {
    for db in databases() {
        let backend = backend(&db);
        let seen = run(&db, false);
        assert_no_secret_in_clear(&seen, backend);
        assert_eq!(
            tables_with(&seen.dump, &seen.totp_secret),
            ["users"],
            "{backend}"
        );
        let users: Vec<Value> = seen
            .dump
            .lines()
            .filter_map(|l| l.strip_prefix("users\t"))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            users
                .iter()
                .any(|u| u["totp_secret"].as_str() == Some(seen.totp_secret.as_str())),
            "{backend}: the TOTP secret is users.totp_secret"
        );
        assert_eq!(
            tables_with(&seen.dump, "PRIVATE KEY"),
            ["signing_keys"],
            "{backend}"
        );
        let derive = server_secret(&seen.dump, "refresh_derive_key");
        assert!(
            !derive.starts_with("enc:v1:"),
            "{backend}: clear without a KEK"
        );
    }
}

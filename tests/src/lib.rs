//! Harness for end-to-end tests: runs the real `portcullis` binary (built
//! by `cargo build --bin portcullis`, which the README's test command does
//! first) against a fresh SQLite file or a fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub use portcullis_storage::testing::TestDb;
use serde_json::Value;

/// The `portcullis` binary next to this test executable's directory
/// (`target/<profile>/deps/<test>` -> `target/<profile>/portcullis`).
pub fn bin() -> PathBuf {
    target_bin("portcullis")
}

/// A binary of this workspace, built into the same target directory as the
/// tests (`cargo build --bin <name>`, which `scripts/test` does first).
pub fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build --bin {name}` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// Debian's Chromium for the browser tests: `PORTCULLIS_TEST_CHROMIUM`, or
/// `chromium` found on `PATH`.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PORTCULLIS_TEST_CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .expect("chromium not found on PATH: install Debian's chromium (.ci/run does) or set PORTCULLIS_TEST_CHROMIUM")
}

/// Run `node tests/node/<script>` with `env`, after checking that the npm
/// `packages` it imports are installed (`scripts/test` runs `npm ci` in
/// tests/node when one is missing). It must succeed and print one JSON line:
/// that line, parsed.
pub fn node_script(script: &str, packages: &[&str], env: &[(&str, &OsStr)]) -> Value {
    let out = node_command(script, packages, env)
        .output()
        .expect("node runs");
    json_output(&out, script)
}

/// `node tests/node/<script>` with `env`, once `packages` are installed.
pub fn node_command(script: &str, packages: &[&str], env: &[(&str, &OsStr)]) -> Command {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    for pkg in packages {
        assert!(
            dir.join("node_modules").join(pkg).is_dir(),
            "{pkg} is not installed: run `npm ci --prefix tests/node` (scripts/test does)"
        );
    }
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script)).envs(env.iter().copied());
    cmd
}

/// The output of a process that must succeed and print JSON: that JSON.
fn json_output(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {what} is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The databases a test runs on: SQLite always; PostgreSQL when
/// `PORTCULLIS_TEST_DATABASE_URL` is set (and then it must answer).
pub fn databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    match TestDb::postgres() {
        Some(pg) => dbs.push(pg),
        None => eprintln!(
            "PostgreSQL part of this test did not run: PORTCULLIS_TEST_DATABASE_URL is not set"
        ),
    }
    dbs
}

/// A command of the CLI, without the `PORTCULLIS_*` variables of the
/// environment the tests run in (so a developer's settings do not leak in).
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Run `portcullis <args>` against `db`, feeding `stdin`.
pub fn cli(db: &TestDb, args: &[&str], stdin: &str) -> Output {
    let mut child = command()
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portcullis");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Run a CLI command that must succeed; its stdout parsed as JSON.
pub fn cli_json(db: &TestDb, args: &[&str], stdin: &str) -> Value {
    json_output(&cli(db, args, stdin), &format!("portcullis {args:?}"))
}

/// Spawn a server that announces itself with one JSON line on stdout (its
/// address); that line, parsed. Its stderr goes to the test's.
pub fn spawn_announced(cmd: &mut Command, what: &str) -> (Child, Value) {
    let (child, started, _) = spawn_with_log(cmd, what, None);
    (child, started)
}

/// The output a [`Server::start_logged`] server has written so far.
type Log = Arc<Mutex<Vec<u8>>>;

/// [`spawn_announced`]; with `log`, the rest of stdout and all of stderr
/// are kept there (by the returned threads) instead of going to the test's.
fn spawn_with_log(
    cmd: &mut Command,
    what: &str,
    log: Option<Log>,
) -> (Child, Value, Vec<std::thread::JoinHandle<()>>) {
    let stderr = if log.is_some() {
        Stdio::piped()
    } else {
        Stdio::inherit()
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let mut readers = Vec::new();
    let keep = log.clone();
    readers.push(std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        if let Some(log) = keep {
            copy_into(reader, &log);
        }
    }));
    if let (Some(log), Some(stderr)) = (log, child.stderr.take()) {
        readers.push(std::thread::spawn(move || copy_into(stderr, &log)));
    }
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(l) if !l.is_empty() => l,
        other => {
            let _ = child.kill();
            let status = child.wait().ok();
            panic!("{what} did not start ({other:?}, exit {status:?})");
        }
    };
    let started = serde_json::from_str(&line).expect("first stdout line is JSON");
    (child, started, readers)
}

/// Append everything `from` yields to `log`, until it ends.
fn copy_into(mut from: impl std::io::Read, log: &Log) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        log.lock().expect("log lock").extend_from_slice(&buf[..n]);
    }
}

/// A running server. Killed on drop.
pub struct Server {
    child: Child,
    /// Its output, for [`Server::start_logged`].
    log: Option<(Log, Vec<std::thread::JoinHandle<()>>)>,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub issuer: String,
    pub http: reqwest::blocking::Client,
}

impl Server {
    /// `portcullis serve --bind 127.0.0.1:0` on `db`.
    pub fn start(db: &TestDb) -> Server {
        Self::start_with(db, &[], &[])
    }

    pub fn start_with(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::spawn(db, args, env, None)
    }

    /// [`Server::start_with`], keeping everything the server writes to
    /// stdout (after its first line) and stderr: [`Server::stop`] returns it.
    pub fn start_logged(db: &TestDb, env: &[(&str, &str)]) -> Server {
        Self::spawn(db, &[], env, Some(Log::default()))
    }

    fn spawn(db: &TestDb, args: &[&str], env: &[(&str, &str)], log: Option<Log>) -> Server {
        let mut cmd = command();
        cmd.args(["--database-url", &db.url, "serve", "--bind", "127.0.0.1:0"])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, started, readers) = spawn_with_log(&mut cmd, "portcullis serve", log.clone());
        let addr = started["listening"]
            .as_str()
            .expect("listening")
            .to_string();
        let issuer = started["issuer"].as_str().expect("issuer").to_string();
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Server {
            child,
            log: log.map(|l| (l, readers)),
            base: format!("http://{addr}"),
            issuer,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.http.get(self.url(path)).send().expect("GET")
    }

    pub fn get_json(&self, path: &str) -> Value {
        let res = self.get(path);
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().expect("JSON body")
    }
}

impl Server {
    /// Kill the server and wait for it; everything it wrote, for a
    /// [`Server::start_logged`] server (else nothing).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Some((log, readers)) = self.log.take() else {
            return String::new();
        };
        for r in readers {
            let _ = r.join();
        }
        let bytes = log.lock().expect("log lock").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client made with `portcullis client add`: its id and secret.
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

/// `portcullis client add --name test <args>`.
pub fn add_client(db: &TestDb, args: &[&str]) -> TestClient {
    let mut all = vec!["client", "add", "--name", "test"];
    all.extend_from_slice(args);
    let c = cli_json(db, &all, "");
    TestClient {
        id: c["client_id"].as_str().unwrap().to_string(),
        secret: c["client_secret"].as_str().map(str::to_string),
    }
}

/// `portcullis user add`; returns (id, TOTP secret if `--totp`).
pub fn add_user(
    db: &TestDb,
    username: &str,
    password: &str,
    extra: &[&str],
) -> (String, Option<String>) {
    let mut all = vec!["user", "add", "--username", username, "--password-stdin"];
    all.extend_from_slice(extra);
    let u = cli_json(db, &all, password);
    (
        u["id"].as_str().unwrap().to_string(),
        u["totp"]["secret"].as_str().map(str::to_string),
    )
}

impl Server {
    /// POST a form to `path` with optional Basic credentials.
    pub fn post_form(
        &self,
        path: &str,
        basic: Option<&TestClient>,
        form: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(c) = basic {
            req = req.basic_auth(&c.id, c.secret.as_deref());
        }
        req.send().expect("POST")
    }

    /// POST /oauth/token; returns (status, JSON body).
    pub fn token(&self, client: Option<&TestClient>, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self.post_form("/oauth/token", client, form);
        let status = res.status().as_u16();
        (status, res.json().expect("token endpoint answers JSON"))
    }

    /// POST /api/auth/login with a JSON body.
    pub fn login_api(&self, body: &Value) -> reqwest::blocking::Response {
        self.http
            .post(self.url("/api/auth/login"))
            .json(body)
            .send()
            .expect("POST login")
    }

    /// GET /api/auth/me with a bearer token; the status.
    pub fn me_status(&self, token: &str) -> u16 {
        self.http
            .get(self.url("/api/auth/me"))
            .bearer_auth(token)
            .send()
            .expect("GET me")
            .status()
            .as_u16()
    }
}

/// Pull the value of a hidden form field out of a page.
pub fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'"),
    )
}

/// Every hidden field of a page's form, as (name, value) pairs.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + "<input type=\"hidden\" name=\"".len()..];
        let Some(name_end) = rest.find('"') else {
            break;
        };
        let name = rest[..name_end].to_string();
        if let Some(v) = field(&format!("name=\"{name}\"{}", &rest[name_end + 1..]), &name) {
            out.push((name, v));
        }
    }
    out
}

/// A browser without JavaScript: a cookie jar that does not follow redirects.
pub fn browser_like() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Submit the form on `html` to `action` with extra fields.
pub fn submit(
    http: &reqwest::blocking::Client,
    base: &str,
    html: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut form = hidden_fields(html);
    for (k, v) in extra {
        form.push((k.to_string(), v.to_string()));
    }
    http.post(format!("{base}{action}"))
        .form(&form)
        .send()
        .expect("POST form")
}

/// On the sign-in page `html`, sign in as `username` and approve the
/// consent page that follows; the last response (a redirect to the client).
pub fn sign_in_and_approve(
    http: &reqwest::blocking::Client,
    base: &str,
    html: &str,
    username: &str,
    password: &str,
) -> reqwest::blocking::Response {
    let login = [("username", username), ("password", password)];
    let consent = submit(http, base, html, "/oauth/authorize/login", &login);
    let html = consent.text().expect("consent page");
    submit(
        http,
        base,
        &html,
        "/oauth/authorize/consent",
        &[("consent", "approve")],
    )
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(res: &reqwest::blocking::Response) -> Vec<(String, String)> {
    let loc = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Introspection (RFC 7662) and revocation (RFC 7009) requests.
impl Server {
    /// POST /oauth/introspect with optional Basic credentials; (status, JSON body).
    pub fn introspect(&self, client: Option<&TestClient>, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self.post_form("/oauth/introspect", client, form);
        let status = res.status().as_u16();
        (status, res.json().expect("introspection answers JSON"))
    }

    /// POST /oauth/introspect authorized with a bearer token.
    pub fn introspect_as(
        &self,
        bearer: &str,
        form: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        self.http
            .post(self.url("/oauth/introspect"))
            .bearer_auth(bearer)
            .form(form)
            .send()
            .expect("POST introspect")
    }

    /// POST /oauth/revoke with optional Basic credentials; (status, body text).
    pub fn revoke(&self, client: Option<&TestClient>, form: &[(&str, &str)]) -> (u16, String) {
        let res = self.post_form("/oauth/revoke", client, form);
        let status = res.status().as_u16();
        (status, res.text().expect("revocation body"))
    }
}

/// Verify a JWT of this server against its JWKS: the header must carry
/// `typ`; `validation` sets the algorithm, audience and required claims.
/// Returns the header's algorithm and the claims.
pub fn verify_jwt(
    s: &Server,
    jwt: &str,
    typ: &str,
    validation: impl FnOnce(jsonwebtoken::Algorithm) -> jsonwebtoken::Validation,
) -> (jsonwebtoken::Algorithm, Value) {
    let header = jsonwebtoken::decode_header(jwt).expect("a JWT header");
    assert_eq!(header.typ.as_deref(), Some(typ));
    let jwks: jsonwebtoken::jwk::JwkSet = s.get("/oauth/jwks").json().expect("JWKS");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let mut v = validation(header.alg);
    v.set_issuer(&[s.issuer.as_str()]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("usable JWK");
    (
        header.alg,
        jsonwebtoken::decode::<Value>(jwt, &key, &v)
            .expect("signature and claims verify")
            .claims,
    )
}

/// Open an authorization URL in `http` (a [`browser_like`] client), sign in
/// through the login form, and return the next page's HTML (consent, for a
/// user without TOTP).
pub fn sign_in(
    s: &Server,
    http: &reqwest::blocking::Client,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> String {
    let page = http.get(authorize_url).send().expect("GET authorize");
    assert_eq!(page.status(), 200, "the sign-in page");
    let html = page.text().expect("sign-in page");
    submit(
        http,
        &s.base,
        &html,
        "/oauth/authorize/login",
        &[("username", username), ("password", password)],
    )
    .text()
    .expect("page after sign-in")
}

/// Press Allow on a consent page: the 303 back to the client.
pub fn approve(
    s: &Server,
    http: &reqwest::blocking::Client,
    consent_html: &str,
) -> reqwest::blocking::Response {
    let done = submit(
        http,
        &s.base,
        consent_html,
        "/oauth/authorize/consent",
        &[("consent", "approve")],
    );
    assert_eq!(done.status(), 303, "back to the client");
    done
}

/// On the device verification pages (RFC 8628 §3.3), in `http` (a
/// [`browser_like`] client): type `user_code`, then
/// [`device_sign_in_and_answer`]; the last page's HTML.
pub fn answer_device(
    s: &Server,
    http: &reqwest::blocking::Client,
    user_code: &str,
    username: &str,
    password: &str,
    approve: bool,
) -> String {
    let page = http.get(s.url("/device")).send().expect("GET /device");
    assert_eq!(page.status(), 200, "the code form");
    let html = page.text().expect("code form");
    let login = submit(http, &s.base, &html, "/device", &[("user_code", user_code)]);
    assert_eq!(login.status(), 200, "the sign-in page");
    let html = login.text().expect("sign-in page");
    device_sign_in_and_answer(s, http, &html, username, password, approve)
}

/// On the device sign-in page `login_html`, sign in as `username` (a user
/// without TOTP) and press Allow (`approve`) or Deny on the consent page
/// that follows; the last page's HTML.
pub fn device_sign_in_and_answer(
    s: &Server,
    http: &reqwest::blocking::Client,
    login_html: &str,
    username: &str,
    password: &str,
    approve: bool,
) -> String {
    assert!(login_html.contains("name=\"password\""), "{login_html}");
    let login = [("username", username), ("password", password)];
    let consent = submit(http, &s.base, login_html, "/device/login", &login);
    assert_eq!(consent.status(), 200, "the consent page");
    let html = consent.text().expect("consent page");
    assert!(
        html.contains("name=\"consent\" value=\"approve\""),
        "{html}"
    );
    let answer = if approve { "approve" } else { "deny" };
    let done = submit(
        http,
        &s.base,
        &html,
        "/device/consent",
        &[("consent", answer)],
    );
    assert_eq!(done.status(), 200, "the done page");
    done.text().expect("done page")
}

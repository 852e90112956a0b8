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

/// Debian's Chromium ([`chromium`]), headless, for the browser tests to
/// drive over the DevTools protocol.
pub fn headless_chromium() -> headless_chrome::Browser {
    headless_chrome::Browser::new(
        headless_chrome::LaunchOptions::default_builder()
            .path(Some(chromium()))
            .headless(true)
            .sandbox(false)
            .idle_browser_timeout(Duration::from_secs(90))
            .args(vec![
                OsStr::new("--disable-gpu"),
                OsStr::new("--no-first-run"),
                OsStr::new("--disable-background-networking"),
                OsStr::new("--disable-component-update"),
                OsStr::new("--disable-sync"),
                OsStr::new("--disable-quic"),
            ])
            .build()
            .expect("launch options"),
    )
    .expect("Chromium starts")
}

/// Steps in a page of [`headless_chromium`], each waiting for its element.
pub mod tab {
    use headless_chrome::Tab;

    /// Type `text` into the field, emptied first.
    pub fn fill(tab: &Tab, selector: &str, text: &str) {
        let e = tab.wait_for_element(selector).expect("the field");
        e.call_js_fn("function () { this.value = ''; }", vec![], false)
            .expect("emptied");
        e.click().expect("focused");
        tab.type_str(text).expect("typed");
    }

    pub fn click(tab: &Tab, selector: &str) {
        tab.wait_for_element(selector)
            .expect("the element")
            .click()
            .expect("clicked");
    }

    pub fn text_of(tab: &Tab, selector: &str) -> String {
        tab.wait_for_element(selector)
            .expect("the element")
            .get_inner_text()
            .expect("its text")
    }
}

/// A one-page loopback server standing in for a native app's redirect
/// listener (RFC 8252 §7.3): its port, and the path and query of the first
/// `/cb` request it gets.
pub fn redirect_listener() -> (u16, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 24\r\nConnection: close\r\n\r\nSigned in; you may close");
            if target.starts_with("/cb") {
                let _ = tx.send(target);
                return;
            }
        }
    });
    (port, rx)
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

/// A node script that answers in JSON lines and may read lines on stdin
/// (a callback URL, after the test has played the browser).
pub struct NodeSession {
    script: String,
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl NodeSession {
    /// Start `node tests/node/<script>` ([`node_command`]).
    pub fn start(script: &str, packages: &[&str], env: &[(&str, &OsStr)]) -> NodeSession {
        let mut child = node_command(script, packages, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        NodeSession {
            script: script.to_string(),
            child,
            stdin,
            lines,
        }
    }

    /// The next line it prints, parsed as JSON.
    pub fn line(&mut self) -> Value {
        let line = self
            .lines
            .next()
            .unwrap_or_else(|| panic!("a line from {}", self.script))
            .expect("readable");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Write one line to its stdin, and close it.
    pub fn send(&mut self, line: &str) {
        let mut stdin = self.stdin.take().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to node");
    }

    /// Its last line, once it has exited successfully.
    pub fn finish(mut self) -> Value {
        self.stdin.take();
        let last = self.line();
        assert!(
            self.child.wait().expect("node exits").success(),
            "{} failed",
            self.script
        );
        last
    }
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

    /// [`Server::start`] with the issuer `http://localhost:<port>`, for
    /// what needs a domain (WebAuthn: an IP address cannot be an RP ID).
    /// The port is picked free first, then given to the server.
    pub fn start_localhost(db: &TestDb) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let issuer = format!("http://localhost:{port}");
        let mut s = Self::spawn_at(
            db,
            &format!("127.0.0.1:{port}"),
            &[],
            &[("PORTCULLIS_ISSUER", &issuer)],
            None,
        );
        s.base = issuer;
        s
    }

    /// [`Server::start_with`], keeping everything the server writes to
    /// stdout (after its first line) and stderr: [`Server::stop`] returns it.
    pub fn start_logged(db: &TestDb, env: &[(&str, &str)]) -> Server {
        Self::spawn(db, &[], env, Some(Log::default()))
    }

    fn spawn(db: &TestDb, args: &[&str], env: &[(&str, &str)], log: Option<Log>) -> Server {
        Self::spawn_at(db, "127.0.0.1:0", args, env, log)
    }

    fn spawn_at(
        db: &TestDb,
        bind: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<Log>,
    ) -> Server {
        let mut cmd = command();
        cmd.args(["--database-url", &db.url, "serve", "--bind", bind])
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

/// The first `<form>` of `html` posting to a URL ending in `action` (a
/// sign-in page also has the passkey form, with hidden fields of the same
/// names), or all of `html` when there is none.
fn first_form<'a>(html: &'a str, action: &str) -> &'a str {
    let mut from = 0;
    while let Some(i) = html[from..].find("<form") {
        let start = from + i;
        let tag_end = html[start..].find('>').map_or(html.len(), |e| start + e);
        // Attribute values come HTML-escaped (`&#x2f;` for `/`).
        let tag = html[start..tag_end].replace("&#x2f;", "/");
        if tag.contains(&format!("{action}\"")) {
            let end = html[start..]
                .find("</form>")
                .map_or(html.len(), |e| start + e);
            return &html[start..end];
        }
        from = tag_end;
    }
    html
}

/// Submit the form on `html` to `action` with extra fields.
pub fn submit(
    http: &reqwest::blocking::Client,
    base: &str,
    html: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut form = hidden_fields(first_form(html, action));
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

/// A tiny HTTP/1.1 server on 127.0.0.1 standing in for a client's web
/// server (client ID metadata documents, a `jwks_uri`): canned answers per
/// path, counted.
pub mod doc_server {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::Value;

    /// One canned answer of the document server.
    #[derive(Clone)]
    pub struct Reply {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
        /// Send `Content-Length` (else the body ends when the connection closes).
        pub length: bool,
    }

    impl Reply {
        pub fn json(doc: &Value, cache_control: &str) -> Reply {
            Reply {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Cache-Control".into(), cache_control.into()),
                ],
                body: serde_json::to_vec(doc).unwrap(),
                length: true,
            }
        }
    }

    /// A tiny HTTP/1.1 server on 127.0.0.1: one canned answer per path; it
    /// counts connections and requests per path.
    pub struct DocServer {
        pub port: u16,
        replies: Arc<Mutex<HashMap<String, Reply>>>,
        hits: Arc<Mutex<HashMap<String, usize>>>,
        connections: Arc<AtomicUsize>,
    }

    impl DocServer {
        pub fn start() -> DocServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
            let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
            let connections = Arc::new(AtomicUsize::new(0));
            let (r, h, c) = (replies.clone(), hits.clone(), connections.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    c.fetch_add(1, Ordering::SeqCst);
                    let (r, h) = (r.clone(), h.clone());
                    std::thread::spawn(move || serve(stream, &r, &h));
                }
            });
            DocServer {
                port,
                replies,
                hits,
                connections,
            }
        }

        pub fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        pub fn set(&self, path: &str, reply: Reply) {
            self.replies.lock().unwrap().insert(path.into(), reply);
        }

        pub fn hits(&self, path: &str) -> usize {
            self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
        }

        pub fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    fn serve(
        mut stream: TcpStream,
        replies: &Mutex<HashMap<String, Reply>>,
        hits: &Mutex<HashMap<String, usize>>,
    ) {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        let reply = replies
            .lock()
            .unwrap()
            .get(&path)
            .cloned()
            .unwrap_or(Reply {
                status: 404,
                headers: vec![],
                body: vec![],
                length: true,
            });
        let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if reply.length {
            out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
        }
        out.push_str("\r\n");
        let _ = stream.write_all(out.as_bytes());
        let _ = stream.write_all(&reply.body);
        let _ = stream.flush();
    }
}

/// Keys of a `private_key_jwt` client (RFC 7523 §2.2), made fresh for each
/// test, and the assertions it signs with them.
pub mod client_keys {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{json, Value};

    /// RFC 7523 §2.2's `client_assertion_type`.
    pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    pub struct ClientKey {
        pub kid: String,
        pub alg: Algorithm,
        /// The public key, as a JWK with `kid`.
        pub jwk: Value,
        key: EncodingKey,
    }

    impl ClientKey {
        /// A new P-256 key (ES256).
        pub fn es256(kid: &str) -> ClientKey {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .expect("P-256 key");
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("P-256 key");
            // An uncompressed point: 0x04, x, y.
            let point = pair.public_key().as_ref();
            ClientKey {
                kid: kid.into(),
                alg: Algorithm::ES256,
                jwk: json!({
                    "kty": "EC", "crv": "P-256", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                }),
                key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            }
        }

        /// A new Ed25519 key (EdDSA).
        pub fn ed25519(kid: &str) -> ClientKey {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("Ed25519 key");
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 key");
            ClientKey {
                kid: kid.into(),
                alg: Algorithm::EdDSA,
                jwk: json!({
                    "kty": "OKP", "crv": "Ed25519", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                }),
                key: EncodingKey::from_ed_der(pkcs8.as_ref()),
            }
        }

        /// A JWK Set of these keys' public halves.
        pub fn jwks(keys: &[&ClientKey]) -> Value {
            json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
        }

        /// `claims` signed with this key, its `kid` in the header.
        pub fn sign(&self, claims: &Value) -> String {
            let mut header = Header::new(self.alg);
            header.kid = Some(self.kid.clone());
            jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
        }

        /// A good assertion of `client_id` for `aud`, living a minute.
        pub fn assertion(&self, client_id: &str, aud: &str, jti: &str) -> String {
            self.sign(&claims(client_id, aud, jti))
        }
    }

    /// RFC 7523 §3's claims: `iss` = `sub` = the client, `aud`, `exp` a
    /// minute ahead, `iat`, `jti`.
    pub fn claims(client_id: &str, aud: &str, jti: &str) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "exp": now + 60, "iat": now, "jti": jti,
        })
    }

    /// The form members that carry `assertion`.
    pub fn form(assertion: &str) -> [(&'static str, &str); 2] {
        [
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ]
    }
}

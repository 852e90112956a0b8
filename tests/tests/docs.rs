//! The docs cannot rot: every command in a ```sh block of README.md and
//! docs/*.md runs here, in order, per file, against a fresh database and a
//! running server, and must succeed.
//!
//! - `http://127.0.0.1:8080` becomes the test server's address.
//! - A placeholder such as `<client_id>` takes the value of that member
//!   in the JSON printed by an earlier command of the same file.
//! - `curl` runs with `--fail-with-body`, so an HTTP error fails the test.
//! - When a file names the example MCP server's address
//!   (`http://127.0.0.1:8000`), that server runs too, against the test's
//!   Portcullis, and its address takes the place of that one.
//! - Not run: building (`cargo`, `npm`), the test suite itself
//!   (`scripts/test`), the servers (`portcullis serve`,
//!   `mcp-resource-server`: the test's own stand in for them), the MCP
//!   SDK client script (`MCP_URL=... node tests/node/mcp.mjs`: it needs a
//!   browser; tests/tests/mcp.rs runs it) and container commands
//!   (`docker`: no engine runs here). Each skipped command is printed.
//!   Blocks marked `text` are steps for a person at a browser, not commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use portcullis_e2e::{bin, Server, TestDb};
use serde_json::Value;

const SKIPPED: [&str; 8] = [
    "cargo ",
    "npm ",
    "scripts/test",
    "portcullis serve",
    "mcp-resource-server ",
    "MCP_URL=",
    "docker ",
    "node ",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The commands of the ```sh blocks of a Markdown file, continuation
/// lines joined, comments and blank lines dropped.
fn commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_sh = !in_sh && info.trim() == "sh";
            continue;
        }
        if !in_sh || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head.trim_end());
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    out
}

fn substitute(
    cmd: &str,
    base: &str,
    mcp: Option<&str>,
    values: &BTreeMap<String, String>,
) -> String {
    let mut cmd = cmd.replace("http://127.0.0.1:8080", base);
    if let Some(mcp) = mcp {
        cmd = cmd.replace("http://127.0.0.1:8000", mcp);
    }
    for (k, v) in values {
        cmd = cmd.replace(&format!("<{k}>"), v);
    }
    if expected_status(&cmd).is_none() {
        if let Some(rest) = cmd.strip_prefix("curl ") {
            cmd = format!("curl -S --fail-with-body {rest}");
        }
    }
    cmd
}

/// `curl -si ... # 401 ...`: the command is expected to answer that status
/// (its output, with `-i`, shows the status line).
fn expected_status(cmd: &str) -> Option<&str> {
    let comment = cmd.split_once(" # ")?.1.trim_start();
    let code = comment.get(..3)?;
    code.bytes().all(|b| b.is_ascii_digit()).then_some(code)
}

/// Run every command of one file; returns how many ran.
fn run_file(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    let cmds = commands(&text);
    if cmds.is_empty() {
        return 0;
    }
    let db = TestDb::sqlite();
    let started = Instant::now();
    let server = Server::start(&db);
    let work = std::env::temp_dir().join(format!(
        "portcullis-docs-{}-{}",
        std::process::id(),
        file.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The example MCP server, when the file uses it.
    let mcp = text.contains("http://127.0.0.1:8000").then(|| {
        let mut cmd = Command::new(portcullis_e2e::target_bin("mcp-resource-server"));
        cmd.args(["--bind", "127.0.0.1:0", "--issuer", &server.issuer]);
        let (child, started) = portcullis_e2e::spawn_announced(&mut cmd, "mcp-resource-server");
        let listening = started["listening"].as_str().unwrap().to_string();
        (KillOnDrop(child), format!("http://{listening}"))
    });
    let mut values = BTreeMap::new();
    let mut ran = 0;
    for cmd in cmds {
        if SKIPPED.iter().any(|p| cmd.starts_with(p)) {
            eprintln!("{}: not run: {cmd}", file.display());
            continue;
        }
        let line = substitute(
            &cmd,
            &server.base,
            mcp.as_ref().map(|m| m.1.as_str()),
            &values,
        );
        assert!(
            !line.contains("<client") && !line.contains("<access_token>"),
            "{}: a placeholder no earlier command printed: {cmd}",
            file.display()
        );
        let mut command = Command::new("bash");
        for (k, _) in std::env::vars() {
            if k.starts_with("PORTCULLIS_") {
                command.env_remove(k);
            }
        }
        let out = command
            .args(["-euo", "pipefail", "-c", &line])
            .current_dir(&work)
            .env("PATH", &path)
            .env("PORTCULLIS_DATABASE_URL", &db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: `{cmd}` failed ({}):\n{}\n{}",
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(code) = expected_status(&line) {
            let head = String::from_utf8_lossy(&out.stdout);
            assert!(
                head.starts_with(&format!("HTTP/1.1 {code}")),
                "{}: `{cmd}` should answer {code}:\n{head}",
                file.display()
            );
        }
        if let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(&out.stdout) {
            for (k, v) in members {
                if let Value::String(s) = v {
                    values.insert(k, s);
                }
            }
        }
        ran += 1;
    }
    eprintln!(
        "{}: {ran} commands ran, {:.1} s from server start to the last",
        file.display(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
    ran
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_command_in_the_docs_runs() {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut total = 0;
    for f in &files {
        total += run_file(f);
    }
    assert!(total >= 15, "only {total} commands found in the docs");
}

#[test]
fn the_quickstart_reaches_a_token_and_introspects_it() {
    // The quickstart's own promise, checked through its commands' output.
    let text = std::fs::read_to_string(repo().join("docs/quickstart.md")).unwrap();
    let cmds = commands(&text);
    assert!(cmds.iter().any(|c| c.contains("/oauth/token")));
    assert!(cmds.iter().any(|c| c.contains("<access_token>")));
    assert!(run_file(&repo().join("docs/quickstart.md")) >= 5);
}

#[test]
fn sh_blocks_are_split_into_commands() {
    let md = "text\n```sh\n# comment\nportcullis a \\\n  --b c\n\ncurl -s x\n```\n```text\nnot run\n```\n";
    assert_eq!(commands(md), vec!["portcullis a --b c", "curl -s x"]);
}

//! Servers under test: Portcullis and the node-oidc-provider peer. Each runs
//! under coreutils `timeout` (a hard bound even if this process is killed
//! outright), bound to 127.0.0.1, and is stopped when its [`ServerGuard`]
//! drops: at the end of a scenario, on an error, on a panic, and (through
//! [`stop_all`], called from the signal handler) on Ctrl-C.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::procstat;

/// Pids (server and its `timeout` wrapper) of every server still running.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub struct ServerGuard {
    name: String,
    wrapper: Child,
    pid: u32,
    pub base_url: String,
    pub log: PathBuf,
    /// From spawning the process to its first answer (the listening line,
    /// then a `200` for the OpenID configuration).
    pub ready_after: Duration,
}

impl ServerGuard {
    /// The server process itself (not its wrapper): what /proc is read for.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Still running?
    pub fn check_alive(&mut self) -> Result<()> {
        match self.wrapper.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); its log: {}\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            ),
            Err(e) => bail!("{}: {e}", self.name),
        }
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        signal(self.pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.wrapper.try_wait() {
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(Some(_)) => break,
                _ => {
                    signal(self.pid, "KILL");
                    let _ = self.wrapper.kill();
                    let _ = self.wrapper.wait();
                    break;
                }
            }
        }
        let wrapper = self.wrapper.id();
        if let Ok(mut running) = RUNNING.lock() {
            running.retain(|&p| p != self.pid && p != wrapper);
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stop every server still running (from the Ctrl-C / SIGTERM handler, where
/// no destructor will run).
pub fn stop_all() {
    let pids = RUNNING.lock().map(|r| r.clone()).unwrap_or_default();
    for pid in pids {
        signal(pid, "KILL");
    }
}

fn register(pids: &[u32]) {
    if let Ok(mut running) = RUNNING.lock() {
        running.extend_from_slice(pids);
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `timeout` around `cmd`: the server cannot outlive `limit` even if this
/// process dies without running destructors.
fn wrapped(limit: Duration, program: &Path) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("--kill-after=5")
        .arg(format!("{}", limit.as_secs().max(1)))
        .arg(program);
    cmd
}

/// The server process under the `timeout` wrapper.
fn server_pid(wrapper: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Some(pid) = procstat::child_of(wrapper) {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    wrapper
}

/// Start `portcullis serve` on 127.0.0.1 (a free port it picks itself) and
/// wait for its first stdout line, `{"listening": "...", "issuer": "..."}`.
pub fn start_portcullis(
    bin: &Path,
    database_url: &str,
    dir: &Path,
    limit: Duration,
) -> Result<ServerGuard> {
    let log = dir.join("portcullis.log");
    let err = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let spawned = Instant::now();
    let mut child = wrapped(limit, bin)
        .arg("--database-url")
        .arg(database_url)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("PORTCULLIS_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .context("starting `timeout portcullis serve` (timeout is part of coreutils)")?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let pid = server_pid(child.id());
    register(&[pid, child.id()]);
    let mut guard = ServerGuard {
        name: "portcullis".into(),
        wrapper: child,
        pid,
        base_url: String::new(),
        log,
        ready_after: Duration::ZERO,
    };

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(first) = lines.next() {
            let _ = tx.send(first);
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let first = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(line)) => line,
        _ => {
            guard.check_alive()?;
            bail!(
                "portcullis printed no listening line within 60 s; its log: {}\n{}",
                guard.log.display(),
                log_tail(&guard.log)
            );
        }
    };
    let v: Value = serde_json::from_str(&first)
        .with_context(|| format!("portcullis's first line is not JSON: {first}"))?;
    let addr = v
        .get("listening")
        .and_then(Value::as_str)
        .with_context(|| format!("no \"listening\" in {first}"))?;
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("bad listening address {addr:?}"))?;
    if !addr.ip().is_loopback() {
        bail!("portcullis listens on {addr}, not on loopback");
    }
    guard.pid = server_pid(guard.wrapper.id());
    guard.base_url = format!("http://{addr}");
    first_answer(addr)?;
    guard.ready_after = spawned.elapsed();
    Ok(guard)
}

/// One `GET /.well-known/openid-configuration` answered `200`, over a
/// plain socket (no client library warm-up in the figure).
fn first_answer(addr: SocketAddr) -> Result<()> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        conn,
        "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head)
        .context("reading the first answer")?;
    if !head.starts_with(b"HTTP/1.1 200") {
        bail!(
            "first answer: {:?}, expected HTTP/1.1 200",
            String::from_utf8_lossy(&head)
        );
    }
    Ok(())
}

/// A free loopback port (for the peer, which takes its port from PORT).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Start the peer, `node server.mjs`, the way run_bench.sh does
/// (AT_FORMAT, NODE_ENV=production, PORT), and wait until it accepts.
pub fn start_peer(
    peer_dir: &Path,
    at_format: &str,
    dir: &Path,
    limit: Duration,
) -> Result<ServerGuard> {
    let port = free_port()?;
    let log = dir.join(format!("peer-{at_format}.log"));
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let child = wrapped(limit, Path::new("node"))
        .arg("server.mjs")
        .current_dir(peer_dir)
        .env("AT_FORMAT", at_format)
        .env("NODE_ENV", "production")
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .context("starting `timeout node server.mjs`")?;
    let pid = server_pid(child.id());
    register(&[pid, child.id()]);
    let mut guard = ServerGuard {
        name: format!("oidc-provider ({at_format})"),
        wrapper: child,
        pid,
        base_url: format!("http://127.0.0.1:{port}"),
        log,
        // Not measured for the peer.
        ready_after: Duration::ZERO,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        guard.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "the peer did not listen on {addr} within 30 s; its log: {}\n{}",
                guard.log.display(),
                log_tail(&guard.log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    guard.pid = server_pid(guard.wrapper.id());
    Ok(guard)
}

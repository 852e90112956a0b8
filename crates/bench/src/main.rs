//! `portcullis-bench`: provisions Portcullis with its own CLI, starts it and
//! (where it has the same endpoint) the node-oidc-provider peer on loopback,
//! drives each scenario with wrk (the peer's Lua scripts) or the Rust driver,
//! reads server CPU and memory from /proc, and prints a markdown table (JSON
//! beside it). See docs/performance.md.

mod browser;
mod cli;
mod driver;
mod procstat;
mod provision;
mod report;
mod scenarios;
mod server;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Parser;
use serde_json::Value;

use crate::cli::{Cli, Command as Cmd, Plan};
use crate::provision::{ClientCreds, Database, SCOPE};
use crate::report::{Pending, Report, Row};
use crate::scenarios::{DriverKind, Load, Scenario, Status, TokenShape, SCENARIOS};
use crate::server::ServerGuard;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("portcullis-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if cli.command == Cmd::List {
        list();
        return Ok(ExitCode::SUCCESS);
    }
    // First, before any thread exists: threads and children inherit it.
    let nice = set_nice(cli.opts.nice);
    let plan = Plan::new(cli.command, &cli.opts)?;
    let selected = select(&plan.only)?;
    let bin = locate_portcullis(cli.opts.portcullis.as_deref())?;
    let peer_dir = cli.opts.peer_dir.clone().unwrap_or_else(default_peer_dir);
    let mut skipped = Vec::new();
    let use_peer = plan.peer && preflight(&plan, &selected, &peer_dir)?;
    if plan.peer && !use_peer {
        skipped.push("peer (see the message above)".to_string());
    }

    let dir = std::env::temp_dir().join(format!(
        "portcullis-bench-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("portcullis-bench: working in {}", dir.display());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(plan.threads)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.spawn(stop_on_signal());

    // Declared before the server guards: dropped after them.
    let db = match cli.opts.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => Database::postgres(url)?,
        Some(url) => bail!(
            "--database-url {url:?}: only postgres:// URLs are taken (the default is a SQLite \
             file in the run's temporary directory)"
        ),
        None => Database::sqlite(&dir, cli.opts.keep),
    };
    let prov = provision::provision(&bin, &db.url()).context("provisioning with the CLI")?;

    let per_scenario = plan.warmup + plan.duration + Duration::from_secs(plan.quiet_wait + 90);
    let limit = per_scenario * (selected.len() as u32 * 2) + Duration::from_secs(300);
    // The first start makes the signing keys; the one measured is a
    // restart with keys in place (issue #7: ready within 200 ms once keys
    // exist).
    let first = server::start_portcullis(&bin, &db.url(), &dir, limit)?;
    let ready_first_start = first.ready_after;
    drop(first);
    let mut ours = server::start_portcullis(&bin, &db.url(), &dir, limit)?;
    eprintln!(
        "portcullis-bench: ready {} ms after start with keys in place ({} ms on the first start, which made them)",
        ours.ready_after.as_millis(),
        ready_first_start.as_millis()
    );
    eprintln!(
        "portcullis-bench: portcullis pid {} at {}",
        ours.pid(),
        ours.base_url
    );
    let rss_after_start = procstat::memory(ours.pid())?.rss_kib;
    let ticks = procstat::clock_ticks();

    let mut rows = Vec::new();
    let mut pending = Vec::new();
    for sc in &selected {
        if let Status::Pending(reason) = sc.status {
            pending.push(Pending {
                scenario: sc.id.into(),
                title: sc.title.into(),
                reason: reason.into(),
            });
            continue;
        }
        let busy_before = quiet(&plan);
        let target = Side {
            server: &mut ours,
            label: "portcullis",
            token_path: "/oauth/token",
            introspect_path: "/oauth/introspect",
            client: prov.client(sc.client)?.clone(),
            db_needle: db.process_needle(),
        };
        let row = measure(&rt, &plan, sc, target, &peer_dir, &dir, ticks, busy_before)
            .with_context(|| format!("scenario {} on portcullis", sc.id))?;
        progress(&row);
        rows.push(row);

        let wrk_load = matches!(sc.load, Load::WrkClientCredentials | Load::WrkIntrospect);
        if let (true, Some(mode), true) = (use_peer, sc.peer, wrk_load) {
            let busy_before = quiet(&plan);
            let mut peer = server::start_peer(&peer_dir, mode.at_format(), &dir, per_scenario * 2)?;
            let target = Side {
                server: &mut peer,
                label: "oidc-provider",
                token_path: "/token",
                introspect_path: "/token/introspection",
                client: ClientCreds::peer(),
                db_needle: None,
            };
            let row = measure(&rt, &plan, sc, target, &peer_dir, &dir, ticks, busy_before)
                .with_context(|| format!("scenario {} on the peer", sc.id))?;
            progress(&row);
            rows.push(row);
        }
    }
    ours.check_alive()?;
    let ours_ready_ms = ours.ready_after.as_secs_f64() * 1000.0;
    drop(ours);

    let report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        database: db.describe(),
        backend: db.backend().into(),
        duration_s: plan.duration.as_secs_f64(),
        warmup_s: plan.warmup.as_secs_f64(),
        connections: plan.conn,
        threads: plan.threads,
        nice,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        versions: versions(&bin, &peer_dir, use_peer, plan.use_wrk),
        portcullis_rss_after_start_kib: rss_after_start,
        portcullis_ready_ms: ours_ready_ms,
        portcullis_ready_first_start_ms: ready_first_start.as_secs_f64() * 1000.0,
        rows,
        pending,
        skipped,
    };
    println!("{}", report.markdown());
    let out = cli
        .opts
        .out
        .clone()
        .unwrap_or_else(|| dir.join("results.json"));
    report.write_json(&out)?;
    eprintln!("portcullis-bench: JSON results in {}", out.display());
    drop(db);

    if plan.command == Cmd::Smoke {
        let bad: Vec<String> = report
            .rows
            .iter()
            .filter(|r| {
                r.result.requests == 0 || r.result.non_2xx > 0 || r.result.socket_errors > 0
            })
            .map(|r| {
                format!(
                    "{} ({} requests, {} non-2xx, {} socket errors)",
                    r.scenario, r.result.requests, r.result.non_2xx, r.result.socket_errors
                )
            })
            .collect();
        if !bad.is_empty() {
            eprintln!("portcullis-bench: smoke FAILED: {}", bad.join(", "));
            return Ok(ExitCode::from(1));
        }
        eprintln!(
            "portcullis-bench: smoke ok ({} scenarios)",
            report.rows.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list() {
    for sc in SCENARIOS {
        let status = match sc.status {
            Status::Ready => "ready".to_string(),
            Status::Pending(why) => format!("pending: {why}"),
        };
        let peer = if sc.peer.is_some() { ", with peer" } else { "" };
        println!("{:8} {} [{status}{peer}]", sc.id, sc.title);
    }
}

fn select(only: &[String]) -> Result<Vec<Scenario>> {
    for id in only {
        if !SCENARIOS.iter().any(|s| s.id == id) {
            let ids: Vec<_> = SCENARIOS.iter().map(|s| s.id).collect();
            bail!("unknown scenario {id:?}; known: {}", ids.join(", "));
        }
    }
    Ok(SCENARIOS
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| o == s.id))
        .copied()
        .collect())
}

/// `renice` this process (children and threads inherit it); returns the
/// niceness in force.
fn set_nice(nice: i32) -> i32 {
    let pid = std::process::id();
    if nice != 0 {
        let ok = Command::new("renice")
            .args(["-n", &nice.to_string(), "-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "portcullis-bench: could not renice to {nice} (is renice installed? negative values need root); \
                 running at the current priority"
            );
        }
    }
    procstat::nice_of(pid).unwrap_or(0)
}

/// `portcullis` next to this executable (same target directory and profile).
fn locate_portcullis(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .context("finding this executable")?
            .parent()
            .context("this executable has no directory")?
            .join("portcullis"),
    };
    if !path.is_file() {
        bail!(
            "{} not found: build the server into the same target directory first, \
             `cargo build --release --bin portcullis -p portcullis-server` (with the same \
             CARGO_TARGET_DIR as this binary), or name it with --portcullis",
            path.display()
        );
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "portcullis-bench: this is a debug build, and so is the portcullis next to it: \
             figures are only a sanity check (use --release for real ones)"
        );
    }
    Ok(path)
}

/// ../shared/bench/peer from the repository root: looked for from the
/// current directory, then from this crate's source directory.
fn default_peer_dir() -> PathBuf {
    let rel = Path::new("..").join("shared").join("bench").join("peer");
    if rel.is_dir() {
        return rel;
    }
    let from_src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join(&rel);
    if from_src.is_dir() {
        return from_src;
    }
    rel
}

/// What the run needs from outside: wrk (and the peer's Lua scripts) for
/// the wrk scenarios, node and the peer's node_modules for the peer. A
/// missing peer is reported and skipped; a missing wrk stops the run.
/// Returns whether the peer can run.
fn preflight(plan: &Plan, selected: &[Scenario], peer_dir: &Path) -> Result<bool> {
    let ready = || selected.iter().filter(|s| s.ready());
    let wrk_scenarios =
        || ready().filter(|s| matches!(s.load, Load::WrkClientCredentials | Load::WrkIntrospect));
    if plan.use_wrk && wrk_scenarios().next().is_some() {
        if !wrk::available() {
            bail!(
                "wrk is not on the PATH: install it (Debian: `apt-get install -y wrk`), or run \
                 `portcullis-bench smoke`, which needs neither wrk nor node"
            );
        }
        wrk::script(peer_dir, "percentiles.lua")?;
        for s in wrk_scenarios() {
            wrk::script(peer_dir, wrk_script(s.load))?;
        }
    }
    if !ready().any(|s| s.peer.is_some()) {
        return Ok(false);
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        eprintln!(
            "portcullis-bench: node is not on the PATH, so the peer will not run (install \
             Node.js >= 20, or pass --no-peer)"
        );
        return Ok(false);
    }
    if !peer_dir.join("server.mjs").is_file() {
        eprintln!(
            "portcullis-bench: no server.mjs in {}, so the peer will not run (see --peer-dir)",
            peer_dir.display()
        );
        return Ok(false);
    }
    if !peer_dir
        .join("node_modules")
        .join("oidc-provider")
        .join("package.json")
        .is_file()
    {
        eprintln!(
            "portcullis-bench: oidc-provider is not installed in {}, so the peer will not run: \
             run `npm ci` there once (or pass --no-peer)",
            peer_dir.display()
        );
        return Ok(false);
    }
    Ok(true)
}

/// Wait for a quiet machine if asked; returns the last busy % seen.
fn quiet(plan: &Plan) -> Option<f64> {
    if plan.quiet_wait == 0 {
        return None;
    }
    match procstat::wait_quiet(Duration::from_secs(plan.quiet_wait)) {
        Ok((busy, true)) => {
            eprintln!("portcullis-bench: quiet (busy {busy:.0}%)");
            Some(busy)
        }
        Ok((busy, false)) => {
            eprintln!(
                "portcullis-bench: NOT QUIET after {} s (busy {busy:.0}%), proceeding",
                plan.quiet_wait
            );
            Some(busy)
        }
        Err(e) => {
            eprintln!("portcullis-bench: could not read /proc/stat: {e:#}");
            None
        }
    }
}

/// One server as a scenario sees it.
struct Side<'a> {
    server: &'a mut ServerGuard,
    label: &'static str,
    token_path: &'static str,
    introspect_path: &'static str,
    client: ClientCreds,
    /// Text naming this server's database processes in their command line
    /// (a PostgreSQL bench database's name), to count their CPU too.
    db_needle: Option<&'a str>,
}

/// Introspections per second offered beside the password grant (f): the
/// issue's mixed check, p99 under 20 ms beside the logins.
const MIXED_INTROSPECTION_RATE: u32 = 1_000;

#[allow(clippy::too_many_arguments)]
fn measure(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    sc: &Scenario,
    side: Side<'_>,
    peer_dir: &Path,
    dir: &Path,
    ticks: u64,
    busy_before: Option<f64>,
) -> Result<Row> {
    side.server.check_alive()?;
    let pid = side.server.pid();
    let db_needle = side.db_needle;
    let mut target = driver::Target {
        base_url: side.server.base_url.clone(),
        token_url: format!("{}{}", side.server.base_url, side.token_path),
        introspect_url: format!("{}{}", side.server.base_url, side.introspect_path),
        client: side.client.clone(),
        token: None,
    };
    let kind = match sc.load {
        Load::WrkClientCredentials => DriverKind::ClientCredentials { new_conn: false },
        Load::WrkIntrospect => DriverKind::Introspect,
        Load::Driver(k) => k,
    };
    let mut notes = Vec::new();
    if kind == DriverKind::Introspect {
        // The token to introspect: minted now (Portcullis's opaque access
        // tokens live 5 minutes), and live before the run.
        let minted = sample_check(
            rt,
            sc,
            &target,
            DriverKind::ClientCredentials { new_conn: false },
        )?;
        target.token = Some(access_token(&minted)?.to_string());
        introspect_check(rt, &target, "before the run")?;
    } else if kind == DriverKind::Password {
        // The mixed check of (f): introspection of a password-grant token
        // offered beside the logins.
        let minted = sample_check(rt, sc, &target, kind)?;
        target.token = Some(access_token(&minted)?.to_string());
        introspect_check(rt, &target, "before the run")?;
    } else {
        sample_check(rt, sc, &target, kind)?;
    }
    let beside = (kind == DriverKind::Password).then_some(MIXED_INTROSPECTION_RATE);

    let wrk_load = matches!(sc.load, Load::WrkClientCredentials | Load::WrkIntrospect);
    let (load_name, load, start, end) = if wrk_load && plan.use_wrk {
        let basic = ("BASIC", side.client.basic());
        let env = match &target.token {
            Some(token) if sc.load == Load::WrkIntrospect => vec![
                basic,
                ("TOKEN", token.clone()),
                ("INTROSPECT_PATH", side.introspect_path.to_string()),
            ],
            _ => vec![
                basic,
                ("TOKEN_PATH", side.token_path.to_string()),
                ("SCOPE", SCOPE.to_string()),
            ],
        };
        let run = wrk::WrkRun {
            script: wrk::script(peer_dir, wrk_script(sc.load))?,
            base_url: &side.server.base_url,
            env,
            threads: plan.threads,
            conn: plan.conn,
        };
        run.warm_up(plan.warmup);
        let start = procstat::snapshot(pid, db_needle)?;
        let (load, raw) = run.measure(plan.duration)?;
        let end = procstat::snapshot(pid, db_needle)?;
        let raw_path = dir.join(format!("wrk-{}-{}.txt", sc.id, side.label));
        std::fs::write(&raw_path, &raw)
            .with_context(|| format!("writing {}", raw_path.display()))?;
        ("wrk", load, start, end)
    } else {
        let m = rt.block_on(driver::run(
            kind,
            &target,
            plan.conn,
            plan.warmup,
            plan.duration,
            beside,
            || procstat::snapshot(pid, db_needle),
        ))?;
        if let Some(b) = &m.beside {
            notes.push(format!(
                "introspection offered at {}/s beside it: {} of {} answered, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx, {} unanswered",
                b.rate, b.answered, b.offered, b.p50_ms, b.p99_ms, b.non_2xx, b.unanswered
            ));
        }
        if m.chain_restarts > 0 {
            notes.push(format!(
                "{} refresh chains broke and were restarted with a password grant",
                m.chain_restarts
            ));
        }
        ("rust-driver", m.load, m.start, m.end)
    };
    let memory = procstat::memory(pid)?;
    if kind == DriverKind::Introspect {
        if let Err(e) = introspect_check(rt, &target, "after the run") {
            notes.push(format!("{e:#}"));
        }
    }
    side.server
        .check_alive()
        .with_context(|| format!("{} died during scenario {}", side.server.name(), sc.id))?;
    let w = procstat::window(&start, &end, ticks, db_needle.is_some());
    let per_req = |s: f64| {
        if load.requests > 0 {
            s * 1e6 / load.requests as f64
        } else {
            0.0
        }
    };
    Ok(Row {
        scenario: sc.id.into(),
        title: sc.title.into(),
        server: side.label.into(),
        load: load_name.into(),
        server_cpu_s: w.cpu_s,
        server_cpu_us_per_req: per_req(w.cpu_s),
        db_cpu_us_per_req: w.db_cpu_s.map(per_req),
        result: load,
        server_rss_kib: memory.rss_kib,
        server_hwm_kib: memory.hwm_kib,
        machine_busy_pct: w.busy,
        busy_before_pct: busy_before,
        notes,
    })
}

/// The peer's wrk script for a wrk load.
fn wrk_script(load: Load) -> &'static str {
    match load {
        Load::WrkIntrospect => "introspect.lua",
        _ => "cc.lua",
    }
}

fn access_token(v: &Value) -> Result<&str> {
    v.get("access_token")
        .and_then(Value::as_str)
        .context("the token response has no access_token")
}

/// The token to introspect must introspect as active.
fn introspect_check(
    rt: &tokio::runtime::Runtime,
    target: &driver::Target,
    when: &str,
) -> Result<()> {
    let http = driver::http_client(1, false)?;
    let v = rt.block_on(driver::sample(&http, target, DriverKind::Introspect))?;
    if v.get("active").and_then(Value::as_bool) != Some(true) {
        bail!("the introspected token is not active {when}: {v}");
    }
    Ok(())
}

/// One request before the run: it must succeed, and the access token must
/// have the scenario's shape (opaque, or a JWT signed with the expected alg).
/// Returns the response.
fn sample_check(
    rt: &tokio::runtime::Runtime,
    sc: &Scenario,
    target: &driver::Target,
    kind: DriverKind,
) -> Result<Value> {
    let http = driver::http_client(1, false)?;
    let v = rt.block_on(driver::sample(&http, target, kind))?;
    let alg = jwt_alg(access_token(&v)?);
    match (sc.shape, alg.as_deref()) {
        (TokenShape::Opaque, None) => {}
        (TokenShape::Jwt(want), Some(got)) if want == got => {}
        (want, got) => bail!(
            "sample access token: expected {want:?}, got {}",
            got.map(|a| format!("a JWT signed with {a}"))
                .unwrap_or_else(|| "an opaque token".into())
        ),
    }
    if kind == DriverKind::Refresh && v.get("refresh_token").is_none() {
        bail!("the password grant returned no refresh_token");
    }
    Ok(v)
}

/// The `alg` of a JWT's header, or None for anything that is not a JWT.
fn jwt_alg(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (h, _, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    header.get("alg")?.as_str().map(str::to_string)
}

fn progress(r: &Row) {
    eprintln!(
        "portcullis-bench: [{}] {}: {:.0} rps, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx, {:.0} µs CPU/req, busy {:.0}%",
        r.scenario,
        r.server,
        r.result.rps,
        r.result.p50_ms,
        r.result.p99_ms,
        r.result.non_2xx,
        r.server_cpu_us_per_req,
        r.machine_busy_pct
    );
}

fn versions(bin: &Path, peer_dir: &Path, peer: bool, wrk: bool) -> Vec<(String, String)> {
    let first_line = |cmd: &mut Command| -> String {
        cmd.output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default()
    };
    let mut v = vec![(
        "portcullis".to_string(),
        first_line(Command::new(bin).arg("--version")),
    )];
    v.push((
        "build".into(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
    ));
    if wrk {
        v.push(("wrk".into(), wrk::version()));
    }
    if peer {
        v.push((
            "node".into(),
            first_line(Command::new("node").arg("--version")),
        ));
        let pkg = peer_dir.join("node_modules/oidc-provider/package.json");
        let version = std::fs::read_to_string(pkg)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|j| j.get("version")?.as_str().map(str::to_string))
            .unwrap_or_default();
        v.push(("oidc-provider".into(), version));
    }
    v
}

/// Ctrl-C or SIGTERM: no destructor runs on the way out, so stop the
/// servers (and drop a PostgreSQL bench database) here.
async fn stop_on_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    eprintln!("portcullis-bench: interrupted; stopping the servers");
    server::stop_all();
    provision::cleanup_registered();
    std::process::exit(130);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_alg_reads_the_header() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"at+jwt"}"#);
        assert_eq!(jwt_alg(&format!("{h}.e30.sig")).as_deref(), Some("ES256"));
        assert_eq!(jwt_alg("opaque_token-value"), None);
        assert_eq!(jwt_alg("a.b.c.d"), None);
    }

    #[test]
    fn selecting_unknown_scenarios_fails() {
        assert!(select(&["zz".into()]).is_err());
        assert_eq!(select(&[]).map(|v| v.len()).ok(), Some(SCENARIOS.len()));
    }
}

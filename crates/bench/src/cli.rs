//! Command line: `all`, `smoke`, `list`, and the knobs they share.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "portcullis-bench",
    about = "Load-test Portcullis (and the node-oidc-provider peer) on loopback, side by side"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Every ready scenario, measured, with the peer beside Portcullis where it has the endpoint.
    All,
    /// A ~10 second sanity run: every Portcullis scenario for a moment with the Rust driver only
    /// (no wrk, no node); fails on any non-2xx answer or a scenario that completed nothing.
    Smoke,
    /// List the scenarios (ready and pending) and exit.
    List,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Opts {
    /// Measured time per scenario (e.g. 10s, 500ms, 1m). Smoke default: 1s.
    #[arg(long, global = true, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warm-up before each measured window, not counted. Smoke default: 0s.
    #[arg(long, global = true, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Concurrent connections (wrk -c, and driver connections). Smoke default: 8.
    #[arg(long, global = true)]
    pub conn: Option<usize>,
    /// Load-generator threads (wrk -t, and the driver's runtime threads).
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
    /// Only these scenarios (comma-separated ids, e.g. `a,b,e`).
    #[arg(long, global = true, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Do not run the node-oidc-provider peer.
    #[arg(long, global = true)]
    pub no_peer: bool,
    /// The peer's directory (server.mjs, cc.lua, percentiles.lua). Default:
    /// ../shared/bench/peer from the repository root.
    #[arg(long, global = true)]
    pub peer_dir: Option<PathBuf>,
    /// Database for Portcullis. Default: a SQLite file in the run's temporary directory.
    /// A postgres:// URL names the server: a fresh database `portcullis_bench_<random>` is
    /// created there for the run and dropped afterwards.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Where to write the JSON results. Default: results.json in the run's temporary directory.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// Before each scenario, wait at most this many seconds for the machine to be under 10%
    /// busy over 3 s (as ../shared/bench/wait_quiet.sh does); 0 skips the wait. Smoke: 0.
    #[arg(long, global = true)]
    pub quiet_wait: Option<u64>,
    /// Niceness for this process and everything it starts (servers, wrk), as the peer's
    /// run_bench.sh uses (negative values need root; 0 leaves it alone).
    #[arg(long, global = true, default_value_t = -10, allow_hyphen_values = true)]
    pub nice: i32,
    /// The portcullis binary. Default: `portcullis` next to this executable (same target dir).
    #[arg(long, global = true)]
    pub portcullis: Option<PathBuf>,
    /// Keep the temporary directory's database files after the run.
    #[arg(long, global = true)]
    pub keep: bool,
}

/// The settings of one run, after the command's defaults are applied.
#[derive(Debug, Clone)]
pub struct Plan {
    pub command: Command,
    pub duration: Duration,
    pub warmup: Duration,
    pub conn: usize,
    pub threads: usize,
    pub only: Vec<String>,
    pub peer: bool,
    /// wrk for the keep-alive client_credentials scenarios (smoke uses the driver instead).
    pub use_wrk: bool,
    pub quiet_wait: u64,
}

impl Plan {
    pub fn new(command: Command, o: &Opts) -> Result<Plan> {
        let smoke = command == Command::Smoke;
        let plan = Plan {
            command,
            duration: o
                .duration
                .unwrap_or(Duration::from_secs(if smoke { 1 } else { 10 })),
            warmup: o
                .warmup
                .unwrap_or(Duration::from_secs(if smoke { 0 } else { 3 })),
            conn: o.conn.unwrap_or(if smoke { 8 } else { 32 }),
            threads: o.threads.max(1),
            only: o.scenarios.iter().map(|s| s.trim().to_string()).collect(),
            peer: !smoke && !o.no_peer,
            use_wrk: !smoke,
            quiet_wait: o.quiet_wait.unwrap_or(if smoke { 0 } else { 120 }),
        };
        if plan.conn == 0 {
            bail!("--conn must be at least 1");
        }
        if plan.duration.is_zero() {
            bail!("--duration must be more than 0");
        }
        Ok(plan)
    }
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?} (try 10s, 500ms or 1m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("bad duration unit in {s:?} (use ms, s or m)"),
    };
    if !secs.is_finite() || secs < 0.0 {
        bail!("bad duration {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// wrk's `-d` form of a duration (whole seconds, at least 1).
pub fn wrk_duration(d: Duration) -> String {
    format!("{}s", d.as_secs_f64().round().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").ok(), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3").ok(), Some(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
        assert_eq!(wrk_duration(Duration::from_millis(400)), "1s");
        assert_eq!(wrk_duration(Duration::from_secs(10)), "10s");
    }
}

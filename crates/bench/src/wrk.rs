//! wrk with the peer's own Lua scripts (cc.lua or introspect.lua, with
//! percentiles.lua), the command run_bench.sh runs:
//! `wrk -t<T> -c<C> -d<D> --latency -s cc.lua URL` with BASIC, TOKEN_PATH and
//! SCOPE (or TOKEN and INTROSPECT_PATH) in the environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::wrk_duration;
use crate::report::LoadResult;

pub struct WrkRun<'a> {
    pub script: PathBuf,
    pub base_url: &'a str,
    /// The scripts' environment: BASIC, and TOKEN_PATH + SCOPE (cc.lua) or
    /// TOKEN + INTROSPECT_PATH (introspect.lua).
    pub env: Vec<(&'static str, String)>,
    pub threads: usize,
    pub conn: usize,
}

/// Is wrk on the PATH?
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

pub fn version() -> String {
    Command::new("wrk")
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

impl WrkRun<'_> {
    fn command(&self, duration: Duration, latency: bool) -> Command {
        // A hard bound beside wrk's own -d.
        let mut cmd = Command::new("timeout");
        cmd.arg(format!("{}", duration.as_secs() + 30)).arg("wrk");
        cmd.arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.conn))
            .arg(format!("-d{}", wrk_duration(duration)));
        if latency {
            cmd.arg("--latency");
        }
        cmd.arg("-s")
            .arg(&self.script)
            .arg(self.base_url)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// The warm-up run: output discarded, failures ignored (as run_bench.sh).
    pub fn warm_up(&self, duration: Duration) {
        if duration.is_zero() {
            return;
        }
        let _ = self
            .command(duration, false)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The measured run; returns wrk's figures and its raw output.
    pub fn measure(&self, duration: Duration) -> Result<(LoadResult, String)> {
        let out = self
            .command(duration, true)
            .output()
            .context("running wrk")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("wrk failed ({}):\n{text}", out.status);
        }
        let parsed = parse(&text).with_context(|| format!("reading wrk's output:\n{text}"))?;
        Ok((parsed, text))
    }
}

/// The peer's script for a name (cc.lua, introspect.lua), checked to exist.
pub fn script(peer_dir: &Path, name: &str) -> Result<PathBuf> {
    let p = peer_dir.join(name);
    if !p.is_file() {
        bail!(
            "{} not found: the wrk scenarios use the peer's Lua scripts (see --peer-dir)",
            p.display()
        );
    }
    Ok(p)
}

/// Pull the figures out of wrk's output (its summary plus percentiles.lua's
/// `done()` lines).
pub fn parse(text: &str) -> Result<LoadResult> {
    let mut requests = None;
    let mut elapsed_s = None;
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut non_2xx = 0u64;
    let mut socket_errors = 0u64;
    for line in text.lines() {
        let t = line.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        if t.contains(" requests in ") {
            // "67254 requests in 10.00s, 25.01MB read"
            requests = words.first().and_then(|w| w.parse::<u64>().ok());
            elapsed_s = words
                .get(3)
                .map(|w| w.trim_end_matches(','))
                .and_then(parse_wrk_time);
        } else if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().unwrap_or(0);
        } else if words.first() == Some(&"p50") {
            p50 = words.get(1).and_then(|w| w.parse::<f64>().ok());
        } else if words.first() == Some(&"p99") {
            p99 = words.get(1).and_then(|w| w.parse::<f64>().ok());
        } else if t.starts_with("requests ") && t.contains("errors:") {
            // "requests N  errors: connect 0 read 0 write 0 status 0 timeout 0"
            let n = |key: &str| -> u64 {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0)
            };
            socket_errors = n("connect") + n("read") + n("write") + n("timeout");
        }
    }
    let requests = requests.context("no \"requests in\" line")?;
    let elapsed_s = elapsed_s.context("no run time on the \"requests in\" line")?;
    Ok(LoadResult {
        requests,
        elapsed_s,
        rps: rps.unwrap_or(requests as f64 / elapsed_s.max(1e-9)),
        p50_ms: p50.context("no p50 line (is percentiles.lua next to cc.lua?)")?,
        p99_ms: p99.context("no p99 line")?,
        non_2xx,
        socket_errors,
    })
}

/// wrk's time units: `10.00s`, `1.00m`, `500.00ms`, `20.00us`.
fn parse_wrk_time(s: &str) -> Option<f64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:3301
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.91ms    2.06ms  40.12ms   89.01%
    Req/Sec     6.76k   512.33     7.41k    82.00%
  Latency Distribution
     50%    4.10ms
     75%    5.02ms
     90%    6.71ms
     99%   11.10ms
  67254 requests in 10.00s, 25.01MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   6725.33
Transfer/sec:      2.50MB
------ percentiles (ms) ------
p50        4.100
p90        6.710
p95        7.900
p99       11.100
p99.9     25.000
requests 67254  errors: connect 0 read 1 write 0 status 12 timeout 2
";

    #[test]
    fn parses_wrk_with_percentiles_lua() {
        let r = parse(SAMPLE).expect("parse");
        assert_eq!(r.requests, 67254);
        assert!((r.elapsed_s - 10.0).abs() < 1e-9);
        assert!((r.rps - 6725.33).abs() < 1e-9);
        assert!((r.p50_ms - 4.1).abs() < 1e-9);
        assert!((r.p99_ms - 11.1).abs() < 1e-9);
        assert_eq!(r.non_2xx, 12);
        assert_eq!(r.socket_errors, 3);
    }

    #[test]
    fn wrk_times() {
        assert_eq!(parse_wrk_time("1.00m"), Some(60.0));
        assert_eq!(parse_wrk_time("500.00ms"), Some(0.5));
    }
}

//! Results: one row per (scenario, server), a markdown table with the peer
//! side by side, and the same as JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// What the load generator saw over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Responses completed in the window (any status).
    pub requests: u64,
    pub elapsed_s: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses with a status outside 2xx (wrk: "Non-2xx or 3xx").
    pub non_2xx: u64,
    /// Connect/read/write errors and timeouts (no response at all).
    pub socket_errors: u64,
}

/// One scenario against one server.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub title: String,
    /// `portcullis` or `oidc-provider`.
    pub server: String,
    /// `wrk` or `rust-driver`.
    pub load: String,
    #[serde(flatten)]
    pub result: LoadResult,
    /// Server CPU time (utime + stime, all threads) over the window.
    pub server_cpu_s: f64,
    /// server_cpu_s / requests, in microseconds.
    pub server_cpu_us_per_req: f64,
    /// PostgreSQL runs: CPU of the backends serving the bench database, per
    /// request (SQLite runs inside the server: None).
    pub db_cpu_us_per_req: Option<f64>,
    pub server_rss_kib: u64,
    pub server_hwm_kib: u64,
    /// All cores, everything on the machine, over the window.
    pub machine_busy_pct: f64,
    /// Busy % of the machine just before the scenario (the quiet wait's last reading).
    pub busy_before_pct: Option<f64>,
    /// Extra facts (refresh chains restarted, sample token shape...).
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Pending {
    pub scenario: String,
    pub title: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub command: String,
    pub database: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub connections: usize,
    pub threads: usize,
    pub nice: i32,
    pub cores: usize,
    pub versions: Vec<(String, String)>,
    pub portcullis_rss_after_start_kib: u64,
    /// Spawn to first answer, restarted with signing keys in place.
    pub portcullis_ready_ms: f64,
    /// The same on the first start (which generates the keys).
    pub portcullis_ready_first_start_ms: f64,
    pub rows: Vec<Row>,
    pub pending: Vec<Pending>,
    pub skipped: Vec<String>,
}

fn mb(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn num(v: f64) -> String {
    if v >= 1000.0 {
        // thousands separators, as in the peer's README
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Run {} — {}; {} measured after {} warm-up, {} connections, {} load thread(s), nice {}, {} cores.\n",
            self.date,
            self.database,
            secs(self.duration_s),
            secs(self.warmup_s),
            self.connections,
            self.threads,
            self.nice,
            self.cores
        );
        let _ = writeln!(
            s,
            "Portcullis: ready {:.0} ms after start with its keys in place ({:.0} ms on the first start, which made them); RSS after start {} MB.\n",
            self.portcullis_ready_ms,
            self.portcullis_ready_first_start_ms,
            mb(self.portcullis_rss_after_start_kib)
        );
        let with_db = self.rows.iter().any(|r| r.db_cpu_us_per_req.is_some());
        let (db_head, db_rule) = if with_db {
            (" database CPU µs/req |", "---|")
        } else {
            ("", "")
        };
        let _ = writeln!(
            s,
            "| scenario | server | load | rps | p50 ms | p99 ms | non-2xx | server CPU µs/req |{db_head} server RSS MB | machine busy % |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|{db_rule}---|---|");
        for r in &self.rows {
            let errors = if r.result.socket_errors > 0 {
                format!("{} (+{} socket)", r.result.non_2xx, r.result.socket_errors)
            } else {
                r.result.non_2xx.to_string()
            };
            let db = match (with_db, r.db_cpu_us_per_req) {
                (false, _) => String::new(),
                (true, Some(v)) => format!(" {} |", num(v)),
                (true, None) => " – |".into(),
            };
            let _ = writeln!(
                s,
                "| {} {} | {} | {} | {} | {} | {} | {} | {} |{db} {} | {:.0} |",
                r.scenario,
                r.title,
                r.server,
                r.load,
                num(r.result.rps),
                ms(r.result.p50_ms),
                ms(r.result.p99_ms),
                errors,
                num(r.server_cpu_us_per_req),
                mb(r.server_rss_kib),
                r.machine_busy_pct
            );
        }
        let pairs = self.pairs();
        if !pairs.is_empty() {
            let _ = writeln!(s, "\nSide by side (same wrk command against both):\n");
            let _ = writeln!(
                s,
                "| scenario | rps ours | rps peer | rps ours/peer | CPU µs/req ours | CPU µs/req peer | CPU peer/ours |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for (ours, peer) in pairs {
                let _ = writeln!(
                    s,
                    "| {} {} | {} | {} | {:.2} | {} | {} | {:.2} |",
                    ours.scenario,
                    ours.title,
                    num(ours.result.rps),
                    num(peer.result.rps),
                    ours.result.rps / peer.result.rps.max(1e-9),
                    num(ours.server_cpu_us_per_req),
                    num(peer.server_cpu_us_per_req),
                    peer.server_cpu_us_per_req / ours.server_cpu_us_per_req.max(1e-9),
                );
            }
        }
        let notes: Vec<&Row> = self.rows.iter().filter(|r| !r.notes.is_empty()).collect();
        if !notes.is_empty() {
            let _ = writeln!(s, "\nNotes:\n");
            for r in notes {
                let _ = writeln!(s, "- {} ({}): {}", r.scenario, r.server, r.notes.join("; "));
            }
        }
        if !self.pending.is_empty() {
            let _ = writeln!(s, "\nPending:\n");
            for p in &self.pending {
                let _ = writeln!(s, "- {} {}: {}", p.scenario, p.title, p.reason);
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "\nSkipped: {}", self.skipped.join("; "));
        }
        s
    }

    /// (ours, peer) for every scenario measured on both.
    pub fn pairs(&self) -> Vec<(&Row, &Row)> {
        self.rows
            .iter()
            .filter(|r| r.server == "portcullis")
            .filter_map(|ours| {
                self.rows
                    .iter()
                    .find(|p| p.server != "portcullis" && p.scenario == ours.scenario)
                    .map(|peer| (ours, peer))
            })
            .collect()
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

fn secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(126452.4), "126,452");
        assert_eq!(num(6725.0), "6,725");
        assert_eq!(num(164.2), "164");
        assert_eq!(num(9.44), "9.4");
    }
}

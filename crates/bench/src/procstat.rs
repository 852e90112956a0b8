//! What /proc says about a server process and the machine, read the way the
//! peer's run_bench.sh reads it: CPU ticks (utime + stime, all threads) from
//! /proc/<pid>/stat, VmRSS / VmHWM from /proc/<pid>/status, and idle versus
//! total jiffies from the `cpu` line of /proc/stat.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_ticks(&text).with_context(|| format!("parsing {path}"))
}

fn parse_stat_ticks(text: &str) -> Result<u64> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = match text.rfind(')') {
        Some(i) => &text[i + 1..],
        None => bail!("no ')' in stat line"),
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let get = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short stat line")?
            .parse::<u64>()
            .context("non-numeric stat field")
    };
    Ok(get(11)? + get(12)?)
}

/// The parent pid of a process (field 4 of /proc/<pid>/stat).
pub fn parent_pid(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The niceness of a process (field 19 of /proc/<pid>/stat).
pub fn nice_of(pid: u32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// The first child process of `pid`, if any.
pub fn child_of(pid: u32) -> Option<u32> {
    let dir = std::fs::read_dir("/proc").ok()?;
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&p| parent_pid(p) == Some(pid))
}

/// Resident set size now and its high-water mark, in KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// Idle (idle + iowait) and total jiffies of all CPUs so far.
#[derive(Debug, Clone, Copy)]
pub struct MachineTicks {
    idle: u64,
    total: u64,
}

pub fn machine_ticks() -> Result<MachineTicks> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    parse_machine(&text).context("parsing the cpu line of /proc/stat")
}

fn parse_machine(text: &str) -> Result<MachineTicks> {
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    if v.len() < 8 {
        bail!("short cpu line");
    }
    // user nice system idle iowait irq softirq steal
    Ok(MachineTicks {
        idle: v[3] + v[4],
        total: v.iter().sum(),
    })
}

/// Percentage of all cores busy between two readings (everything: servers,
/// load generator, and whatever else runs on the machine).
pub fn busy_percent(a: MachineTicks, b: MachineTicks) -> f64 {
    let total = b.total.saturating_sub(a.total);
    if total == 0 {
        return 0.0;
    }
    let idle = b.idle.saturating_sub(a.idle);
    100.0 * (1.0 - idle as f64 / total as f64)
}

/// Wait until the machine is under 10% busy over 3 s, for at most `max`
/// (the logic of ../shared/bench/wait_quiet.sh). Returns the last busy %
/// and whether it got quiet.
pub fn wait_quiet(max: Duration) -> Result<(f64, bool)> {
    let deadline = std::time::Instant::now() + max;
    loop {
        let a = machine_ticks()?;
        std::thread::sleep(Duration::from_secs(3));
        let busy = busy_percent(a, machine_ticks()?);
        if busy < 10.0 {
            return Ok((busy, true));
        }
        if std::time::Instant::now() >= deadline {
            return Ok((busy, false));
        }
    }
}

/// A reading taken at the start or end of a measured window.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub server_ticks: u64,
    pub machine: MachineTicks,
    /// CPU ticks of the PostgreSQL backends serving the bench database, by pid.
    pub db_ticks: BTreeMap<u32, u64>,
}

/// `db_needle`: the bench database's name, which PostgreSQL puts in each
/// backend's process title.
pub fn snapshot(pid: u32, db_needle: Option<&str>) -> Result<Snapshot> {
    Ok(Snapshot {
        server_ticks: cpu_ticks(pid)?,
        machine: machine_ticks()?,
        db_ticks: db_needle.map(ticks_matching).unwrap_or_default(),
    })
}

/// CPU ticks of every PostgreSQL backend (`postgres: user db host state`)
/// whose title contains `needle`. Only `postgres` processes: the server and
/// its wrapper carry the database URL in their command lines too.
fn ticks_matching(needle: &str) -> BTreeMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter_map(|pid| Some((pid, cpu_ticks(pid).ok()?)))
        .collect()
}

/// What a measured window cost.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Server CPU seconds.
    pub cpu_s: f64,
    /// Database processes' CPU seconds (None when not measured).
    pub db_cpu_s: Option<f64>,
    /// Machine busy %.
    pub busy: f64,
}

pub fn window(a: &Snapshot, b: &Snapshot, ticks_per_sec: u64, with_db: bool) -> Window {
    let tps = ticks_per_sec as f64;
    // A database process that appeared during the window counts in full.
    let db: u64 = b
        .db_ticks
        .iter()
        .map(|(pid, end)| end.saturating_sub(a.db_ticks.get(pid).copied().unwrap_or(0)))
        .sum();
    Window {
        cpu_s: b.server_ticks.saturating_sub(a.server_ticks) as f64 / tps,
        db_cpu_s: with_db.then_some(db as f64 / tps),
        busy: busy_percent(a.machine, b.machine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_name() {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 1000 200";
        assert_eq!(parse_stat_ticks(line).ok(), Some(325));
    }

    #[test]
    fn busy() {
        let a = parse_machine("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3").ok();
        let b = parse_machine("cpu  200 0 200 900 0 0 0 0 0 0\n").ok();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("parse failed")
        };
        assert!((busy_percent(a, b) - 66.666).abs() < 0.01);
    }
}

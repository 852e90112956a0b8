//! `GET /metrics`: counters and latency histograms in the Prometheus text
//! exposition format (version 0.0.4). Recorded by the access-log middleware
//! (every request: endpoint pattern, method, status, latency, the token
//! endpoint's grant type, the OAuth error code of an error answer), by the
//! token endpoint (tokens issued), by the sign-in paths (login failures),
//! and read from the pool when scraped. Labels come from bounded sets
//! (route patterns, not paths), so the series count stays bounded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, micros: u64) {
        let secs = micros as f64 / 1e6;
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// A family of series keyed by their label values.
struct Family<K, V> {
    series: RwLock<HashMap<K, Arc<V>>>,
}

impl<K: std::hash::Hash + Eq + Clone + Ord, V: Default> Family<K, V> {
    fn new() -> Self {
        Family {
            series: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Arc<V> {
        if let Ok(map) = self.series.read() {
            if let Some(v) = map.get(key) {
                return Arc::clone(v);
            }
        }
        match self.series.write() {
            Ok(mut map) => Arc::clone(map.entry(key.clone()).or_default()),
            // A poisoned lock only means a panic elsewhere: count anyway.
            Err(p) => Arc::clone(p.into_inner().entry(key.clone()).or_default()),
        }
    }

    fn sorted(&self) -> Vec<(K, Arc<V>)> {
        let mut all: Vec<(K, Arc<V>)> = match self.series.read() {
            Ok(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect(),
            Err(p) => p
                .into_inner()
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect(),
        };
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// What one request contributes.
pub struct RequestSample<'a> {
    pub endpoint: &'a str,
    pub method: &'a str,
    pub status: u16,
    pub grant_type: &'static str,
    pub error: Option<&'static str>,
    pub micros: u64,
}

/// Every series this process keeps.
pub struct Metrics {
    requests: Family<(String, &'static str, u16), AtomicU64>,
    latency: Family<(String, &'static str), Histogram>,
    errors: Family<(String, &'static str), AtomicU64>,
    tokens: Family<&'static str, AtomicU64>,
    login_failures: Family<&'static str, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::new(),
            latency: Family::new(),
            errors: Family::new(),
            tokens: Family::new(),
            login_failures: Family::new(),
        }
    }
}

/// Methods are a bounded label set.
fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "HEAD" => "HEAD",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

/// A grant type named on the token endpoint, as a bounded label.
pub fn grant_label(grant_type: Option<&str>) -> &'static str {
    match grant_type {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some("client_credentials") => "client_credentials",
        Some("password") => "password",
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => "token_exchange",
        Some("urn:ietf:params:oauth:grant-type:device_code") => "device_code",
        Some(_) => "other",
        None => "none",
    }
}

impl Metrics {
    pub fn request(&self, s: &RequestSample) {
        let method = method_label(s.method);
        self.requests
            .get(&(s.endpoint.to_string(), method, s.status))
            .fetch_add(1, Ordering::Relaxed);
        self.latency
            .get(&(s.endpoint.to_string(), s.grant_type))
            .observe(s.micros);
        if let Some(e) = s.error {
            self.errors
                .get(&(s.endpoint.to_string(), e))
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn token_issued(&self, grant_type: &'static str) {
        self.tokens.get(&grant_type).fetch_add(1, Ordering::Relaxed);
    }

    /// A sign-in refused for a wrong password or second factor; `via`:
    /// `page`, `password_grant`.
    pub fn login_failure(&self, via: &'static str) {
        self.login_failures
            .get(&via)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the pool's state read now.
    pub fn render(&self, pool: portcullis_storage::PoolState) -> String {
        let mut out = String::with_capacity(4096);
        let _ = self.write_all(&mut out, pool);
        out
    }

    fn write_all(&self, out: &mut String, pool: portcullis_storage::PoolState) -> std::fmt::Result {
        writeln!(out, "# HELP portcullis_http_requests_total HTTP requests answered, by route pattern, method and status.")?;
        writeln!(out, "# TYPE portcullis_http_requests_total counter")?;
        for ((endpoint, method, status), n) in self.requests.sorted() {
            writeln!(
                out,
                "portcullis_http_requests_total{{endpoint=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(&endpoint),
                n.load(Ordering::Relaxed)
            )?;
        }
        writeln!(out, "# HELP portcullis_http_request_duration_seconds Time to answer, by route pattern and (token endpoint) grant type.")?;
        writeln!(
            out,
            "# TYPE portcullis_http_request_duration_seconds histogram"
        )?;
        for ((endpoint, grant), h) in self.latency.sorted() {
            let labels = format!("endpoint=\"{}\",grant_type=\"{grant}\"", escape(&endpoint));
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                writeln!(
                    out,
                    "portcullis_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                )?;
            }
            let count = h.count.load(Ordering::Relaxed);
            writeln!(
                out,
                "portcullis_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            )?;
            writeln!(
                out,
                "portcullis_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            )?;
            writeln!(
                out,
                "portcullis_http_request_duration_seconds_count{{{labels}}} {count}"
            )?;
        }
        writeln!(out, "# HELP portcullis_oauth_errors_total Error answers, by route pattern and OAuth error code.")?;
        writeln!(out, "# TYPE portcullis_oauth_errors_total counter")?;
        for ((endpoint, error), n) in self.errors.sorted() {
            writeln!(
                out,
                "portcullis_oauth_errors_total{{endpoint=\"{}\",error=\"{error}\"}} {}",
                escape(&endpoint),
                n.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP portcullis_tokens_issued_total Successful token responses, by grant type."
        )?;
        writeln!(out, "# TYPE portcullis_tokens_issued_total counter")?;
        for (grant, n) in self.tokens.sorted() {
            writeln!(
                out,
                "portcullis_tokens_issued_total{{grant_type=\"{grant}\"}} {}",
                n.load(Ordering::Relaxed)
            )?;
        }
        writeln!(out, "# HELP portcullis_login_failures_total Refused sign-ins (wrong password or second factor), by path.")?;
        writeln!(out, "# TYPE portcullis_login_failures_total counter")?;
        for (via, n) in self.login_failures.sorted() {
            writeln!(
                out,
                "portcullis_login_failures_total{{via=\"{via}\"}} {}",
                n.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP portcullis_db_pool_connections Database connections by state."
        )?;
        writeln!(out, "# TYPE portcullis_db_pool_connections gauge")?;
        writeln!(
            out,
            "portcullis_db_pool_connections{{state=\"idle\"}} {}",
            pool.idle
        )?;
        writeln!(
            out,
            "portcullis_db_pool_connections{{state=\"in_use\"}} {}",
            pool.connections.saturating_sub(pool.idle)
        )?;
        writeln!(
            out,
            "# HELP portcullis_db_pool_max_connections The pool's size limit."
        )?;
        writeln!(out, "# TYPE portcullis_db_pool_max_connections gauge")?;
        writeln!(out, "portcullis_db_pool_max_connections {}", pool.max)?;
        if let Some(g) = pool.group_commit {
            writeln!(out, "# HELP portcullis_sqlite_commits_total SQLite commits of the writers' connection (group commit: one commit holds every write queued behind it).")?;
            writeln!(out, "# TYPE portcullis_sqlite_commits_total counter")?;
            writeln!(out, "portcullis_sqlite_commits_total {}", g.commits)?;
            writeln!(
                out,
                "# HELP portcullis_sqlite_writes_total Write transactions those commits held."
            )?;
            writeln!(out, "# TYPE portcullis_sqlite_writes_total counter")?;
            writeln!(out, "portcullis_sqlite_writes_total {}", g.writes)?;
        }
        Ok(())
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The OAuth error code of an error answer, set by the renderer so the
/// middleware can count it.
#[derive(Clone, Copy)]
pub struct ErrorLabel(pub &'static str);

/// The token endpoint's grant type, set on the request by the handler.
#[derive(Clone, Copy)]
pub struct GrantLabel(pub &'static str);

#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.metrics.render(state.store.pool_state());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_add_up() {
        let m = Metrics::default();
        for micros in [100, 800, 800, 30_000, 20_000_000] {
            m.request(&RequestSample {
                endpoint: "/oauth/token",
                method: "POST",
                status: 200,
                grant_type: "client_credentials",
                error: None,
                micros,
            });
        }
        let text = m.render(portcullis_storage::PoolState {
            connections: 3,
            idle: 2,
            max: 8,
            group_commit: Some(portcullis_storage::GroupStats {
                commits: 4,
                writes: 9,
            }),
        });
        let line = |prefix: &str| -> String {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix} missing in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let b = "portcullis_http_request_duration_seconds_bucket{endpoint=\"/oauth/token\",grant_type=\"client_credentials\",le=";
        assert_eq!(line(&format!("{b}\"0.0005\"}}")), "1");
        assert_eq!(line(&format!("{b}\"0.001\"}}")), "3");
        assert_eq!(line(&format!("{b}\"0.05\"}}")), "4");
        assert_eq!(line(&format!("{b}\"10\"}}")), "4");
        assert_eq!(line(&format!("{b}\"+Inf\"}}")), "5");
        assert_eq!(
            line("portcullis_http_requests_total{endpoint=\"/oauth/token\",method=\"POST\",status=\"200\"}"),
            "5"
        );
        assert_eq!(
            line("portcullis_db_pool_connections{state=\"in_use\"}"),
            "1"
        );
        assert_eq!(line("portcullis_sqlite_commits_total"), "4");
        assert_eq!(line("portcullis_sqlite_writes_total"), "9");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

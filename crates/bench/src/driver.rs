//! The Rust load driver, for what wrk cannot do: a refresh chain per
//! connection (each response's refresh_token is the next request's), the
//! password grant, a new TCP connection per request, and the browser part
//! of the authorization code flow (browser.rs: one flow counts as one
//! request, its latency the whole flow's); and introspection offered at a
//! fixed rate beside the password grant (the mixed check of (f)).
//!
//! `conn` tasks loop for warm-up + duration on the caller's runtime. The
//! coordinator takes a snapshot (`mark`) when the measured window opens and
//! when it closes; a request counts when its response arrives inside the
//! window. Latencies go to an HDR histogram (µs, 3 significant digits).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::browser::{self, FlowError, FlowTarget, Jar};
use crate::provision::{ClientCreds, PASSWORD, SCOPE, USERNAME};
use crate::report::LoadResult;
use crate::scenarios::DriverKind;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Per-request bound: a request that takes longer counts as a socket error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Target {
    /// Scheme, host and port, no trailing slash (DriverKind::AuthCode).
    pub base_url: String,
    pub token_url: String,
    pub introspect_url: String,
    pub client: ClientCreds,
    /// The token to introspect (DriverKind::Introspect).
    pub token: Option<String>,
}

/// An HTTP client: keep-alive with up to `conn` idle connections, or none
/// kept at all (`Connection: close`, a new TCP connection per request).
/// Redirects are not followed: the authorization code flow reads its 303s.
pub fn http_client(conn: usize, new_conn: bool) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true);
    b = if new_conn {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CONNECTION,
            reqwest::header::HeaderValue::from_static("close"),
        );
        b.pool_max_idle_per_host(0).default_headers(headers)
    } else {
        b.pool_max_idle_per_host(conn)
    };
    b.build().context("building the HTTP client")
}

/// One token request; `Ok((status, body))` when a response arrived.
async fn post(
    http: &reqwest::Client,
    target: &Target,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let resp = http
        .post(url)
        .basic_auth(&target.client.id, Some(&target.client.secret))
        .form(form)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await?;
    Ok((status, body.to_vec()))
}

fn flow_target(target: &Target) -> FlowTarget<'_> {
    FlowTarget {
        base_url: &target.base_url,
        client_id: &target.client.id,
        username: USERNAME,
        password: PASSWORD,
    }
}

/// A single request of the scenario's kind, for the sample check before a
/// run; returns the parsed JSON body of a 2xx answer. For the authorization
/// code flow, one whole flow in a fresh browser, whose token answer must
/// also hold an ID token (the flow asks for `openid`).
pub async fn sample(http: &reqwest::Client, target: &Target, kind: DriverKind) -> Result<Value> {
    let token = target.token.as_deref().unwrap_or("");
    let (url, form): (&str, Vec<(&str, &str)>) = match kind {
        DriverKind::AuthCode { .. } => {
            let body = browser::flow(http, &mut Jar::default(), &flow_target(target), 0)
                .await
                .context("the authorization code flow")?;
            let v: Value = serde_json::from_slice(&body)
                .context("the token answer of the authorization code flow is not JSON")?;
            if v.get("id_token").and_then(Value::as_str).is_none() {
                bail!("the authorization code flow (scope openid) returned no id_token: {v}");
            }
            return Ok(v);
        }
        DriverKind::ClientCredentials { .. } => (
            &target.token_url,
            vec![("grant_type", "client_credentials"), ("scope", SCOPE)],
        ),
        DriverKind::Password | DriverKind::Refresh => (&target.token_url, password_form()),
        DriverKind::Introspect => (&target.introspect_url, introspect_form(token)),
    };
    let (status, body) = post(http, target, url, &form)
        .await
        .with_context(|| format!("POST {url}"))?;
    if !(200..300).contains(&status) {
        bail!(
            "POST {url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("the answer of {url} is not JSON"))
}

/// introspect.lua's body.
fn introspect_form(token: &str) -> Vec<(&'static str, &str)> {
    vec![("token", token), ("token_type_hint", "access_token")]
}

fn password_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("grant_type", "password"),
        ("username", USERNAME),
        ("password", PASSWORD),
        ("scope", SCOPE),
    ]
}

/// A fresh refresh token (password grant).
async fn seed_chain(http: &reqwest::Client, target: &Target) -> Result<String> {
    let v = sample(http, target, DriverKind::Password).await?;
    v.get("refresh_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .context("the password grant returned no refresh_token (does the client have the refresh_token grant?)")
}

struct WorkerStats {
    hist: Histogram<u64>,
    requests: u64,
    non_2xx: u64,
    socket_errors: u64,
    chain_restarts: u64,
}

fn histogram() -> Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).context("creating a histogram")
}

/// How one request (or flow) ended.
enum Answer {
    /// 2xx (a flow: its token answer), with the body.
    Ok(Vec<u8>),
    /// An answer, but an error status (a flow: a step off script).
    Failed,
    /// No answer at all: a socket error or timeout.
    Unanswered,
}

impl From<Result<(u16, Vec<u8>), reqwest::Error>> for Answer {
    fn from(res: Result<(u16, Vec<u8>), reqwest::Error>) -> Self {
        match res {
            Ok((status, body)) if (200..300).contains(&status) => Answer::Ok(body),
            Ok(_) => Answer::Failed,
            Err(_) => Answer::Unanswered,
        }
    }
}

async fn worker(
    worker_id: u64,
    http: reqwest::Client,
    target: Target,
    kind: DriverKind,
    phase: Arc<AtomicU8>,
    mut chain: Option<String>,
) -> Result<WorkerStats> {
    let mut st = WorkerStats {
        hist: histogram()?,
        requests: 0,
        non_2xx: 0,
        socket_errors: 0,
        chain_restarts: 0,
    };
    let cc = [("grant_type", "client_credentials"), ("scope", SCOPE)];
    let pw = password_form();
    let token = target.token.clone().unwrap_or_default();
    let intro = introspect_form(&token);
    let flow_target = flow_target(&target);
    // The browser of the authorization code flow: emptied before each flow
    // unless it stays signed in (`sso`).
    let mut jar = Jar::default();
    let mut flows: u64 = 0;
    loop {
        if phase.load(Ordering::Relaxed) == STOP {
            break;
        }
        let t0 = Instant::now();
        let res = match (kind, chain.as_deref()) {
            (DriverKind::AuthCode { sso }, _) => {
                if !sso {
                    jar.clear();
                }
                flows += 1;
                let n = (worker_id << 40) | flows;
                match browser::flow(&http, &mut jar, &flow_target, n).await {
                    Ok(body) => Answer::Ok(body),
                    Err(FlowError::Transport(_)) => Answer::Unanswered,
                    Err(FlowError::Step { .. }) => Answer::Failed,
                }
            }
            (DriverKind::ClientCredentials { .. }, _) => {
                post(&http, &target, &target.token_url, &cc).await.into()
            }
            (DriverKind::Password, _) => post(&http, &target, &target.token_url, &pw).await.into(),
            (DriverKind::Introspect, _) => post(&http, &target, &target.introspect_url, &intro)
                .await
                .into(),
            (DriverKind::Refresh, Some(rt)) => {
                let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
                post(&http, &target, &target.token_url, &form).await.into()
            }
            (DriverKind::Refresh, None) => bail!("refresh worker without a chain"),
        };
        let latency = t0.elapsed();
        let counted = phase.load(Ordering::Relaxed) == MEASURE;
        if counted {
            match &res {
                Answer::Ok(_) => {}
                Answer::Failed => st.non_2xx += 1,
                Answer::Unanswered => st.socket_errors += 1,
            }
            if !matches!(res, Answer::Unanswered) {
                st.requests += 1;
                st.hist
                    .saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
            }
        }
        if kind == DriverKind::Refresh {
            let next = match &res {
                Answer::Ok(body) => serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("refresh_token")?.as_str().map(str::to_string)),
                // No answer: the same token again (within the reuse grace it
                // yields the same successor).
                Answer::Unanswered => chain.clone(),
                Answer::Failed => None,
            };
            chain = match next {
                Some(t) => Some(t),
                None => {
                    // The chain broke (an error answer): start a new one,
                    // outside the figures but noted.
                    st.chain_restarts += 1;
                    Some(seed_chain(&http, &target).await?)
                }
            };
        }
    }
    Ok(st)
}

/// What the introspection offered beside another load measured (the mixed
/// check of (f)).
pub struct BesideResult {
    pub rate: u32,
    pub offered: u64,
    pub answered: u64,
    pub non_2xx: u64,
    pub unanswered: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Introspection of `target.token` offered at `rate` per second beside the
/// workers: one request every `1 / rate` s whether or not the earlier ones
/// were answered (an open loop: a slow server does not lower the rate
/// offered), each latency from the request's scheduled time, so waiting
/// for a connection counts too.
async fn paced_introspection(
    http: reqwest::Client,
    target: Target,
    rate: u32,
    phase: Arc<AtomicU8>,
) -> Result<BesideResult> {
    let token = target.token.clone().unwrap_or_default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut set = tokio::task::JoinSet::new();
    let mut hist = histogram()?;
    let (mut offered, mut answered, mut non_2xx, mut unanswered) = (0u64, 0u64, 0u64, 0u64);
    let mut record = |counted: bool, latency: Duration, answer: Answer| {
        if !counted {
            return;
        }
        match answer {
            Answer::Unanswered => unanswered += 1,
            other => {
                answered += 1;
                if matches!(other, Answer::Failed) {
                    non_2xx += 1;
                }
                hist.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
            }
        }
    };
    loop {
        let scheduled = tick.tick().await;
        let now = phase.load(Ordering::Relaxed);
        if now == STOP {
            break;
        }
        let counted = now == MEASURE;
        offered += u64::from(counted);
        let (http, target, token) = (http.clone(), target.clone(), token.clone());
        set.spawn(async move {
            let form = introspect_form(&token);
            let answer: Answer = post(&http, &target, &target.introspect_url, &form)
                .await
                .into();
            (counted, scheduled.elapsed(), answer)
        });
        while let Some(done) = set.try_join_next() {
            let (counted, latency, answer) = done.context("an introspection task panicked")?;
            record(counted, latency, answer);
        }
    }
    while let Some(done) = set.join_next().await {
        let (counted, latency, answer) = done.context("an introspection task panicked")?;
        record(counted, latency, answer);
    }
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    Ok(BesideResult {
        rate,
        offered,
        answered,
        non_2xx,
        unanswered,
        p50_ms: q(0.50),
        p99_ms: q(0.99),
    })
}

pub struct Measured<T> {
    pub load: LoadResult,
    pub start: T,
    pub end: T,
    pub chain_restarts: u64,
    /// The introspection offered beside the workers, if asked for.
    pub beside: Option<BesideResult>,
}

/// Run `conn` workers for `warmup` then `duration`; `mark` is called when the
/// measured window opens and when it closes. `beside`: a rate of
/// introspection requests (of `target.token`) to offer at the same time.
#[allow(clippy::too_many_arguments)]
pub async fn run<T>(
    kind: DriverKind,
    target: &Target,
    conn: usize,
    warmup: Duration,
    duration: Duration,
    beside: Option<u32>,
    mut mark: impl FnMut() -> Result<T>,
) -> Result<Measured<T>> {
    let new_conn = matches!(kind, DriverKind::ClientCredentials { new_conn: true });
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let mut set = tokio::task::JoinSet::new();

    // Refresh chains start with one password grant per connection, before
    // the clock (and the warm-up) starts.
    let mut chains: Vec<Option<String>> = vec![None; conn];
    let clients: Vec<reqwest::Client> = (0..conn)
        .map(|_| http_client(1, new_conn))
        .collect::<Result<_>>()?;
    if kind == DriverKind::Refresh {
        let mut seeds = tokio::task::JoinSet::new();
        for (i, http) in clients.iter().enumerate() {
            let (http, target) = (http.clone(), target.clone());
            seeds.spawn(async move { (i, seed_chain(&http, &target).await) });
        }
        while let Some(done) = seeds.join_next().await {
            let (i, token) = done.context("a seeding task failed")?;
            chains[i] = Some(token.context("starting a refresh chain")?);
        }
    }

    for (i, (http, chain)) in clients.into_iter().zip(chains).enumerate() {
        let id = i as u64;
        set.spawn(worker(id, http, target.clone(), kind, phase.clone(), chain));
    }
    let paced = match beside {
        Some(rate) => Some(tokio::spawn(paced_introspection(
            http_client(64, false)?,
            target.clone(),
            rate,
            phase.clone(),
        ))),
        None => None,
    };
    tokio::time::sleep(warmup).await;
    let start = mark()?;
    let t0 = Instant::now();
    phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(duration).await;
    phase.store(STOP, Ordering::Relaxed);
    let elapsed = t0.elapsed();
    let end = mark()?;

    let mut hist = histogram()?;
    let (mut requests, mut non_2xx, mut socket_errors, mut chain_restarts) = (0, 0, 0, 0);
    let drain = async {
        while let Some(done) = set.join_next().await {
            let st = done.context("a driver task panicked")??;
            hist.add(&st.hist).context("merging histograms")?;
            requests += st.requests;
            non_2xx += st.non_2xx;
            socket_errors += st.socket_errors;
            chain_restarts += st.chain_restarts;
        }
        Ok::<(), anyhow::Error>(())
    };
    tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(60), drain)
        .await
        .context("driver tasks did not stop in time")??;
    let beside = match paced {
        Some(task) => Some(
            tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(60), task)
                .await
                .context("the paced introspection did not stop in time")?
                .context("the paced introspection panicked")??,
        ),
        None => None,
    };

    let secs = elapsed.as_secs_f64();
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    Ok(Measured {
        load: LoadResult {
            requests,
            elapsed_s: secs,
            rps: requests as f64 / secs.max(1e-9),
            p50_ms: q(0.50),
            p99_ms: q(0.99),
            non_2xx,
            socket_errors,
        },
        start,
        end,
        chain_restarts,
        beside,
    })
}

//! Logs: tracing to stderr, text or JSON, and one line per request with a
//! request id. Only the method, the path (never the query, which can carry
//! codes) and the status are logged: no secret, password or token.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use actix_web::{web, HttpMessage};

use crate::config::LogFormat;
use crate::metrics::{ErrorLabel, GrantLabel, RequestSample};
use crate::state::AppState;

pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is not an error worth stopping for.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accept a caller's request id if it is short and plain, else make one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id);
    let method = req.method().to_string();
    let path = req.path().chars().take(256).collect::<String>();
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        let request = res.request();
        let endpoint = request.match_pattern();
        let grant_type = request.extensions().get::<GrantLabel>().map_or("", |g| g.0);
        state.metrics.request(&RequestSample {
            endpoint: endpoint.as_deref().unwrap_or("unmatched"),
            method: &method,
            status,
            grant_type,
            error: res.response().extensions().get::<ErrorLabel>().map(|e| e.0),
            micros,
        });
    }
    span.in_scope(|| tracing::info!(%method, %path, status, micros, "request"));
    Ok(res)
}

//! Personal access tokens over HTTP (decisions in `portcullis_core::pats`):
//!
//! - `POST /api/pats` `{"name", "scopes": [...], "expires_at"?}` makes one
//!   and shows the token once; `GET /api/pats` (`?user_id=` for an
//!   administrator), `GET /api/pats/{id}`, `POST /api/pats/{id}/disable`,
//!   `POST /api/pats/{id}/enable`, `DELETE /api/pats/{id}` manage them. The
//!   caller presents an access token of a user (`Authorization: Bearer`),
//!   never a PAT.
//! - Last uses are kept in memory ([`PatUsage`]) and written in batches by a
//!   background task ([`spawn_flush`]): a PAT in use costs no database write
//!   per request.
//! - The token endpoint's token exchange (RFC 8693) runs here ([`exchange`])
//!   because it reads PATs and records their use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::client_auth::{self, Credentials};
use portcullis_core::grants::token_exchange::{self, ExchangeResponse};
use portcullis_core::model::{AccessToken, PersonalAccessToken, User};
use portcullis_core::params::Params;
use portcullis_core::pats::{self, Manager, PatCheck, PatPolicy, PatRequest, RecentUse};
use portcullis_core::ports::PatStore;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_storage::{Store, Tx};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::access_bearer;
use crate::crypto::OsRandom;
use crate::endpoints::introspect::shape;
use crate::extract;
use crate::render::{bearer_error, blocking_failed, ApiError};
use crate::state::{now, read, AppState};

/// Last uses of PATs not yet written to the store, by PAT id.
#[derive(Debug, Default)]
pub struct PatUsage {
    recent: Mutex<HashMap<String, i64>>,
}

impl PatUsage {
    fn map(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        // A panic while holding the lock leaves a map that is still sound.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A PAT was used at `at`.
    pub fn record(&self, id: &str, at: i64) {
        let mut m = self.map();
        match m.get_mut(id) {
            Some(t) => *t = (*t).max(at),
            None => {
                m.insert(id.to_string(), at);
            }
        }
    }

    /// Every unflushed use.
    pub fn snapshot(&self) -> Vec<(String, i64)> {
        self.map().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Forget what `batch` wrote, keeping uses newer than it (made while
    /// it was being written).
    pub fn flushed(&self, batch: &[(String, i64)]) {
        let mut m = self.map();
        for (id, at) in batch {
            if m.get(id).is_some_and(|t| t <= at) {
                m.remove(id);
            }
        }
    }

    /// Write every unflushed use in one transaction; how many rows moved.
    pub fn flush(&self, store: &Store) -> Result<usize, portcullis_core::ports::StoreError> {
        let batch = self.snapshot();
        if batch.is_empty() {
            return Ok(0);
        }
        let n = store.write(|tx| tx.touch_pats(&batch))?;
        self.flushed(&batch);
        Ok(n)
    }
}

impl RecentUse for PatUsage {
    fn last_used(&self, id: &str) -> Option<i64> {
        self.map().get(id).copied()
    }
}

/// Flush last uses every `every` (as the key reload runs beside it).
pub fn spawn_flush(usage: Arc<PatUsage>, store: Store, every: Duration) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let (usage, store) = (Arc::clone(&usage), store.clone());
            match web::block(move || usage.flush(&store)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(cause = %e, "flushing PAT last uses failed"),
                Err(e) => tracing::warn!(cause = %e, "flushing PAT last uses did not run"),
            }
        }
    });
}

/// The rules PATs are judged by on this node.
pub fn pat_check(st: &AppState) -> PatCheck<'_> {
    PatCheck {
        policy: PatPolicy::from_days(st.config.pats.inactivity_days),
        recent: &*st.pat_usage,
    }
}

/// The live PAT behind `token` and its user, its use recorded (in memory).
pub async fn resolve_pat(
    state: &web::Data<AppState>,
    token: String,
    t: i64,
) -> Result<Option<(PersonalAccessToken, User)>, ApiError> {
    read(state, move |tx, st| {
        let found = pats::resolve(tx, &token, &pat_check(st), t)?;
        if let Some((p, _)) = &found {
            st.pat_usage.record(&p.id, t);
        }
        Ok(found)
    })
    .await
}

// --- token exchange (RFC 8693) at the token endpoint ---

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`: the client
/// authenticates, a JWT subject token is verified here, core decides.
pub async fn exchange(
    state: &web::Data<AppState>,
    creds: Credentials,
    params: Params,
) -> Result<ExchangeResponse, ApiError> {
    let st = state.clone();
    let out = web::block(move || {
        let t = now();
        let subject = params
            .get("subject_token")
            .map(|s| shape(&st, s.to_string(), t));
        let signer = st.signer(t);
        let ctx = st.ctx(&signer);
        let out = st.store.write(|tx| {
            let client = client_auth::authenticate_throttled(tx, &st.throttles, &creds, t)?;
            let presented = subject.as_ref().map(|s| s.presented());
            token_exchange::handle(
                tx,
                &ctx,
                &mut OsRandom,
                &client,
                &params,
                presented,
                &pat_check(&st),
            )
        })?;
        if let Some(id) = &out.pat_id {
            st.pat_usage.record(id, t);
        }
        Ok::<_, OAuthError>(out.response)
    })
    .await
    .map_err(blocking_failed)??;
    Ok(out)
}

// --- the management API ---

/// Who is calling: a user's access token (not a PAT: a PAT cannot make or
/// manage PATs, so a stolen one cannot mint successors).
async fn manager(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(Manager, AccessToken, User), HttpResponse> {
    match access_bearer(req, state).await {
        Ok((token, Some(user))) => Ok((Manager::new(&user, &token.scope), token, user)),
        Ok((_, None)) => Err(bearer_error(true)),
        Err(e) => Err(e.response(state)),
    }
}

fn error(e: ApiError) -> HttpResponse {
    let mut res = e.error_response();
    // RFC 6750 §3.1: insufficient_scope is a 403 with a Bearer challenge.
    if e.error.code == ErrorCode::InsufficientScope {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(
                "Bearer error=\"insufficient_scope\", scope=\"admin\"",
            ),
        );
    }
    res
}

fn not_found() -> ApiError {
    OAuthError::with(ErrorCode::NotFound, "no such personal access token").into()
}

fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn path_id(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_string()
}

/// Run `f` in one write transaction on a blocking thread.
async fn write<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&mut Tx<'t>, &AppState) -> Result<T, OAuthError> + Send + 'static,
{
    let st = state.clone();
    Ok(web::block(move || st.store.write(|tx| f(tx, &st)))
        .await
        .map_err(blocking_failed)??)
}

/// `expires_at`: Unix seconds (a number) or an RFC 3339 date-time (a string).
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresAt {
    Unix(i64),
    Text(String),
}

impl ExpiresAt {
    fn seconds(self) -> Result<i64, OAuthError> {
        match self {
            ExpiresAt::Unix(t) => Ok(t),
            ExpiresAt::Text(s) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|d| d.timestamp())
                .map_err(|_| {
                    OAuthError::invalid_request(
                        "expires_at must be Unix seconds or an RFC 3339 date-time",
                    )
                }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<ExpiresAt>,
}

/// `POST /api/pats`: 201 with the PAT and its `token`, shown this once.
#[utoipa::path(post, path = "/api/pats", tag = "personal access tokens", request_body(content = serde_json::Value, content_type = "application/json", description = "{\"name\", \"scopes\": [...], \"expires_at\"?}"), responses((status = 201, description = "Created; the token (pcp_...) is shown once", content_type = "application/json"), (status = 400, description = "Bad input or scope", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (_, token, user) = match manager(&req, &state).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let run = async {
        let body: CreateBody = extract::json(&req, payload).await?;
        let request = PatRequest {
            name: body.name,
            scope: pats::scopes_from_list(&body.scopes)?,
            expires_at: body.expires_at.map(ExpiresAt::seconds).transpose()?,
        };
        let t = now();
        write(&state, move |tx, st| {
            let made = pats::create(tx, &mut OsRandom, &user, &token.scope, request, t)?;
            let mut view = pats::view(&made.record, &pat_check(st), t);
            if let Some(obj) = view.as_object_mut() {
                obj.insert("token".into(), json!(made.token));
            }
            Ok(view)
        })
        .await
    };
    match run.await {
        Ok(view) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(view),
        Err(e) => error(e),
    }
}

/// `GET /api/pats`, `?user_id=` for another user's (administrators).
#[utoipa::path(get, path = "/api/pats", tag = "personal access tokens", params(("user_id" = Option<String>, Query, description = "Admins: another user's PATs")), responses((status = 200, description = "The caller's PATs (never the token or its hash)", content_type = "application/json"), (status = 400, description = "A repeated query parameter", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "user_id without admin", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (who, _, _) = match manager(&req, &state).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let user_id = match Params::from_urlencoded(req.query_string().as_bytes()) {
        Ok(p) => p.get("user_id").map(str::to_string),
        Err(e) => return error(e.into()),
    };
    let t = now();
    let r = read(&state, move |tx, st| {
        let found = pats::list(tx, &who, user_id.as_deref())?;
        let check = pat_check(st);
        Ok(found
            .iter()
            .map(|p| pats::view(p, &check, t))
            .collect::<Vec<_>>())
    })
    .await;
    match r {
        Ok(items) => ok(json!({ "items": items })),
        Err(e) => error(e),
    }
}

/// `GET /api/pats/{id}`.
#[utoipa::path(get, path = "/api/pats/{id}", tag = "personal access tokens", params(("id" = String, Path, description = "The PAT id")), responses((status = 200, description = "One PAT", content_type = "application/json"), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 404, description = "Not found (or not yours)", body = crate::openapi::ErrorBody)))]
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (who, _, _) = match manager(&req, &state).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let id = path_id(&req);
    let t = now();
    let r = read(&state, move |tx, st| {
        Ok(pats::get(tx, &who, &id)?.map(|p| pats::view(&p, &pat_check(st), t)))
    })
    .await;
    match r {
        Ok(Some(v)) => ok(v),
        Ok(None) => error(not_found()),
        Err(e) => error(e),
    }
}

async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    disabled: bool,
) -> HttpResponse {
    let (who, _, _) = match manager(&req, &state).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let id = path_id(&req);
    let t = now();
    let r = write(&state, move |tx, st| {
        let pat = pats::set_disabled(tx, &mut OsRandom, &who, &id, disabled, t)?;
        Ok(pat.map(|p| pats::view(&p, &pat_check(st), t)))
    })
    .await;
    match r {
        Ok(Some(v)) => ok(v),
        Ok(None) => error(not_found()),
        Err(e) => error(e),
    }
}

/// `POST /api/pats/{id}/disable`.
#[utoipa::path(post, path = "/api/pats/{id}/disable", tag = "personal access tokens", params(("id" = String, Path, description = "The PAT id")), responses((status = 200, description = "Disabled", content_type = "application/json"), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn disable(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    set_disabled(req, state, true).await
}

/// `POST /api/pats/{id}/enable`. An inactive or expired PAT stays so.
#[utoipa::path(post, path = "/api/pats/{id}/enable", tag = "personal access tokens", params(("id" = String, Path, description = "The PAT id")), responses((status = 200, description = "Enabled", content_type = "application/json"), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn enable(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    set_disabled(req, state, false).await
}

/// `DELETE /api/pats/{id}`: 204.
#[utoipa::path(delete, path = "/api/pats/{id}", tag = "personal access tokens", params(("id" = String, Path, description = "The PAT id")), responses((status = 204, description = "Deleted"), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
pub async fn delete(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (who, _, _) = match manager(&req, &state).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let id = path_id(&req);
    let t = now();
    let r = write(&state, move |tx, _| {
        pats::delete(tx, &mut OsRandom, &who, &id, t)
    })
    .await;
    match r {
        Ok(true) => HttpResponse::NoContent().finish(),
        Ok(false) => error(not_found()),
        Err(e) => error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_keeps_the_latest_use_and_survives_a_flush_race() {
        let u = PatUsage::default();
        u.record("a", 10);
        u.record("a", 5);
        u.record("b", 7);
        assert_eq!(u.last_used("a"), Some(10));
        let mut batch = u.snapshot();
        batch.sort();
        assert_eq!(batch, vec![("a".to_string(), 10), ("b".to_string(), 7)]);
        // A use while the batch is being written stays for the next flush.
        u.record("a", 12);
        u.flushed(&batch);
        assert_eq!(u.last_used("a"), Some(12));
        assert_eq!(u.last_used("b"), None);
    }

    #[test]
    fn expires_at_is_unix_seconds_or_rfc3339() {
        assert_eq!(ExpiresAt::Unix(1_700_000_000).seconds(), Ok(1_700_000_000));
        assert_eq!(
            ExpiresAt::Text("2023-11-14T22:13:20Z".into()).seconds(),
            Ok(1_700_000_000)
        );
        assert_eq!(
            ExpiresAt::Text("2023-11-15T00:13:20+02:00".into()).seconds(),
            Ok(1_700_000_000)
        );
        assert_eq!(
            ExpiresAt::Text("tomorrow".into())
                .seconds()
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }
}

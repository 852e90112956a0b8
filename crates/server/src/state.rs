//! What every request handler can reach, and the one way to run a grant:
//! inside one store transaction (on SQLite, on its writer thread; else on a
//! blocking thread).

use std::sync::Arc;

use actix_web::web;
use portcullis_core::client_auth::{self, Credentials};
use portcullis_core::dpop::Proof;
use portcullis_core::ports::Random;
use portcullis_core::throttle::{self, Kind, Throttles};
use portcullis_core::tokens::{Ctx, GrantResult, Outcome, TokenPolicy, TokenResponse};
use portcullis_core::{Issuer, OAuthError};
use portcullis_storage::{Store, Tx};

use crate::config::Config;
use crate::crypto::{OsRandom, SecretBox};
use crate::keys::{DeferredSigner, Keys, RingSigner};
use crate::passwords::HashPool;
use crate::render::{blocking_failed, ApiError};

pub struct AppState {
    pub config: Config,
    pub issuer: Issuer,
    pub store: Store,
    pub keys: Arc<Keys>,
    /// The metadata document, serialized once at start.
    pub metadata_json: String,
    pub policy: TokenPolicy,
    /// Failed passwords, one-time codes and client authentications.
    pub throttles: Throttles,
    /// Shared by every node (stored in the database): derives refresh successors.
    pub derive_key: Vec<u8>,
    pub hasher: HashPool,
    pub sealer: SecretBox,
    /// The built-in client behind the direct JSON login API.
    pub login_client_id: String,
    /// The OpenAPI document, serialized once at start.
    pub openapi_json: String,
    /// Page templates.
    pub templates: minijinja::Environment<'static>,
    /// Last uses of personal access tokens not yet written to the store.
    pub pat_usage: Arc<crate::endpoints::pats::PatUsage>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Client ID metadata documents: fetched, checked and cached.
    pub documents: crate::client_metadata::Documents,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl AppState {
    pub fn signer(&self, now: i64) -> RingSigner {
        RingSigner {
            ring: self.keys.current(),
            now,
        }
    }

    pub fn ctx<'a>(&'a self, signer: &'a RingSigner) -> Ctx<'a> {
        self.ctx_with(signer, signer.now)
    }

    fn ctx_with<'a>(&'a self, signer: &'a dyn portcullis_core::ports::Signer, now: i64) -> Ctx<'a> {
        Ctx {
            issuer: &self.issuer,
            policy: &self.policy,
            signer,
            derive_key: &self.derive_key,
            now,
            dpop_jkt: None,
            user_agent: None,
        }
    }
}

/// Run `f` in one write transaction on a blocking thread. An `Err` rolls
/// back; `Outcome::Denied` commits and then becomes the error. JWTs are
/// signed after the commit ([`DeferredSigner`]), outside the write lock.
pub async fn write_grant<F>(state: &web::Data<AppState>, f: F) -> Result<TokenResponse, ApiError>
where
    F: for<'t> FnOnce(&mut Tx<'t>, &Ctx, &mut dyn Random) -> GrantResult + Send + 'static,
{
    write_grant_bound(state, None, None, f).await
}

/// [`write_grant`] for a token request with a checked DPoP proof (RFC
/// 9449 §5): its `jti` is consumed in the grant's transaction and the
/// tokens are bound to its key (`Ctx::dpop_jkt`). `user_agent`: the
/// request's, cleaned ([`crate::extract::user_agent`]; `Ctx::user_agent`).
pub async fn write_grant_bound<F>(
    state: &web::Data<AppState>,
    proof: Option<Proof>,
    user_agent: Option<String>,
    f: F,
) -> Result<TokenResponse, ApiError>
where
    F: for<'t> FnOnce(&mut Tx<'t>, &Ctx, &mut dyn Random) -> GrantResult + Send + 'static,
{
    let st = state.clone();
    let t = now();
    let grant = move |tx: &mut Tx<'_>| -> Result<(Outcome, DeferredSigner), OAuthError> {
        let deferred = DeferredSigner::new();
        let outcome = {
            let mut ctx = st.ctx_with(&deferred, t);
            ctx.dpop_jkt = proof.as_ref().map(|p| p.jkt.as_str());
            ctx.user_agent = user_agent.as_deref();
            if let Some(p) = &proof {
                portcullis_core::dpop::consume(tx, p, &st.config.dpop.rules())?;
            }
            f(tx, &ctx, &mut OsRandom)?
        };
        Ok((outcome, deferred))
    };
    // SQLite: the writer thread runs the grant back to back with the other
    // queued writes, without a blocking thread in between (group commit,
    // storage's group.rs). PostgreSQL: a transaction on a blocking thread.
    let (outcome, deferred) = match state.store.write_queued(grant) {
        Ok(queued) => queued.await?,
        Err(grant) => {
            let st = state.clone();
            web::block(move || st.store.write(grant))
                .await
                .map_err(blocking_failed)??
        }
    };
    let r = match outcome {
        Outcome::Issued(r) => r,
        Outcome::Denied { error, .. } => return Err(error.into()),
    };
    if deferred.is_empty() {
        return Ok(r);
    }
    let cheap = deferred.is_cheap();
    let sign = move |st: &AppState, mut r: TokenResponse| -> Result<TokenResponse, ApiError> {
        let mut fields: Vec<&mut String> = vec![&mut r.access_token];
        fields.extend(r.id_token.as_mut());
        deferred.finish(&st.signer(t), &mut fields)?;
        Ok(r)
    };
    // ES256 and EdDSA signatures (tens of µs) are made here, after the
    // commit: cheaper than handing them to another thread. RS256 (~0.3-0.4
    // ms) goes to a blocking thread, beside the next writes.
    if cheap {
        return sign(state, r);
    }
    let st = state.clone();
    web::block(move || sign(&st, r))
        .await
        .map_err(blocking_failed)?
}

/// Run `f` in a read transaction on a blocking thread.
pub async fn read<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&mut Tx<'t>, &AppState) -> Result<T, portcullis_core::OAuthError>
        + Send
        + 'static,
{
    let st = state.clone();
    Ok(web::block(move || st.store.read(|tx| f(tx, &st)))
        .await
        .map_err(blocking_failed)??)
}

/// [`read`] for a few point lookups (introspection): on SQLite run right
/// here on the async worker when a pooled connection is idle, since reading
/// a handful of rows from the local file takes tens of µs, less than the
/// hand-off to a blocking thread and back (docs/performance.md, change 13);
/// on PostgreSQL, a network round trip, on a blocking thread.
pub async fn read_point<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&mut Tx<'t>, &AppState) -> Result<T, portcullis_core::OAuthError>
        + Send
        + 'static,
{
    if state.store.backend() != portcullis_storage::Backend::Sqlite {
        return read(state, f).await;
    }
    // Only with a pooled connection idle now: the worker never waits for
    // one (with none idle, the read goes to a blocking thread as before).
    let st = state.clone();
    match state.store.try_read(move |tx| f(tx, &st)) {
        Ok(answer) => Ok(answer?),
        Err(f) => {
            let st = state.clone();
            Ok(web::block(move || st.store.read(f))
                .await
                .map_err(blocking_failed)??)
        }
    }
}

/// Count a refused client authentication against its `client_id` (RFC 6749
/// §5.2 `invalid_client` for credentials naming a client), in a transaction
/// of its own: the refused request's transaction rolled back. Passes
/// `result` through.
pub async fn count_client_failure<T>(
    state: &web::Data<AppState>,
    creds: &Credentials,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let failed = result
        .as_ref()
        .err()
        .and_then(|e| client_auth::counts_as_failure(creds, &e.error));
    match failed {
        Some(id) => record_client(state, id.to_string(), true).await.and(result),
        None => result,
    }
}

/// Clear the failures of a client that just authenticated from a read
/// transaction ([`client_auth::authenticate_gated`] said some were on
/// record).
pub async fn clear_client_failures(
    state: &web::Data<AppState>,
    client_id: String,
) -> Result<(), ApiError> {
    record_client(state, client_id, false).await
}

/// One attempt of `client_id` in a write transaction of its own.
pub async fn record_client(
    state: &web::Data<AppState>,
    client_id: String,
    failed: bool,
) -> Result<(), ApiError> {
    let st = state.clone();
    web::block(move || {
        st.store.write(|tx| {
            throttle::record(tx, &st.throttles, Kind::Client, &client_id, failed, now())
        })
    })
    .await
    .map_err(blocking_failed)?
    .map_err(ApiError::from)
}

//! The janitor: deletes what no request can use any more (core's
//! `janitor::plan` says what and from when), in batches of
//! `janitor.batch_size`, each its own short transaction with a pause in
//! between, so requests are never held up behind it. Runs every
//! `janitor.interval_secs` in the background and on demand with
//! `portcullis janitor run`.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::web;
use portcullis_core::janitor::{plan, remove_idle_clients};
use portcullis_core::ports::{JanitorStore, StoreError};
use portcullis_core::OAuthError;
use portcullis_storage::Store;

use crate::config::Config;
use crate::crypto::OsRandom;
use crate::state::now;

/// Rows deleted by one sweep, by kind (only kinds with deletions).
pub type Swept = BTreeMap<&'static str, usize>;

/// One full sweep at `now`.
pub fn sweep(store: &Store, config: &Config, now: i64) -> Result<Swept, StoreError> {
    let policy = config.janitor_policy();
    let batch = config.janitor.batch_size.max(1);
    let limit = usize::try_from(batch).unwrap_or(usize::MAX);
    let pause = Duration::from_millis(config.janitor.batch_pause_ms);
    let mut swept = Swept::new();
    for (what, cutoff) in plan(now, &policy) {
        loop {
            let n = store.write(|tx| tx.purge(what, cutoff, batch))?;
            if n > 0 {
                *swept.entry(what.as_str()).or_default() += n;
            }
            if n < limit {
                break;
            }
            std::thread::sleep(pause);
        }
    }
    loop {
        let removed = store
            .write(|tx| remove_idle_clients(tx, &mut OsRandom, now, &policy, batch))
            .map_err(|e: OAuthError| {
                StoreError::Backend(e.source.clone().unwrap_or_else(|| e.to_string()))
            })?;
        if !removed.is_empty() {
            *swept.entry("idle_dynamic_clients").or_default() += removed.len();
        }
        if removed.len() < limit {
            break;
        }
        std::thread::sleep(pause);
    }
    Ok(swept)
}

/// Sweep every `janitor.interval_secs` (0: never) on a blocking thread.
pub fn spawn(store: Store, config: Config) {
    let every = config.janitor.interval_secs;
    if every == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(every));
        loop {
            tick.tick().await;
            let (store, config) = (store.clone(), config.clone());
            match web::block(move || sweep(&store, &config, now())).await {
                Ok(Ok(swept)) if !swept.is_empty() => {
                    tracing::info!(deleted = ?swept, "janitor sweep")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(cause = %e, "janitor sweep failed"),
                Err(e) => tracing::warn!(cause = %e, "janitor sweep did not run"),
            }
        }
    });
}

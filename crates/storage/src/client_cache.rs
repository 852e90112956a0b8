//! Parsed client records kept in memory, each under the clients' cache
//! epoch it was read at (`cache_epochs`, migration 13).
//!
//! Every row of `clients` inserted, updated (any column but
//! `last_used_at`, which no record holds) or deleted sets a new random
//! epoch in the same transaction (a trigger, so the CLI, another node or a
//! hand-written statement cannot bypass it). A transaction reads the epoch
//! first and takes a record from here only when it was stored under that
//! same epoch: the record is then exactly the row the transaction would
//! have read (on PostgreSQL, where each statement of a READ COMMITTED
//! transaction reads afresh, the row its next statement would have read
//! at some moment between the two). A change that rolled back leaves an
//! epoch that never recurs.
//!
//! One map for the process, keyed by epoch and then client id: an epoch is
//! random per database and per change, so records of two databases opened
//! side by side (tests) never meet. Records of past epochs stay until the
//! map is full and starts afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use portcullis_core::model::Client;

/// Records kept at most; the map starts afresh when full.
const CAPACITY: usize = 4096;

/// Records by epoch, then by client id.
#[derive(Default)]
struct Kept {
    by_epoch: HashMap<i64, HashMap<String, Arc<Client>>>,
    len: usize,
}

fn kept() -> &'static Mutex<Kept> {
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(Kept::default()))
}

/// Client `id` as stored under `epoch`, if kept.
pub(crate) fn get(epoch: i64, id: &str) -> Option<Client> {
    let hit = {
        let kept = kept().lock().ok()?;
        kept.by_epoch.get(&epoch)?.get(id).map(Arc::clone)?
    };
    Some(Client::clone(&hit))
}

/// Keep `client` as read under `epoch`.
pub(crate) fn put(epoch: i64, client: &Client) {
    let record = Arc::new(client.clone());
    if let Ok(mut kept) = kept().lock() {
        if kept.len >= CAPACITY {
            *kept = Kept::default();
        }
        let fresh = kept
            .by_epoch
            .entry(epoch)
            .or_default()
            .insert(client.id.clone(), record)
            .is_none();
        kept.len += usize::from(fresh);
    }
}

//! Parsed client records kept in memory, each under the clients' cache
//! epoch it was read at (`cache_epochs`, migration 13).
//!
//! Every row of `clients` inserted, updated or deleted sets a new random
//! epoch in the same transaction (a trigger, so the CLI, another node or a
//! hand-written statement cannot bypass it). A transaction reads the epoch
//! first and takes a record from here only when it was stored under that
//! same epoch: the record is then exactly the row the transaction would
//! have read. A change that rolled back leaves an epoch that never recurs.
//!
//! One map for the process: an epoch is random per database, so records
//! of two databases opened side by side (tests) never match each other's
//! epoch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use portcullis_core::model::Client;

/// Records kept at most; the map starts afresh when full.
const CAPACITY: usize = 4096;

type Map = HashMap<String, (i64, Arc<Client>)>;

fn map() -> &'static Mutex<Map> {
    static MAP: OnceLock<Mutex<Map>> = OnceLock::new();
    MAP.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Client `id` as stored under `epoch`, if kept.
pub(crate) fn get(epoch: i64, id: &str) -> Option<Client> {
    let hit = {
        let map = map().lock().ok()?;
        match map.get(id) {
            Some((e, client)) if *e == epoch => Some(Arc::clone(client)),
            _ => None,
        }
    };
    hit.map(|c| Client::clone(&c))
}

/// Keep `client` as read under `epoch`.
pub(crate) fn put(epoch: i64, client: &Client) {
    let record = Arc::new(client.clone());
    if let Ok(mut map) = map().lock() {
        if map.len() >= CAPACITY && !map.contains_key(&client.id) {
            map.clear();
        }
        map.insert(client.id.clone(), (epoch, record));
    }
}

use diesel::prelude::*;
use portcullis_core::ports::{SecretStore, StoreResult};

use super::on_conflict;
use crate::error::OrStore;
use crate::schema::server_secrets as secrets;
use crate::Tx;

impl SecretStore for Tx<'_> {
    /// Insert-if-absent, then read: under concurrency the loser's insert
    /// does nothing (PostgreSQL waits for the winner's commit; SQLite
    /// writers are serialised) and both read the winner's value.
    fn get_or_insert_secret(
        &mut self,
        name: &str,
        candidate: &str,
        now: i64,
    ) -> StoreResult<String> {
        let insert = diesel::insert_into(secrets::table).values((
            secrets::name.eq(name),
            secrets::value.eq(candidate),
            secrets::created_at.eq(now),
        ));
        on_conflict(insert, "ON CONFLICT (name) DO NOTHING")
            .execute(self.conn)
            .store()?;
        secrets::table
            .find(name)
            .select(secrets::value)
            .first(self.conn)
            .store()
    }
}

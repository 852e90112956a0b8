use diesel::prelude::*;
use portcullis_core::ports::{JtiStore, StoreResult};

use super::on_conflict;
use crate::error::OrStore;
use crate::schema::used_jtis;
use crate::Tx;

impl JtiStore for Tx<'_> {
    fn consume_jti(&mut self, key: &str, expires_at: i64) -> StoreResult<bool> {
        // RFC 7523 §3 (7), RFC 9449 §11.1: the first INSERT of a key wins;
        // a replay inserts nothing (the same statement on both dialects).
        let insert = diesel::insert_into(used_jtis::table)
            .values((used_jtis::key.eq(key), used_jtis::expires_at.eq(expires_at)));
        Ok(on_conflict(insert, r#"ON CONFLICT ("key") DO NOTHING"#)
            .execute(self.conn)
            .store()?
            == 1)
    }
}

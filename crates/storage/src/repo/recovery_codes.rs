use diesel::prelude::*;
use portcullis_core::ports::{RecoveryCodeStore, StoreResult};

use crate::error::OrStore;
use crate::schema::recovery_codes;
use crate::Tx;

impl RecoveryCodeStore for Tx<'_> {
    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        code_hashes: &[String],
        now: i64,
    ) -> StoreResult<()> {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(self.conn)
            .store()?;
        let rows: Vec<_> = code_hashes
            .iter()
            .map(|h| {
                (
                    recovery_codes::user_id.eq(user_id),
                    recovery_codes::code_hash.eq(h),
                    recovery_codes::created_at.eq(now),
                    recovery_codes::used_at.eq(None::<i64>),
                )
            })
            .collect();
        for row in rows {
            diesel::insert_into(recovery_codes::table)
                .values(row)
                .execute(self.conn)
                .store()?;
        }
        Ok(())
    }

    fn use_recovery_code(&mut self, user_id: &str, code_hash: &str, now: i64) -> StoreResult<bool> {
        let unused = recovery_codes::table
            .find((user_id, code_hash))
            .filter(recovery_codes::used_at.is_null());
        let n = diesel::update(unused)
            .set(recovery_codes::used_at.eq(now))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn count_recovery_codes(&mut self, user_id: &str) -> StoreResult<usize> {
        let n: i64 = recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(self.conn)
            .store()?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn delete_recovery_codes(&mut self, user_id: &str) -> StoreResult<usize> {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(self.conn)
            .store()
    }
}

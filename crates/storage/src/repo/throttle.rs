use diesel::prelude::*;
use portcullis_core::ports::{StoreResult, ThrottleState, ThrottleStore};

use super::on_conflict;
use crate::error::OrStore;
use crate::schema::login_attempts as attempts;
use crate::Tx;

/// A fixed window per key, opened by its first failure. Each step is one
/// statement on the key's row, so concurrent failures on PostgreSQL queue on
/// the row lock and none is lost (SQLite serialises writers anyway).
impl ThrottleStore for Tx<'_> {
    fn throttle_state(&mut self, key: &str, now: i64) -> StoreResult<ThrottleState> {
        let until: Option<Option<i64>> = native!(self.conn, |c| attempts::table
            .find(key)
            .select(attempts::blocked_until)
            .first(c)
            .optional())
        .store()?;
        Ok(match until {
            None => ThrottleState::Clear,
            Some(until) => match until.filter(|&u| u > now) {
                Some(u) => ThrottleState::Blocked(u - now),
                None => ThrottleState::Failing,
            },
        })
    }

    fn record_failure(
        &mut self,
        key: &str,
        now: i64,
        window: i64,
        max_failures: u32,
        block: i64,
    ) -> StoreResult<()> {
        let row = attempts::table.find(key);
        let insert = diesel::insert_into(attempts::table).values((
            attempts::key.eq(key),
            attempts::failures.eq(0),
            attempts::window_start.eq(now),
            attempts::blocked_until.eq(None::<i64>),
        ));
        on_conflict(insert, r#"ON CONFLICT ("key") DO NOTHING"#)
            .execute(self.conn)
            .store()?;
        diesel::update(row.filter(attempts::window_start.le(now.saturating_sub(window))))
            .set((attempts::failures.eq(0), attempts::window_start.eq(now)))
            .execute(self.conn)
            .store()?;
        diesel::update(row)
            .set(attempts::failures.eq(attempts::failures + 1))
            .execute(self.conn)
            .store()?;
        let max = i32::try_from(max_failures).unwrap_or(i32::MAX);
        diesel::update(row.filter(attempts::failures.ge(max)))
            .set(attempts::blocked_until.eq(now.saturating_add(block)))
            .execute(self.conn)
            .store()?;
        Ok(())
    }

    fn clear_failures(&mut self, key: &str) -> StoreResult<()> {
        diesel::delete(attempts::table.find(key))
            .execute(self.conn)
            .store()
            .map(drop)
    }
}

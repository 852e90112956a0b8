use diesel::prelude::*;
use portcullis_core::model::InitialAccessToken;
use portcullis_core::ports::{InitialAccessTokenStore, StoreResult};

use crate::error::OrStore;
use crate::schema::initial_access_tokens as iat;
use crate::Tx;

/// Initial access tokens (RFC 7591 §3), by hash. A use is one `UPDATE`
/// whose `WHERE` holds every condition (not expired, uses left), so
/// concurrent registrations never exceed `max_uses`.
impl InitialAccessTokenStore for Tx<'_> {
    fn insert_initial_access_token(&mut self, t: &InitialAccessToken) -> StoreResult<()> {
        diesel::insert_into(iat::table)
            .values((
                iat::token_hash.eq(&t.token_hash),
                iat::created_at.eq(t.created_at),
                iat::expires_at.eq(t.expires_at),
                iat::max_uses.eq(t.max_uses),
                iat::uses.eq(t.uses),
            ))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn use_initial_access_token(&mut self, token_hash: &str, now: i64) -> StoreResult<bool> {
        let n = diesel::update(
            iat::table
                .find(token_hash)
                .filter(iat::expires_at.is_null().or(iat::expires_at.gt(now)))
                .filter(
                    iat::max_uses
                        .is_null()
                        .or(iat::max_uses.gt(iat::uses.nullable())),
                ),
        )
        .set(iat::uses.eq(iat::uses + 1))
        .execute(self.conn)
        .store()?;
        Ok(n == 1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use portcullis_core::ports::StoreError;

    use super::*;
    use crate::testing::each_backend;

    fn token(hash: &str, expires_at: Option<i64>, max_uses: Option<i64>) -> InitialAccessToken {
        InitialAccessToken {
            token_hash: hash.into(),
            created_at: 100,
            expires_at,
            max_uses,
            uses: 0,
        }
    }

    #[test]
    fn uses_are_counted_in_sql_until_expiry_or_the_limit() {
        each_backend(|store| {
            store
                .write(|tx| {
                    tx.insert_initial_access_token(&token("once", None, Some(1)))?;
                    tx.insert_initial_access_token(&token("timed", Some(200), None))?;
                    tx.insert_initial_access_token(&token("twice", Some(500), Some(2)))
                })
                .unwrap();
            let dup = store.write(|tx| tx.insert_initial_access_token(&token("once", None, None)));
            assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
            let use_at = |hash: &str, now: i64| -> bool {
                store
                    .write(|tx| tx.use_initial_access_token(hash, now))
                    .unwrap()
            };
            assert!(use_at("once", 150));
            assert!(!use_at("once", 151), "used up");
            assert!(use_at("timed", 199));
            assert!(use_at("timed", 199), "no limit on uses");
            assert!(!use_at("timed", 200), "expired");
            assert!(use_at("twice", 300));
            assert!(use_at("twice", 301));
            assert!(!use_at("twice", 302));
            assert!(!use_at("unknown", 150));
            let uses: Vec<(String, i64)> = store
                .read(|tx| {
                    iat::table
                        .select((iat::token_hash, iat::uses))
                        .order(iat::token_hash)
                        .load(tx.conn)
                        .store()
                })
                .unwrap();
            assert_eq!(
                uses,
                [("once".into(), 1), ("timed".into(), 2), ("twice".into(), 2)]
            );
        });
    }
}

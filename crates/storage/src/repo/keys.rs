use diesel::prelude::*;
use portcullis_core::model::SigningKey;
use portcullis_core::ports::{KeyStore, StoreError, StoreResult};

use super::{parse, records};
use crate::error::OrStore;
use crate::schema::signing_keys;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, treat_none_as_default_value = false)]
struct KeyRow {
    kid: String,
    alg: String,
    private_key: String,
    public_jwk: String,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
}

impl From<&SigningKey> for KeyRow {
    fn from(k: &SigningKey) -> Self {
        KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.to_string(),
            private_key: k.private_key.clone(),
            public_jwk: k.public_jwk.clone(),
            created_at: k.created_at,
            activates_at: k.activates_at,
            retires_at: k.retires_at,
        }
    }
}

impl TryFrom<KeyRow> for SigningKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> StoreResult<SigningKey> {
        Ok(SigningKey {
            alg: parse("signing_keys.alg", &r.alg)?,
            kid: r.kid,
            private_key: r.private_key,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            activates_at: r.activates_at,
            retires_at: r.retires_at,
        })
    }
}

impl KeyStore for Tx<'_> {
    fn insert_key(&mut self, key: &SigningKey) -> StoreResult<()> {
        diesel::insert_into(signing_keys::table)
            .values(&KeyRow::from(key))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn lock_keys(&mut self) -> StoreResult<()> {
        match self.conn {
            // SQLite: a write transaction (BEGIN IMMEDIATE) already holds
            // the whole database.
            crate::AnyConnection::Sqlite(_) => Ok(()),
            // PostgreSQL: under READ COMMITTED two starting nodes would both
            // see no key; this mode conflicts with itself, so the second
            // waits, then its next read sees the first's keys.
            crate::AnyConnection::Postgresql(_) => {
                diesel::sql_query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
                    .execute(self.conn)
                    .store()
                    .map(drop)
            }
        }
    }

    fn list_keys(&mut self) -> StoreResult<Vec<SigningKey>> {
        let q = signing_keys::table.order((signing_keys::created_at, signing_keys::kid));
        records(q.select(KeyRow::as_select()).load(self.conn).store()?)
    }

    fn set_key_retires_at(&mut self, kid: &str, retires_at: i64) -> StoreResult<bool> {
        let n = diesel::update(signing_keys::table.find(kid))
            .set(signing_keys::retires_at.eq(retires_at))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }
}

use diesel::prelude::*;
use portcullis_core::model::Consent;
use portcullis_core::ports::{ConsentStore, StoreError, StoreResult};

use super::{on_conflict, parse_scopes, record, records};
use crate::error::OrStore;
use crate::schema::consents;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
struct ConsentRow {
    user_id: String,
    client_id: String,
    scope: String,
    granted_at: i64,
    updated_at: i64,
}

impl From<&Consent> for ConsentRow {
    fn from(c: &Consent) -> Self {
        ConsentRow {
            user_id: c.user_id.clone(),
            client_id: c.client_id.clone(),
            scope: c.scope.to_string(),
            granted_at: c.granted_at,
            updated_at: c.updated_at,
        }
    }
}

impl TryFrom<ConsentRow> for Consent {
    type Error = StoreError;
    fn try_from(r: ConsentRow) -> StoreResult<Consent> {
        Ok(Consent {
            scope: parse_scopes("consents.scope", &r.scope)?,
            user_id: r.user_id,
            client_id: r.client_id,
            granted_at: r.granted_at,
            updated_at: r.updated_at,
        })
    }
}

impl ConsentStore for Tx<'_> {
    fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()> {
        let insert = diesel::insert_into(consents::table).values(ConsentRow::from(consent));
        on_conflict(
            insert,
            "ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, \
             granted_at = excluded.granted_at, updated_at = excluded.updated_at",
        )
        .execute(self.conn)
        .store()
        .map(drop)
    }

    fn get_consent(&mut self, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        let q = consents::table
            .find((user_id, client_id))
            .select(ConsentRow::as_select());
        record(q.first(self.conn).optional().store()?)
    }

    fn delete_consent(&mut self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        Ok(diesel::delete(consents::table.find((user_id, client_id)))
            .execute(self.conn)
            .store()?
            == 1)
    }

    fn list_consents(&mut self, user_id: &str) -> StoreResult<Vec<Consent>> {
        let q = consents::table
            .filter(consents::user_id.eq(user_id))
            .order(consents::client_id)
            .select(ConsentRow::as_select());
        records(q.load(self.conn).store()?)
    }
}

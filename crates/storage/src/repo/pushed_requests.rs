use diesel::prelude::*;
use portcullis_core::model::PushedRequest;
use portcullis_core::ports::{PushedRequestStore, StoreResult};

use crate::error::OrStore;
use crate::schema::pushed_requests as par;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = par, treat_none_as_default_value = false)]
struct PushedRequestRow {
    uri_hash: String,
    client_id: String,
    params: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl From<&PushedRequest> for PushedRequestRow {
    fn from(r: &PushedRequest) -> Self {
        PushedRequestRow {
            uri_hash: r.uri_hash.clone(),
            client_id: r.client_id.clone(),
            params: r.params.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        }
    }
}

impl From<PushedRequestRow> for PushedRequest {
    fn from(r: PushedRequestRow) -> Self {
        PushedRequest {
            uri_hash: r.uri_hash,
            client_id: r.client_id,
            params: r.params,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        }
    }
}

impl PushedRequestStore for Tx<'_> {
    fn insert_pushed_request(&mut self, request: &PushedRequest) -> StoreResult<()> {
        diesel::insert_into(par::table)
            .values(&PushedRequestRow::from(request))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_pushed_request(&mut self, uri_hash: &str) -> StoreResult<Option<PushedRequest>> {
        Ok(par::table
            .find(uri_hash)
            .select(PushedRequestRow::as_select())
            .first(self.conn)
            .optional()
            .store()?
            .map(PushedRequest::from))
    }

    fn use_pushed_request(&mut self, uri_hash: &str, now: i64) -> StoreResult<bool> {
        // RFC 9126 §4: single use, decided by the one UPDATE.
        let open = par::table
            .find(uri_hash)
            .filter(par::used_at.is_null())
            .filter(par::expires_at.gt(now));
        Ok(diesel::update(open)
            .set(par::used_at.eq(now))
            .execute(self.conn)
            .store()?
            == 1)
    }
}

use diesel::prelude::*;
use portcullis_core::model::PersonalAccessToken;
use portcullis_core::ports::{PatStore, StoreError, StoreResult};

use super::{parse, parse_scopes, record, records};
use crate::error::OrStore;
use crate::schema::personal_access_tokens as pats;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pats, treat_none_as_default_value = false)]
struct PatRow {
    id: String,
    token_hash: String,
    user_id: String,
    name: String,
    scope: String,
    kind: String,
    client_id: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    disabled: bool,
    revoked_at: Option<i64>,
}

impl From<&PersonalAccessToken> for PatRow {
    fn from(p: &PersonalAccessToken) -> Self {
        PatRow {
            id: p.id.clone(),
            token_hash: p.token_hash.clone(),
            user_id: p.user_id.clone(),
            name: p.name.clone(),
            scope: p.scope.to_string(),
            kind: p.kind.to_string(),
            client_id: p.client_id.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            last_used_at: p.last_used_at,
            disabled: p.disabled,
            revoked_at: p.revoked_at,
        }
    }
}

impl TryFrom<PatRow> for PersonalAccessToken {
    type Error = StoreError;
    fn try_from(r: PatRow) -> StoreResult<PersonalAccessToken> {
        Ok(PersonalAccessToken {
            scope: parse_scopes("personal_access_tokens.scope", &r.scope)?,
            kind: parse("personal_access_tokens.kind", &r.kind)?,
            id: r.id,
            token_hash: r.token_hash,
            user_id: r.user_id,
            name: r.name,
            client_id: r.client_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            disabled: r.disabled,
            revoked_at: r.revoked_at,
        })
    }
}

impl PatStore for Tx<'_> {
    fn insert_pat(&mut self, pat: &PersonalAccessToken) -> StoreResult<()> {
        diesel::insert_into(pats::table)
            .values(&PatRow::from(pat))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_pat_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<PersonalAccessToken>> {
        let q = pats::table
            .filter(pats::token_hash.eq(token_hash))
            .select(PatRow::as_select());
        record(q.first(self.conn).optional().store()?)
    }

    fn list_pats(&mut self, user_id: &str) -> StoreResult<Vec<PersonalAccessToken>> {
        let q = pats::table
            .filter(pats::user_id.eq(user_id))
            .order((pats::created_at, pats::id));
        records(q.select(PatRow::as_select()).load(self.conn).store()?)
    }

    fn set_pat_disabled(&mut self, id: &str, disabled: bool) -> StoreResult<bool> {
        let n = diesel::update(pats::table.find(id))
            .set(pats::disabled.eq(disabled))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn delete_pat(&mut self, id: &str) -> StoreResult<bool> {
        Ok(diesel::delete(pats::table.find(id))
            .execute(self.conn)
            .store()?
            == 1)
    }

    fn get_pat(&mut self, id: &str) -> StoreResult<Option<PersonalAccessToken>> {
        let q = pats::table.find(id).select(PatRow::as_select());
        record(q.first(self.conn).optional().store()?)
    }

    fn touch_pats(&mut self, uses: &[(String, i64)]) -> StoreResult<usize> {
        let mut n = 0;
        for (id, at) in uses {
            // Only forward: two nodes flushing in either order keep the later use.
            n += diesel::update(
                pats::table
                    .find(id)
                    .filter(pats::last_used_at.is_null().or(pats::last_used_at.lt(*at))),
            )
            .set(pats::last_used_at.eq(*at))
            .execute(self.conn)
            .store()?;
        }
        Ok(n)
    }
}

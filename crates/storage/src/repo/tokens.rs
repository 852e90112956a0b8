use diesel::prelude::*;
use portcullis_core::model::{AccessToken, RefreshToken};
use portcullis_core::ports::{StoreError, StoreResult, TokenStore};

use super::{fixed, list_text, parse, parse_list, parse_scopes, record, Bind};
use crate::error::OrStore;
use crate::schema::{access_tokens as access, refresh_tokens as refresh};

/// How stale `clients.last_used_at` may get before a new token updates it.
const LAST_USED_GRANULARITY: i64 = 3600;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = access, treat_none_as_default_value = false)]
pub(super) struct AccessRow {
    jti: String,
    token_hash: Option<String>,
    format: String,
    session_id: Option<String>,
    client_id: String,
    user_id: Option<String>,
    scope: String,
    audience: String,
    issued_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    dpop_jkt: Option<String>,
}

impl From<&AccessToken> for AccessRow {
    fn from(t: &AccessToken) -> Self {
        AccessRow {
            jti: t.jti.clone(),
            token_hash: t.token_hash.clone(),
            format: t.format.to_string(),
            session_id: t.session_id.clone(),
            client_id: t.client_id.clone(),
            user_id: t.user_id.clone(),
            scope: t.scope.to_string(),
            audience: list_text(&t.audience),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            dpop_jkt: t.dpop_jkt.clone(),
        }
    }
}

impl TryFrom<AccessRow> for AccessToken {
    type Error = StoreError;
    fn try_from(r: AccessRow) -> StoreResult<AccessToken> {
        Ok(AccessToken {
            format: parse("access_tokens.format", &r.format)?,
            scope: parse_scopes("access_tokens.scope", &r.scope)?,
            audience: parse_list("access_tokens.audience", &r.audience)?,
            jti: r.jti,
            token_hash: r.token_hash,
            session_id: r.session_id,
            client_id: r.client_id,
            user_id: r.user_id,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            dpop_jkt: r.dpop_jkt,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh, treat_none_as_default_value = false)]
pub(super) struct RefreshRow {
    token_hash: String,
    session_id: String,
    client_id: String,
    user_id: Option<String>,
    scope: String,
    audience: String,
    issued_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
    revoked_at: Option<i64>,
    parent_hash: Option<String>,
    resource: String,
    dpop_jkt: Option<String>,
}

impl From<&RefreshToken> for RefreshRow {
    fn from(t: &RefreshToken) -> Self {
        RefreshRow {
            token_hash: t.token_hash.clone(),
            session_id: t.session_id.clone(),
            client_id: t.client_id.clone(),
            user_id: t.user_id.clone(),
            scope: t.scope.to_string(),
            audience: list_text(&t.audience),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            consumed_at: t.consumed_at,
            revoked_at: t.revoked_at,
            parent_hash: t.parent_hash.clone(),
            resource: list_text(&t.resource),
            dpop_jkt: t.dpop_jkt.clone(),
        }
    }
}

impl TryFrom<RefreshRow> for RefreshToken {
    type Error = StoreError;
    fn try_from(r: RefreshRow) -> StoreResult<RefreshToken> {
        Ok(RefreshToken {
            scope: parse_scopes("refresh_tokens.scope", &r.scope)?,
            audience: parse_list("refresh_tokens.audience", &r.audience)?,
            resource: parse_list("refresh_tokens.resource", &r.resource)?,
            token_hash: r.token_hash,
            session_id: r.session_id,
            client_id: r.client_id,
            user_id: r.user_id,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            consumed_at: r.consumed_at,
            revoked_at: r.revoked_at,
            parent_hash: r.parent_hash,
            dpop_jkt: r.dpop_jkt,
        })
    }
}

impl TokenStore for Tx<'_> {
    fn insert_access_token(&mut self, token: &AccessToken) -> StoreResult<()> {
        let row = AccessRow::from(token);
        native!(self.conn, |c| diesel::insert_into(access::table)
            .values(&row)
            .execute(c))
        .store()?;
        // The client's last use, kept to the hour (so this rarely writes):
        // the janitor removes dynamic clients idle for long.
        let now = token.issued_at;
        enum LastUsed {}
        let q = fixed::<LastUsed, _>(
            &[
                "UPDATE clients SET last_used_at = ",
                " WHERE id = ",
                " AND (last_used_at IS NULL OR last_used_at <= ",
                ")",
            ],
            [
                Bind::Int(now),
                Bind::Text(&token.client_id),
                Bind::Int(now - LAST_USED_GRANULARITY),
            ],
        );
        native!(self.conn, |c| q.execute(c)).store().map(drop)
    }

    fn get_access_token_by_jti(&mut self, jti: &str) -> StoreResult<Option<AccessToken>> {
        record(find_row!(self.conn, access::table, jti, AccessRow).store()?)
    }

    fn get_access_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<AccessToken>> {
        let row = native!(self.conn, |c| access::table
            .filter(access::token_hash.eq(token_hash))
            .select(AccessRow::as_select())
            .first(c)
            .optional());
        record(row.store()?)
    }

    fn revoke_access_token(&mut self, jti: &str, now: i64) -> StoreResult<bool> {
        let live = access::table.find(jti).filter(access::revoked_at.is_null());
        Ok(diesel::update(live)
            .set(access::revoked_at.eq(now))
            .execute(self.conn)
            .store()?
            == 1)
    }

    fn insert_refresh_token(&mut self, token: &RefreshToken) -> StoreResult<()> {
        let row = RefreshRow::from(token);
        native!(self.conn, |c| diesel::insert_into(refresh::table)
            .values(&row)
            .execute(c))
        .store()
        .map(drop)
    }

    fn get_refresh_token(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        record(find_row!(self.conn, refresh::table, token_hash, RefreshRow).store()?)
    }

    fn consume_refresh_token(&mut self, token_hash: &str, now: i64) -> StoreResult<bool> {
        enum Consume {}
        let q = fixed::<Consume, _>(
            &[
                "UPDATE refresh_tokens SET consumed_at = ",
                " WHERE token_hash = ",
                " AND consumed_at IS NULL",
            ],
            [Bind::Int(now), Bind::Text(token_hash)],
        );
        let n = native!(self.conn, |c| q.execute(c)).store()?;
        Ok(n == 1)
    }

    fn revoke_session_tokens(&mut self, session_id: &str, now: i64) -> StoreResult<usize> {
        let live_access = access::table
            .filter(access::session_id.eq(session_id))
            .filter(access::revoked_at.is_null());
        let a = diesel::update(live_access)
            .set(access::revoked_at.eq(now))
            .execute(self.conn)
            .store()?;
        let live_refresh = refresh::table
            .filter(refresh::session_id.eq(session_id))
            .filter(refresh::revoked_at.is_null());
        let r = diesel::update(live_refresh)
            .set(refresh::revoked_at.eq(now))
            .execute(self.conn)
            .store()?;
        Ok(a + r)
    }
}

use diesel::prelude::*;
use portcullis_core::model::AuthorizationCode;
use portcullis_core::ports::{CodeStore, StoreError, StoreResult};

use super::{list_text, parse_list, parse_scopes, record};
use crate::error::OrStore;
use crate::schema::authorization_codes as codes;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = codes, treat_none_as_default_value = false)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    user_id: String,
    browser_session_id: Option<String>,
    session_id: Option<String>,
    redirect_uri: String,
    scope: String,
    resource: String,
    nonce: Option<String>,
    code_challenge: String,
    code_challenge_method: String,
    auth_time: i64,
    amr: String,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
    dpop_jkt: Option<String>,
}

impl From<&AuthorizationCode> for CodeRow {
    fn from(c: &AuthorizationCode) -> Self {
        CodeRow {
            code_hash: c.code_hash.clone(),
            client_id: c.client_id.clone(),
            user_id: c.user_id.clone(),
            browser_session_id: c.browser_session_id.clone(),
            session_id: c.session_id.clone(),
            redirect_uri: c.redirect_uri.clone(),
            scope: c.scope.to_string(),
            resource: list_text(&c.resource),
            nonce: c.nonce.clone(),
            code_challenge: c.code_challenge.clone(),
            code_challenge_method: c.code_challenge_method.clone(),
            auth_time: c.auth_time,
            amr: list_text(&c.amr),
            created_at: c.created_at,
            expires_at: c.expires_at,
            consumed_at: c.consumed_at,
            dpop_jkt: c.dpop_jkt.clone(),
        }
    }
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;
    fn try_from(r: CodeRow) -> StoreResult<AuthorizationCode> {
        Ok(AuthorizationCode {
            scope: parse_scopes("authorization_codes.scope", &r.scope)?,
            resource: parse_list("authorization_codes.resource", &r.resource)?,
            amr: parse_list("authorization_codes.amr", &r.amr)?,
            code_hash: r.code_hash,
            client_id: r.client_id,
            user_id: r.user_id,
            browser_session_id: r.browser_session_id,
            session_id: r.session_id,
            redirect_uri: r.redirect_uri,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
            auth_time: r.auth_time,
            created_at: r.created_at,
            expires_at: r.expires_at,
            consumed_at: r.consumed_at,
            dpop_jkt: r.dpop_jkt,
        })
    }
}

impl CodeStore for Tx<'_> {
    fn insert_code(&mut self, code: &AuthorizationCode) -> StoreResult<()> {
        diesel::insert_into(codes::table)
            .values(&CodeRow::from(code))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_code(&mut self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
        record(
            codes::table
                .find(code_hash)
                .select(CodeRow::as_select())
                .first(self.conn)
                .optional()
                .store()?,
        )
    }

    fn consume_code(&mut self, code_hash: &str, now: i64) -> StoreResult<bool> {
        let unused = codes::table
            .find(code_hash)
            .filter(codes::consumed_at.is_null());
        Ok(diesel::update(unused)
            .set(codes::consumed_at.eq(now))
            .execute(self.conn)
            .store()?
            == 1)
    }

    fn set_code_session(&mut self, code_hash: &str, session_id: &str) -> StoreResult<bool> {
        let n = diesel::update(codes::table.find(code_hash))
            .set(codes::session_id.eq(session_id))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn sessions_of_browser_session(&mut self, id_hash: &str) -> StoreResult<Vec<String>> {
        codes::table
            .filter(codes::browser_session_id.eq(id_hash))
            .filter(codes::session_id.is_not_null())
            .select(codes::session_id.assume_not_null())
            .distinct()
            .load(self.conn)
            .store()
    }
}

use diesel::prelude::*;
use portcullis_core::model::BrowserSession;
use portcullis_core::ports::{BrowserSessionStore, StoreError, StoreResult};

use super::{list_text, parse_list, record, records};
use crate::error::OrStore;
use crate::schema::browser_sessions;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = browser_sessions, treat_none_as_default_value = false)]
struct BrowserSessionRow {
    id_hash: String,
    user_id: String,
    auth_time: i64,
    amr: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    user_agent: Option<String>,
}

impl From<&BrowserSession> for BrowserSessionRow {
    fn from(s: &BrowserSession) -> Self {
        BrowserSessionRow {
            id_hash: s.id_hash.clone(),
            user_id: s.user_id.clone(),
            auth_time: s.auth_time,
            amr: list_text(&s.amr),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            user_agent: s.user_agent.clone(),
        }
    }
}

impl TryFrom<BrowserSessionRow> for BrowserSession {
    type Error = StoreError;
    fn try_from(r: BrowserSessionRow) -> StoreResult<BrowserSession> {
        Ok(BrowserSession {
            amr: parse_list("browser_sessions.amr", &r.amr)?,
            id_hash: r.id_hash,
            user_id: r.user_id,
            auth_time: r.auth_time,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            user_agent: r.user_agent,
        })
    }
}

impl BrowserSessionStore for Tx<'_> {
    fn insert_browser_session(&mut self, s: &BrowserSession) -> StoreResult<()> {
        let row = BrowserSessionRow::from(s);
        diesel::insert_into(browser_sessions::table)
            .values(&row)
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_browser_session(&mut self, id_hash: &str) -> StoreResult<Option<BrowserSession>> {
        let q = browser_sessions::table
            .find(id_hash)
            .select(BrowserSessionRow::as_select());
        record(q.first(self.conn).optional().store()?)
    }

    fn revoke_browser_session(&mut self, id_hash: &str, now: i64) -> StoreResult<bool> {
        let live = browser_sessions::table
            .find(id_hash)
            .filter(browser_sessions::revoked_at.is_null());
        let n = diesel::update(live)
            .set(browser_sessions::revoked_at.eq(now))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn touch_browser_session(&mut self, id_hash: &str, now: i64) -> StoreResult<bool> {
        let live = browser_sessions::table
            .find(id_hash)
            .filter(browser_sessions::revoked_at.is_null());
        let n = diesel::update(live)
            .set(browser_sessions::last_seen_at.eq(now))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn list_live_browser_sessions(
        &mut self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<BrowserSession>> {
        let q = browser_sessions::table
            .filter(browser_sessions::user_id.eq(user_id))
            .filter(browser_sessions::revoked_at.is_null())
            .filter(browser_sessions::expires_at.gt(now))
            .order((
                browser_sessions::created_at.desc(),
                browser_sessions::id_hash.desc(),
            ));
        records(
            q.select(BrowserSessionRow::as_select())
                .load(self.conn)
                .store()?,
        )
    }

    fn revoke_user_browser_sessions(
        &mut self,
        user_id: &str,
        except: Option<&str>,
        now: i64,
    ) -> StoreResult<usize> {
        let live = browser_sessions::table
            .filter(browser_sessions::user_id.eq(user_id))
            .filter(browser_sessions::revoked_at.is_null())
            .filter(browser_sessions::id_hash.ne(except.unwrap_or("")));
        diesel::update(live)
            .set(browser_sessions::revoked_at.eq(now))
            .execute(self.conn)
            .store()
    }
}

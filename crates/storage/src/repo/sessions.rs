use diesel::prelude::*;
use portcullis_core::model::Session;
use portcullis_core::ports::{SessionStore, StoreError, StoreResult};

use super::{fixed, list_text, parse, parse_list, record, records, Bind};
use crate::error::OrStore;
use crate::schema::sessions;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
pub(super) struct SessionRow {
    id: String,
    user_id: Option<String>,
    client_id: String,
    kind: String,
    auth_time: i64,
    amr: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    user_agent: Option<String>,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        SessionRow {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            client_id: s.client_id.clone(),
            kind: s.kind.to_string(),
            auth_time: s.auth_time,
            amr: list_text(&s.amr),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            user_agent: s.user_agent.clone(),
        }
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> StoreResult<Session> {
        Ok(Session {
            kind: parse("sessions.kind", &r.kind)?,
            amr: parse_list("sessions.amr", &r.amr)?,
            id: r.id,
            user_id: r.user_id,
            client_id: r.client_id,
            auth_time: r.auth_time,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            user_agent: r.user_agent,
        })
    }
}

impl SessionStore for Tx<'_> {
    fn insert_session(&mut self, session: &Session) -> StoreResult<()> {
        diesel::insert_into(sessions::table)
            .values(&SessionRow::from(session))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_session(&mut self, id: &str) -> StoreResult<Option<Session>> {
        record(find_row!(self.conn, sessions::table, id, SessionRow).store()?)
    }

    fn list_live_sessions(&mut self, user_id: &str, now: i64) -> StoreResult<Vec<Session>> {
        let q = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .order((sessions::created_at, sessions::id));
        records(q.select(SessionRow::as_select()).load(self.conn).store()?)
    }

    /// Only a session that is not revoked is touched.
    fn touch_session(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        enum Touch {}
        let q = fixed::<Touch, _>(
            &[
                "UPDATE sessions SET last_used_at = ",
                " WHERE id = ",
                " AND revoked_at IS NULL",
            ],
            [Bind::Int(now), Bind::Text(id)],
        );
        let n = native!(self.conn, |c| q.execute(c)).store()?;
        Ok(n == 1)
    }

    fn revoke_session(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        let n = diesel::update(
            sessions::table
                .find(id)
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(self.conn)
        .store()?;
        Ok(n == 1)
    }
}

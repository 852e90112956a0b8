use diesel::prelude::*;
use portcullis_core::model::AuditEvent;
use portcullis_core::ports::{AuditStore, StoreError, StoreResult};

use super::records;
use crate::error::OrStore;
use crate::schema::audit_events as events;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub(super) struct EventRow {
    id: String,
    at: i64,
    kind: String,
    user_id: Option<String>,
    client_id: Option<String>,
    session_id: Option<String>,
    detail: String,
}

impl From<&AuditEvent> for EventRow {
    fn from(e: &AuditEvent) -> Self {
        let e = e.clone();
        EventRow {
            id: e.id,
            at: e.at,
            kind: e.kind,
            user_id: e.user_id,
            client_id: e.client_id,
            session_id: e.session_id,
            detail: e.detail,
        }
    }
}

impl TryFrom<EventRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> StoreResult<AuditEvent> {
        Ok(AuditEvent {
            id: r.id,
            at: r.at,
            kind: r.kind,
            user_id: r.user_id,
            client_id: r.client_id,
            session_id: r.session_id,
            detail: r.detail,
        })
    }
}

impl AuditStore for Tx<'_> {
    fn append_event(&mut self, event: &AuditEvent) -> StoreResult<()> {
        diesel::insert_into(events::table)
            .values(&EventRow::from(event))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn recent_events(&mut self, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let q = events::table
            .order((events::at.desc(), events::id.desc()))
            .limit(limit.max(0));
        records(q.select(EventRow::as_select()).load(self.conn).store()?)
    }
}

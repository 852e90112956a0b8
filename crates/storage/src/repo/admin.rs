//! The admin API's paged lists (keyset paging: `(time, id)` strictly after
//! the previous page's last item, so concurrent inserts never shift a page)
//! and deleting a user. Every list reads one index-backed filter (a user,
//! a client) or a short table; see `AdminStore` for the orders.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use portcullis_core::model::{AccessToken, AuditEvent, Client, RefreshToken, Session, User};
use portcullis_core::ports::{
    AdminStore, EventFilter, PageKey, StoreResult, TokenOwner, TokenSummary,
};

use super::audit::EventRow;
use super::clients::ClientRow;
use super::records;
use super::sessions::SessionRow;
use super::tokens::{AccessRow, RefreshRow};
use super::users::UserRow;
use crate::conn::MultiBackend;
use crate::error::OrStore;
use crate::schema::{
    access_tokens as access, audit_events as events, clients, refresh_tokens as refresh, sessions,
    users,
};
use crate::Tx;

define_sql_function! {
    /// SQL `substr(s, start, len)` (1-based), the same in SQLite and PostgreSQL.
    fn substr(s: Text, start: Integer, len: Integer) -> Text;
}

/// The length of a refresh token's public id: the first 32 hex digits of
/// its hash (`portcullis_core::introspect::refresh_token_id`).
const REFRESH_ID_LEN: i32 = 32;

fn summaries<R, T>(rows: Vec<R>, f: impl Fn(&T) -> TokenSummary) -> StoreResult<Vec<TokenSummary>>
where
    R: TryInto<T, Error = portcullis_core::ports::StoreError>,
{
    let records: Vec<T> = records(rows)?;
    Ok(records.iter().map(f).collect())
}

impl AdminStore for Tx<'_> {
    fn list_clients_page(
        &mut self,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<Client>> {
        let mut q = clients::table
            .select(ClientRow::as_select())
            .into_boxed::<MultiBackend>();
        if let Some(k) = after {
            q = q.filter(
                clients::created_at.gt(k.at).or(clients::created_at
                    .eq(k.at)
                    .and(clients::id.gt(k.id.clone()))),
            );
        }
        let rows = q
            .order((clients::created_at, clients::id))
            .limit(limit.max(0))
            .load(self.conn)
            .store()?;
        records(rows)
    }

    fn list_users_page(&mut self, after: Option<&PageKey>, limit: i64) -> StoreResult<Vec<User>> {
        let mut q = users::table
            .select(UserRow::as_select())
            .into_boxed::<MultiBackend>();
        if let Some(k) = after {
            q = q.filter(
                users::created_at
                    .gt(k.at)
                    .or(users::created_at.eq(k.at).and(users::id.gt(k.id.clone()))),
            );
        }
        let rows = q
            .order((users::created_at, users::id))
            .limit(limit.max(0))
            .load(self.conn)
            .store()?;
        records(rows)
    }

    /// The schema's `ON DELETE CASCADE` removes the user's sessions,
    /// browser sessions, codes, tokens, consents and personal access tokens.
    fn delete_user(&mut self, id: &str) -> StoreResult<bool> {
        Ok(diesel::delete(users::table.find(id))
            .execute(self.conn)
            .store()?
            == 1)
    }

    fn list_live_sessions_page(
        &mut self,
        user_id: &str,
        now: i64,
        used_after: i64,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<Session>> {
        let mut q = sessions::table
            .select(SessionRow::as_select())
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::last_used_at.gt(used_after))
            .into_boxed::<MultiBackend>();
        if let Some(k) = after {
            q = q.filter(
                sessions::created_at.gt(k.at).or(sessions::created_at
                    .eq(k.at)
                    .and(sessions::id.gt(k.id.clone()))),
            );
        }
        let rows = q
            .order((sessions::created_at, sessions::id))
            .limit(limit.max(0))
            .load(self.conn)
            .store()?;
        records(rows)
    }

    fn list_access_tokens_page(
        &mut self,
        owner: TokenOwner<'_>,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<TokenSummary>> {
        let mut q = access::table
            .select(AccessRow::as_select())
            .into_boxed::<MultiBackend>();
        q = match owner {
            TokenOwner::User(u) => q.filter(access::user_id.eq(u.to_string())),
            TokenOwner::Client(c) => q.filter(access::client_id.eq(c.to_string())),
        };
        if let Some(k) = after {
            q = q.filter(
                access::issued_at
                    .gt(k.at)
                    .or(access::issued_at.eq(k.at).and(access::jti.gt(k.id.clone()))),
            );
        }
        let rows = q
            .order((access::issued_at, access::jti))
            .limit(limit.max(0))
            .load(self.conn)
            .store()?;
        summaries(rows, |t: &AccessToken| TokenSummary::of_access(t))
    }

    /// Ordered and compared by the public id (a prefix of the hash), so the
    /// cursor never carries the hash itself.
    fn list_refresh_tokens_page(
        &mut self,
        owner: TokenOwner<'_>,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<TokenSummary>> {
        let public_id = || substr(refresh::token_hash, 1, REFRESH_ID_LEN);
        let mut q = refresh::table
            .select(RefreshRow::as_select())
            .into_boxed::<MultiBackend>();
        q = match owner {
            TokenOwner::User(u) => q.filter(refresh::user_id.eq(u.to_string())),
            TokenOwner::Client(c) => q.filter(refresh::client_id.eq(c.to_string())),
        };
        if let Some(k) = after {
            q = q.filter(
                refresh::issued_at.gt(k.at).or(refresh::issued_at
                    .eq(k.at)
                    .and(public_id().gt(k.id.clone()))),
            );
        }
        let rows = q
            .order((refresh::issued_at, public_id()))
            .limit(limit.max(0))
            .load(self.conn)
            .store()?;
        summaries(rows, |t: &RefreshToken| TokenSummary::of_refresh(t))
    }

    fn list_events_page(
        &mut self,
        filter: &EventFilter,
        before: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut q = events::table
            .select(EventRow::as_select())
            .into_boxed::<MultiBackend>();
        if let Some(kind) = &filter.kind {
            q = q.filter(events::kind.eq(kind.clone()));
        }
        if let Some(u) = &filter.user_id {
            q = q.filter(events::user_id.eq(u.clone()));
        }
        if let Some(c) = &filter.client_id {
            q = q.filter(events::client_id.eq(c.clone()));
        }
        if let Some(since) = filter.since {
            q = q.filter(events::at.ge(since));
        }
        if let Some(k) = before {
            q = q.filter(
                events::at
                    .lt(k.at)
                    .or(events::at.eq(k.at).and(events::id.lt(k.id.clone()))),
            );
        }
        let rows = q
            .order((events::at.desc(), events::id.desc()))
            .limit(limit.max(0))
            .load(self.conn)
            .store()?;
        records(rows)
    }
}

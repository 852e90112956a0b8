use diesel::dsl::{exists, not};
use diesel::prelude::*;
use portcullis_core::ports::{JanitorStore, Purge, StoreResult};

use crate::error::OrStore;
use crate::schema::{
    access_tokens as access, audit_events as audit, authorization_codes as codes,
    browser_sessions as browser, clients, device_codes as device, initial_access_tokens as iat,
    login_attempts as attempts, personal_access_tokens as pats, pushed_requests as par,
    refresh_tokens as refresh, sessions, used_jtis as jtis,
};
use crate::Tx;

/// Select at most `limit` keys matching the condition, then delete those:
/// two bounded statements in the caller's transaction, the same SQL on
/// both dialects.
macro_rules! delete_batch {
    ($conn:expr, $table:ident, $pk:ident, $cond:expr, $limit:expr) => {{
        let keys: Vec<String> = $table::table
            .filter($cond)
            .select($table::$pk)
            .limit($limit)
            .load($conn)
            .store()?;
        if keys.is_empty() {
            Ok(0)
        } else {
            diesel::delete($table::table.filter($table::$pk.eq_any(&keys)))
                .execute($conn)
                .store()
        }
    }};
}

impl JanitorStore for Tx<'_> {
    fn purge(&mut self, what: Purge, cutoff: i64, limit: i64) -> StoreResult<usize> {
        let c = &mut *self.conn;
        match what {
            Purge::Codes => delete_batch!(c, codes, code_hash, codes::expires_at.lt(cutoff), limit),
            Purge::AccessTokens => {
                delete_batch!(c, access, jti, access::expires_at.lt(cutoff), limit)
            }
            Purge::RefreshTokens => {
                delete_batch!(
                    c,
                    refresh,
                    token_hash,
                    refresh::expires_at.lt(cutoff),
                    limit
                )
            }
            Purge::SessionsExpired => {
                delete_batch!(c, sessions, id, sessions::expires_at.lt(cutoff), limit)
            }
            Purge::SessionsRevoked => {
                delete_batch!(c, sessions, id, sessions::revoked_at.lt(cutoff), limit)
            }
            Purge::BrowserSessionsExpired => {
                delete_batch!(c, browser, id_hash, browser::expires_at.lt(cutoff), limit)
            }
            Purge::BrowserSessionsRevoked => {
                delete_batch!(c, browser, id_hash, browser::revoked_at.lt(cutoff), limit)
            }
            Purge::AuditEvents => delete_batch!(c, audit, id, audit::at.lt(cutoff), limit),
            Purge::LoginAttempts => {
                delete_batch!(c, attempts, key, attempts::window_start.lt(cutoff), limit)
            }
            Purge::InitialAccessTokens => {
                delete_batch!(c, iat, token_hash, iat::expires_at.lt(cutoff), limit)
            }
            Purge::PushedRequests => {
                delete_batch!(c, par, uri_hash, par::expires_at.lt(cutoff), limit)
            }
            Purge::UsedJtis => delete_batch!(c, jtis, key, jtis::expires_at.lt(cutoff), limit),
            Purge::DeviceCodes => {
                delete_batch!(
                    c,
                    device,
                    device_code_hash,
                    device::expires_at.lt(cutoff),
                    limit
                )
            }
        }
    }

    fn idle_dynamic_clients(
        &mut self,
        unused_since: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        let live_access = access::table
            .filter(access::client_id.eq(clients::id))
            .filter(access::expires_at.gt(now))
            .filter(access::revoked_at.is_null());
        let live_refresh = refresh::table
            .filter(refresh::client_id.eq(clients::id))
            .filter(refresh::expires_at.gt(now))
            .filter(refresh::revoked_at.is_null())
            .filter(refresh::consumed_at.is_null());
        let live_session = sessions::table
            .filter(sessions::client_id.eq(clients::id))
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::revoked_at.is_null());
        let live_pat = pats::table
            .filter(pats::client_id.eq(clients::id.nullable()))
            .filter(pats::revoked_at.is_null())
            .filter(pats::expires_at.is_null().or(pats::expires_at.gt(now)));
        clients::table
            .filter(clients::registration_token_hash.is_not_null())
            .filter(clients::created_at.lt(unused_since))
            .filter(
                clients::last_used_at
                    .is_null()
                    .or(clients::last_used_at.lt(unused_since)),
            )
            .filter(not(exists(live_access)))
            .filter(not(exists(live_refresh)))
            .filter(not(exists(live_session)))
            .filter(not(exists(live_pat)))
            .select(clients::id)
            .order(clients::created_at.asc())
            .limit(limit)
            .load(self.conn)
            .store()
    }
}

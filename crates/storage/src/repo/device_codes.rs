use diesel::prelude::*;
use portcullis_core::model::DeviceCode;
use portcullis_core::ports::{DeviceCodeStore, StoreError, StoreResult};

use super::{list_text, parse_list, parse_scopes, record};
use crate::error::OrStore;
use crate::schema::device_codes as dc;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = dc, treat_none_as_default_value = false)]
struct DeviceCodeRow {
    device_code_hash: String,
    user_code_hash: String,
    client_id: String,
    scope: String,
    resource: String,
    poll_interval: i64,
    created_at: i64,
    expires_at: i64,
    last_polled_at: Option<i64>,
    user_id: Option<String>,
    auth_time: Option<i64>,
    amr: String,
    approved_at: Option<i64>,
    denied_at: Option<i64>,
    consumed_at: Option<i64>,
}

impl From<&DeviceCode> for DeviceCodeRow {
    fn from(c: &DeviceCode) -> Self {
        DeviceCodeRow {
            device_code_hash: c.device_code_hash.clone(),
            user_code_hash: c.user_code_hash.clone(),
            client_id: c.client_id.clone(),
            scope: c.scope.to_string(),
            resource: list_text(&c.resource),
            poll_interval: c.interval,
            created_at: c.created_at,
            expires_at: c.expires_at,
            last_polled_at: c.last_polled_at,
            user_id: c.user_id.clone(),
            auth_time: c.auth_time,
            amr: list_text(&c.amr),
            approved_at: c.approved_at,
            denied_at: c.denied_at,
            consumed_at: c.consumed_at,
        }
    }
}

impl TryFrom<DeviceCodeRow> for DeviceCode {
    type Error = StoreError;
    fn try_from(r: DeviceCodeRow) -> StoreResult<DeviceCode> {
        Ok(DeviceCode {
            scope: parse_scopes("device_codes.scope", &r.scope)?,
            resource: parse_list("device_codes.resource", &r.resource)?,
            amr: parse_list("device_codes.amr", &r.amr)?,
            device_code_hash: r.device_code_hash,
            user_code_hash: r.user_code_hash,
            client_id: r.client_id,
            interval: r.poll_interval,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_polled_at: r.last_polled_at,
            user_id: r.user_id,
            auth_time: r.auth_time,
            approved_at: r.approved_at,
            denied_at: r.denied_at,
            consumed_at: r.consumed_at,
        })
    }
}

impl DeviceCodeStore for Tx<'_> {
    fn insert_device_code(&mut self, code: &DeviceCode) -> StoreResult<()> {
        diesel::insert_into(dc::table)
            .values(&DeviceCodeRow::from(code))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_device_code(&mut self, device_code_hash: &str) -> StoreResult<Option<DeviceCode>> {
        record(
            dc::table
                .find(device_code_hash)
                .select(DeviceCodeRow::as_select())
                .first(self.conn)
                .optional()
                .store()?,
        )
    }

    fn get_device_code_by_user_code(
        &mut self,
        user_code_hash: &str,
    ) -> StoreResult<Option<DeviceCode>> {
        record(
            dc::table
                .filter(dc::user_code_hash.eq(user_code_hash))
                .select(DeviceCodeRow::as_select())
                .first(self.conn)
                .optional()
                .store()?,
        )
    }

    fn decide_device_code(
        &mut self,
        device_code_hash: &str,
        user_id: &str,
        approval: Option<(i64, &[String])>,
        now: i64,
    ) -> StoreResult<bool> {
        let open = dc::table
            .find(device_code_hash)
            .filter(dc::approved_at.is_null())
            .filter(dc::denied_at.is_null())
            .filter(dc::expires_at.gt(now));
        let n = match approval {
            Some((auth_time, amr)) => diesel::update(open)
                .set((
                    dc::user_id.eq(user_id),
                    dc::auth_time.eq(auth_time),
                    dc::amr.eq(list_text(amr)),
                    dc::approved_at.eq(now),
                ))
                .execute(self.conn),
            None => diesel::update(open)
                .set((dc::user_id.eq(user_id), dc::denied_at.eq(now)))
                .execute(self.conn),
        }
        .store()?;
        Ok(n == 1)
    }

    fn record_device_poll(
        &mut self,
        device_code_hash: &str,
        now: i64,
        interval: i64,
    ) -> StoreResult<bool> {
        let n = diesel::update(dc::table.find(device_code_hash))
            .set((dc::last_polled_at.eq(now), dc::poll_interval.eq(interval)))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn consume_device_code(&mut self, device_code_hash: &str, now: i64) -> StoreResult<bool> {
        let unused = dc::table
            .find(device_code_hash)
            .filter(dc::consumed_at.is_null());
        Ok(diesel::update(unused)
            .set(dc::consumed_at.eq(now))
            .execute(self.conn)
            .store()?
            == 1)
    }
}

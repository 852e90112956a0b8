use diesel::prelude::*;
use portcullis_core::model::Passkey;
use portcullis_core::ports::{PasskeyStore, StoreError, StoreResult};

use super::{parse, record, records};
use crate::error::OrStore;
use crate::schema::passkeys;
use crate::Tx;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys, treat_none_as_default_value = false)]
struct PasskeyRow {
    id: String,
    user_id: String,
    name: String,
    credential_id: String,
    credential: String,
    kind: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<&Passkey> for PasskeyRow {
    fn from(p: &Passkey) -> Self {
        PasskeyRow {
            id: p.id.clone(),
            user_id: p.user_id.clone(),
            name: p.name.clone(),
            credential_id: p.credential_id.clone(),
            credential: p.credential.clone(),
            kind: p.kind.to_string(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

impl TryFrom<PasskeyRow> for Passkey {
    type Error = StoreError;
    fn try_from(r: PasskeyRow) -> StoreResult<Passkey> {
        Ok(Passkey {
            kind: parse("passkeys.kind", &r.kind)?,
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            credential_id: r.credential_id,
            credential: r.credential,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        })
    }
}

impl PasskeyStore for Tx<'_> {
    fn insert_passkey(&mut self, p: &Passkey) -> StoreResult<()> {
        diesel::insert_into(passkeys::table)
            .values(PasskeyRow::from(p))
            .execute(self.conn)
            .store()?;
        Ok(())
    }

    fn list_passkeys(&mut self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let rows: Vec<PasskeyRow> = passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .order((passkeys::created_at.asc(), passkeys::id.asc()))
            .select(PasskeyRow::as_select())
            .load(self.conn)
            .store()?;
        records(rows)
    }

    fn get_passkey_by_credential_id(
        &mut self,
        credential_id: &str,
    ) -> StoreResult<Option<Passkey>> {
        let row: Option<PasskeyRow> = passkeys::table
            .filter(passkeys::credential_id.eq(credential_id))
            .select(PasskeyRow::as_select())
            .first(self.conn)
            .optional()
            .store()?;
        record(row)
    }

    fn rename_passkey(&mut self, user_id: &str, id: &str, name: &str) -> StoreResult<bool> {
        let mine = passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::user_id.eq(user_id));
        let n = diesel::update(mine)
            .set(passkeys::name.eq(name))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn record_passkey_use(&mut self, id: &str, credential: &str, now: i64) -> StoreResult<bool> {
        let n = diesel::update(passkeys::table.find(id))
            .set((
                passkeys::credential.eq(credential),
                passkeys::last_used_at.eq(now),
            ))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool> {
        let mine = passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::user_id.eq(user_id));
        Ok(diesel::delete(mine).execute(self.conn).store()? == 1)
    }

    fn count_passkeys(&mut self, user_id: &str) -> StoreResult<usize> {
        let n: i64 = passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .count()
            .get_result(self.conn)
            .store()?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

use diesel::prelude::*;
use portcullis_core::model::User;
use portcullis_core::ports::{StoreError, StoreResult, UserStore};

use super::{record, records};
use crate::error::OrStore;
use crate::schema::users;
use crate::Tx;

/// `totp_last_step` is never written by `update_user`: only
/// `use_totp_step` moves it, and only forward, so a stale `User` read
/// before a login cannot reopen a used step.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(super) struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    password_hash: Option<String>,
    is_admin: bool,
    disabled: bool,
    totp_secret: Option<String>,
    #[diesel(skip_update)]
    totp_last_step: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        let u = u.clone();
        UserRow {
            id: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            password_hash: u.password_hash,
            is_admin: u.is_admin,
            disabled: u.disabled,
            totp_secret: u.totp_secret,
            totp_last_step: u.totp_last_step,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            disabled: r.disabled,
            totp_secret: r.totp_secret,
            totp_last_step: r.totp_last_step,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl UserStore for Tx<'_> {
    fn insert_user(&mut self, user: &User) -> StoreResult<()> {
        diesel::insert_into(users::table)
            .values(&UserRow::from(user))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    fn get_user(&mut self, id: &str) -> StoreResult<Option<User>> {
        record(find_row!(self.conn, users::table, id, UserRow).store()?)
    }

    fn get_user_by_username(&mut self, username: &str) -> StoreResult<Option<User>> {
        let q = users::table.filter(users::username.eq(username));
        record(
            q.select(UserRow::as_select())
                .first(self.conn)
                .optional()
                .store()?,
        )
    }

    fn list_users(&mut self) -> StoreResult<Vec<User>> {
        records(
            users::table
                .order((users::created_at, users::id))
                .select(UserRow::as_select())
                .load(self.conn)
                .store()?,
        )
    }

    fn update_user(&mut self, user: &User) -> StoreResult<bool> {
        let n = diesel::update(users::table.find(&user.id))
            .set(&UserRow::from(user))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn use_totp_step(&mut self, user_id: &str, step: i64) -> StoreResult<bool> {
        let fresh = users::totp_last_step
            .is_null()
            .or(users::totp_last_step.lt(step));
        let n = diesel::update(users::table.find(user_id).filter(fresh))
            .set(users::totp_last_step.eq(step))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }
}

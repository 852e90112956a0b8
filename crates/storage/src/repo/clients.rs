use diesel::prelude::*;
use portcullis_core::model::Client;
use portcullis_core::ports::{ClientStore, StoreError, StoreResult};

use super::{list_text, parse, parse_list, parse_scopes, record, records};
use crate::client_cache;
use crate::error::{corrupt, OrStore};
use crate::schema::{cache_epochs, clients};
use crate::Tx;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(super) struct ClientRow {
    id: String,
    secret_hash: Option<String>,
    name: String,
    auth_method: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    response_types: String,
    scope: String,
    access_token_format: String,
    signing_alg: String,
    application_type: String,
    metadata: String,
    registration_token_hash: Option<String>,
    is_resource_server: bool,
    first_party: bool,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
    secret_expires_at: i64,
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        ClientRow {
            id: c.id.clone(),
            secret_hash: c.secret_hash.clone(),
            name: c.name.clone(),
            auth_method: c.auth_method.to_string(),
            redirect_uris: list_text(&c.redirect_uris),
            post_logout_redirect_uris: list_text(&c.post_logout_redirect_uris),
            grant_types: list_text(c.grant_types.iter().map(|g| g.as_str())),
            response_types: list_text(&c.response_types),
            scope: c.scope.to_string(),
            access_token_format: c.access_token_format.to_string(),
            signing_alg: c.signing_alg.to_string(),
            application_type: c.application_type.clone(),
            metadata: c.metadata.to_string(),
            registration_token_hash: c.registration_token_hash.clone(),
            is_resource_server: c.is_resource_server,
            first_party: c.first_party,
            disabled: c.disabled,
            created_at: c.created_at,
            updated_at: c.updated_at,
            secret_expires_at: c.secret_expires_at,
        }
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Client> {
        Ok(Client {
            auth_method: parse("clients.auth_method", &r.auth_method)?,
            redirect_uris: parse_list("clients.redirect_uris", &r.redirect_uris)?,
            post_logout_redirect_uris: parse_list(
                "clients.post_logout_redirect_uris",
                &r.post_logout_redirect_uris,
            )?,
            grant_types: parse_list("clients.grant_types", &r.grant_types)?,
            response_types: parse_list("clients.response_types", &r.response_types)?,
            scope: parse_scopes("clients.scope", &r.scope)?,
            access_token_format: parse("clients.access_token_format", &r.access_token_format)?,
            signing_alg: parse("clients.signing_alg", &r.signing_alg)?,
            metadata: serde_json::from_str(&r.metadata)
                .map_err(|e| corrupt("clients.metadata", e))?,
            id: r.id,
            secret_hash: r.secret_hash,
            name: r.name,
            application_type: r.application_type,
            registration_token_hash: r.registration_token_hash,
            is_resource_server: r.is_resource_server,
            first_party: r.first_party,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
            secret_expires_at: r.secret_expires_at,
        })
    }
}

impl ClientStore for Tx<'_> {
    fn insert_client(&mut self, client: &Client) -> StoreResult<()> {
        diesel::insert_into(clients::table)
            .values(&ClientRow::from(client))
            .execute(self.conn)
            .store()
            .map(drop)
    }

    /// Through the client cache (`client_cache.rs`): the epoch read in
    /// this transaction, then the record kept under it or the row.
    fn get_client(&mut self, id: &str) -> StoreResult<Option<Client>> {
        let epoch: Option<i64> = native!(self.conn, |c| cache_epochs::table
            .find("clients")
            .select(cache_epochs::epoch)
            .first(c)
            .optional())
        .store()?;
        if let Some(hit) = epoch.and_then(|e| client_cache::get(e, id)) {
            return Ok(Some(hit));
        }
        let client: Option<Client> =
            record(find_row!(self.conn, clients::table, id, ClientRow).store()?)?;
        if let (Some(e), Some(c)) = (epoch, &client) {
            client_cache::put(e, c);
        }
        Ok(client)
    }

    fn list_clients(&mut self) -> StoreResult<Vec<Client>> {
        records(
            clients::table
                .order((clients::created_at, clients::id))
                .select(ClientRow::as_select())
                .load(self.conn)
                .store()?,
        )
    }

    fn update_client(&mut self, client: &Client) -> StoreResult<bool> {
        let n = diesel::update(clients::table.find(&client.id))
            .set(&ClientRow::from(client))
            .execute(self.conn)
            .store()?;
        Ok(n == 1)
    }

    fn delete_client(&mut self, id: &str) -> StoreResult<bool> {
        Ok(diesel::delete(clients::table.find(id))
            .execute(self.conn)
            .store()?
            == 1)
    }
}

//! Client credentials of a request, with `private_key_jwt` (RFC 7523 §2.2)
//! checked before the endpoint's own transaction: the client's `jwks_uri`
//! keys are fetched (outgoing HTTP happens outside transactions), then
//! core verifies the assertion and uses up its `jti` in a write of its own,
//! so that endpoints whose work is a read still refuse a replay. The
//! endpoint then sees [`Credentials::Asserted`].

use actix_web::{web, HttpRequest};
use portcullis_core::client_assertion::{self, ClientKeys};
use portcullis_core::client_auth::{self, Credentials};
use portcullis_core::client_metadata;
use portcullis_core::discovery::TOKEN_PATH;
use portcullis_core::params::Params;
use portcullis_core::ports::ClientStore;

use crate::crypto::OsRandom;
use crate::extract;
use crate::render::{blocking_failed, ApiError};
use crate::state::{count_client_failure, now, read, AppState};

/// The client credentials `req` presents (RFC 6749 §2.3); a client
/// assertion is checked here and comes back as [`Credentials::Asserted`].
pub async fn credentials(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    params: &Params,
) -> Result<Credentials, ApiError> {
    let creds = client_auth::credentials(extract::basic(req)?, params)?;
    let Credentials::Assertion { id, assertion } = &creds else {
        return Ok(creds);
    };
    let checked = check(state, id.clone(), assertion.clone()).await;
    count_client_failure(state, &creds, checked).await?;
    Ok(Credentials::Asserted { id: id.clone() })
}

/// A `client_id` URL: the client its metadata document describes (cached
/// or fetched again when stale), stored before a grant or an assertion
/// check reads it; a document that cannot be used makes the client unknown
/// (`invalid_client`). Other client ids are left alone.
pub async fn store_document_client(
    state: &web::Data<AppState>,
    client_id: Option<&str>,
) -> Result<(), ApiError> {
    let Some(found) = state.documents.resolve(client_id).await else {
        return Ok(());
    };
    let fresh = found?;
    let st = state.clone();
    web::block(move || {
        st.store
            .write(|tx| client_metadata::save(tx, &mut OsRandom, &fresh, now()).map(drop))
    })
    .await
    .map_err(blocking_failed)??;
    Ok(())
}

async fn check(state: &web::Data<AppState>, id: String, assertion: String) -> Result<(), ApiError> {
    // A client ID metadata document may publish the keys (its `jwks` or
    // `jwks_uri`): read it first.
    store_document_client(state, Some(&id)).await?;
    let lookup = id.clone();
    let uri = read(state, move |tx, _| {
        Ok(tx
            .get_client(&lookup)?
            .and_then(|c| match client_assertion::client_keys(&c) {
                Some(ClientKeys::Uri(uri)) => Some(uri),
                _ => None,
            }))
    })
    .await?;
    let fetched = match uri {
        Some(uri) => {
            let kid = client_assertion::header_kid(&assertion);
            Some(state.documents.client_jwks(&uri, kid.as_deref()).await?)
        }
        None => None,
    };
    // RFC 7523 §3 (3): the token endpoint URL, or the issuer (RFC 7523bis).
    let audiences = vec![
        state.issuer.endpoint(TOKEN_PATH),
        state.issuer.as_str().to_string(),
    ];
    let st = state.clone();
    web::block(move || {
        st.store.write(|tx| {
            client_assertion::authenticate(tx, &id, &assertion, fetched.as_ref(), &audiences, now())
                .map(drop)
        })
    })
    .await
    .map_err(blocking_failed)??;
    Ok(())
}

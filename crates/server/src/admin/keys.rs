//! `GET /admin/api/keys` (as `portcullis keys list`: each key's state) and
//! `POST /admin/api/keys/rotate` (as `portcullis keys rotate`, then the key
//! ring of this node is reloaded; other nodes pick the new key up at their
//! next reload).

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, AdminError, PageParams};
use portcullis_core::model::SigningAlg;
use portcullis_core::ports::KeyStore;
use portcullis_core::OAuthError;
use serde::Deserialize;
use serde_json::json;

use super::views::key_json;
use super::{authorize, ok, optional_body, page, query, read, Answer, Failure};
use crate::crypto::OsRandom;
use crate::keys;
use crate::render::blocking_failed;
use crate::state::{now, AppState};

#[utoipa::path(get, path = "/admin/api/keys", tag = "admin", responses((status = 200, description = "Signing keys and their state", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let (all, t) = read(&state, |tx, _, t| Ok((tx.list_keys()?, t))).await?;
    let found = admin::page_in_memory(all.clone(), &p, |k| (k.created_at, k.kid.clone()))?;
    Ok(page(found, |k| key_json(k, &all, t)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// One algorithm (`RS256`, `ES256`, `EdDSA`); absent: all.
    alg: Option<String>,
}

#[utoipa::path(post, path = "/admin/api/keys/rotate", tag = "admin", request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 200, description = "Rotate signing keys", content_type = "application/json"), (status = 400, description = "invalid_request (or client metadata errors)", body = crate::openapi::ErrorBody), (status = 401, description = "No or bad bearer token", body = crate::openapi::ErrorBody), (status = 403, description = "insufficient_scope: scope admin held by an admin user or client", body = crate::openapi::ErrorBody), (status = 404, description = "not_found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)))]
pub async fn rotate(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let b: RotateBody = optional_body(&req, payload).await?;
    let algs = match b.alg {
        Some(a) => vec![a
            .parse::<SigningAlg>()
            .map_err(|e| AdminError::invalid(format!("alg: {e}")))?],
        None => SigningAlg::ALL.to_vec(),
    };
    let st = state.clone();
    let t = now();
    // Key generation and the database are blocking work.
    let (created, all) = web::block(move || -> Result<_, Failure> {
        let server = |e: keys::KeyError| Failure::from(OAuthError::server(e.to_string()));
        let created = keys::rotate(
            &st.store,
            &st.sealer,
            &algs,
            t,
            st.config.keys.propagation_delay_secs,
            st.config.max_signed_token_lifetime(),
        )
        .map_err(server)?;
        st.keys.reload(&st.store).map_err(server)?;
        let kids: Vec<&str> = created.iter().map(|k| k.kid.as_str()).collect();
        st.store.write(|tx| {
            admin::audit_change(
                tx,
                &mut OsRandom,
                &actor,
                t,
                "signing_keys_rotated",
                None,
                None,
                json!({"kids": kids}),
            )
        })?;
        let all = st
            .store
            .read(|tx| tx.list_keys())
            .map_err(|e| Failure::from(AdminError::from(e)))?;
        Ok((created, all))
    })
    .await
    .map_err(blocking_failed)??;
    Ok(ok(json!({
        "rotated": created.iter().map(|k| key_json(k, &all, t)).collect::<Vec<_>>(),
        "keys": all.iter().map(|k| key_json(k, &all, t)).collect::<Vec<_>>(),
    })))
}

//! `POST /oauth/par` (RFC 9126 §2): a client pushes its authorization
//! request and gets a one-time `request_uri` for `/oauth/authorize`. Client
//! authentication as at the token endpoint (RFC 9126 §2; a public client
//! sends its `client_id` alone), with the same per-client failure throttle.
//! Core (`par::push`) checks and keeps the request; this extracts and renders.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::par::{self, Pushed};
use portcullis_core::{client_auth, dpop};

use crate::crypto::OsRandom;
use crate::endpoints::introspect::basic_attempted;
use crate::extract;
use crate::render::{blocking_failed, token_error, ApiError};
use crate::state::{now, AppState};

#[utoipa::path(post, path = "/oauth/par", tag = "authorization", request_body(content = crate::openapi::ParForm, content_type = "application/x-www-form-urlencoded"), responses((status = 201, description = "Pushed authorization response (RFC 9126 §2.2)", body = crate::openapi::ParBody), (status = 400, description = "RFC 6749 §5.2 error (invalid_request, unauthorized_client, invalid_scope, invalid_target, unsupported_response_type), as RFC 9126 §2.3", body = crate::openapi::ErrorBody), (status = 401, description = "invalid_client", body = crate::openapi::ErrorBody), (status = 429, description = "Too many failed client authentications", body = crate::openapi::ErrorBody)))]
pub async fn par(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let basic_used = basic_attempted(&req);
    match handle(&req, payload, &state).await {
        // RFC 9126 §2.2: 201 Created.
        Ok(body) => HttpResponse::build(StatusCode::CREATED)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body),
        // RFC 9126 §2.3: errors as the token endpoint's (RFC 6749 §5.2).
        Err(e) => token_error(e, basic_used),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<Pushed, ApiError> {
    let mut params = extract::form(req, payload).await?;
    let creds = crate::client_assertion::credentials(state, req, &params).await?;
    let lifetime = state.config.par.lifetime();
    // RFC 9449 §10.1: a DPoP proof here binds the code to its key.
    let proof = crate::dpop::check(req, state, None, now())?;
    dpop::bind_pushed(&mut params, proof.as_ref().map(|p| p.jkt.as_str()))?;
    let st = state.clone();
    Ok(web::block(move || {
        let t = now();
        let rules = st.config.dpop.rules();
        st.store.write(|tx| {
            let client = client_auth::authenticate(tx, &creds, t)?;
            if let Some(p) = &proof {
                dpop::consume(tx, p, &rules)?;
            }
            par::push(
                tx,
                &mut OsRandom,
                &client,
                &params,
                &st.policy.resources,
                lifetime,
                t,
            )
        })
    })
    .await
    .map_err(blocking_failed)??)
}

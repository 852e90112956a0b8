//! `POST /oauth/device_authorization` (RFC 8628 §3.1-3.2): a device asks
//! for a device code and a user code. Client authentication as at the
//! token endpoint (RFC 8628 §3.1; a public client sends its `client_id`
//! alone). Core (`grants::device_code::start`) decides; this extracts and
//! renders.

use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::client_auth;
use portcullis_core::grants::device_code::{self, DeviceAuthorization};

use crate::crypto::OsRandom;
use crate::endpoints::introspect::basic_attempted;
use crate::extract;
use crate::render::{blocking_failed, token_error, token_ok, ApiError};
use crate::state::{now, AppState};

#[utoipa::path(post, path = "/oauth/device_authorization", tag = "token", request_body(content = crate::openapi::DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Device authorization response (RFC 8628 §3.2)", body = crate::openapi::DeviceAuthorizationBody), (status = 400, description = "RFC 6749 §5.2 error (invalid_request, unauthorized_client, invalid_scope, invalid_target)", body = crate::openapi::ErrorBody), (status = 401, description = "invalid_client", body = crate::openapi::ErrorBody)))]
pub async fn device_authorization(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let basic_used = basic_attempted(&req);
    match handle(&req, payload, &state).await {
        Ok(body) => token_ok(&body),
        // RFC 8628 §3.2: errors as the token endpoint's (RFC 6749 §5.2).
        Err(e) => token_error(e, basic_used),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<DeviceAuthorization, ApiError> {
    let params = extract::form(req, payload).await?;
    let creds = crate::client_assertion::credentials(state, req, &params).await?;
    let policy = state.config.device.policy();
    let st = state.clone();
    Ok(web::block(move || {
        let signer = st.signer(now());
        let ctx = st.ctx(&signer);
        st.store.write(|tx| {
            let client = client_auth::authenticate(tx, &creds, ctx.now)?;
            device_code::start(tx, &ctx, &mut OsRandom, &client, &params, &policy)
        })
    })
    .await
    .map_err(blocking_failed)??)
}

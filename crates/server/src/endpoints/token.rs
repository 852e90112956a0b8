//! `POST /oauth/token` (RFC 6749 §3.2): client authentication, then one
//! grant per `grant_type`. The password grant runs in three steps so that
//! Argon2 never holds a database transaction: read (client, throttle,
//! user), hash on the bounded pool, write (second factor, session, tokens).

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use portcullis_core::client_auth::{self, Credentials};
use portcullis_core::dpop::Proof;
use portcullis_core::grants::{
    self, authorization_code, client_credentials, device_code, password, refresh_token,
};
use portcullis_core::model::GrantType;
use portcullis_core::params::Params;
use portcullis_core::ports::{ClientStore, UserStore};
use portcullis_core::throttle::{self, Kind};
use portcullis_core::tokens::{invalid_grant, Outcome, TokenResponse};
use portcullis_core::OAuthError;

use crate::extract;
use crate::metrics::{grant_label, GrantLabel};
use crate::render::{blocking_failed, token_error, token_ok, ApiError};
use crate::state::{count_client_failure, now, read, write_grant_bound, AppState};

#[utoipa::path(post, path = "/oauth/token", tag = "token", request_body(content = crate::openapi::TokenForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Tokens (RFC 6749 §5.1)", body = crate::openapi::TokenBody), (status = 400, description = "RFC 6749 §5.2 error", body = crate::openapi::ErrorBody), (status = 401, description = "invalid_client", body = crate::openapi::ErrorBody), (status = 429, description = "Throttled username", body = crate::openapi::ErrorBody), (status = 503, description = "Password hashing queue full", body = crate::openapi::ErrorBody)))]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let basic_used = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic ")));
    let result = handle(&req, payload, &state).await;
    let grant = req.extensions().get::<GrantLabel>().map_or("none", |g| g.0);
    let mut res = match result {
        Ok(resp) => {
            state.metrics.token_issued(grant);
            token_ok(&resp)
        }
        Err(e) => token_error(e, basic_used),
    };
    crate::dpop::add_nonce(&state, &mut res, now());
    res
}

/// A token endpoint answer: RFC 6749 §5.1, or RFC 8693 §2.2.1 (the same
/// members plus `issued_token_type`).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Issued {
    Token(TokenResponse),
    Exchange(portcullis_core::grants::token_exchange::ExchangeResponse),
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<Issued, ApiError> {
    let params = extract::form(req, payload).await?;
    let creds = crate::client_assertion::credentials(state, req, &params).await?;
    req.extensions_mut()
        .insert(GrantLabel(grant_label(params.get("grant_type"))));
    // RFC 9449 §5: a DPoP proof for this endpoint binds the tokens.
    let proof = crate::dpop::check(req, state, None, now())?;
    let named = creds.clone();
    let result = issue(state, creds, params, proof, extract::user_agent(req)).await;
    count_client_failure(state, &named, result).await
}

/// The grant, for a client that is yet to authenticate; `ua`: the
/// request's `User-Agent`, for the session a grant starts.
async fn issue(
    state: &web::Data<AppState>,
    creds: Credentials,
    params: Params,
    proof: Option<Proof>,
    ua: Option<String>,
) -> Result<Issued, ApiError> {
    // A checked assertion has had its client's document read and stored
    // already (`client_assertion::credentials`): not twice per request.
    if !matches!(creds, Credentials::Asserted { .. }) {
        crate::client_assertion::store_document_client(state, creds.client_id()).await?;
    }
    let grant = grants::parse_grant_type(params.get("grant_type"))?;
    let issued = match grant {
        GrantType::Password => {
            let lifetime = state.policy.access_token_lifetime;
            let source = ClientSource::Authenticate(creds, proof);
            password_login(state, source, ua, params, lifetime).await
        }
        GrantType::ClientCredentials => {
            let st = state.clone();
            write_grant_bound(state, proof, ua, move |tx, ctx, rng| {
                let client =
                    client_auth::authenticate_throttled(tx, &st.throttles, &creds, ctx.now)?;
                client_credentials::handle(tx, ctx, rng, &client, &params)
            })
            .await
        }
        GrantType::RefreshToken => {
            let st = state.clone();
            write_grant_bound(state, proof, ua, move |tx, ctx, rng| {
                let client =
                    client_auth::authenticate_throttled(tx, &st.throttles, &creds, ctx.now)?;
                refresh_token::handle(tx, ctx, rng, &client, &params)
            })
            .await
        }
        GrantType::AuthorizationCode => {
            let st = state.clone();
            write_grant_bound(state, proof, ua, move |tx, ctx, rng| {
                let client =
                    client_auth::authenticate_throttled(tx, &st.throttles, &creds, ctx.now)?;
                authorization_code::handle(tx, ctx, rng, &client, &params)
            })
            .await
        }
        GrantType::DeviceCode => write_grant_bound(state, proof, ua, move |tx, ctx, rng| {
            let client = client_auth::authenticate(tx, &creds, ctx.now)?;
            device_code::handle(tx, ctx, rng, &client, &params)
        })
        .await
        // RFC 8628 §3.5: access_denied is a token error response (400),
        // like authorization_pending and slow_down.
        .map_err(|e| match e.error.code {
            portcullis_core::ErrorCode::AccessDenied => {
                e.with_status(actix_web::http::StatusCode::BAD_REQUEST)
            }
            _ => e,
        }),
        GrantType::TokenExchange => {
            return crate::endpoints::pats::exchange(state, creds, params)
                .await
                .map(Issued::Exchange)
        }
    }?;
    Ok(Issued::Token(issued))
}

/// Who the password login is for.
pub enum ClientSource {
    /// The token endpoint: the client authenticates; with the request's
    /// checked DPoP proof, if any.
    Authenticate(Credentials, Option<Proof>),
    /// The direct login API: the built-in first-party client.
    FirstParty,
}

/// The password grant, for the token endpoint and the direct login API;
/// `ua`: the request's `User-Agent`, the device its session is shown as.
pub async fn password_login(
    state: &web::Data<AppState>,
    source: ClientSource,
    ua: Option<String>,
    params: Params,
    access_lifetime: i64,
) -> Result<TokenResponse, ApiError> {
    // 1. Read: the client, the request, the throttle, the user.
    // A username blocked for wrong passwords or for wrong codes is refused
    // before either is checked.
    let proof = match &source {
        ClientSource::Authenticate(_, proof) => proof.clone(),
        ClientSource::FirstParty => None,
    };
    let (client, client_failing, request, user, blocked) = read(state, move |tx, st| {
        let t = now();
        let (client, client_failing) = match source {
            ClientSource::Authenticate(creds, _) => {
                client_auth::authenticate_gated(tx, &st.throttles, &creds, t)?
            }
            ClientSource::FirstParty => (
                tx.get_client(&st.login_client_id)?
                    .ok_or_else(|| OAuthError::server("the login API client is missing"))?,
                false,
            ),
        };
        let signer = st.signer(t);
        let request = password::check_request(&st.ctx(&signer), &client, &params)?;
        let name = &request.username;
        let blocked = throttle::blocked_for(tx, &st.throttles, Kind::User, name, t)?.max(
            throttle::blocked_for(tx, &st.throttles, Kind::Otp, name, t)?,
        );
        let user = tx.get_user_by_username(name)?;
        Ok((client, client_failing, request, user, blocked))
    })
    .await?;
    if let Some(secs) = blocked {
        return Err(ApiError::throttled(secs));
    }

    // 2. The password, on the hashing pool (an unknown user costs the same).
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let good = state
        .hasher
        .verify(request.password.clone(), phc)
        .await
        .map_err(|_| ApiError::busy())?;
    let user = match (good, user) {
        (true, Some(u)) => u,
        _ => {
            state.metrics.login_failure("password_grant");
            let username = request.username.clone();
            let st = state.clone();
            web::block(move || {
                st.store.write(|tx| {
                    throttle::record(tx, &st.throttles, Kind::User, &username, true, now())
                })
            })
            .await
            .map_err(blocking_failed)??;
            return Err(invalid_grant("invalid username or password").into());
        }
    };
    let totp_secret = match &user.totp_secret {
        Some(sealed) => Some(
            state
                .sealer
                .open(sealed)
                .map_err(|e| OAuthError::server(e.to_string()))?,
        ),
        None => None,
    };

    // 3. Write: second factor, session, tokens, throttle bookkeeping.
    let st = state.clone();
    write_grant_bound(state, proof, ua, move |tx, ctx, rng| {
        let fresh = tx
            .get_user(&user.id)?
            .ok_or_else(|| invalid_grant("invalid username or password"))?;
        let outcome = password::complete(
            tx,
            ctx,
            rng,
            &client,
            &fresh,
            totp_secret.as_deref(),
            &request,
            access_lifetime,
        )?;
        let name = &request.username;
        match &outcome {
            Outcome::Issued(_) => {
                throttle::record(tx, &st.throttles, Kind::User, name, false, ctx.now)?;
                throttle::record(tx, &st.throttles, Kind::Otp, name, false, ctx.now)?;
                if client_failing {
                    throttle::record(tx, &st.throttles, Kind::Client, &client.id, false, ctx.now)?;
                }
            }
            // The password was right: only the second factor failed.
            Outcome::Denied {
                login_failure: true,
                ..
            } => {
                st.metrics.login_failure("password_grant");
                throttle::record(tx, &st.throttles, Kind::Otp, name, true, ctx.now)?
            }
            Outcome::Denied { .. } => {}
        }
        Ok(outcome)
    })
    .await
}

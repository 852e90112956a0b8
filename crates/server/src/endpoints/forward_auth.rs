//! `/oauth/forward-auth`: authentication for gateways (nginx `auth_request`,
//! Envoy `ext_authz`, Traefik `forwardAuth`), seed 003: "When using a PAT,
//! the system automatically upgrades the request context by injecting the
//! generated JWT into the Authorization header".
//!
//! The gateway forwards the client's headers here. A personal access token
//! in the configured header (`pats.forward_auth_header`, default
//! `X-Portcullis-Personal-Access-Token`), or a bearer token (a PAT or an
//! access token of this server) in `Authorization`, is checked; if live, the
//! answer is 200 with `Authorization: Bearer <JWT>`, a short RFC 9068 access
//! token for `pats.forward_auth_audience` that the gateway passes upstream.
//! Otherwise 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3.1).
//!
//! It must be cheap: one read transaction and one signature, no database
//! write (the JWT is not recorded; a PAT's use is noted in memory). Any
//! method is answered, since gateways forward the original one.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use portcullis_core::access::{self, TokenRef};
use portcullis_core::model::SigningAlg;
use portcullis_core::pats::{self, Subject};
use portcullis_core::secret::random_token;
use portcullis_core::OAuthError;

use crate::crypto::OsRandom;
use crate::endpoints::introspect::{shape, Shape};
use crate::endpoints::pats::pat_check;
use crate::extract;
use crate::render::{bearer_error, ApiError};
use crate::state::{now, read, AppState};

/// The presented token: the configured header first, then `Authorization:
/// Bearer`.
fn presented(req: &HttpRequest, state: &AppState) -> Option<String> {
    let name = state.config.pats.forward_auth_header.as_str();
    if name.eq_ignore_ascii_case("authorization") {
        return extract::bearer(req);
    }
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .or_else(|| extract::bearer(req))
}

#[utoipa::path(get, path = "/oauth/forward-auth", tag = "personal access tokens", description = "Gateway forward auth (any method): a PAT in the configured header or a bearer token becomes a short JWT", responses((status = 200, description = "Authorization: Bearer <JWT> in the response headers"), (status = 401, description = "No or bad token")))]
pub async fn forward_auth(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(token) = presented(&req, &state) else {
        return bearer_error(false);
    };
    let t = now();
    let token = shape(&state, token, t);
    let signed = read(&state, move |tx, st| {
        let subject = match &token {
            Shape::Jwt(None) => None,
            Shape::Jwt(Some(jti)) => access::resolve_bearer(tx, TokenRef::Jti(jti), t)?
                .map(|(a, _)| Subject::of_access_token(&a)),
            Shape::Opaque(value) => match pats::resolve(tx, value, &pat_check(st), t)? {
                Some((p, _)) => {
                    st.pat_usage.record(&p.id, t);
                    Some(Subject::of_pat(&p))
                }
                None => access::resolve_bearer(tx, TokenRef::Opaque(value), t)?
                    .map(|(a, _)| Subject::of_access_token(&a)),
            },
        };
        let Some(subject) = subject else {
            return Ok(None);
        };
        let cfg = &st.config.pats;
        let aud = cfg
            .forward_auth_audience
            .clone()
            .unwrap_or_else(|| st.issuer.as_str().to_string());
        // Validated at start; RS256 should it ever not parse.
        let alg = cfg
            .forward_auth_signing_alg
            .parse::<SigningAlg>()
            .unwrap_or(SigningAlg::Rs256);
        let jti = random_token(&mut OsRandom, 16);
        let claims = pats::forward_claims(
            &st.issuer,
            &subject,
            &aud,
            &jti,
            cfg.forward_auth_lifetime_secs,
            t,
        );
        // RFC 9068 §2.1: typ at+jwt. Signed here, on the blocking thread.
        let jwt = st
            .keys
            .current()
            .sign(alg, "at+jwt", &claims, t)
            .map_err(|e| OAuthError::server(e.to_string()))?;
        Ok(Some(jwt))
    })
    .await;
    match signed {
        Ok(Some(jwt)) => match HeaderValue::from_str(&format!("Bearer {jwt}")) {
            Ok(v) => HttpResponse::Ok()
                .insert_header((header::AUTHORIZATION, v))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
            Err(e) => ApiError::from(OAuthError::server(e.to_string())).error_response(),
        },
        Ok(None) => bearer_error(true),
        Err(e) => e.error_response(),
    }
}

//! `POST /oauth/introspect` (RFC 7662): a resource server (or an
//! administrator) asks whether a token is active and what it carries.
//!
//! The caller authenticates as a client (RFC 7662 §2.1: "the endpoint MUST
//! also require some form of authorization"; `client_secret_basic`,
//! `client_secret_post`, or a public client's `client_id` alone, which then
//! sees only its own tokens) or with an administrator's bearer token. The
//! server verifies a presented JWT's signature here; core
//! (`portcullis_core::introspect`) reads the record and decides. With
//! `Accept: application/token-introspection+jwt` the answer is a signed JWT
//! (RFC 9701).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::access::TokenRef;
use portcullis_core::client_auth::{self, Credentials};
use portcullis_core::introspect::{self, BearerRefusal, Introspection, Presented, TokenHint};
use portcullis_core::model::SigningAlg;
use portcullis_core::OAuthError;
use serde_json::json;

use crate::extract;
use crate::render::{bearer_error, token_error, token_ok, ApiError};
use crate::state::{clear_client_failures, count_client_failure, now, read, read_point, AppState};

/// RFC 9701 §4 / §7.2: the media type of a JWT introspection answer (and the
/// `typ` of its header, §5).
pub const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";
const JWT_TYP: &str = "token-introspection+jwt";

/// A presented token after the server looked at its form: what core needs,
/// owned, so that it can move into a blocking task.
pub enum Shape {
    /// A JWT (two dots): the `jti` of one that verifies as our access token
    /// (`typ` at+jwt, signature, `iss`, `exp`), or `None`.
    Jwt(Option<String>),
    /// Anything else.
    Opaque(String),
}

impl Shape {
    pub fn presented(&self) -> Presented<'_> {
        match self {
            Shape::Jwt(Some(jti)) => Presented::VerifiedJwt { jti },
            Shape::Jwt(None) => Presented::UnverifiedJwt,
            Shape::Opaque(t) => Presented::Opaque(t),
        }
    }

    /// As a bearer token at our own routes; `None` for a JWT that did not
    /// verify.
    fn token_ref(&self) -> Option<TokenRef<'_>> {
        match self {
            Shape::Jwt(Some(jti)) => Some(TokenRef::Jti(jti)),
            Shape::Jwt(None) => None,
            Shape::Opaque(t) => Some(TokenRef::Opaque(t)),
        }
    }
}

/// Verify a JWT with the key ring (as `auth::bearer` does); opaque strings
/// pass through. Our opaque tokens are base64url: they contain no dot.
pub fn shape(state: &AppState, token: String, now: i64) -> Shape {
    if token.matches('.').count() != 2 {
        return Shape::Opaque(token);
    }
    let jti = state
        .keys
        .current()
        .verify(&token, "at+jwt", state.issuer.as_str(), now)
        .and_then(|claims| claims.get("jti")?.as_str().map(str::to_string));
    Shape::Jwt(jti)
}

/// Did the request try `Authorization: Basic` (well formed or not)? RFC
/// 6749 §5.2: then a 401 carries `WWW-Authenticate`.
pub fn basic_attempted(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic ")))
}

/// Does `Accept` ask for a JWT answer (RFC 9701 §4), with a q above 0?
fn wants_jwt(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case(JWT_MEDIA_TYPE) && !refused
        })
}

/// How the caller proves who it is.
enum Auth {
    Client(Credentials),
    Bearer(Shape),
}

enum Failure {
    /// Rendered as at the token endpoint (RFC 7662 §2.3 → RFC 6749 §5.2).
    Api(ApiError),
    /// A bearer token that may not introspect (RFC 7662 §2.3 → RFC 6750 §3).
    Bearer(BearerRefusal),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::Api(e.into())
    }
}

enum Answer {
    Json(Box<Introspection>),
    Jwt(String),
}

#[utoipa::path(post, path = "/oauth/introspect", tag = "token", request_body(content = crate::openapi::TokenRefForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "RFC 7662 §2.2 (or a JWT per RFC 9701 when asked)", body = crate::openapi::IntrospectionBody), (status = 400, description = "Error", body = crate::openapi::ErrorBody), (status = 401, description = "Caller not authenticated", body = crate::openapi::ErrorBody), (status = 429, description = "Client blocked after failed authentications", body = crate::openapi::ErrorBody)))]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let basic_used = basic_attempted(&req);
    match handle(&req, payload, &state).await {
        // RFC 7662 §2.2: 200 with a JSON object, for active and inactive
        // tokens alike; never cached (`token_ok`: Cache-Control no-store).
        Ok(Answer::Json(body)) => token_ok(&*body),
        Ok(Answer::Jwt(jwt)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, JWT_MEDIA_TYPE))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .body(jwt),
        Err(Failure::Api(e)) => token_error(e, basic_used),
        Err(Failure::Bearer(BearerRefusal::InvalidToken)) => bearer_error(true),
        Err(Failure::Bearer(BearerRefusal::InsufficientScope)) => HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer error=\"insufficient_scope\", scope=\"admin\", error_description=\"introspection needs an administrator's token with scope admin\"",
                ),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "error": "insufficient_scope",
                "error_description": "introspection needs an administrator's token with scope admin",
            })),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<Answer, Failure> {
    let params = extract::form(req, payload).await?;
    let t = now();
    let auth = match extract::bearer(req) {
        // RFC 6749 §2.3: one authentication method per request.
        Some(_)
            if params.contains("client_id")
                || params.contains("client_secret")
                || params.contains("client_assertion") =>
        {
            return Err(OAuthError::invalid_request(
                "use one authentication method: a bearer token or client credentials",
            )
            .into())
        }
        Some(bearer) => Auth::Bearer(shape(state, bearer, t)),
        None => Auth::Client(crate::client_assertion::credentials(state, req, &params).await?),
    };
    // RFC 7662 §2.1: `token` is REQUIRED; `token_type_hint` is OPTIONAL and
    // an unknown value is ignored.
    let token = params.require("token")?.to_string();
    let hint = TokenHint::parse(params.get("token_type_hint"));
    if let Auth::Bearer(Shape::Jwt(None)) = auth {
        return Err(Failure::Bearer(BearerRefusal::InvalidToken));
    }
    let token = shape(state, token, t);
    let jwt = wants_jwt(req);
    let resource_servers_only = state.config.introspection.resource_servers_only;
    let named = match &auth {
        Auth::Client(creds) => Some(creds.clone()),
        Auth::Bearer(_) => None,
    };
    let work = move |tx: &mut portcullis_storage::Tx<'_>, st: &AppState| {
        // A client whose failures should be cleared (in a write, after).
        let mut clear = None;
        let caller = match &auth {
            Auth::Client(creds) => {
                let (client, failing) =
                    client_auth::authenticate_gated(tx, &st.throttles, creds, t)?;
                if failing {
                    clear = Some(client.id.clone());
                }
                introspect::client_caller(&client, resource_servers_only)?
            }
            Auth::Bearer(b) => {
                let Some(r) = b.token_ref() else {
                    return Ok(Err(BearerRefusal::InvalidToken));
                };
                match introspect::admin_caller(tx, r, t)? {
                    Ok(caller) => caller,
                    Err(refusal) => return Ok(Err(refusal)),
                }
            }
        };
        let answer = introspect::introspect_with(
            tx,
            &st.issuer,
            &st.policy,
            &crate::endpoints::pats::pat_check(st),
            &caller,
            token.presented(),
            hint,
            t,
        )?;
        // A personal access token in use: noted in memory, flushed later.
        if let Some(info) = answer.token.as_ref() {
            if answer.active && info.token_use == introspect::TokenUse::Pat {
                st.pat_usage.record(&info.jti, t);
            }
        }
        if !jwt {
            return Ok(Ok((Answer::Json(Box::new(answer)), clear)));
        }
        // RFC 9701 §5, signed RS256 (on this blocking thread, not the
        // async one).
        let claims = introspect::jwt_response_claims(&st.issuer, &caller, &answer, t);
        let signed = st
            .keys
            .current()
            .sign(SigningAlg::Rs256, JWT_TYP, &claims, t)
            .map_err(|e| OAuthError::server(e.to_string()))?;
        Ok(Ok((Answer::Jwt(signed), clear)))
    };
    // A JSON answer needs a few point lookups: on the worker when it can
    // (`read_point`). A JWT answer is also signed RS256: on a blocking
    // thread.
    let answer = if jwt {
        read(state, work).await
    } else {
        read_point(state, work).await
    };
    let answer = match named {
        Some(creds) => count_client_failure(state, &creds, answer).await?,
        None => answer?,
    };
    let (answer, clear) = answer.map_err(Failure::Bearer)?;
    if let Some(id) = clear {
        clear_client_failures(state, id).await?;
    }
    Ok(answer)
}

//! `GET`/`POST /oauth/authorize` (RFC 6749 §4.1, OIDC Core §3.1.2) and the
//! pages behind it: sign-in (`/oauth/authorize/login`), the TOTP step
//! (`/oauth/authorize/otp`) and consent (`/oauth/authorize/consent`).
//!
//! Stateless between steps: every form carries the original authorization
//! parameters as hidden fields and every step checks them again from
//! scratch, so any node can serve any step. The browser session lives in the
//! database (the cookie holds a random id; the store keeps its hash).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::authorize::{self, AuthRequest, Next};
use portcullis_core::client_metadata;
use portcullis_core::model::{BrowserSession, Client, User};
use portcullis_core::par;
use portcullis_core::params::Params;
use portcullis_core::ports::ConsentStore;
use portcullis_core::{ErrorCode, OAuthError};
use serde::Serialize;

use crate::crypto::OsRandom;
use crate::endpoints::signin::{self, current_session, path, with_cookie};
use crate::extract;
use crate::pages::{self, csrf, csrf_ok, error_page, page, redirect, SESSION_COOKIE};
use crate::render::blocking_failed;
use crate::state::{now, AppState};

/// The authorization request's parameters, carried through the forms as
/// hidden fields (our own fields: csrf, username, password, otp, pending,
/// consent), and `request_uri` for a pushed request (RFC 9126 §4).
fn auth_params() -> impl Iterator<Item = &'static &'static str> {
    authorize::AUTH_PARAMS.iter().chain(&["request_uri"])
}

type Resp = HttpResponse;

fn server_error(state: &AppState, e: impl std::fmt::Display) -> Resp {
    signin::server_error(state, "authorization endpoint", e)
}

fn bad_form(state: &AppState) -> Resp {
    signin::expired_form(state, "Go back to the application and start again.")
}

/// The original authorization parameters of a form (our own fields removed).
fn original(all: &Params) -> Params {
    Params::parse(hidden(all)).unwrap_or_default()
}

fn hidden(params: &Params) -> Vec<(String, String)> {
    auth_params()
        .flat_map(|k| {
            params
                .all(k)
                .iter()
                .map(move |v| (k.to_string(), v.clone()))
        })
        .collect()
}

/// Why a request is refused before any page: an error page (the client or
/// redirect URI cannot be trusted) or an error redirect to the client.
enum Refusal {
    Page(OAuthError),
    Client {
        redirect_uri: String,
        form_post: bool,
        state: Option<String>,
        error: OAuthError,
    },
}

/// The authorization response to the client's redirect URI: a 303 with the
/// parameters in the query, or with `response_mode=form_post` an
/// auto-submitted form (OAuth 2.0 Form Post Response Mode §2).
fn answer(
    state: &AppState,
    redirect_uri: &str,
    form_post: bool,
    client_state: Option<&str>,
    outcome: Result<&str, &OAuthError>,
    cookies: Vec<Cookie<'static>>,
) -> Resp {
    let iss = state.issuer.as_str();
    if form_post {
        let fields = authorize::response_params(iss, client_state, outcome);
        pages::form_post(state, redirect_uri, fields, cookies)
    } else {
        redirect(
            &authorize::redirect_url(redirect_uri, iss, client_state, outcome),
            cookies,
        )
    }
}

/// [`answer`] for a checked request.
fn answer_to(
    state: &AppState,
    auth: &AuthRequest,
    outcome: Result<&str, &OAuthError>,
    cookies: Vec<Cookie<'static>>,
) -> Resp {
    answer(
        state,
        &auth.redirect_uri,
        auth.form_post,
        auth.state.as_deref(),
        outcome,
        cookies,
    )
}

impl Refusal {
    fn respond(self, state: &AppState) -> Resp {
        match self {
            Refusal::Page(e) => error_page(
                state,
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                e.description.as_deref().unwrap_or(""),
                Some(e.code.as_str()),
            ),
            Refusal::Client {
                redirect_uri,
                form_post,
                state: client_state,
                error,
            } => answer(
                state,
                &redirect_uri,
                form_post,
                client_state.as_deref(),
                Err(&error),
                vec![],
            ),
        }
    }
}

/// The request checked: the client and the request, or why not.
/// `document`: the client read from its metadata document, when
/// `client_id` is a URL ([`crate::client_metadata::Documents::resolve`]).
fn check(
    state: &AppState,
    tx: &mut portcullis_storage::Tx<'_>,
    params: &Params,
    document: Option<Result<Client, OAuthError>>,
) -> Result<Result<(Client, AuthRequest), Refusal>, OAuthError> {
    let found = match document {
        None => authorize::check_client(tx, params),
        Some(fetched) => fetched
            .and_then(|fresh| client_metadata::current(tx, &fresh))
            .and_then(|client| authorize::check_found_client(client, params)),
    };
    let (client, redirect_uri) = match found {
        Ok(v) => v,
        Err(e) if e.code == ErrorCode::ServerError => return Err(e),
        // RFC 6749 §4.1.2.1: never redirect to an unverified URI.
        Err(e) => return Ok(Err(Refusal::Page(e))),
    };
    // RFC 9126 §6: a client that requires PAR is refused a direct request.
    let checked = par::check_required(&client, params).and_then(|()| {
        authorize::check_request(
            &client,
            redirect_uri.clone(),
            params,
            &state.policy.resources,
        )
    });
    match checked {
        Ok(req) => Ok(Ok((client, req))),
        Err(error) => Ok(Err(Refusal::Client {
            redirect_uri,
            form_post: authorize::wants_form_post(params),
            state: params.get("state").map(str::to_string),
            error,
        })),
    }
}

#[derive(Serialize)]
struct FormCtx<'a> {
    action: String,
    csrf: String,
    params: Vec<(String, String)>,
    client_name: &'a str,
    error: Option<&'a str>,
    username: &'a str,
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    params: &Params,
    error: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let ctx = FormCtx {
        action: path(state, "/oauth/authorize/login"),
        csrf: token.clone(),
        params: hidden(params),
        client_name: &client.name,
        error,
        username,
    };
    with_cookie(signin::sign_in_page(state, status, &token, ctx), cookie)
}

fn consent_page(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    auth: &AuthRequest,
    params: &Params,
    user: &User,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let host = url::Url::parse(&auth.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| auth.redirect_uri.clone());
    // A metadata-document client names itself: show where its document
    // lives, the one thing about it that is verified.
    let client_host = client_metadata::is_document_client(client)
        .then(|| url::Url::parse(&client.id).ok())
        .flatten()
        .and_then(|u| u.host_str().map(str::to_string));
    let scopes: Vec<String> = auth.scope.iter().map(pages::describe_scope).collect();
    let ctx = minijinja::context! {
        action => path(state, "/oauth/authorize/consent"), csrf => token, params => hidden(params),
        client_name => client.name.clone(), redirect_host => host, client_host => client_host,
        scopes => scopes, username => user.username.clone(),
    };
    with_cookie(page(state, StatusCode::OK, "consent.html", ctx), cookie)
}

/// Continue with a signed-in browser: consent page, or a code.
async fn proceed(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    client: Client,
    auth: AuthRequest,
    params: Params,
    session: BrowserSession,
    user: User,
    fresh: bool,
    cookies: Vec<Cookie<'static>>,
) -> Resp {
    let st = state.clone();
    let (c, a, s, u) = (client.clone(), auth.clone(), session.clone(), user.clone());
    let result = web::block(move || {
        st.store.write(|tx| -> Result<Step, OAuthError> {
            let t = now();
            let consent = tx.get_consent(&u.id, &c.id)?;
            Ok(
                match authorize::next_step(&a, &c, Some(&s), consent.as_ref(), t, fresh) {
                    Ok(Next::Issue) => {
                        keep_document_client(tx, &c, t)?;
                        Step::Code(authorize::issue_code(tx, &mut OsRandom, &a, &s, t)?)
                    }
                    Ok(Next::Consent) => Step::Consent,
                    Ok(Next::Login) => Step::Login,
                    Err(e) => Step::Refused(e),
                },
            )
        })
    })
    .await;
    let step = match result {
        Ok(Ok(step)) => step,
        Ok(Err(e)) => return server_error(state, e),
        Err(e) => return server_error(state, e),
    };
    match step {
        Step::Code(code) => answer_to(state, &auth, Ok(&code), cookies),
        Step::Consent => {
            let mut res = consent_page(req, state, &client, &auth, &params, &user);
            for c in cookies {
                let _ = res.add_cookie(&c);
            }
            res
        }
        Step::Login => login_page(
            req,
            state,
            &client,
            &params,
            None,
            &user.username,
            StatusCode::OK,
        ),
        Step::Refused(e) => answer_to(state, &auth, Err(&e), cookies),
    }
}

/// Before a code (and a consent) refers to a metadata-document client,
/// store it, so that the code, its tokens and the consent have their row.
fn keep_document_client(
    tx: &mut portcullis_storage::Tx<'_>,
    client: &Client,
    t: i64,
) -> Result<(), OAuthError> {
    if client_metadata::is_document_client(client) {
        client_metadata::save(tx, &mut OsRandom, client, t)?;
    }
    Ok(())
}

/// What the flow does next for a signed-in browser.
enum Step {
    Code(String),
    Consent,
    Login,
    /// An error for the client (login_required, consent_required).
    Refused(OAuthError),
}

/// GET or POST /oauth/authorize: the authorization request itself.
#[utoipa::path(method(get, post), path = "/oauth/authorize", tag = "authorization", description = "Authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): response_type, client_id, redirect_uri, scope, state, nonce, code_challenge, code_challenge_method, prompt, max_age, resource, response_mode (query or form_post)", responses((status = 200, description = "The sign-in or consent page; with response_mode=form_post, the answer to the client as an auto-submitting form (code or error, state, iss)", content_type = "text/html"), (status = 303, description = "Back to the client with code or error, state and iss"), (status = 400, description = "Error page: unknown client or unregistered redirect URI", content_type = "text/html")))]
pub async fn authorize(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Resp {
    let params = if req.method() == actix_web::http::Method::POST {
        extract::form(&req, payload).await.map_err(|e| e.error)
    } else {
        Params::parse(url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned())
    };
    let params = match params {
        Ok(p) => p,
        Err(e) => {
            return error_page(
                &state,
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                &e.description.unwrap_or_default(),
                Some(e.code.as_str()),
            )
        }
    };
    let params = if par::by_reference(&params) {
        match open_pushed(&state, params).await {
            Ok(p) => p,
            Err(resp) => return resp,
        }
    } else {
        params
    };
    let document = state.documents.resolve(params.get("client_id")).await;
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let st = state.clone();
    let checked = web::block(move || {
        st.store.read(|tx| -> Result<_, OAuthError> {
            let t = now();
            let checked = match check(&st, tx, &params, document)? {
                Ok(v) => v,
                Err(resp) => return Ok(Err(resp)),
            };
            let session = current_session(tx, cookie.as_deref(), t)?;
            Ok(Ok((checked, session, params)))
        })
    })
    .await;
    let ((client, auth), session, params) = match checked {
        Ok(Ok(Ok(v))) => v,
        Ok(Ok(Err(refusal))) => return refusal.respond(&state),
        Ok(Err(e)) => return server_error(&state, e),
        Err(e) => return server_error(&state, e),
    };
    match session {
        Some((s, u)) => proceed(&req, &state, client, auth, params, s, u, false, vec![]).await,
        None if auth.prompt_none => {
            let e = OAuthError::with(ErrorCode::LoginRequired, "no signed-in session");
            answer_to(&state, &auth, Err(&e), vec![])
        }
        None => login_page(&req, &state, &client, &params, None, "", StatusCode::OK),
    }
}

/// RFC 9126 §4: the parameters of the pushed request a `request_uri`
/// names (used once here; every other query parameter but `client_id` is
/// ignored). An unknown, expired, used or other client's `request_uri` is
/// an error page: nothing in the request can be trusted to redirect to.
async fn open_pushed(state: &web::Data<AppState>, params: Params) -> Result<Params, Resp> {
    let st = state.clone();
    let opened = web::block(move || {
        st.store
            .write(|tx| Ok::<_, OAuthError>(par::open(tx, &params, now())))
    })
    .await;
    match opened {
        Ok(Ok(Ok(p))) => Ok(p),
        Ok(Ok(Err(e))) if e.code == ErrorCode::ServerError => Err(server_error(state, e)),
        Ok(Ok(Err(e))) => Err(Refusal::Page(e).respond(state)),
        Ok(Err(e)) => Err(server_error(state, e)),
        Err(e) => Err(server_error(state, e)),
    }
}

/// Start a browser session for `user` and continue the flow.
async fn signed_in(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    client: Client,
    auth: AuthRequest,
    params: Params,
    user: User,
    amr: Vec<String>,
) -> Resp {
    let ua = extract::user_agent(req);
    let (session, cookie) = match signin::start_browser_session(state, &user, amr, ua).await {
        Ok(v) => v,
        Err(e) => return server_error(state, e),
    };
    proceed(
        req,
        state,
        client,
        auth,
        params,
        session,
        user,
        true,
        vec![cookie],
    )
    .await
}

/// Re-check a posted form: CSRF, then the original request.
async fn posted(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<
    (
        Params,
        Params,
        Client,
        AuthRequest,
        Option<(BrowserSession, User)>,
    ),
    Resp,
> {
    let all = match extract::form(req, payload).await {
        Ok(p) => p,
        Err(_) => return Err(bad_form(state)),
    };
    if !csrf_ok(req, state, all.get("csrf")) {
        return Err(bad_form(state));
    }
    let params = original(&all);
    let document = state.documents.resolve(params.get("client_id")).await;
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let st = state.clone();
    let checked = web::block(move || {
        st.store.read(|tx| -> Result<_, OAuthError> {
            // A pushed request's later steps read its parameters again
            // (RFC 9126 §4), never the hidden fields' copy.
            let params = if par::by_reference(&params) {
                match par::resume(tx, &params, now()) {
                    Ok(p) => p,
                    Err(e) if e.code == ErrorCode::ServerError => return Err(e),
                    Err(e) => return Ok((Err(Refusal::Page(e)), None, params)),
                }
            } else {
                params
            };
            let checked = check(&st, tx, &params, document)?;
            let session = current_session(tx, cookie.as_deref(), now())?;
            Ok((checked, session, params))
        })
    })
    .await;
    match checked {
        Ok(Ok((Ok((client, auth)), session, params))) => Ok((all, params, client, auth, session)),
        Ok(Ok((Err(refusal), _, _))) => Err(refusal.respond(state)),
        Ok(Err(e)) => Err(server_error(state, e)),
        Err(e) => Err(server_error(state, blocking_failed(e))),
    }
}

/// POST /oauth/authorize/login: the sign-in form.
#[utoipa::path(post, path = "/oauth/authorize/login", tag = "authorization", request_body(content = crate::openapi::SignInForm, content_type = "application/x-www-form-urlencoded", description = "csrf, username and password (or passkey_state and passkey: a passkey alone) and the authorization request"), responses((status = 200, description = "Consent, TOTP or sign-in page", content_type = "text/html"), (status = 303, description = "Back to the client"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many failed attempts", content_type = "text/html")))]
pub async fn login(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (all, params, client, auth, _) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let username = all.get("username").unwrap_or("").to_string();
    match signin::first_step(&state, &all).await {
        Ok(signin::FirstStep::Done(user, amr)) => {
            signed_in(&req, &state, client, auth, params, user, amr).await
        }
        Ok(signin::FirstStep::SecondFactor(user)) => {
            otp_page(&req, &state, &params, &user, None).await
        }
        Err(refused) => refused.respond(&state, "authorization endpoint", |msg, status| {
            login_page(&req, &state, &client, &params, Some(msg), &username, status)
        }),
    }
}

async fn otp_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    params: &Params,
    user: &User,
    error: Option<&str>,
) -> Resp {
    signin::otp_page(
        req,
        state,
        "/oauth/authorize/otp",
        hidden(params),
        user,
        error,
    )
    .await
}

/// POST /oauth/authorize/otp: the TOTP step.
#[utoipa::path(post, path = "/oauth/authorize/otp", tag = "authorization", request_body(content = crate::openapi::OtpForm, content_type = "application/x-www-form-urlencoded", description = "csrf, pending, otp (or passkey_state and passkey) and the authorization request"), responses((status = 200, description = "Consent or TOTP page", content_type = "text/html"), (status = 303, description = "Back to the client"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn otp(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (all, params, client, auth, _) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match signin::otp_step(&state, &req, &all).await {
        signin::OtpStep::Passed(user, amr) => {
            signed_in(&req, &state, client, auth, params, user, amr).await
        }
        signin::OtpStep::Again(user, refusal) => {
            let msg = refusal.message();
            refusal.marked(otp_page(&req, &state, &params, &user, Some(&msg)).await)
        }
        signin::OtpStep::Expired => bad_form(&state),
        signin::OtpStep::Failed(e) => server_error(&state, e),
    }
}

/// POST /oauth/authorize/consent: approve or deny.
#[utoipa::path(post, path = "/oauth/authorize/consent", tag = "authorization", request_body(content = crate::openapi::ConsentForm, content_type = "application/x-www-form-urlencoded", description = "csrf, consent=approve|deny and the authorization request"), responses((status = 200, description = "Sign-in page when the session ended", content_type = "text/html"), (status = 303, description = "Back to the client with a code or access_denied"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn consent(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (all, params, client, auth, session) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some((session, user)) = session else {
        return login_page(
            &req,
            &state,
            &client,
            &params,
            Some("Please sign in again."),
            "",
            StatusCode::OK,
        );
    };
    if all.get("consent") != Some("approve") {
        let e = OAuthError::with(ErrorCode::AccessDenied, "the user denied the request");
        return answer_to(&state, &auth, Err(&e), vec![]);
    }
    let (st, a, s) = (state.clone(), auth.clone(), session.clone());
    let uid = user.id.clone();
    let issued = web::block(move || {
        st.store.write(|tx| -> Result<String, OAuthError> {
            let t = now();
            keep_document_client(tx, &client, t)?;
            authorize::remember_consent(tx, &uid, &a, t)?;
            authorize::issue_code(tx, &mut OsRandom, &a, &s, t)
        })
    })
    .await;
    match issued {
        Ok(Ok(code)) => answer_to(&state, &auth, Ok(&code), vec![]),
        Ok(Err(e)) => server_error(&state, e),
        Err(e) => server_error(&state, e),
    }
}

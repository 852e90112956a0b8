//! The verification page of the device authorization grant (RFC 8628
//! §3.3): `GET /device` (the code form, filled in from `?user_code=` of
//! `verification_uri_complete`), `POST /device` (look the code up),
//! `/device/login` and `/device/otp` (the sign-in steps of the
//! authorization pages), `/device/consent` (approve or deny).
//!
//! Stateless between steps like the authorization pages: every form
//! carries the user code and a CSRF token, and every step looks the code
//! up again, throttled per client address, so a form cannot be used to
//! guess codes past the throttle (RFC 8628 §5.1).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::grants::device_code::{self, format_user_code, normalize_user_code, Lookup};
use portcullis_core::model::{BrowserSession, Client, DeviceCode, User};
use portcullis_core::params::Params;
use portcullis_core::ports::ClientStore;
use portcullis_core::OAuthError;

use crate::crypto::OsRandom;
use crate::endpoints::signin::{self, current_session, path, with_cookie};
use crate::extract;
use crate::pages::{self, csrf, csrf_ok, page};
use crate::render::blocking_failed;
use crate::state::{now, AppState};

type Resp = HttpResponse;

const VERIFY: &str = "/device";

const WHAT: &str = "device verification";

fn server_error(state: &AppState, e: impl std::fmt::Display) -> Resp {
    signin::server_error(state, WHAT, e)
}

fn bad_form(state: &AppState) -> Resp {
    signin::expired_form(state, "Enter the code again.")
}

/// A typed code as the form shows it again: `XXXX-XXXX` when it is one.
fn shown(typed: &str) -> String {
    normalize_user_code(typed)
        .map(|c| format_user_code(&c))
        .unwrap_or_else(|| typed.chars().take(32).collect())
}

/// The code form, with an optional error.
fn code_page(
    req: &HttpRequest,
    state: &AppState,
    typed: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let ctx = minijinja::context! {
        action => path(state, VERIFY), csrf => token, user_code => shown(typed), error => error,
    };
    with_cookie(page(state, status, "device.html", ctx), cookie)
}

fn done_page(state: &AppState, approved: bool) -> Resp {
    let (title, text) = if approved {
        (
            "Device connected",
            "You allowed access. Go back to your device: it continues on its own.",
        )
    } else {
        (
            "Access denied",
            "You denied access. The device gets nothing; you may close this page.",
        )
    };
    let ctx = minijinja::context! { done => text, done_title => title };
    page(state, StatusCode::OK, "device.html", ctx)
}

fn user_code_param(code: &str) -> Vec<(String, String)> {
    vec![("user_code".to_string(), shown(code))]
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    typed: &str,
    error: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let ctx = minijinja::context! {
        action => path(state, "/device/login"), csrf => token.clone(),
        params => user_code_param(typed), client_name => client.name.clone(), error => error,
        username => username,
    };
    with_cookie(signin::sign_in_page(state, status, &token, ctx), cookie)
}

async fn otp_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    typed: &str,
    user: &User,
    error: Option<&str>,
) -> Resp {
    signin::otp_page(
        req,
        state,
        "/device/otp",
        user_code_param(typed),
        user,
        error,
    )
    .await
}

fn consent_page(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    code: &DeviceCode,
    typed: &str,
    user: &User,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let scopes: Vec<String> = code.scope.iter().map(pages::describe_scope).collect();
    let ctx = minijinja::context! {
        action => path(state, "/device/consent"), csrf => token, user_code => shown(typed),
        client_name => client.name.clone(), scopes => scopes, username => user.username.clone(),
    };
    with_cookie(
        page(state, StatusCode::OK, "device_consent.html", ctx),
        cookie,
    )
}

/// The address guesses are counted against: the peer's IP (behind a
/// reverse proxy, the proxy's, so every person behind it shares one count).
fn client_addr(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A device code waiting for an answer, its client, and the browser's
/// session if it has one.
struct Found {
    code: DeviceCode,
    client: Client,
    session: Option<(BrowserSession, User)>,
}

/// Look the typed code up (throttled); a page when there is nothing to
/// continue with.
async fn find(req: &HttpRequest, state: &web::Data<AppState>, typed: &str) -> Result<Found, Resp> {
    let (st, addr, t) = (state.clone(), client_addr(req), typed.to_string());
    let cookie = signin::session_cookie(req);
    let looked = web::block(move || {
        st.store.write(|tx| -> Result<_, OAuthError> {
            let at = now();
            let code = match device_code::lookup(tx, &st.throttles.user, &addr, &t, at)? {
                Lookup::Found(code) => *code,
                other => return Ok(Err(other)),
            };
            let Some(client) = tx.get_client(&code.client_id)?.filter(|c| !c.disabled) else {
                return Ok(Err(Lookup::Unknown));
            };
            let session = current_session(tx, cookie.as_deref(), at)?;
            Ok(Ok(Found {
                code,
                client,
                session,
            }))
        })
    })
    .await;
    match looked {
        Ok(Ok(Ok(found))) => Ok(found),
        Ok(Ok(Err(Lookup::Blocked(secs)))) => {
            let msg = format!("Too many wrong codes. Try again in {secs} seconds.");
            let res = code_page(req, state, typed, Some(&msg), StatusCode::TOO_MANY_REQUESTS);
            Err(signin::retry_after(res, secs))
        }
        Ok(Ok(Err(_))) => Err(code_page(
            req,
            state,
            typed,
            Some("That code is not valid, or it has expired. Check the code on your device."),
            StatusCode::OK,
        )),
        Ok(Err(e)) => Err(server_error(state, e)),
        Err(e) => Err(server_error(state, blocking_failed(e))),
    }
}

/// A posted form with a valid CSRF token, its code looked up.
async fn posted(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<(Params, String, Found), Resp> {
    let all = match extract::form(req, payload).await {
        Ok(p) => p,
        Err(_) => return Err(bad_form(state)),
    };
    if !csrf_ok(req, state, all.get("csrf")) {
        return Err(bad_form(state));
    }
    let typed = all.get("user_code").unwrap_or("").to_string();
    let found = find(req, state, &typed).await?;
    Ok((all, typed, found))
}

/// GET /device: the code form.
#[utoipa::path(get, path = "/device", tag = "device", params(("user_code" = Option<String>, Query, description = "The user code, from verification_uri_complete (RFC 8628 §3.3.1): filled in, for the person to confirm")), responses((status = 200, description = "The code form", content_type = "text/html")))]
pub async fn verify(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    let query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    code_page(&req, &state, &query, None, StatusCode::OK)
}

/// POST /device: the typed code.
#[utoipa::path(post, path = "/device", tag = "device", request_body(content = crate::openapi::DeviceCodeForm, content_type = "application/x-www-form-urlencoded", description = "csrf and user_code"), responses((status = 200, description = "Sign-in or consent page; the code form again for an unknown or expired code", content_type = "text/html"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many wrong codes from this address", content_type = "text/html")))]
pub async fn submit(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (_, typed, f) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match f.session {
        Some((_, user)) => consent_page(&req, &state, &f.client, &f.code, &typed, &user),
        None => login_page(&req, &state, &f.client, &typed, None, "", StatusCode::OK),
    }
}

/// Signed in: a browser session, then the consent page.
async fn signed_in(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    f: &Found,
    typed: &str,
    user: User,
    amr: Vec<String>,
) -> Resp {
    match signin::start_browser_session(state, &user, amr, extract::user_agent(req)).await {
        Ok((_, cookie)) => with_cookie(
            consent_page(req, state, &f.client, &f.code, typed, &user),
            Some(cookie),
        ),
        Err(e) => server_error(state, e),
    }
}

/// POST /device/login: the sign-in form.
#[utoipa::path(post, path = "/device/login", tag = "device", request_body(content = crate::openapi::DeviceSignInForm, content_type = "application/x-www-form-urlencoded", description = "csrf, user_code, username and password (or passkey_state and passkey: a passkey alone)"), responses((status = 200, description = "Consent, TOTP or sign-in page", content_type = "text/html"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many failed attempts", content_type = "text/html")))]
pub async fn login(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (all, typed, f) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let username = all.get("username").unwrap_or("").to_string();
    let user = match signin::first_step(&state, &all).await {
        Ok(signin::FirstStep::Done(user, amr)) => {
            return signed_in(&req, &state, &f, &typed, user, amr).await
        }
        Ok(signin::FirstStep::SecondFactor(user)) => user,
        Err(refused) => {
            return refused.respond(&state, WHAT, |msg, status| {
                login_page(
                    &req,
                    &state,
                    &f.client,
                    &typed,
                    Some(msg),
                    &username,
                    status,
                )
            })
        }
    };
    otp_page(&req, &state, &typed, &user, None).await
}

/// POST /device/otp: the TOTP step.
#[utoipa::path(post, path = "/device/otp", tag = "device", request_body(content = crate::openapi::DeviceOtpForm, content_type = "application/x-www-form-urlencoded", description = "csrf, pending, otp (or passkey_state and passkey) and user_code"), responses((status = 200, description = "Consent or TOTP page", content_type = "text/html"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn otp(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (all, typed, f) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match signin::otp_step(&state, &req, &all).await {
        signin::OtpStep::Passed(user, amr) => signed_in(&req, &state, &f, &typed, user, amr).await,
        signin::OtpStep::Again(user, refusal) => {
            let msg = refusal.message();
            refusal.marked(otp_page(&req, &state, &typed, &user, Some(&msg)).await)
        }
        signin::OtpStep::Expired => bad_form(&state),
        signin::OtpStep::Failed(e) => server_error(&state, e),
    }
}

/// POST /device/consent: approve or deny.
#[utoipa::path(post, path = "/device/consent", tag = "device", request_body(content = crate::openapi::DeviceConsentForm, content_type = "application/x-www-form-urlencoded", description = "csrf, user_code and consent=approve|deny"), responses((status = 200, description = "Done page, or the sign-in page when the session ended", content_type = "text/html"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn consent(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (all, typed, f) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some((session, user)) = f.session else {
        let msg = Some("Please sign in again.");
        return login_page(&req, &state, &f.client, &typed, msg, "", StatusCode::OK);
    };
    let approve = all.get("consent") == Some("approve");
    let (st, code) = (state.clone(), f.code);
    let decided = web::block(move || {
        st.store.write(|tx| {
            let approval = approve.then_some((session.auth_time, session.amr.as_slice()));
            device_code::decide(tx, &mut OsRandom, &code, &user.id, approval, now())
        })
    })
    .await;
    match decided {
        Ok(Ok(true)) => done_page(&state, approve),
        Ok(Ok(false)) => code_page(
            &req,
            &state,
            "",
            Some("That code was answered already, or it has expired."),
            StatusCode::OK,
        ),
        Ok(Err(e)) => server_error(&state, e),
        Err(e) => server_error(&state, e),
    }
}

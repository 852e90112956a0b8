//! The account pages under `/account` (docs/account.md): server-rendered,
//! no JavaScript but the few lines a passkey needs, behind the browser
//! session of the authorization pages (signing in here is the same
//! sign-in: [`crate::endpoints::signin`]).
//! Every form carries the CSRF token of the login pages and every POST
//! checks it; no state is kept in process memory (a TOTP secret being
//! enrolled, a passkey ceremony: each rides in the form, MACed), so any
//! node serves any step.
//!
//! One module per page group: [`home`] (overview, sign-in, sign-out),
//! [`security`] (TOTP and recovery codes, password), [`sessions`] (sessions
//! and consents), [`tokens`] (personal access tokens), [`passkeys`]
//! (register, name, remove), [`admin`] (the read-only `/admin` page).

pub mod admin;
pub mod home;
pub mod passkeys;
pub mod security;
pub mod sessions;
pub mod tokens;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{TimeZone, Utc};
use portcullis_core::model::{BrowserSession, User};
use portcullis_core::params::Params;
use portcullis_core::OAuthError;

use crate::endpoints::signin;
use crate::extract;
use crate::pages::{self, csrf, csrf_ok, error_page};
use crate::state::{now, AppState};

type Resp = HttpResponse;

/// The pages a sign-in may return to (`next`): nothing else, so the form
/// cannot be turned into an open redirect.
const RETURN_TO: &[&str] = &[
    "/account",
    "/account/totp",
    "/account/password",
    "/account/passkeys",
    "/account/sessions",
    "/account/consents",
    "/account/tokens",
    "/admin",
];

/// `p` under the issuer's path.
pub(crate) fn path(state: &AppState, p: &str) -> String {
    match state.issuer.path() {
        "" => p.to_string(),
        base => format!("/{base}{p}"),
    }
}

fn server_error(state: &AppState, e: impl std::fmt::Display) -> Resp {
    pages::server_error_page(state, "account page", e)
}

/// Run `f` in one store transaction (`write`: a write one) on a blocking
/// thread; a failure is the error page.
async fn store<T, F>(state: &web::Data<AppState>, write: bool, f: F) -> Result<T, Resp>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&mut portcullis_storage::Tx<'t>) -> Result<T, OAuthError> + Send + 'static,
{
    let st = state.clone();
    let done = web::block(move || {
        if write {
            st.store.write(f)
        } else {
            st.store.read(f)
        }
    })
    .await;
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(server_error(state, e)),
        Err(e) => Err(server_error(state, e)),
    }
}

fn bad_form(state: &AppState) -> Resp {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This form has expired",
        "The page was open too long or did not come from this server. Reload it and try again.",
        Some("invalid_request"),
    )
}

/// A time for people: UTC, to the minute.
pub(crate) fn when(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .single()
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The sign-in form of the account pages (the authorization pages'
/// `login.html`), returning to `next` afterwards.
fn login_form(
    req: &HttpRequest,
    state: &AppState,
    next: &str,
    error: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let next = if RETURN_TO.contains(&next) {
        next
    } else {
        "/account"
    };
    let ctx = minijinja::context! {
        action => path(state, "/account/login"), csrf => token.clone(),
        params => vec![("next".to_string(), next.to_string())],
        client_name => "your account", error => error, username => username,
    };
    let mut res = signin::sign_in_page(state, status, &token, ctx);
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

/// The signed-in browser session and its user, if any.
async fn signed(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Option<(BrowserSession, User)>, Resp> {
    let cookie = signin::session_cookie(req);
    store(state, false, move |tx| {
        signin::current_session(tx, cookie.as_deref(), now())
    })
    .await
}

/// For a GET page: the signed-in user, or the sign-in form (returning to
/// `next`).
async fn require(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    next: &str,
) -> Result<(BrowserSession, User), Resp> {
    match signed(req, state).await? {
        Some(v) => Ok(v),
        None => Err(login_form(req, state, next, None, "", StatusCode::OK)),
    }
}

/// For a POST action: the form, CSRF-checked, and the signed-in user (the
/// sign-in form when the session ended).
async fn posted(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<(Params, BrowserSession, User), Resp> {
    let Ok(form) = extract::form(req, payload).await else {
        return Err(bad_form(state));
    };
    if !csrf_ok(req, state, form.get("csrf")) {
        return Err(bad_form(state));
    }
    match signed(req, state).await? {
        Some((s, u)) => Ok((form, s, u)),
        None => Err(login_form(
            req,
            state,
            "/account",
            Some("Please sign in again."),
            "",
            StatusCode::OK,
        )),
    }
}

/// What a finished action says on the page it returns to (`?done=`): fixed
/// texts, nothing reflected.
fn notice(req: &HttpRequest) -> Option<&'static str> {
    let done = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned())?;
    Some(match done.as_str() {
        "password" => "Your password was changed.",
        "totp_off" => "Two-factor authentication is off.",
        "passkey_added" => "The passkey was added.",
        "passkey_renamed" => "The passkey was renamed.",
        "passkey_removed" => "The passkey was removed.",
        "session" => "The session was ended.",
        "sessions" => "Every session was ended.",
        "consent" => "Access was withdrawn.",
        "token_disabled" => "The token was disabled.",
        "token_enabled" => "The token was enabled.",
        "token_deleted" => "The token was deleted.",
        _ => return None,
    })
}

/// Render an account page: `ctx` plus what every page shows (CSRF token,
/// the user, the links, the notice).
fn show(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    render(
        state,
        user,
        status,
        name,
        &token,
        cookie,
        notice(req),
        ctx,
        false,
    )
}

/// [`show`] with the CSRF token made already (`cookie`: to set, if new);
/// `script`: the page runs `passkeys.js` ([`pages::page_with_script`]).
#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    user: &User,
    status: StatusCode,
    name: &str,
    token: &str,
    cookie: Option<actix_web::cookie::Cookie<'static>>,
    notice: Option<&'static str>,
    ctx: minijinja::Value,
    script: bool,
) -> Resp {
    let base = path(state, "");
    let full = minijinja::context! {
        csrf => token, base => base, username => user.username.clone(),
        is_admin => user.is_admin, notice => notice, ..ctx
    };
    let mut res = pages::page_maybe_script(state, status, name, full, script);
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

/// After a POST: back to `to` (a page of ours) with a notice.
fn done(state: &AppState, to: &str, what: &str) -> Resp {
    pages::redirect(&format!("{}?done={what}", path(state, to)), vec![])
}

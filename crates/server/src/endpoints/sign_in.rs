//! The sign-in pieces the browser flows share (the authorization pages and
//! the device verification page): the browser session behind the cookie,
//! the password step (throttled per username, hashed on the pool), the
//! proof that carries a passed password step to the TOTP step, the TOTP
//! step, and starting a browser session.

use actix_web::cookie::Cookie;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_core::model::{BrowserSession, User};
use portcullis_core::ports::{BrowserSessionStore, UserStore};
use portcullis_core::secret::{hash_token, random_token};
use portcullis_core::tokens::derive;
use portcullis_core::{throttle, totp, ErrorCode, OAuthError};
use subtle::ConstantTimeEq;

use crate::crypto::OsRandom;
use crate::pages::{self, error_page, SESSION_COOKIE};
use crate::render::blocking_failed;
use crate::state::{now, AppState};

/// A page that failed (database, blocking pool): a generic error page, the
/// cause in the log under `what`.
pub fn server_error(state: &AppState, what: &str, e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(cause = %e, "{what} failed");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
        Some("server_error"),
    )
}

/// A form without a valid CSRF token (or proof of the password step);
/// `next`: what the person should do.
pub fn expired_form(state: &AppState, next: &str) -> HttpResponse {
    let message = format!("The page was open too long or did not come from this server. {next}");
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This form has expired",
        &message,
        Some("invalid_request"),
    )
}

/// A path under the issuer's path.
pub fn path(state: &AppState, p: &str) -> String {
    match state.issuer.path() {
        "" => p.to_string(),
        base => format!("/{base}{p}"),
    }
}

pub fn with_cookie(mut res: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

/// `Retry-After` on a throttled page.
pub fn retry_after(mut res: HttpResponse, secs: i64) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        res.headers_mut().insert(RETRY_AFTER, v);
    }
    res
}

/// The session cookie of a request, if any.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string())
}

/// The browser's live session and its user, if any.
pub fn current_session(
    tx: &mut (impl BrowserSessionStore + UserStore),
    cookie: Option<&str>,
    t: i64,
) -> Result<Option<(BrowserSession, User)>, OAuthError> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let Some(s) = tx.get_browser_session(&hash_token(cookie))? else {
        return Ok(None);
    };
    if s.revoked_at.is_some() || s.expires_at <= t {
        return Ok(None);
    }
    match tx.get_user(&s.user_id)? {
        Some(u) if !u.disabled => Ok(Some((s, u))),
        _ => Ok(None),
    }
}

/// The outcome of the password step.
enum PasswordCheck {
    Passed(User),
    Wrong,
    /// Too many failures for this username: seconds to wait.
    Blocked(i64),
    /// The hashing queue is full.
    Busy,
}

/// Why the password step did not pass: the sign-in page again with a
/// message (and `Retry-After` when throttled), or a failure.
pub enum Refused {
    Page {
        message: String,
        status: StatusCode,
        retry_after: Option<i64>,
    },
    Failed(OAuthError),
}

impl Refused {
    fn page(message: impl Into<String>, status: StatusCode) -> Refused {
        Refused::Page {
            message: message.into(),
            status,
            retry_after: None,
        }
    }

    /// The answer: `sign_in_page(message, status)`, or an error page.
    pub fn respond(
        self,
        state: &AppState,
        what: &str,
        sign_in_page: impl FnOnce(&str, StatusCode) -> HttpResponse,
    ) -> HttpResponse {
        match self {
            Refused::Page {
                message,
                status,
                retry_after: Some(secs),
            } => retry_after(sign_in_page(&message, status), secs),
            Refused::Page {
                message, status, ..
            } => sign_in_page(&message, status),
            Refused::Failed(e) => server_error(state, what, e),
        }
    }
}

/// The password step of a sign-in form: both fields given, then
/// [`check_password`]; the user, or what to show.
pub async fn password_step(
    state: &web::Data<AppState>,
    username: &str,
    password: &str,
) -> Result<User, Refused> {
    if username.is_empty() || password.is_empty() {
        return Err(Refused::page(
            "Enter your username and password.",
            StatusCode::OK,
        ));
    }
    match check_password(state, username, password.to_string()).await {
        Ok(PasswordCheck::Passed(u)) => Ok(u),
        Ok(PasswordCheck::Wrong) => {
            Err(Refused::page("Wrong username or password.", StatusCode::OK))
        }
        Ok(PasswordCheck::Blocked(secs)) => Err(Refused::Page {
            message: format!("Too many failed attempts. Try again in {secs} seconds."),
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(secs),
        }),
        Ok(PasswordCheck::Busy) => Err(Refused::page(
            "The server is busy. Try again in a moment.",
            StatusCode::SERVICE_UNAVAILABLE,
        )),
        Err(e) => Err(Refused::Failed(e)),
    }
}

/// The password step: the throttle first (a blocked username is refused
/// before any hashing), then Argon2 on the pool (an unknown user costs the
/// same); a failure counts toward the username's throttle.
async fn check_password(
    state: &web::Data<AppState>,
    username: &str,
    password: String,
) -> Result<PasswordCheck, OAuthError> {
    let (st, u) = (state.clone(), username.to_string());
    let (blocked, user) = web::block(move || {
        st.store.read(|tx| -> Result<_, OAuthError> {
            let blocked = throttle::blocked_for(tx, &st.throttle, &u, now())?;
            Ok((blocked, tx.get_user_by_username(&u)?))
        })
    })
    .await
    .map_err(|e| blocking_failed(e).error)??;
    if let Some(secs) = blocked {
        return Ok(PasswordCheck::Blocked(secs));
    }
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let Ok(good) = state.hasher.verify(password, phc).await else {
        return Ok(PasswordCheck::Busy);
    };
    match (good, user) {
        (true, Some(u)) if !u.disabled => Ok(PasswordCheck::Passed(u)),
        _ => {
            record_failure(state, username.to_string()).await;
            Ok(PasswordCheck::Wrong)
        }
    }
}

/// Record a failed attempt for `username` (wrong password or code).
async fn record_failure(state: &web::Data<AppState>, username: String) {
    state.metrics.login_failure("page");
    let st = state.clone();
    let _ = web::block(move || {
        st.store
            .write(|tx| throttle::record(tx, &st.throttle, &username, true, now()))
    })
    .await;
}

/// A proof that the password step passed, for the TOTP step: the user id
/// and an expiry, MACed together with this browser's CSRF cookie.
fn pending_token(state: &AppState, req: &HttpRequest, user_id: &str, exp: i64) -> String {
    let payload = URL_SAFE_NO_PAD.encode(format!("{user_id}|{exp}"));
    let bind = req
        .cookie(pages::CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let mac = derive(
        &state.derive_key,
        "otp-pending",
        &format!("{payload}|{bind}"),
    );
    format!("{payload}.{mac}")
}

/// The user id a [`pending_token`] vouches for, while it is valid.
fn check_pending(state: &AppState, req: &HttpRequest, token: &str, t: i64) -> Option<String> {
    let (payload, mac) = token.split_once('.')?;
    let bind = req
        .cookie(pages::CSRF_COOKIE)
        .map(|c| c.value().to_string())?;
    let expected = derive(
        &state.derive_key,
        "otp-pending",
        &format!("{payload}|{bind}"),
    );
    if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let (user_id, exp) = text.split_once('|')?;
    (exp.parse::<i64>().ok()? > t).then(|| user_id.to_string())
}

/// The TOTP page: posts to `action` (under the issuer's path) with
/// `params` as hidden fields and a fresh proof of the password step.
pub fn otp_page(
    req: &HttpRequest,
    state: &AppState,
    action: &str,
    params: Vec<(String, String)>,
    user: &User,
    error: Option<&str>,
) -> HttpResponse {
    let (token, cookie) = pages::csrf(req, state);
    let pending = pending_token(state, req, &user.id, now() + 300);
    let ctx = minijinja::context! {
        action => path(state, action), csrf => token, pending => pending, params => params,
        username => user.username.clone(), error => error,
    };
    with_cookie(pages::page(state, StatusCode::OK, "otp.html", ctx), cookie)
}

/// `amr` of a sign-in with password and TOTP (RFC 8176).
pub fn otp_amr() -> Vec<String> {
    vec!["pwd".into(), "otp".into(), "mfa".into()]
}

/// What the TOTP form's post comes to.
pub enum OtpStep {
    Passed(User),
    /// The TOTP page again, with this message.
    Again(User, &'static str),
    /// No valid proof of the password step, or the account is gone.
    Expired,
    Failed(OAuthError),
}

/// The TOTP step of a posted form (`pending`, `otp`).
pub async fn otp_step(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    form: &portcullis_core::params::Params,
) -> OtpStep {
    let Some(user_id) = form
        .get("pending")
        .and_then(|p| check_pending(state, req, p, now()))
    else {
        return OtpStep::Expired;
    };
    let code = form.get("otp").unwrap_or("").to_string();
    match check_otp(state, user_id, code).await {
        Ok(Ok(user)) => OtpStep::Passed(user),
        Ok(Err((user, msg))) => OtpStep::Again(user, msg),
        Err(e) if e.code == ErrorCode::AccessDenied => OtpStep::Expired,
        Err(e) => OtpStep::Failed(e),
    }
}

/// The TOTP step for the user a pending token named: the user, or the user
/// and what to tell them. `AccessDenied`: the account is gone or disabled.
async fn check_otp(
    state: &web::Data<AppState>,
    user_id: String,
    code: String,
) -> Result<Result<User, (User, &'static str)>, OAuthError> {
    let st = state.clone();
    web::block(move || {
        st.store.write(
            |tx| -> Result<Result<User, (User, &'static str)>, OAuthError> {
                let t = now();
                let user = match tx.get_user(&user_id)? {
                    Some(u) if !u.disabled => u,
                    _ => {
                        return Err(OAuthError::with(
                            ErrorCode::AccessDenied,
                            "account unavailable",
                        ))
                    }
                };
                if throttle::blocked_for(tx, &st.throttle, &user.username, t)?.is_some() {
                    return Ok(Err((user, "Too many failed attempts. Try again later.")));
                }
                let secret = match &user.totp_secret {
                    Some(sealed) => st
                        .sealer
                        .open(sealed)
                        .map_err(|e| OAuthError::server(e.to_string()))?,
                    None => return Ok(Ok(user)),
                };
                let refusal = match totp::verify_and_use(tx, &user.id, &secret, &code, t)? {
                    totp::OtpCheck::Accepted => return Ok(Ok(user)),
                    totp::OtpCheck::Wrong => "That code is not right. Try the current one.",
                    totp::OtpCheck::Replayed => {
                        "That code was already used. Wait for the next one."
                    }
                };
                st.metrics.login_failure("page");
                throttle::record(tx, &st.throttle, &user.username, true, t)?;
                Ok(Err((user, refusal)))
            },
        )
    })
    .await
    .map_err(|e| blocking_failed(e).error)?
}

/// Start a browser session for `user` (clearing the username's failures):
/// the session and its cookie.
pub async fn start_browser_session(
    state: &web::Data<AppState>,
    user: &User,
    amr: Vec<String>,
) -> Result<(BrowserSession, Cookie<'static>), OAuthError> {
    let token = random_token(&mut OsRandom, 32);
    let lifetime = state.config.pages.browser_session_secs;
    let t = now();
    let session = BrowserSession {
        id_hash: hash_token(&token),
        user_id: user.id.clone(),
        auth_time: t,
        amr,
        created_at: t,
        last_seen_at: t,
        expires_at: t + lifetime,
        revoked_at: None,
    };
    let (st, s) = (state.clone(), session.clone());
    let username = user.username.clone();
    web::block(move || {
        st.store.write(|tx| -> Result<(), OAuthError> {
            tx.insert_browser_session(&s)?;
            throttle::record(tx, &st.throttle, &username, false, s.created_at)
        })
    })
    .await
    .map_err(|e| blocking_failed(e).error)??;
    let cookie = pages::cookie(state, SESSION_COOKIE, token, Some(lifetime));
    Ok((session, cookie))
}

//! The browser sign-in steps shared by the authorization pages
//! (`/oauth/authorize/login`, `/oauth/authorize/otp`), the device
//! verification pages (`/device/login`, `/device/otp`) and the account pages
//! (`/account/login`, `/account/otp`): the browser session behind the
//! cookie, the password check with its throttle, the proof that the
//! password step passed (carried to the second-factor form), the second
//! factor (a TOTP or recovery code, or a passkey), a passkey alone in place
//! of the password ([`crate::passkeys`]), and starting a browser session.
//! No state in process memory: the session is a row, the proof is MACed
//! with a key shared by every node.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_core::model::{BrowserSession, User};
use portcullis_core::ports::{BrowserSessionStore, PasskeyStore, UserStore};
use portcullis_core::secret::{hash_token, random_token};
use portcullis_core::throttle::{self, Kind};
use portcullis_core::tokens::derive;
use portcullis_core::{passkeys as core_passkeys, second_factor, ErrorCode, OAuthError};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::crypto::OsRandom;
use crate::pages::{self, error_page, SESSION_COOKIE};
use crate::passkeys::{self, Purpose};
use crate::state::{now, AppState};

/// The browser's live session and its user, if any.
pub fn current_session(
    tx: &mut portcullis_storage::Tx<'_>,
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

/// The session cookie of a request, if any.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string())
}

/// Record a wrong password for `username`.
pub async fn record_failure(state: &web::Data<AppState>, username: String) {
    state.metrics.login_failure("page");
    let st = state.clone();
    let _ = web::block(move || {
        st.store
            .write(|tx| throttle::record(tx, &st.throttles, Kind::User, &username, true, now()))
    })
    .await;
}

/// Seconds `username` must wait, blocked for wrong passwords or for wrong
/// codes (whichever is longer).
fn blocked_for(
    tx: &mut portcullis_storage::Tx<'_>,
    st: &AppState,
    username: &str,
    t: i64,
) -> Result<Option<i64>, OAuthError> {
    Ok(
        throttle::blocked_for(tx, &st.throttles, Kind::User, username, t)?.max(
            throttle::blocked_for(tx, &st.throttles, Kind::Otp, username, t)?,
        ),
    )
}

/// The outcome of the password step.
pub enum Password {
    Good(User),
    Wrong,
    /// Too many failures: seconds to wait.
    Blocked(i64),
    /// The hashing pool is full.
    Busy,
}

/// Check `username` and `password` (throttled; an unknown user costs the
/// same as a known one). A wrong password is recorded as a failure.
pub async fn check_password(
    state: &web::Data<AppState>,
    username: &str,
    password: &str,
) -> Result<Password, OAuthError> {
    let (st, u) = (state.clone(), username.to_string());
    let (blocked, user) = web::block(move || {
        st.store.read(|tx| -> Result<_, OAuthError> {
            let blocked = blocked_for(tx, &st, &u, now())?;
            Ok((blocked, tx.get_user_by_username(&u)?))
        })
    })
    .await
    .map_err(|e| OAuthError::server(e.to_string()))??;
    if let Some(secs) = blocked {
        return Ok(Password::Blocked(secs));
    }
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let Ok(good) = state.hasher.verify(password.to_string(), phc).await else {
        return Ok(Password::Busy);
    };
    match (good, user) {
        (true, Some(u)) if !u.disabled => Ok(Password::Good(u)),
        _ => {
            record_failure(state, username.to_string()).await;
            Ok(Password::Wrong)
        }
    }
}

/// A proof that the password step passed, for the second-factor step: the
/// user id and an expiry, MACed together with this browser's CSRF cookie.
pub fn pending_token(state: &AppState, req: &HttpRequest, user_id: &str, exp: i64) -> String {
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

/// The user id a [`pending_token`] vouches for, if it is genuine and fresh.
pub fn check_pending(state: &AppState, req: &HttpRequest, token: &str, t: i64) -> Option<String> {
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

/// Why a second-factor code was refused.
pub enum CodeRefusal {
    /// Wrong or replayed: the form says which.
    Wrong(&'static str),
    /// Too many failures: seconds to wait.
    Blocked(i64),
}

impl CodeRefusal {
    /// The message for the form.
    pub fn message(&self) -> String {
        match self {
            CodeRefusal::Wrong(m) => (*m).to_string(),
            CodeRefusal::Blocked(secs) => {
                format!("Too many failed attempts. Try again in {secs} seconds.")
            }
        }
    }

    /// A blocked attempt's page answers 429 with `Retry-After`
    /// (RFC 6585 §4, RFC 9110 §10.2.3).
    pub fn mark(&self, res: &mut HttpResponse) {
        if let CodeRefusal::Blocked(secs) = self {
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            pages::retry_after(res, (*secs).max(1));
        }
    }

    /// [`CodeRefusal::mark`] on the page that says it.
    pub fn marked(&self, mut res: HttpResponse) -> HttpResponse {
        self.mark(&mut res);
        res
    }
}

/// Check the second factor of `user_id`: a TOTP code or a recovery code
/// ([`second_factor::verify`]), throttled per user apart from passwords
/// (a right password with wrong codes counts as code failures). `Ok(Err)`
/// carries the user and why. A user that is gone or disabled is
/// `access_denied`.
pub async fn check_second_factor(
    state: &web::Data<AppState>,
    user_id: String,
    code: String,
) -> Result<Result<User, (User, CodeRefusal)>, OAuthError> {
    let st = state.clone();
    web::block(move || {
        st.store.write(
            |tx| -> Result<Result<User, (User, CodeRefusal)>, OAuthError> {
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
                if let Some(secs) = blocked_for(tx, &st, &user.username, t)? {
                    return Ok(Err((user, CodeRefusal::Blocked(secs))));
                }
                let refusal = match &user.totp_secret {
                    Some(sealed) => {
                        let secret = st
                            .sealer
                            .open(sealed)
                            .map_err(|e| OAuthError::server(e.to_string()))?;
                        // A recovery code stands in for the TOTP code.
                        match second_factor::verify(tx, &user.id, &secret, &code, t)? {
                            second_factor::Check::Accepted(_) => return Ok(Ok(user)),
                            second_factor::Check::Wrong => {
                                "That code is not right. Try the current one."
                            }
                            second_factor::Check::Replayed => {
                                "That code was already used. Wait for the next one."
                            }
                        }
                    }
                    // The only second factor left is a passkey: no code
                    // stands in for it.
                    None if tx.count_passkeys(&user.id)? > 0 => {
                        "This account has no authenticator app: use your passkey."
                    }
                    // Turned off since the password step.
                    None => return Ok(Ok(user)),
                };
                st.metrics.login_failure("page");
                throttle::record(tx, &st.throttles, Kind::Otp, &user.username, true, t)?;
                Ok(Err((user, CodeRefusal::Wrong(refusal))))
            },
        )
    })
    .await
    .map_err(|e| OAuthError::server(e.to_string()))?
}

/// The methods a sign-in used: `pwd`, and `otp` + `mfa` with a second factor.
pub fn amr(second_factor: bool) -> Vec<String> {
    if second_factor {
        vec!["pwd".into(), "otp".into(), "mfa".into()]
    } else {
        vec!["pwd".into()]
    }
}

/// Start a browser session for `user` (clearing its failed attempts) and
/// return it with the cookie that names it; `user_agent`: the browser's
/// ([`crate::extract::user_agent`]).
pub async fn start_browser_session(
    state: &web::Data<AppState>,
    user: &User,
    amr: Vec<String>,
    user_agent: Option<String>,
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
        user_agent,
    };
    let (st, s) = (state.clone(), session.clone());
    let username = user.username.clone();
    web::block(move || {
        st.store.write(|tx| -> Result<(), OAuthError> {
            tx.insert_browser_session(&s)?;
            let t = s.created_at;
            throttle::record(tx, &st.throttles, Kind::User, &username, false, t)?;
            throttle::record(tx, &st.throttles, Kind::Otp, &username, false, t)
        })
    })
    .await
    .map_err(|e| OAuthError::server(e.to_string()))??;
    let cookie = pages::cookie(state, SESSION_COOKIE, token, Some(lifetime));
    Ok((session, cookie))
}

/// A page that failed (database, blocking pool): a generic error page, the
/// cause in the log under `what`.
pub fn server_error(state: &AppState, what: &str, e: impl std::fmt::Display) -> HttpResponse {
    pages::server_error_page(state, what, e)
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
    pages::retry_after(&mut res, secs.max(1));
    res
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
    match check_password(state, username, password).await {
        Ok(Password::Good(u)) => Ok(u),
        Ok(Password::Wrong) => Err(Refused::page("Wrong username or password.", StatusCode::OK)),
        Ok(Password::Blocked(secs)) => Err(Refused::Page {
            message: format!("Too many failed attempts. Try again in {secs} seconds."),
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(secs),
        }),
        Ok(Password::Busy) => Err(Refused::page(
            "The server is busy. Try again in a moment.",
            StatusCode::SERVICE_UNAVAILABLE,
        )),
        Err(e) => Err(Refused::Failed(e)),
    }
}

/// Run `f` in one transaction (`write`: a write one) on a blocking thread.
async fn transaction<T, F>(state: &web::Data<AppState>, write: bool, f: F) -> Result<T, OAuthError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &mut portcullis_storage::Tx<'_>) -> Result<T, OAuthError> + Send + 'static,
{
    let st = state.clone();
    web::block(move || {
        if write {
            st.store.write(|tx| f(&st, tx))
        } else {
            st.store.read(|tx| f(&st, tx))
        }
    })
    .await
    .map_err(|e| OAuthError::server(e.to_string()))?
}

/// What the first step of a sign-in form came to.
pub enum FirstStep {
    /// Signed in, with these `amr` (a passkey alone, or a password for an
    /// account without a second factor).
    Done(User, Vec<String>),
    /// The password passed; the second-factor page comes next.
    SecondFactor(User),
}

/// The first step of a sign-in form: a passkey alone (`passkey_state`,
/// `passkey`: the ceremony offered by [`sign_in_page`]), else the
/// password ([`password_step`]), then whether a second factor is due
/// ([`core_passkeys::second_factor_required`]).
pub async fn first_step(
    state: &web::Data<AppState>,
    form: &portcullis_core::params::Params,
) -> Result<FirstStep, Refused> {
    if let Some(sealed) = form.get("passkey_state") {
        let sealed = sealed.to_string();
        let csrf = form.get("csrf").unwrap_or("").to_string();
        let response = form.get("passkey").unwrap_or("").to_string();
        return match transaction(state, true, move |st, tx| {
            passkeys::finish_assertion(
                st,
                tx,
                Purpose::SignIn,
                &csrf,
                &sealed,
                &response,
                None,
                now(),
            )
        })
        .await
        {
            Ok(Ok((user, kind))) => Ok(FirstStep::Done(user, core_passkeys::amr_alone(kind))),
            Ok(Err(msg)) => Err(Refused::page(msg, StatusCode::OK)),
            Err(e) => Err(Refused::Failed(e)),
        };
    }
    let username = form.get("username").unwrap_or("");
    let user = password_step(state, username, form.get("password").unwrap_or("")).await?;
    let u = user.clone();
    let due = transaction(state, false, move |_, tx| {
        core_passkeys::second_factor_required(tx, &u)
    })
    .await
    .map_err(Refused::Failed)?;
    Ok(if due {
        FirstStep::SecondFactor(user)
    } else {
        FirstStep::Done(user, amr(false))
    })
}

/// The sign-in page (`login.html`): the caller's `ctx` (with `csrf`, the
/// form's token) and, when the issuer can have passkeys, a passkey sign-in
/// with the script that runs it.
pub fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    csrf: &str,
    ctx: impl Serialize,
) -> HttpResponse {
    let offer = passkeys::offer_sign_in(state, csrf, now());
    let script = offer.is_some();
    let ctx = minijinja::context! {
        passkey => offer, ..minijinja::Value::from_serialize(&ctx)
    };
    pages::page_maybe_script(state, status, "login.html", ctx, script)
}

/// The second-factor page: posts to `action` (under the issuer's path) with
/// `params` as hidden fields and a fresh proof of the password step; a code
/// field when TOTP is on, a passkey button when the user has passkeys.
pub async fn otp_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    action: &str,
    params: Vec<(String, String)>,
    user: &User,
    error: Option<&str>,
) -> HttpResponse {
    let (token, cookie) = pages::csrf(req, state);
    let pending = pending_token(state, req, &user.id, now() + 300);
    let uid = user.id.clone();
    let keys = match transaction(state, false, move |_, tx| Ok(tx.list_passkeys(&uid)?)).await {
        Ok(k) => k,
        Err(e) => return server_error(state, "second-factor page", e),
    };
    let offer = passkeys::offer_second_factor(state, &token, user, &keys, now());
    let script = offer.is_some();
    let ctx = minijinja::context! {
        action => path(state, action), csrf => token, pending => pending, params => params,
        username => user.username.clone(), error => error,
        totp => user.totp_secret.is_some() || offer.is_none(), passkey => offer,
    };
    with_cookie(
        pages::page_maybe_script(state, StatusCode::OK, "otp.html", ctx, script),
        cookie,
    )
}

/// What the second-factor form's post comes to.
pub enum OtpStep {
    /// Passed, with the sign-in's `amr`.
    Passed(User, Vec<String>),
    /// The second-factor page again, with why.
    Again(User, CodeRefusal),
    /// No valid proof of the password step, or the account is gone.
    Expired,
    Failed(OAuthError),
}

/// The second-factor step of a posted form: `pending` and either `otp` (a
/// TOTP or recovery code) or `passkey_state` and `passkey` (the ceremony
/// offered by [`otp_page`]).
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
    if let Some(sealed) = form.get("passkey_state") {
        let sealed = sealed.to_string();
        let csrf = form.get("csrf").unwrap_or("").to_string();
        let response = form.get("passkey").unwrap_or("").to_string();
        let done = transaction(state, true, move |st, tx| {
            let answer = passkeys::finish_assertion(
                st,
                tx,
                Purpose::SecondFactor,
                &csrf,
                &sealed,
                &response,
                Some(&user_id),
                now(),
            )?;
            Ok(match answer {
                Ok(v) => Ok(v),
                Err(msg) => Err((tx.get_user(&user_id)?, msg)),
            })
        })
        .await;
        return match done {
            Ok(Ok((user, kind))) => OtpStep::Passed(user, core_passkeys::amr_after_password(kind)),
            Ok(Err((Some(user), msg))) if !user.disabled => {
                OtpStep::Again(user, CodeRefusal::Wrong(msg))
            }
            Ok(Err(_)) => OtpStep::Expired,
            Err(e) => OtpStep::Failed(e),
        };
    }
    let code = form.get("otp").unwrap_or("").to_string();
    match check_second_factor(state, user_id, code).await {
        Ok(Ok(user)) => OtpStep::Passed(user, amr(true)),
        Ok(Err((user, refusal))) => OtpStep::Again(user, refusal),
        Err(e) if e.code == ErrorCode::AccessDenied => OtpStep::Expired,
        Err(e) => OtpStep::Failed(e),
    }
}

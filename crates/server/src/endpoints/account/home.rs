//! `GET /account` (the overview), and signing in and out of the account
//! pages: `POST /account/login`, `POST /account/otp` (the same steps as the
//! authorization pages, [`crate::endpoints::signin`]), `POST /account/logout`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::ports::{BrowserSessionStore, RecoveryCodeStore};
use portcullis_core::ErrorCode;

use super::{
    bad_form, login_form, path, posted, require, server_error, show, store, when, Resp, RETURN_TO,
};
use crate::endpoints::signin;
use crate::extract;
use crate::pages::{self, csrf, csrf_ok, page, SESSION_COOKIE};
use crate::state::{now, AppState};

/// GET /account: who is signed in, whether two-factor is on, the links.
#[utoipa::path(get, path = "/account", tag = "account", responses((status = 200, description = "The account overview, or the sign-in form", content_type = "text/html")))]
pub async fn overview(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    let (session, user) = match require(&req, &state, "/account").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let uid = user.id.clone();
    let codes = match store(&state, false, move |tx| Ok(tx.count_recovery_codes(&uid)?)).await {
        Ok(n) => n,
        Err(res) => return res,
    };
    let ctx = minijinja::context! {
        email => user.email.clone(), totp => user.totp_secret.is_some(), codes_left => codes,
        signed_in_at => when(session.auth_time), amr => session.amr.join(", "),
    };
    show(&req, &state, &user, StatusCode::OK, "account.html", ctx)
}

fn next_of(form: &portcullis_core::params::Params) -> String {
    let next = form.get("next").unwrap_or("/account");
    if RETURN_TO.contains(&next) {
        next
    } else {
        "/account"
    }
    .to_string()
}

fn otp_form(
    req: &HttpRequest,
    state: &AppState,
    user_id: &str,
    username: &str,
    next: &str,
    error: Option<&str>,
) -> Resp {
    let (token, cookie) = csrf(req, state);
    let pending = signin::pending_token(state, req, user_id, now() + 300);
    let ctx = minijinja::context! {
        action => path(state, "/account/otp"), csrf => token, pending => pending,
        params => vec![("next".to_string(), next.to_string())], username => username, error => error,
    };
    let mut res = page(state, StatusCode::OK, "otp.html", ctx);
    if let Some(c) = cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

async fn finish(
    state: &web::Data<AppState>,
    user: &portcullis_core::model::User,
    second: bool,
    next: &str,
) -> Resp {
    match signin::start_browser_session(state, user, signin::amr(second)).await {
        Ok((_, cookie)) => pages::redirect(&path(state, next), vec![cookie]),
        Err(e) => server_error(state, e),
    }
}

/// POST /account/login: username and password.
#[utoipa::path(post, path = "/account/login", tag = "account", request_body(content = crate::openapi::SignInForm, content_type = "application/x-www-form-urlencoded", description = "csrf, username, password, next"), responses((status = 200, description = "The TOTP step or the sign-in form again", content_type = "text/html"), (status = 303, description = "Signed in: to the account page"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many failed attempts", content_type = "text/html")))]
pub async fn login(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let Ok(form) = extract::form(&req, payload).await else {
        return bad_form(&state);
    };
    if !csrf_ok(&req, &state, form.get("csrf")) {
        return bad_form(&state);
    }
    let next = next_of(&form);
    let username = form.get("username").unwrap_or("").to_string();
    let password = form.get("password").unwrap_or("");
    if username.is_empty() || password.is_empty() {
        let msg = Some("Enter your username and password.");
        return login_form(&req, &state, &next, msg, &username, StatusCode::OK);
    }
    let user = match signin::check_password(&state, &username, password).await {
        Ok(signin::Password::Good(u)) => u,
        Ok(signin::Password::Blocked(secs)) => {
            let msg = format!("Too many failed attempts. Try again in {secs} seconds.");
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut res = login_form(&req, &state, &next, Some(&msg), &username, status);
            pages::retry_after(&mut res, secs);
            return res;
        }
        Ok(signin::Password::Busy) => {
            let msg = Some("The server is busy. Try again in a moment.");
            let status = StatusCode::SERVICE_UNAVAILABLE;
            return login_form(&req, &state, &next, msg, &username, status);
        }
        Ok(signin::Password::Wrong) => {
            let msg = Some("Wrong username or password.");
            return login_form(&req, &state, &next, msg, &username, StatusCode::OK);
        }
        Err(e) => return server_error(&state, e),
    };
    if user.totp_secret.is_some() {
        return otp_form(&req, &state, &user.id, &user.username, &next, None);
    }
    finish(&state, &user, false, &next).await
}

/// POST /account/otp: the TOTP code, or a recovery code.
#[utoipa::path(post, path = "/account/otp", tag = "account", request_body(content = crate::openapi::OtpForm, content_type = "application/x-www-form-urlencoded", description = "csrf, pending, otp (a TOTP or recovery code), next"), responses((status = 200, description = "The TOTP step again", content_type = "text/html"), (status = 303, description = "Signed in: to the account page"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many wrong codes", content_type = "text/html")))]
pub async fn otp(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let Ok(form) = extract::form(&req, payload).await else {
        return bad_form(&state);
    };
    if !csrf_ok(&req, &state, form.get("csrf")) {
        return bad_form(&state);
    }
    let next = next_of(&form);
    let Some(user_id) = form
        .get("pending")
        .and_then(|p| signin::check_pending(&state, &req, p, now()))
    else {
        return bad_form(&state);
    };
    let code = form.get("otp").unwrap_or("").to_string();
    match signin::check_second_factor(&state, user_id, code).await {
        Ok(Ok(user)) => finish(&state, &user, true, &next).await,
        Ok(Err((user, refusal))) => {
            let msg = refusal.message();
            let mut res = otp_form(&req, &state, &user.id, &user.username, &next, Some(&msg));
            refusal.mark(&mut res);
            res
        }
        Err(e) if e.code == ErrorCode::AccessDenied => bad_form(&state),
        Err(e) => server_error(&state, e),
    }
}

/// POST /account/logout: end this browser session.
#[utoipa::path(post, path = "/account/logout", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded"), responses((status = 303, description = "Signed out: to the sign-in form"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn logout(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (_, session, _) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let ended = store(&state, true, move |tx| {
        Ok(tx.revoke_browser_session(&session.id_hash, now())?)
    })
    .await;
    match ended {
        Ok(_) => {
            let gone = pages::cookie(&state, SESSION_COOKIE, String::new(), Some(0));
            pages::redirect(&path(&state, "/account"), vec![gone])
        }
        Err(res) => res,
    }
}

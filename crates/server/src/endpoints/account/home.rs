//! `GET /account` (the overview), and signing in and out of the account
//! pages: `POST /account/login`, `POST /account/otp` (the same steps as the
//! authorization pages, [`crate::endpoints::signin`]), `POST /account/logout`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::model::User;
use portcullis_core::ports::{BrowserSessionStore, PasskeyStore, RecoveryCodeStore};

use super::{
    bad_form, login_form, path, posted, require, server_error, show, store, when, Resp, RETURN_TO,
};
use crate::endpoints::signin;
use crate::extract;
use crate::pages::{self, csrf_ok, SESSION_COOKIE};
use crate::state::{now, AppState};

/// GET /account: who is signed in, whether two-factor is on, the links.
#[utoipa::path(get, path = "/account", tag = "account", responses((status = 200, description = "The account overview, or the sign-in form", content_type = "text/html")))]
pub async fn overview(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    let (session, user) = match require(&req, &state, "/account").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let uid = user.id.clone();
    let counted = store(&state, false, move |tx| {
        Ok((tx.count_recovery_codes(&uid)?, tx.count_passkeys(&uid)?))
    })
    .await;
    let (codes, keys) = match counted {
        Ok(n) => n,
        Err(res) => return res,
    };
    let ctx = minijinja::context! {
        email => user.email.clone(), totp => user.totp_secret.is_some(), codes_left => codes,
        passkeys => keys,
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

async fn otp_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user: &User,
    next: &str,
    error: Option<&str>,
) -> Resp {
    let params = vec![("next".to_string(), next.to_string())];
    signin::otp_page(req, state, "/account/otp", params, user, error).await
}

async fn finish(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user: &User,
    amr: Vec<String>,
    next: &str,
) -> Resp {
    let ua = extract::user_agent(req);
    match signin::start_browser_session(state, user, amr, ua).await {
        Ok((_, cookie)) => pages::redirect(&path(state, next), vec![cookie]),
        Err(e) => server_error(state, e),
    }
}

/// POST /account/login: username and password, or a passkey alone.
#[utoipa::path(post, path = "/account/login", tag = "account", request_body(content = crate::openapi::SignInForm, content_type = "application/x-www-form-urlencoded", description = "csrf, next, and username and password, or passkey_state and passkey (the WebAuthn answer, JSON)"), responses((status = 200, description = "The second-factor step or the sign-in form again", content_type = "text/html"), (status = 303, description = "Signed in: to the account page"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many failed attempts", content_type = "text/html")))]
pub async fn login(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let Ok(form) = extract::form(&req, payload).await else {
        return bad_form(&state);
    };
    if !csrf_ok(&req, &state, form.get("csrf")) {
        return bad_form(&state);
    }
    let next = next_of(&form);
    let username = form.get("username").unwrap_or("").to_string();
    match signin::first_step(&state, &form).await {
        Ok(signin::FirstStep::Done(user, amr)) => finish(&req, &state, &user, amr, &next).await,
        Ok(signin::FirstStep::SecondFactor(user)) => {
            otp_form(&req, &state, &user, &next, None).await
        }
        Err(refused) => refused.respond(&state, "account page", |msg, status| {
            login_form(&req, &state, &next, Some(msg), &username, status)
        }),
    }
}

/// POST /account/otp: the TOTP code, a recovery code, or a passkey.
#[utoipa::path(post, path = "/account/otp", tag = "account", request_body(content = crate::openapi::OtpForm, content_type = "application/x-www-form-urlencoded", description = "csrf, pending, next, and otp (a TOTP or recovery code) or passkey_state and passkey"), responses((status = 200, description = "The second-factor step again", content_type = "text/html"), (status = 303, description = "Signed in: to the account page"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html"), (status = 429, description = "Too many wrong codes", content_type = "text/html")))]
pub async fn otp(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let Ok(form) = extract::form(&req, payload).await else {
        return bad_form(&state);
    };
    if !csrf_ok(&req, &state, form.get("csrf")) {
        return bad_form(&state);
    }
    let next = next_of(&form);
    match signin::otp_step(&state, &req, &form).await {
        signin::OtpStep::Passed(user, amr) => finish(&req, &state, &user, amr, &next).await,
        signin::OtpStep::Again(user, refusal) => {
            let msg = refusal.message();
            refusal.marked(otp_form(&req, &state, &user, &next, Some(&msg)).await)
        }
        signin::OtpStep::Expired => bad_form(&state),
        signin::OtpStep::Failed(e) => server_error(&state, e),
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

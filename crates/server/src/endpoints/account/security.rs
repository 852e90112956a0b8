//! `/account/totp` (turn TOTP on with a QR code and a first code, see the
//! recovery codes once, make new ones, turn it off) and `/account/password`
//! (change the password, optionally ending every other session).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::model::{BrowserSession, User};
use portcullis_core::ports::{BrowserSessionStore, RecoveryCodeStore, UserStore};
use portcullis_core::tokens::derive;
use portcullis_core::{account, second_factor, totp, OAuthError};
use subtle::ConstantTimeEq;

use super::{bad_form, done, posted, require, server_error, show, store, Resp};
use crate::crypto::OsRandom;
use crate::endpoints::signin;
use crate::state::{now, AppState};

/// How long an enrolment form stays valid.
const ENROL_SECS: i64 = 900;

/// A new TOTP secret (RFC 6238 defaults: SHA-1, 6 digits, 30 s, as
/// authenticator apps expect) in base32, and its `otpauth://` URI.
pub fn new_totp_secret(username: &str) -> Result<(String, String), String> {
    let mut secret = [0u8; 20];
    portcullis_core::ports::Random::fill(&mut OsRandom, &mut secret);
    let base32 = totp_rs::Secret::from(secret).to_base32();
    let uri = totp_rs::Builder::new()
        .with_secret(secret)
        .with_issuer(Some("Portcullis"))
        .with_account_name(username.replace(':', "_"))
        .build()
        .and_then(|t| t.to_url())
        .map_err(|e| format!("totp: {e}"))?;
    Ok((base32, uri))
}

/// The QR code of `uri` as an inline SVG element.
fn qr_svg(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| e.to_string())?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // Drop the XML declaration: the element goes inside HTML.
    Ok(svg
        .find("<svg")
        .map(|i| svg[i..].to_string())
        .unwrap_or(svg))
}

/// The MAC that makes the enrolment form's hidden secret trustworthy: bound
/// to the browser session (so to its user), the secret and the expiry.
fn enrol_mac(state: &AppState, session: &BrowserSession, secret: &str, exp: i64) -> String {
    derive(
        &state.derive_key,
        "totp-enrol",
        &format!("{}|{}|{secret}|{exp}", session.id_hash, session.user_id),
    )
}

async fn totp_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &BrowserSession,
    user: &User,
    error: Option<&str>,
) -> Resp {
    let uid = user.id.clone();
    let codes = match store(state, false, move |tx| Ok(tx.count_recovery_codes(&uid)?)).await {
        Ok(n) => n,
        Err(res) => return res,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    if user.totp_secret.is_some() {
        let ctx = minijinja::context! { enabled => true, codes_left => codes, error => error };
        return show(req, state, user, status, "account_totp.html", ctx);
    }
    let (secret, uri) = match new_totp_secret(&user.username) {
        Ok(v) => v,
        Err(e) => return server_error(state, e),
    };
    let qr = match qr_svg(&uri) {
        Ok(v) => v,
        Err(e) => return server_error(state, e),
    };
    let exp = now() + ENROL_SECS;
    let mac = enrol_mac(state, session, &secret, exp);
    let grouped: Vec<String> = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let ctx = minijinja::context! {
        enabled => false, secret => secret, secret_grouped => grouped.join(" "), uri => uri,
        qr => qr, exp => exp, mac => mac, error => error,
    };
    show(req, state, user, status, "account_totp.html", ctx)
}

/// GET /account/totp.
#[utoipa::path(get, path = "/account/totp", tag = "account", responses((status = 200, description = "TOTP status, or enrolment: QR code (SVG) and secret", content_type = "text/html")))]
pub async fn totp_get(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    match require(&req, &state, "/account/totp").await {
        Ok((session, user)) => totp_page(&req, &state, &session, &user, None).await,
        Err(res) => res,
    }
}

fn codes_page(req: &HttpRequest, state: &AppState, user: &User, codes: Vec<String>) -> Resp {
    let ctx = minijinja::context! { codes => codes };
    show(req, state, user, StatusCode::OK, "account_codes.html", ctx)
}

/// POST /account/totp: confirm enrolment with a first code; the answer
/// shows the recovery codes, this once.
#[utoipa::path(post, path = "/account/totp", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, secret, exp, mac (from the page) and code"), responses((status = 200, description = "TOTP on: the ten recovery codes, shown once", content_type = "text/html"), (status = 400, description = "Wrong code (the page again) or expired form", content_type = "text/html")))]
pub async fn totp_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Resp {
    let (form, session, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if user.totp_secret.is_some() {
        return totp_page(
            &req,
            &state,
            &session,
            &user,
            Some("Two-factor authentication is already on."),
        )
        .await;
    }
    let t = now();
    let (Some(secret), Some(exp), Some(mac)) =
        (form.get("secret"), form.get("exp"), form.get("mac"))
    else {
        return bad_form(&state);
    };
    let exp_n = exp.parse::<i64>().unwrap_or(0);
    let expected = enrol_mac(&state, &session, secret, exp_n);
    if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) || exp_n <= t {
        return bad_form(&state);
    }
    let Some(step) = totp::check(secret, form.get("code").unwrap_or(""), t) else {
        let msg = "That code is not right. Scan the new QR code and try again.";
        return totp_page(&req, &state, &session, &user, Some(msg)).await;
    };
    let sealed = match state.sealer.seal(secret) {
        Ok(s) => s,
        Err(e) => return server_error(&state, e),
    };
    let uid = user.id.clone();
    let codes = match store(&state, true, move |tx| {
        second_factor::enable_totp(tx, &mut OsRandom, &uid, sealed, step, t)
    })
    .await
    {
        Ok(v) => v,
        Err(res) => return res,
    };
    codes_page(&req, &state, &user, codes)
}

/// Check the user's password again, for actions that need it: the
/// message to show when it is not accepted.
pub(super) async fn password_again(
    state: &web::Data<AppState>,
    user: &User,
    password: &str,
) -> Result<Option<&'static str>, OAuthError> {
    Ok(
        match signin::check_password(state, &user.username, password).await? {
            signin::Password::Good(_) => None,
            signin::Password::Wrong => Some("Wrong password."),
            signin::Password::Blocked(_) => Some("Too many failed attempts. Try again later."),
            signin::Password::Busy => Some("The server is busy. Try again in a moment."),
        },
    )
}

/// POST /account/totp/disable: turn TOTP off (the password again).
#[utoipa::path(post, path = "/account/totp/disable", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, password"), responses((status = 303, description = "TOTP off; recovery codes deleted"), (status = 400, description = "Wrong password (the page again) or expired form", content_type = "text/html")))]
pub async fn totp_disable(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Resp {
    let (form, session, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match password_again(&state, &user, form.get("password").unwrap_or("")).await {
        Ok(None) => {}
        Ok(Some(msg)) => return totp_page(&req, &state, &session, &user, Some(msg)).await,
        Err(e) => return server_error(&state, e),
    }
    let uid = user.id.clone();
    if let Err(res) = store(&state, true, move |tx| {
        second_factor::disable_totp(tx, &uid, now())
    })
    .await
    {
        return res;
    }
    done(&state, "/account", "totp_off")
}

/// POST /account/totp/codes: a new set of recovery codes (the password again).
#[utoipa::path(post, path = "/account/totp/codes", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, password"), responses((status = 200, description = "The new recovery codes, shown once; the old ones no longer work", content_type = "text/html"), (status = 400, description = "Wrong password (the page again) or expired form", content_type = "text/html")))]
pub async fn totp_codes(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Resp {
    let (form, session, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if user.totp_secret.is_none() {
        return bad_form(&state);
    }
    match password_again(&state, &user, form.get("password").unwrap_or("")).await {
        Ok(None) => {}
        Ok(Some(msg)) => return totp_page(&req, &state, &session, &user, Some(msg)).await,
        Err(e) => return server_error(&state, e),
    }
    let uid = user.id.clone();
    let codes = match store(&state, true, move |tx| {
        second_factor::new_recovery_codes(tx, &mut OsRandom, &uid, now())
    })
    .await
    {
        Ok(v) => v,
        Err(res) => return res,
    };
    codes_page(&req, &state, &user, codes)
}

fn password_page(req: &HttpRequest, state: &AppState, user: &User, error: Option<&str>) -> Resp {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let ctx = minijinja::context! { error => error };
    show(req, state, user, status, "account_password.html", ctx)
}

/// GET /account/password.
#[utoipa::path(get, path = "/account/password", tag = "account", responses((status = 200, description = "The password form", content_type = "text/html")))]
pub async fn password_get(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    match require(&req, &state, "/account/password").await {
        Ok((_, user)) => password_page(&req, &state, &user, None),
        Err(res) => res,
    }
}

/// The shortest new password accepted.
const MIN_PASSWORD_CHARS: usize = 8;

/// POST /account/password: current, new and confirmation; `others=on` ends
/// every other session (browser sessions and token sessions with their
/// refresh tokens).
#[utoipa::path(post, path = "/account/password", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, current, new, confirm, others"), responses((status = 303, description = "Changed"), (status = 400, description = "Wrong current password, mismatch, too short (the form again) or expired form", content_type = "text/html")))]
pub async fn password_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Resp {
    let (form, session, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let new = form.get("new").unwrap_or("").to_string();
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return password_page(
            &req,
            &state,
            &user,
            Some("The new password needs at least 8 characters."),
        );
    }
    if form.get("confirm") != Some(new.as_str()) {
        return password_page(
            &req,
            &state,
            &user,
            Some("The new password and its confirmation differ."),
        );
    }
    match password_again(&state, &user, form.get("current").unwrap_or("")).await {
        Ok(None) => {}
        Ok(Some(msg)) => return password_page(&req, &state, &user, Some(msg)),
        Err(e) => return server_error(&state, e),
    }
    let hash = match state.hasher.hash(new).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return server_error(&state, e),
        Err(_) => {
            return password_page(
                &req,
                &state,
                &user,
                Some("The server is busy. Try again in a moment."),
            )
        }
    };
    let others = form.get("others") == Some("on");
    let uid = user.id.clone();
    if let Err(res) = store(&state, true, move |tx| -> Result<(), OAuthError> {
        let t = now();
        let mut u = tx
            .get_user(&uid)?
            .ok_or_else(|| OAuthError::server("user vanished"))?;
        u.password_hash = Some(hash);
        u.updated_at = t;
        tx.update_user(&u)?;
        if others {
            tx.revoke_user_browser_sessions(&uid, Some(&session.id_hash), t)?;
            account::end_all_sessions(tx, &mut OsRandom, &uid, t, "password_changed")?;
        }
        Ok(())
    })
    .await
    {
        return res;
    }
    done(&state, "/account", "password")
}

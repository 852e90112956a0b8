//! `/account/passkeys`: the user's passkeys (WebAuthn credentials) with
//! their names, kinds and last use; add one (the page offers a
//! registration ceremony, [`crate::passkeys`]), rename one, remove one
//! (the password again, as for turning TOTP off).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::model::User;
use portcullis_core::passkeys::{self as core_passkeys, Refusal, MAX_PASSKEYS};
use portcullis_core::ports::PasskeyStore;
use serde::Serialize;

use super::{bad_form, done, notice, posted, render, require, store, when, Resp};
use crate::crypto::OsRandom;
use crate::endpoints::account::security::password_again;
use crate::pages::csrf;
use crate::passkeys;
use crate::state::{now, AppState};

/// A row of the table.
#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    kind: &'static str,
    created: String,
    last_used: Option<String>,
}

async fn passkeys_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user: &User,
    error: Option<&str>,
) -> Resp {
    let uid = user.id.clone();
    let keys = match store(state, false, move |tx| Ok(tx.list_passkeys(&uid)?)).await {
        Ok(k) => k,
        Err(res) => return res,
    };
    let (token, cookie) = csrf(req, state);
    let full = keys.len() >= MAX_PASSKEYS;
    let offer = if full {
        None
    } else {
        passkeys::offer_registration(state, &token, user, &keys, now())
    };
    let rows: Vec<Row> = keys
        .iter()
        .map(|k| Row {
            id: k.id.clone(),
            name: k.name.clone(),
            kind: k.kind.describe(),
            created: when(k.created_at),
            last_used: k.last_used_at.map(when),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let script = offer.is_some();
    let ctx = minijinja::context! { keys => rows, offer => offer, full => full, error => error };
    let notice = notice(req);
    render(
        state,
        user,
        status,
        "account_passkeys.html",
        &token,
        cookie,
        notice,
        ctx,
        script,
    )
}

/// GET /account/passkeys.
#[utoipa::path(get, path = "/account/passkeys", tag = "account", responses((status = 200, description = "The passkeys, and a form to add one (its WebAuthn options in data-options)", content_type = "text/html")))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    match require(&req, &state, "/account/passkeys").await {
        Ok((_, user)) => passkeys_page(&req, &state, &user, None).await,
        Err(res) => res,
    }
}

/// POST /account/passkeys: the answer to the registration ceremony, and
/// an optional name.
#[utoipa::path(post, path = "/account/passkeys", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, passkey_state (from the page), passkey (the WebAuthn answer, JSON), name"), responses((status = 303, description = "Added"), (status = 400, description = "Refused (the page again, saying why) or expired form", content_type = "text/html")))]
pub async fn add(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, _, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Some(sealed) = form.get("passkey_state").map(str::to_string) else {
        return bad_form(&state);
    };
    let csrf = form.get("csrf").unwrap_or("").to_string();
    let response = form.get("passkey").unwrap_or("").to_string();
    let name = form.get("name").unwrap_or("").to_string();
    let (st, uid) = (state.clone(), user.id.clone());
    let added = store(&state, true, move |tx| {
        let t = now();
        let new = match passkeys::finish_registration(&st, tx, &csrf, &sealed, &response, &uid, t)?
        {
            Ok(n) => n,
            Err(msg) => return Ok(Err(msg)),
        };
        Ok(
            match core_passkeys::register(tx, &mut OsRandom, &uid, &name, new, t)? {
                Ok(_) => Ok(()),
                Err(Refusal::TooMany) => Err("You have as many passkeys as an account may have."),
                Err(Refusal::BadName) => {
                    Err("A name has 1 to 64 characters, none of them control characters.")
                }
                Err(Refusal::Duplicate) => Err("That passkey is registered already."),
            },
        )
    })
    .await;
    match added {
        Ok(Ok(())) => done(&state, "/account/passkeys", "passkey_added"),
        Ok(Err(msg)) => passkeys_page(&req, &state, &user, Some(msg)).await,
        Err(res) => res,
    }
}

/// POST /account/passkeys/rename.
#[utoipa::path(post, path = "/account/passkeys/rename", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, id, name"), responses((status = 303, description = "Renamed"), (status = 400, description = "Bad name or unknown passkey (the page again) or expired form", content_type = "text/html")))]
pub async fn rename(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, _, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Some(name) = core_passkeys::clean_name(form.get("name").unwrap_or("")) else {
        let msg = "A name has 1 to 64 characters, none of them control characters.";
        return passkeys_page(&req, &state, &user, Some(msg)).await;
    };
    let (uid, id) = (user.id.clone(), form.get("id").unwrap_or("").to_string());
    match store(&state, true, move |tx| {
        Ok(tx.rename_passkey(&uid, &id, &name)?)
    })
    .await
    {
        Ok(true) => done(&state, "/account/passkeys", "passkey_renamed"),
        Ok(false) => passkeys_page(&req, &state, &user, Some("No such passkey.")).await,
        Err(res) => res,
    }
}

/// POST /account/passkeys/remove: the password again.
#[utoipa::path(post, path = "/account/passkeys/remove", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, id, password"), responses((status = 303, description = "Removed"), (status = 400, description = "Wrong password or unknown passkey (the page again) or expired form", content_type = "text/html")))]
pub async fn remove(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, _, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match password_again(&state, &user, form.get("password").unwrap_or("")).await {
        Ok(None) => {}
        Ok(Some(msg)) => return passkeys_page(&req, &state, &user, Some(msg)).await,
        Err(e) => return super::server_error(&state, e),
    }
    let (uid, id) = (user.id.clone(), form.get("id").unwrap_or("").to_string());
    match store(&state, true, move |tx| Ok(tx.delete_passkey(&uid, &id)?)).await {
        Ok(true) => done(&state, "/account/passkeys", "passkey_removed"),
        Ok(false) => passkeys_page(&req, &state, &user, Some("No such passkey.")).await,
        Err(res) => res,
    }
}

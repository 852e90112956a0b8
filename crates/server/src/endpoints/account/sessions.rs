//! `/account/sessions` (every live session: end one, or all; the signed-in
//! browsers) and `/account/consents` (every client the user approved:
//! withdraw).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::ports::{BrowserSessionStore, ClientStore, ConsentStore};
use portcullis_core::OAuthError;
use portcullis_core::{account, user_agent};
use serde::Serialize;

use super::{done, posted, require, show, store, when, Resp};
use crate::crypto::OsRandom;
use crate::pages;
use crate::state::{now, AppState};

#[derive(Serialize)]
struct SessionRow {
    id: String,
    client: String,
    kind: String,
    created: String,
    last_used: String,
    amr: String,
    device: Device,
}

/// A session's `User-Agent`: short and in full (empty: unknown).
#[derive(Serialize)]
struct Device {
    short: String,
    full: String,
}

impl Device {
    fn of(ua: Option<&str>) -> Device {
        let full = ua.unwrap_or("").to_string();
        Device {
            short: user_agent::describe(&full),
            full,
        }
    }
}

#[derive(Serialize)]
struct BrowserRow {
    device: Device,
    signed_in: String,
    last_used: String,
    expires: String,
    current: bool,
}

/// A client's display name, looked up once per page.
fn client_name(
    tx: &mut portcullis_storage::Tx<'_>,
    names: &mut HashMap<String, String>,
    id: &str,
) -> Result<String, OAuthError> {
    if let Some(n) = names.get(id) {
        return Ok(n.clone());
    }
    let name = tx
        .get_client(id)?
        .map(|c| c.name)
        .unwrap_or_else(|| id.to_string());
    names.insert(id.to_string(), name.clone());
    Ok(name)
}

/// GET /account/sessions.
#[utoipa::path(get, path = "/account/sessions", tag = "account", responses((status = 200, description = "The user's live sessions", content_type = "text/html")))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    let (browser, user) = match require(&req, &state, "/account/sessions").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let uid = user.id.clone();
    let found = store(
        &state,
        false,
        move |tx| -> Result<(Vec<SessionRow>, Vec<BrowserRow>), OAuthError> {
            let t = now();
            let mut names = HashMap::new();
            let mut rows = Vec::new();
            for s in account::live_sessions(tx, &uid, t)? {
                rows.push(SessionRow {
                    device: Device::of(s.user_agent.as_deref()),
                    client: client_name(tx, &mut names, &s.client_id)?,
                    kind: s.kind.as_str().to_string(),
                    created: when(s.created_at),
                    last_used: when(s.last_used_at),
                    amr: s.amr.join(", "),
                    id: s.id,
                });
            }
            let browsers = tx
                .list_live_browser_sessions(&uid, t)?
                .into_iter()
                .map(|b| BrowserRow {
                    device: Device::of(b.user_agent.as_deref()),
                    signed_in: when(b.created_at),
                    last_used: when(b.last_seen_at),
                    expires: when(b.expires_at),
                    current: b.id_hash == browser.id_hash,
                })
                .collect();
            Ok((rows, browsers))
        },
    )
    .await;
    let (rows, browsers) = match found {
        Ok(v) => v,
        Err(res) => return res,
    };
    let ctx = minijinja::context! { sessions => rows, browsers => browsers };
    show(
        &req,
        &state,
        &user,
        StatusCode::OK,
        "account_sessions.html",
        ctx,
    )
}

/// POST /account/sessions/end: `session=<id>` ends that session and its
/// tokens; `all=on` ends every session and every other browser session.
#[utoipa::path(post, path = "/account/sessions/end", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf and session=<id> or all=on"), responses((status = 303, description = "Ended; back to the list"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn end(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, browser, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let all = form.get("all") == Some("on");
    let one = form.get("session").unwrap_or("").to_string();
    let uid = user.id.clone();
    let ended = store(&state, true, move |tx| -> Result<(), OAuthError> {
        let t = now();
        if all {
            tx.revoke_user_browser_sessions(&uid, Some(&browser.id_hash), t)?;
            account::end_all_sessions(tx, &mut OsRandom, &uid, t, "user_ended_all")?;
        } else {
            account::end_own_session(tx, &mut OsRandom, &uid, &one, t)?;
        }
        Ok(())
    })
    .await;
    match ended {
        Ok(()) => done(
            &state,
            "/account/sessions",
            if all { "sessions" } else { "session" },
        ),
        Err(res) => res,
    }
}

#[derive(Serialize)]
struct ConsentRow {
    client_id: String,
    client: String,
    scopes: Vec<String>,
    granted: String,
}

/// GET /account/consents.
#[utoipa::path(get, path = "/account/consents", tag = "account", responses((status = 200, description = "The clients the user approved, with their scopes", content_type = "text/html")))]
pub async fn consents(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    let (_, user) = match require(&req, &state, "/account/consents").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let uid = user.id.clone();
    let rows = match store(
        &state,
        false,
        move |tx| -> Result<Vec<ConsentRow>, OAuthError> {
            let mut names = HashMap::new();
            let mut rows = Vec::new();
            for c in tx.list_consents(&uid)? {
                rows.push(ConsentRow {
                    client: client_name(tx, &mut names, &c.client_id)?,
                    scopes: c.scope.iter().map(pages::describe_scope).collect(),
                    granted: when(c.updated_at),
                    client_id: c.client_id,
                });
            }
            Ok(rows)
        },
    )
    .await
    {
        Ok(v) => v,
        Err(res) => return res,
    };
    let ctx = minijinja::context! { consents => rows };
    show(
        &req,
        &state,
        &user,
        StatusCode::OK,
        "account_consents.html",
        ctx,
    )
}

/// POST /account/consents/revoke: `client=<id>`; the consent goes and the
/// client's sessions for this user end with their tokens.
#[utoipa::path(post, path = "/account/consents/revoke", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, client"), responses((status = 303, description = "Withdrawn; back to the list"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn revoke(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, _, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let client = form.get("client").unwrap_or("").to_string();
    let uid = user.id.clone();
    let gone = store(&state, true, move |tx| {
        account::revoke_consent(tx, &mut OsRandom, &uid, &client, now())
    })
    .await;
    match gone {
        Ok(_) => done(&state, "/account/consents", "consent"),
        Err(res) => res,
    }
}

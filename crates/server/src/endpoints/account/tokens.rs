//! `/account/tokens`: the user's personal access tokens (those minted for
//! MCP clients too): create (the token is shown once), disable, enable,
//! delete. The same rules as the PAT API ([`portcullis_core::pats`]); the
//! signed-in user acts on their own tokens only.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::introspect::ADMIN_SCOPE;
use portcullis_core::model::{Scopes, User};
use portcullis_core::pats::{self, Manager, PatRequest};
use portcullis_core::{ErrorCode, OAuthError};
use serde::Serialize;

use super::{done, posted, require, server_error, show, store, when, Resp};
use crate::crypto::OsRandom;
use crate::endpoints::pats::pat_check;
use crate::state::{now, AppState};

#[derive(Serialize)]
struct PatRow {
    id: String,
    name: String,
    kind: String,
    client: Option<String>,
    scope: String,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
    status: String,
    disabled: bool,
}

/// The scopes a user may put on a PAT from this page: any, but `admin`
/// only for an administrator.
fn allowed(user: &User, wanted: &Scopes) -> Scopes {
    if user.is_admin {
        wanted.clone()
    } else {
        let kept: Vec<&str> = wanted.iter().filter(|s| *s != ADMIN_SCOPE).collect();
        Scopes::parse(&kept.join(" ")).unwrap_or_default()
    }
}

async fn page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user: &User,
    created: Option<(String, String)>,
    error: Option<&str>,
) -> Resp {
    let (st, uid) = (state.clone(), user.id.clone());
    let who = Manager {
        user_id: uid.clone(),
        admin: false,
    };
    let rows = web::block(move || {
        st.store.read(|tx| -> Result<Vec<PatRow>, OAuthError> {
            let t = now();
            let check = pat_check(&st);
            Ok(pats::list(tx, &who, Some(&uid))?
                .into_iter()
                .filter(|p| p.revoked_at.is_none())
                .map(|p| PatRow {
                    status: check.status(&p, t).as_str().to_string(),
                    last_used: check.last_used(&p).map(when),
                    id: p.id,
                    name: p.name,
                    kind: p.kind.as_str().to_string(),
                    client: p.client_id,
                    scope: p.scope.to_string(),
                    created: when(p.created_at),
                    expires: p.expires_at.map(when),
                    disabled: p.disabled,
                })
                .collect())
        })
    })
    .await;
    let rows = match rows {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return server_error(state, e),
        Err(e) => return server_error(state, e),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let ctx = minijinja::context! {
        tokens => rows, created_name => created.as_ref().map(|c| c.0.clone()),
        created_token => created.map(|c| c.1), error => error,
    };
    show(req, state, user, status, "account_tokens.html", ctx)
}

/// GET /account/tokens.
#[utoipa::path(get, path = "/account/tokens", tag = "account", responses((status = 200, description = "The user's personal access tokens", content_type = "text/html")))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    match require(&req, &state, "/account/tokens").await {
        Ok((_, user)) => page(&req, &state, &user, None, None).await,
        Err(res) => res,
    }
}

/// POST /account/tokens: create one (`name`, `scope` space-separated,
/// `days` until it expires, empty for never); the answer shows it once.
#[utoipa::path(post, path = "/account/tokens", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, name, scope, days"), responses((status = 200, description = "Created: the token, shown once", content_type = "text/html"), (status = 400, description = "Bad name, scope or days (the page again) or expired form", content_type = "text/html")))]
pub async fn create(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, _, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let t = now();
    let expires_at = match form.get("days").map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match d.parse::<u32>() {
            Ok(n) if n > 0 && n <= 3650 => Some(t + i64::from(n) * 86_400),
            _ => {
                let msg = Some("Days must be a whole number from 1 to 3650, or empty.");
                return page(&req, &state, &user, None, msg).await;
            }
        },
    };
    let scope = match Scopes::parse(form.get("scope").unwrap_or("")) {
        Ok(s) => s,
        Err(_) => {
            return page(
                &req,
                &state,
                &user,
                None,
                Some("Scopes are names separated by spaces."),
            )
            .await
        }
    };
    let granted = allowed(&user, &scope);
    let request = PatRequest {
        name: form.get("name").unwrap_or("").to_string(),
        scope,
        expires_at,
    };
    let owner = user.clone();
    let made = store(&state, true, move |tx| {
        // Refusals of the request are for the page; only a failure is an error.
        match pats::create(tx, &mut OsRandom, &owner, &granted, request, t) {
            Err(e) if e.code != ErrorCode::ServerError => Ok(Err(e)),
            other => other.map(Ok),
        }
    })
    .await;
    match made {
        Ok(Ok(m)) => page(&req, &state, &user, Some((m.record.name, m.token)), None).await,
        Ok(Err(e)) => {
            let msg = match e.code {
                ErrorCode::InvalidScope => "Name at least one scope you may grant.",
                _ => "Give the token a name (up to 100 printable characters).",
            };
            page(&req, &state, &user, None, Some(msg)).await
        }
        Err(res) => res,
    }
}

/// POST /account/tokens/change: `id` and `action` (`disable`, `enable`,
/// `delete`) on one of the user's own tokens.
#[utoipa::path(post, path = "/account/tokens/change", tag = "account", request_body(content = crate::openapi::CsrfForm, content_type = "application/x-www-form-urlencoded", description = "csrf, id, action=disable|enable|delete"), responses((status = 303, description = "Done; back to the list"), (status = 400, description = "Form expired (CSRF) or unknown action", content_type = "text/html")))]
pub async fn change(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Resp {
    let (form, _, user) = match posted(&req, payload, &state).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let id = form.get("id").unwrap_or("").to_string();
    let action = form.get("action").unwrap_or("").to_string();
    let notice = match action.as_str() {
        "disable" => "token_disabled",
        "enable" => "token_enabled",
        "delete" => "token_deleted",
        _ => return super::bad_form(&state),
    };
    // Never an administrator here: the page manages the user's own tokens.
    let who = Manager {
        user_id: user.id.clone(),
        admin: false,
    };
    let changed = store(&state, true, move |tx| -> Result<(), OAuthError> {
        let t = now();
        match action.as_str() {
            "delete" => {
                pats::delete(tx, &mut OsRandom, &who, &id, t)?;
            }
            a => {
                pats::set_disabled(tx, &mut OsRandom, &who, &id, a == "disable", t)?;
            }
        }
        Ok(())
    })
    .await;
    match changed {
        Ok(()) => done(&state, "/account/tokens", notice),
        Err(res) => res,
    }
}

//! Browser logout, OpenID Connect RP-Initiated Logout 1.0, at
//! `/oauth/end-session` (GET and POST): `id_token_hint`, `client_id`,
//! `post_logout_redirect_uri` (must be registered for the client), `state`,
//! `logout_hint`, `ui_locales`. When the request cannot be trusted (no valid
//! ID token of the signed-in user), a CSRF-protected confirmation page asks
//! first (§2: "the OP SHOULD ask the End-User whether to log out"). Logging
//! out ends the browser session and revokes the tokens of every session it
//! started.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use portcullis_core::model::Client;
use portcullis_core::params::Params;
use portcullis_core::ports::{BrowserSessionStore, ClientStore, CodeStore, SessionStore};
use portcullis_core::secret::hash_token;
use portcullis_core::{sessions, OAuthError};

use crate::crypto::OsRandom;
use crate::extract;
use crate::pages::{self, csrf, csrf_ok, error_page, page, redirect, SESSION_COOKIE};
use crate::state::{now, AppState};

const FIELDS: &[&str] = &[
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "logout_hint",
    "ui_locales",
];

fn path(state: &AppState) -> String {
    match state.issuer.path() {
        "" => "/oauth/end-session".into(),
        base => format!("/{base}/oauth/end-session"),
    }
}

async fn params_of(req: &HttpRequest, payload: web::Payload) -> Result<Params, OAuthError> {
    if req.method() == actix_web::http::Method::POST {
        extract::form(req, payload).await.map_err(|e| e.error)
    } else {
        Params::from_urlencoded(req.query_string().as_bytes())
    }
}

/// What the request names, checked.
struct Checked {
    client: Option<Client>,
    redirect: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    hinted_sub: Option<String>,
}

fn check(
    state: &AppState,
    tx: &mut portcullis_storage::Tx<'_>,
    p: &Params,
) -> Result<Result<Checked, String>, OAuthError> {
    let t = now();
    let mut hinted_sub = None;
    let mut client_id = p.get("client_id").map(str::to_string);
    if let Some(hint) = p.get("id_token_hint") {
        // Expired ID tokens are fine as hints; the signature and issuer are not negotiable.
        let Some(claims) = state
            .keys
            .current()
            .verify_any_age(hint, "JWT", state.issuer.as_str())
        else {
            return Ok(Err(
                "The id_token_hint is not an ID token of this server.".into()
            ));
        };
        let aud = claims
            .get("aud")
            .and_then(|a| a.as_str())
            .map(str::to_string);
        if let (Some(given), Some(aud)) = (&client_id, &aud) {
            if given != aud {
                return Ok(Err("client_id does not match the id_token_hint.".into()));
            }
        }
        client_id = client_id.or(aud);
        hinted_sub = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_string);
    }
    let client = match &client_id {
        Some(id) => match tx.get_client(id)? {
            Some(c) => Some(c),
            None => return Ok(Err("Unknown client.".into())),
        },
        None => None,
    };
    let redirect = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                Some(uri.to_string())
            }
            Some(_) => {
                return Ok(Err(
                    "post_logout_redirect_uri is not registered for this client.".into(),
                ))
            }
            None => {
                return Ok(Err(
                    "post_logout_redirect_uri needs client_id or id_token_hint.".into(),
                ))
            }
        },
    };
    let _ = t;
    Ok(Ok(Checked {
        client,
        redirect,
        hinted_sub,
    }))
}

fn finish(state: &AppState, checked: &Checked, p: &Params) -> HttpResponse {
    let clear = pages::cookie(state, SESSION_COOKIE, String::new(), Some(0));
    match &checked.redirect {
        Some(uri) => {
            let mut url = match url::Url::parse(uri) {
                Ok(u) => u,
                Err(_) => return redirect(uri, vec![clear]),
            };
            if let Some(s) = p.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            redirect(url.as_str(), vec![clear])
        }
        None => {
            let mut res = page(
                state,
                StatusCode::OK,
                "logged_out.html",
                minijinja::context! {},
            );
            let _ = res.add_cookie(&clear);
            res
        }
    }
}

/// End the browser session and every token session it started.
fn log_out(tx: &mut portcullis_storage::Tx<'_>, cookie: &str) -> Result<(), OAuthError> {
    let t = now();
    let id_hash = hash_token(cookie);
    tx.revoke_browser_session(&id_hash, t)?;
    for sid in tx.sessions_of_browser_session(&id_hash)? {
        if let Some(s) = tx.get_session(&sid)? {
            sessions::end_session(tx, &mut OsRandom, &s, t, "browser_logout")?;
        }
    }
    Ok(())
}

async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Params,
    confirmed: bool,
) -> HttpResponse {
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let st = state.clone();
    let pp = p.clone();
    let result = web::block(move || {
        st.store.write(
            |tx| -> Result<Result<(Checked, bool), String>, OAuthError> {
                let checked = match check(&st, tx, &pp)? {
                    Ok(c) => c,
                    Err(msg) => return Ok(Err(msg)),
                };
                let Some(cookie) = cookie else {
                    return Ok(Ok((checked, true)));
                };
                let current = tx
                    .get_browser_session(&hash_token(&cookie))?
                    .filter(|s| s.revoked_at.is_none());
                let Some(current) = current else {
                    return Ok(Ok((checked, true)));
                };
                // Trusted: a valid ID token of the signed-in user, or a confirmed form.
                let trusted =
                    confirmed || checked.hinted_sub.as_deref() == Some(current.user_id.as_str());
                if trusted {
                    log_out(tx, &cookie)?;
                }
                Ok(Ok((checked, trusted)))
            },
        )
    })
    .await;
    match result {
        Ok(Ok(Ok((checked, true)))) => finish(&state, &checked, &p),
        Ok(Ok(Ok((checked, false)))) => {
            let (token, csrf_cookie) = csrf(&req, &state);
            let params: Vec<(String, String)> = FIELDS
                .iter()
                .filter_map(|k| p.get(k).map(|v| (k.to_string(), v.to_string())))
                .collect();
            let ctx = minijinja::context! {
                action => format!("{}/confirm", path(&state)), csrf => token, params => params,
                client_name => checked.client.as_ref().map(|c| c.name.clone()),
            };
            let mut res = page(&state, StatusCode::OK, "logout.html", ctx);
            if let Some(c) = csrf_cookie {
                let _ = res.add_cookie(&c);
            }
            res
        }
        Ok(Ok(Err(msg))) => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-out link is not valid",
            &msg,
            Some("invalid_request"),
        ),
        Ok(Err(e)) => {
            tracing::error!(cause = %e, "end-session failed");
            error_page(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
                Some("server_error"),
            )
        }
        Err(e) => {
            tracing::error!(cause = %e, "end-session did not run");
            error_page(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
                Some("server_error"),
            )
        }
    }
}

/// GET or POST /oauth/end-session.
#[utoipa::path(method(get, post), path = "/oauth/end-session", tag = "openid", description = "RP-Initiated Logout: id_token_hint, client_id, post_logout_redirect_uri, state, logout_hint, ui_locales", responses((status = 200, description = "Confirmation or signed-out page", content_type = "text/html"), (status = 303, description = "To the registered post_logout_redirect_uri"), (status = 400, description = "Error page", content_type = "text/html")))]
pub async fn end_session(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match params_of(&req, payload).await {
        Ok(p) => run(req, state, p, false).await,
        Err(e) => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-out link is not valid",
            &e.description.unwrap_or_default(),
            Some(e.code.as_str()),
        ),
    }
}

/// POST /oauth/end-session/confirm: the confirmation form.
#[utoipa::path(post, path = "/oauth/end-session/confirm", tag = "openid", request_body(content = crate::openapi::LogoutConfirmForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "Signed out", content_type = "text/html"), (status = 303, description = "To the registered post_logout_redirect_uri"), (status = 400, description = "Form expired (CSRF)", content_type = "text/html")))]
pub async fn confirm(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let all = match extract::form(&req, payload).await {
        Ok(p) => p,
        Err(_) => {
            return error_page(
                &state,
                StatusCode::BAD_REQUEST,
                "This form has expired",
                "Start again.",
                Some("invalid_request"),
            )
        }
    };
    if !csrf_ok(&req, &state, all.get("csrf")) {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Start again.",
            Some("invalid_request"),
        );
    }
    let p = Params::parse(
        FIELDS
            .iter()
            .filter_map(|k| all.get(k).map(|v| (k.to_string(), v.to_string()))),
    )
    .unwrap_or_default();
    run(req, state, p, true).await
}

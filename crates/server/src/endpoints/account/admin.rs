//! `GET /admin`: a plain, read-only HTML view for administrators (users
//! whose `is_admin` is set: `portcullis user add --admin`) of the users,
//! the clients and the live sessions. Changes go through the admin API
//! (`/admin/api`) or the CLI.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use portcullis_core::ports::{ClientStore, UserStore};
use portcullis_core::OAuthError;
use serde::Serialize;

use super::{require, show, store, when, Resp};
use crate::pages::error_page;
use crate::state::{now, AppState};

/// The most rows of each list the page shows.
const MAX_ROWS: usize = 500;

#[derive(Serialize)]
struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    admin: bool,
    disabled: bool,
    totp: bool,
    created: String,
}

#[derive(Serialize)]
struct ClientRow {
    id: String,
    name: String,
    grants: String,
    redirect_uris: String,
    disabled: bool,
}

#[derive(Serialize)]
struct SessionRow {
    id: String,
    username: String,
    client_id: String,
    kind: String,
    created: String,
    last_used: String,
}

#[derive(Serialize)]
struct Lists {
    users: Vec<UserRow>,
    clients: Vec<ClientRow>,
    sessions: Vec<SessionRow>,
}

/// GET /admin.
#[utoipa::path(get, path = "/admin", tag = "account", responses((status = 200, description = "Users, clients and live sessions (administrators)", content_type = "text/html"), (status = 403, description = "Not an administrator", content_type = "text/html")))]
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Resp {
    let (_, user) = match require(&req, &state, "/admin").await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !user.is_admin {
        return error_page(
            &state,
            StatusCode::FORBIDDEN,
            "Administrators only",
            "This page is for administrators.",
            Some("access_denied"),
        );
    }
    let lists = store(&state, false, move |tx| -> Result<Lists, OAuthError> {
        let t = now();
        let users = tx.list_users()?;
        let mut sessions = Vec::new();
        for u in &users {
            if sessions.len() >= MAX_ROWS {
                break;
            }
            for s in portcullis_core::account::live_sessions(tx, &u.id, t)? {
                sessions.push(SessionRow {
                    username: u.username.clone(),
                    client_id: s.client_id,
                    kind: s.kind.as_str().to_string(),
                    created: when(s.created_at),
                    last_used: when(s.last_used_at),
                    id: s.id,
                });
            }
        }
        sessions.truncate(MAX_ROWS);
        let clients = tx
            .list_clients()?
            .into_iter()
            .take(MAX_ROWS)
            .map(|c| ClientRow {
                grants: c
                    .grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                redirect_uris: c.redirect_uris.join(" "),
                id: c.id,
                name: c.name,
                disabled: c.disabled,
            })
            .collect();
        let users = users
            .into_iter()
            .take(MAX_ROWS)
            .map(|u| UserRow {
                totp: u.totp_secret.is_some(),
                created: when(u.created_at),
                id: u.id,
                username: u.username,
                email: u.email,
                admin: u.is_admin,
                disabled: u.disabled,
            })
            .collect();
        Ok(Lists {
            users,
            clients,
            sessions,
        })
    })
    .await;
    match lists {
        Ok(l) => {
            let ctx = minijinja::context! { users => l.users, clients => l.clients, sessions => l.sessions };
            show(&req, &state, &user, StatusCode::OK, "admin.html", ctx)
        }
        Err(res) => res,
    }
}

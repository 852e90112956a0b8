//! `GET /admin/api/users/{id}/sessions` (live sessions) and
//! `DELETE /admin/api/sessions/{id}` (end one: every token of it is
//! revoked).

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, PageParams};

use super::views::session_json;
use super::{authorize, done, page, query, read, write, Answer};
use crate::state::AppState;

pub async fn list(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let id = id.into_inner();
    let idle = state.policy.session_idle;
    let found = read(&state, move |tx, _, t| {
        admin::list_sessions(tx, &id, &p, t, idle)
    })
    .await?;
    Ok(page(found, |s| session_json(s, idle)))
}

pub async fn revoke(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let id = id.into_inner();
    write(&state, move |tx, rng, t| {
        admin::revoke_session(tx, rng, &id, t)
    })
    .await?;
    Ok(done())
}

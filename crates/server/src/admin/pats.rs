//! Personal access tokens, as an administrator sees them:
//! `GET /admin/api/users/{id}/pats`, `POST /admin/api/pats/{id}/disable`
//! and `/enable`, `DELETE /admin/api/pats/{id}` (revoke for good). Built
//! on the `PatStore` port alone; the tokens themselves are made elsewhere.

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, PageParams};

use super::views::pat_json;
use super::{authorize, done, page, query, read, write, Answer};
use crate::state::AppState;

pub async fn list(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    authorize(&req, &state).await?;
    let p = PageParams::from_query(&query(&req)?)?;
    let id = id.into_inner();
    let found = read(&state, move |tx, _, _| admin::list_pats(tx, &id, &p)).await?;
    Ok(page(found, pat_json))
}

async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: String,
    disabled: bool,
) -> Answer {
    let actor = authorize(&req, &state).await?;
    write(&state, move |tx, rng, t| {
        admin::set_pat_disabled(tx, rng, &actor, &id, disabled, t)
    })
    .await?;
    Ok(done())
}

pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Answer {
    set_disabled(req, state, id.into_inner(), true).await
}

pub async fn enable(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    set_disabled(req, state, id.into_inner(), false).await
}

pub async fn revoke(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = authorize(&req, &state).await?;
    let id = id.into_inner();
    write(&state, move |tx, rng, t| {
        admin::revoke_pat(tx, rng, &actor, &id, t)
    })
    .await?;
    Ok(done())
}

//! `GET /admin/api/events`: the audit trail, newest first, filtered by
//! `kind`, `user_id`, `client_id` and `since` (Unix seconds).

use actix_web::{web, HttpRequest};
use portcullis_core::admin::{self, PageParams};

use super::views::event_json;
use super::{authorize, page, query, read, Answer};
use crate::state::AppState;

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    authorize(&req, &state).await?;
    let q = query(&req)?;
    let p = PageParams::from_query(&q)?;
    let filter = admin::event_filter(&q)?;
    let found = read(&state, move |tx, _, _| admin::list_events(tx, &filter, &p)).await?;
    Ok(page(found, event_json))
}

use super::{Chrome, ListQuery, fmt_time};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::WebUser;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cityx_http::http::HttpState;

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub ok: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    t: T,
    c: Chrome,
    rows: Vec<AuditRow>,
    next: String,
}

pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    let req = match cityx_app::page_request(Some(100), q.cursor.as_deref()) {
        Ok(r) => r,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    let page = match st.app.people().list_audit(&u.actor, None, None, &req).await {
        Ok(p) => p,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    let rows = page
        .items
        .into_iter()
        .map(|a| AuditRow {
            at: fmt_time(a.at),
            actor: a.actor_label,
            action: u.t.get2("action.", &a.action),
            // The detail names the target in human terms when it can.
            target: ["email", "code", "name", "owner"]
                .iter()
                .find_map(|k| a.detail.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
                .unwrap_or_else(|| a.target_id.clone()),
            ip: a.ip.unwrap_or_default(),
            ok: a.ok,
        })
        .collect();
    let view = AuditPage {
        t: u.t,
        c: Chrome::new(&u, "audit", None),
        rows,
        next: page.next.map(|n| n.to_string()).unwrap_or_default(),
    };
    render(&view, u.t, StatusCode::OK)
}

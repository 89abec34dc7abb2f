//! The audit log as a page: who did what to which entry, named in human terms (items by
//! their titles, linked), newest first.

use super::{Chrome, ListQuery, fmt_time};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::WebUser;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cityx_core::{AssetId, ChannelId};
use cityx_http::http::HttpState;
use cityx_live::Live;
use std::collections::HashMap;

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// Where the target's page is (an item's), or empty.
    pub target_href: String,
    pub ip: String,
    pub ok: bool,
    /// Why it was refused, when the entry says (a refused publish's reason and protocol).
    pub why: String,
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
    // Items and live channels are named (an item by its title, a channel by its name) and
    // linked, each read once (a page has at most 100 entries).
    let mut named: HashMap<String, (String, String)> = HashMap::new();
    for a in &page.items {
        if named.contains_key(&a.target_id) {
            continue;
        }
        let found = match a.target_type.as_str() {
            "asset" => match a.target_id.parse::<AssetId>() {
                Ok(id) => st
                    .app
                    .ingest()
                    .get_asset(&u.actor, id)
                    .await
                    .ok()
                    .map(|v| (v.asset.meta.title, format!("/items/{id}"))),
                Err(_) => None,
            },
            "channel" => match a.target_id.parse::<ChannelId>() {
                Ok(id) => Live::of(&st.app)
                    .get(&u.actor, id)
                    .await
                    .ok()
                    .map(|c| (c.name, format!("/live/{id}"))),
                Err(_) => None,
            },
            _ => None,
        };
        if let Some(found) = found.filter(|(name, _)| !name.is_empty()) {
            named.insert(a.target_id.clone(), found);
        }
    }
    let rows = page
        .items
        .into_iter()
        .map(|a| {
            let found = named.get(&a.target_id);
            AuditRow {
                at: fmt_time(a.at),
                actor: a.actor_label,
                action: u.t.get2("action.", &a.action),
                // The detail names the target in human terms when it can.
                target: found.map_or_else(
                    || {
                        ["email", "code", "name", "owner", "title", "filename"]
                            .iter()
                            .find_map(|k| {
                                a.detail.get(*k).and_then(|v| v.as_str()).map(str::to_owned)
                            })
                            .unwrap_or_else(|| a.target_id.clone())
                    },
                    |(name, _)| format!("「{name}」"),
                ),
                // A restream target is on its channel's page.
                target_href: found.map(|(_, href)| href.clone()).unwrap_or_else(|| {
                    match (a.target_type.as_str(), a.detail.get("channel")) {
                        ("target", Some(serde_json::Value::String(c))) => {
                            format!("/live/{c}#targets")
                        }
                        _ => String::new(),
                    }
                }),
                why: match (
                    a.detail.get("reason").and_then(|v| v.as_str()),
                    a.detail.get("protocol").and_then(|v| v.as_str()),
                ) {
                    (Some(r), Some(p)) => {
                        format!("{} · {}", p.to_uppercase(), u.t.get2("live.refusal.", r))
                    }
                    _ => String::new(),
                },
                ip: a.ip.unwrap_or_default(),
                ok: a.ok,
            }
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

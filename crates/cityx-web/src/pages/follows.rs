//! Follows (关注): what the reader follows, how much is new in each since the last look, the
//! newest items, and forms to follow a keyword or a station (zones are followed from their
//! page).

use super::{Chrome, CsrfOnly, ListQuery, fmt_time, form_target, redirect_or_error};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser, encode_component, safe_next};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_core::{Follow, FollowId, FollowKind};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;

/// A follow as its card shows it.
pub struct FollowCard {
    pub id: String,
    pub kind: &'static str,
    pub label: String,
    pub new_items: usize,
    pub seen: String,
    /// The newest new items: id, title, station, time.
    pub latest: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "follows.html")]
struct FollowsPage {
    t: T,
    c: Chrome,
    cards: Vec<FollowCard>,
    /// Stations to follow: id and name.
    stations: Vec<(String, String)>,
    /// A follow that came back: what was wrong, and the keyword as typed.
    errors: Vec<String>,
    keyword: String,
}

/// `/follows`.
pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    list_page(&st, &u, q.done.as_deref(), None).await
}

/// The follows page; `sent` is a follow refused, with its mistakes and the keyword typed
/// (422).
async fn list_page(
    st: &HttpState,
    u: &WebUser,
    done: Option<&str>,
    sent: Option<(Vec<String>, String)>,
) -> Response {
    let t = u.t;
    let news = match st.app.follows().follows(&u.actor).await {
        Ok(n) => n,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let stations = match st.app.people().station_directory(&u.actor).await {
        Ok(d) => d
            .into_iter()
            .filter(|s| Some(s.id) != u.actor.station_id)
            .map(|s| (s.id.to_string(), s.name))
            .collect(),
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let cards = news
        .into_iter()
        .map(|n| FollowCard {
            id: n.follow.id.to_string(),
            kind: n.follow.kind.as_str(),
            label: n.follow.label.clone(),
            new_items: n.new_items,
            seen: fmt_time(n.follow.seen_at),
            latest: n
                .latest
                .into_iter()
                .map(|h| {
                    let at = super::exchange::hit_date(&h);
                    (h.id.to_string(), h.title, h.station_name, at)
                })
                .collect(),
        })
        .collect();
    let status = if sent.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (errors, keyword) = sent.unwrap_or_default();
    let view = FollowsPage {
        t,
        c: Chrome::new(u, "follows", done),
        cards,
        stations,
        errors,
        keyword,
    };
    render(&view, t, status)
}

#[derive(serde::Deserialize)]
pub struct FollowForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub target: String,
    /// Where to go afterwards (a page of this site); else the follows page.
    #[serde(default)]
    pub back: String,
}

/// `POST /follows`: follows a keyword, a station or a zone.
pub async fn create(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<FollowForm>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    match st.app.follows().follow(&u.actor, &f.kind, &f.target).await {
        Ok(_) => {
            let back = match safe_next(Some(&f.back)) {
                b if b == "/" => "/follows".to_owned(),
                b => b,
            };
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}done=followed")).into_response()
        }
        Err(e) => match super::FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                let typed = if f.kind == "keyword" {
                    f.target.clone()
                } else {
                    String::new()
                };
                list_page(&st, &u, None, Some((errs.messages, typed))).await
            }
            Err(page) => page.into_response(),
        },
    }
}

/// The exchange search that lists a follow's items, newest first.
fn search_link(f: &Follow) -> String {
    let target = encode_component(&f.target);
    match f.kind {
        FollowKind::Keyword => format!("/exchange?q={target}&sort=newest"),
        FollowKind::Zone => format!("/exchange?zone={target}&sort=newest"),
        FollowKind::Station => format!("/exchange?station={target}&sort=newest"),
    }
}

/// `POST /follows/{id}/open`: records the look and opens the follow's search.
pub async fn open(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: FollowId = match form_target(&u, &f.csrf, &id, ErrorCode::FollowNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app.follows().look_at_follow(&u.actor, id).await,
        u.t,
        |follow| search_link(&follow),
    )
}

/// `POST /follows/{id}/delete`.
pub async fn delete(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: FollowId = match form_target(&u, &f.csrf, &id, ErrorCode::FollowNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app.follows().unfollow(&u.actor, id).await,
        u.t,
        |()| "/follows?done=unfollowed",
    )
}

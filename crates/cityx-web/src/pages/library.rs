//! The library (我的素材): a station's own items in every state, with their technical check
//! and how many stations adopted them, filtered by state or title, and deleted or restored
//! several at once.

use super::{Chrome, fmt_time};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{FormList, WebUser, encode_component};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_app::{AssetFilter, LibraryState, PageRequest};
use cityx_core::{Asset, AssetId, AssetStatus};
use cityx_http::http::HttpState;

/// Items per page of the library.
const PER_PAGE: u32 = 50;

/// One item as its row shows it.
pub struct LibraryRow {
    pub id: String,
    pub title: String,
    /// `ready`, `processing` … or `deleted`, for styling.
    pub state: &'static str,
    pub state_label: String,
    /// The technical check's verdict (`pass`, `warn`, `fail`), or empty.
    pub qc: String,
    pub qc_label: String,
    pub adoptions: u64,
    pub corrected: bool,
    pub created: String,
    /// May be deleted (not uploading, not yet deleted) or restored (deleted).
    pub deletable: bool,
    pub restorable: bool,
}

#[derive(Template)]
#[template(path = "library.html")]
struct LibraryPage {
    t: T,
    c: Chrome,
    rows: Vec<LibraryRow>,
    /// The state filter in force (empty: all), and every choice.
    state: String,
    states: Vec<&'static str>,
    title: String,
    next: String,
    /// The reader may delete and restore (an editor or admin of the station).
    may_manage: bool,
}

#[derive(serde::Deserialize, Default)]
pub struct LibraryQuery {
    pub state: Option<String>,
    pub title: Option<String>,
    pub cursor: Option<String>,
    pub done: Option<String>,
    /// What a bulk action did (`delete` or `restore`), to how many items, and how many it
    /// could not.
    pub did: Option<String>,
    pub changed: Option<usize>,
    pub refused: Option<usize>,
}

const STATES: [&str; 7] = [
    "ready",
    "processing",
    "uploading",
    "failed",
    "rejected",
    "withdrawn",
    "deleted",
];

fn parse_state(s: &str) -> Option<LibraryState> {
    match s {
        "deleted" => Some(LibraryState::Deleted),
        other => other.parse::<AssetStatus>().ok().map(LibraryState::Status),
    }
}

fn row(t: T, a: Asset) -> LibraryRow {
    let deleted = a.deleted_at.is_some();
    let state = if deleted {
        "deleted"
    } else {
        a.status.as_str()
    };
    let qc =
        a.qc.as_ref()
            .and_then(|q| q["verdict"].as_str())
            .unwrap_or_default()
            .to_owned();
    LibraryRow {
        id: a.id.to_string(),
        title: a.meta.title,
        state,
        state_label: t.get2("library.state.", state),
        qc_label: if qc.is_empty() {
            String::new()
        } else {
            t.get2("qc.", &qc)
        },
        qc,
        adoptions: a.adoption_count,
        corrected: a.corrected_at.is_some(),
        created: fmt_time(a.created_at),
        deletable: !deleted && a.status != AssetStatus::Uploading,
        restorable: deleted,
    }
}

/// `/library`.
pub async fn list(
    State(st): State<HttpState>,
    u: WebUser,
    Query(q): Query<LibraryQuery>,
) -> Response {
    let t = u.t;
    let state = q.state.clone().unwrap_or_default();
    let title = q.title.clone().unwrap_or_default().trim().to_owned();
    let filter = AssetFilter {
        station: None,
        state: parse_state(&state),
        title: Some(title.clone()).filter(|s| !s.is_empty()),
    };
    let page = PageRequest {
        limit: PER_PAGE,
        after: q.cursor.as_deref().and_then(|c| c.parse().ok()),
    };
    let found = match st.app.ingest().library(&u.actor, &filter, &page).await {
        Ok(p) => p,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let next = found
        .next
        .map(|n| {
            format!(
                "/library?state={}&title={}&cursor={n}",
                encode_component(&state),
                encode_component(&title)
            )
        })
        .unwrap_or_default();
    let mut c = Chrome::new(&u, "library", q.done.as_deref());
    if let (Some(changed), Some(refused)) = (q.changed, q.refused) {
        let did = match q.did.as_deref() {
            Some("restore") => "library.bulk_restored",
            _ => "library.bulk_deleted",
        };
        let unit = t.get("library.items_unit");
        c.done = match refused {
            0 => format!("{}{changed}{unit}", t.get(did)),
            _ => format!(
                "{}{changed}{unit}{}{refused}{unit}",
                t.get(did),
                t.get("library.bulk_refused")
            ),
        };
    }
    let view = LibraryPage {
        t,
        c,
        rows: found.items.into_iter().map(|a| row(t, a)).collect(),
        state,
        states: STATES.to_vec(),
        title,
        next,
        may_manage: cityx_core::policy::manage_items(&u.actor).is_ok(),
    };
    render(&view, t, StatusCode::OK)
}

/// `POST /library/bulk`: delete or restore the ticked items. Each is done on its own; the
/// page then says how many changed and how many could not.
pub async fn bulk(State(st): State<HttpState>, u: WebUser, f: FormList) -> Response {
    let t = u.t;
    if let Err(e) = u.check_csrf(f.get("_csrf")) {
        return e.into_response();
    }
    let restore = match f.get("action") {
        "delete" => false,
        "restore" => true,
        _ => {
            return WebError::code(cityx_http::error::ErrorCode::MalformedForm, t).into_response();
        }
    };
    let (mut changed, mut refused) = (0usize, 0usize);
    for raw in f.all("ids") {
        let Ok(id) = raw.parse::<AssetId>() else {
            refused += 1;
            continue;
        };
        let done = if restore {
            st.app.ingest().restore_asset(&u.actor, id).await
        } else {
            st.app.ingest().delete_asset(&u.actor, id).await
        };
        match done {
            Ok(_) => changed += 1,
            Err(e @ cityx_app::Error::Forbidden) => return WebError::app(e, t).into_response(),
            Err(_) => refused += 1,
        }
    }
    // Back to the same view of the library, saying what was done.
    Redirect::to(&format!(
        "/library?state={}&title={}&did={}&changed={changed}&refused={refused}",
        encode_component(f.get("state")),
        encode_component(f.get("title")),
        if restore { "restore" } else { "delete" }
    ))
    .into_response()
}

//! Topic zones (专区): the list with the hub's form to create one, and a zone's page with its
//! brief, the invited stations' progress, its items, and the form stations contribute with.

use super::{
    Chrome, CsrfOnly, FormErrors, ListQuery, fmt_time, form_target, parse_id, redirect_or_error,
};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_core::{AssetId, Zone, ZoneId, ZoneInput, day, policy};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;
use std::collections::HashMap;

/// The zone's window in Beijing days, and whether it is open, upcoming or over.
pub struct ZoneCard {
    pub id: String,
    pub title: String,
    pub brief: String,
    pub window: String,
    /// `open`, `upcoming` or `over`.
    pub state: &'static str,
    pub items: i64,
    pub adoptions: i64,
    pub invited: usize,
    /// Invited stations that reached their target.
    pub reached: usize,
}

fn card(z: &Zone) -> ZoneCard {
    let now = cityx_core::now();
    let (first, last) = z.days();
    ZoneCard {
        id: z.id.to_string(),
        title: z.title.clone(),
        brief: z.brief.clone(),
        window: format!("{first} – {last}"),
        state: if z.is_open(now) {
            "open"
        } else if now < z.starts_at {
            "upcoming"
        } else {
            "over"
        },
        items: z.items,
        adoptions: z.adoptions,
        invited: z.invited.len(),
        reached: z
            .invited
            .iter()
            .filter(|i| i.contributed >= i.target)
            .count(),
    }
}

/// A zone's form, empty or with a zone's fields (`zone_fields` in `_macros.html`).
pub struct ZoneForm {
    pub title: String,
    pub brief: String,
    pub cover: String,
    pub starts_on: String,
    pub ends_on: String,
    /// Every station, invited or not.
    pub stations: Vec<InviteRow>,
    /// What was wrong when the form came back, said once each.
    pub errors: Vec<String>,
}

impl ZoneForm {
    /// The form as it was sent, with its mistakes: nothing typed is lost.
    fn with_sent(mut self, f: &HashMap<String, String>, errors: Vec<String>) -> Self {
        let field = |k: &str| f.get(k).cloned().unwrap_or_default();
        self.title = field("title");
        self.brief = field("brief");
        self.cover = field("cover_asset_id");
        self.starts_on = field("starts_on");
        self.ends_on = field("ends_on");
        for s in &mut self.stations {
            s.invited = f.contains_key(&format!("invite_{}", s.id));
            if let Some(target) = f.get(&format!("target_{}", s.id)) {
                s.target = target.trim().parse().unwrap_or(s.target);
            }
        }
        self.errors = errors;
        self
    }
}

pub struct InviteRow {
    pub id: String,
    pub name: String,
    pub code: String,
    pub invited: bool,
    pub target: i64,
}

/// The form for `zone` (a new zone's when `None`), with every station of the directory.
async fn zone_form(st: &HttpState, u: &WebUser, zone: Option<&Zone>) -> Result<ZoneForm, WebError> {
    let directory = st
        .app
        .people()
        .station_directory(&u.actor)
        .await
        .map_err(|e| WebError::app(e, u.t))?;
    let invite = |id: cityx_core::StationId| {
        zone.and_then(|z| z.invited.iter().find(|i| i.station_id == id))
    };
    let stations = directory
        .into_iter()
        .map(|s| InviteRow {
            invited: invite(s.id).is_some(),
            target: invite(s.id).map_or(1, |i| i.target),
            id: s.id.to_string(),
            name: s.name,
            code: s.code,
        })
        .collect();
    Ok(match zone {
        Some(z) => {
            let (starts_on, ends_on) = z.days();
            ZoneForm {
                title: z.title.clone(),
                brief: z.brief.clone(),
                cover: z.cover_asset_id.map(|c| c.to_string()).unwrap_or_default(),
                starts_on,
                ends_on,
                stations,
                errors: Vec::new(),
            }
        }
        None => ZoneForm {
            title: String::new(),
            brief: String::new(),
            cover: String::new(),
            starts_on: day::format(day::of(cityx_core::now())),
            ends_on: String::new(),
            stations,
            errors: Vec::new(),
        },
    })
}

/// A submitted zone form. Stations are invited by ticking `invite_<id>`, with their target
/// in `target_<id>`.
fn zone_input(f: &HashMap<String, String>) -> ZoneInput<'_> {
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let invited: Vec<(&str, i64)> = f
        .keys()
        .filter_map(|k| k.strip_prefix("invite_"))
        .map(|id| {
            let target = field(&format!("target_{id}")).trim().parse().unwrap_or(1);
            (id, target)
        })
        .collect();
    ZoneInput {
        title: field("title"),
        brief: field("brief"),
        cover_asset_id: field("cover_asset_id"),
        starts_on: field("starts_on"),
        ends_on: field("ends_on"),
        invited,
    }
}

#[derive(Template)]
#[template(path = "zones.html")]
struct ZonesPage {
    t: T,
    c: Chrome,
    zones: Vec<ZoneCard>,
    /// The hub's form to create a zone.
    form: Option<ZoneForm>,
}

/// `/zones`: every zone; the hub's roles also get the form to create one.
pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    list_page(&st, &u, q.done.as_deref(), None).await
}

/// The zones page; `sent` is a creation form that came back with its mistakes (422).
async fn list_page(
    st: &HttpState,
    u: &WebUser,
    done: Option<&str>,
    sent: Option<(&HashMap<String, String>, Vec<String>)>,
) -> Response {
    let t = u.t;
    let zones = match st.app.zones().list_zones(&u.actor).await {
        Ok(z) => z,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let form = if policy::manage_zones(&u.actor).is_ok() {
        match zone_form(st, u, None).await {
            Ok(f) => Some(match &sent {
                Some((f_sent, errors)) => f.with_sent(f_sent, errors.clone()),
                None => f,
            }),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let view = ZonesPage {
        t,
        c: Chrome::new(u, "zones", done),
        zones: zones.iter().map(card).collect(),
        form,
    };
    let status = if sent.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(&view, t, status)
}

/// `POST /zones`: the hub creates a zone.
pub async fn create(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<HashMap<String, String>>,
) -> Response {
    if let Err(e) = u.check_csrf(f.get("_csrf").map(String::as_str).unwrap_or_default()) {
        return e.into_response();
    }
    match st.app.zones().create_zone(&u.actor, &zone_input(&f)).await {
        Ok(z) => Redirect::to(&format!("/zones/{}?done=zone_created", z.id)).into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => list_page(&st, &u, None, Some((&f, errs.messages))).await,
            Err(page) => page.into_response(),
        },
    }
}

/// `POST /zones/{id}/edit`: the hub changes a zone's fields and invitations.
pub async fn edit(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<HashMap<String, String>>,
) -> Response {
    let csrf = f.get("_csrf").map(String::as_str).unwrap_or_default();
    let zone: ZoneId = match form_target(&u, csrf, &id, ErrorCode::ZoneNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match st
        .app
        .zones()
        .update_zone(&u.actor, zone, &zone_input(&f))
        .await
    {
        Ok(_) => Redirect::to(&format!("/zones/{zone}?done=zone_updated")).into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => show_page(&st, &u, zone, None, Some((&f, errs.messages))).await,
            Err(page) => page.into_response(),
        },
    }
}

pub struct ItemCard {
    pub id: String,
    pub title: String,
    pub station: String,
    pub adoptions: i64,
    pub poster: String,
    pub added: String,
    /// The reader may take it out of the zone.
    pub removable: bool,
}

pub struct Progress {
    pub station: String,
    pub target: i64,
    pub contributed: i64,
    pub reached: bool,
}

#[derive(Template)]
#[template(path = "zone.html")]
struct ZonePage {
    t: T,
    c: Chrome,
    z: ZoneCard,
    cover: String,
    progress: Vec<Progress>,
    items: Vec<ItemCard>,
    /// The station's own items it may contribute: id and title.
    own_items: Vec<(String, String)>,
    may_contribute: bool,
    /// The hub's form to change the zone.
    edit: Option<ZoneForm>,
}

/// `/zones/{id}`: a zone's brief, progress and items; stations contribute here.
pub async fn show(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let id: ZoneId = match parse_id(&id, ErrorCode::ZoneNotFound, u.t) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    show_page(&st, &u, id, q.done.as_deref(), None).await
}

/// A zone's page; `sent` is its edit form come back with its mistakes (422).
async fn show_page(
    st: &HttpState,
    u: &WebUser,
    id: ZoneId,
    done: Option<&str>,
    sent: Option<(&HashMap<String, String>, Vec<String>)>,
) -> Response {
    let t = u.t;
    let v = match st.app.zones().get_zone(&u.actor, id).await {
        Ok(v) => v,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let z = card(&v.zone);
    let may_contribute = z.state == "open" && policy::contribute(&u.actor).is_ok();
    let mut own_items = Vec::new();
    if may_contribute && let Some(station) = u.actor.station_id {
        let station = station.to_string();
        let search = cityx_app::SearchInput {
            station: Some(station),
            sort: Some("newest".into()),
            per_page: Some(cityx_app::MAX_PER_PAGE),
            facets: Some(false),
            ..Default::default()
        };
        match st.app.exchange().search(&u.actor, &search).await {
            Ok(r) => {
                own_items = r
                    .hits
                    .into_iter()
                    .filter(|h| matches!(h.status.as_str(), "ready" | "processing"))
                    .filter(|h| !v.items.iter().any(|i| i.asset_id == h.id))
                    .map(|h| (h.id.to_string(), h.title))
                    .collect();
            }
            Err(e) => return WebError::app(e, t).into_response(),
        }
    }
    let hub = policy::manage_zones(&u.actor).is_ok();
    let edit = if hub {
        match zone_form(st, u, Some(&v.zone)).await {
            Ok(f) => Some(match &sent {
                Some((f_sent, errors)) => f.with_sent(f_sent, errors.clone()),
                None => f,
            }),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let file = |a: AssetId| format!("/api/v1/assets/{a}/files/poster.jpg");
    let view = ZonePage {
        t,
        c: Chrome::new(u, "zones", done),
        cover: v
            .zone
            .cover_asset_id
            .filter(|c| v.items.iter().any(|i| i.asset_id == *c && i.has_poster))
            .or_else(|| v.items.iter().find(|i| i.has_poster).map(|i| i.asset_id))
            .map(file)
            .unwrap_or_default(),
        progress: v
            .zone
            .invited
            .iter()
            .map(|i| Progress {
                station: i.station_name.clone(),
                target: i.target,
                contributed: i.contributed,
                reached: i.contributed >= i.target,
            })
            .collect(),
        items: v
            .items
            .iter()
            .map(|i| ItemCard {
                id: i.asset_id.to_string(),
                title: i.title.clone(),
                station: i.station_name.clone(),
                adoptions: i.adoptions,
                poster: if i.has_poster {
                    file(i.asset_id)
                } else {
                    String::new()
                },
                added: fmt_time(i.added_at),
                removable: hub
                    || (u.actor.station_id == Some(i.station_id)
                        && policy::contribute(&u.actor).is_ok()),
            })
            .collect(),
        own_items,
        may_contribute,
        edit,
        z,
    };
    let status = if sent.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(&view, t, status)
}

#[derive(serde::Deserialize)]
pub struct ContributeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    asset_id: String,
}

/// `POST /zones/{id}/contribute`: a station contributes one of its items.
pub async fn contribute(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<ContributeForm>,
) -> Response {
    let zone: ZoneId = match form_target(&u, &f.csrf, &id, ErrorCode::ZoneNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let asset: AssetId = match parse_id(&f.asset_id, ErrorCode::AssetNotFound, u.t) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app
            .zones()
            .contribute_to_zone(&u.actor, zone, asset)
            .await,
        u.t,
        |_| format!("/zones/{zone}?done=contributed"),
    )
}

/// `POST /zones/{id}/items/{asset}/remove`: takes an item out of the zone.
pub async fn remove(
    State(st): State<HttpState>,
    u: WebUser,
    Path((id, asset)): Path<(String, String)>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let zone: ZoneId = match form_target(&u, &f.csrf, &id, ErrorCode::ZoneNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let asset: AssetId = match parse_id(&asset, ErrorCode::AssetNotFound, u.t) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app.zones().remove_from_zone(&u.actor, zone, asset).await,
        u.t,
        |()| format!("/zones/{zone}?done=zone_item_removed"),
    )
}

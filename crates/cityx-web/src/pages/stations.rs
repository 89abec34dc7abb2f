use super::{Chrome, FormErrors, ListQuery, fmt_time, form_target, parse_id};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_app::StationPatch;
use cityx_core::validate::StationInput;
use cityx_core::{Region, Station, StationId};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;
use serde::Deserialize;

/// The station form, as typed.
#[derive(Deserialize, Default, Clone)]
pub struct StationForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub province: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_phone: String,
    #[serde(default)]
    pub contact_email: String,
    /// Only on the edit page; empty leaves it as it is.
    #[serde(default)]
    pub default_visibility: String,
}

impl StationForm {
    fn of(s: &Station) -> Self {
        StationForm {
            csrf: String::new(),
            name: s.name.clone(),
            code: s.code.clone(),
            city: s.city.clone(),
            province: s.province.clone(),
            region: s.region.as_str().to_owned(),
            contact_name: s.contact_name.clone(),
            contact_phone: s.contact_phone.clone(),
            contact_email: s.contact_email.clone(),
            default_visibility: s.default_visibility.as_str().to_owned(),
        }
    }

    fn input(&self) -> StationInput<'_> {
        StationInput {
            name: &self.name,
            code: &self.code,
            city: &self.city,
            province: &self.province,
            region: &self.region,
            contact_name: &self.contact_name,
            contact_phone: &self.contact_phone,
            contact_email: &self.contact_email,
        }
    }
}

/// A region option of the form's select.
pub struct RegionOption {
    pub value: &'static str,
    pub label: String,
}

fn regions(t: T) -> Vec<RegionOption> {
    Region::ALL
        .iter()
        .map(|r| RegionOption {
            value: r.as_str(),
            label: t.get2("region.", r.as_str()),
        })
        .collect()
}

pub struct StationRow {
    pub s: Station,
    pub region: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "stations.html")]
struct StationsPage {
    t: T,
    c: Chrome,
    rows: Vec<StationRow>,
    next: String,
    can_create: bool,
    form: StationForm,
    errs: FormErrors,
    regions: Vec<RegionOption>,
}

async fn list_page(
    st: &HttpState,
    u: &WebUser,
    q: &ListQuery,
    form: StationForm,
    errs: FormErrors,
    status: StatusCode,
) -> Response {
    let page_req = match cityx_app::page_request(Some(50), q.cursor.as_deref()) {
        Ok(p) => p,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    // Station users see every member's card (the directory); the hub pages through all.
    let page = if u.is_hub_admin() || u.actor.station_id.is_none() {
        match st.app.people().list_stations(&u.actor, &page_req).await {
            Ok(p) => p,
            Err(e) => return WebError::app(e, u.t).into_response(),
        }
    } else {
        match st.app.people().member_stations(&u.actor).await {
            Ok(all) => cityx_app::Page {
                items: all,
                next: None,
            },
            Err(e) => return WebError::app(e, u.t).into_response(),
        }
    };
    let rows = page
        .items
        .into_iter()
        .map(|s| StationRow {
            region: u.t.get2("region.", s.region.as_str()),
            created: fmt_time(s.created_at),
            s,
        })
        .collect();
    let view = StationsPage {
        t: u.t,
        c: Chrome::new(u, "stations", q.done.as_deref()),
        rows,
        next: page.next.map(|n| n.to_string()).unwrap_or_default(),
        can_create: u.is_hub_admin(),
        form,
        errs,
        regions: regions(u.t),
    };
    render(&view, u.t, status)
}

pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    let form = StationForm {
        region: "east".into(),
        ..Default::default()
    };
    list_page(&st, &u, &q, form, FormErrors::default(), StatusCode::OK).await
}

pub async fn create(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<StationForm>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    match st.app.people().create_station(&u.actor, &f.input()).await {
        Ok(_) => Redirect::to("/stations?done=station_created").into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                list_page(
                    &st,
                    &u,
                    &ListQuery::default(),
                    f,
                    errs,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(page) => page.into_response(),
        },
    }
}

#[derive(Template)]
#[template(path = "station_edit.html")]
struct EditPage {
    t: T,
    c: Chrome,
    id: String,
    form: StationForm,
    errs: FormErrors,
    regions: Vec<RegionOption>,
    can_edit: bool,
    quota: Option<QuotaView>,
}

/// A station's storage as its page shows it.
struct QuotaView {
    /// The quota that applies, for people (`1.0 TB`, or "no limit").
    quota: String,
    /// Whether it is the installation's default.
    default: bool,
    used: String,
    /// Share of the quota used, 0–100 (0 without a quota).
    percent: String,
    unfinished: u64,
    max_unfinished: String,
    /// The station's own quota in GiB, for the form (empty: the default).
    own_gb: String,
    quota_errs: FormErrors,
}

impl QuotaView {
    fn of(t: T, q: &cityx_app::StationQuota, quota_errs: FormErrors) -> Self {
        let human = cityx_core::asset::human_size;
        QuotaView {
            quota: q
                .quota_bytes
                .map_or_else(|| t.get("station.quota.unlimited").to_owned(), human),
            default: q.own_quota_bytes.is_none(),
            used: human(q.used_bytes),
            percent: format!(
                "{:.2}",
                q.quota_bytes
                    .filter(|&b| b > 0)
                    .map_or(0.0, |b| (q.used_bytes as f64 * 100.0 / b as f64).min(100.0))
            ),
            unfinished: q.unfinished_uploads,
            max_unfinished: match q.max_unfinished_uploads {
                0 => t.get("station.quota.unlimited").to_owned(),
                n => n.to_string(),
            },
            own_gb: q
                .own_quota_bytes
                .map(|b| (b >> 30).to_string())
                .unwrap_or_default(),
            quota_errs,
        }
    }
}

async fn edit_page(
    st: &HttpState,
    u: &WebUser,
    id: StationId,
    form: StationForm,
    errs: FormErrors,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    edit_page_with(
        st,
        u,
        id,
        form,
        errs,
        (FormErrors::default(), None),
        done,
        status,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn edit_page_with(
    st: &HttpState,
    u: &WebUser,
    id: StationId,
    form: StationForm,
    errs: FormErrors,
    // The quota form's errors and what was typed into it, to show again.
    (quota_errs, typed): (FormErrors, Option<String>),
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let quota = st
        .app
        .ingest()
        .station_quota(&u.actor, id)
        .await
        .ok()
        .map(|q| {
            let mut view = QuotaView::of(u.t, &q, quota_errs);
            if let Some(typed) = typed {
                view.own_gb = typed;
            }
            view
        });
    let view = EditPage {
        t: u.t,
        c: Chrome::new(u, "stations", done),
        id: id.to_string(),
        form,
        errs,
        regions: regions(u.t),
        can_edit: u.is_hub_admin(),
        quota,
    };
    render(&view, u.t, status)
}

pub async fn edit(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let id = match parse_id::<StationId>(&id, ErrorCode::StationNotFound, u.t) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    // Another station's page is its card: place and contacts, which every member may read.
    let found = match st.app.people().get_station(&u.actor, id).await {
        Err(e @ cityx_app::Error::NotFound(_)) => {
            match st.app.people().member_stations(&u.actor).await {
                Ok(all) => all.into_iter().find(|s| s.id == id).ok_or(e),
                Err(other) => Err(other),
            }
        }
        other => other,
    };
    match found {
        Ok(s) => {
            edit_page(
                &st,
                &u,
                id,
                StationForm::of(&s),
                FormErrors::default(),
                q.done.as_deref(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}

pub async fn update(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<StationForm>,
) -> Response {
    let id: StationId = match form_target(&u, &f.csrf, &id, ErrorCode::StationNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let patch = StationPatch {
        name: Some(f.name.clone()),
        code: Some(f.code.clone()),
        city: Some(f.city.clone()),
        province: Some(f.province.clone()),
        region: Some(f.region.clone()),
        contact_name: Some(f.contact_name.clone()),
        contact_phone: Some(f.contact_phone.clone()),
        contact_email: Some(f.contact_email.clone()),
        default_visibility: Some(f.default_visibility.clone()).filter(|v| !v.is_empty()),
    };
    match st.app.people().update_station(&u.actor, id, &patch).await {
        Ok(_) => Redirect::to(&format!("/stations/{id}?done=station_updated")).into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                edit_page(&st, &u, id, f, errs, None, StatusCode::UNPROCESSABLE_ENTITY).await
            }
            Err(page) => page.into_response(),
        },
    }
}

#[derive(Deserialize)]
pub struct QuotaForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    quota_gb: String,
}

/// The hub sets a station's quota in GiB; empty goes back to the default.
pub async fn set_quota(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<QuotaForm>,
) -> Response {
    let id: StationId = match form_target(&u, &f.csrf, &id, ErrorCode::StationNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let quota = match f.quota_gb.trim() {
        "" => Ok(None),
        gb => gb
            .parse::<u64>()
            .ok()
            .and_then(|gb| gb.checked_mul(1 << 30))
            .map(Some)
            .ok_or_else(|| cityx_app::Error::field("quota_gb", "whole_gb", "a whole number of GB")),
    };
    let result = match quota {
        Ok(q) => st.app.ingest().set_station_quota(&u.actor, id, q).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/stations/{id}?done=quota_saved")).into_response(),
        Err(e) => {
            let quota_errs = match FormErrors::from_app(u.t, e) {
                Ok(errs) => errs,
                Err(page) => return page.into_response(),
            };
            let station = match st.app.people().get_station(&u.actor, id).await {
                Ok(s) => s,
                Err(e) => return WebError::app(e, u.t).into_response(),
            };
            edit_page_with(
                &st,
                &u,
                id,
                StationForm::of(&station),
                FormErrors::default(),
                (quota_errs, Some(f.quota_gb.clone())),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

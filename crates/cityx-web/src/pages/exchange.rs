//! The exchange in the browser: searching with filters and facets, adopting an item and
//! downloading it, an item's rights, and the adoption ledger.

use super::{Chrome, ListQuery, fmt_time, form_target, redirect_or_error};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser, encode_component};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cityx_app::SearchInput as SearchParams;
use cityx_app::{AdoptionFilter, SearchHit, SearchResults};
use cityx_core::{AssetId, RightsInput};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;

/// One facet value as a link that narrows the search.
pub struct FacetLink {
    pub label: String,
    pub count: u64,
    pub href: String,
    pub active: bool,
}

pub struct FacetGroup {
    pub title: String,
    pub links: Vec<FacetLink>,
}

pub struct HitView {
    pub h: SearchHit,
    pub date: String,
    pub duration: String,
    pub qc: String,
    pub embargoed: bool,
    /// Its state when it is not simply ready (processing, failed, withdrawn …), translated.
    pub state: String,
}

#[derive(Template)]
#[template(path = "exchange.html")]
struct ExchangePage {
    t: T,
    c: Chrome,
    q: String,
    sort: String,
    from: String,
    to: String,
    /// Facet filters in force, kept by the search form.
    hidden: Vec<(&'static str, String)>,
    total: usize,
    hits: Vec<HitView>,
    facets: Vec<FacetGroup>,
    errors: Vec<String>,
    prev: String,
    next: String,
    page: u32,
}

fn param(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

/// The search's own query string with one parameter set (or removed when `value` is empty),
/// back on the first page.
fn with(p: &SearchParams, key: &str, value: &str) -> String {
    let pairs = [
        ("q", param(&p.q)),
        ("station", param(&p.station)),
        ("province", param(&p.province)),
        ("city", param(&p.city)),
        ("category", param(&p.category)),
        ("resolution", param(&p.resolution)),
        ("qc", param(&p.qc)),
        ("from", param(&p.from)),
        ("to", param(&p.to)),
        ("sort", param(&p.sort)),
    ];
    let mut out: Vec<String> = Vec::new();
    for (k, v) in pairs {
        let v = if k == key { value } else { v };
        if !v.is_empty() {
            out.push(format!("{k}={}", encode_component(v)));
        }
    }
    format!("/exchange?{}", out.join("&"))
}

fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// When a hit was made, as pages show times.
pub fn hit_date(h: &SearchHit) -> String {
    time::OffsetDateTime::from_unix_timestamp(h.created / 1000)
        .map(fmt_time)
        .unwrap_or_default()
}

pub(crate) fn hit_view(t: T, h: SearchHit, now_ms: i64) -> HitView {
    HitView {
        date: hit_date(&h),
        duration: duration(h.duration_s),
        qc: if h.qc.is_empty() {
            String::new()
        } else {
            t.get2("qc.", &h.qc)
        },
        embargoed: h.embargo_until > now_ms,
        state: if h.status == "ready" || h.status.is_empty() {
            String::new()
        } else {
            t.get2("asset.status.", &h.status)
        },
        h,
    }
}

fn facet_groups(t: T, p: &SearchParams, r: &SearchResults) -> Vec<FacetGroup> {
    let group = |key: &str,
                 title: &str,
                 counts: &[cityx_app::FacetCount],
                 label: &dyn Fn(&str) -> String| {
        let current = match key {
            "station" => param(&p.station),
            "province" => param(&p.province),
            "city" => param(&p.city),
            "category" => param(&p.category),
            "resolution" => param(&p.resolution),
            _ => param(&p.qc),
        };
        FacetGroup {
            title: t.get(title).to_owned(),
            links: counts
                .iter()
                .map(|f| FacetLink {
                    label: label(&f.label),
                    count: f.count,
                    active: current == f.value,
                    href: with(p, key, if current == f.value { "" } else { &f.value }),
                })
                .collect(),
        }
    };
    let plain = |s: &str| s.to_owned();
    let qc = |s: &str| t.get2("qc.", s);
    let resolution = |s: &str| match s {
        "sd" | "unknown" => t.get2("search.res.", s),
        hd => hd.to_owned(),
    };
    vec![
        group("province", "search.province", &r.facets.province, &plain),
        group("city", "search.city", &r.facets.city, &plain),
        group("station", "search.station", &r.facets.station, &plain),
        group("category", "search.category", &r.facets.category, &plain),
        group(
            "resolution",
            "search.resolution",
            &r.facets.resolution,
            &resolution,
        ),
        group("qc", "search.qc", &r.facets.qc, &qc),
    ]
    .into_iter()
    .filter(|g| !g.links.is_empty())
    .collect()
}

/// `/exchange`: the catalogue, newest first, or what a search finds.
pub async fn exchange(
    State(st): State<HttpState>,
    u: WebUser,
    Query(p): Query<SearchParams>,
) -> Response {
    let t = u.t;
    let (results, errors) = match st.app.exchange().search(&u.actor, &p).await {
        Ok(r) => (r, Vec::new()),
        Err(cityx_app::Error::Validation(errs)) => (
            SearchResults::default(),
            super::FormErrors::from_fields(t, &errs).messages,
        ),
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let page = p.page.unwrap_or(1).max(1);
    let per_page = p.per_page.unwrap_or(20).clamp(1, cityx_app::MAX_PER_PAGE);
    let page_link = |n: u32| format!("{}&page={n}", with(&p, "page", ""));
    let now = cityx_core::epoch_ms(cityx_core::now());
    let view = ExchangePage {
        t,
        c: Chrome::new(&u, "exchange", None),
        q: param(&p.q).to_owned(),
        total: results.total,
        facets: facet_groups(t, &p, &results),
        hits: results
            .hits
            .into_iter()
            .map(|h| hit_view(t, h, now))
            .collect(),
        errors,
        prev: if page > 1 {
            page_link(page - 1)
        } else {
            String::new()
        },
        next: if (page as usize) * (per_page as usize) < results.total && page < 100 {
            page_link(page + 1)
        } else {
            String::new()
        },
        page,
        sort: param(&p.sort).to_owned(),
        from: param(&p.from).to_owned(),
        to: param(&p.to).to_owned(),
        hidden: [
            ("station", &p.station),
            ("province", &p.province),
            ("city", &p.city),
            ("category", &p.category),
            ("resolution", &p.resolution),
            ("qc", &p.qc),
        ]
        .into_iter()
        .filter(|(_, v)| !param(v).is_empty())
        .map(|(k, v)| (k, param(v).to_owned()))
        .collect(),
    };
    render(&view, t, StatusCode::OK)
}

#[derive(serde::Deserialize, Default)]
pub struct AdoptForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    rendition: String,
    #[serde(default)]
    purpose: String,
}

/// Adopts an item from its page; downloads start from the page's adoption box.
pub async fn adopt(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<AdoptForm>,
) -> Response {
    let id: AssetId = match form_target(&u, &f.csrf, &id, ErrorCode::AssetNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let result = st
        .app
        .exchange()
        .adopt(&u.actor, id, &f.rendition, &f.purpose)
        .await;
    let values = vec![
        ("rendition", f.rendition.clone()),
        ("purpose", f.purpose.clone()),
    ];
    super::items::item_form_result(&st, &u, id, result, "adopt", values, "adopted").await
}

/// Starts a download of an adopted item: a fresh signed link, followed at once.
pub async fn download(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<AdoptForm>,
) -> Response {
    let id: AssetId = match form_target(&u, &f.csrf, &id, ErrorCode::AssetNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app
            .exchange()
            .renew_download(&u.actor, id, &f.rendition)
            .await,
        u.t,
        |link| link.url,
    )
}

#[derive(serde::Deserialize, Default)]
pub struct RightsForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    visibility: String,
    /// Station codes or ids, separated by spaces or commas.
    #[serde(default)]
    shared_with: String,
    /// `YYYY-MM-DDTHH:MM` in China Standard Time, from a datetime-local input.
    #[serde(default)]
    embargo_until: String,
    #[serde(default)]
    embargo_hides: Option<String>,
    #[serde(default)]
    licence: String,
}

/// A datetime-local value (China Standard Time) as RFC 3339.
fn local_to_rfc3339(v: &str) -> String {
    let v = v.trim();
    if v.is_empty() || v.contains('+') || v.ends_with('Z') {
        return v.to_owned();
    }
    let with_seconds = if v.len() == 16 {
        format!("{v}:00")
    } else {
        v.to_owned()
    };
    format!("{with_seconds}+08:00")
}

/// Saves an item's rights from its page.
pub async fn rights(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<RightsForm>,
) -> Response {
    let id: AssetId = match form_target(&u, &f.csrf, &id, ErrorCode::AssetNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    // Stations are named by code, as editors know them.
    let directory = match st.app.people().station_directory(&u.actor).await {
        Ok(d) => d,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    let named = super::stations_named(&directory, "shared_with", &f.shared_with);
    let shared = named.as_ref().map_or(&[][..], Vec::as_slice);
    let embargo = local_to_rfc3339(&f.embargo_until);
    let input = RightsInput {
        visibility: &f.visibility,
        shared_with: shared.iter().map(String::as_str).collect(),
        embargo_until: &embargo,
        embargo_hides: f.embargo_hides.is_some(),
        licence: &f.licence,
    };
    let values = vec![
        ("visibility", f.visibility.clone()),
        ("shared_with", f.shared_with.clone()),
        ("embargo_until", f.embargo_until.clone()),
        ("embargo_hides", f.embargo_hides.clone().unwrap_or_default()),
        ("licence", f.licence.clone()),
    ];
    // A name that is no station's is said, naming it, and nothing is changed.
    if let Err(unknown) = named {
        let retry = super::items::Retry {
            form: "rights",
            errors: super::FormErrors::from_fields(u.t, &[unknown]).messages,
            values,
        };
        return super::items::item_page(&st, &u, id, None, retry).await;
    }
    let result = st.app.exchange().set_rights(&u.actor, id, &input).await;
    super::items::item_form_result(&st, &u, id, result, "rights", values, "rights_saved").await
}

pub struct AdoptionRow {
    pub asset_id: String,
    /// The title it was adopted under.
    pub title: String,
    /// Its title now, when a correction changed it.
    pub title_now: String,
    /// What happened to it since: `withdrawn`, `deleted`, `corrected` (for styling), or empty.
    pub mark: String,
    /// That, translated.
    pub mark_label: String,
    pub station: String,
    pub rendition: String,
    pub purpose: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "adoptions.html")]
struct AdoptionsPage {
    t: T,
    c: Chrome,
    tab: String,
    rows: Vec<AdoptionRow>,
    next: String,
}

/// `/adoptions`: what others adopted of the station's items (credited), and what the station
/// adopted (made); the hub sees all.
pub async fn adoptions(
    State(st): State<HttpState>,
    u: WebUser,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = u.t;
    let tab = match q.all.as_deref() {
        Some("made") => "made",
        _ => "credited",
    };
    let page = match cityx_app::page_request(Some(50), q.cursor.as_deref()) {
        Ok(p) => p,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let own = u.actor.station_id;
    let filter = match tab {
        "made" => AdoptionFilter {
            station: own,
            ..Default::default()
        },
        _ => AdoptionFilter {
            contributor: own,
            ..Default::default()
        },
    };
    let list = match st
        .app
        .exchange()
        .list_adoptions(&u.actor, &filter, &page)
        .await
    {
        Ok(l) => l,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let rows = list
        .items
        .into_iter()
        .map(|a| {
            let mark = match &a.item_now {
                Some(n) if n.status == cityx_core::AssetStatus::Withdrawn => "withdrawn",
                Some(n) if n.deleted => "deleted",
                Some(n) if n.corrected => "corrected",
                _ => "",
            };
            AdoptionRow {
                asset_id: a.asset_id.to_string(),
                title_now: a
                    .item_now
                    .as_ref()
                    .map(|n| n.title.clone())
                    .filter(|now| *now != a.asset_title)
                    .unwrap_or_default(),
                mark: mark.to_owned(),
                mark_label: if mark.is_empty() {
                    String::new()
                } else {
                    t.get2("adoptions.mark.", mark)
                },
                title: a.asset_title,
                station: if tab == "made" {
                    a.contributor_name
                } else {
                    a.station_name
                },
                rendition: t.get2("adopt.take.", &a.rendition),
                purpose: a.purpose,
                at: fmt_time(a.at),
            }
        })
        .collect();
    let view = AdoptionsPage {
        t,
        c: Chrome::new(&u, "adoptions", q.done.as_deref()),
        tab: tab.to_owned(),
        rows,
        next: list.next.map(|n| n.to_string()).unwrap_or_default(),
    };
    render(&view, t, StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facet_links_keep_the_search() {
        let p = SearchParams {
            q: Some("台风 登陆".into()),
            city: Some("福州".into()),
            ..Default::default()
        };
        assert_eq!(
            with(&p, "qc", "pass"),
            "/exchange?q=%E5%8F%B0%E9%A3%8E%20%E7%99%BB%E9%99%86&city=%E7%A6%8F%E5%B7%9E&qc=pass"
        );
        assert_eq!(
            with(&p, "city", ""),
            "/exchange?q=%E5%8F%B0%E9%A3%8E%20%E7%99%BB%E9%99%86"
        );
    }

    #[test]
    fn local_times_are_china_standard_time() {
        assert_eq!(
            local_to_rfc3339("2026-12-01T08:30"),
            "2026-12-01T08:30:00+08:00"
        );
        assert_eq!(local_to_rfc3339(""), "");
        assert_eq!(
            local_to_rfc3339("2026-12-01T00:30:00Z"),
            "2026-12-01T00:30:00Z"
        );
    }
}

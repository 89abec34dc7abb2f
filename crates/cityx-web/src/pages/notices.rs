//! After an item is out: correcting and withdrawing it (forms on the item page), the notices
//! page where adopting stations acknowledge, and the hub's statistics with charts, a map and
//! CSV exports.

use super::{Chrome, CsrfOnly, ListQuery, fmt_time, form_target, redirect_or_error};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cityx_app::{AreaStats, NoticeDirection, Statistics};
use cityx_core::notice::CorrectionInput;
use cityx_core::{AssetId, Notice, NoticeId};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;

/// The correction form; a field left out stays as it is.
#[derive(serde::Deserialize)]
pub struct CorrectionForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    note: String,
    title: Option<String>,
    summary: Option<String>,
    script: Option<String>,
    keywords: Option<String>,
    category: Option<String>,
    city: Option<String>,
    shot_date: Option<String>,
}

/// `POST /items/{id}/correct`: the contributor corrects the item; adopters are told.
pub async fn correct(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CorrectionForm>,
) -> Response {
    let id: AssetId = match form_target(&u, &f.csrf, &id, ErrorCode::AssetNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let input = CorrectionInput {
        note: &f.note,
        title: f.title.as_deref(),
        summary: f.summary.as_deref(),
        script: f.script.as_deref(),
        keywords: f.keywords.as_deref(),
        category: f.category.as_deref(),
        city: f.city.as_deref(),
        shot_date: f.shot_date.as_deref(),
        copyright: None,
    };
    let result = st.app.notices().correct_asset(&u.actor, id, &input).await;
    let typed = |v: &Option<String>| v.clone().unwrap_or_default();
    let values = vec![
        ("note", f.note.clone()),
        ("title", typed(&f.title)),
        ("summary", typed(&f.summary)),
        ("script", typed(&f.script)),
        ("keywords", typed(&f.keywords)),
        ("category", typed(&f.category)),
        ("city", typed(&f.city)),
        ("shot_date", typed(&f.shot_date)),
    ];
    super::items::item_form_result(&st, &u, id, result, "correct", values, "corrected").await
}

#[derive(serde::Deserialize)]
pub struct WithdrawForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /items/{id}/withdraw`: the contributor withdraws the item; adopters are told.
pub async fn withdraw(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<WithdrawForm>,
) -> Response {
    let id: AssetId = match form_target(&u, &f.csrf, &id, ErrorCode::AssetNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let result = st
        .app
        .notices()
        .withdraw_asset(&u.actor, id, &f.reason)
        .await;
    let values = vec![("reason", f.reason.clone())];
    super::items::item_form_result(&st, &u, id, result, "withdraw", values, "withdrawn").await
}

/// A notice as a table row.
pub struct NoticeRow {
    pub id: String,
    pub asset_id: String,
    pub title: String,
    pub kind: String,
    pub contributor: String,
    pub station: String,
    pub message: String,
    pub sent: String,
    /// Empty while open.
    pub acknowledged: String,
}

pub fn notice_row(t: T, n: Notice) -> NoticeRow {
    NoticeRow {
        id: n.id.to_string(),
        asset_id: n.asset_id.to_string(),
        title: n.asset_title,
        kind: t.get2("notices.kind.", n.kind.as_str()),
        contributor: n.contributor_name,
        station: n.station_name,
        message: n.message,
        sent: fmt_time(n.created_at),
        acknowledged: n.acknowledged_at.map(fmt_time).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "notices.html")]
struct NoticesPage {
    t: T,
    c: Chrome,
    /// `received`, `issued` (stations) or `all` (the hub).
    tab: &'static str,
    may_acknowledge: bool,
    rows: Vec<NoticeRow>,
    next: String,
    /// Zones that invite the reader's station and are not over: id, title, window, what it
    /// has contributed of its target.
    invitations: Vec<(String, String, String, i64, i64)>,
}

/// `/notices`: notices to the station (to acknowledge) and about its items (who has); the
/// hub sees every notice and who has acknowledged it.
pub async fn notices(
    State(st): State<HttpState>,
    u: WebUser,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = u.t;
    let (tab, direction) = match (u.actor.station_id, q.all.as_deref()) {
        (None, _) => ("all", NoticeDirection::Received),
        (Some(_), Some("issued")) => ("issued", NoticeDirection::Issued),
        (Some(_), _) => ("received", NoticeDirection::Received),
    };
    let page = match cityx_app::page_request(Some(50), q.cursor.as_deref()) {
        Ok(p) => p,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let list = match st
        .app
        .notices()
        .list_notices(&u.actor, direction, None, false, &page)
        .await
    {
        Ok(l) => l,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let mut invitations = Vec::new();
    if let (Some(own), "received") = (u.actor.station_id, tab) {
        let zones = match st.app.zones().list_zones(&u.actor).await {
            Ok(z) => z,
            Err(e) => return WebError::app(e, t).into_response(),
        };
        let now = cityx_core::now();
        for z in zones.iter().filter(|z| z.ends_at > now) {
            if let Some(i) = z.invited.iter().find(|i| i.station_id == own) {
                let (first, last) = z.days();
                invitations.push((
                    z.id.to_string(),
                    z.title.clone(),
                    format!("{first} – {last}"),
                    i.contributed,
                    i.target,
                ));
            }
        }
    }
    let view = NoticesPage {
        t,
        invitations,
        c: Chrome::new(&u, "notices", q.done.as_deref()),
        tab,
        may_acknowledge: tab == "received" && cityx_core::policy::acknowledge(&u.actor).is_ok(),
        rows: list.items.into_iter().map(|n| notice_row(t, n)).collect(),
        next: list.next.map(|n| n.to_string()).unwrap_or_default(),
    };
    render(&view, t, StatusCode::OK)
}

/// `POST /notices/{id}/ack`: the station acknowledges a notice.
pub async fn acknowledge(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: NoticeId = match form_target(&u, &f.csrf, &id, ErrorCode::NoticeNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app.notices().acknowledge_notice(&u.actor, id).await,
        u.t,
        |_| "/notices?done=acknowledged",
    )
}

/// A bar of the daily chart, in SVG units.
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub h: i64,
    pub title: String,
}

/// An x-axis label.
pub struct Tick {
    pub x: i64,
    pub label: String,
}

/// The daily chart: contributions as bars, adoptions as a line.
pub struct DailyChart {
    pub width: i64,
    pub bar_width: i64,
    pub bars: Vec<Bar>,
    /// `x,y x,y …` of the adoptions line.
    pub line: String,
    pub dots: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub max: i64,
}

const CHART_H: i64 = 160;
const CHART_TOP: i64 = 10;

fn daily_chart(t: T, s: &Statistics) -> DailyChart {
    let n = s.days.len().max(1) as i64;
    let step = (720 / n).clamp(8, 40);
    let max = s
        .days
        .iter()
        .map(|d| d.contributions.max(d.adoptions))
        .max()
        .unwrap_or(0)
        .max(1);
    let y_of = |v: i64| CHART_TOP + CHART_H - v * CHART_H / max;
    let mut c = DailyChart {
        width: step * n + 40,
        bar_width: (step * 3 / 5).max(3),
        bars: Vec::new(),
        line: String::new(),
        dots: Vec::new(),
        ticks: Vec::new(),
        max,
    };
    let label_every = (n / 8).max(1) as usize;
    let mut points = Vec::new();
    for (i, d) in s.days.iter().enumerate() {
        let x = 30 + i as i64 * step;
        c.bars.push(Bar {
            x,
            y: y_of(d.contributions),
            h: d.contributions * CHART_H / max,
            title: format!(
                "{} {} {}",
                d.date,
                t.get("stats.contributions"),
                d.contributions
            ),
        });
        let cx = x + c.bar_width / 2;
        points.push(format!("{cx},{}", y_of(d.adoptions)));
        c.dots.push(Bar {
            x: cx,
            y: y_of(d.adoptions),
            h: 0,
            title: format!("{} {} {}", d.date, t.get("stats.adoptions"), d.adoptions),
        });
        if i % label_every == 0 {
            c.ticks.push(Tick {
                x: cx,
                label: d.date[5..].to_owned(),
            });
        }
    }
    c.line = points.join(" ");
    c
}

/// Where each province sits on the tile map (column, row): a cartogram of China's
/// provincial divisions, one equal tile each, roughly where they lie.
const PROVINCE_TILES: [(&str, i64, i64); 34] = [
    ("黑龙江", 9, 0),
    ("新疆", 1, 1),
    ("内蒙古", 6, 1),
    ("吉林", 9, 1),
    ("甘肃", 3, 2),
    ("宁夏", 4, 2),
    ("山西", 5, 2),
    ("河北", 6, 2),
    ("北京", 7, 2),
    ("辽宁", 8, 2),
    ("青海", 2, 3),
    ("陕西", 4, 3),
    ("河南", 5, 3),
    ("山东", 6, 3),
    ("天津", 7, 3),
    ("西藏", 1, 4),
    ("四川", 3, 4),
    ("重庆", 4, 4),
    ("湖北", 5, 4),
    ("安徽", 6, 4),
    ("江苏", 7, 4),
    ("云南", 3, 5),
    ("贵州", 4, 5),
    ("湖南", 5, 5),
    ("江西", 6, 5),
    ("浙江", 7, 5),
    ("上海", 8, 5),
    ("广西", 4, 6),
    ("广东", 5, 6),
    ("福建", 6, 6),
    ("台湾", 8, 6),
    ("海南", 4, 7),
    ("澳门", 5, 7),
    ("香港", 6, 7),
];

/// One province on the map.
pub struct Tile {
    pub x: i64,
    pub y: i64,
    pub name: String,
    /// 0–100: how much of the busiest province's activity.
    pub level: i64,
    pub title: String,
}

const TILE: i64 = 52;

fn province_map(t: T, provinces: &[AreaStats]) -> Vec<Tile> {
    let activity = |a: &AreaStats| a.contributions + a.adoptions_received;
    let max = provinces.iter().map(activity).max().unwrap_or(0).max(1);
    PROVINCE_TILES
        .iter()
        .map(|&(name, col, row)| {
            // Station records may say 浙江省 or 浙江.
            let hit = provinces.iter().find(|p| p.name.starts_with(name));
            let (level, title) = match hit {
                Some(p) => (
                    activity(p) * 100 / max,
                    format!(
                        "{name}：{} {}，{} {}",
                        t.get("stats.contributions"),
                        p.contributions,
                        t.get("stats.adoptions_received"),
                        p.adoptions_received
                    ),
                ),
                None => (0, name.to_owned()),
            };
            Tile {
                x: col * TILE,
                y: row * TILE,
                name: name.to_owned(),
                level,
                title,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    t: T,
    c: Chrome,
    s: Statistics,
    chart: DailyChart,
    tiles: Vec<Tile>,
    total_contributions: i64,
    total_adoptions: i64,
    active_stations: usize,
    /// `from=…&to=…` for the export links.
    period: String,
}

#[derive(serde::Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    table: String,
}

/// `/analytics`: the hub's statistics of a period: figures, the daily chart, the league
/// table, top items, the province map and city table, each table exportable as CSV.
pub async fn analytics(
    State(st): State<HttpState>,
    u: WebUser,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let t = u.t;
    let s = match st.app.notices().statistics(&u.actor, &q.from, &q.to).await {
        Ok(s) => s,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let view = AnalyticsPage {
        t,
        c: Chrome::new(&u, "analytics", None),
        chart: daily_chart(t, &s),
        tiles: province_map(t, &s.provinces),
        total_contributions: s.days.iter().map(|d| d.contributions).sum(),
        total_adoptions: s.days.iter().map(|d| d.adoptions).sum(),
        active_stations: s
            .stations
            .iter()
            .filter(|x| x.contributions + x.adoptions_made > 0)
            .count(),
        period: format!("from={}&to={}", s.from, s.to),
        s,
    };
    render(&view, t, StatusCode::OK)
}

/// `/analytics/export?table=…`: one table of the page as CSV.
pub async fn export(
    State(st): State<HttpState>,
    u: WebUser,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let s = match st.app.notices().statistics(&u.actor, &q.from, &q.to).await {
        Ok(s) => s,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    match s.table(&q.table) {
        Some(mut rows) => {
            // People open these in spreadsheets: headers in the page's language.
            if let Some(header) = rows.first_mut() {
                for h in header.iter_mut() {
                    *h = u.t.get2("csv.", h).to_owned();
                }
            }
            cityx_http::http::csv_response(
                &rows,
                &format!("cityx-{}-{}-{}.csv", q.table, s.from, s.to),
            )
        }
        None => WebError::code(ErrorCode::InvalidQuery, u.t).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_province_has_its_own_tile() {
        let mut seen = std::collections::HashSet::new();
        for (name, col, row) in PROVINCE_TILES {
            assert!(seen.insert((col, row)), "{name} shares a tile");
        }
        let areas = vec![AreaStats {
            name: "浙江省".into(),
            stations: 1,
            contributions: 4,
            adoptions_made: 0,
            adoptions_received: 6,
        }];
        let tiles = province_map(T::default(), &areas);
        let zj = tiles.iter().find(|t| t.name == "浙江").expect("valid");
        assert_eq!(zj.level, 100);
        assert!(tiles.iter().filter(|t| t.level > 0).count() == 1);
    }
}

#[derive(Template)]
#[template(path = "tombstone.html")]
struct TombstonePage {
    t: T,
    c: Chrome,
    row: NoticeRow,
    may_acknowledge: bool,
}

/// What a station that adopted a withdrawn item sees at its address: the title it adopted,
/// who withdrew it, when and why, what to do, and the acknowledgement; nothing to play or
/// download. `None` when the reader's station was not told of a withdrawal of this item.
pub async fn tombstone(st: &HttpState, u: &WebUser, id: AssetId) -> Option<Response> {
    let notices = st
        .app
        .notices()
        .list_notices(
            &u.actor,
            NoticeDirection::Received,
            Some(id),
            false,
            &cityx_app::PageRequest::first(50),
        )
        .await
        .ok()?;
    let withdrawal = notices.items.into_iter().find(|n| {
        n.kind == cityx_core::NoticeKind::Withdrawal && u.actor.station_id == Some(n.station_id)
    })?;
    let page = TombstonePage {
        t: u.t,
        c: Chrome::new(u, "notices", None),
        row: notice_row(u.t, withdrawal),
        may_acknowledge: cityx_core::policy::acknowledge(&u.actor).is_ok(),
    };
    Some(render(&page, u.t, StatusCode::OK))
}

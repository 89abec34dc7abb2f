//! After an item is out: corrections and withdrawals, notices and their acknowledgement, the
//! member feed, and the network's statistics (JSON and CSV).

use super::NoticeList;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::http::{ApiJson, ApiPath, ApiQuery, Caller, HttpState, csv_response};
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use cityx_app::{NoticeDirection, Statistics};
use cityx_core::notice::CorrectionInput;
use cityx_core::{AssetId, Notice, NoticeId};
use serde::Deserialize;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// A correction: the fields to change (absent fields stay as they are) and a note for the
/// stations that adopted the item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// What was corrected and why, told to every adopting station (required).
    pub note: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub script: Option<String>,
    /// Comma-separated.
    pub keywords: Option<String>,
    pub category: Option<String>,
    pub city: Option<String>,
    /// `YYYY-MM-DD` or empty.
    pub shot_date: Option<String>,
    pub copyright: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    /// Why the item is withdrawn, told to every adopting station.
    pub reason: String,
}

/// Corrects an item's metadata. Every station that adopted it gets a notice to acknowledge.
#[utoipa::path(post, path = "/api/v1/assets/{id}/corrections", tag = "notices",
    params(("id" = AssetId, Path, description = "Asset id")),
    request_body = CorrectionBody,
    responses(
        (status = 200, description = "Corrected; the notices sent", body = cityx_app::Told),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such item of the caller's station", body = ErrorBody),
        (status = 409, description = "Withdrawn or deleted (`invalid_state`)", body = ErrorBody),
        (status = 422, description = "No note, an invalid field, or nothing changed", body = ErrorBody),
    ))]
pub async fn correct(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
    ApiJson(b): ApiJson<CorrectionBody>,
) -> ApiResult<Json<cityx_app::Told>> {
    let input = CorrectionInput {
        note: &b.note,
        title: b.title.as_deref(),
        summary: b.summary.as_deref(),
        script: b.script.as_deref(),
        keywords: b.keywords.as_deref(),
        category: b.category.as_deref(),
        city: b.city.as_deref(),
        shot_date: b.shot_date.as_deref(),
        copyright: b.copyright.as_deref(),
    };
    Ok(Json(
        st.app.notices().correct_asset(&actor, id, &input).await?,
    ))
}

/// An item's corrections, newest first: each with its note and what it changed.
#[utoipa::path(get, path = "/api/v1/assets/{id}/corrections", tag = "notices",
    params(("id" = AssetId, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The corrections, newest first", body = Vec<cityx_core::Correction>),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such item the caller may see", body = ErrorBody),
    ))]
pub async fn corrections(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
) -> ApiResult<Json<Vec<cityx_core::Correction>>> {
    let item = st.app.ingest().get_asset(&actor, id).await?;
    Ok(Json(st.app.notices().corrections_of(&item.asset).await?))
}

/// Withdraws an item for good: it leaves the exchange, its download links stop working, and
/// every station that adopted it gets a notice to acknowledge.
#[utoipa::path(post, path = "/api/v1/assets/{id}/withdrawal", tag = "notices",
    params(("id" = AssetId, Path, description = "Asset id")),
    request_body = WithdrawalBody,
    responses(
        (status = 200, description = "Withdrawn; the notices sent", body = cityx_app::Told),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such item of the caller's station", body = ErrorBody),
        (status = 409, description = "Already withdrawn, deleted, or not yet uploaded (`invalid_state`)", body = ErrorBody),
        (status = 422, description = "No reason", body = ErrorBody),
    ))]
pub async fn withdraw(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
    ApiJson(b): ApiJson<WithdrawalBody>,
) -> ApiResult<Json<cityx_app::Told>> {
    Ok(Json(
        st.app
            .notices()
            .withdraw_asset(&actor, id, &b.reason)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticeParams {
    /// `received` (default: notices to the caller's station; the hub: all) or `issued`
    /// (about the caller's station's items).
    #[param(pattern = "^(received|issued)?$")]
    pub direction: Option<String>,
    /// Only notices not yet acknowledged.
    pub open: Option<bool>,
    pub asset_id: Option<AssetId>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
}

/// Correction and withdrawal notices, newest first, with who acknowledged them and when.
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices",
    params(NoticeParams),
    responses(
        (status = 200, description = "One page of notices", body = NoticeList),
        (status = 400, description = "An unknown parameter or direction", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<NoticeParams>,
) -> ApiResult<Json<NoticeList>> {
    let page = cityx_app::page_request(q.limit, q.cursor.as_deref())?;
    let direction = match q.direction.as_deref() {
        None | Some("") | Some("received") => NoticeDirection::Received,
        Some("issued") => NoticeDirection::Issued,
        Some(_) => return Err(ApiError::from_code(ErrorCode::InvalidQuery)),
    };
    let notices = st
        .app
        .notices()
        .list_notices(
            &actor,
            direction,
            q.asset_id,
            q.open.unwrap_or(false),
            &page,
        )
        .await?;
    Ok(Json(notices.into()))
}

/// Acknowledges a notice sent to the caller's station. A second time changes nothing.
#[utoipa::path(post, path = "/api/v1/notices/{id}/acknowledgement", tag = "notices",
    params(("id" = NoticeId, Path, description = "Notice id")),
    responses(
        (status = 200, description = "Acknowledged", body = Notice),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such notice to the caller's station", body = ErrorBody),
    ))]
pub async fn acknowledge(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<NoticeId>,
) -> ApiResult<Json<Notice>> {
    Ok(Json(st.app.notices().acknowledge_notice(&actor, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `cursor` of the previous answer; absent to start from the first event.
    pub cursor: Option<String>,
    /// Seconds to wait when there is nothing new (default 0); a longer wait than 30 s is
    /// cut to 30 s, so that proxies do not time the request out.
    #[param(minimum = 0)]
    pub wait: Option<u64>,
    /// Events per answer (1–500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The member feed: what happened in the exchange that the caller may see, in order. With
/// `wait`, an answer with nothing new waits for news (long polling). Following the cursors
/// never skips or repeats an event.
#[utoipa::path(get, path = "/api/v1/feed", tag = "notices",
    params(FeedParams),
    responses(
        (status = 200, description = "Events and the next cursor", body = cityx_app::FeedPage),
        (status = 400, description = "A changed or foreign cursor (`invalid_cursor`), or an unknown parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
    ))]
pub async fn feed(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<FeedParams>,
) -> ApiResult<Json<cityx_app::FeedPage>> {
    let wait = Duration::from_secs(q.wait.unwrap_or(0));
    let limit = cityx_app::page_limit(q.limit, 100)?;
    Ok(Json(
        st.app
            .notices()
            .feed(&actor, q.cursor.as_deref(), wait, limit)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsParams {
    /// First day, `YYYY-MM-DD` Beijing time (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, inclusive (default: today).
    pub to: Option<String>,
}

/// The network's statistics over a period: league table by station, daily figures, top
/// items, and figures by province and city. The hub's roles only.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "notices",
    params(StatisticsParams),
    responses(
        (status = 200, description = "Figures of the period", body = Statistics),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub role", body = ErrorBody),
        (status = 422, description = "A malformed day, or a period over 366 days", body = ErrorBody),
    ))]
pub async fn statistics(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<StatisticsParams>,
) -> ApiResult<Json<Statistics>> {
    Ok(Json(
        st.app
            .notices()
            .statistics(
                &actor,
                q.from.as_deref().unwrap_or_default(),
                q.to.as_deref().unwrap_or_default(),
            )
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `stations`, `days`, `items`, `zones`, `provinces` or `cities`.
    #[param(pattern = "^(stations|days|items|zones|provinces|cities)$")]
    pub table: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One table of the statistics as CSV (UTF-8 with a BOM, for spreadsheets).
#[utoipa::path(get, path = "/api/v1/statistics/export", tag = "notices",
    params(ExportParams),
    responses(
        (status = 200, description = "The table", content_type = "text/csv"),
        (status = 400, description = "An unknown table or parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub role", body = ErrorBody),
        (status = 422, description = "A malformed day, or a period over 366 days", body = ErrorBody),
    ))]
pub async fn export(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    let s = st
        .app
        .notices()
        .statistics(
            &actor,
            q.from.as_deref().unwrap_or_default(),
            q.to.as_deref().unwrap_or_default(),
        )
        .await?;
    let rows = s
        .table(&q.table)
        .ok_or_else(|| ApiError::from_code(ErrorCode::InvalidQuery))?;
    let name = format!("cityx-{}-{}-{}.csv", q.table, s.from, s.to);
    Ok(csv_response(&rows, &name))
}

//! Topic zones (专区): campaigns the hub runs and stations contribute to.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_core::{AssetId, StationId, Zone, ZoneId, ZoneInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub station_id: StationId,
    /// Items asked of the station (0–1000).
    #[serde(default = "one")]
    #[schema(minimum = 0, maximum = 1000)]
    pub target: i64,
}

fn one() -> i64 {
    1
}

/// A zone as the hub writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneBody {
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    #[serde(default)]
    pub brief: String,
    /// An item whose poster is the zone's cover.
    #[serde(default)]
    pub cover_asset_id: Option<AssetId>,
    /// First day of contributions, `YYYY-MM-DD` Beijing time.
    #[schema(pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub starts_on: String,
    /// Last day, inclusive.
    #[schema(pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub ends_on: String,
    #[serde(default)]
    pub invited: Vec<InviteBody>,
}

async fn write(
    st: &HttpState,
    actor: &cityx_core::Actor,
    id: Option<ZoneId>,
    body: &ZoneBody,
) -> cityx_app::Result<Zone> {
    let cover = body
        .cover_asset_id
        .map(|c| c.to_string())
        .unwrap_or_default();
    let ids: Vec<String> = body
        .invited
        .iter()
        .map(|i| i.station_id.to_string())
        .collect();
    let input = ZoneInput {
        title: &body.title,
        brief: &body.brief,
        cover_asset_id: &cover,
        starts_on: &body.starts_on,
        ends_on: &body.ends_on,
        invited: ids
            .iter()
            .zip(&body.invited)
            .map(|(id, i)| (id.as_str(), i.target))
            .collect(),
    };
    match id {
        None => st.app.zones().create_zone(actor, &input).await,
        Some(id) => st.app.zones().update_zone(actor, id, &input).await,
    }
}

/// Creates a topic zone: the hub's roles.
#[utoipa::path(post, path = "/api/v1/zones", tag = "zones",
    request_body = ZoneBody,
    responses(
        (status = 201, description = "Created", body = Zone),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub role", body = ErrorBody),
        (status = 422, description = "Invalid fields, an unknown cover item or station", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ZoneBody>,
) -> ApiResult<(StatusCode, Json<Zone>)> {
    Ok((
        StatusCode::CREATED,
        Json(write(&st, &actor, None, &body).await?),
    ))
}

/// Replaces a zone's fields and invitations: the hub's roles.
#[utoipa::path(put, path = "/api/v1/zones/{id}", tag = "zones",
    params(("id" = ZoneId, Path, description = "Zone id")),
    request_body = ZoneBody,
    responses(
        (status = 200, description = "Changed", body = Zone),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub role", body = ErrorBody),
        (status = 404, description = "No such zone", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ZoneId>,
    ApiJson(body): ApiJson<ZoneBody>,
) -> ApiResult<Json<Zone>> {
    Ok(Json(write(&st, &actor, Some(id), &body).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ZoneList {
    /// Latest window first.
    pub items: Vec<Zone>,
}

/// Every topic zone with its invited stations' progress.
#[utoipa::path(get, path = "/api/v1/zones", tag = "zones",
    responses(
        (status = 200, description = "Zones", body = ZoneList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list(State(st): State<HttpState>, Caller(actor): Caller) -> ApiResult<Json<ZoneList>> {
    Ok(Json(ZoneList {
        items: st.app.zones().list_zones(&actor).await?,
    }))
}

/// A zone, its stations' progress, and its items the caller may see.
#[utoipa::path(get, path = "/api/v1/zones/{id}", tag = "zones",
    params(("id" = ZoneId, Path, description = "Zone id")),
    responses(
        (status = 200, description = "The zone", body = cityx_app::ZoneView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such zone", body = ErrorBody),
    ))]
pub async fn get(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ZoneId>,
) -> ApiResult<Json<cityx_app::ZoneView>> {
    Ok(Json(st.app.zones().get_zone(&actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContributionBody {
    /// One of the caller's station's items, ready or processing.
    pub asset_id: AssetId,
}

#[derive(Serialize, ToSchema)]
pub struct ContributionResponse {
    /// `false` when the item was in the zone already.
    pub added: bool,
}

/// Contributes one of the station's items to an open zone (again: nothing changes).
#[utoipa::path(post, path = "/api/v1/zones/{id}/items", tag = "zones",
    params(("id" = ZoneId, Path, description = "Zone id")),
    request_body = ContributionBody,
    responses(
        (status = 200, description = "Contributed", body = ContributionResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such zone, or no such item of the caller's station", body = ErrorBody),
        (status = 409, description = "The zone is not open (`zone_closed`), or the item is withdrawn, deleted or failed (`invalid_state`)", body = ErrorBody),
    ))]
pub async fn contribute(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ZoneId>,
    ApiJson(body): ApiJson<ContributionBody>,
) -> ApiResult<Json<ContributionResponse>> {
    let added = st
        .app
        .zones()
        .contribute_to_zone(&actor, id, body.asset_id)
        .await?;
    Ok(Json(ContributionResponse { added }))
}

/// Takes an item out of a zone: its station, or the hub.
#[utoipa::path(delete, path = "/api/v1/zones/{id}/items/{asset_id}", tag = "zones",
    params(
        ("id" = ZoneId, Path, description = "Zone id"),
        ("asset_id" = AssetId, Path, description = "Asset id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "Not in the zone, or not the caller's station's", body = ErrorBody),
    ))]
pub async fn remove(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath((id, asset)): ApiPath<(ZoneId, AssetId)>,
) -> ApiResult<StatusCode> {
    st.app.zones().remove_from_zone(&actor, id, asset).await?;
    Ok(StatusCode::NO_CONTENT)
}

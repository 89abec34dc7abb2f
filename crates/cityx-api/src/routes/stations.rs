use super::{PageParams, StationList};
use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, ApiQuery, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_app::StationPatch;
use cityx_core::validate::StationInput;
use cityx_core::{Region, Station, StationId};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStation {
    #[schema(example = "杭州电视台", min_length = 1, max_length = 100)]
    pub name: String,
    /// 2–32 lowercase letters, digits or hyphens; unique.
    #[schema(example = "hztv", pattern = "^[a-z0-9][a-z0-9-]{1,31}$")]
    pub code: String,
    #[schema(example = "杭州", min_length = 1, max_length = 50)]
    pub city: String,
    #[schema(example = "浙江", min_length = 1, max_length = 50)]
    pub province: String,
    pub region: Region,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    #[schema(pattern = r"^[0-9 +()\-]*$", max_length = 32)]
    pub contact_phone: String,
    #[serde(default)]
    pub contact_email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStation {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,31}$")]
    pub code: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    pub city: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    pub province: Option<String>,
    pub region: Option<Region>,
    pub contact_name: Option<String>,
    #[schema(pattern = r"^[0-9 +()\-]*$", max_length = 32)]
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    /// Who may see a new upload unless its uploader chooses: `private`, `exchange` or
    /// `public`.
    #[schema(pattern = "^(private|exchange|public)$")]
    pub default_visibility: Option<String>,
}

/// List the stations the caller can see (all for hub users, their own for station users).
#[utoipa::path(get, path = "/api/v1/stations", tag = "stations", params(PageParams),
    responses(
        (status = 200, description = "A page of stations", body = StationList),
        (status = 400, description = "Bad query or cursor", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<PageParams>,
) -> ApiResult<Json<StationList>> {
    let page = cityx_app::page_request(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        st.app.people().list_stations(&actor, &page).await?.into(),
    ))
}

/// Create a station (hub admins).
#[utoipa::path(post, path = "/api/v1/stations", tag = "stations", request_body = CreateStation,
    responses(
        (status = 201, description = "Created", body = Station),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub admin", body = ErrorBody),
        (status = 409, description = "Code taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<CreateStation>,
) -> ApiResult<(StatusCode, Json<Station>)> {
    let input = StationInput {
        name: &b.name,
        code: &b.code,
        city: &b.city,
        province: &b.province,
        region: b.region.as_str(),
        contact_name: &b.contact_name,
        contact_phone: &b.contact_phone,
        contact_email: &b.contact_email,
    };
    let station = st.app.people().create_station(&actor, &input).await?;
    Ok((StatusCode::CREATED, Json(station)))
}

/// One station.
#[utoipa::path(get, path = "/api/v1/stations/{id}", tag = "stations",
    params(("id" = StationId, Path, description = "Station id")),
    responses(
        (status = 200, description = "The station", body = Station),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such station visible to the caller", body = ErrorBody),
    ))]
pub async fn get(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<StationId>,
) -> ApiResult<Json<Station>> {
    Ok(Json(st.app.people().get_station(&actor, id).await?))
}

/// Change a station (hub admins). Absent fields stay as they are.
#[utoipa::path(patch, path = "/api/v1/stations/{id}", tag = "stations", request_body = UpdateStation,
    params(("id" = StationId, Path, description = "Station id")),
    responses(
        (status = 200, description = "Changed", body = Station),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub admin", body = ErrorBody),
        (status = 404, description = "No such station visible to the caller", body = ErrorBody),
        (status = 409, description = "Code taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<StationId>,
    ApiJson(b): ApiJson<UpdateStation>,
) -> ApiResult<Json<Station>> {
    let patch = StationPatch {
        name: b.name,
        code: b.code,
        city: b.city,
        province: b.province,
        region: b.region.map(|r| r.as_str().to_owned()),
        contact_name: b.contact_name,
        contact_phone: b.contact_phone,
        contact_email: b.contact_email,
        default_visibility: b.default_visibility,
    };
    Ok(Json(
        st.app.people().update_station(&actor, id, &patch).await?,
    ))
}

/// A station's quota as the hub sets it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    /// The station's own quota in bytes; `null` to go back to the installation's default
    /// (`uploads.station_quota_gb`).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    pub quota_bytes: Option<u64>,
}

/// A station's storage: its quota (its own or the default), what it uses, and its
/// unfinished uploads. Hub roles for any station; a station's people for their own.
#[utoipa::path(get, path = "/api/v1/stations/{id}/quota", tag = "stations",
    params(("id" = StationId, Path, description = "Station id")),
    responses(
        (status = 200, description = "Quota and use", body = cityx_app::StationQuota),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such station visible to the caller", body = ErrorBody),
    ))]
pub async fn quota(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<StationId>,
) -> ApiResult<Json<cityx_app::StationQuota>> {
    Ok(Json(st.app.ingest().station_quota(&actor, id).await?))
}

/// Set a station's own quota, or go back to the default (hub admins). A quota below what
/// the station uses refuses its new uploads until it deletes items; nothing is removed.
#[utoipa::path(put, path = "/api/v1/stations/{id}/quota", tag = "stations", request_body = QuotaBody,
    params(("id" = StationId, Path, description = "Station id")),
    responses(
        (status = 200, description = "Set", body = cityx_app::StationQuota),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub admin", body = ErrorBody),
        (status = 404, description = "No such station", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Out of range", body = ErrorBody),
    ))]
pub async fn set_quota(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<StationId>,
    ApiJson(b): ApiJson<QuotaBody>,
) -> ApiResult<Json<cityx_app::StationQuota>> {
    Ok(Json(
        st.app
            .ingest()
            .set_station_quota(&actor, id, b.quota_bytes)
            .await?,
    ))
}

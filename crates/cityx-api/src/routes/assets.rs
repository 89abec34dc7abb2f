//! Items once uploaded: read one, delete it (restorable for a grace period), restore it.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiPath, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use cityx_app::{AssetView, JobSummary};
use cityx_core::{Asset, AssetId};
use serde::Serialize;
use utoipa::ToSchema;

/// An item with its processing steps.
#[derive(Serialize, ToSchema)]
pub struct AssetResponse {
    #[serde(flatten)]
    pub asset: Asset,
    /// Processing steps, oldest first.
    pub jobs: Vec<JobSummary>,
}

impl From<AssetView> for AssetResponse {
    fn from(v: AssetView) -> Self {
        AssetResponse {
            asset: v.asset,
            jobs: v.jobs,
        }
    }
}

/// One item: status, metadata, hashes and processing steps.
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = AssetId, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The item", body = AssetResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller", body = ErrorBody),
    ))]
pub async fn get_asset(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
) -> ApiResult<Json<AssetResponse>> {
    Ok(Json(st.app.ingest().get_asset(&actor, id).await?.into()))
}

/// Deletes an item: it leaves the exchange at once; its files are removed and its quota
/// released after the grace period (`purge_after`), until when it can be restored.
/// Deleting a deleted item changes nothing.
#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = AssetId, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The item, with `deleted_at` and `purge_after`", body = Asset),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller", body = ErrorBody),
        (status = 409, description = "Still uploading: terminate the upload instead", body = ErrorBody),
    ))]
pub async fn delete_asset(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
) -> ApiResult<Json<Asset>> {
    Ok(Json(st.app.ingest().delete_asset(&actor, id).await?))
}

/// Restores a deleted item whose grace period has not passed.
#[utoipa::path(post, path = "/api/v1/assets/{id}/restore", tag = "assets",
    params(("id" = AssetId, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The item, no longer deleted", body = Asset),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller, or already purged", body = ErrorBody),
    ))]
pub async fn restore_asset(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
) -> ApiResult<Json<Asset>> {
    Ok(Json(st.app.ingest().restore_asset(&actor, id).await?))
}

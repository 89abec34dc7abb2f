//! The exchange: search, suggestions, an item's rights, adoptions and signed downloads.

use super::AdoptionList;
use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, ApiQuery, Caller, HttpState};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use cityx_app::AdoptionFilter;
use cityx_core::{Asset, AssetId, RightsInput, StationId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Searches the items the caller may see: the hub sees all; a station its own and what other
/// stations let it see (visibility, embargo). Facets count the matching items.
#[utoipa::path(get, path = "/api/v1/search", tag = "exchange",
    params(cityx_app::SearchInput),
    responses(
        (status = 200, description = "Matching items, best first, with facets", body = cityx_app::SearchResults),
        (status = 400, description = "An unknown parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "A malformed filter value", body = ErrorBody),
    ))]
pub async fn search(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<cityx_app::SearchInput>,
) -> ApiResult<Json<cityx_app::SearchResults>> {
    Ok(Json(st.app.exchange().search(&actor, &q).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What the user has typed so far.
    pub q: String,
}

#[derive(Serialize, ToSchema)]
pub struct Suggestions {
    /// Titles of visible items that complete the text.
    pub suggestions: Vec<String>,
}

/// Titles that complete what the user is typing.
#[utoipa::path(get, path = "/api/v1/search/suggest", tag = "exchange",
    params(SuggestParams),
    responses(
        (status = 200, description = "Up to 8 titles", body = Suggestions),
        (status = 400, description = "`q` missing or an unknown parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn suggest(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<SuggestParams>,
) -> ApiResult<Json<Suggestions>> {
    Ok(Json(Suggestions {
        suggestions: st.app.exchange().suggest(&actor, &q.q).await?,
    }))
}

/// Beside an item: other items of the same master file, and similar items, as the caller
/// may see them.
#[utoipa::path(get, path = "/api/v1/assets/{id}/related", tag = "exchange",
    params(("id" = AssetId, Path, description = "Asset id")),
    responses(
        (status = 200, description = "Up to 6 of each", body = cityx_app::Related),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller", body = ErrorBody),
    ))]
pub async fn related(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
) -> ApiResult<Json<cityx_app::Related>> {
    Ok(Json(st.app.exchange().related(&actor, id).await?))
}

/// An item's rights.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RightsBody {
    /// `private`, `exchange`, `stations` or `public`.
    #[schema(pattern = "^(private|exchange|stations|public)$")]
    pub visibility: String,
    /// Station ids, when `visibility` is `stations`.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub shared_with: Vec<String>,
    /// RFC 3339; absent or null for no embargo.
    #[serde(default)]
    pub embargo_until: Option<String>,
    /// Hide the item from other stations during the embargo (else it is visible but cannot
    /// be adopted).
    #[serde(default)]
    pub embargo_hides: bool,
    #[serde(default)]
    pub licence: String,
}

/// Sets who may see and adopt an item: its station's editors and admins.
#[utoipa::path(put, path = "/api/v1/assets/{id}/rights", tag = "exchange",
    params(("id" = AssetId, Path, description = "Asset id")),
    request_body = RightsBody,
    responses(
        (status = 200, description = "The item with its new rights", body = Asset),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it", body = ErrorBody),
        (status = 404, description = "No such item of the caller's station", body = ErrorBody),
        (status = 422, description = "Invalid rights", body = ErrorBody),
    ))]
pub async fn set_rights(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
    ApiJson(body): ApiJson<RightsBody>,
) -> ApiResult<Json<Asset>> {
    let input = RightsInput {
        visibility: &body.visibility,
        shared_with: body.shared_with.iter().map(String::as_str).collect(),
        embargo_until: body.embargo_until.as_deref().unwrap_or_default(),
        embargo_hides: body.embargo_hides,
        licence: &body.licence,
    };
    Ok(Json(
        st.app.exchange().set_rights(&actor, id, &input).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptBody {
    /// `master`, `proxy` (the browser MP4) or `library` (no download now).
    pub rendition: String,
    /// What the station means to do with it, e.g. 晚间新闻.
    #[serde(default)]
    pub purpose: String,
}

/// Adopts another station's item for the caller's station: recorded in the ledger and
/// credited to the contributor. Embargoed, withdrawn or own items are refused and nothing is
/// recorded.
#[utoipa::path(post, path = "/api/v1/assets/{id}/adoptions", tag = "exchange",
    params(("id" = AssetId, Path, description = "Asset id")),
    request_body = AdoptBody,
    responses(
        (status = 201, description = "Adopted", body = cityx_app::Adopted),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow it, or the item is under embargo (`embargoed`)", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller, or it has no proxy", body = ErrorBody),
        (status = 409, description = "Withdrawn (`asset_withdrawn`), not ready, or the station's own item (`own_item`)", body = ErrorBody),
        (status = 422, description = "Invalid rendition or purpose", body = ErrorBody),
    ))]
pub async fn adopt(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
    ApiJson(body): ApiJson<AdoptBody>,
) -> ApiResult<(StatusCode, Json<cityx_app::Adopted>)> {
    let adopted = st
        .app
        .exchange()
        .adopt(&actor, id, &body.rendition, &body.purpose)
        .await?;
    Ok((StatusCode::CREATED, Json(adopted)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// `master` or `proxy`, as adopted before.
    pub rendition: String,
}

/// A fresh download link for an item the station has adopted (to resume a download after
/// the first link expired). Records no new adoption.
#[utoipa::path(post, path = "/api/v1/assets/{id}/download-link", tag = "exchange",
    params(("id" = AssetId, Path, description = "Asset id")),
    request_body = LinkBody,
    responses(
        (status = 200, description = "A new link", body = cityx_app::DownloadLink),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role does not allow it, or under embargo", body = ErrorBody),
        (status = 404, description = "Not adopted in this form, or no such item", body = ErrorBody),
        (status = 409, description = "Withdrawn since", body = ErrorBody),
    ))]
pub async fn download_link(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
    ApiJson(body): ApiJson<LinkBody>,
) -> ApiResult<Json<cityx_app::DownloadLink>> {
    Ok(Json(
        st.app
            .exchange()
            .renew_download(&actor, id, &body.rendition)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdoptionParams {
    /// `credited` (the caller's station's items adopted by others), `made` (what the
    /// station adopted) or absent (both; the hub: all).
    #[param(pattern = "^(credited|made)?$")]
    pub direction: Option<String>,
    /// Only adoptions of this item.
    pub asset_id: Option<AssetId>,
    /// Hub only: adoptions credited to or made by this station.
    pub station_id: Option<StationId>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
}

/// The ledger: who adopted what and when, newest first.
#[utoipa::path(get, path = "/api/v1/adoptions", tag = "exchange",
    params(AdoptionParams),
    responses(
        (status = 200, description = "One page of adoptions", body = AdoptionList),
        (status = 400, description = "An unknown parameter or direction", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
    ))]
pub async fn list_adoptions(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<AdoptionParams>,
) -> ApiResult<Json<AdoptionList>> {
    let page = cityx_app::page_request(q.limit, q.cursor.as_deref())?;
    let own = actor.station_id.or(q.station_id);
    let mut filter = AdoptionFilter {
        asset: q.asset_id,
        ..Default::default()
    };
    match q.direction.as_deref() {
        None | Some("") => {}
        Some("credited") => filter.contributor = own,
        Some("made") => filter.station = own,
        Some(_) => {
            return Err(crate::error::ApiError::from_code(
                crate::error::ErrorCode::InvalidQuery,
            ));
        }
    }
    Ok(Json(
        st.app
            .exchange()
            .list_adoptions(&actor, &filter, &page)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignedParams {
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// The person the link was made for: it downloads while they are enabled and their
    /// station may see the item.
    #[serde(default)]
    pub by: String,
    /// The link's signature.
    pub sig: String,
}

/// Downloads an adopted master or proxy through a signed link (no credentials), with
/// `Range` and `If-Range` for resuming. With `storage.presign_downloads` (S3), the answer is
/// a redirect to a presigned URL of the object store, which serves the bytes (and the
/// ranges) with the same headers.
#[utoipa::path(get, path = "/api/v1/downloads/{id}/{rendition}", tag = "exchange",
    security(()),
    params(
        ("id" = AssetId, Path, description = "Asset id"),
        ("rendition" = String, Path, description = "`master` or `proxy`"),
        SignedParams,
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 307, description = "With `storage.presign_downloads`: the file is fetched from the object store, at the presigned URL in `Location` (valid for at most 15 minutes; the link here gives a new one)"),
        (status = 400, description = "`exp` or `sig` missing or malformed", body = ErrorBody),
        (status = 403, description = "The link was changed or has expired (`download_link_invalid`)", body = ErrorBody),
        (status = 404, description = "No such item, or not a path of this API", body = ErrorBody),
        (status = 409, description = "The item was withdrawn since", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
pub async fn signed_download(
    State(st): State<HttpState>,
    ApiPath((id, rendition)): ApiPath<(AssetId, String)>,
    ApiQuery(q): ApiQuery<SignedParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (file, name) = st
        .app
        .exchange()
        .signed_download(id, &rendition, q.exp, &q.by, &q.sig)
        .await?;
    let disposition = super::files::attachment(&name);
    let media_type = super::files::content_type(&file.extension);
    if let Some(url) =
        st.app
            .pipeline()
            .presigned_download(&file, q.exp, (&disposition, media_type))
    {
        return Ok(Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, url)
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::empty())
            .unwrap_or_default());
    }
    super::files::serve(&st, &file, &headers, Some(&name)).await
}

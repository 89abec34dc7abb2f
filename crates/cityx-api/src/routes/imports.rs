//! Imports by URL: `POST /api/v1/imports` creates an item whose master cityx fetches itself,
//! through the outbound-fetch guard.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cityx_core::{Asset, AssetInput};
use serde::Deserialize;
use utoipa::ToSchema;

/// What to import, and the item's metadata (as in a tus upload's `Upload-Metadata`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateImport {
    /// An http or https URL on a public address (or a network the operator allowed).
    #[schema(example = "https://media.example.cn/news/暴雨.mp4")]
    pub url: String,
    /// Default: the last segment of the URL's path.
    #[serde(default)]
    pub filename: String,
    /// Default: the file name without its extension.
    #[serde(default)]
    #[schema(example = "杭州暴雨")]
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub script: String,
    /// Separated by commas, spaces or 、.
    #[serde(default)]
    pub keywords: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub city: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub shot_date: String,
    #[serde(default)]
    pub copyright: String,
    #[serde(default)]
    pub licence: String,
    /// RFC 3339.
    #[serde(default)]
    pub embargo_until: String,
}

/// Imports an item by URL. The answer comes at once with the item (`uploading`) and its
/// address in `Location`; an `import` job fetches the file, then processing runs as for an
/// upload. A URL that is not http(s), names a user, or resolves to a non-public address is
/// refused now (`422`, field `url`); a refusal found later (a redirect to such an address,
/// an error status, a file above `Tus-Max-Size` or the quota) fails the item with the reason.
#[utoipa::path(post, path = "/api/v1/imports", tag = "uploads", request_body = CreateImport,
    responses(
        (status = 202, description = "Accepted; the item is fetched in the background", body = Asset),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a contributor, or scope missing", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a URL that cannot be fetched", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<CreateImport>,
) -> ApiResult<Response> {
    let input = AssetInput {
        filename: &b.filename,
        title: &b.title,
        summary: &b.summary,
        script: &b.script,
        keywords: &b.keywords,
        category: &b.category,
        city: &b.city,
        shot_date: &b.shot_date,
        copyright: &b.copyright,
        licence: &b.licence,
        embargo_until: &b.embargo_until,
    };
    let asset = st
        .app
        .ingest()
        .create_import(&actor, &b.url, &input)
        .await?;
    let mut res = (StatusCode::ACCEPTED, Json(&asset)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/assets/{}", asset.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

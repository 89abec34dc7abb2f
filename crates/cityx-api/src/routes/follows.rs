//! Follows (关注): zones, keywords and stations a person follows, with what is new there.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_app::FollowNews;
use cityx_core::{Follow, FollowId, FollowKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowBody {
    #[schema(value_type = FollowKind)]
    pub kind: String,
    /// A zone id, a station id, or a keyword (1–50 characters).
    pub target: String,
}

/// Follows a zone, a keyword or a station; what is made there from now on is new.
#[utoipa::path(post, path = "/api/v1/follows", tag = "follows",
    request_body = FollowBody,
    responses(
        (status = 201, description = "Followed", body = Follow),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "Unknown kind or target, followed already, too many", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<FollowBody>,
) -> ApiResult<(StatusCode, Json<Follow>)> {
    let f = st
        .app
        .follows()
        .follow(&actor, &body.kind, &body.target)
        .await?;
    Ok((StatusCode::CREATED, Json(f)))
}

#[derive(Serialize, ToSchema)]
pub struct FollowList {
    pub items: Vec<FollowNews>,
}

/// The caller's follows, each with the number of items new since the last look and the
/// newest five, under the caller's rights.
#[utoipa::path(get, path = "/api/v1/follows", tag = "follows",
    responses(
        (status = 200, description = "Follows", body = FollowList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
) -> ApiResult<Json<FollowList>> {
    Ok(Json(FollowList {
        items: st.app.follows().follows(&actor).await?,
    }))
}

/// Records a look: what was new is no longer.
#[utoipa::path(post, path = "/api/v1/follows/{id}/seen", tag = "follows",
    params(("id" = FollowId, Path, description = "Follow id")),
    responses(
        (status = 200, description = "Looked at", body = Follow),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "Not one of the caller's follows", body = ErrorBody),
    ))]
pub async fn seen(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<FollowId>,
) -> ApiResult<Json<Follow>> {
    Ok(Json(st.app.follows().look_at_follow(&actor, id).await?))
}

/// Stops following.
#[utoipa::path(delete, path = "/api/v1/follows/{id}", tag = "follows",
    params(("id" = FollowId, Path, description = "Follow id")),
    responses(
        (status = 204, description = "Unfollowed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "Not one of the caller's follows", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<FollowId>,
) -> ApiResult<StatusCode> {
    st.app.follows().unfollow(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Restream targets of live channels: the partner addresses a channel is pushed to while it
//! is live, each with its state. For the channel's station admins; the partner's stream key
//! is written, never read back (only its last characters).

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_core::live::target::{Target, TargetInput};
use cityx_core::{ChannelId, TargetId};
use cityx_live::Targets;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A target's fields as the API takes them; on PATCH, what is absent stays (an absent or
/// empty `key` keeps the stored key).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// The partner's server address, `rtmp[s]://host[:port]/app` or `srt://host:port`,
    /// without the key.
    #[schema(max_length = 512)]
    pub url: Option<String>,
    /// The partner's stream key (for SRT, the streamid; required when adding). Stored
    /// encrypted, never returned.
    #[schema(max_length = 512)]
    pub key: Option<String>,
    /// An SRT target's passphrase (10 to 79 characters; empty removes it, absent keeps
    /// it). Stored encrypted, never returned (`has_passphrase` says whether there is one).
    #[schema(max_length = 79)]
    pub passphrase: Option<String>,
    /// Push whenever the channel is live (default true).
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct TargetList {
    pub items: Vec<Target>,
}

fn input_of<'a>(body: &'a TargetBody, current: Option<&'a Target>) -> TargetInput<'a> {
    TargetInput {
        name: body
            .name
            .as_deref()
            .or(current.map(|t| t.name.as_str()))
            .unwrap_or(""),
        url: body
            .url
            .as_deref()
            .or(current.map(|t| t.url.as_str()))
            .unwrap_or(""),
        key: body.key.as_deref().unwrap_or(""),
        enabled: body.enabled.or(current.map(|t| t.enabled)).unwrap_or(true),
        passphrase: body.passphrase.as_deref(),
    }
}

/// The channel's restream targets with their states (connecting, live, retrying with the
/// reason, idle), bytes sent and rate.
#[utoipa::path(get, path = "/api/v1/channels/{id}/targets", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Targets", body = TargetList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> ApiResult<Json<TargetList>> {
    let items = Targets::of(&st.app).list(&actor, id).await?;
    Ok(Json(TargetList { items }))
}

/// Adds a restream target; pushed to from the next seconds while the channel is live.
#[utoipa::path(post, path = "/api/v1/channels/{id}/targets", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    request_body = TargetBody,
    responses(
        (status = 201, description = "Added", body = Target),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields, an address the outbound guard refuses, or too many targets", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<TargetBody>,
) -> ApiResult<(StatusCode, Json<Target>)> {
    let target = Targets::of(&st.app)
        .add(&actor, id, &input_of(&body, None))
        .await?;
    Ok((StatusCode::CREATED, Json(target)))
}

/// Changes a restream target (a running push restarts with a new address or key).
#[utoipa::path(patch, path = "/api/v1/channels/{id}/targets/{target}", tag = "live",
    params(
        ("id" = ChannelId, Path, description = "Channel id"),
        ("target" = TargetId, Path, description = "Target id"),
    ),
    request_body = TargetBody,
    responses(
        (status = 200, description = "The target as it is now", body = Target),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such target of a channel of the caller's station", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields, or an address the outbound guard refuses", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath((id, target)): ApiPath<(ChannelId, TargetId)>,
    ApiJson(body): ApiJson<TargetBody>,
) -> ApiResult<Json<Target>> {
    let targets = Targets::of(&st.app);
    let current = targets.get(&actor, id, target).await?;
    let changed = targets
        .change(&actor, id, target, &input_of(&body, Some(&current)))
        .await?;
    Ok(Json(changed))
}

/// Removes a restream target; a push to it stops within seconds.
#[utoipa::path(delete, path = "/api/v1/channels/{id}/targets/{target}", tag = "live",
    params(
        ("id" = ChannelId, Path, description = "Channel id"),
        ("target" = TargetId, Path, description = "Target id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such target of a channel of the caller's station", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath((id, target)): ApiPath<(ChannelId, TargetId)>,
) -> ApiResult<StatusCode> {
    Targets::of(&st.app).remove(&actor, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

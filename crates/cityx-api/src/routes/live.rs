//! Live channels: create and share them, get the ingest address and stream key, and watch
//! their HLS output with its time-shift window.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cityx_core::live::{Channel, ChannelInput};
use cityx_core::{Actor, ChannelId};
use cityx_live::{ChannelWithKey, Live};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A channel's fields as the API takes them; on PATCH, what is absent stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// `private` (own station), `stations` (those in `shared_with`), `exchange` (every
    /// station) or `public`. Default `private`.
    #[schema(value_type = Option<cityx_core::Visibility>)]
    pub visibility: Option<String>,
    #[schema(value_type = Option<Vec<cityx_core::StationId>>)]
    pub shared_with: Option<Vec<String>>,
    /// Publishes above this rate are cut off (0: no limit).
    #[schema(maximum = 200000)]
    pub max_kbps: Option<u32>,
    /// Publishes taller than this are cut off (0: no limit).
    #[schema(maximum = 4320)]
    pub max_height: Option<u32>,
    /// The time-shift window in minutes (1–1440, default 120).
    #[schema(minimum = 1, maximum = 1440)]
    pub dvr_minutes: Option<u32>,
    /// Record every broadcast into items (parts of at most two hours).
    pub record: Option<bool>,
    /// Pull the signal instead of taking a publisher: `rtmp(s)://host/app/stream`,
    /// `rtsp://host[:port]/path`, `srt://host:port[?streamid=…&passphrase=…]`,
    /// `http(s)://…/index.m3u8` (HLS, MPEG-TS segments) or `channel:<id>` (another channel
    /// shared with the station). Empty: published to (the default).
    #[schema(max_length = 1024)]
    pub pull_url: Option<String>,
    /// The addresses publishers may come from (IP addresses or CIDRs such as
    /// `203.0.113.0/24`, at most 50); empty: anyone with the key.
    #[schema(max_items = 50)]
    pub publish_cidrs: Option<Vec<String>>,
    /// Heights of lower renditions encoded beside the input's copy, for players that switch
    /// by bandwidth (an ABR ladder, `master.m3u8`): up to 3 of 1080, 720, 540, 480, 360,
    /// 240; those not below the input's height are left out. Empty: the copy alone.
    #[schema(max_items = 3)]
    pub renditions: Option<Vec<u32>>,
    /// Daily windows in which broadcasts are recorded (Beijing time, `HH:MM-HH:MM` or with
    /// seconds; past midnight allowed, at most 12), besides `record` (every broadcast):
    /// each window's part becomes an item when it ends.
    #[schema(max_items = 12)]
    pub record_windows: Option<Vec<String>>,
}

/// The passphrase SRT publishers must encrypt with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassphraseBody {
    /// 10 to 79 printable ASCII characters, not starting or ending with a space.
    #[schema(min_length = 10, max_length = 79, pattern = "^[!-~][ -~]{8,77}[!-~]$")]
    pub passphrase: String,
}

/// Where and how the channel's encoder publishes (for its station's admins).
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestInfo {
    /// The RTMP server address to give the encoder; the stream key goes beside it.
    pub rtmp_url: Option<String>,
    /// The SRT address to give the encoder, with the streamid `#!::r=<stream key>,m=publish`.
    pub srt_url: Option<String>,
    /// The stream key's last four characters (the key itself is shown only when it is made).
    pub key_hint: String,
}

/// A channel with where to watch it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub channel: Channel,
    /// The HLS playlist, with the time-shift window.
    pub playlist_url: String,
    /// The latest thumbnail (a new one every few seconds while live).
    pub thumbnail_url: String,
    /// For those who may change the channel.
    pub ingest: Option<IngestInfo>,
}

/// A new channel or key, with the key shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelKeyView {
    #[serde(flatten)]
    pub view: ChannelView,
    /// The stream key. Shown this once; rotate it to get a new one.
    pub stream_key: String,
}

pub(crate) fn view_of(st: &HttpState, actor: &Actor, channel: Channel) -> ChannelView {
    let base = format!("/api/v1/channels/{}/hls", channel.id);
    let ingest = Live::may_manage(actor, &channel).then(|| IngestInfo {
        rtmp_url: st.http.rtmp_url.clone(),
        srt_url: st.http.srt_url.clone(),
        key_hint: channel.key_hint.clone(),
    });
    ChannelView {
        playlist_url: format!("{base}/index.m3u8"),
        thumbnail_url: format!("{base}/thumb.jpg"),
        ingest,
        channel,
    }
}

fn with_key(st: &HttpState, actor: &Actor, made: ChannelWithKey) -> ChannelKeyView {
    ChannelKeyView {
        view: view_of(st, actor, made.channel),
        stream_key: made.stream_key,
    }
}

fn input_of<'a>(
    body: &'a ChannelBody,
    current: Option<&'a Channel>,
) -> (ChannelInput<'a>, Vec<String>) {
    let shared: Vec<String> = match (&body.shared_with, current) {
        (Some(list), _) => list.clone(),
        (None, Some(c)) => c.shared_with.iter().map(ToString::to_string).collect(),
        (None, None) => Vec::new(),
    };
    let cidrs: Vec<&str> = match (&body.publish_cidrs, current) {
        (Some(list), _) => list.iter().map(String::as_str).collect(),
        (None, Some(c)) => c.publish_cidrs.iter().map(String::as_str).collect(),
        (None, None) => Vec::new(),
    };
    let windows: Vec<&str> = match (&body.record_windows, current) {
        (Some(list), _) => list.iter().map(String::as_str).collect(),
        (None, Some(c)) => c.record_windows.iter().map(String::as_str).collect(),
        (None, None) => Vec::new(),
    };
    let input = ChannelInput {
        name: body
            .name
            .as_deref()
            .or(current.map(|c| c.name.as_str()))
            .unwrap_or(""),
        description: body
            .description
            .as_deref()
            .or(current.map(|c| c.description.as_str()))
            .unwrap_or(""),
        visibility: body
            .visibility
            .as_deref()
            .or(current.map(|c| c.visibility.as_str()))
            .unwrap_or(""),
        shared_with: Vec::new(),
        max_kbps: body.max_kbps.or(current.map(|c| c.max_kbps)).unwrap_or(0),
        max_height: body
            .max_height
            .or(current.map(|c| c.max_height))
            .unwrap_or(0),
        dvr_minutes: body
            .dvr_minutes
            .or(current.map(|c| c.dvr_minutes))
            .unwrap_or(0),
        record: body.record.or(current.map(|c| c.record)).unwrap_or(false),
        record_windows: windows,
        pull_url: body
            .pull_url
            .as_deref()
            .or(current.and_then(|c| c.pull_url.as_deref()))
            .unwrap_or(""),
        publish_cidrs: cidrs,
        renditions: body
            .renditions
            .clone()
            .or(current.map(|c| c.renditions.clone()))
            .unwrap_or_default(),
    };
    (input, shared)
}

/// Creates a live channel for the caller's station (station admins, `admin` scope) and
/// shows its stream key once.
#[utoipa::path(post, path = "/api/v1/channels", tag = "live",
    request_body = ChannelBody,
    responses(
        (status = 201, description = "Created; `stream_key` is shown this once", body = ChannelKeyView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a station admin, or no `admin` scope", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields, or too many channels", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ChannelBody>,
) -> ApiResult<(StatusCode, Json<ChannelKeyView>)> {
    let (mut input, shared) = input_of(&body, None);
    input.shared_with = shared.iter().map(String::as_str).collect();
    let made = Live::of(&st.app).create(&actor, &input).await?;
    Ok((StatusCode::CREATED, Json(with_key(&st, &actor, made))))
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    pub items: Vec<ChannelView>,
}

/// The channels the caller may watch (its station's and those shared with it; all for the
/// hub), live ones first.
#[utoipa::path(get, path = "/api/v1/channels", tag = "live",
    responses(
        (status = 200, description = "Channels", body = ChannelList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
) -> ApiResult<Json<ChannelList>> {
    let items = Live::of(&st.app).list(&actor).await?;
    Ok(Json(ChannelList {
        items: items.into_iter().map(|c| view_of(&st, &actor, c)).collect(),
    }))
}

/// A channel the caller may watch, with its state and input health.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such channel the caller may watch", body = ErrorBody),
    ))]
pub async fn get(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> ApiResult<Json<ChannelView>> {
    let channel = Live::of(&st.app).get(&actor, id).await?;
    Ok(Json(view_of(&st, &actor, channel)))
}

/// Changes a channel's name, sharing, limits or window; absent fields stay.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    request_body = ChannelBody,
    responses(
        (status = 200, description = "The channel as it is now", body = ChannelView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> ApiResult<Json<ChannelView>> {
    let live = Live::of(&st.app);
    let current = live.get(&actor, id).await?;
    let (mut input, shared) = input_of(&body, Some(&current));
    input.shared_with = shared.iter().map(String::as_str).collect();
    let channel = live.update(&actor, id, &input).await?;
    Ok(Json(view_of(&st, &actor, channel)))
}

/// Deletes a channel and its time-shift window; a publisher is cut off within seconds.
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> ApiResult<StatusCode> {
    Live::of(&st.app).delete(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the stream key and shows the new one once; the old key is refused from now on.
#[utoipa::path(post, path = "/api/v1/channels/{id}/key", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The new key, shown this once", body = ChannelKeyView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
    ))]
pub async fn rotate_key(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> ApiResult<Json<ChannelKeyView>> {
    let made = Live::of(&st.app).rotate_key(&actor, id).await?;
    Ok(Json(with_key(&st, &actor, made)))
}

/// Sets the passphrase SRT publishers of the channel must encrypt with (AES, as the caller
/// chooses the key length); from the next connection on, an SRT publisher without it, or
/// with another, is refused. It is stored sealed and never shown again (its last four
/// characters are the channel's `srt_passphrase_hint`).
#[utoipa::path(put, path = "/api/v1/channels/{id}/srt-passphrase", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    request_body = PassphraseBody,
    responses(
        (status = 200, description = "The channel, with the passphrase's hint", body = ChannelView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Not 10 to 79 printable ASCII characters (`passphrase`)", body = ErrorBody),
    ))]
pub async fn set_passphrase(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<PassphraseBody>,
) -> ApiResult<Json<ChannelView>> {
    let ch = Live::of(&st.app)
        .set_srt_passphrase(&actor, id, Some(&body.passphrase))
        .await?;
    Ok(Json(view_of(&st, &actor, ch)))
}

/// Removes the SRT passphrase: SRT publishers send in the clear again (and one that
/// encrypts is refused).
#[utoipa::path(delete, path = "/api/v1/channels/{id}/srt-passphrase", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel, without a passphrase", body = ChannelView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of its station, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such channel of the caller's station", body = ErrorBody),
    ))]
pub async fn remove_passphrase(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> ApiResult<Json<ChannelView>> {
    let ch = Live::of(&st.app)
        .set_srt_passphrase(&actor, id, None)
        .await?;
    Ok(Json(view_of(&st, &actor, ch)))
}

/// Where the caller may watch a channel from: an expiring signed prefix carrying the
/// caller's rights, under which the channel's playlist, segments and thumbnail are served
/// without a session (for players, and for a CDN in front).
#[utoipa::path(get, path = "/api/v1/channels/{id}/media", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The signed prefix and the playlist under it", body = cityx_live::LiveLink),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such channel the caller may watch", body = ErrorBody),
    ))]
pub async fn media_link(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> ApiResult<Json<cityx_live::LiveLink>> {
    Ok(Json(Live::of(&st.app).media_link(&actor, id).await?))
}

/// A file of a channel's output under a signed prefix (`base` of
/// `GET /api/v1/channels/{id}/media`): `index.m3u8`, `<session>/<n>.ts` or `thumb.jpg`. No
/// session: the link is the credential, and the viewer's rights of the moment still apply
/// (within 2 s).
#[utoipa::path(get, path = "/api/v1/live/{grant}/{path}", tag = "live", security(()),
    params(
        ("grant" = String, Path, description = "The signed part of the link"),
        ("path" = String, Path, description = "The file, e.g. `index.m3u8`"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/vnd.apple.mpegurl"),
        (status = 403, description = "The link was changed or has expired", body = ErrorBody),
        (status = 404, description = "The channel is no longer watchable under the link, or no such file", body = ErrorBody),
    ))]
pub async fn media_file(
    State(st): State<HttpState>,
    ApiPath((grant, path)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let file = Live::of(&st.app).media_file(&grant, &path).await?;
    Ok(live_file(file))
}

/// A live file as an answer.
fn live_file(file: cityx_live::LiveFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CACHE_CONTROL, file.cache_control),
        ],
        file.bytes,
    )
        .into_response()
}

/// A file of the channel's HLS output: `index.m3u8` (the playlist with the time-shift
/// window; `#EXT-X-ENDLIST` once a broadcast ended), `<session>/<n>.ts` (segments) or
/// `thumb.jpg`.
#[utoipa::path(get, path = "/api/v1/channels/{id}/hls/{path}", tag = "live",
    params(
        ("id" = ChannelId, Path, description = "Channel id"),
        ("path" = String, Path, description = "index.m3u8, <session>/<n>.ts or thumb.jpg"),
    ),
    responses(
        (status = 200, description = "The file"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such channel the caller may watch, or no such file (yet)", body = ErrorBody),
    ))]
pub async fn hls(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath((id, path)): ApiPath<(ChannelId, String)>,
) -> ApiResult<Response> {
    let file = Live::of(&st.app).file(&actor, id, &path).await?;
    Ok(live_file(file))
}

/// A clip of a channel's time-shift window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipBody {
    /// The in point (RFC 3339; the playlist's `EXT-X-PROGRAM-DATE-TIME` clock).
    #[serde(with = "time::serde::rfc3339")]
    pub from: time::OffsetDateTime,
    /// The out point.
    #[serde(with = "time::serde::rfc3339")]
    pub to: time::OffsetDateTime,
    /// The item's title; default the channel's name and the in point's time.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub title: String,
}

/// The item a clip becomes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClipMade {
    pub asset: cityx_core::Asset,
}

/// Cuts a range of the channel's time-shift window into a new item of the channel's station
/// (its editors and admins, or the hub), by stream copy: the cut starts on the keyframe at or
/// before `from`. The item goes through the normal pipeline; it is `uploading` until the
/// clip is cut, seconds later.
#[utoipa::path(post, path = "/api/v1/channels/{id}/clips", tag = "live",
    params(("id" = ChannelId, Path, description = "Channel id")),
    request_body = ClipBody,
    responses(
        (status = 202, description = "The item, being made", body = ClipMade),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an editor of the channel's station, or no `write` scope", body = ErrorBody),
        (status = 404, description = "No such channel the caller may watch", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "The range is outside the window, reversed, too long or spans two broadcasts", body = ErrorBody),
    ))]
pub async fn clip(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(body): ApiJson<ClipBody>,
) -> ApiResult<(StatusCode, Json<ClipMade>)> {
    let asset = Live::of(&st.app)
        .clip(&st.app, &actor, id, body.from, body.to, &body.title)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(ClipMade { asset })))
}

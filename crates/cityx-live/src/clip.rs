//! Instant clips (直播剪辑): an editor marks in and out on a channel's time-shift window and
//! gets an item of the exchange. The request creates the item (`uploading`) with a
//! `live_clip` job; the job joins the stored segments that cover the range (MPEG-TS segments
//! of one session join byte for byte), and a hardened ffmpeg copies the range out of them
//! into an MP4 (no re-encode: the cut starts on the keyframe at or before the in point, so a
//! clip may start up to one keyframe interval early), which arrives as the item's master and
//! goes through the normal pipeline (probe, transcode, QC, search).

use cityx_app::{App, Error, Result};
use cityx_core::live::{CLIP_JOB, MAX_CLIP_SECS};
use cityx_core::{Actor, Asset, AssetInput, ChannelId};
use cityx_db::ClaimedJob;
use cityx_media::live::{LivePlaylist, LiveSegment};
use cityx_queue::{Handler, JobError, Progress};
use cityx_storage::StorageKey;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

/// What a clip job is to cut.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClipOrder {
    pub channel: ChannelId,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// A recorded part (`<session>/part-<n>.m3u8`): all its segments, instead of a range of
    /// the channel's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

/// The channel's playlist as stored now (or another playlist of the channel: a recorded
/// part's).
pub(crate) async fn stored_playlist(
    storage: &cityx_storage::Storage,
    channel: ChannelId,
) -> Option<LivePlaylist> {
    stored_list(storage, channel, "index.m3u8").await
}

async fn stored_list(
    storage: &cityx_storage::Storage,
    channel: ChannelId,
    name: &str,
) -> Option<LivePlaylist> {
    let key = StorageKey::live(channel, name)?;
    let (_, bytes) = storage
        .read_small(&key, cityx_app::SMALL_FILE)
        .await
        .ok()??;
    LivePlaylist::parse(&String::from_utf8_lossy(&bytes))
}

fn range_error(code: &'static str, message: String) -> Error {
    Error::field("from", code, message)
}

/// Checks a clip's range against the window; the segments it needs, all of one session.
pub(crate) fn segments_for(
    playlist: &LivePlaylist,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<&LiveSegment>> {
    if to <= from {
        return Err(range_error(
            "reversed",
            "the out point must come after the in point".into(),
        ));
    }
    if (to - from).as_seconds_f64() > f64::from(MAX_CLIP_SECS) {
        return Err(range_error(
            "clip_too_long",
            format!("a clip is at most {} minutes", MAX_CLIP_SECS / 60),
        ));
    }
    let (Some(first), Some(last)) = (playlist.segments.first(), playlist.segments.last()) else {
        return Err(range_error(
            "nothing_recorded",
            "the channel has nothing recorded yet".into(),
        ));
    };
    let end = last.at + time::Duration::seconds_f64(last.duration);
    // A second of slack either side: players round the times they show.
    let slack = time::Duration::seconds(1);
    if from < first.at - slack || to > end + slack {
        return Err(range_error(
            "outside_window",
            "the range is outside the time-shift window".into(),
        ));
    }
    let hit = playlist.range(from, to);
    let session = |s: &LiveSegment| s.uri.split('/').next().unwrap_or_default().to_owned();
    if let Some(s) = hit.first()
        && hit.iter().any(|x| session(x) != session(s))
    {
        return Err(range_error(
            "two_broadcasts",
            "the range spans two broadcasts: clip each one on its own".into(),
        ));
    }
    if hit.is_empty() {
        return Err(range_error(
            "outside_window",
            "no recorded picture in the range".into(),
        ));
    }
    Ok(hit)
}

impl crate::Live<'_> {
    /// Cuts `[from, to)` of a channel's window into a new item of the channel's station
    /// (its editors and admins, or the hub), titled `title`.
    pub async fn clip(
        &self,
        app: &App,
        actor: &Actor,
        id: ChannelId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        title: &str,
    ) -> Result<Asset> {
        let channel = self.get(actor, id).await?;
        cityx_core::policy::make_items_for(actor, channel.station_id)?;
        let playlist = stored_playlist(app.storage(), id).await.ok_or_else(|| {
            range_error(
                "nothing_recorded",
                "the channel has nothing recorded yet".into(),
            )
        })?;
        segments_for(&playlist, from, to)?;
        let title = if title.trim().is_empty() {
            format!("{} {}", channel.name, crate::context::beijing_time(from))
        } else {
            title.trim().to_owned()
        };
        let input = AssetInput {
            title: &title,
            filename: "clip.mp4",
            ..AssetInput::default()
        };
        let order = ClipOrder {
            channel: id,
            from,
            to,
            part: None,
        };
        app.ingest()
            .create_made_item(
                actor,
                channel.station_id,
                &input,
                format!("live:{id}"),
                CLIP_JOB,
                serde_json::to_value(&order).map_err(|e| Error::Internal(Box::new(e)))?,
            )
            .await
    }
}

/// `live_clip`: joins the segments of a clip's range, copies the range into an MP4 and hands
/// it to the item as its master.
pub struct ClipJob {
    pub app: Arc<App>,
    pub tools: cityx_media::Tools,
    pub work_root: PathBuf,
}

fn transient(e: impl std::fmt::Display) -> JobError {
    JobError::Transient(e.to_string())
}

#[async_trait::async_trait]
impl Handler for ClipJob {
    fn kind(&self) -> &'static str {
        CLIP_JOB
    }

    async fn run(&self, job: &ClaimedJob, _progress: &Progress) -> Result<(), JobError> {
        let order: ClipOrder = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("not a clip order: {e}")))?;
        let storage = self.app.storage();
        let gone = || JobError::Permanent("the channel's recording is gone".into());
        let listed = match &order.part {
            Some(part) => stored_list(storage, order.channel, part).await,
            None => stored_playlist(storage, order.channel).await,
        }
        .ok_or_else(gone)?;
        let segments = match &order.part {
            Some(_) => listed.segments.iter().collect(),
            None => segments_for(&listed, order.from, order.to)
                .map_err(|e| JobError::Permanent(e.to_string()))?,
        };
        let work = self.work_root.join(job.id.to_string());
        let _ = tokio::fs::remove_dir_all(&work).await;
        tokio::fs::create_dir_all(&work).await.map_err(transient)?;
        let result = self.cut(&order, &segments, &work, job).await;
        let _ = tokio::fs::remove_dir_all(&work).await;
        if result.is_ok()
            && let Some(part) = &order.part
        {
            self.forget_recorded(order.channel, part, &segments).await;
        }
        result
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        if let Some(asset) = job.asset_id()
            && let Err(e) = self.app.pipeline().fail_asset(asset, error).await
        {
            tracing::error!(%asset, error = %e, "cannot mark a clip failed");
        }
        // A recording that cannot be made keeps nothing: its list and the segments the
        // window no longer shows go.
        if let Ok(ClipOrder {
            channel,
            part: Some(part),
            ..
        }) = serde_json::from_value::<ClipOrder>(job.payload.clone())
        {
            let listed = stored_list(self.app.storage(), channel, &part)
                .await
                .unwrap_or_default();
            let segments: Vec<&LiveSegment> = listed.segments.iter().collect();
            self.forget_recorded(channel, &part, &segments).await;
        }
    }
}

impl ClipJob {
    /// Removes a recorded part's list and those of its segments that the channel's window
    /// no longer shows (they were kept only for the recording).
    async fn forget_recorded(&self, channel: ChannelId, part: &str, segments: &[&LiveSegment]) {
        let storage = self.app.storage();
        let window = stored_playlist(storage, channel).await.unwrap_or_default();
        let shown: std::collections::HashSet<&str> =
            window.segments.iter().map(|s| s.uri.as_str()).collect();
        for s in segments.iter().filter(|s| !shown.contains(s.uri.as_str())) {
            if let Some(key) = StorageKey::live(channel, &s.uri) {
                let _ = storage.delete(&key).await;
            }
        }
        if let Some(key) = StorageKey::live(channel, part) {
            let _ = storage.delete(&key).await;
        }
    }

    async fn cut(
        &self,
        order: &ClipOrder,
        segments: &[&LiveSegment],
        work: &std::path::Path,
        job: &ClaimedJob,
    ) -> Result<(), JobError> {
        let joined = work.join("range.ts");
        let mut out = tokio::fs::File::create(&joined).await.map_err(transient)?;
        for s in segments {
            let key = StorageKey::live(order.channel, &s.uri)
                .ok_or_else(|| JobError::Permanent(format!("a bad segment name {}", s.uri)))?;
            let (_, bytes) = self
                .app
                .storage()
                .read_small(&key, crate::context::LIVE_FILE)
                .await
                .map_err(transient)?
                .ok_or_else(|| JobError::Permanent(format!("segment {} is too large", s.uri)))?;
            out.write_all(&bytes).await.map_err(transient)?;
        }
        out.flush().await.map_err(transient)?;
        drop(out);
        let start = segments.first().map_or(order.from, |s| s.at);
        let offset = (order.from - start).as_seconds_f64().max(0.0);
        let length = (order.to - order.from).as_seconds_f64();
        let clip = work.join("clip.mp4");
        let args = cityx_media::live::clip_args(&joined, offset, length, &clip);
        let limits = cityx_media::process::Limits {
            wall: std::time::Duration::from_secs(600),
            stall: self.tools.stall,
            max_stdout: 64 * 1024,
        };
        cityx_media::process::run(&self.tools.ffmpeg, &args, work, &limits)
            .await
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        let held = self
            .app
            .ingest()
            .master_made(job, &clip)
            .await
            .map_err(|e| match e {
                e if e.is_not_found() => JobError::Permanent(e.to_string()),
                Error::QuotaExceeded { .. } => JobError::Permanent(e.to_string()),
                e => JobError::Transient(e.to_string()),
            })?;
        if !held {
            return Err(JobError::Transient(
                "the job's lease passed to another worker".into(),
            ));
        }
        Ok(())
    }
}

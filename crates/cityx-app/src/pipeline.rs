//! The media pipeline's side of the application: what jobs need (the master as a file,
//! fenced writes of their results, storing what they made, a wake-up for the runner) and
//! serving what they made to callers who may see the item.

use crate::{Error, Result};
use bytes::Bytes;
use cityx_core::subject::Subject;
use cityx_core::{Actor, AssetId, JobId, policy};
use cityx_db::{ClaimedJob, NewJob, Processed};
use cityx_storage::{ObjectInfo, StorageKey};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What the media jobs record and store, and the dead-job list. See [`App::pipeline`](crate::App::pipeline).
#[derive(Clone, Copy)]
pub struct Pipeline<'a> {
    pub(crate) pipeline: &'a dyn cityx_db::PipelineRepo,
    pub(crate) queue: &'a dyn cityx_db::QueueRepo,
    pub(crate) exchange: &'a dyn cityx_db::ExchangeRepo,
    pub(crate) ingest: &'a dyn cityx_db::IngestRepo,
    pub(crate) storage: &'a cityx_storage::Storage,
    pub(crate) media: &'a crate::media::MediaCache,
    pub(crate) jobs_ready: &'a std::sync::Arc<tokio::sync::Notify>,
}

/// Job kinds. Stored data: never rename one.
pub const PROBE_JOB: &str = "probe";
pub const TRANSCODE_JOB: &str = "transcode";

/// How often a pipeline job is tried before it goes dead.
const MAX_ATTEMPTS: u32 = 5;

/// A job for an asset's station, due now.
pub(crate) fn asset_job(
    kind: &'static str,
    asset: AssetId,
    station: cityx_core::StationId,
) -> NewJob {
    NewJob::about(kind, Subject::asset(asset), Some(station), MAX_ATTEMPTS)
}

/// A stored file of an item, checked and ready to stream.
#[derive(Clone, Debug)]
pub struct AssetFile {
    pub(crate) key: StorageKey,
    pub info: ObjectInfo,
    /// The file name's extension, for the media type.
    pub extension: String,
    /// The whole file, when it is small enough to be served from memory.
    pub(crate) body: Option<Bytes>,
}

impl AssetFile {
    /// The whole file in memory, for serving without another read; `None` when it is
    /// streamed ([`Pipeline::read_asset_file`]).
    pub fn in_memory(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }
}

/// The longest a presigned URL of the store lives: a client follows it at once, and a
/// download resumed later comes back through the cityx link for a new one.
const PRESIGNED_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Pipeline<'_> {
    /// Where the client may fetch `file` straight from the object store (with
    /// `storage.presign_downloads` on S3), answered with this `Content-Disposition` and
    /// `Content-Type`, valid until the link it came through expires (`until`, Unix seconds)
    /// but at most 15 minutes; `None` when this node serves it itself.
    pub fn presigned_download(
        &self,
        file: &AssetFile,
        until: i64,
        (disposition, content_type): (&str, &str),
    ) -> Option<String> {
        let headers = cityx_storage::ResponseHeaders {
            content_disposition: Some(disposition),
            content_type: Some(content_type),
        };
        let left = until.saturating_sub(cityx_core::now().unix_timestamp());
        let ttl = std::time::Duration::from_secs(u64::try_from(left).unwrap_or(0).max(1))
            .min(PRESIGNED_TTL);
        self.storage.presigned_get(&file.key, ttl, &headers)
    }
}

/// Whether a caller may fetch this path of an item: only what the pipeline derives (the
/// master is an adoption, with its own rules).
pub(crate) fn servable(relative: &str) -> bool {
    ["hls/", "thumbs/", "storyboard/"]
        .iter()
        .any(|p| relative.starts_with(p))
        || matches!(relative, "proxy.mp4" | "poster.jpg")
}

pub(crate) fn storage_error(e: cityx_storage::Error) -> Error {
    if e.is_not_found() {
        Error::NotFound("file")
    } else {
        Error::Internal(Box::new(e))
    }
}

impl Pipeline<'_> {
    /// Signalled whenever a job is enqueued here, so that an idle runner starts at once
    /// instead of at its next poll.
    pub fn job_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.jobs_ready.clone()
    }

    /// A local file with the master's bytes: the stored object itself when storage is a
    /// local directory, else a copy in `scratch`. For jobs.
    pub async fn master_file(&self, asset: AssetId, scratch: &Path) -> Result<PathBuf> {
        let key = StorageKey::master(asset);
        if let Some(path) = self.storage.local_path(&key) {
            return Ok(path);
        }
        let to = scratch.join("master");
        self.storage
            .download(&key, &to)
            .await
            .map_err(storage_error)?;
        Ok(to)
    }

    /// Records what probing found and enqueues the transcode, once. False when the job's
    /// lease was lost (nothing written). For jobs.
    pub async fn record_technical(&self, job: &ClaimedJob, technical_json: &str) -> Result<bool> {
        let (asset, station) = job_asset(job)?;
        let next = asset_job(TRANSCODE_JOB, asset, station);
        let done = self
            .pipeline
            .record_technical(job, technical_json, &[next])
            .await?;
        self.jobs_ready.notify_one();
        Ok(done)
    }

    /// What the probe recorded about an item's master. For jobs.
    pub async fn technical_of(&self, asset: AssetId) -> Result<Option<serde_json::Value>> {
        Ok(self
            .ingest
            .get_asset(cityx_core::TenantScope::All, asset)
            .await?
            .technical)
    }

    /// Points the item at a playlist that plays; with `only_first`, only if none does yet.
    /// For jobs.
    pub async fn set_playback(
        &self,
        job: &ClaimedJob,
        playlist: &str,
        only_first: bool,
    ) -> Result<bool> {
        Ok(self
            .pipeline
            .set_playback(job, playlist, only_first)
            .await?)
    }

    /// Records what processing made and ends it. For jobs.
    pub async fn finish_processing(&self, job: &ClaimedJob, done: &Processed) -> Result<bool> {
        Ok(self.pipeline.finish_processing(job, done).await?)
    }

    /// Marks an item failed with the reason its uploader will read. For jobs.
    pub async fn fail_asset(&self, asset: AssetId, reason: &str) -> Result<()> {
        Ok(self.pipeline.fail_asset(asset, reason).await?)
    }

    /// Moves a finished file into the item's stored files (a rename on local storage).
    pub async fn store_file(&self, asset: AssetId, relative: &str, file: &Path) -> Result<()> {
        let key = derived_key(asset, relative)?;
        self.storage
            .put_file(&key, file)
            .await
            .map_err(storage_error)
    }

    /// Stores generated text (playlists, WebVTT) as one of the item's files; readers see the
    /// old or the new version, never a mix.
    pub async fn store_bytes(&self, asset: AssetId, relative: &str, bytes: Bytes) -> Result<()> {
        let key = derived_key(asset, relative)?;
        self.storage.put(&key, bytes).await.map_err(storage_error)
    }

    /// Jobs that gave up, newest first, with their last error. Operators only.
    pub async fn dead_jobs(&self, actor: &Actor, limit: u32) -> Result<Vec<cityx_db::DeadJob>> {
        policy::operate(actor)?;
        Ok(self.queue.dead_jobs(limit.clamp(1, 500)).await?)
    }

    /// Runs a dead job again with fresh attempts (its failed item is processing again).
    /// Operators only.
    pub async fn rerun_job(&self, actor: &Actor, id: JobId) -> Result<()> {
        policy::operate(actor)?;
        self.queue.requeue_job(id).await?;
        tracing::info!(job = %id, by = ?actor.user_id, "dead job re-run");
        self.jobs_ready.notify_one();
        Ok(())
    }

    /// Finds one of an item's derived files for a caller who may see the item.
    pub async fn asset_file(
        &self,
        actor: &Actor,
        id: AssetId,
        relative: &str,
    ) -> Result<AssetFile> {
        // The item first: a caller who may not see it learns nothing about its files.
        let asset = crate::assets::readable_asset(self.exchange, actor, id).await?;
        let settled = asset.status == cityx_core::AssetStatus::Ready;
        crate::media::load_file(
            self.storage,
            self.media,
            id,
            settled.then(|| cityx_core::epoch_ms(asset.updated_at)),
            relative,
        )
        .await
    }

    /// Streams a file found by [`Pipeline::asset_file`]; `range` lies within its size.
    pub async fn read_asset_file(
        &self,
        file: &AssetFile,
        range: Range<u64>,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>> {
        self.storage
            .read(&file.key, range)
            .await
            .map_err(storage_error)
    }
}

/// A file name's extension in lower case, for its media type; empty without one.
pub(crate) fn extension_of(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn derived_key(asset: AssetId, relative: &str) -> Result<StorageKey> {
    StorageKey::derived(asset, relative)
        .ok_or_else(|| Error::Internal(format!("not a storable name: {relative}").into()))
}

fn job_asset(job: &ClaimedJob) -> Result<(AssetId, cityx_core::StationId)> {
    match (job.asset_id(), job.station_id) {
        (Some(a), Some(s)) => Ok((a, s)),
        _ => Err(Error::Internal(
            format!("job {} has no item", job.id).into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_derived_files_are_served() {
        for ok in [
            "hls/master.m3u8",
            "hls/720p/seg_00001.ts",
            "proxy.mp4",
            "poster.jpg",
            "thumbs/thumb_001.jpg",
            "storyboard/sb_001.jpg",
        ] {
            assert!(super::servable(ok), "{ok}");
        }
        for no in ["master", "", "proxy.mp4.tmp", "hlsx/a", "../master"] {
            assert!(!super::servable(no), "{no}");
        }
    }
}

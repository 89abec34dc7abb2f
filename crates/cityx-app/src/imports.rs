//! Imports by URL: an item whose master cityx fetches itself, through the outbound-fetch
//! guard, instead of receiving it by upload. The request creates the item (`uploading`) and
//! its `import` job in one transaction; the job streams the body to a file while hashing it,
//! stores it, and records its arrival like a finished upload (quota checked then), which
//! enqueues the probe. Items a subsystem makes itself (a live clip, a recording) take the same
//! way with a job of their own: [`Ingest::create_made_item`] and [`Ingest::master_made`].

use crate::uploads::Running;
use crate::{Error, Ingest, Result};
use cityx_core::{
    Actor, Asset, AssetInput, AssetStatus, AuditAction, NewAudit, TenantScope, policy,
};
use cityx_db::ClaimedJob;
use cityx_fetch::FetchError;
use cityx_storage::StorageKey;
use std::path::Path;
use tokio::io::AsyncWriteExt;

pub const IMPORT_JOB: &str = "import";

/// How an import's failure begins in the item's `failure`; the reason follows.
pub const IMPORT_FAILURE: &str = "import failed: ";

/// A URL that cannot be imported, as the field error the form and the API show.
/// A URL the outbound guard refused, as the `url` field's error.
pub fn url_refused(e: FetchError) -> Error {
    Error::field("url", e.code(), e.to_string())
}

/// The file name a URL suggests: its last path segment, decoded.
fn name_from(url: &cityx_fetch::Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .chars()
                .filter(|&c| !cityx_core::validate::forbidden_in_text(c))
                .collect()
        })
        .unwrap_or_else(|| "import".to_owned())
}

impl Ingest<'_> {
    /// Starts an import: checks the URL through the guard (a private or unresolvable address
    /// is refused now, with a field error on `url`), then creates the item and its job.
    pub async fn create_import(
        &self,
        actor: &Actor,
        url: &str,
        input: &AssetInput<'_>,
    ) -> Result<Asset> {
        policy::contribute(actor)?;
        let station_id = actor.station_id.ok_or(Error::Forbidden)?;
        let uploader_id = actor.user_id.ok_or(Error::Forbidden)?;
        let parsed = self.fetch.parse(url).map_err(url_refused)?;
        let suggested = name_from(&parsed);
        let input = AssetInput {
            filename: if input.filename.trim().is_empty() {
                &suggested
            } else {
                input.filename
            },
            ..input.clone()
        };
        let meta = crate::exchange::with_keywords(input.validate()?).await;
        self.fetch.admit(&parsed).await.map_err(url_refused)?;
        let made = MadeItem {
            station: station_id,
            uploader: uploader_id,
            source: parsed.to_string(),
            job: IMPORT_JOB,
            payload: serde_json::Value::Null,
            action: AuditAction::ImportCreated,
        };
        self.create_made(actor, meta, made).await
    }

    /// Creates an item whose master a job of `made.job` will make or fetch (`uploading`,
    /// with the job, in one transaction).
    async fn create_made(
        &self,
        actor: &Actor,
        meta: cityx_core::AssetMeta,
        made: MadeItem,
    ) -> Result<Asset> {
        let mut asset = Asset::uploading(made.station, made.uploader, meta, 0, cityx_core::now());
        asset.visibility = self.new_item_visibility(made.station, "").await?;
        asset.source_url = Some(made.source.clone());
        let mut job = crate::pipeline::asset_job(made.job, asset.id, made.station);
        job.payload = made.payload;
        let audit = NewAudit::by(actor, made.action, "asset", asset.id, Some(made.station))
            .detail("url", made.source.as_str());
        self.ingest
            .create_import(&asset, &job, &self.uploads.limits(), &audit)
            .await?;
        self.jobs_ready.notify_one();
        Ok(asset)
    }

    /// An item made from a station's own live channel (a clip, a recording): created
    /// `uploading` with the job (`job`, with its `payload`) that makes its master, which
    /// then calls [`Ingest::master_made`]. `source` says where it comes from
    /// (`live:<channel>` …). Allowed to the station's editors and admins, and to the hub.
    pub async fn create_made_item(
        &self,
        actor: &Actor,
        station: cityx_core::StationId,
        input: &AssetInput<'_>,
        source: String,
        job: &'static str,
        payload: serde_json::Value,
    ) -> Result<Asset> {
        policy::make_items_for(actor, station)?;
        let uploader = actor.user_id.ok_or(Error::Forbidden)?;
        let meta = crate::exchange::with_keywords(input.validate()?).await;
        let made = MadeItem::made(station, uploader, source, job, payload);
        self.create_made(actor, meta, made).await
    }

    /// An item the system makes of a station's own material (a recorded broadcast), uploaded
    /// in `uploader`'s name (the channel's creator): like [`Ingest::create_made_item`], but
    /// asked by no one, so audited as the system's.
    pub async fn create_recorded_item(
        &self,
        station: cityx_core::StationId,
        uploader: cityx_core::UserId,
        input: &AssetInput<'_>,
        source: String,
        job: &'static str,
        payload: serde_json::Value,
    ) -> Result<Asset> {
        let meta = crate::exchange::with_keywords(input.validate()?).await;
        let made = MadeItem::made(station, uploader, source, job, payload);
        self.create_made(&Actor::system(), meta, made).await
    }

    /// The master a job made in `file` arrives for the job's item: hashed, stored and
    /// recorded like a finished upload (the quota checked then), which enqueues the probe.
    /// False when the job's lease passed to another worker.
    pub async fn master_made(&self, job: &ClaimedJob, file: &Path) -> Result<bool> {
        use tokio::io::AsyncReadExt;
        let id = job.asset_id().ok_or(Error::NotFound("asset"))?;
        let asset = self.ingest.get_asset(TenantScope::All, id).await?;
        if asset.status != AssetStatus::Uploading || asset.deleted_at.is_some() {
            return Ok(true);
        }
        let io = |e: std::io::Error| Error::Internal(Box::new(e));
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let mut running = Running::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            running.update(&buf[..n]);
        }
        let source = asset.source_url.unwrap_or_default();
        self.deliver(job, id, asset.station_id, file, running, &source)
            .await
    }

    /// Stores a master a job received or made and records its arrival.
    async fn deliver(
        &self,
        job: &ClaimedJob,
        id: cityx_core::AssetId,
        station: cityx_core::StationId,
        part: &Path,
        running: Running,
        source: &str,
    ) -> Result<bool> {
        self.storage
            .put_file(&StorageKey::master(id), part)
            .await
            .map_err(|e| Error::Internal(Box::new(e)))?;
        let size = running.offset;
        let done = self.arrival(id, station, running).await?;
        let audit = NewAudit::by(
            &Actor::system(),
            AuditAction::UploadCompleted,
            "asset",
            id,
            Some(station),
        )
        .detail("sha256", done.sha256.as_str())
        .detail("bytes", size)
        .detail("url", source);
        let next = crate::pipeline::asset_job(crate::PROBE_JOB, id, station);
        let held = self
            .ingest
            .complete_import(job, &done, size, &self.uploads.limits(), &next, &audit)
            .await?;
        self.jobs_ready.notify_one();
        Ok(held)
    }

    /// The import job's work: fetch the item's `source_url` into `work`, hashing on the way,
    /// store it as the master and record its arrival. `progress` hears percentages when the
    /// size is known. False when the job's lease passed to another worker.
    pub async fn run_import(
        &self,
        job: &ClaimedJob,
        work: &Path,
        progress: impl Fn(u32),
    ) -> Result<bool> {
        let id = job.asset_id().ok_or(Error::NotFound("asset"))?;
        let asset = self.ingest.get_asset(TenantScope::All, id).await?;
        if asset.status != AssetStatus::Uploading || asset.deleted_at.is_some() {
            return Ok(true);
        }
        let url = asset.source_url.ok_or(Error::NotFound("asset"))?;
        let own = self.ingest.quota_of(asset.station_id).await?;
        let quota_left = match own.or(self.uploads.limits().default_quota) {
            Some(q) => q.saturating_sub(self.ingest.quota_used(asset.station_id).await?),
            None => u64::MAX,
        };
        let limit = self.uploads.max_size.min(quota_left);
        let mut body = self.fetch.get(&url, limit).await?;
        let part = work.join("master");
        let io = |e: std::io::Error| Error::Internal(Box::new(e));
        let mut file = tokio::io::BufWriter::with_capacity(
            1 << 20,
            tokio::fs::File::create(&part).await.map_err(io)?,
        );
        let mut running = Running::new();
        let mut shown = 0;
        while let Some(chunk) = body.chunk().await? {
            running.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
            if let Some(total) = body.length.filter(|t| *t > 0) {
                let pct = u32::try_from(running.offset * 100 / total).unwrap_or(100);
                if pct != shown {
                    shown = pct;
                    progress(pct);
                }
            }
        }
        file.flush().await.map_err(io)?;
        file.get_ref().sync_all().await.map_err(io)?;
        drop(file);
        self.deliver(job, id, asset.station_id, &part, running, body.url.as_str())
            .await
    }
}

/// An item a job will make: whose, from where, by which job.
struct MadeItem {
    station: cityx_core::StationId,
    uploader: cityx_core::UserId,
    source: String,
    job: &'static str,
    payload: serde_json::Value,
    action: AuditAction,
}

impl MadeItem {
    /// An item made of a station's own material (audited as `item_made`).
    fn made(
        station: cityx_core::StationId,
        uploader: cityx_core::UserId,
        source: String,
        job: &'static str,
        payload: serde_json::Value,
    ) -> Self {
        MadeItem {
            station,
            uploader,
            source,
            job,
            payload,
            action: AuditAction::ItemMade,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_path() {
        let name = |u: &str| name_from(&cityx_fetch::Url::parse(u).expect(u));
        assert_eq!(
            name("https://cdn.example.cn/news/%E6%9A%B4%E9%9B%A8.mp4?sig=1"),
            "暴雨.mp4"
        );
        assert_eq!(name("http://example.cn/a/b/clip.mov"), "clip.mov");
        assert_eq!(name("http://example.cn/"), "import");
        assert_eq!(name("http://example.cn/%0Abad%zz.mp4"), "bad%zz.mp4");
    }
}

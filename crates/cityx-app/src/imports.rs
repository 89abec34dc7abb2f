//! Imports by URL: an item whose master cityx fetches itself, through the outbound-fetch
//! guard, instead of receiving it by upload. The request creates the item (`uploading`) and
//! its `import` job in one transaction; the job streams the body to a file while hashing it,
//! stores it, and records its arrival like a finished upload (quota checked then), which
//! enqueues the probe.

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
        let mut asset = Asset::uploading(station_id, uploader_id, meta, 0, cityx_core::now());
        asset.visibility = self.new_item_visibility(station_id, "").await?;
        asset.source_url = Some(parsed.to_string());
        let job = crate::pipeline::asset_job(IMPORT_JOB, asset.id, station_id);
        let audit = NewAudit::by(
            actor,
            AuditAction::ImportCreated,
            "asset",
            asset.id,
            Some(station_id),
        )
        .detail("url", parsed.as_str());
        self.ingest.create_import(&asset, &job, &audit).await?;
        self.jobs_ready.notify_one();
        Ok(asset)
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
        self.storage
            .put_file(&StorageKey::master(id), &part)
            .await
            .map_err(|e| Error::Internal(Box::new(e)))?;
        let size = running.offset;
        let done = self.arrival(id, asset.station_id, running).await?;
        let audit = NewAudit::by(
            &Actor::system(),
            AuditAction::UploadCompleted,
            "asset",
            id,
            Some(asset.station_id),
        )
        .detail("sha256", done.sha256.as_str())
        .detail("bytes", size)
        .detail("url", body.url.as_str());
        let next = crate::pipeline::asset_job(crate::PROBE_JOB, id, asset.station_id);
        let held = self
            .ingest
            .complete_import(job, &done, size, &self.uploads.limits(), &next, &audit)
            .await?;
        self.jobs_ready.notify_one();
        Ok(held)
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

//! The job handlers of the media pipeline. Each is a [`cityx_queue::Handler`]; each works in
//! a directory of its own under the work root, removed afterwards, and talks to the rest of
//! cityx through `cityx-app`.
//!
//! Depends on `cityx-app` (use cases), `cityx-media` (ffmpeg) and `cityx-queue` (the runner
//! contract). HTTP and SQL are not known here.
//!
//! Handlers: [`ProbeJob`] (`probe`).

use async_trait::async_trait;
use cityx_app::App;
use cityx_db::ClaimedJob;
use cityx_media::{MediaError, Tools};
use cityx_queue::{Class, Handler, JobError, Progress};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything the handlers share.
#[derive(Clone)]
pub struct Context {
    pub app: Arc<App>,
    pub tools: Tools,
    /// Per-job working directories go below this.
    pub work_root: PathBuf,
}

impl Context {
    /// A fresh, empty directory for one job; removed when the guard drops.
    async fn workdir(&self, job: &ClaimedJob) -> Result<WorkDir, JobError> {
        let dir = self.work_root.join(job.id.to_string());
        let _ = tokio::fs::remove_dir_all(&dir).await;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| JobError::Transient(format!("cannot create {}: {e}", dir.display())))?;
        Ok(WorkDir(dir))
    }
}

struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn media_error(e: MediaError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// Every handler in the pipeline.
pub fn handlers(ctx: &Context) -> Vec<Arc<dyn Handler>> {
    vec![Arc::new(ProbeJob(ctx.clone()))]
}

/// Reads the master's container and streams with a hardened ffprobe and records them; a
/// file that is not media fails its item with ffprobe's reason.
pub struct ProbeJob(pub Context);

#[async_trait]
impl Handler for ProbeJob {
    fn kind(&self) -> &'static str {
        cityx_app::PROBE_JOB
    }

    fn class(&self) -> Class {
        Class::Light
    }

    async fn run(&self, job: &ClaimedJob, progress: &Progress) -> Result<(), JobError> {
        let asset = job
            .asset_id
            .ok_or_else(|| JobError::Permanent("a probe job needs an item".into()))?;
        let work = self.0.workdir(job).await?;
        let master = self
            .0
            .app
            .master_file(asset, &work.0)
            .await
            .map_err(|e| JobError::Transient(e.to_string()))?;
        progress.set(10);
        let info = cityx_media::probe::probe(&self.0.tools, &master, &work.0)
            .await
            .map_err(media_error)?;
        let technical =
            serde_json::to_string(&info).map_err(|e| JobError::Permanent(e.to_string()))?;
        self.0
            .app
            .record_technical(asset, &technical)
            .await
            .map_err(|e| JobError::Transient(e.to_string()))?;
        tracing::info!(%asset, duration = info.duration_s, container = %info.container, "probed");
        Ok(())
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        if let Some(asset) = job.asset_id
            && let Err(e) = self.0.app.fail_asset(asset, error).await
        {
            tracing::error!(%asset, error = %e, "cannot mark the item failed");
        }
    }
}

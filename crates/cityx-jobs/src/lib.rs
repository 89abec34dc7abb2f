//! The exchange's job handlers: imports, the media pipeline and the periodic clean-up
//! (webhook deliveries are `cityx-webhooks`'). Each is a [`cityx_queue::Handler`]; each works in
//! a directory of its own under the work root, removed afterwards, and talks to the rest of
//! cityx through `cityx-app`.
//!
//! Depends on `cityx-app` (use cases), `cityx-media` (ffmpeg) and `cityx-queue` (the runner
//! contract). HTTP and SQL are not known here.
//!
//! Handlers: [`ImportJob`] (`import`: fetches a master by URL through the outbound-fetch
//! guard), [`ProbeJob`] (`probe`: technical data, then the fast remux so the item plays
//! within seconds), [`TranscodeJob`] (`transcode`: the single-decode pass making the
//! ladder, proxy, images and the QC report) and [`TidyJob`](tidy::TidyJob) (`tidy`: the periodic clean-up, scheduled by
//! [`register`]). Probe and transcode publish HLS segments to storage while
//! ffmpeg is still writing them ([`publish`]).

mod publish;
mod tidy;

pub use tidy::TIDY;

use async_trait::async_trait;
use cityx_app::App;
use cityx_db::{ClaimedJob, Processed};
use cityx_media::hls::{Storyboard, Variant, master_playlist};
use cityx_media::ladder::{self, LadderOptions, Plan};
use cityx_media::probe::MediaInfo;
use cityx_media::qc::{self, Profile, Report, Verdict};
use cityx_media::{MediaError, Tools};
use cityx_queue::{Class, Handler, JobError, Progress};
use publish::Publisher;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything the handlers share.
#[derive(Clone)]
pub struct Context {
    pub app: Arc<App>,
    pub tools: Tools,
    /// Per-job working directories go below this.
    pub work_root: PathBuf,
    pub ladder: LadderOptions,
    /// The delivery profile the technical check applies.
    pub qc: Profile,
}

/// What every media job starts from.
struct Start {
    asset: cityx_core::AssetId,
    work: WorkDir,
    /// The master as a local file.
    master: PathBuf,
}

impl Context {
    /// The job's item, a fresh working directory and the master as a file.
    async fn start(&self, job: &ClaimedJob) -> Result<Start, JobError> {
        let asset = asset_of(job)?;
        let work = self.workdir(job).await?;
        let master = self
            .app
            .pipeline()
            .master_file(asset, &work.0)
            .await
            .map_err(transient)?;
        Ok(Start {
            asset,
            work,
            master,
        })
    }

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

fn transient(e: impl std::fmt::Display) -> JobError {
    JobError::Transient(e.to_string())
}

/// A fenced write that found the lease gone: stop; the new holder redoes the work.
fn held(still_ours: bool) -> Result<(), JobError> {
    if still_ours {
        Ok(())
    } else {
        Err(JobError::Transient(
            "the job's lease passed to another worker".into(),
        ))
    }
}

fn asset_of(job: &ClaimedJob) -> Result<cityx_core::AssetId, JobError> {
    job.asset_id()
        .ok_or_else(|| JobError::Permanent("a media job needs an item".into()))
}

/// Registers the exchange's job kinds and its periodic clean-up with the spine.
pub fn register(reg: &mut cityx_queue::Registry, ctx: &Context) {
    reg.job(Arc::new(ImportJob(ctx.clone())))
        .job(Arc::new(ProbeJob(ctx.clone())))
        .job(Arc::new(TranscodeJob(ctx.clone())))
        .job(Arc::new(tidy::TidyJob(ctx.clone())))
        .schedule(tidy::task());
}

async fn fail_item(ctx: &Context, job: &ClaimedJob, error: &str) {
    if let Some(asset) = job.asset_id()
        && let Err(e) = ctx.app.pipeline().fail_asset(asset, error).await
    {
        tracing::error!(%asset, error = %e, "cannot mark the item failed");
    }
}

/// Fetches an imported item's master from its URL (through the guard), stores it and
/// records its arrival, which enqueues the probe. Refusals (a private address, a 404, a file
/// too large, a full quota) fail the item at once with the reason; network trouble and
/// busy servers are retried with backoff.
pub struct ImportJob(pub Context);

#[async_trait]
impl Handler for ImportJob {
    fn kind(&self) -> &'static str {
        cityx_app::IMPORT_JOB
    }

    fn class(&self) -> Class {
        Class::Light
    }

    async fn run(&self, job: &ClaimedJob, progress: &Progress) -> Result<(), JobError> {
        let ctx = &self.0;
        let work = ctx.workdir(job).await?;
        let result = ctx
            .app
            .ingest()
            .run_import(job, &work.0, |p| progress.set(p.min(99)))
            .await;
        let reason = |e: &dyn std::fmt::Display| format!("{}{e}", cityx_app::IMPORT_FAILURE);
        match result {
            Ok(still_ours) => held(still_ours),
            Err(cityx_app::Error::Fetch(e)) if e.is_transient() => {
                Err(JobError::Transient(reason(&e)))
            }
            Err(e @ (cityx_app::Error::Fetch(_) | cityx_app::Error::QuotaExceeded { .. })) => {
                Err(JobError::Permanent(reason(&e)))
            }
            Err(e) => Err(transient(e)),
        }
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        fail_item(&self.0, job, error).await;
    }
}

/// Reads the master with a hardened ffprobe, records what it found and enqueues the
/// transcode in one transaction; then, for H.264 (with AAC or silent) masters, copies the
/// streams into a first HLS rendition so the item plays while the ladder is made. A file that
/// is not media fails its item with ffprobe's reason.
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
        let ctx = &self.0;
        let Start {
            asset,
            work,
            master,
        } = ctx.start(job).await?;
        progress.set(5);
        let info = cityx_media::probe::probe(&ctx.tools, &master, &work.0)
            .await
            .map_err(media_error)?;
        let technical =
            serde_json::to_string(&info).map_err(|e| JobError::Permanent(e.to_string()))?;
        held(
            ctx.app
                .pipeline()
                .record_technical(job, &technical)
                .await
                .map_err(transient)?,
        )?;
        tracing::info!(%asset, duration = info.duration_s, container = %info.container, "probed");
        progress.set(20);
        if !ladder::can_remux(&info) {
            return Ok(());
        }
        let plan = ladder::remux_plan(&info, &master, &ctx.ladder);
        let out = work.0.join("out");
        let started = std::time::Instant::now();
        let mut publisher = Publisher::new(ctx.app.clone(), asset, &out, &plan);
        let playlist = format!("hls/{}/index.m3u8", ladder::FAST);
        let first = |app: Arc<App>| {
            let job = job.clone();
            let playlist = playlist.clone();
            async move {
                held(
                    app.pipeline()
                        .set_playback(&job, &playlist, true)
                        .await
                        .map_err(transient)?,
                )
            }
        };
        // The fast path is a bonus: if the copy fails, the ladder still decides the item.
        match publisher.run(&ctx.tools, &plan, None, first).await {
            Ok(()) => {
                tracing::info!(%asset, ms = started.elapsed().as_millis() as u64, "fast rendition published")
            }
            Err(JobError::Permanent(e)) => {
                tracing::warn!(%asset, error = %e, "the fast remux failed; waiting for the ladder")
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        fail_item(&self.0, job, error).await;
    }
}

/// The single-decode pass: the ABR ladder (published segment by segment while it is made),
/// the proxy MP4, poster, thumbnails, storyboard, and the technical check.
pub struct TranscodeJob(pub Context);

#[async_trait]
impl Handler for TranscodeJob {
    fn kind(&self) -> &'static str {
        cityx_app::TRANSCODE_JOB
    }

    fn class(&self) -> Class {
        Class::Heavy
    }

    async fn run(&self, job: &ClaimedJob, progress: &Progress) -> Result<(), JobError> {
        let ctx = &self.0;
        let Start {
            asset,
            work,
            master,
        } = ctx.start(job).await?;
        // The probe recorded the master's streams in the transaction that enqueued this job.
        let info: MediaInfo = ctx
            .app
            .pipeline()
            .technical_of(asset)
            .await
            .map_err(transient)?
            .and_then(|t| serde_json::from_value(t).ok())
            .ok_or_else(|| JobError::Permanent("the item has no technical record".into()))?;
        let plan = ladder::ladder_plan(&info, &master, &ctx.ladder, &ctx.qc);
        let out = work.0.join("out");
        let mut publisher = Publisher::new(ctx.app.clone(), asset, &out, &plan);
        let master_text = master_playlist(&variants(&plan, &ctx.ladder, info.audio.is_some()));
        let first = |app: Arc<App>| {
            let job = job.clone();
            let text = master_text.clone();
            async move {
                app.pipeline()
                    .store_bytes(asset, "hls/master.m3u8", text.into())
                    .await
                    .map_err(transient)?;
                held(
                    app.pipeline()
                        .set_playback(&job, "hls/master.m3u8", true)
                        .await
                        .map_err(transient)?,
                )
            }
        };
        let started = std::time::Instant::now();
        publisher
            .run(&ctx.tools, &plan, Some(progress.clone()), first)
            .await?;
        tracing::info!(%asset, secs = started.elapsed().as_secs_f64(), rungs = plan.rungs.len(), "ladder made");

        let derived = store_extras(&ctx.app, asset, &out, &plan).await?;
        let log = tokio::fs::read_to_string(out.join(ladder::LOG))
            .await
            .unwrap_or_default();
        let report = qc::evaluate(&info, &qc::parse_log(&log, info.duration_s), &ctx.qc);
        let done = Processed {
            playback: "hls/master.m3u8".into(),
            derived_json: derived.to_string(),
            qc_json: serde_json::to_string(&report).map_err(transient)?,
            qc_verdict: report.verdict.as_str().into(),
            rejection: (report.verdict == Verdict::Fail).then(|| rejection(&report)),
        };
        held(
            ctx.app
                .pipeline()
                .finish_processing(job, &done)
                .await
                .map_err(transient)?,
        )?;
        tracing::info!(%asset, verdict = report.verdict.as_str(), findings = report.findings.len(), "processing finished");
        Ok(())
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        fail_item(&self.0, job, error).await;
    }
}

/// The master playlist's variants, best first.
fn variants(plan: &Plan, opts: &LadderOptions, audio: bool) -> Vec<Variant> {
    plan.rungs
        .iter()
        .map(|r| Variant {
            uri: format!("{}/index.m3u8", r.name),
            bandwidth: r.bandwidth(if audio { opts.audio_kbps } else { 0 }),
            resolution: r.size,
            codecs: r.codecs(audio),
        })
        .collect()
}

/// Stores the proxy, poster, thumbnails and storyboard; returns what the item now has.
async fn store_extras(
    app: &Arc<App>,
    asset: cityx_core::AssetId,
    out: &Path,
    plan: &Plan,
) -> Result<serde_json::Value, JobError> {
    app.pipeline()
        .store_file(asset, ladder::PROXY, &out.join(ladder::PROXY))
        .await
        .map_err(transient)?;
    let renditions: Vec<serde_json::Value> = plan
        .rungs
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "playlist": format!("hls/{}/index.m3u8", r.name),
                "width": r.size.map(|s| s.0),
                "height": r.size.map(|s| s.1),
                "video_kbps": r.video_kbps,
            })
        })
        .collect();
    let mut derived = json!({"renditions": renditions, "proxy": ladder::PROXY, "master_playlist": "hls/master.m3u8"});
    let Some(sb) = plan.storyboard else {
        return Ok(derived);
    };
    if out.join("poster.jpg").exists() {
        app.pipeline()
            .store_file(asset, "poster.jpg", &out.join("poster.jpg"))
            .await
            .map_err(transient)?;
        derived["poster"] = json!("poster.jpg");
    }
    derived["thumbnails"] = json!(store_dir(app, asset, out, "thumbs").await?);
    let sheets = store_dir(app, asset, out, "storyboard").await?;
    app.pipeline()
        .store_bytes(
            asset,
            "storyboard/storyboard.vtt",
            sb.webvtt(plan.duration_s).into(),
        )
        .await
        .map_err(transient)?;
    derived["storyboard"] = storyboard_json(&sb, sheets);
    Ok(derived)
}

fn storyboard_json(sb: &Storyboard, sheets: Vec<String>) -> serde_json::Value {
    json!({
        "vtt": "storyboard/storyboard.vtt",
        "sheets": sheets,
        "interval": sb.interval,
        "tile_width": sb.width,
        "tile_height": sb.height,
        "columns": sb.columns,
        "rows": sb.rows,
    })
}

/// Stores every file of `out/<dir>` in name order; returns their stored names.
async fn store_dir(
    app: &Arc<App>,
    asset: cityx_core::AssetId,
    out: &Path,
    dir: &str,
) -> Result<Vec<String>, JobError> {
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(out.join(dir))
        .await
        .map_err(transient)?;
    while let Some(e) = entries.next_entry().await.map_err(transient)? {
        if let Some(name) = e.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let mut stored = Vec::new();
    for name in names {
        let relative = format!("{dir}/{name}");
        app.pipeline()
            .store_file(asset, &relative, &out.join(&relative))
            .await
            .map_err(transient)?;
        stored.push(relative);
    }
    Ok(stored)
}

/// The reason a rejected item shows: the failed checks with their values and time codes.
fn rejection(report: &Report) -> String {
    let failed: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Verdict::Fail)
        .map(|f| match (f.start, f.end) {
            (Some(s), Some(e)) => format!(
                "{} {}–{} ({})",
                f.check,
                cityx_media::hls::vtt_time(s),
                cityx_media::hls::vtt_time(e),
                f.value
            ),
            _ => format!("{} {} (expected {})", f.check, f.value, f.expected),
        })
        .collect();
    format!("technical check failed: {}", failed.join("; "))
}

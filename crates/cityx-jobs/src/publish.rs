//! Publishing HLS while ffmpeg writes it: every 100 ms, the segments each rendition's playlist
//! newly lists (ffmpeg lists a segment only once it is complete) move into storage, and then
//! a playlist naming exactly the stored segments is written, so a player never meets a
//! segment that is not there. When every rendition has its first segment, the item is made
//! playable.

use crate::{media_error, transient};
use cityx_app::App;
use cityx_core::AssetId;
use cityx_media::Tools;
use cityx_media::hls::{media_playlist, parse_media_playlist};
use cityx_media::ladder::{self, Plan};
use cityx_queue::{JobError, Progress};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often a running transcode's output is looked at.
const SWEEP: Duration = Duration::from_millis(100);

pub(crate) struct Publisher {
    app: Arc<App>,
    asset: AssetId,
    out: PathBuf,
    renditions: Vec<String>,
    /// Segments already stored, per rendition.
    stored: Vec<usize>,
}

impl Publisher {
    pub fn new(app: Arc<App>, asset: AssetId, out: &Path, plan: &Plan) -> Self {
        Publisher {
            app,
            asset,
            out: out.to_owned(),
            renditions: plan.rungs.iter().map(|r| r.name.clone()).collect(),
            stored: vec![0; plan.rungs.len()],
        }
    }

    /// Runs `plan`, publishing as it goes; `playable` runs once, as soon as every rendition
    /// has a segment in storage.
    pub async fn run<F, Fut>(
        &mut self,
        tools: &Tools,
        plan: &Plan,
        progress: Option<Progress>,
        playable: F,
    ) -> Result<(), JobError>
    where
        F: FnOnce(Arc<App>) -> Fut,
        Fut: Future<Output = Result<(), JobError>>,
    {
        let mut playable = Some(playable);
        let out = self.out.clone();
        let exec = ladder::execute(tools, plan, &out, move |p| {
            if let Some(progress) = &progress {
                progress.set(p);
            }
        });
        tokio::pin!(exec);
        let mut tick = tokio::time::interval(SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let finished = loop {
            tokio::select! {
                r = &mut exec => break r,
                _ = tick.tick() => self.sweep(false, &mut playable).await?,
            }
        };
        finished.map_err(media_error)?;
        self.sweep(true, &mut playable).await
    }

    async fn sweep<F, Fut>(&mut self, last: bool, playable: &mut Option<F>) -> Result<(), JobError>
    where
        F: FnOnce(Arc<App>) -> Fut,
        Fut: Future<Output = Result<(), JobError>>,
    {
        for (i, name) in self.renditions.iter().enumerate() {
            let dir = format!("hls/{name}");
            let text = match tokio::fs::read_to_string(self.out.join(&dir).join("index.m3u8")).await
            {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(transient(e)),
            };
            let listed = parse_media_playlist(&text);
            if listed.segments.len() == self.stored[i] && !last {
                continue;
            }
            for (segment, _) in &listed.segments[self.stored[i]..] {
                let relative = format!("{dir}/{segment}");
                self.app
                    .pipeline()
                    .store_file(self.asset, &relative, &self.out.join(&relative))
                    .await
                    .map_err(transient)?;
            }
            self.stored[i] = listed.segments.len();
            let body = media_playlist(&listed.segments, last || listed.ended);
            self.app
                .pipeline()
                .store_bytes(self.asset, &format!("{dir}/index.m3u8"), body.into())
                .await
                .map_err(transient)?;
        }
        if self.stored.iter().all(|n| *n > 0)
            && let Some(f) = playable.take()
        {
            f(self.app.clone()).await?;
        }
        Ok(())
    }
}

//! A channel's lower renditions (多码率, an ABR ladder), on request: beside the input's copy
//! (`index.m3u8`), one hardened ffmpeg per session decodes the stream once and encodes each
//! rung the channel asks for that is below the input's height (`r<height>.m3u8`, segments
//! under `<session>/r<height>/`), and `master.m3u8` lists them all, so players switch by
//! bandwidth. The ffmpeg is fed the session's messages as one MPEG transport stream
//! (`cityx_media::ts::Stream`); a ladder that cannot keep up is stopped and the copy goes
//! on. Each rung's finished segments are taken from ffmpeg's segment list and stored by a
//! mover of their own, with the same time-shift window as the copy.

use crate::IngestOptions;
use crate::flv::TagKind;
use crate::mover::{Mover, PLAYLIST, move_segments};
use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::{Channel, rendition_kbps};
use cityx_media::live::{Rung, ladder_args, rung_list, rung_segments};
use cityx_media::ts::{Segment, Stream, Track};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The master playlist's name in the channel's folder.
pub(crate) const MASTER: &str = "master.m3u8";
/// Transport stream chunks waiting for ffmpeg before the ladder is given up.
const WAITING: usize = 512;
/// How often ffmpeg's segment lists are read.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// A rung's playlist name in the channel's folder.
pub(crate) fn playlist_name(height: u32) -> String {
    format!("r{height}.m3u8")
}

/// The master playlist a viewer asks for while no broadcast wrote one: the copy alone.
pub(crate) fn copy_only_master() -> String {
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\nindex.m3u8\n".into()
}

/// The master playlist: the copy first (the input's size), then each rung.
fn master(source: (u32, u32), rungs: &[Rung]) -> String {
    let (w, h) = source;
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let mut variant = |bandwidth: u32, width: u32, height: u32, uri: &str| {
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={width}x{height}\n{uri}\n",
            u64::from(bandwidth) * 1000 + 128_000
        ));
    };
    variant(rendition_kbps(h) * 3 / 2, w, h, PLAYLIST);
    for r in rungs {
        // The width scale=-2 gives: the source's aspect, rounded to an even number.
        let width = (u64::from(w) * u64::from(r.height) / u64::from(h.max(1))) as u32 & !1;
        variant(r.kbps, width, r.height, &playlist_name(r.height));
    }
    out
}

/// The rungs of `heights` that are below the input's height.
pub(crate) fn rungs_below(heights: &[u32], source_height: u32) -> Vec<Rung> {
    heights
        .iter()
        .filter(|h| **h < source_height)
        .map(|h| Rung {
            height: *h,
            kbps: rendition_kbps(*h),
        })
        .collect()
}

/// A running ladder: feed it the session's messages, then [`finish`](Self::finish) it.
pub(crate) struct Ladder {
    stream: Stream,
    chunks: Option<mpsc::Sender<Bytes>>,
    task: JoinHandle<()>,
}

/// What a ladder's task needs of its session.
pub(crate) struct Session {
    pub channel: Channel,
    pub session: String,
    pub app: Arc<App>,
    pub opts: Arc<IngestOptions>,
    pub lost: Arc<AtomicBool>,
    pub ends: Arc<AtomicBool>,
}

impl Ladder {
    /// Starts encoding `rungs` (below the input, at least one) of an input `source` large.
    pub(crate) fn start(s: Session, source: (u32, u32), rungs: Vec<Rung>) -> Ladder {
        let (tx, rx) = mpsc::channel(WAITING);
        let task = tokio::spawn(run(s, source, rungs, rx));
        Ladder {
            stream: Stream::default(),
            chunks: Some(tx),
            task,
        }
    }

    /// Passes a message on; a ladder that falls behind is stopped (the copy goes on).
    pub(crate) fn feed(&mut self, kind: TagKind, timestamp: u32, data: &[u8]) {
        let Some(tx) = &self.chunks else {
            return;
        };
        let track = match kind {
            TagKind::Video => Track::Video,
            TagKind::Audio => Track::Audio,
        };
        let packets = match self.stream.push(track, timestamp, data) {
            Ok(p) => p,
            Err(_) => {
                self.chunks = None;
                return;
            }
        };
        if !packets.is_empty() && tx.try_send(Bytes::from(packets)).is_err() {
            tracing::warn!("a channel's renditions fell behind; they stop, the copy goes on");
            metrics::counter!("cityx_live_ladder_behind_total").increment(1);
            self.chunks = None;
        }
    }

    /// Ends the ladder's input and waits (at most 15 s) for its last segments to be stored.
    pub(crate) async fn finish(mut self) {
        self.chunks = None;
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
        self.task.abort();
    }
}

async fn run(s: Session, source: (u32, u32), rungs: Vec<Rung>, mut rx: mpsc::Receiver<Bytes>) {
    let dir: PathBuf = s
        .opts
        .work_dir
        .join(s.channel.id.to_string())
        .join(format!("ladder-{}", s.session));
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        tracing::warn!(channel = %s.channel.id, error = %e, "no working directory for renditions");
        return;
    }
    let mut movers = Vec::new();
    let mut lanes = Vec::new();
    for r in &rungs {
        let (tx, segments) = mpsc::channel(8);
        movers.push(tokio::spawn(move_segments(Mover {
            channel: s.channel.clone(),
            session: s.session.clone(),
            dir: dir.clone(),
            storage: s.app.storage().clone(),
            app: s.app.clone(),
            window_secs: f64::from(s.channel.dvr_minutes) * 60.0,
            segments,
            lost: s.lost.clone(),
            survives: std::sync::OnceLock::new(),
            recording: None,
            ends: s.ends.clone(),
            playlist: playlist_name(r.height),
            prefix: format!("{}/r{}", s.session, r.height),
            thumbnails: false,
            follows_recording: false,
        })));
        lanes.push((r.height, tx, 0usize));
    }
    // The master names what this broadcast offers (not once the session lost the channel).
    if !s.lost.load(std::sync::atomic::Ordering::SeqCst)
        && let Some(key) = cityx_storage::StorageKey::live(s.channel.id, MASTER)
        && let Err(e) = s
            .app
            .storage()
            .put(&key, Bytes::from(master(source, &rungs)))
            .await
    {
        tracing::warn!(channel = %s.channel.id, error = %e, "could not store a master playlist");
    }
    let (in_tx, in_rx) = tokio::sync::oneshot::channel();
    let hooks = cityx_media::process::Hooks {
        die_with_parent: true,
        stderr_lines: Some(Box::new(|_| {})),
        stdin: Some(Box::new(move |stdin| {
            let _ = in_tx.send(stdin);
        })),
        ..Default::default()
    };
    let limits = cityx_media::process::Limits {
        wall: Duration::from_secs(30 * 24 * 3600),
        stall: Duration::from_secs(30),
        max_stdout: 0,
    };
    let (ffmpeg, workdir) = (s.opts.tools.ffmpeg.clone(), dir.clone());
    let args = ladder_args(&rungs, s.opts.segment_secs);
    let mut process = tokio::spawn(async move {
        cityx_media::process::run_with(&ffmpeg, &args, &workdir, &limits, hooks).await
    });
    let writer = match in_rx.await {
        Ok(mut stdin) => tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = stdin.shutdown().await;
        }),
        Err(_) => tokio::spawn(async {}),
    };
    let mut tick = tokio::time::interval(LOOK_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => take_finished(&dir, &mut lanes).await,
            done = &mut process => {
                if let Ok(Err(e)) = done {
                    tracing::info!(channel = %s.channel.id, error = %e, "a channel's renditions ended");
                }
                take_finished(&dir, &mut lanes).await;
                break;
            }
        }
    }
    writer.abort();
    drop(lanes);
    for m in movers {
        let _ = m.await;
    }
    let _ = tokio::fs::remove_dir_all(&dir).await;
}

/// Hands each rung's newly finished segments to its mover.
async fn take_finished(dir: &std::path::Path, lanes: &mut [(u32, mpsc::Sender<Segment>, usize)]) {
    for (height, tx, taken) in lanes.iter_mut() {
        let Ok(list) = tokio::fs::read_to_string(dir.join(rung_list(*height))).await else {
            continue;
        };
        for (name, duration) in rung_segments(&list, *taken) {
            *taken += 1;
            let path = dir.join(&name);
            let Ok(bytes) = tokio::fs::read(&path).await else {
                continue;
            };
            let _ = tokio::fs::remove_file(&path).await;
            let segment = Segment {
                bytes,
                duration,
                discontinuity: false,
            };
            if tx.send(segment).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_lists_the_copy_then_each_rung() {
        let rungs = rungs_below(&[1080, 720, 360], 720);
        assert_eq!(rungs.len(), 1, "only rungs below the input");
        let text = master((1280, 720), &rungs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#EXTM3U");
        assert_eq!(
            &lines[3..],
            [
                "#EXT-X-STREAM-INF:BANDWIDTH=3878000,RESOLUTION=1280x720",
                "index.m3u8",
                "#EXT-X-STREAM-INF:BANDWIDTH=928000,RESOLUTION=640x360",
                "r360.m3u8",
            ]
        );
        assert!(rungs_below(&[360], 360).is_empty());
        assert!(copy_only_master().ends_with("index.m3u8\n"));
    }
}

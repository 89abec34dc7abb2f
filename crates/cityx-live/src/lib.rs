//! Live channels (云直播): a station creates a channel, its encoder publishes to cityx's
//! RTMP or SRT ingest with the channel's stream key (or the channel pulls a remote signal),
//! and whoever the channel is shared with watches it as HLS with a time-shift window (回看),
//! while the channel is recorded, clipped and pushed to partners' restream targets.
//!
//! What it owns: its use cases ([`Live`] and [`Targets`], the contexts the doors call), the
//! ingest ([`ingest`], started by `cityx serve` on API nodes: [`rtmp`], [`srt`] and one
//! [`door`] for both, and the pulls' supervisor [`pull`], which plays RTMP, RTSP, SRT and
//! HLS sources), one publishing session per
//! channel ([`publish::Publish`]: its packager copies the stream into 2-second HLS
//! segments in process, its mover stores them as they finish and keeps the channel's
//! playlist, a hardened ffmpeg that sees a keyframe every few seconds draws the thumbnail,
//! and the meter behind the alarms reads the picture's luma and the audio's level), the
//! health report that also renews the session's hold on the channel, the standby session
//! that covers a dropped input ([`slate`]), the lower renditions a channel may ask for
//! (`ladder`: one ffmpeg per session, a mover per rung, `master.m3u8`), the pushes to
//! restream targets ([`restream`]), and the serving of a
//! channel's files to many viewers under signed addresses (`serve`: short-lived caches of
//! rights, playlists and segments).
//! Its repository traits, SQL and row mapping are `cityx-db/src/sql/live.rs` and
//! `live_targets.rs`; its domain types and rules `cityx_core::live`; the segmenter
//! `cityx_media::ts`, the inspector's and remuxer's commands `cityx_media::live`; its
//! routes `routes/live.rs` and `routes/live_targets.rs` in `cityx-api` and
//! `pages/live.rs` and `pages/live_targets.rs` in `cityx-web`.
//!
//! A pushed stream lives on the node its publisher's connection reached: the session holds
//! the channel by a lease on its row, renewed every 2 s, so a second publisher is refused
//! while the first is alive (the first keeps the channel), and a publisher that reconnects
//! to another node after its node died continues the channel there, with the same
//! playlist, once the lease has run out (6 s). A pull is held the same way by the node whose
//! supervisor took it. Players on any node read the playlist and segments from storage.
//!
//! Protocols in process: `rml_rtmp` (RTMP), `srt-tokio` (SRT), `retina` (RTSP), rustls
//! through the guard (RTMPS).
//!
//! Depends on `cityx-core`, `cityx-db`'s `LiveRepo` and `TargetRepo`, `cityx-app` (storage,
//! the sealer and the error type), `cityx-fetch` (the outbound guard, for pulls and
//! restream), `cityx-media` (ffmpeg and the segmenter), `cityx-storage` and `cityx-queue`
//! (the node's name).
//! It must not depend on another subsystem or on a door.

pub mod clip;
mod context;
pub mod door;
pub mod flv;
mod hls;
mod ladder;
mod mover;
mod package;
pub mod publish;
pub mod pull;
mod remux;
pub mod restream;
pub mod rtmp;
pub mod rtmp_client;
mod rtsp;
mod serve;
pub mod slate;
pub mod srt;
mod targets;

pub use context::{ChannelWithKey, Live, LiveFile, LiveLink, new_stream_key, playlist_of};
pub use targets::Targets;

use std::sync::Arc;

/// Registers the live channels' job kind (`live_clip`) with the spine.
pub fn register(
    reg: &mut cityx_queue::Registry,
    app: &Arc<cityx_app::App>,
    tools: cityx_media::Tools,
    work_root: PathBuf,
) {
    reg.job(Arc::new(clip::ClipJob {
        app: app.clone(),
        tools,
        work_root,
    }));
}

use std::path::PathBuf;

/// Why an input or a push failed: a stable code that pages name in the reader's language,
/// and the detail in English for operators (never a stream key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: cityx_core::live::Trouble,
    pub detail: String,
}

impl Failure {
    pub fn new(code: cityx_core::live::Trouble, detail: impl std::fmt::Display) -> Failure {
        Failure {
            code,
            detail: detail.to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Failure {}

impl From<cityx_fetch::FetchError> for Failure {
    fn from(e: cityx_fetch::FetchError) -> Failure {
        use cityx_core::live::Trouble;
        use cityx_fetch::FetchError as F;
        let code = match &e {
            F::BadUrl => Trouble::BadAddress,
            F::Forbidden { .. } => Trouble::ForbiddenAddress,
            F::Resolve(_) | F::Network(_) => Trouble::Unreachable,
            F::Status(_) => Trouble::Refused,
            F::TooManyRedirects(_) => Trouble::Broken,
            F::TooLarge { .. } => Trouble::Unsupported,
        };
        Failure::new(code, e)
    }
}

/// Runs this node's ingest until the process stops (or this future is dropped): RTMP on
/// `rtmp`, SRT on `srt` (when given), with one door (caps and wrong-key limits count across
/// both), and the pulls' supervisor.
///
/// The ingest runs on a thread of its own with a single-threaded runtime: a publisher sends
/// a few dozen small messages a second, and on the shared multi-threaded runtime each one
/// woke a second worker to steal it, a thread switch per message that cost more than the
/// message's work (docs/benchmarks.md). What the sessions spawn (movers, meters, slates)
/// runs there too; the database and storage are shared with the rest of the node.
pub async fn ingest(
    rtmp: tokio::net::TcpListener,
    srt: Option<tokio::net::UdpSocket>,
    app: Arc<cityx_app::App>,
    opts: Arc<IngestOptions>,
) {
    let (Ok(rtmp), Ok(srt)) = (rtmp.into_std(), srt.map(|s| s.into_std()).transpose()) else {
        tracing::error!("the ingest's sockets could not be handed to its thread");
        return;
    };
    // Dropping `_stop` (this future dropped: the server stops) stops the thread's runtime
    // and every task on it.
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ended, end) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("cityx-ingest".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "the ingest's runtime could not start");
                    return;
                }
            };
            runtime.block_on(async move {
                let sockets = (
                    tokio::net::TcpListener::from_std(rtmp),
                    srt.map(tokio::net::UdpSocket::from_std).transpose(),
                );
                let (Ok(rtmp), Ok(srt)) = sockets else {
                    tracing::error!("the ingest's sockets could not be registered");
                    return;
                };
                tokio::select! {
                    () = run_ingest(rtmp, srt, app, opts) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            let _ = ended.send(());
        });
    if let Err(e) = thread {
        tracing::error!(error = %e, "the ingest's thread could not start");
        return;
    }
    let _ = end.await;
}

async fn run_ingest(
    rtmp: tokio::net::TcpListener,
    srt: Option<tokio::net::UdpSocket>,
    app: Arc<cityx_app::App>,
    opts: Arc<IngestOptions>,
) {
    let door = Arc::new(door::Door::default());
    let never = std::future::pending::<()>;
    let srt = async {
        if let Some(socket) = srt {
            srt::serve(socket, app.clone(), opts.clone(), door.clone(), never()).await;
        }
    };
    tokio::join!(
        rtmp::serve(rtmp, app.clone(), opts.clone(), door.clone(), never()),
        srt,
        pull::supervise(app.clone(), opts.clone(), never()),
    );
}

/// How the ingest runs on this node.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    pub tools: cityx_media::Tools,
    /// Where sessions' segments are written before they are stored.
    pub work_dir: PathBuf,
    /// Target segment length, seconds.
    pub segment_secs: u32,
    /// A thumbnail every this many seconds.
    pub thumbnail_secs: u32,
    /// Connections one address (or IPv6 /64) may hold on the ingest port.
    pub max_connections_per_ip: usize,
    /// Connections the ingest port holds in all.
    pub max_connections: usize,
    /// How long a channel whose input dropped stays on its slate; 0: it ends at once.
    pub slate_secs: u32,
}

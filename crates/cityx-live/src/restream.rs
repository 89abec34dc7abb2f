//! Restream (转推): while a session holds its channel, the channel's enabled targets are
//! pushed to, each by its own task with its own state, in process (RTMP client, or an SRT
//! call carrying the messages as one MPEG transport stream; stream copy: no ffmpeg, no
//! second decode). A push that fails is tried again after a pause that doubles
//! up to a minute; a partner slower than the stream is reconnected rather than let fall
//! behind. Targets added, changed or switched off while the channel is live are picked up
//! within seconds. States are reported every 2 s into the targets' rows, so any node shows
//! them. A push that stops because the broadcast ended or its target was switched off
//! ends its stream as an encoder does; one whose session hands the channel on (to its
//! slate, or from the slate to the returning input) is dropped, and the next session's push
//! follows within seconds.

use crate::flv::{self, TagKind};
use crate::rtmp_client::{Client, ClientError};
use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::Trouble;
use cityx_core::live::target::{TargetReport, TargetState};
use cityx_core::{ChannelId, TargetId};
use cityx_db::SealedTarget;
use futures_util::{SinkExt, StreamExt};
use rml_rtmp::sessions::StreamMetadata;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Messages a push may fall behind before it is reconnected.
const BACKLOG: usize = 2048;
/// How often states are reported; targets are re-read every third report.
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// The longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// A push that ran this long starts its pauses again from one second when it fails.
const STEADY: Duration = Duration::from_secs(30);

/// One audio or video message of the stream.
#[derive(Clone)]
struct Message {
    kind: TagKind,
    timestamp: u32,
    data: Bytes,
}

/// What a push that joins a running stream sends first.
#[derive(Clone, Default)]
struct Start {
    metadata: Option<StreamMetadata>,
    video: Option<Bytes>,
    audio: Option<Bytes>,
}

/// The session's side: every message goes in, each push takes them out.
#[derive(Clone)]
pub struct Tee {
    tx: broadcast::Sender<Message>,
    start: Arc<Mutex<Start>>,
}

impl Default for Tee {
    fn default() -> Self {
        Tee {
            tx: broadcast::channel(BACKLOG).0,
            start: Arc::default(),
        }
    }
}

impl Tee {
    /// Passes a message on to the pushes (and keeps codec headers for those joining later).
    pub fn send(&self, kind: TagKind, timestamp: u32, data: &Bytes) {
        if flv::is_sequence_header(kind, data) {
            let mut start = self.start.lock().unwrap_or_else(|e| e.into_inner());
            match kind {
                TagKind::Video => start.video = Some(data.clone()),
                TagKind::Audio => start.audio = Some(data.clone()),
            }
        }
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Message {
                kind,
                timestamp,
                data: data.clone(),
            });
        }
    }

    /// Keeps the stream's metadata for pushes that join.
    pub fn metadata(&self, metadata: &StreamMetadata) {
        self.start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .metadata = Some(metadata.clone());
    }
}

/// The pushes of one session: stop them with [`stop`](Self::stop).
pub struct Restream {
    /// Set when the pushes stop: whether they end their streams (`true`) or are dropped.
    stop: watch::Sender<Option<bool>>,
    manager: JoinHandle<()>,
}

impl Drop for Restream {
    fn drop(&mut self) {
        self.manager.abort();
    }
}

impl Restream {
    /// Starts pushing `channel` to its targets from `tee`.
    pub fn start(channel: ChannelId, app: Arc<App>, tee: Tee) -> Restream {
        let (stop, stopped) = watch::channel(None);
        let manager = tokio::spawn(manage(channel, app, tee, stopped));
        Restream { stop, manager }
    }

    /// Ends every push (`end`: ending the stream at the partner, as the broadcast ends;
    /// otherwise dropping the connection, as another session's push follows) and reports
    /// the targets idle.
    pub async fn stop(mut self, end: bool) {
        let _ = self.stop.send(Some(end));
        let manager = std::mem::replace(&mut self.manager, tokio::spawn(async {}));
        let _ = tokio::time::timeout(Duration::from_secs(10), manager).await;
    }
}

/// A running push: what it was started with, its task and its report. Dropped, its
/// connection is dropped; [`end`](Self::end) ends its stream first.
struct Running {
    fingerprint: String,
    task: JoinHandle<()>,
    report: Arc<Mutex<TargetReport>>,
    bytes_before: u64,
    end: watch::Sender<bool>,
    /// Whether dropping it aborts its task (not once it was told to end).
    abort: bool,
}

/// How long a push may take to end its stream before it is dropped.
const END_WITHIN: Duration = Duration::from_secs(3);

impl Running {
    /// Ends the push's stream at the partner, or drops it after [`END_WITHIN`].
    fn end(mut self) {
        let _ = self.end.send(true);
        self.abort = false;
        let task = self.task.abort_handle();
        tokio::spawn(async move {
            tokio::time::sleep(END_WITHIN).await;
            task.abort();
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.abort {
            self.task.abort();
        }
    }
}

async fn manage(
    channel: ChannelId,
    app: Arc<App>,
    tee: Tee,
    mut stopped: watch::Receiver<Option<bool>>,
) {
    let mut running: HashMap<TargetId, Running> = HashMap::new();
    let mut tick = tokio::time::interval(REPORT_EVERY);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => break,
        }
        if ticks.is_multiple_of(3) {
            match app.repo().targets_to_push(channel).await {
                Ok(targets) => {
                    let wanted: HashMap<TargetId, SealedTarget> =
                        targets.into_iter().map(|t| (t.target.id, t)).collect();
                    // Switched off, removed or changed: its stream ends at the partner.
                    let gone: Vec<TargetId> = running
                        .iter()
                        .filter(|(id, r)| {
                            wanted
                                .get(id)
                                .is_none_or(|t| fingerprint(t) != r.fingerprint)
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    let mut idle = Vec::new();
                    for id in gone {
                        if let Some(r) = running.remove(&id) {
                            idle.push((
                                id,
                                r.report.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                            ));
                            r.end();
                        }
                    }
                    report_idle(&app, idle).await;
                    for (id, target) in wanted {
                        if running.contains_key(&id) {
                            continue;
                        }
                        let report = Arc::new(Mutex::new(TargetReport {
                            state: Some(TargetState::Connecting),
                            ..TargetReport::default()
                        }));
                        let (end, ended) = watch::channel(false);
                        let task = tokio::spawn(push(
                            target.clone(),
                            app.clone(),
                            tee.clone(),
                            report.clone(),
                            ended,
                        ));
                        running.insert(
                            id,
                            Running {
                                fingerprint: fingerprint(&target),
                                task,
                                report,
                                bytes_before: 0,
                                end,
                                abort: true,
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(%channel, error = %e, "could not read a channel's targets");
                }
            }
        }
        ticks += 1;
        let secs = REPORT_EVERY.as_secs_f64();
        let reports: Vec<(TargetId, TargetReport)> = running
            .iter_mut()
            .map(|(id, r)| {
                let mut report = r.report.lock().unwrap_or_else(|e| e.into_inner()).clone();
                report.kbps = u32::try_from(
                    (report.bytes.saturating_sub(r.bytes_before) as f64 * 8.0 / 1000.0 / secs)
                        as u64,
                )
                .unwrap_or(u32::MAX);
                r.bytes_before = report.bytes;
                (*id, report)
            })
            .collect();
        if let Err(e) = app.repo().report_targets(&reports).await {
            tracing::warn!(%channel, error = %e, "could not report targets");
        }
    }
    let ends = stopped.borrow().unwrap_or(false);
    let idle = running
        .drain()
        .map(|(id, r)| {
            let report = r.report.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if ends {
                r.end();
            }
            (id, report)
        })
        .collect();
    report_idle(&app, idle).await;
}

/// What a push was started with: a change of address, key or passphrase restarts it.
fn fingerprint(t: &SealedTarget) -> String {
    format!(
        "{}\n{}\n{}",
        t.target.url,
        t.key_sealed,
        t.passphrase_sealed.as_deref().unwrap_or_default()
    )
}

/// Reports stopped pushes idle, keeping their counts and last error.
async fn report_idle(app: &App, stopped: Vec<(TargetId, TargetReport)>) {
    let reports: Vec<(TargetId, TargetReport)> = stopped
        .into_iter()
        .map(|(id, mut r)| {
            r.state = Some(TargetState::Idle);
            r.kbps = 0;
            (id, r)
        })
        .collect();
    if let Err(e) = app.repo().report_targets(&reports).await {
        tracing::warn!(error = %e, "could not report stopped targets");
    }
}

fn set(report: &Mutex<TargetReport>, change: impl FnOnce(&mut TargetReport)) {
    change(&mut report.lock().unwrap_or_else(|e| e.into_inner()));
}

/// Pushes to one target until the session ends or `ended` is set, trying again after
/// failures.
async fn push(
    target: SealedTarget,
    app: Arc<App>,
    tee: Tee,
    report: Arc<Mutex<TargetReport>>,
    mut ended: watch::Receiver<bool>,
) {
    let id = target.target.id;
    let sealer = app.sealer().ok();
    let key = sealer
        .as_ref()
        .and_then(|s| s.open(&id.to_string(), &target.key_sealed));
    // A passphrase that does not open counts as a key that does not.
    let passphrase = match &target.passphrase_sealed {
        None => Some(None),
        Some(sealed) => sealer
            .as_ref()
            .and_then(|s| s.open(&crate::targets::passphrase_binding(id), sealed))
            .map(Some),
    };
    let (Some(key), Some(passphrase)) = (key, passphrase) else {
        set(&report, |r| {
            r.state = Some(TargetState::Retrying);
            r.error_code = Some(Trouble::KeyUnreadable);
            r.error = "the stream key cannot be decrypted here: every node needs the same \
                data.secret_key_file; enter the key again"
                .into();
        });
        return;
    };
    let mut pause = Duration::from_secs(1);
    loop {
        set(&report, |r| {
            r.state = Some(TargetState::Connecting);
            r.attempts += 1;
        });
        let began = Instant::now();
        let secrets = (key.as_str(), passphrase.as_deref());
        match push_once(&target.target.url, secrets, &app, &tee, &report, &mut ended).await {
            Ok(()) => return,
            Err(e) => {
                let mut error = e.to_string().replace(key.as_str(), "***");
                if let Some(p) = passphrase.as_deref() {
                    error = error.replace(p, "***");
                }
                tracing::info!(target = %id, error = %error, "a restream push failed");
                metrics::counter!("cityx_live_restream_failures_total").increment(1);
                if began.elapsed() >= STEADY {
                    pause = Duration::from_secs(1);
                }
                set(&report, |r| {
                    r.state = Some(TargetState::Retrying);
                    r.error = error;
                    r.error_code = Some(e.code);
                });
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = ended.changed() => return,
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// One connection: publish, send the stream's start, then every message from the next
/// keyframe on. `Ok` when the session's stream ended, or when `ended` is set (the stream
/// ended at the partner).
async fn push_once(
    url: &str,
    (key, passphrase): (&str, Option<&str>),
    app: &App,
    tee: &Tee,
    report: &Mutex<TargetReport>,
    ended: &mut watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let mut rx = tee.tx.subscribe();
    let mut out = tokio::select! {
        c = Out::open(app, url, key, passphrase) => c?,
        _ = ended.changed() => return Ok(()),
    };
    let carried = report.lock().unwrap_or_else(|e| e.into_inner()).bytes;
    let sent_before = out.sent();
    set(report, |r| {
        r.state = Some(TargetState::Live);
        r.error.clear();
        r.error_code = None;
    });
    let mut started = false;
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Ok(m) => {
                    if !started {
                        // A partner's player starts at a keyframe with the codec headers.
                        if m.kind != TagKind::Video || !flv::is_keyframe(&m.data) {
                            continue;
                        }
                        let start = tee.start.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        out.start(start, m.timestamp).await?;
                        started = true;
                    }
                    out.send(m).await?;
                    let bytes = carried + (out.sent() - sent_before);
                    set(report, |r| r.bytes = bytes);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    return Err(ClientError::new(Trouble::TooSlow, format!(
                        "the partner took the stream slower than it came ({n} messages behind)"
                    )));
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            read = out.read() => read?,
            _ = ended.changed() => {
                return tokio::time::timeout(END_WITHIN, out.end())
                    .await
                    .unwrap_or(Ok(()));
            }
        }
    }
}

/// SRT carries this much in a packet: seven transport stream packets.
const SRT_PAYLOAD: usize = 7 * 188;

/// A push's connection: RTMP (the messages as they are), or an SRT call carrying the
/// messages as one MPEG transport stream.
enum Out {
    Rtmp(Client),
    Srt {
        socket: srt_tokio::SrtSocket,
        ts: cityx_media::ts::Stream,
        sent: u64,
    },
}

impl Out {
    /// Connects to the target and asks to publish with `key` (RTMP's stream key, SRT's
    /// streamid, with the SRT passphrase if there is one).
    async fn open(
        app: &App,
        url: &str,
        key: &str,
        passphrase: Option<&str>,
    ) -> Result<Out, ClientError> {
        if cityx_core::live::target::is_srt(url) {
            let socket = crate::srt::call(app, url, Some(key), passphrase).await?;
            return Ok(Out::Srt {
                socket,
                ts: cityx_media::ts::Stream::default(),
                sent: 0,
            });
        }
        let mut client = Client::connect(app.fetch_guard(), url).await?;
        client.publish(key).await?;
        Ok(Out::Rtmp(client))
    }

    fn sent(&self) -> u64 {
        match self {
            Out::Rtmp(c) => c.sent,
            Out::Srt { sent, .. } => *sent,
        }
    }

    /// Sends what a partner needs before the first keyframe: metadata and codec headers.
    async fn start(&mut self, start: Start, at: u32) -> Result<(), ClientError> {
        if let (Out::Rtmp(client), Some(metadata)) = (&mut *self, &start.metadata) {
            client.send_metadata(metadata).await?;
        }
        for (kind, header) in [(TagKind::Video, start.video), (TagKind::Audio, start.audio)] {
            if let Some(data) = header {
                self.send(Message {
                    kind,
                    timestamp: at,
                    data,
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, m: Message) -> Result<(), ClientError> {
        match self {
            Out::Rtmp(client) => client.send(m.kind, m.timestamp, m.data).await,
            Out::Srt { socket, ts, sent } => {
                let track = match m.kind {
                    TagKind::Video => cityx_media::ts::Track::Video,
                    TagKind::Audio => cityx_media::ts::Track::Audio,
                };
                let packets = ts
                    .push(track, m.timestamp, &m.data)
                    .map_err(|u| ClientError::new(Trouble::Unsupported, u.0))?;
                let packets = Bytes::from(packets);
                let now = Instant::now();
                for at in (0..packets.len()).step_by(SRT_PAYLOAD) {
                    let chunk = packets.slice(at..(at + SRT_PAYLOAD).min(packets.len()));
                    socket.feed((now, chunk)).await.map_err(srt_broken)?;
                }
                socket.flush().await.map_err(srt_broken)?;
                *sent += packets.len() as u64;
                Ok(())
            }
        }
    }

    /// Waits for what the partner sends (RTMP's acknowledgements, handled here); fails
    /// when the connection ends. Safe to cancel.
    async fn read(&mut self) -> Result<(), ClientError> {
        match self {
            Out::Rtmp(client) => {
                let n = client.read().await?;
                client.received(n).await.map(|_| ())
            }
            Out::Srt { socket, .. } => match socket.next().await {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(srt_broken(e)),
                None => Err(ClientError::new(
                    Trouble::Broken,
                    "the SRT listener closed the connection",
                )),
            },
        }
    }

    /// Ends the stream at the partner and closes the connection.
    async fn end(&mut self) -> Result<(), ClientError> {
        match self {
            Out::Rtmp(client) => client.unpublish().await,
            Out::Srt { socket, .. } => socket.close().await.map_err(srt_broken),
        }
    }
}

fn srt_broken(e: std::io::Error) -> ClientError {
    ClientError::new(Trouble::Broken, format!("the SRT connection broke: {e}"))
}

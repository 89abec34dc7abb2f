//! One publishing session of a channel: the packager (a hardened ffmpeg fed the stream on its
//! standard input, copying it into short HLS segments), the mover (segments into storage as
//! they finish, the channel's time-shift playlist after each) and the health report, which
//! also renews the session's hold on the channel.

use crate::IngestOptions;
use crate::flv::{self, TagKind};
use crate::restream::{Restream, Tee};
use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::{ALARM_AFTER_SECS, Alarm, BLACK_LUMA, Channel, Health, SILENCE_DB};
use cityx_media::live::{LOCAL_PLAYLIST, LivePlaylist, LiveSegment, THUMBNAIL, listed_segments};
use cityx_storage::{Storage, StorageKey};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// How long a session's hold lasts without a report (reports come every [`REPORT_EVERY`]).
pub const HOLD: Duration = Duration::from_secs(6);
/// How often health is reported and the hold renewed.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
/// Tags queued for the packager before the publisher is cut off as too fast.
const QUEUE: usize = 4096;
/// Bytes queued for the packager at most (a publisher faster than ffmpeg is cut off).
const QUEUED_BYTES: usize = 64 << 20;
/// The largest audio or video message taken (a frame; larger is no real encoder's).
pub const MAX_MESSAGE: usize = 8 << 20;

/// What the session has seen of its input, for the health report.
#[derive(Default)]
struct Seen {
    health: Health,
    bytes: u64,
    frames: u64,
    last_keyframe: Option<Instant>,
}

/// Why a session ended early, as the publisher's log says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The channel was deleted, or another session holds it.
    Lost,
    /// Above the channel's bit rate or height.
    OverLimits,
    /// The packager stopped (an input it cannot copy).
    PackagerEnded,
}

/// A running session. Feed it the publisher's messages; [`finish`](Self::finish) ends it.
/// Dropped without [`finish`](Self::finish) (a panic, an early return), it still stops
/// its tasks: the packager gets the end of its input, the mover its stop, the reporter is
/// ended and the hold runs out.
pub struct Publish {
    pub channel: Channel,
    pub session: String,
    tags: Option<mpsc::Sender<Bytes>>,
    queued: Arc<AtomicUsize>,
    seen: Arc<Mutex<Seen>>,
    cut: Arc<Mutex<Option<Cut>>>,
    /// Set when the session lost the channel: it writes none of the channel's files.
    lost: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    reporter: JoinHandle<()>,
    packager: Option<JoinHandle<()>>,
    mover: Option<JoinHandle<()>>,
    /// The stream, for the pushes to the channel's restream targets.
    tee: Tee,
    restream: Option<Restream>,
    /// The packager's meter and the alarms raised now.
    meter: Arc<std::sync::Mutex<Meter>>,
    /// Whether the broadcast ends with this session (the mover closes the playlist); not
    /// when a slate follows.
    ends: Arc<AtomicBool>,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
}

/// What the packager's meter read lately, and since when the input is quiet or dark.
#[derive(Default)]
struct Meter {
    level: Option<f64>,
    quiet_since: Option<Instant>,
    dark_since: Option<Instant>,
    /// Alarms raised now (and told).
    raised: Vec<Alarm>,
    /// A slate's meter: no signal stays raised, and the card's black and silence are not
    /// the input's.
    held: bool,
}

impl Meter {
    fn take(&mut self, reading: cityx_media::live::Meter) {
        use cityx_media::live::Meter as Reading;
        if self.held {
            return;
        }
        let now = Instant::now();
        match reading {
            Reading::Level(db) => {
                self.level = Some(db);
                if db < SILENCE_DB {
                    self.quiet_since.get_or_insert(now);
                } else {
                    self.quiet_since = None;
                }
            }
            Reading::Luma(y) => {
                if y < BLACK_LUMA {
                    self.dark_since.get_or_insert(now);
                } else {
                    self.dark_since = None;
                }
            }
        }
    }

    /// The alarms the readings call for now.
    fn due(&self) -> Vec<Alarm> {
        if self.held {
            return self.raised.clone();
        }
        let long = |since: Option<Instant>| {
            since.is_some_and(|t| t.elapsed() >= Duration::from_secs(ALARM_AFTER_SECS))
        };
        let mut due = Vec::new();
        if long(self.quiet_since) {
            due.push(Alarm::Silence);
        }
        if long(self.dark_since) {
            due.push(Alarm::Black);
        }
        due
    }
}

/// Tells the channel's station of the alarms that changed from `before` to `now`.
async fn tell_alarms(
    repo: &dyn cityx_db::Repo,
    channel: &Channel,
    before: &[Alarm],
    now: &[Alarm],
) {
    let changes = now
        .iter()
        .filter(|a| !before.contains(a))
        .map(|a| (*a, true))
        .chain(
            before
                .iter()
                .filter(|a| !now.contains(a))
                .map(|a| (*a, false)),
        );
    for (alarm, raised) in changes {
        tracing::info!(channel = %channel.id, alarm = alarm.as_str(), raised, "live alarm");
        metrics::counter!("cityx_live_alarms_total", "alarm" => alarm.as_str())
            .increment(u64::from(raised));
        if let Err(e) = repo.record_channel_alarm(channel, alarm, raised).await {
            tracing::warn!(channel = %channel.id, error = %e, "could not tell an alarm");
        }
    }
}

impl Drop for Publish {
    fn drop(&mut self) {
        metrics::gauge!("cityx_live_sessions").decrement(1.0);
        self.tags.take();
        self.stop.store(true, Ordering::SeqCst);
        self.reporter.abort();
    }
}

/// A recorded broadcast's current part: its segments, until it becomes an item.
struct Recording {
    part: LivePlaylist,
    number: u32,
    saved: Instant,
    /// Parts that became items: their time range and list. A part's job removes the list
    /// when it is done, and with it the segments the window no longer shows.
    finished: Vec<(OffsetDateTime, OffsetDateTime, String)>,
}

impl Publish {
    /// Starts a session of `channel`, already held as `session`.
    pub fn start(
        channel: Channel,
        session: String,
        remote: String,
        reconnects: u32,
        app: Arc<App>,
        opts: Arc<IngestOptions>,
    ) -> std::io::Result<Publish> {
        let slate = crate::slate::is_slate(&session);
        let dir = opts.work_dir.join(channel.id.to_string()).join(&session);
        std::fs::create_dir_all(&dir)?;
        metrics::gauge!("cityx_live_sessions").increment(1.0);
        let (tags, rx) = mpsc::channel::<Bytes>(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let lost = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen {
            health: Health {
                remote,
                reconnects,
                slate,
                ..Health::default()
            },
            ..Seen::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Mutex::new(None));
        let meter = Arc::new(std::sync::Mutex::new(Meter {
            held: slate,
            raised: if slate { vec![Alarm::NoSignal] } else { vec![] },
            ..Meter::default()
        }));
        let ends = Arc::new(AtomicBool::new(true));
        let packager = tokio::spawn(package(
            dir.clone(),
            rx,
            queued.clone(),
            opts.clone(),
            cut.clone(),
            meter.clone(),
        ));
        let tee = Tee::default();
        let restream = Some(Restream::start(channel.id, app.clone(), tee.clone()));
        let mover = tokio::spawn(move_segments(Mover {
            channel: channel.clone(),
            session: session.clone(),
            dir,
            storage: app.storage().clone(),
            app: app.clone(),
            ends: ends.clone(),
            window_secs: f64::from(channel.dvr_minutes) * 60.0,
            stop: stop.clone(),
            lost: lost.clone(),
            survives: std::sync::OnceLock::new(),
            recording: (channel.record && !slate).then(|| Recording {
                part: LivePlaylist::default(),
                number: 0,
                saved: Instant::now(),
                finished: Vec::new(),
            }),
        }));
        let reporter = tokio::spawn(report(
            channel.clone(),
            session.clone(),
            app.repo().clone(),
            seen.clone(),
            cut.clone(),
            lost.clone(),
            meter.clone(),
        ));
        Ok(Publish {
            channel,
            session,
            tags: Some(tags),
            queued,
            seen,
            cut,
            lost,
            stop,
            reporter,
            packager: Some(packager),
            mover: Some(mover),
            tee,
            restream,
            meter,
            ends,
            app,
            opts,
        })
    }

    /// Why the session must end now, if it must.
    pub async fn cut(&self) -> Option<Cut> {
        *self.cut.lock().await
    }

    /// Passes a video or audio message on; false when the packager cannot keep up.
    pub async fn feed(&self, kind: TagKind, timestamp: u32, data: &Bytes) -> bool {
        {
            let mut seen = self.seen.lock().await;
            seen.bytes += data.len() as u64;
            match kind {
                TagKind::Video => {
                    if let Some(codec) = flv::video_codec(data) {
                        codec.clone_into(&mut seen.health.video_codec);
                    }
                    if flv::is_frame(data) {
                        seen.frames += 1;
                    }
                    if flv::is_keyframe(data) {
                        let now = Instant::now();
                        if let Some(last) = seen.last_keyframe {
                            seen.health.keyframe_secs =
                                ((now - last).as_secs_f64() * 100.0).round() / 100.0;
                        }
                        seen.last_keyframe = Some(now);
                    }
                }
                TagKind::Audio => {
                    if let Some(codec) = flv::audio_codec(data) {
                        codec.clone_into(&mut seen.health.audio_codec);
                    }
                }
            }
        }
        if data.len() > MAX_MESSAGE
            || self.queued.load(Ordering::Relaxed) + data.len() > QUEUED_BYTES
        {
            return false;
        }
        let tag = flv::tag(kind, timestamp, data);
        let len = tag.len();
        match self.tags.as_ref().map(|t| t.try_send(tag)) {
            Some(Ok(())) => {
                self.queued.fetch_add(len, Ordering::Relaxed);
                self.tee.send(kind, timestamp, data);
                true
            }
            _ => false,
        }
    }

    /// The publisher's metadata: its announced picture size, passed on to restream targets.
    pub async fn metadata(&self, metadata: &rml_rtmp::sessions::StreamMetadata) {
        self.tee.metadata(metadata);
        let mut seen = self.seen.lock().await;
        if let (Some(w), Some(h)) = (metadata.video_width, metadata.video_height) {
            seen.health.width = w;
            seen.health.height = h;
        }
        if self.channel.max_height > 0 && seen.health.height > self.channel.max_height {
            *self.cut.lock().await = Some(Cut::OverLimits);
        }
    }

    /// The picture size, for a stream whose size did not come as RTMP metadata (a pull).
    pub async fn set_size(&self, width: u32, height: u32) {
        let mut seen = self.seen.lock().await;
        seen.health.width = width;
        seen.health.height = height;
        if self.channel.max_height > 0 && height > self.channel.max_height {
            *self.cut.lock().await = Some(Cut::OverLimits);
        }
    }

    /// Why the session's source broke, kept in the channel's last health report.
    pub async fn note_error(&self, error: crate::Failure) {
        let mut seen = self.seen.lock().await;
        seen.health.error = error.detail;
        seen.health.error_code = Some(error.code);
    }

    /// Ends the session: the packager gets the end of the stream and writes its last
    /// segment, the mover stores it and marks the broadcast ended, and the hold is released.
    /// Unless the input ended `clean` (the publisher or source said so), a no-signal alarm
    /// is raised, silence and black end with the input, and the channel goes on on its
    /// slate (when `live.slate_secs` is not 0) instead of ending.
    pub async fn finish(mut self, clean: bool) {
        let lost = self.lost.load(Ordering::SeqCst);
        let slate = crate::slate::is_slate(&self.session);
        // A stream over the channel's limits is refused, not covered.
        let refused = *self.cut.lock().await == Some(Cut::OverLimits);
        let slate_next = !clean && !lost && !slate && !refused && self.opts.slate_secs > 0;
        if slate_next {
            self.ends.store(false, Ordering::SeqCst);
        }
        // The reporter keeps renewing the hold until the last segment is stored.
        self.tags.take();
        if let Some(r) = self.restream.take() {
            // The partners' streams end with the broadcast; a slate's push follows otherwise.
            r.stop(!slate_next && !lost).await;
        }
        if let Some(p) = self.packager.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), p).await;
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(m) = self.mover.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), m).await;
        }
        self.reporter.abort();
        let mut health = self.seen.lock().await.health.clone();
        let before =
            std::mem::take(&mut self.meter.lock().unwrap_or_else(|e| e.into_inner()).raised);
        // A slate that lost the channel leaves no signal to the input that took it back.
        let lost = self.lost.load(Ordering::SeqCst);
        let after = if (clean || lost) && !(slate && lost) {
            Vec::new()
        } else {
            vec![Alarm::NoSignal]
        };
        tell_alarms(&**self.app.repo(), &self.channel, &before, &after).await;
        health.alarms = after;
        health.audio_db = None;
        tracing::info!(channel = %self.channel.id, session = %self.session, "live session ended");
        if lost {
            return;
        }
        if slate_next {
            let to = crate::door::session_id(crate::slate::PREFIX);
            let mut report = health.clone();
            report.slate = true;
            match self
                .app
                .repo()
                .hand_over_channel(
                    self.channel.id,
                    &self.session,
                    &to,
                    cityx_core::now() + HOLD,
                    &report,
                )
                .await
            {
                Ok(true) => {
                    let (app, opts) = (self.app.clone(), self.opts.clone());
                    crate::slate::cover(self.channel.clone(), to, health, app, opts);
                    return;
                }
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(channel = %self.channel.id, error = %e, "could not hand a channel to its slate");
                    end_playlist(self.app.storage(), self.channel.id).await;
                }
            }
        }
        health.slate = false;
        if let Err(e) = self
            .app
            .repo()
            .release_channel(self.channel.id, &self.session, &health)
            .await
        {
            tracing::warn!(channel = %self.channel.id, error = %e, "could not release a channel");
        }
    }
}

/// Runs the packager until the stream ends (its queue closes) or ffmpeg stops.
async fn package(
    dir: PathBuf,
    mut rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
    opts: Arc<IngestOptions>,
    cut: Arc<Mutex<Option<Cut>>>,
    meter: Arc<std::sync::Mutex<Meter>>,
) {
    let (stdin_tx, stdin_rx) = tokio::sync::oneshot::channel();
    let writer = tokio::spawn(async move {
        let Ok(stdin) = stdin_rx.await else {
            return;
        };
        let mut stdin: tokio::process::ChildStdin = stdin;
        if stdin.write_all(&flv::header()).await.is_err() {
            return;
        }
        while let Some(tag) = rx.recv().await {
            queued.fetch_sub(tag.len(), Ordering::Relaxed);
            if stdin.write_all(&tag).await.is_err() {
                return;
            }
        }
        let _ = stdin.shutdown().await;
    });
    let args = cityx_media::live::package_args(&cityx_media::live::PackageOptions {
        format: "flv",
        segment_secs: opts.segment_secs,
        thumbnail_secs: opts.thumbnail_secs,
    });
    let limits = cityx_media::process::Limits {
        // A broadcast may run for days; the stall watchdog ends a stuck one.
        wall: Duration::from_secs(30 * 24 * 3600),
        stall: Duration::from_secs(30),
        max_stdout: 0,
    };
    let hooks = cityx_media::process::Hooks {
        stdout_lines: Some(Box::new(|_| {})),
        stderr_lines: Some(Box::new(move |line| {
            if let Some(reading) = cityx_media::live::Meter::read(line) {
                meter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(reading);
            }
        })),
        die_with_parent: true,
        stdin: Some(Box::new(move |s| {
            let _ = stdin_tx.send(s);
        })),
        ..Default::default()
    };
    let result =
        cityx_media::process::run_with(&opts.tools.ffmpeg, &args, &dir, &limits, hooks).await;
    writer.abort();
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "the live packager stopped");
        cut.lock().await.get_or_insert(Cut::PackagerEnded);
    }
}

struct Mover {
    channel: Channel,
    session: String,
    dir: PathBuf,
    storage: Storage,
    app: Arc<App>,
    window_secs: f64,
    stop: Arc<AtomicBool>,
    /// The session lost the channel: it writes no file the channel's sessions share, and its
    /// own (segments, recorded parts) only while the channel exists (a rotated key keeps its
    /// recording; a deleted channel keeps nothing).
    lost: Arc<AtomicBool>,
    /// Whether the channel still existed when the session learnt it lost it.
    survives: std::sync::OnceLock<bool>,
    /// When the channel records its broadcasts.
    recording: Option<Recording>,
    /// Whether the playlist is closed at the end (not when a slate follows).
    ends: Arc<AtomicBool>,
}

/// How often the mover looks at ffmpeg's list for finished segments.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// How often a recording's part list is saved while it grows.
const SAVE_PART_EVERY: Duration = Duration::from_secs(15);

impl Mover {
    fn key(&self, relative: &str) -> Option<StorageKey> {
        StorageKey::live(self.channel.id, relative)
    }

    fn part_uri(session: &str, number: u32) -> String {
        format!("{session}/part-{number}.m3u8")
    }

    /// Adds a stored segment to the recording; the part becomes an item when it is long
    /// enough.
    async fn record(&mut self, segment: &LiveSegment) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        rec.part.push(segment.clone(), f64::INFINITY);
        if rec.part.total_secs() >= cityx_core::live::RECORDING_PART_SECS {
            self.finish_part().await;
        } else if rec.saved.elapsed() >= SAVE_PART_EVERY {
            rec.saved = Instant::now();
            let (uri, text) = (Self::part_uri(&self.session, rec.number), rec.part.render());
            self.put(&uri, Bytes::from(text)).await;
        }
    }

    /// Saves the recording's current part and makes it an item (its job cuts it), then
    /// starts the next part.
    async fn finish_part(&mut self) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        let (Some(first), Some(last)) = (rec.part.segments.first(), rec.part.segments.last())
        else {
            return;
        };
        let (from, to) = (
            first.at,
            last.at + time::Duration::seconds_f64(last.duration),
        );
        rec.part.ended = true;
        let uri = Self::part_uri(&self.session, rec.number);
        rec.finished.push((from, to, uri.clone()));
        let text = rec.part.render();
        rec.part = LivePlaylist::default();
        rec.number += 1;
        rec.saved = Instant::now();
        if !self.put(&uri, Bytes::from(text)).await {
            return;
        }
        let order = crate::clip::ClipOrder {
            channel: self.channel.id,
            from,
            to,
            part: Some(uri),
        };
        let title = format!(
            "{} 录像 {}",
            self.channel.name,
            crate::context::beijing_day_time(from)
        );
        let input = cityx_core::AssetInput {
            title: &title,
            filename: "recording.mp4",
            ..cityx_core::AssetInput::default()
        };
        let made = self
            .app
            .ingest()
            .create_recorded_item(
                self.channel.station_id,
                self.channel.created_by,
                &input,
                format!("live:{}", self.channel.id),
                cityx_core::live::CLIP_JOB,
                serde_json::to_value(&order).unwrap_or_default(),
            )
            .await;
        match made {
            Ok(asset) => {
                tracing::info!(channel = %self.channel.id, asset = %asset.id, "a recording became an item")
            }
            Err(e) => {
                tracing::warn!(channel = %self.channel.id, error = %e, "could not make a recording's item")
            }
        }
    }

    async fn put(&self, relative: &str, bytes: Bytes) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            let shared = !relative.starts_with(&format!("{}/", self.session));
            if shared {
                return false;
            }
            if self.survives.get().is_none() {
                let exists = self
                    .app
                    .repo()
                    .get_channel(cityx_core::TenantScope::All, self.channel.id)
                    .await
                    .is_ok();
                let _ = self.survives.set(exists);
            }
            if self.survives.get() != Some(&true) {
                return false;
            }
        }
        let Some(key) = self.key(relative) else {
            return false;
        };
        match self.storage.put(&key, bytes).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(channel = %self.channel.id, %relative, error = %e, "could not store a live file");
                false
            }
        }
    }

    async fn load_playlist(&self) -> LivePlaylist {
        let Some(key) = self.key("index.m3u8") else {
            return LivePlaylist::default();
        };
        match self.storage.read_small(&key, cityx_app::SMALL_FILE).await {
            Ok(Some((_, bytes))) => {
                LivePlaylist::parse(&String::from_utf8_lossy(&bytes)).unwrap_or_default()
            }
            _ => LivePlaylist::default(),
        }
    }

    async fn forget(&self, uris: Vec<String>) {
        for uri in uris {
            if let Some(key) = self.key(&uri) {
                let _ = self.storage.delete(&key).await;
            }
        }
    }

    /// Whether a session of this channel still has a recorded part waiting for its job.
    async fn pending_parts(&self, session: &str) -> bool {
        use futures_util::StreamExt;
        let Some(prefix) = self.key(session) else {
            return false;
        };
        let mut listed = self.storage.list(&prefix);
        while let Some(item) = listed.next().await {
            match item {
                Ok(l) if l.key.as_str().ends_with(".m3u8") => return true,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Removes segments that slid out of the window, but for those a recording still needs:
    /// the current part's, and a finished part's until its job has taken them.
    async fn forget_dropped(&self, dropped: Vec<LiveSegment>) {
        let mut gone = Vec::new();
        for s in dropped {
            let needed = match &self.recording {
                None => false,
                Some(rec) if rec.part.segments.iter().any(|p| p.uri == s.uri) => true,
                Some(rec) => match rec
                    .finished
                    .iter()
                    .find(|(from, to, _)| s.at >= *from && s.at < *to)
                {
                    Some((_, _, list)) => match self.key(list) {
                        // Kept unless surely taken: the list is gone once its job is done.
                        Some(key) => {
                            !matches!(self.storage.head(&key).await, Err(e) if e.is_not_found())
                        }
                        None => false,
                    },
                    None => false,
                },
            };
            if !needed {
                gone.push(s.uri);
            }
        }
        self.forget(gone).await;
    }
}

/// Moves finished segments into storage and keeps the channel's playlist, until the
/// session stops and the last segment is stored.
async fn move_segments(mut m: Mover) {
    let mut playlist = m.load_playlist().await;
    // What an earlier session left older than the window goes now.
    let horizon = cityx_core::now() - time::Duration::seconds_f64(m.window_secs);
    // Segment times only grow (see below), so the expired ones are the first ones.
    let expired = playlist
        .segments
        .iter()
        .take_while(|s| s.at < horizon)
        .count();
    let dropped: Vec<LiveSegment> = playlist.segments.drain(..expired).collect();
    playlist.sequence += expired as u64;
    playlist.discontinuity_sequence += dropped.iter().filter(|s| s.discontinuity).count() as u64;
    let old: Vec<String> = dropped.into_iter().map(|s| s.uri).collect();
    // Old segments go, but those of a session whose recording's job has not run yet.
    let mut gone = Vec::new();
    let mut pending: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for uri in old {
        let session = uri.split('/').next().unwrap_or_default().to_owned();
        let waits = match pending.get(&session) {
            Some(w) => *w,
            None => {
                let w = m.pending_parts(&session).await;
                pending.insert(session, w);
                w
            }
        };
        if !waits {
            gone.push(uri);
        }
    }
    m.forget(gone).await;
    let mut first = true;
    let mut next_at: Option<OffsetDateTime> = None;
    let mut moved = 0usize;
    let mut thumb_changed = None;
    loop {
        let stopping = m.stop.load(Ordering::SeqCst);
        let local = tokio::fs::read_to_string(m.dir.join(LOCAL_PLAYLIST))
            .await
            .unwrap_or_default();
        let listed = listed_segments(&local);
        for (name, duration) in &listed {
            // ffmpeg's list keeps the last few; count by the number in the name.
            let Some(n) = segment_number(name) else {
                continue;
            };
            if n < moved {
                continue;
            }
            let path = m.dir.join(name);
            let Ok(bytes) = tokio::fs::read(&path).await else {
                continue;
            };
            let uri = format!("{}/{n}.ts", m.session);
            if !m.put(&uri, Bytes::from(bytes)).await {
                break;
            }
            let _ = tokio::fs::remove_file(&path).await;
            moved = n + 1;
            // On air from the segment's start: counted on from the session's first, never
            // ahead of the clock (a publisher faster than real time) and never before the
            // window's last segment ended (the times only grow).
            let now = cityx_core::now();
            let mut at = next_at
                .unwrap_or_else(|| now - time::Duration::seconds_f64(*duration))
                .min(now);
            if let Some(last) = playlist.segments.last() {
                at = at.max(last.at + time::Duration::seconds_f64(last.duration));
            }
            next_at = Some(at + time::Duration::seconds_f64(*duration));
            let segment = LiveSegment {
                uri,
                duration: *duration,
                at,
                discontinuity: first && !playlist.segments.is_empty(),
            };
            m.record(&segment).await;
            let dropped = playlist.push(segment, m.window_secs);
            first = false;
            m.put("index.m3u8", Bytes::from(playlist.render())).await;
            m.forget_dropped(dropped).await;
        }
        if let Ok(meta) = tokio::fs::metadata(m.dir.join(THUMBNAIL)).await
            && let Ok(modified) = meta.modified()
            && thumb_changed != Some(modified)
            && let Ok(bytes) = tokio::fs::read(m.dir.join(THUMBNAIL)).await
            && !bytes.is_empty()
        {
            thumb_changed = Some(modified);
            m.put(THUMBNAIL, Bytes::from(bytes)).await;
        }
        if stopping {
            break;
        }
        // ffmpeg's list is a small local file: looking often keeps a finished segment's
        // wait for its listing short (the live bench's segment latency).
        tokio::time::sleep(LOOK_EVERY).await;
    }
    if m.ends.load(Ordering::SeqCst) {
        playlist.ended = true;
        m.put("index.m3u8", Bytes::from(playlist.render())).await;
    }
    m.finish_part().await;
    let _ = tokio::fs::remove_dir_all(&m.dir).await;
}

/// Marks the channel's playlist ended (`#EXT-X-ENDLIST`), for a broadcast that ends without
/// its session's mover doing it (a slate that could not start).
pub(crate) async fn end_playlist(storage: &Storage, id: cityx_core::ChannelId) {
    let Some(key) = StorageKey::live(id, "index.m3u8") else {
        return;
    };
    let Ok(Some((_, bytes))) = storage.read_small(&key, cityx_app::SMALL_FILE).await else {
        return;
    };
    let Some(mut playlist) = LivePlaylist::parse(&String::from_utf8_lossy(&bytes)) else {
        return;
    };
    playlist.ended = true;
    if let Err(e) = storage.put(&key, Bytes::from(playlist.render())).await {
        tracing::warn!(channel = %id, error = %e, "could not end a playlist");
    }
}

/// The number in `seg_<n>.ts`.
fn segment_number(name: &str) -> Option<usize> {
    name.strip_prefix("seg_")?.strip_suffix(".ts")?.parse().ok()
}

/// Every [`REPORT_EVERY`], reports health and renews the hold; marks the session cut when
/// the hold is lost or the input is over the channel's limits.
async fn report(
    channel: Channel,
    session: String,
    repo: Arc<dyn cityx_db::Repo>,
    seen: Arc<Mutex<Seen>>,
    cut: Arc<Mutex<Option<Cut>>>,
    lost: Arc<AtomicBool>,
    meter: Arc<std::sync::Mutex<Meter>>,
) {
    // A no-signal alarm of the channel's last broadcast (or of the slate this session
    // takes the channel from) ends as this input begins.
    if let Some(last) = &channel.health
        && last.alarms.contains(&Alarm::NoSignal)
        && !crate::slate::is_slate(&session)
    {
        tell_alarms(&*repo, &channel, &[Alarm::NoSignal], &[]).await;
    }
    let started = Instant::now();
    let mut last = Instant::now();
    let mut renewed = Instant::now();
    let lose = || async {
        lost.store(true, Ordering::SeqCst);
        *cut.lock().await = Some(Cut::Lost);
    };
    let mut over = 0;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let health = {
            let mut s = seen.lock().await;
            let secs = last.elapsed().as_secs_f64().max(0.001);
            last = Instant::now();
            s.health.kbps =
                u32::try_from((s.bytes as f64 * 8.0 / 1000.0 / secs) as u64).unwrap_or(u32::MAX);
            s.health.fps = (s.frames as f64 / secs * 10.0).round() / 10.0;
            s.health.uptime_secs = started.elapsed().as_secs();
            s.bytes = 0;
            s.frames = 0;
            s.health.clone()
        };
        let (mut health, before, now) = {
            let mut m = meter.lock().unwrap_or_else(|e| e.into_inner());
            let due = m.due();
            let before = std::mem::replace(&mut m.raised, due.clone());
            let mut health = health;
            health.audio_db = m.level.map(|db| (db * 10.0).round() / 10.0);
            (health, before, due)
        };
        health.alarms = now.clone();
        if before != now {
            tell_alarms(&*repo, &channel, &before, &now).await;
        }
        if channel.max_kbps > 0 && health.kbps > channel.max_kbps.saturating_mul(5) / 4 {
            over += 1;
            if over >= 2 {
                *cut.lock().await = Some(Cut::OverLimits);
            }
        } else {
            over = 0;
        }
        let until = cityx_core::now() + HOLD;
        match repo
            .renew_channel(channel.id, &session, until, &health)
            .await
        {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => {
                lose().await;
                return;
            }
            // The database away: keep going until the hold would run out, then stop, as
            // another node may take the channel.
            Err(e) => {
                tracing::warn!(channel = %channel.id, error = %e, "could not renew a channel");
                if renewed.elapsed() >= HOLD {
                    lose().await;
                    return;
                }
            }
        }
    }
}

/// Removes a working directory left by a node that stopped (called at start).
pub fn clear_work_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

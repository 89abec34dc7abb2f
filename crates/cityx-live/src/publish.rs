//! One publishing session of a channel: the packager (in process: the stream copied into
//! short HLS segments, the meter, a keyframe now and then for the thumbnail; `package`), the
//! mover (segments into storage as they finish, the channel's time-shift playlist after
//! each; `mover`) and the health report, which also renews the session's hold on the
//! channel.

use crate::IngestOptions;
use crate::flv::{self, TagKind};
use crate::mover::{Mover, PLAYLIST, Recording, end_playlists, move_segments};
use crate::package::{Meter, Packager, Stop, WAITING_SEGMENTS};
use crate::restream::{Restream, Tee};
use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::{Alarm, Channel, Health};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a session's hold lasts without a report (reports come every [`REPORT_EVERY`]).
pub const HOLD: Duration = Duration::from_secs(6);
/// How often health is reported and the hold renewed.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
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
    /// A codec the packager does not copy.
    Unsupported,
    /// Storage is slower than the stream: segments wait for the mover.
    TooFast,
}

impl Cut {
    /// The cut as the channel's health names it.
    pub fn failure(self) -> crate::Failure {
        use cityx_core::live::Trouble;
        match self {
            Cut::Lost => crate::Failure::new(
                Trouble::Dropped,
                "the channel was deleted or taken by another session",
            ),
            Cut::OverLimits => crate::Failure::new(
                Trouble::Unsupported,
                "the stream is over the channel's bit rate or height",
            ),
            Cut::Unsupported => crate::Failure::new(
                Trouble::Unsupported,
                "live channels copy H.264 video with AAC or MP3 audio (frames up to 8 MiB)",
            ),
            Cut::TooFast => {
                crate::Failure::new(Trouble::TooSlow, "storage cannot keep up with the stream")
            }
        }
    }
}

/// A running session. Feed it the publisher's messages; [`finish`](Self::finish) ends it.
/// Dropped without [`finish`](Self::finish) (a panic, an early return), it still stops
/// its tasks: the packager and with it the mover and the inspector end, the reporter is
/// ended and the hold runs out.
pub struct Publish {
    pub channel: Channel,
    pub session: String,
    packager: std::sync::Mutex<Packager>,
    seen: Arc<Mutex<Seen>>,
    cut: Arc<Mutex<Option<Cut>>>,
    /// Set when the session lost the channel: it writes none of the channel's files.
    lost: Arc<AtomicBool>,
    reporter: JoinHandle<()>,
    mover: Option<JoinHandle<()>>,
    /// The stream, for the pushes to the channel's restream targets.
    tee: Tee,
    restream: Option<Restream>,
    /// The packager's meter and the alarms raised now.
    meter: Arc<std::sync::Mutex<Meter>>,
    /// Whether the broadcast ends with this session (the mover closes the playlist); not
    /// when a slate follows.
    ends: Arc<AtomicBool>,
    /// The channel's lower renditions: started once the input's size is known.
    ladder: std::sync::Mutex<Rungs>,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
}

/// Where a session's lower renditions stand.
enum Rungs {
    /// The channel asks for some; the input's size is not known yet.
    Waiting,
    Running(crate::ladder::Ladder),
    Off,
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
        self.reporter.abort();
    }
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
        let (segments, rx) = mpsc::channel(WAITING_SEGMENTS);
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
        let cut = Arc::new(Mutex::new(None));
        let meter = Arc::new(std::sync::Mutex::new(Meter::new(slate)));
        let ends = Arc::new(AtomicBool::new(true));
        let packager = Packager::new(dir.clone(), &opts, meter.clone(), segments);
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
            segments: rx,
            lost: lost.clone(),
            survives: std::sync::OnceLock::new(),
            recording: if slate { None } else { Recording::of(&channel) },
            playlist: PLAYLIST.into(),
            prefix: session.clone(),
            thumbnails: true,
            follows_recording: !slate,
        }));
        let ladder = if channel.renditions.is_empty() {
            Rungs::Off
        } else {
            Rungs::Waiting
        };
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
            packager: std::sync::Mutex::new(packager),
            seen,
            cut,
            lost,
            reporter,
            mover: Some(mover),
            tee,
            restream,
            meter,
            ends,
            app,
            ladder: std::sync::Mutex::new(ladder),
            opts,
        })
    }

    /// Why the session must end now, if it must.
    pub async fn cut(&self) -> Option<Cut> {
        *self.cut.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Passes a video or audio message on; the session's cut when it can take no more.
    pub async fn feed(&self, kind: TagKind, timestamp: u32, data: &Bytes) -> Result<(), Cut> {
        let mut size = None;
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.bytes += data.len() as u64;
            match kind {
                TagKind::Video => {
                    if let Some(codec) = flv::video_codec(data)
                        && !seen.health.converted
                    {
                        codec.clone_into(&mut seen.health.video_codec);
                    }
                    // The size the stream itself declares, whatever the metadata said.
                    if let Some((w, h)) = flv::avc_dimensions(data) {
                        size = Some((w, h));
                        seen.health.width = w;
                        seen.health.height = h;
                        if self.channel.max_height > 0 && h > self.channel.max_height {
                            drop(seen);
                            *self.cut.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(Cut::OverLimits);
                            return Err(Cut::OverLimits);
                        }
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
                    if let Some(codec) = flv::audio_codec(data)
                        && !seen.health.converted
                    {
                        codec.clone_into(&mut seen.health.audio_codec);
                    }
                }
            }
        }
        if data.len() > MAX_MESSAGE {
            return Err(Cut::Unsupported);
        }
        let pushed = self
            .packager
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(kind, timestamp, data);
        match pushed {
            Ok(()) => {
                self.tee.send(kind, timestamp, data);
                self.feed_ladder(kind, timestamp, data, size).await;
                Ok(())
            }
            Err(stop) => {
                let cut = match stop {
                    Stop::Unsupported => Cut::Unsupported,
                    Stop::Behind => Cut::TooFast,
                };
                self.cut
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(cut);
                Err(cut)
            }
        }
    }

    /// Passes a message to the lower renditions, starting them at the first size the input
    /// declares (with the rungs below it; with none, the master lists the copy alone).
    async fn feed_ladder(
        &self,
        kind: TagKind,
        timestamp: u32,
        data: &[u8],
        size: Option<(u32, u32)>,
    ) {
        let copy_only = {
            let mut ladder = self.ladder.lock().unwrap_or_else(|e| e.into_inner());
            match (&mut *ladder, size) {
                (Rungs::Running(l), _) => {
                    l.feed(kind, timestamp, data);
                    false
                }
                (Rungs::Waiting, Some((w, h))) => {
                    let rungs = crate::ladder::rungs_below(&self.channel.renditions, h);
                    if rungs.is_empty() {
                        *ladder = Rungs::Off;
                        true
                    } else {
                        let session = crate::ladder::Session {
                            channel: self.channel.clone(),
                            session: self.session.clone(),
                            app: self.app.clone(),
                            opts: self.opts.clone(),
                            lost: self.lost.clone(),
                            ends: self.ends.clone(),
                        };
                        let mut l = crate::ladder::Ladder::start(session, (w, h), rungs);
                        l.feed(kind, timestamp, data);
                        *ladder = Rungs::Running(l);
                        false
                    }
                }
                _ => false,
            }
        };
        if copy_only
            && !self.lost.load(Ordering::SeqCst)
            && let Some(key) =
                cityx_storage::StorageKey::live(self.channel.id, crate::ladder::MASTER)
        {
            let master = Bytes::from(crate::ladder::copy_only_master());
            if let Err(e) = self.app.storage().put(&key, master).await {
                tracing::warn!(channel = %self.channel.id, error = %e, "could not store a master playlist");
            }
        }
    }

    /// The input's codecs, for a stream converted before it reaches the session (the
    /// messages then say H.264 and AAC; health shows what came in).
    pub fn converting(&self, program: &cityx_media::sniff::Program) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let health = &mut seen.health;
        health.converted = true;
        if let Some(c) = program.video {
            c.name.clone_into(&mut health.video_codec);
        }
        if let Some(c) = program.audio {
            c.name.clone_into(&mut health.audio_codec);
        }
    }

    /// The publisher's metadata: its announced picture size, passed on to restream targets.
    pub async fn metadata(&self, metadata: &rml_rtmp::sessions::StreamMetadata) {
        self.tee.metadata(metadata);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(w), Some(h)) = (metadata.video_width, metadata.video_height) {
            seen.health.width = w;
            seen.health.height = h;
        }
        if self.channel.max_height > 0 && seen.health.height > self.channel.max_height {
            *self.cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cut::OverLimits);
        }
    }

    /// The picture size, for a stream whose size did not come as RTMP metadata (a pull).
    pub async fn set_size(&self, width: u32, height: u32) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.health.width = width;
        seen.health.height = height;
        if self.channel.max_height > 0 && height > self.channel.max_height {
            *self.cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cut::OverLimits);
        }
    }

    /// Why the session's source broke, kept in the channel's last health report.
    pub async fn note_error(&self, error: crate::Failure) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
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
        let refused = *self.cut.lock().unwrap_or_else(|e| e.into_inner()) == Some(Cut::OverLimits);
        let slate_next = !clean && !lost && !slate && !refused && self.opts.slate_secs > 0;
        if slate_next {
            self.ends.store(false, Ordering::SeqCst);
        }
        // The reporter keeps renewing the hold until the last segment is stored.
        self.packager
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish();
        if let Some(r) = self.restream.take() {
            // The partners' streams end with the broadcast; a slate's push follows otherwise.
            r.stop(!slate_next && !lost).await;
        }
        if let Some(m) = self.mover.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), m).await;
        }
        let ladder = std::mem::replace(
            &mut *self.ladder.lock().unwrap_or_else(|e| e.into_inner()),
            Rungs::Off,
        );
        if let Rungs::Running(l) = ladder {
            l.finish().await;
        }
        self.reporter.abort();
        let mut health = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .health
            .clone();
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
                    end_playlists(self.app.storage(), &self.channel).await;
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
        *cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cut::Lost);
    };
    let mut over = 0;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let health = {
            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
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
                *cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cut::OverLimits);
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

//! A session's packager, in process: the publisher's messages become HLS segments as they
//! come ([`cityx_media::ts::Segmenter`]), handed to the mover; a sample of the AAC frames
//! gives the audio's level ([`cityx_media::level::AacLevel`], in a task of its own, whose
//! stack is not the ingest's); and a keyframe every
//! `live.thumbnail_secs` goes to the inspector, a hardened ffmpeg kept running for the
//! session, which writes the thumbnail and prints the picture's luma. Only the inspector
//! decodes video, and only those keyframes.

use crate::IngestOptions;
use crate::flv::TagKind;
use bytes::Bytes;
use cityx_core::live::{ALARM_AFTER_SECS, Alarm, BLACK_LUMA, SILENCE_DB};
use cityx_media::level::{AacLevel, Sampler};
use cityx_media::ts::{Segment, Segmenter, Track};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Finished segments waiting for the mover before the publisher is cut off as too fast
/// for storage.
pub(crate) const WAITING_SEGMENTS: usize = 8;
/// Keyframes waiting for the inspector (more are not looked at).
const WAITING_KEYFRAMES: usize = 2;
/// Messages waiting for the audio meter (more are not measured).
const WAITING_AUDIO: usize = 4;
/// How soon an inspector that stopped is started again.
const INSPECTOR_AGAIN: Duration = Duration::from_secs(30);

/// What the meter read lately, and since when the input is quiet or dark.
#[derive(Default)]
pub(crate) struct Meter {
    pub level: Option<f64>,
    quiet_since: Option<Instant>,
    dark_since: Option<Instant>,
    /// Alarms raised now (and told).
    pub raised: Vec<Alarm>,
    /// A slate's meter: no signal stays raised, and the card's black and silence are not
    /// the input's.
    pub held: bool,
}

impl Meter {
    /// A new session's meter; a slate's holds no signal raised.
    pub fn new(slate: bool) -> Meter {
        Meter {
            held: slate,
            raised: if slate { vec![Alarm::NoSignal] } else { vec![] },
            ..Meter::default()
        }
    }

    fn level(&mut self, db: f64) {
        if self.held {
            return;
        }
        self.level = Some(db);
        if db < SILENCE_DB {
            self.quiet_since.get_or_insert_with(Instant::now);
        } else {
            self.quiet_since = None;
        }
    }

    fn luma(&mut self, y: f64) {
        if self.held {
            return;
        }
        if y < BLACK_LUMA {
            self.dark_since.get_or_insert_with(Instant::now);
        } else {
            self.dark_since = None;
        }
    }

    /// The alarms the readings call for now.
    pub fn due(&self) -> Vec<Alarm> {
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

/// Why the packager stopped taking the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A codec it does not copy.
    Unsupported,
    /// The mover is behind (storage slower than the stream) or gone.
    Behind,
}

/// The packager of one session.
pub(crate) struct Packager {
    segmenter: Segmenter,
    /// Which AAC frames the audio meter reads.
    sampler: Option<Sampler<Bytes>>,
    /// AAC configs and frame pairs, to the audio meter's task.
    audio: mpsc::Sender<Audio>,
    segments: Option<mpsc::Sender<Segment>>,
    inspector: Inspector,
}

impl Packager {
    /// A packager whose segments go to `segments`; the inspector works in `dir`.
    pub fn new(
        dir: PathBuf,
        opts: &IngestOptions,
        meter: Arc<Mutex<Meter>>,
        segments: mpsc::Sender<Segment>,
    ) -> Packager {
        let (audio, rx) = mpsc::channel(WAITING_AUDIO);
        tokio::spawn(meter_audio(rx, meter.clone()));
        Packager {
            segmenter: Segmenter::new(f64::from(opts.segment_secs)),
            sampler: None,
            audio,
            inspector: Inspector {
                dir,
                tools: opts.tools.clone(),
                every: Duration::from_secs(u64::from(opts.thumbnail_secs.max(1))),
                meter: meter.clone(),
                keyframes: None,
                last: None,
                started: None,
            },
            segments: Some(segments),
        }
    }

    /// Takes one message.
    pub fn push(&mut self, kind: TagKind, timestamp: u32, data: &Bytes) -> Result<(), Stop> {
        let track = match kind {
            TagKind::Video => Track::Video,
            TagKind::Audio => Track::Audio,
        };
        let finished = self
            .segmenter
            .push(track, timestamp, data)
            .map_err(|_| Stop::Unsupported)?;
        match kind {
            TagKind::Video if crate::flv::is_keyframe(data) => {
                if self.inspector.due()
                    && let Some(k) = self.segmenter.keyframe(timestamp, data)
                {
                    self.inspector.send(k.0);
                }
            }
            TagKind::Audio if data.first().is_some_and(|b| b >> 4 == 10) => match data.get(1) {
                Some(0) => {
                    let asc = data.slice(2..);
                    self.sampler = Some(Sampler::new(&asc));
                    let _ = self.audio.try_send(Audio::Config(asc));
                }
                Some(1) => {
                    if let Some(pair) = self.sampler.as_mut().and_then(|s| s.take(data.slice(2..)))
                    {
                        let _ = self.audio.try_send(Audio::Pair(pair.0, pair.1));
                    }
                }
                _ => {}
            },
            _ => {}
        }
        match finished {
            Some(segment) => self.hand_over(segment),
            None => Ok(()),
        }
    }

    fn hand_over(&mut self, segment: Segment) -> Result<(), Stop> {
        match self.segments.as_ref().map(|s| s.try_send(segment)) {
            Some(Ok(())) => Ok(()),
            _ => Err(Stop::Behind),
        }
    }

    /// Ends the stream: its last segment goes to the mover, which then ends, and the
    /// inspector gets the end of its input.
    pub fn finish(&mut self) {
        if let Some(last) = self.segmenter.finish() {
            let _ = self.hand_over(last);
        }
        self.segments = None;
        self.inspector.keyframes = None;
    }
}

/// What the audio meter's task gets.
enum Audio {
    /// A stream's AudioSpecificConfig.
    Config(Bytes),
    /// Two raw frames in a row: the first primes the decoder, the second is measured.
    Pair(Bytes, Bytes),
}

/// Reads the audio's level from pairs of AAC frames (about one a second) until the session
/// ends.
async fn meter_audio(mut messages: mpsc::Receiver<Audio>, meter: Arc<Mutex<Meter>>) {
    let mut level = None;
    while let Some(m) = messages.recv().await {
        match m {
            Audio::Config(asc) => level = AacLevel::new(&asc),
            Audio::Pair(prime, frame) => {
                if let Some(db) = level
                    .as_mut()
                    .and_then(|l: &mut AacLevel| l.read(&prime, &frame))
                {
                    meter.lock().unwrap_or_else(|e| e.into_inner()).level(db);
                }
            }
        }
    }
}

/// The inspector: a hardened ffmpeg that gets a keyframe every `every`, started with the
/// first and again after it stopped (not sooner than [`INSPECTOR_AGAIN`]).
struct Inspector {
    dir: PathBuf,
    tools: cityx_media::Tools,
    every: Duration,
    meter: Arc<Mutex<Meter>>,
    keyframes: Option<mpsc::Sender<Vec<u8>>>,
    /// When the last keyframe went.
    last: Option<Instant>,
    started: Option<Instant>,
}

impl Inspector {
    fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= self.every)
    }

    fn send(&mut self, keyframe: Vec<u8>) {
        self.last = Some(Instant::now());
        if self.keyframes.as_ref().is_none_or(mpsc::Sender::is_closed) {
            if self.started.is_some_and(|t| t.elapsed() < INSPECTOR_AGAIN) {
                return;
            }
            self.started = Some(Instant::now());
            self.keyframes = Some(self.start());
        }
        if let Some(k) = &self.keyframes {
            let _ = k.try_send(keyframe);
        }
    }

    fn start(&self) -> mpsc::Sender<Vec<u8>> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WAITING_KEYFRAMES);
        let (stdin_tx, stdin_rx) = tokio::sync::oneshot::channel();
        let meter = self.meter.clone();
        let (dir, ffmpeg) = (self.dir.clone(), self.tools.ffmpeg.clone());
        // ffmpeg prints nothing while it waits for the next keyframe: the watchdog allows
        // several intervals.
        let stall = (self.every * 4).max(Duration::from_secs(60));
        tokio::spawn(async move {
            let writer = tokio::spawn(async move {
                let Ok(stdin) = stdin_rx.await else {
                    return;
                };
                let mut stdin: tokio::process::ChildStdin = stdin;
                while let Some(k) = rx.recv().await {
                    if stdin.write_all(&k).await.is_err() {
                        return;
                    }
                }
                let _ = stdin.shutdown().await;
            });
            let limits = cityx_media::process::Limits {
                wall: Duration::from_secs(30 * 24 * 3600),
                stall,
                max_stdout: 0,
            };
            let hooks = cityx_media::process::Hooks {
                stdout_lines: Some(Box::new(|_| {})),
                stderr_lines: Some(Box::new(move |line| {
                    if let Some(y) = cityx_media::live::read_luma(line) {
                        meter.lock().unwrap_or_else(|e| e.into_inner()).luma(y);
                    }
                })),
                die_with_parent: true,
                stdin: Some(Box::new(move |s| {
                    let _ = stdin_tx.send(s);
                })),
                ..Default::default()
            };
            let args = cityx_media::live::inspect_args();
            let result = cityx_media::process::run_with(&ffmpeg, &args, &dir, &limits, hooks).await;
            writer.abort();
            if let Err(e) = result {
                tracing::warn!(dir = %dir.display(), error = %e, "the live inspector stopped");
            }
        });
        tx
    }
}

//! MPEG transport stream (ISO/IEC 13818-1), written in process: the live packager turns a
//! publisher's RTMP messages (FLV's AVC and AAC packets) into HLS segments here, the way
//! nginx-rtmp does in C, instead of piping them through an ffmpeg per channel.
//!
//! [`Segmenter`] takes the messages as they come and hands back finished segments: each
//! starts on a keyframe with the program tables (PAT, PMT) and the codec's parameter sets,
//! so it plays on its own; continuity counters run on across a session's segments, so they
//! join byte for byte (the clip job's input). H.264 goes in as Annex B with an access unit
//! delimiter per frame, AAC as ADTS frames, MP3 as it is. Nothing here trusts the input:
//! lengths are checked before every slice, a malformed message is skipped and counted, and
//! a segment is cut at [`MAX_SEGMENT`] bytes even without a keyframe, so memory stays bounded.

/// The video stream's packet id.
pub const VIDEO_PID: u16 = 0x100;
/// The audio stream's packet id.
pub const AUDIO_PID: u16 = 0x101;
const PMT_PID: u16 = 0x1000;
const PACKET: usize = 188;
/// Timestamps start here (90 kHz), so that the clock reference may run a little ahead of
/// the first one.
const START: u64 = 126_000;
/// How far the clock reference runs before a frame's decoding time (90 kHz).
const PCR_LEAD: u64 = 63_000;
/// A segment grows at most this large: it is cut here even without a keyframe.
pub const MAX_SEGMENT: usize = 16 << 20;
const TS_MASK: u64 = (1 << 33) - 1;

/// Which stream a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    Video,
    Audio,
}

/// The audio codecs that are copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AudioCodec {
    Aac,
    Mp3,
}

/// The program's streams, as the PMT lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Program {
    video: bool,
    audio: Option<AudioCodec>,
}

/// Packets of a transport stream: the continuity counters and the tables' version.
#[derive(Default)]
struct Muxer {
    /// PAT, PMT, video, audio.
    cc: [u8; 4],
    program: Program,
    version: u8,
}

/// MPEG-2's CRC-32 (polynomial 0x04C11DB7, not reflected), which PSI sections end with.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 5 bytes of a PTS or DTS, with its 4-bit prefix.
fn timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & TS_MASK;
    [
        (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1,
        (ts >> 22) as u8,
        (((ts >> 15) as u8) << 1) | 1,
        (ts >> 7) as u8,
        ((ts as u8) << 1) | 1,
    ]
}

/// One PES to packetize.
struct Pes<'a> {
    track: Track,
    pts: u64,
    dts: u64,
    /// A clock reference in its first packet.
    pcr: Option<u64>,
    random_access: bool,
    parts: &'a [&'a [u8]],
}

impl Muxer {
    fn counter(&mut self, slot: usize) -> u8 {
        let cc = self.cc[slot];
        self.cc[slot] = (cc + 1) & 0x0f;
        cc
    }

    /// Writes a PSI section into one packet of `pid`.
    fn section(&mut self, out: &mut Vec<u8>, pid: u16, slot: usize, section: &[u8]) {
        let start = out.len();
        let cc = self.counter(slot);
        out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0]);
        out.extend_from_slice(section);
        out.extend_from_slice(&crc32(section).to_be_bytes());
        out.resize(start + PACKET, 0xff);
    }

    /// The program association and program map tables.
    fn tables(&mut self, out: &mut Vec<u8>) {
        let v = 0xc1 | ((self.version & 0x1f) << 1);
        let pat = [
            0x00,
            0xb0,
            13,
            0x00,
            0x01,
            v,
            0,
            0,
            0x00,
            0x01,
            0xe0 | (PMT_PID >> 8) as u8,
            PMT_PID as u8,
        ];
        self.section(out, 0, 0, &pat);
        let mut streams: Vec<(u8, u16)> = Vec::with_capacity(2);
        if self.program.video {
            streams.push((0x1b, VIDEO_PID));
        }
        match self.program.audio {
            Some(AudioCodec::Aac) => streams.push((0x0f, AUDIO_PID)),
            Some(AudioCodec::Mp3) => streams.push((0x03, AUDIO_PID)),
            None => {}
        }
        let pcr_pid = if self.program.video || self.program.audio.is_none() {
            VIDEO_PID
        } else {
            AUDIO_PID
        };
        let length = 13 + 5 * streams.len();
        let mut pmt = vec![
            0x02,
            0xb0 | (length >> 8) as u8,
            length as u8,
            0x00,
            0x01,
            v,
            0,
            0,
            0xe0 | (pcr_pid >> 8) as u8,
            pcr_pid as u8,
            0xf0,
            0,
        ];
        for (kind, pid) in streams {
            pmt.extend_from_slice(&[kind, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0]);
        }
        self.section(out, PMT_PID, 1, &pmt);
    }

    /// Packetizes one PES.
    fn pes(&mut self, out: &mut Vec<u8>, pes: &Pes<'_>) {
        let (pid, slot, stream_id) = match pes.track {
            Track::Video => (VIDEO_PID, 2, 0xe0),
            Track::Audio => (AUDIO_PID, 3, 0xc0),
        };
        let with_dts = pes.dts != pes.pts;
        let mut header = [0u8; 19];
        header[..4].copy_from_slice(&[0, 0, 1, stream_id]);
        header[6] = 0x80;
        let header_len = if with_dts {
            header[7] = 0xc0;
            header[8] = 10;
            header[9..14].copy_from_slice(&timestamp(3, pes.pts));
            header[14..19].copy_from_slice(&timestamp(1, pes.dts));
            19
        } else {
            header[7] = 0x80;
            header[8] = 5;
            header[9..14].copy_from_slice(&timestamp(2, pes.pts));
            14
        };
        let payload: usize = pes.parts.iter().map(|p| p.len()).sum();
        // Unbounded (0) only for video, where it is allowed.
        let length = header_len - 6 + payload;
        let length = if length <= 0xffff { length as u16 } else { 0 };
        header[4..6].copy_from_slice(&length.to_be_bytes());
        let mut source = std::iter::once(&header[..header_len])
            .chain(pes.parts.iter().copied())
            .filter(|p| !p.is_empty());
        let mut current: &[u8] = source.next().unwrap_or_default();
        let mut left = header_len + payload;
        let mut first = true;
        while left > 0 {
            let mut adaptation = 0usize;
            let pcr = if first { pes.pcr } else { None };
            if pcr.is_some() || (first && pes.random_access) {
                adaptation = 2 + if pcr.is_some() { 6 } else { 0 };
            }
            let room = PACKET - 4 - adaptation;
            let take = room.min(left);
            let stuffing = room - take;
            if stuffing > 0 {
                adaptation = if adaptation == 0 {
                    stuffing
                } else {
                    adaptation + stuffing
                };
            }
            let cc = self.counter(slot);
            let control = if adaptation > 0 { 0x30 } else { 0x10 };
            out.extend_from_slice(&[
                0x47,
                (if first { 0x40 } else { 0 }) | (pid >> 8) as u8,
                pid as u8,
                control | cc,
            ]);
            if adaptation > 0 {
                out.push((adaptation - 1) as u8);
                if adaptation > 1 {
                    let mut flags = 0u8;
                    if first && pes.random_access {
                        flags |= 0x40;
                    }
                    if pcr.is_some() {
                        flags |= 0x10;
                    }
                    out.push(flags);
                    let mut used = 2;
                    if let Some(pcr) = pcr {
                        let base = pcr & TS_MASK;
                        out.extend_from_slice(&[
                            (base >> 25) as u8,
                            (base >> 17) as u8,
                            (base >> 9) as u8,
                            (base >> 1) as u8,
                            (((base & 1) as u8) << 7) | 0x7e,
                            0,
                        ]);
                        used += 6;
                    }
                    out.resize(out.len() + adaptation - used, 0xff);
                }
            }
            let mut need = take;
            while need > 0 {
                if current.is_empty() {
                    current = source.next().unwrap_or_default();
                    if current.is_empty() {
                        break;
                    }
                }
                let n = need.min(current.len());
                out.extend_from_slice(&current[..n]);
                current = &current[n..];
                need -= n;
            }
            left -= take;
            first = false;
        }
    }
}

/// H.264's decoder configuration (FLV's AVC sequence header): how long the NAL units'
/// length prefixes are and the parameter sets a keyframe needs before it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AvcConfig {
    length_size: usize,
    /// SPS and PPS NAL units, in order.
    sets: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// Reads an AVCDecoderConfigurationRecord.
    fn read(record: &[u8]) -> Option<AvcConfig> {
        if record.len() < 7 || record[0] != 1 {
            return None;
        }
        let length_size = usize::from(record[4] & 0x03) + 1;
        if length_size == 3 {
            return None;
        }
        let mut at = 5;
        let mut sets = Vec::new();
        for kind in [0x1f, 0xff] {
            let count = usize::from(*record.get(at)? & kind);
            at += 1;
            for _ in 0..count {
                let len = usize::from(u16::from_be_bytes([*record.get(at)?, *record.get(at + 1)?]));
                let set = record.get(at + 2..at + 2 + len)?;
                if !set.is_empty() {
                    sets.push(set.to_vec());
                }
                at += 2 + len;
            }
        }
        (!sets.is_empty()).then_some(AvcConfig { length_size, sets })
    }
}

/// AAC's AudioSpecificConfig, as far as an ADTS header needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AacConfig {
    /// The core's object type less one (ADTS's profile: 0 main, 1 LC, 2 SSR, 3 LTP).
    profile: u8,
    frequency_index: u8,
    channels: u8,
}

impl AacConfig {
    fn read(asc: &[u8]) -> Option<AacConfig> {
        let bits = u32::from_be_bytes([
            *asc.first()?,
            *asc.get(1)?,
            asc.get(2).copied().unwrap_or(0),
            asc.get(3).copied().unwrap_or(0),
        ]);
        let mut object = (bits >> 27) as u8;
        let frequency_index = ((bits >> 23) & 0x0f) as u8;
        let channels = ((bits >> 19) & 0x0f) as u8;
        // An explicit sampling rate cannot go in ADTS; nor more than 7 channels.
        if frequency_index > 12 || channels > 7 || object == 31 {
            return None;
        }
        if object == 5 || object == 29 {
            // HE-AAC signalled explicitly: the extension's rate, then the core's type.
            let ext = ((bits >> 15) & 0x0f) as u8;
            if ext == 15 {
                return None;
            }
            object = ((bits >> 10) & 0x1f) as u8;
        }
        if !(1..=4).contains(&object) {
            return None;
        }
        Some(AacConfig {
            profile: object - 1,
            frequency_index,
            channels,
        })
    }

    /// The ADTS header of a raw frame of `len` bytes; none if it is too long for one.
    fn adts(&self, len: usize) -> Option<[u8; 7]> {
        let total = len + 7;
        if total > 0x1fff {
            return None;
        }
        Some([
            0xff,
            0xf1,
            (self.profile << 6) | (self.frequency_index << 2) | (self.channels >> 2),
            ((self.channels & 3) << 6) | (total >> 11) as u8,
            (total >> 3) as u8,
            (((total & 7) as u8) << 5) | 0x1f,
            0xfc,
        ])
    }
}

/// A finished segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub bytes: Vec<u8>,
    /// Seconds, by the stream's timestamps.
    pub duration: f64,
    /// Whether the stream's codec parameters changed before it (players reset their decoder:
    /// the playlist marks a discontinuity).
    pub discontinuity: bool,
}

/// Why a stream cannot be copied into segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

const START_CODE: &[u8] = &[0, 0, 0, 1];
/// An access unit delimiter (any slice type), which starts every frame.
const AUD: &[u8] = &[0, 0, 0, 1, 0x09, 0xf0];

/// FLV's audio and video messages in, HLS segments out.
pub struct Segmenter {
    mux: Muxer,
    target_ms: i64,
    avc: Option<std::sync::Arc<AvcConfig>>,
    aac: Option<AacConfig>,
    mp3: bool,
    /// The segment being written and the time its first frame starts (ms, unwrapped).
    open: Option<(Vec<u8>, i64)>,
    /// The last message's timestamp as sent and unwrapped (32-bit milliseconds wrap).
    last: Option<(u32, i64)>,
    /// The last two video timestamps (unwrapped ms): a frame's duration at the end.
    video_times: [i64; 2],
    /// The codec parameters changed: the next keyframe starts a new segment, marked.
    changed: bool,
    discontinuity: bool,
    /// Messages skipped as malformed.
    pub skipped: u64,
    /// Whether the stream has video (segments start on its keyframes).
    video: bool,
    /// Room for the next segment: a little more than the last one took.
    expected: usize,
}

/// A keyframe made ready for a thumbnail: a little transport stream of its own.
pub struct Keyframe(pub Vec<u8>);

impl Segmenter {
    /// Segments of about `target_secs` (cut on the first keyframe at or after it).
    pub fn new(target_secs: f64) -> Segmenter {
        Segmenter {
            mux: Muxer::default(),
            target_ms: (target_secs * 1000.0).round() as i64,
            avc: None,
            aac: None,
            mp3: false,
            open: None,
            last: None,
            video_times: [0; 2],
            changed: false,
            discontinuity: false,
            skipped: 0,
            video: false,
            expected: 256 << 10,
        }
    }

    /// The message's time in unwrapped milliseconds.
    fn unwrap(&mut self, timestamp: u32) -> i64 {
        let at = match self.last {
            Some((sent, at)) => at + i64::from(timestamp.wrapping_sub(sent) as i32),
            None => i64::from(timestamp),
        };
        self.last = Some((timestamp, at));
        at
    }

    /// Takes one message; returns the segment it finished, if it finished one.
    pub fn push(
        &mut self,
        track: Track,
        timestamp: u32,
        data: &[u8],
    ) -> Result<Option<Segment>, Unsupported> {
        let at = self.unwrap(timestamp);
        match track {
            Track::Video => self.video(at, data),
            Track::Audio => Ok(self.audio(at, data)),
        }
    }

    fn video(&mut self, at: i64, data: &[u8]) -> Result<Option<Segment>, Unsupported> {
        let Some(&first) = data.first() else {
            return Ok(None);
        };
        if first & 0x80 != 0 || first & 0x0f != 7 {
            // Enhanced RTMP (HEVC, AV1, VP9) or a codec older than H.264.
            return Err(Unsupported("video other than H.264"));
        }
        if data.len() < 5 {
            self.skipped += 1;
            return Ok(None);
        }
        match data[1] {
            0 => {
                match AvcConfig::read(&data[5..]) {
                    Some(config) => {
                        if self.avc.as_deref().is_some_and(|c| *c != config) {
                            self.changed = true;
                        }
                        self.avc = Some(std::sync::Arc::new(config));
                        self.video = true;
                    }
                    None => self.skipped += 1,
                }
                Ok(None)
            }
            1 => {
                let Some(avc) = self.avc.clone() else {
                    return Ok(None);
                };
                let cts = i64::from(
                    ((i32::from(data[2]) << 24)
                        | (i32::from(data[3]) << 16)
                        | (i32::from(data[4]) << 8))
                        >> 8,
                );
                let keyframe = (first >> 4) == 1;
                let Some(parts) = annex_b(&avc, &data[5..], keyframe) else {
                    self.skipped += 1;
                    return Ok(None);
                };
                let finished = if keyframe { self.cut_before(at) } else { None };
                self.video_times = [self.video_times[1], at];
                let Some((segment, _)) = self.open.as_mut() else {
                    return Ok(finished);
                };
                let dts = START + (at.max(0) as u64) * 90;
                let pts = START + ((at + cts).max(0) as u64) * 90;
                self.mux.pes(
                    segment,
                    &Pes {
                        track: Track::Video,
                        pts,
                        dts,
                        pcr: Some(dts.saturating_sub(PCR_LEAD)),
                        random_access: keyframe,
                        parts: &parts,
                    },
                );
                Ok(finished.or_else(|| self.cut_if_too_big(at)))
            }
            _ => Ok(None),
        }
    }

    fn audio(&mut self, at: i64, data: &[u8]) -> Option<Segment> {
        let first = *data.first()?;
        let frame: [&[u8]; 2];
        let adts;
        match first >> 4 {
            10 => {
                match data.get(1) {
                    Some(0) => {
                        match AacConfig::read(&data[2..]) {
                            Some(c) => {
                                if self.aac.is_some_and(|a| a != c) || self.mp3 {
                                    self.changed = true;
                                }
                                self.audio_begins();
                                self.aac = Some(c);
                                self.mp3 = false;
                            }
                            None => self.skipped += 1,
                        }
                        return None;
                    }
                    Some(1) => {}
                    _ => {
                        self.skipped += 1;
                        return None;
                    }
                }
                let config = self.aac?;
                let raw = &data[2..];
                let Some(header) = config.adts(raw.len()) else {
                    self.skipped += 1;
                    return None;
                };
                adts = header;
                frame = [&adts, raw];
            }
            2 | 14 => {
                if self.aac.is_some() {
                    self.changed = true;
                    self.aac = None;
                }
                if !self.mp3 {
                    self.audio_begins();
                }
                self.mp3 = true;
                frame = [&[], &data[1..]];
            }
            // Other audio (Speex, G.711, Nellymoser) is left out.
            _ => return None,
        }
        let finished = if !self.video
            && self
                .open
                .as_ref()
                .is_none_or(|(_, from)| at - from >= self.target_ms)
        {
            self.cut_before(at)
        } else {
            None
        };
        let (segment, _) = self.open.as_mut()?;
        if self.mux.program.audio.is_none() {
            // The stream began without audio; it is listed from the next segment on.
            return finished;
        }
        let pts = START + (at.max(0) as u64) * 90;
        let pcr = (!self.mux.program.video).then(|| pts.saturating_sub(PCR_LEAD));
        self.mux.pes(
            segment,
            &Pes {
                track: Track::Audio,
                pts,
                dts: pts,
                pcr,
                random_access: false,
                parts: &frame,
            },
        );
        finished.or_else(|| self.cut_if_too_big(at))
    }

    /// Audio that begins after a segment opened without it (a source whose first audio
    /// follows its first keyframe) is listed from the next keyframe on, in a segment marked
    /// as a discontinuity, as its program changed.
    fn audio_begins(&mut self) {
        if self.video && self.open.is_some() && self.mux.program.audio.is_none() {
            self.changed = true;
        }
    }

    /// Before a keyframe (or, without video, an audio frame) at `at`: closes the open
    /// segment if it is long enough (or the codec changed) and opens the next one.
    fn cut_before(&mut self, at: i64) -> Option<Segment> {
        let due = match &self.open {
            None => true,
            Some((_, from)) => self.changed || at - from + 50 >= self.target_ms,
        };
        if !due {
            return None;
        }
        let finished = self.close(at);
        if self.changed {
            self.discontinuity = finished.is_some();
            self.changed = false;
        }
        let program = Program {
            video: self.avc.is_some(),
            audio: if self.aac.is_some() {
                Some(AudioCodec::Aac)
            } else if self.mp3 {
                Some(AudioCodec::Mp3)
            } else {
                None
            },
        };
        if program != self.mux.program {
            self.mux.program = program;
            self.mux.version = self.mux.version.wrapping_add(1);
        }
        let mut segment = Vec::with_capacity(self.expected);
        self.mux.tables(&mut segment);
        self.open = Some((segment, at));
        finished
    }

    /// A segment that grew past [`MAX_SEGMENT`] without a keyframe is cut where it is.
    fn cut_if_too_big(&mut self, at: i64) -> Option<Segment> {
        if self
            .open
            .as_ref()
            .is_some_and(|(s, _)| s.len() >= MAX_SEGMENT)
        {
            let finished = self.close(at);
            let mut segment = Vec::with_capacity(self.expected);
            self.mux.tables(&mut segment);
            self.open = Some((segment, at));
            return finished;
        }
        None
    }

    /// Closes the open segment, ending at `end` (ms).
    fn close(&mut self, end: i64) -> Option<Segment> {
        let (bytes, from) = self.open.take()?;
        self.expected = (bytes.len() + bytes.len() / 8).clamp(64 << 10, MAX_SEGMENT);
        let discontinuity = std::mem::take(&mut self.discontinuity);
        // Timestamps that went back (a publisher's clock reset) give no negative length.
        let duration = ((end - from).max(0) as f64) / 1000.0;
        Some(Segment {
            bytes,
            duration,
            discontinuity,
        })
    }

    /// Ends the stream: the open segment, lasting to its last frame's end.
    pub fn finish(&mut self) -> Option<Segment> {
        let (_, last) = self.last?;
        let frame = (self.video_times[1] - self.video_times[0]).clamp(0, 200);
        let end = if self.video {
            self.video_times[1] + frame
        } else {
            last + 23
        };
        self.close(end.max(last))
    }

    /// A keyframe message as a small transport stream of its own (tables, the frame and a
    /// delimiter that tells a reader the frame is complete), for the thumbnailer; `None`
    /// for anything but an H.264 keyframe that reads well.
    pub fn keyframe(&self, timestamp: u32, data: &[u8]) -> Option<Keyframe> {
        if data.len() < 5 || data[0] != 0x17 || data[1] != 1 {
            return None;
        }
        let avc = self.avc.as_ref()?;
        let parts = annex_b(avc, &data[5..], true)?;
        // The inspector's decoder is told that nothing is reordered, so that it gives the
        // picture out at once (see `sps`).
        let fixed: Vec<Option<Vec<u8>>> = parts
            .iter()
            .map(|p| {
                p.first()
                    .filter(|b| *b & 0x1f == 7)
                    .and_then(|_| crate::sps::without_reordering(p))
            })
            .collect();
        let parts: Vec<&[u8]> = parts
            .iter()
            .zip(&fixed)
            .map(|(p, f)| f.as_deref().unwrap_or(p))
            .collect();
        let mut mux = Muxer {
            program: Program {
                video: true,
                audio: None,
            },
            ..Muxer::default()
        };
        let mut out = Vec::with_capacity(data.len() + 4096);
        mux.tables(&mut out);
        let dts = START + u64::from(timestamp) * 90;
        mux.pes(
            &mut out,
            &Pes {
                track: Track::Video,
                pts: dts,
                dts,
                pcr: Some(dts.saturating_sub(PCR_LEAD)),
                random_access: true,
                parts: &parts,
            },
        );
        // A delimiter tells a reader that the frame is complete.
        mux.pes(
            &mut out,
            &Pes {
                track: Track::Video,
                pts: dts + 3600,
                dts: dts + 3600,
                pcr: None,
                random_access: false,
                parts: &[AUD],
            },
        );
        Some(Keyframe(out))
    }
}

/// One continuous transport stream instead of segments (an SRT push): each message's
/// packets come out at once, and the tables are written again before every keyframe (or
/// every half second of a stream without video), so a receiver may join at any keyframe.
pub struct Stream {
    segmenter: Segmenter,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            segmenter: Segmenter::new(0.5),
        }
    }
}

impl Stream {
    /// Takes one message; returns its packets (empty while the stream waits for its first
    /// keyframe, or for a message that is only a codec header).
    pub fn push(
        &mut self,
        track: Track,
        timestamp: u32,
        data: &[u8],
    ) -> Result<Vec<u8>, Unsupported> {
        let finished = self.segmenter.push(track, timestamp, data)?;
        let mut out = finished.map(|s| s.bytes).unwrap_or_default();
        if let Some((open, _)) = self.segmenter.open.as_mut() {
            if out.is_empty() {
                out = std::mem::take(open);
            } else {
                out.append(open);
            }
        }
        Ok(out)
    }
}

/// An AVC frame's NAL units (length-prefixed) as Annex B pieces: a delimiter, the parameter
/// sets before a keyframe that lacks them, each unit after a start code. `None` when a
/// length runs past the frame.
fn annex_b<'a>(avc: &'a AvcConfig, mut nalus: &'a [u8], keyframe: bool) -> Option<Vec<&'a [u8]>> {
    let mut units = Vec::with_capacity(8);
    while !nalus.is_empty() {
        let size = avc.length_size;
        let len = nalus
            .get(..size)?
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        let unit = nalus.get(size..size + len)?;
        nalus = &nalus[size + len..];
        // Delimiters are written anew; empty units are nothing.
        if unit.is_empty() || unit[0] & 0x1f == 9 {
            continue;
        }
        units.push(unit);
    }
    if units.is_empty() {
        return None;
    }
    let has_sets = units.iter().any(|u| u[0] & 0x1f == 7);
    let mut parts: Vec<&[u8]> = Vec::with_capacity(2 + 2 * (units.len() + avc.sets.len()));
    parts.push(AUD);
    if keyframe && !has_sets {
        for set in &avc.sets {
            parts.push(START_CODE);
            parts.push(set);
        }
    }
    for unit in units {
        parts.push(START_CODE);
        parts.push(unit);
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AVC decoder configuration record with one SPS and one PPS.
    fn avc_record() -> Vec<u8> {
        let sps = [0x67, 0x42, 0xc0, 0x1e, 0xda];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut r = vec![1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, sps.len() as u8];
        r.extend_from_slice(&sps);
        r.extend_from_slice(&[1, 0, pps.len() as u8]);
        r.extend_from_slice(&pps);
        r
    }

    fn video_header() -> Vec<u8> {
        let mut m = vec![0x17, 0, 0, 0, 0];
        m.extend_from_slice(&avc_record());
        m
    }

    fn frame(key: bool, body: usize) -> Vec<u8> {
        let mut m = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        let nal = if key { 0x65 } else { 0x41 };
        m.extend_from_slice(&((body + 1) as u32).to_be_bytes());
        m.push(nal);
        m.extend(std::iter::repeat_n(0xab, body));
        m
    }

    fn packets(ts: &[u8]) -> Vec<&[u8]> {
        assert_eq!(ts.len() % PACKET, 0, "whole packets");
        ts.chunks(PACKET).collect()
    }

    fn pid(p: &[u8]) -> u16 {
        (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2])
    }

    #[test]
    fn the_crc_is_mpeg2s() {
        // The check value of CRC-32/MPEG-2.
        assert_eq!(crc32(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn configs_are_read_and_bad_ones_refused() {
        let c = AvcConfig::read(&avc_record()).expect("a record");
        assert_eq!(c.length_size, 4);
        assert_eq!(c.sets.len(), 2);
        assert!(
            AvcConfig::read(&[1, 0, 0, 0, 0xff, 0xe1, 0, 50, 1]).is_none(),
            "runs past"
        );
        assert!(AvcConfig::read(&[]).is_none());
        // 44.1 kHz stereo LC.
        let aac = AacConfig::read(&[0x12, 0x10]).expect("LC");
        assert_eq!((aac.profile, aac.frequency_index, aac.channels), (1, 4, 2));
        let h = aac.adts(100).expect("fits");
        assert_eq!(&h[..2], &[0xff, 0xf1]);
        assert_eq!(
            ((usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5)),
            107
        );
        assert!(aac.adts(9000).is_none());
        // HE-AAC signalled explicitly (type 5, 24 kHz, stereo, 48 kHz extension, LC core).
        let he = AacConfig::read(&[0x2b, 0x11, 0x88, 0x00]).expect("HE-AAC");
        assert_eq!(he.profile, 1);
        assert!(AacConfig::read(&[0xf8]).is_none());
    }

    #[test]
    fn segments_start_on_keyframes_with_tables_and_continue_their_counters() {
        let mut s = Segmenter::new(2.0);
        let mut done = Vec::new();
        assert_eq!(s.push(Track::Video, 0, &video_header()), Ok(None));
        assert_eq!(s.push(Track::Audio, 0, &[0xaf, 0, 0x12, 0x10]), Ok(None));
        // A frame before the first keyframe is dropped.
        assert_eq!(s.push(Track::Video, 0, &frame(false, 10)), Ok(None));
        for i in 0..125u32 {
            let at = i * 40;
            if let Some(seg) = s
                .push(Track::Video, at, &frame(i % 25 == 0, 3000))
                .expect("fine")
            {
                done.push(seg);
            }
            if let Some(seg) = s
                .push(Track::Audio, at + 5, &[0xaf, 1, 1, 2, 3, 4])
                .expect("fine")
            {
                done.push(seg);
            }
        }
        done.extend(s.finish());
        let durations: Vec<f64> = done.iter().map(|s| s.duration).collect();
        assert_eq!(
            durations,
            vec![2.0, 2.0, 1.0],
            "cut on the keyframe at or after 2 s"
        );
        let mut counters = std::collections::HashMap::new();
        for seg in &done {
            let ps = packets(&seg.bytes);
            assert_eq!((pid(ps[0]), pid(ps[1])), (0, PMT_PID), "PAT, PMT first");
            assert_eq!(pid(ps[2]), VIDEO_PID);
            assert_eq!(ps[2][3] & 0x20, 0x20, "an adaptation field");
            assert_eq!(ps[2][5] & 0x50, 0x50, "random access and a PCR");
            // The PES starts with the delimiter and the parameter sets.
            let payload = &ps[2][4 + 1 + usize::from(ps[2][4])..];
            assert_eq!(&payload[..4], &[0, 0, 1, 0xe0]);
            let es = &payload[9 + usize::from(payload[8])..];
            assert_eq!(&es[..6], AUD);
            assert_eq!(&es[6..11], &[0, 0, 0, 1, 0x67]);
            for p in ps {
                assert_eq!(p[0], 0x47);
                let cc = p[3] & 0x0f;
                if let Some(prev) = counters.insert(pid(p), cc) {
                    assert_eq!(cc, (prev + 1) & 0x0f, "pid {:#x} runs on", pid(p));
                }
            }
            assert!(!seg.discontinuity);
        }
        // Audio is in the stream as ADTS.
        let all: Vec<u8> = done.iter().flat_map(|s| s.bytes.clone()).collect();
        assert!(packets(&all).iter().any(|p| pid(p) == AUDIO_PID));
        assert!(all.windows(2).any(|w| w == [0xff, 0xf1]));
    }

    #[test]
    fn a_changed_codec_header_starts_a_marked_segment_on_the_next_keyframe() {
        let mut s = Segmenter::new(10.0);
        s.push(Track::Video, 0, &video_header()).expect("fine");
        assert_eq!(
            s.push(Track::Video, 0, &frame(true, 100)).expect("fine"),
            None
        );
        s.push(Track::Video, 40, &frame(false, 100)).expect("fine");
        let mut other = video_header();
        *other.last_mut().expect("fine") = 0x81;
        s.push(Track::Video, 80, &other).expect("fine");
        let seg = s
            .push(Track::Video, 80, &frame(true, 100))
            .expect("fine")
            .expect("cut");
        assert!(!seg.discontinuity);
        assert!((seg.duration - 0.08).abs() < 1e-9);
        let next = s.finish().expect("the rest");
        assert!(
            next.discontinuity,
            "the new parameters follow a discontinuity"
        );
    }

    #[test]
    fn audio_that_begins_late_is_listed_from_the_next_keyframe() {
        let mut s = Segmenter::new(10.0);
        s.push(Track::Video, 0, &video_header()).expect("fine");
        assert_eq!(s.push(Track::Video, 0, &frame(true, 100)), Ok(None));
        s.push(Track::Video, 40, &frame(false, 100)).expect("fine");
        s.push(Track::Audio, 50, &[0xaf, 0, 0x12, 0x10])
            .expect("fine");
        s.push(Track::Audio, 60, &[0xaf, 1, 1, 2, 3]).expect("fine");
        let first = s
            .push(Track::Video, 1000, &frame(true, 100))
            .expect("fine")
            .expect("cut before the 10 s: the program changed");
        assert!(!first.discontinuity);
        assert!(packets(&first.bytes).iter().all(|p| pid(p) != AUDIO_PID));
        s.push(Track::Audio, 1010, &[0xaf, 1, 1, 2, 3])
            .expect("fine");
        let next = s.finish().expect("the rest");
        assert!(next.discontinuity, "players learn of the new track");
        assert!(packets(&next.bytes).iter().any(|p| pid(p) == AUDIO_PID));
        // A stream with audio from the start is not cut early.
        let mut s = Segmenter::new(10.0);
        s.push(Track::Video, 0, &video_header()).expect("fine");
        s.push(Track::Audio, 0, &[0xaf, 0, 0x12, 0x10])
            .expect("fine");
        s.push(Track::Video, 0, &frame(true, 100)).expect("fine");
        s.push(Track::Audio, 60, &[0xaf, 0, 0x12, 0x10])
            .expect("fine");
        assert_eq!(s.push(Track::Video, 1000, &frame(true, 100)), Ok(None));
    }

    #[test]
    fn bad_input_is_skipped_or_refused_never_a_panic() {
        let mut s = Segmenter::new(2.0);
        assert_eq!(
            s.push(Track::Video, 0, &[0x1c, 0, 0, 0, 0]),
            Err(Unsupported("video other than H.264"))
        );
        s.push(Track::Video, 0, &video_header()).expect("fine");
        // A length that runs past the frame.
        let mut bad = frame(true, 10);
        bad[8] = 0xff;
        assert_eq!(s.push(Track::Video, 0, &bad), Ok(None));
        assert_eq!(s.skipped, 1);
        for junk in [
            &[][..],
            &[0x17],
            &[0x17, 1, 0],
            &[0xaf],
            &[0xaf, 7],
            &[0x27, 1, 0, 0, 0, 0, 0],
        ] {
            let _ = s.push(Track::Video, 0, junk);
            let _ = s.push(Track::Audio, 0, junk);
        }
        // Timestamps that wrap and go back give segments of no negative length.
        s.push(Track::Video, u32::MAX - 100, &frame(true, 10))
            .expect("fine");
        let seg = s
            .push(Track::Video, 2000, &frame(true, 10))
            .expect("fine")
            .expect("cut");
        assert!((seg.duration - 2.101).abs() < 1e-9, "{}", seg.duration);
        let back = s.push(Track::Video, 10, &frame(true, 10)).expect("fine");
        assert!(back.is_none() || back.expect("fine").duration >= 0.0);
    }

    #[test]
    fn a_stream_gives_each_message_out_at_once_with_tables_before_keyframes() {
        let mut s = Stream::default();
        assert_eq!(s.push(Track::Video, 0, &video_header()), Ok(Vec::new()));
        assert_eq!(
            s.push(Track::Audio, 0, &[0xaf, 0, 0x12, 0x10]),
            Ok(Vec::new())
        );
        assert_eq!(
            s.push(Track::Video, 0, &frame(false, 10)),
            Ok(Vec::new()),
            "nothing before the first keyframe"
        );
        let mut all = Vec::new();
        let mut keyframes_with_tables = 0;
        for i in 0..60u32 {
            let key = i % 25 == 0;
            let out = s
                .push(Track::Video, i * 40, &frame(key, 3000))
                .expect("fine");
            assert!(
                !out.is_empty() && out.len() % PACKET == 0,
                "frame {i} at once"
            );
            let ps = packets(&out);
            if key {
                assert_eq!((pid(ps[0]), pid(ps[1])), (0, PMT_PID), "tables first");
                keyframes_with_tables += 1;
            } else {
                assert!(
                    ps.iter().all(|p| pid(p) == VIDEO_PID),
                    "frame {i}: no tables"
                );
            }
            all.extend(out);
            let audio = s
                .push(Track::Audio, i * 40 + 5, &[0xaf, 1, 1, 2, 3, 4])
                .expect("fine");
            assert!(packets(&audio).iter().all(|p| pid(p) == AUDIO_PID));
            all.extend(audio);
        }
        assert_eq!(keyframes_with_tables, 3);
        let mut counters = std::collections::HashMap::new();
        for p in packets(&all) {
            let cc = p[3] & 0x0f;
            if let Some(prev) = counters.insert(pid(p), cc) {
                assert_eq!(cc, (prev + 1) & 0x0f, "pid {:#x} runs on", pid(p));
            }
        }
        assert_eq!(
            s.push(Track::Video, 0, &[0x1c, 0, 0, 0, 0]),
            Err(Unsupported("video other than H.264"))
        );
    }

    #[test]
    fn a_keyframe_alone_is_a_stream_of_its_own() {
        let mut s = Segmenter::new(2.0);
        assert!(
            s.keyframe(0, &frame(true, 10)).is_none(),
            "no parameters yet"
        );
        s.push(Track::Video, 0, &video_header()).expect("fine");
        let k = s.keyframe(4000, &frame(true, 5000)).expect("a keyframe");
        let ps = packets(&k.0);
        assert_eq!((pid(ps[0]), pid(ps[1])), (0, PMT_PID));
        assert!(ps[2..].iter().all(|p| pid(p) == VIDEO_PID));
        assert!(s.keyframe(0, &frame(false, 10)).is_none());
    }
}

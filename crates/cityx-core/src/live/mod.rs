//! Live channels (云直播): a station's live signal, published to cityx (RTMP today) and
//! watched as HLS with a time-shift window. A channel belongs to a station and is shared like
//! an item (its own station, named stations, every station, the public). Publishing needs the
//! channel's stream key: 192 random bits shown to the station's admins, stored as SHA-256,
//! rotatable (the old key stops at once).

pub mod target;

use crate::exchange::{MAX_SHARED_WITH, Visibility};
use crate::ids::{ChannelId, StationId, UserId};
use crate::model::{Actor, Role};
use crate::validate::{Checker, FieldError, Validated};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The most channels one station keeps.
pub const MAX_PER_STATION: i64 = 50;
/// Time-shift window bounds, in minutes.
pub const DVR_MINUTES: (u32, u32) = (1, 24 * 60);
/// The default time-shift window: two hours.
pub const DEFAULT_DVR_MINUTES: u32 = 120;
/// The job kind that cuts a clip out of a channel's window into an item.
pub const CLIP_JOB: &str = "live_clip";
/// The longest clip, in seconds.
pub const MAX_CLIP_SECS: u32 = 4 * 3600;
/// A recorded broadcast becomes an item every this many seconds (and when it ends).
pub const RECORDING_PART_SECS: f64 = 2.0 * 3600.0;
/// What a stream key starts with, so that it is recognisable in a leaked log.
pub const KEY_PREFIX: &str = "sk_";

/// Whether a channel is on air now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Nothing is being published.
    Idle,
    /// A publisher is connected and segments are being made.
    Live,
}

impl ChannelState {
    pub const ALL: [ChannelState; 2] = [ChannelState::Idle, ChannelState::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Idle => "idle",
            ChannelState::Live => "live",
        }
    }
}

from_name!(ChannelState);

/// What the ingest sees of the input, reported every few seconds while live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `h264`, `hevc` …, as the publisher announced it.
    pub video_codec: String,
    /// `aac`, `mp3` …
    pub audio_codec: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second over the last report's interval.
    pub fps: f64,
    /// Kilobits per second received over the last interval.
    pub kbps: u32,
    /// Seconds between the last two keyframes.
    pub keyframe_secs: f64,
    /// Seconds since the publisher connected.
    pub uptime_secs: u64,
    /// Publishes of this channel since it went live the first time today (reconnects).
    pub reconnects: u32,
    /// The publisher's address.
    pub remote: String,
    /// Why the channel's input last failed (empty when it did not), in English, for
    /// operators; `error_code` says it for everyone.
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_code: Option<Trouble>,
    /// The audio's loudness over the last second, RMS in dBFS (-120 for digital silence);
    /// absent without audio.
    #[serde(default)]
    pub audio_db: Option<f64>,
    /// Alarms raised now (each also told as a `channel.alarm` event when raised and cleared).
    #[serde(default)]
    pub alarms: Vec<Alarm>,
    /// The input is gone and the channel's output is the slate (a card and silence) until
    /// the input, or the channel's pull, comes back.
    #[serde(default)]
    pub slate: bool,
    /// The input's codecs (`video_codec`, `audio_codec`) are not H.264 and AAC: cityx
    /// converts them for the channel's output (which costs a processor core or so).
    #[serde(default)]
    pub converted: bool,
}

/// Why a channel's input (a pull, a publisher) or a restream push failed, as a stable code
/// that pages name in the reader's language; the English detail beside it is for operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trouble {
    /// The address is not one cityx can use (its scheme or form).
    BadAddress,
    /// The outbound guard refused the address (loopback, private, not resolvable).
    ForbiddenAddress,
    /// Nothing answered in time: no connection, handshake or reply.
    Unreachable,
    /// The server answered but refused the connection or the stream (a wrong key, an
    /// unknown name).
    Refused,
    /// The connection or the stream broke (closed, malformed).
    Broken,
    /// The source or publisher sent nothing for a while.
    Silent,
    /// The stream came faster than cityx or the partner took it.
    TooSlow,
    /// The stream is in a form cityx does not take (fragmented MP4, encryption, a codec the
    /// packager cannot copy, an oversized segment).
    Unsupported,
    /// The source channel is off air.
    OffAir,
    /// The source channel is gone, or no longer shared with the station.
    SourceGone,
    /// The publisher went away without ending its stream.
    Dropped,
    /// The partner's stream key cannot be decrypted on this node.
    KeyUnreadable,
}

impl Trouble {
    pub const ALL: [Trouble; 12] = [
        Trouble::BadAddress,
        Trouble::ForbiddenAddress,
        Trouble::Unreachable,
        Trouble::Refused,
        Trouble::Broken,
        Trouble::Silent,
        Trouble::TooSlow,
        Trouble::Unsupported,
        Trouble::OffAir,
        Trouble::SourceGone,
        Trouble::Dropped,
        Trouble::KeyUnreadable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trouble::BadAddress => "bad_address",
            Trouble::ForbiddenAddress => "forbidden_address",
            Trouble::Unreachable => "unreachable",
            Trouble::Refused => "refused",
            Trouble::Broken => "broken",
            Trouble::Silent => "silent",
            Trouble::TooSlow => "too_slow",
            Trouble::Unsupported => "unsupported",
            Trouble::OffAir => "off_air",
            Trouble::SourceGone => "source_gone",
            Trouble::Dropped => "dropped",
            Trouble::KeyUnreadable => "key_unreadable",
        }
    }
}

/// What is wrong with a channel's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Alarm {
    /// The input dropped while on air (the publisher or source went away without ending).
    NoSignal,
    /// The audio stayed below [`SILENCE_DB`] for [`ALARM_AFTER_SECS`].
    Silence,
    /// The picture stayed black (mean luma below [`BLACK_LUMA`]) for [`ALARM_AFTER_SECS`].
    Black,
}

impl Alarm {
    pub const ALL: [Alarm; 3] = [Alarm::NoSignal, Alarm::Silence, Alarm::Black];

    pub fn as_str(self) -> &'static str {
        match self {
            Alarm::NoSignal => "no_signal",
            Alarm::Silence => "silence",
            Alarm::Black => "black",
        }
    }
}

/// Audio quieter than this (RMS, dBFS) counts as silence.
pub const SILENCE_DB: f64 = -60.0;
/// A picture whose mean luma (0–255) is below this counts as black (video black is 16).
pub const BLACK_LUMA: f64 = 24.0;
/// Silence or black this long raises its alarm.
pub const ALARM_AFTER_SECS: u64 = 10;

/// A live channel as its station and viewers see it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub station_id: StationId,
    pub station_name: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    /// The stations that may watch when `visibility` is `stations`.
    pub shared_with: Vec<StationId>,
    /// Publishes above this rate are refused (0: no limit).
    pub max_kbps: u32,
    /// Publishes taller than this are refused (0: no limit).
    pub max_height: u32,
    /// How far back viewers may scroll (回看), in minutes.
    pub dvr_minutes: u32,
    /// Every broadcast is recorded and becomes items (parts of at most two hours).
    pub record: bool,
    /// Daily windows (Beijing time, `HH:MM-HH:MM`, seconds allowed) in which a broadcast is
    /// recorded even when `record` is off: each window's part becomes an item when it ends.
    pub record_windows: Vec<String>,
    /// The signal the channel pulls instead of being published to (see [`Source`]); for
    /// those who manage the channel only (an address may hold a partner's key).
    pub pull_url: Option<String>,
    /// The addresses publishers may come from (CIDRs); empty: any. For its managers only.
    pub publish_cidrs: Vec<String>,
    /// Heights of the lower renditions viewers may be switched to (an ABR ladder, encoded
    /// from the input beside its copy), tallest first; empty: the copy alone.
    pub renditions: Vec<u32>,
    /// The SRT passphrase's last characters when SRT publishers must encrypt with one
    /// (empty: no passphrase). For its managers only.
    pub srt_passphrase_hint: String,
    pub state: ChannelState,
    /// Since when it is live, when it is.
    #[serde(with = "time::serde::rfc3339::option")]
    pub live_since: Option<OffsetDateTime>,
    /// What the input looked like at the last report (while live, or when it ended).
    pub health: Option<Health>,
    /// The stream key's last four characters, to tell keys apart.
    pub key_hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub key_rotated_at: OffsetDateTime,
    /// Who created it: the uploader of its recordings.
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Channel {
    /// The channel as those who may watch but not manage it see it: without the stations it
    /// is shared with, its key's hint or the publisher's address.
    pub fn for_viewers(mut self) -> Channel {
        self.shared_with.clear();
        self.key_hint.clear();
        self.pull_url = None;
        self.publish_cidrs.clear();
        self.srt_passphrase_hint.clear();
        if let Some(h) = self.health.as_mut() {
            h.remote.clear();
        }
        self
    }

    /// Whether `viewer` may watch: its own station and the hub always; others as shared.
    pub fn watchable_by(&self, viewer: &Actor) -> bool {
        if matches!(viewer.role, Role::HubAdmin | Role::HubEditor) {
            return true;
        }
        let Some(station) = viewer.station_id else {
            return false;
        };
        station == self.station_id
            || match self.visibility {
                Visibility::Private => false,
                Visibility::Exchange | Visibility::Public => true,
                Visibility::Stations => self.shared_with.contains(&station),
            }
    }
}

/// A channel's fields, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelFields {
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub shared_with: Vec<StationId>,
    pub max_kbps: u32,
    pub max_height: u32,
    pub dvr_minutes: u32,
    pub record: bool,
    /// Normalised (`HH:MM:SS-HH:MM:SS`), in the order given, without repeats.
    pub record_windows: Vec<String>,
    pub pull_url: Option<String>,
    /// Normalised CIDRs (a bare address is its own /32 or /128).
    pub publish_cidrs: Vec<String>,
    /// Rendition heights from [`RENDITION_HEIGHTS`], tallest first, without repeats.
    pub renditions: Vec<u32>,
}

/// A channel as a form or the API sends it.
#[derive(Clone, Debug, Default)]
pub struct ChannelInput<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub visibility: &'a str,
    pub shared_with: Vec<&'a str>,
    pub max_kbps: u32,
    pub max_height: u32,
    pub dvr_minutes: u32,
    pub record: bool,
    /// Daily recording windows, `HH:MM-HH:MM` (Beijing time).
    pub record_windows: Vec<&'a str>,
    /// Empty: the channel is published to.
    pub pull_url: &'a str,
    /// Addresses or CIDRs publishers may come from; none: any.
    pub publish_cidrs: Vec<&'a str>,
    /// Heights of the lower renditions (an ABR ladder); none: the copy alone.
    pub renditions: Vec<u32>,
}

/// The most daily recording windows a channel has.
pub const MAX_RECORD_WINDOWS: usize = 12;

/// A daily recording window: seconds of the Beijing day it starts and ends at (it may pass
/// midnight: the end before the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordWindow {
    pub start: u32,
    pub end: u32,
}

impl RecordWindow {
    /// Reads `HH:MM-HH:MM` (or with seconds); `None` when it is not one, or empty.
    pub fn parse(raw: &str) -> Option<RecordWindow> {
        let time = |t: &str| -> Option<u32> {
            let parts: Vec<&str> = t.trim().split(':').collect();
            let n = |s: &str, max: u32| {
                (s.len() == 2)
                    .then(|| s.parse::<u32>().ok())
                    .flatten()
                    .filter(|v| *v <= max)
            };
            match parts.as_slice() {
                [h, m] => Some(n(h, 23)? * 3600 + n(m, 59)? * 60),
                [h, m, s] => Some(n(h, 23)? * 3600 + n(m, 59)? * 60 + n(s, 59)?),
                _ => None,
            }
        };
        let (a, b) = raw.split_once('-')?;
        let w = RecordWindow {
            start: time(a)?,
            end: time(b)?,
        };
        (w.start != w.end).then_some(w)
    }

    /// Whether the moment `t` falls in the window (Beijing time).
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        let t = t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
        let s = u32::from(t.hour()) * 3600 + u32::from(t.minute()) * 60 + u32::from(t.second());
        if self.start < self.end {
            (self.start..self.end).contains(&s)
        } else {
            s >= self.start || s < self.end
        }
    }

    /// `HH:MM:SS-HH:MM:SS`.
    pub fn render(&self) -> String {
        let hms = |s: u32| format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
        format!("{}-{}", hms(self.start), hms(self.end))
    }
}

/// The heights a channel's lower renditions may have.
pub const RENDITION_HEIGHTS: [u32; 6] = [1080, 720, 540, 480, 360, 240];
/// The most lower renditions a channel has (each costs an encode).
pub const MAX_RENDITIONS: usize = 3;

/// The nominal video bit rate (kbit/s) of a rendition `height` lines tall, for its encode
/// and for the master playlist's `BANDWIDTH`.
pub fn rendition_kbps(height: u32) -> u32 {
    match height {
        h if h >= 1080 => 4500,
        h if h >= 720 => 2500,
        h if h >= 540 => 1600,
        h if h >= 480 => 1200,
        h if h >= 360 => 800,
        _ => 400,
    }
}

/// The most entries a channel's publisher allow-list holds.
pub const MAX_PUBLISH_CIDRS: usize = 50;

/// Reads an allow-list entry: a CIDR such as `203.0.113.0/24`, or one address.
fn parse_cidr(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
}

/// Whether a publisher at `ip` may publish to a channel whose allow-list is `cidrs` (empty:
/// anyone). An IPv4 address seen as IPv6 (`::ffff:a.b.c.d`) counts as IPv4.
pub fn publisher_allowed(cidrs: &[String], ip: std::net::IpAddr) -> bool {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    };
    cidrs.is_empty()
        || cidrs
            .iter()
            .filter_map(|c| parse_cidr(c))
            .any(|n| n.contains(&ip))
}

/// The shortest and longest SRT passphrase (the SRT specification's bounds).
pub const SRT_PASSPHRASE_LEN: (usize, usize) = (10, 79);

/// Checks an SRT passphrase: 10 to 79 printable ASCII characters, without spaces at its ends.
pub fn check_srt_passphrase(passphrase: &str) -> Result<(), FieldError> {
    let (min, max) = SRT_PASSPHRASE_LEN;
    if !(min..=max).contains(&passphrase.len())
        || !passphrase.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        || passphrase.trim() != passphrase
    {
        return Err(FieldError::new(
            "passphrase",
            "bad_format",
            format!("an SRT passphrase is {min} to {max} printable ASCII characters"),
        ));
    }
    Ok(())
}

impl ChannelInput<'_> {
    pub fn validate(&self) -> Validated<ChannelFields> {
        let mut c = Checker::new();
        let name = c.text("name", self.name, 100);
        let description = c.optional_text("description", self.description, 2_000);
        let visibility = match self.visibility.trim() {
            "" => Visibility::Private,
            v => v.parse().unwrap_or_else(|_| {
                c.push(FieldError::new(
                    "visibility",
                    "bad_value",
                    "visibility must be private, stations, exchange or public",
                ));
                Visibility::Private
            }),
        };
        let mut shared_with = Vec::new();
        for s in &self.shared_with {
            match s.trim().parse::<StationId>() {
                Ok(id) if !shared_with.contains(&id) => shared_with.push(id),
                Ok(_) => {}
                Err(_) => c.push(FieldError::new(
                    "shared_with",
                    "bad_format",
                    format!("{s} is not a station id"),
                )),
            }
        }
        if visibility == Visibility::Stations && shared_with.is_empty() {
            c.push(FieldError::new(
                "shared_with",
                "required",
                "name the stations that may watch",
            ));
        }
        if shared_with.len() > MAX_SHARED_WITH {
            c.push(FieldError::new(
                "shared_with",
                "too_many",
                format!("at most {MAX_SHARED_WITH} stations"),
            ));
        }
        if visibility != Visibility::Stations {
            shared_with.clear();
        }
        if self.max_kbps > 200_000 {
            c.push(FieldError::new(
                "max_kbps",
                "out_of_range",
                "max_kbps is at most 200000",
            ));
        }
        if self.max_height > 4320 {
            c.push(FieldError::new(
                "max_height",
                "out_of_range",
                "max_height is at most 4320",
            ));
        }
        let dvr_minutes = match self.dvr_minutes {
            0 => DEFAULT_DVR_MINUTES,
            m if (DVR_MINUTES.0..=DVR_MINUTES.1).contains(&m) => m,
            _ => {
                c.push(FieldError::new(
                    "dvr_minutes",
                    "out_of_range",
                    format!(
                        "dvr_minutes is between {} and {}",
                        DVR_MINUTES.0, DVR_MINUTES.1
                    ),
                ));
                DEFAULT_DVR_MINUTES
            }
        };
        let pull = self.pull_url.trim();
        let pull_url = if pull.is_empty() {
            None
        } else {
            match Source::parse(pull) {
                Ok(_) => Some(pull.to_owned()),
                Err(e) => {
                    c.push(e);
                    None
                }
            }
        };
        let mut publish_cidrs: Vec<String> = Vec::new();
        for raw in self
            .publish_cidrs
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        {
            match parse_cidr(raw) {
                Some(n) if !publish_cidrs.contains(&n.to_string()) => {
                    publish_cidrs.push(n.to_string());
                }
                Some(_) => {}
                None => c.push(FieldError::new(
                    "publish_cidrs",
                    "bad_format",
                    format!(
                        "{} is not an address or a CIDR such as 203.0.113.0/24",
                        raw.chars().take(60).collect::<String>()
                    ),
                )),
            }
        }
        if publish_cidrs.len() > MAX_PUBLISH_CIDRS {
            c.push(FieldError::new(
                "publish_cidrs",
                "too_many",
                format!("at most {MAX_PUBLISH_CIDRS} addresses"),
            ));
        }
        let mut record_windows: Vec<String> = Vec::new();
        for raw in self
            .record_windows
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        {
            match RecordWindow::parse(raw) {
                Some(w) if !record_windows.contains(&w.render()) => record_windows.push(w.render()),
                Some(_) => {}
                None => c.push(FieldError::new(
                    "record_windows",
                    "bad_format",
                    format!(
                        "{} is not a window such as 19:00-19:30 (Beijing time)",
                        raw.chars().take(40).collect::<String>()
                    ),
                )),
            }
        }
        if record_windows.len() > MAX_RECORD_WINDOWS {
            c.push(FieldError::new(
                "record_windows",
                "too_many",
                format!("at most {MAX_RECORD_WINDOWS} windows"),
            ));
        }
        let mut renditions: Vec<u32> = Vec::new();
        for h in &self.renditions {
            if !RENDITION_HEIGHTS.contains(h) {
                c.push(FieldError::new(
                    "renditions",
                    "bad_value",
                    format!(
                        "a rendition is {} lines tall",
                        RENDITION_HEIGHTS.map(|h| h.to_string()).join(", ")
                    ),
                ));
            } else if !renditions.contains(h) {
                renditions.push(*h);
            }
        }
        renditions.sort_unstable_by(|a, b| b.cmp(a));
        if renditions.len() > MAX_RENDITIONS {
            c.push(FieldError::new(
                "renditions",
                "too_many",
                format!("at most {MAX_RENDITIONS} renditions"),
            ));
        }
        c.finish(ChannelFields {
            name,
            description,
            visibility,
            shared_with,
            max_kbps: self.max_kbps,
            max_height: self.max_height,
            dvr_minutes,
            record: self.record,
            record_windows,
            pull_url,
            publish_cidrs,
            renditions,
        })
    }
}

/// Where a pulling channel takes its signal from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `rtmp[s]://host[:port]/app/stream`: played from a remote RTMP server (over TLS for
    /// `rtmps`).
    Rtmp { app_url: String, stream: String },
    /// `http(s)://…` an HLS playlist (MPEG-TS segments), fetched through the outbound guard.
    Hls(String),
    /// `rtsp://host[:port]/path`: played from an RTSP server (a camera, a gateway).
    Rtsp(String),
    /// `srt://host:port[?streamid=…&passphrase=…]`: a remote SRT listener, called (MPEG-TS).
    Srt {
        /// `srt://host:port`.
        address: String,
        streamid: Option<String>,
        passphrase: Option<String>,
    },
    /// `channel:<id>`: another cityx channel (shared with the puller's station).
    Channel(ChannelId),
}

/// The longest pull address taken.
const MAX_PULL_URL: usize = 1024;

impl Source {
    /// Reads a pull address; the mistake names the `pull_url` field.
    pub fn parse(raw: &str) -> Result<Source, FieldError> {
        let bad = |msg: &str| FieldError::new("pull_url", "bad_format", msg.to_owned());
        let raw = raw.trim();
        if raw.len() > MAX_PULL_URL || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                "a pull address is up to 1024 characters, without spaces",
            ));
        }
        if let Some(id) = raw.strip_prefix("channel:") {
            return id
                .parse()
                .map(Source::Channel)
                .map_err(|_| bad("channel:<id> names a channel by its id"));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(bad(
                "a pull address is rtmp://…, http(s)://….m3u8 or channel:<id>",
            ));
        };
        if rest.contains('@') || rest.starts_with('/') || rest.is_empty() {
            return Err(bad(
                "a pull address names a host, without a user name or password",
            ));
        }
        match scheme.to_ascii_lowercase().as_str() {
            scheme @ ("rtmp" | "rtmps") => {
                let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
                let path = path
                    .split(['?', '#'])
                    .next()
                    .unwrap_or("")
                    .trim_matches('/');
                match path.rsplit_once('/') {
                    Some((app, stream)) if !app.is_empty() && !stream.is_empty() => {
                        let host = rest.split('/').next().unwrap_or("");
                        Ok(Source::Rtmp {
                            app_url: format!("{scheme}://{host}/{app}"),
                            stream: stream.to_owned(),
                        })
                    }
                    _ => Err(bad("an RTMP pull address is rtmp://host/app/stream")),
                }
            }
            "http" | "https" => Ok(Source::Hls(raw.to_owned())),
            "rtsp" => Ok(Source::Rtsp(raw.to_owned())),
            "srt" => Source::parse_srt(rest).map_err(|m| bad(&m)),
            _ => Err(FieldError::new(
                "pull_url",
                "unsupported_scheme",
                "channels pull rtmp(s)://, srt://, rtsp://, http(s):// (HLS) or channel:<id>"
                    .to_owned(),
            )),
        }
    }
}

impl Source {
    /// `host:port[?streamid=…&passphrase=…]` of an `srt://` address (SRT has no default port).
    fn parse_srt(rest: &str) -> Result<Source, String> {
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let port = authority
            .rsplit_once(':')
            .and_then(|(host, port)| (!host.is_empty()).then_some(port))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p > 0);
        if port.is_none() || authority.contains('/') {
            return Err("an SRT pull address is srt://host:port, with its port".into());
        }
        let (mut streamid, mut passphrase) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("streamid", v)) if !v.is_empty() && v.len() <= 512 => {
                    streamid = Some(v.to_owned());
                }
                Some(("passphrase", v)) if check_srt_passphrase(v).is_ok() => {
                    passphrase = Some(v.to_owned());
                }
                _ => {
                    return Err(
                        "an SRT pull address takes streamid=… and passphrase=… (10 to 79 \
                         characters), nothing else"
                            .into(),
                    );
                }
            }
        }
        Ok(Source::Srt {
            address: format!("srt://{authority}"),
            streamid,
            passphrase,
        })
    }
}

/// Whether `key` has the shape of a stream key (so that garbage is refused before a lookup).
pub fn key_shape_ok(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX)
        .is_some_and(|hex| hex.len() == 48 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The part of a key shown to tell keys apart.
pub fn key_hint(key: &str) -> String {
    key.chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// Why a publish is refused, as the audit log and the publisher's log say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No channel has this key (or it was rotated).
    UnknownKey,
    /// Too many wrong keys from this address lately.
    RateLimited,
    /// Another publisher holds the channel (the first one keeps it).
    Busy,
    /// Above the channel's bit rate or height.
    OverLimits,
    /// The publisher's address is not on the channel's allow-list.
    AddressNotAllowed,
    /// An SRT caller without the channel's passphrase (or encrypting for a channel without
    /// one).
    Passphrase,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownKey => "unknown_key",
            Refusal::RateLimited => "rate_limited",
            Refusal::Busy => "busy",
            Refusal::OverLimits => "over_limits",
            Refusal::AddressNotAllowed => "address_not_allowed",
            Refusal::Passphrase => "passphrase",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScopeSet;

    #[test]
    fn publishers_come_from_the_allow_list() {
        let input = ChannelInput {
            name: "n",
            publish_cidrs: vec![" 203.0.113.7/24 ", "2001:db8::1", "", "203.0.113.0/24"],
            ..ChannelInput::default()
        };
        let fields = input.validate().expect("valid");
        assert_eq!(fields.publish_cidrs, ["203.0.113.0/24", "2001:db8::1/128"]);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(publisher_allowed(
            &fields.publish_cidrs,
            ip("203.0.113.200")
        ));
        assert!(publisher_allowed(
            &fields.publish_cidrs,
            ip("::ffff:203.0.113.9")
        ));
        assert!(!publisher_allowed(
            &fields.publish_cidrs,
            ip("198.51.100.1")
        ));
        assert!(!publisher_allowed(&fields.publish_cidrs, ip("2001:db8::2")));
        assert!(
            publisher_allowed(&[], ip("198.51.100.1")),
            "no list: anyone"
        );
        let bad = ChannelInput {
            name: "n",
            publish_cidrs: vec!["10.0.0.0/33", "example.org"],
            ..ChannelInput::default()
        };
        let errors = bad.validate().expect_err("invalid");
        assert_eq!(
            errors.iter().filter(|e| e.field == "publish_cidrs").count(),
            2,
            "{errors:?}"
        );
        assert!(check_srt_passphrase("0123456789").is_ok());
        assert!(check_srt_passphrase("short").is_err());
        assert!(check_srt_passphrase(&"x".repeat(80)).is_err());
        assert!(check_srt_passphrase("密码密码密码密码密码").is_err());
        assert!(check_srt_passphrase(" 0123456789").is_err());
    }

    fn actor(role: Role, station: Option<StationId>) -> Actor {
        Actor {
            user_id: Some(crate::UserId::new()),
            label: "a@example.org".into(),
            role,
            station_id: station,
            scopes: ScopeSet::ALL,
            token_id: None,
            ip: None,
        }
    }

    fn channel(visibility: Visibility, shared_with: Vec<StationId>) -> Channel {
        let now = crate::now();
        Channel {
            id: ChannelId::new(),
            station_id: StationId::new(),
            station_name: "A".into(),
            name: "n".into(),
            description: String::new(),
            visibility,
            shared_with,
            max_kbps: 0,
            max_height: 0,
            dvr_minutes: 120,
            record: false,
            record_windows: Vec::new(),
            pull_url: None,
            publish_cidrs: vec!["203.0.113.0/24".into()],
            renditions: Vec::new(),
            srt_passphrase_hint: "6789".into(),
            state: ChannelState::Idle,
            live_since: None,
            health: None,
            key_hint: "abcd".into(),
            key_rotated_at: now,
            created_by: crate::UserId::new(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn recording_windows_are_daily_beijing_times() {
        let w = RecordWindow::parse("19:00-19:30").expect("a window");
        assert_eq!(w.render(), "19:00:00-19:30:00");
        let at = |h: u8, m: u8| {
            time::Date::from_calendar_date(2026, time::Month::December, 4)
                .expect("date")
                .with_hms(h, m, 0)
                .expect("time")
                .assume_utc()
        };
        // 19:10 in Beijing is 11:10 UTC.
        assert!(w.contains(at(11, 10)));
        assert!(!w.contains(at(11, 30)), "the end is outside");
        let night = RecordWindow::parse("23:30:00-00:15").expect("past midnight");
        assert!(night.contains(at(15, 45)) && night.contains(at(16, 10)));
        assert!(!night.contains(at(16, 15)));
        for bad in [
            "19:00",
            "19:00-19:00",
            "24:00-01:00",
            "7:00-8:00",
            "19:00-19:60",
            "a-b",
        ] {
            assert_eq!(RecordWindow::parse(bad), None, "{bad}");
        }
        let fields = ChannelInput {
            name: "n",
            record_windows: vec![" 19:00-19:30 ", "19:00:00-19:30:00", ""],
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(fields.record_windows, ["19:00:00-19:30:00"]);
        let errors = ChannelInput {
            name: "n",
            record_windows: vec!["19:00-19"],
            ..Default::default()
        }
        .validate()
        .expect_err("refused");
        assert!(
            errors.iter().any(|e| e.field == "record_windows"),
            "{errors:?}"
        );
    }

    #[test]
    fn renditions_are_known_heights_tallest_first() {
        let input = |renditions: Vec<u32>| ChannelInput {
            name: "n",
            renditions,
            ..Default::default()
        };
        let fields = input(vec![360, 720, 360]).validate().expect("valid");
        assert_eq!(fields.renditions, [720, 360]);
        for bad in [vec![500], vec![1080, 720, 480, 240]] {
            let errors = input(bad.clone()).validate().expect_err("refused");
            assert!(
                errors.iter().any(|e| e.field == "renditions"),
                "{bad:?}: {errors:?}"
            );
        }
        assert!(rendition_kbps(720) > rendition_kbps(360));
    }

    #[test]
    fn who_may_watch() {
        let other = StationId::new();
        let named = StationId::new();
        let private = channel(Visibility::Private, vec![]);
        let own = actor(Role::Viewer, Some(private.station_id));
        assert!(private.watchable_by(&own));
        assert!(!private.watchable_by(&actor(Role::Editor, Some(other))));
        assert!(private.watchable_by(&actor(Role::HubEditor, None)));
        let shared = channel(Visibility::Stations, vec![named]);
        assert!(shared.watchable_by(&actor(Role::Viewer, Some(named))));
        assert!(!shared.watchable_by(&actor(Role::Viewer, Some(other))));
        let all = channel(Visibility::Exchange, vec![]);
        assert!(all.watchable_by(&actor(Role::Viewer, Some(other))));
        assert!(!all.watchable_by(&actor(Role::Viewer, None)));
    }

    #[test]
    fn input_is_checked() {
        let ok = ChannelInput {
            name: " 新闻直播 ",
            visibility: "exchange",
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(ok.name, "新闻直播");
        assert_eq!(ok.dvr_minutes, DEFAULT_DVR_MINUTES);
        let errors = ChannelInput {
            name: "",
            visibility: "stations",
            dvr_minutes: 99_999,
            shared_with: vec!["nope"],
            ..Default::default()
        }
        .validate()
        .expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert!(fields.contains(&"name"), "{fields:?}");
        assert!(fields.contains(&"shared_with"), "{fields:?}");
        assert!(fields.contains(&"dvr_minutes"), "{fields:?}");
    }

    #[test]
    fn pull_addresses_are_read() {
        assert_eq!(
            Source::parse("rtmp://origin.example.org:1936/live/news?token=1"),
            Ok(Source::Rtmp {
                app_url: "rtmp://origin.example.org:1936/live".into(),
                stream: "news".into()
            })
        );
        assert_eq!(
            Source::parse("rtmp://h/a/b/c")
                .map(|s| matches!(s, Source::Rtmp { stream, .. } if stream == "c")),
            Ok(true)
        );
        assert_eq!(
            Source::parse("RTMPS://origin.example.org/live/news"),
            Ok(Source::Rtmp {
                app_url: "rtmps://origin.example.org/live".into(),
                stream: "news".into()
            })
        );
        assert_eq!(
            Source::parse("rtsp://cam.example.org:8554/Streaming/Channels/101"),
            Ok(Source::Rtsp(
                "rtsp://cam.example.org:8554/Streaming/Channels/101".into()
            ))
        );
        assert!(matches!(
            Source::parse("https://cdn.example.org/live/index.m3u8"),
            Ok(Source::Hls(_))
        ));
        let id = ChannelId::new();
        assert_eq!(
            Source::parse(&format!("channel:{id}")),
            Ok(Source::Channel(id))
        );
        assert_eq!(
            Source::parse(
                "srt://studio.example.org:9000?streamid=#!::r=news,m=request&passphrase=0123456789"
            ),
            Ok(Source::Srt {
                address: "srt://studio.example.org:9000".into(),
                streamid: Some("#!::r=news,m=request".into()),
                passphrase: Some("0123456789".into()),
            })
        );
        assert!(matches!(
            Source::parse("srt://[2001:db8::1]:9000"),
            Ok(Source::Srt {
                streamid: None,
                passphrase: None,
                ..
            })
        ));
        for (bad, code) in [
            ("rtmp://h/onlyapp", "bad_format"),
            ("rtmp://user:pw@h/a/b", "bad_format"),
            ("srt://h", "bad_format"),
            ("srt://h:0", "bad_format"),
            ("srt://h:9000/path", "bad_format"),
            ("srt://h:9000?passphrase=short", "bad_format"),
            ("srt://h:9000?mode=listener", "bad_format"),
            ("rtsps://h/stream", "unsupported_scheme"),
            ("rtsp://admin:pw@cam.example.org/stream", "bad_format"),
            ("file:///etc/passwd", "bad_format"),
            ("channel:nope", "bad_format"),
            ("no scheme", "bad_format"),
        ] {
            assert_eq!(Source::parse(bad).map_err(|e| e.code), Err(code), "{bad}");
        }
        let input = ChannelInput {
            name: "拉流",
            pull_url: "rtsps://h/stream",
            ..Default::default()
        };
        let errors = input.validate().expect_err("rtsps is not pulled");
        assert!(errors.iter().any(|e| e.field == "pull_url"), "{errors:?}");
    }

    #[test]
    fn key_shapes() {
        let key = format!("{KEY_PREFIX}{}", "ab12".repeat(12));
        assert!(key_shape_ok(&key));
        assert!(!key_shape_ok("sk_short"));
        assert!(!key_shape_ok(&key.replace("sk_", "xx_")));
        assert!(!key_shape_ok(&format!("{key}0")));
        assert_eq!(key_hint(&key), "ab12");
    }
}

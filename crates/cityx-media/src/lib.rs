//! ffmpeg and ffprobe for cityx (the one place that spawns processes), and the media
//! formats cityx writes itself.
//!
//! Every run goes through [`process::run`]: its own process group, no stdin, a working
//! directory of its own, a wall-clock limit and a stall watchdog that end in SIGKILL of the
//! whole group, capped output, and an error that tells the operator what to do. Untrusted
//! media always gets the input options of [`hardened_input`]: a container whitelist, the
//! `file` protocol only, and an allocation cap (DESIGN.md, security rules).
//!
//! Commands are planned in [`ladder`] (the fast remux and the single-decode pass), their
//! HLS text handled in [`hls`], and the technical check (技审) read and judged in [`qc`].
//! Live streams are packaged without a process: [`ts`] turns RTMP's H.264 and AAC messages
//! into MPEG-TS segments, [`level`] reads the audio's level from a sample of AAC frames, and
//! [`sps`] prepares the keyframes that the live inspector ([`live::inspect_args`]) decodes.
//!
//! Depends on no other cityx crate. Main types: [`Tools`], [`probe::MediaInfo`],
//! [`ladder::Plan`], [`qc::Report`].

pub mod hls;
pub mod ladder;
pub mod level;
pub mod live;
pub mod probe;
pub mod process;
pub mod qc;
pub mod sniff;
pub mod sps;
pub mod ts;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Containers cityx reads. HLS playlists, ffconcat lists and the like are refused: they make
/// ffmpeg open other files.
pub const FORMAT_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,flv";
/// The largest single allocation ffmpeg may make (512 MiB): bounds pixel floods.
pub const MAX_ALLOC: &str = "536870912";

/// Where the tools are and how long they may run.
#[derive(Clone, Debug)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// How long a probe may take.
    pub probe_limit: Duration,
    /// How long a tool may print nothing before it is considered stuck.
    pub stall: Duration,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            probe_limit: Duration::from_secs(60),
            stall: Duration::from_secs(60),
        }
    }
}

/// The input options for an untrusted live stream of `format` (`flv`, `mpegts`) on the
/// child's standard input: that one demuxer, the `pipe` protocol only, the allocation cap.
pub fn hardened_stream_input(format: &str) -> Vec<OsString> {
    [
        "-max_alloc",
        MAX_ALLOC,
        "-format_whitelist",
        format,
        "-protocol_whitelist",
        "pipe",
        "-f",
        format,
        "-i",
        "pipe:0",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// The input options every untrusted file gets, followed by `-i file:<path>`.
pub fn hardened_input(path: &Path) -> Vec<OsString> {
    let mut input = OsString::from("file:");
    input.push(path.as_os_str());
    [
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-protocol_whitelist",
        "file",
        "-i",
    ]
    .into_iter()
    .map(OsString::from)
    .chain(std::iter::once(input))
    .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(
        "cannot run {program}: {source}; install ffmpeg (Debian: apt install ffmpeg) or set media.ffmpeg / media.ffprobe"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} took longer than {limit:?} and was stopped")]
    TimedOut { program: String, limit: Duration },
    #[error("{program} printed nothing for {stall:?} and was stopped")]
    Stalled { program: String, stall: Duration },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("{program} wrote more than {limit} bytes of output")]
    OutputTooLarge { program: String, limit: usize },
    #[error("not a media file cityx can read: {reason}")]
    NotMedia { reason: String },
    #[error("i/o error while running {program}: {source}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl MediaError {
    /// Whether trying again later could succeed (a stuck or overloaded machine), as opposed
    /// to a file that will never work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MediaError::Spawn { .. }
                | MediaError::Io { .. }
                | MediaError::TimedOut { .. }
                | MediaError::Stalled { .. }
        )
    }
}

//! The live stream's commands: the inspector (a hardened ffmpeg that looks at a keyframe every
//! few seconds for the thumbnail and the picture's luma), the remuxer of MPEG-TS sources, the
//! slate and the clip; and the channel's time-shift playlist ([`LivePlaylist`]). The segments
//! themselves are made in process ([`crate::ts::Segmenter`]).

use std::ffi::OsString;
use std::fmt::Write as _;
use time::OffsetDateTime;

/// The thumbnail, rewritten every few seconds.
pub const THUMBNAIL: &str = "thumb.jpg";

/// The arguments of ffmpeg that look at a live stream's keyframes, sent one every few
/// seconds as little transport streams ([`crate::ts::Segmenter::keyframe`]) on standard
/// input: each becomes the thumbnail (180 lines high) and its mean luma is printed to
/// stderr ([`read_luma`]). One decoder thread and no probing beyond the first packet, so
/// a keyframe is looked at when it comes; an encoder's reordering delay (B-frames) holds
/// back up to two of them.
pub fn inspect_args() -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-y",
        "-threads",
        "1",
        "-probesize",
        "32",
        "-analyzeduration",
        "1",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.extend(crate::hardened_stream_input("mpegts"));
    let luma = format!("scale=64:-2,signalstats,metadata=mode=print:key={LUMA_KEY}");
    args.extend(
        [
            "-map",
            "0:v:0",
            "-vf",
            "scale=-2:180",
            "-q:v",
            "6",
            "-fps_mode",
            "passthrough",
            "-update",
            "1",
            "-f",
            "image2",
            THUMBNAIL,
            "-map",
            "0:v:0",
            "-vf",
            &luma,
            "-f",
            "null",
            "-",
        ]
        .map(OsString::from),
    );
    args
}

const LUMA_KEY: &str = "lavfi.signalstats.YAVG";

/// The picture's mean luma (0–255) a line of the inspector's stderr carries, if any.
pub fn read_luma(line: &str) -> Option<f64> {
    let at = line.find(LUMA_KEY)? + LUMA_KEY.len();
    let v = line[at..].strip_prefix('=')?.trim().parse::<f64>().ok()?;
    v.is_finite().then_some(v)
}

/// The start of a command that reads MPEG-TS from standard input under the hardened stream
/// input's rules and prints its progress every second (for the stall watchdog).
fn piped_mpegts_input() -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-stats",
        "-stats_period",
        "1",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.extend(crate::hardened_stream_input("mpegts"));
    args
}

/// The arguments of ffmpeg that copy an untrusted MPEG-TS stream on standard input into FLV
/// on standard output (an SRT publisher or a pulled stream made ready for the live session,
/// which takes RTMP's messages). What `program` says cannot be copied is converted: video
/// other than H.264 to H.264 with a keyframe every `key_secs`, audio other than AAC to AAC.
/// Progress goes to stderr every second, for the stall watchdog.
pub fn remux_to_flv_args(program: &crate::sniff::Program, key_secs: u32) -> Vec<OsString> {
    let mut args = piped_mpegts_input();
    args.extend(["-map", "0:v:0?", "-map", "0:a:0?", "-sn", "-dn"].map(OsString::from));
    if program.video.is_some_and(|c| !c.copied) {
        let keys = format!("expr:gte(t,n_forced*{})", key_secs.max(1));
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
                "-crf",
                "23",
                "-maxrate",
                "6M",
                "-bufsize",
                "12M",
                "-force_key_frames",
                &keys,
            ]
            .map(OsString::from),
        );
    } else {
        args.extend(["-c:v", "copy"].map(OsString::from));
    }
    if program.audio.is_some_and(|c| c.copied) {
        args.extend(["-c:a", "copy"].map(OsString::from));
    } else {
        args.extend(["-c:a", "aac", "-b:a", "128k", "-ac", "2"].map(OsString::from));
    }
    args.extend(["-f", "flv", "-flvflags", "no_duration_filesize", "pipe:1"].map(OsString::from));
    args
}

/// One lower rendition of a live channel: its height and video bit rate (kbit/s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    pub height: u32,
    pub kbps: u32,
}

/// The rendition list file ffmpeg appends a line to (`name,start,end`) as each of a rung's
/// segments is finished.
pub fn rung_list(height: u32) -> String {
    format!("r{height}.csv")
}

/// The arguments of ffmpeg that encode a live channel's lower renditions from its MPEG-TS on
/// standard input (cityx's own muxer's, H.264 and AAC): one decode, the picture scaled once
/// per rung, each encoded to H.264 with a keyframe every `segment_secs` and cut into
/// MPEG-TS segments of that length in the working directory (`r<height>-<n>.ts`, listed in
/// [`rung_list`] as each ends); the audio is copied. Progress goes to stderr every second.
pub fn ladder_args(rungs: &[Rung], segment_secs: u32) -> Vec<OsString> {
    let secs = segment_secs.max(1);
    let mut args = piped_mpegts_input();
    let labels: String = (0..rungs.len()).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:v:0]split={}{labels}", rungs.len());
    for (i, r) in rungs.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]scale=-2:{}[v{i}]", r.height));
    }
    args.extend([OsString::from("-filter_complex"), OsString::from(graph)]);
    let keys = format!("expr:gte(t,n_forced*{secs})");
    for (i, r) in rungs.iter().enumerate() {
        let (rate, max, buf) = (
            format!("{}k", r.kbps),
            format!("{}k", r.kbps * 6 / 5),
            format!("{}k", r.kbps * 2),
        );
        let out = [
            "-map",
            &format!("[v{i}]"),
            "-map",
            "0:a:0?",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            &rate,
            "-maxrate",
            &max,
            "-bufsize",
            &buf,
            "-force_key_frames",
            &keys,
            "-c:a",
            "copy",
            "-f",
            "segment",
            "-segment_time",
            &secs.to_string(),
            "-segment_format",
            "mpegts",
            "-segment_list",
            &rung_list(r.height),
            "-segment_list_type",
            "csv",
            "-segment_list_flags",
            "live",
            &format!("r{}-%d.ts", r.height),
        ]
        .map(OsString::from);
        args.extend(out);
    }
    args
}

/// A rung's finished segments from its list file's text (`name,start,end` per line, only
/// lines ended by a newline: the last may be being written), from line `from` on: the file
/// name and its duration.
pub fn rung_segments(list: &str, from: usize) -> Vec<(String, f64)> {
    list.split_inclusive('\n')
        .skip(from)
        .map_while(|line| {
            let line = line.strip_suffix('\n')?;
            let mut parts = line.split(',');
            let name = parts.next()?.trim();
            let start: f64 = parts.next()?.trim().parse().ok()?;
            let end: f64 = parts.next()?.trim().parse().ok()?;
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            (plain && end >= start).then(|| (name.to_owned(), end - start))
        })
        .collect()
}

/// The slate's frame rate; its picture is one group of [`SLATE_FRAMES`] frames.
pub const SLATE_FPS: u32 = 25;
/// Frames in the slate's one group of pictures (two seconds), which is repeated.
pub const SLATE_FRAMES: u32 = 50;
/// The slate's audio sample rate (AAC frames of 1024 samples of silence).
pub const SLATE_AUDIO_RATE: u32 = 44_100;
/// What the slate says, when a font with Chinese glyphs is at hand: a line in Chinese and
/// a smaller one in English below it.
const SLATE_TEXT: [&str; 2] = ["信号中断 请稍候", "Signal interrupted · please stand by"];
/// Fonts with Chinese glyphs that Debian's packages install (fonts-noto-cjk,
/// fonts-wqy-microhei), looked for in this order.
const SLATE_FONTS: [&str; 3] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

/// A font the slate's text can be drawn with, if any is installed.
pub fn slate_font() -> Option<&'static str> {
    SLATE_FONTS
        .into_iter()
        .find(|f| std::path::Path::new(f).is_file())
}

/// The arguments of ffmpeg that make the slate shown while a channel's input is gone: two
/// seconds (one closed group of pictures, H.264 without B-frames) of a dark card of
/// `width`×`height` saying that the signal is interrupted (with `font`; without it, the
/// card alone) and AAC silence, as FLV on standard output. Nothing untrusted goes in: the
/// text and the font's path are this crate's own.
pub fn slate_args(width: u32, height: u32, font: Option<&str>) -> Vec<OsString> {
    let mut picture = format!(
        "color=c=0x14263a:s={width}x{height}:r={SLATE_FPS}:d={}",
        SLATE_FRAMES / SLATE_FPS
    );
    if let Some(font) = font {
        let size = (height / 12).max(12);
        let small = (height / 24).max(8);
        let [chinese, english] = SLATE_TEXT;
        let _ = write!(
            picture,
            ",drawtext=fontfile={font}:text='{chinese}':fontcolor=white:fontsize={size}\
             :x=(w-text_w)/2:y=(h-text_h)/2-{small}:expansion=none\
             ,drawtext=fontfile={font}:text='{english}':fontcolor=0xb0bec5:fontsize={small}\
             :x=(w-text_w)/2:y=(h+text_h)/2+{small}:expansion=none"
        );
    }
    let audio = format!("anullsrc=r={SLATE_AUDIO_RATE}:cl=stereo");
    let frames = SLATE_FRAMES.to_string();
    [
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        &picture,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-frames:v",
        &frames,
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "stillimage",
        "-pix_fmt",
        "yuv420p",
        "-bf",
        "0",
        "-g",
        &frames,
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "pipe:1",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// The arguments of ffmpeg that copy `length` seconds from `offset` of a clip's joined
/// segments (`input`, MPEG-TS made by the packager) into an MP4 (`output`). Copying starts
/// on the keyframe at or before `offset`.
pub fn clip_args(
    input: &std::path::Path,
    offset: f64,
    length: f64,
    output: &std::path::Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-y",
        "-max_alloc",
        crate::MAX_ALLOC,
        "-ss",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(format!("{offset:.3}").into());
    args.extend(crate::hardened_input(input));
    args.extend(["-t".into(), format!("{length:.3}").into()]);
    args.extend(
        [
            "-map",
            "0:v:0?",
            "-map",
            "0:a:0?",
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
        .map(OsString::from),
    );
    args.push(output.as_os_str().to_owned());
    args
}

/// One segment of a channel's time-shift window.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveSegment {
    /// Relative to the channel's playlist: `<session>/<n>.ts`.
    pub uri: String,
    pub duration: f64,
    /// When its first frame was on air.
    pub at: OffsetDateTime,
    /// The first segment of a publishing session after another (a new encoder, new
    /// timestamps).
    pub discontinuity: bool,
}

/// A channel's playlist with its time-shift window (an HLS live "event" window that slides):
/// what players load, written by the ingest after each segment and read back when a
/// publisher comes back, so the window and the sequence numbers continue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LivePlaylist {
    /// The media sequence number of the first segment.
    pub sequence: u64,
    /// Discontinuities that slid out of the window.
    pub discontinuity_sequence: u64,
    pub segments: Vec<LiveSegment>,
    /// The broadcast ended (no publisher now).
    pub ended: bool,
}

impl LivePlaylist {
    /// Adds a segment; returns the segments that slid out of a window of `window_secs`.
    pub fn push(&mut self, segment: LiveSegment, window_secs: f64) -> Vec<LiveSegment> {
        self.ended = false;
        self.segments.push(segment);
        let mut dropped = Vec::new();
        while self.segments.len() > 1 && self.total_secs() > window_secs {
            let gone = self.segments.remove(0);
            self.sequence += 1;
            if gone.discontinuity {
                // Its tag left the playlist with it.
                self.discontinuity_sequence += 1;
            }
            dropped.push(gone);
        }
        dropped
    }

    pub fn total_secs(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// The playlist text.
    pub fn render(&self) -> String {
        let target = self
            .segments
            .iter()
            .map(|s| s.duration.ceil() as u64)
            .max()
            .unwrap_or(2)
            .max(1);
        let mut out = String::with_capacity(128 + self.segments.len() * 96);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{target}\n\
             #EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n",
            self.sequence, self.discontinuity_sequence
        );
        for s in &self.segments {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let at =
                s.at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
            let _ = write!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{at}\n#EXTINF:{:.3},\n{}\n",
                s.duration, s.uri
            );
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }

    /// Reads back what [`render`](Self::render) wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut p = LivePlaylist::default();
        let mut lines = text.lines().map(str::trim);
        if lines.next()? != "#EXTM3U" {
            return None;
        }
        let (mut disc, mut at, mut duration) = (false, None, None);
        for line in lines {
            if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.sequence = v.parse().ok()?;
            } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
                p.discontinuity_sequence = v.parse().ok()?;
            } else if line == "#EXT-X-DISCONTINUITY" {
                disc = true;
            } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                at = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok();
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                duration = v.split(',').next().and_then(|d| d.parse().ok());
            } else if line == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if !line.is_empty() && !line.starts_with('#') {
                p.segments.push(LiveSegment {
                    uri: line.to_owned(),
                    duration: duration.take()?,
                    at: at.take()?,
                    discontinuity: std::mem::take(&mut disc),
                });
            }
        }
        Some(p)
    }

    /// The segments that overlap `[from, to)`, for a clip: each with its offset.
    pub fn range(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<&LiveSegment> {
        self.segments
            .iter()
            .filter(|s| {
                let end = s.at + time::Duration::seconds_f64(s.duration);
                end > from && s.at < to
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slates_are_one_closed_group_with_text_only_with_a_font() {
        let text = |args: Vec<OsString>| {
            args.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let plain = text(slate_args(640, 360, None));
        assert!(
            plain.contains("color=c=0x14263a:s=640x360:r=25:d=2"),
            "{plain}"
        );
        assert!(
            plain.contains("-g 50") && plain.contains("-bf 0"),
            "{plain}"
        );
        assert!(!plain.contains("drawtext"), "{plain}");
        let drawn = text(slate_args(1280, 720, Some("/fonts/cjk.ttc")));
        assert_eq!(
            drawn.matches("drawtext=fontfile=/fonts/cjk.ttc").count(),
            2,
            "{drawn}"
        );
        assert!(
            drawn.contains("fontsize=60") && drawn.contains("expansion=none"),
            "{drawn}"
        );
    }

    fn seg(n: u32, secs: i64, disc: bool) -> LiveSegment {
        LiveSegment {
            uri: format!("s/{n}.ts"),
            duration: 2.0,
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).expect("time"),
            discontinuity: disc,
        }
    }

    #[test]
    fn the_window_slides_and_reads_back() {
        let mut p = LivePlaylist::default();
        for n in 0..5 {
            assert!(p.push(seg(n, i64::from(n) * 2, false), 7.0).is_empty() || n >= 3);
        }
        // 5 × 2 s in a 7 s window: the first two slid out.
        assert_eq!(p.segments.len(), 3);
        assert_eq!(p.sequence, 2);
        let dropped = p.push(seg(9, 30, true), 7.0);
        let uris: Vec<&str> = dropped.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["s/2.ts"]);
        p.ended = true;
        let text = p.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{text}");
        assert!(
            text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:"),
            "{text}"
        );
        assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        assert_eq!(LivePlaylist::parse(&text), Some(p.clone()));
        // The discontinuity tag stays while its segment does, and is counted once it left.
        p.push(seg(10, 32, false), 4.0);
        assert_eq!(p.discontinuity_sequence, 0);
        assert!(p.render().contains("#EXT-X-DISCONTINUITY\n"));
        p.push(seg(11, 34, false), 4.0);
        assert_eq!(p.discontinuity_sequence, 1);
        assert!(!p.render().contains("#EXT-X-DISCONTINUITY\n"));
        assert_eq!(LivePlaylist::parse("not a playlist"), None);
    }

    #[test]
    fn ranges_on_the_clock() {
        let mut p = LivePlaylist::default();
        for n in 0..4 {
            p.push(seg(n, i64::from(n) * 2, false), 100.0);
        }
        let base = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let hit = p.range(
            base + time::Duration::seconds(3),
            base + time::Duration::seconds(5),
        );
        let uris: Vec<_> = hit.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["s/1.ts", "s/2.ts"]);
    }

    #[test]
    fn the_inspector_is_hardened_and_decodes_alone() {
        let joined: Vec<String> = inspect_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = joined.join(" ");
        assert!(
            joined
                .contains("-format_whitelist mpegts -protocol_whitelist pipe -f mpegts -i pipe:0"),
            "{joined}"
        );
        assert!(joined.contains("-threads 1"), "{joined}");
        assert!(
            joined.contains("signalstats") && joined.contains(THUMBNAIL),
            "{joined}"
        );
    }

    #[test]
    fn the_ladder_decodes_once_and_lists_each_rungs_segments() {
        let rungs = [
            Rung {
                height: 720,
                kbps: 2500,
            },
            Rung {
                height: 360,
                kbps: 800,
            },
        ];
        let args: Vec<String> = ladder_args(&rungs, 2)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-protocol_whitelist pipe"), "{joined}");
        assert!(
            joined.contains("[0:v:0]split=2[s0][s1];[s0]scale=-2:720[v0];[s1]scale=-2:360[v1]")
        );
        assert_eq!(args.iter().filter(|a| *a == "libx264").count(), 2);
        assert!(
            joined.contains("-b:v 800k -maxrate 960k -bufsize 1600k"),
            "{joined}"
        );
        assert!(joined.ends_with(
            "-segment_list r360.csv -segment_list_type csv -segment_list_flags live r360-%d.ts"
        ));
        let list = "r360-0.ts,0.000000,2.000000\nr360-1.ts,2.000000,4.040000\nr360-2.ts,4.04,6.0";
        assert_eq!(
            rung_segments(list, 0),
            vec![
                ("r360-0.ts".to_owned(), 2.0),
                ("r360-1.ts".to_owned(), 2.04)
            ],
            "a line still being written is not read"
        );
        assert_eq!(rung_segments(list, 1).len(), 1);
        assert!(
            rung_segments("../x.ts,0,1\n", 0).is_empty(),
            "plain names only"
        );
    }

    #[test]
    fn luma_lines_are_read() {
        assert_eq!(
            read_luma("[Parsed_metadata_3 @ 0x55] lavfi.signalstats.YAVG=126.987"),
            Some(126.987)
        );
        assert_eq!(read_luma("frame:3 pts:24000 pts_time:3"), None);
        assert_eq!(read_luma("lavfi.signalstats.YAVG=nan"), None);
    }
}

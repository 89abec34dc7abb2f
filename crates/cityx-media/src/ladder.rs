//! The ffmpeg commands of the pipeline, planned from what the probe found:
//!
//! - [`remux_plan`]: the fast path. H.264 (with AAC or no audio) is copied into a first HLS
//!   rendition, so that an item plays seconds after its upload completes.
//! - [`ladder_plan`]: one process, one decode. The decoded picture feeds every rung of the
//!   ABR ladder (aligned keyframes, fixed-length segments), the poster, thumbnails, the
//!   storyboard sprite and the QC analysis (black, frozen, silence, EBU R128). Deinterlacing,
//!   10-bit to 8-bit, rotation (ffmpeg's autorotate), anamorphic pixels and variable frame
//!   rates are handled on the way in.
//!
//!   Two things make the one process cheaper than the sum of its outputs, not just one
//!   decode cheaper: the rungs are scaled in a cascade (each from the rung above it, so only
//!   the top rung reads full-size pictures), and the proxy MP4 is not a separate encode but
//!   the proxy rung's encoded streams written a second time, through ffmpeg's `tee` muxer.
//!
//! Outputs go below the run's working directory, in the layout they are stored in:
//! `hls/<rendition>/index.m3u8` and `seg_NNNNN.ts`, `proxy.mp4`, `poster.jpg`,
//! `thumbs/thumb_NNN.jpg`, `storyboard/sb_NNN.jpg`.

use crate::hls::Storyboard;
use crate::probe::MediaInfo;
use crate::qc::Profile;
use crate::{Tools, hardened_input};
use std::ffi::OsString;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// How renditions are made.
#[derive(Clone, Debug, PartialEq)]
pub struct LadderOptions {
    /// Rung heights (the shorter side for portrait video), largest first; rungs above the
    /// source are left out.
    pub heights: Vec<u32>,
    /// x264 preset.
    pub preset: String,
    pub segment_secs: u32,
    pub audio_kbps: u32,
    /// The proxy MP4 shares the encode of the largest rung whose shorter side is at most
    /// this (the smallest rung when none is).
    pub proxy_height: u32,
}

impl Default for LadderOptions {
    fn default() -> Self {
        LadderOptions {
            heights: vec![1080, 720, 480, 360],
            preset: "veryfast".into(),
            segment_secs: 4,
            audio_kbps: 128,
            proxy_height: 480,
        }
    }
}

/// One rung of the ladder.
#[derive(Clone, Debug, PartialEq)]
pub struct Rung {
    /// Its directory under `hls/`: `720p`, or `audio` for an audio-only item.
    pub name: String,
    /// Output picture size; `None` for audio only.
    pub size: Option<(u32, u32)>,
    pub video_kbps: u32,
    /// The H.264 level the encoder is told to signal (`level_idc`: 40 is 4.0).
    pub level_idc: u8,
}

impl Rung {
    /// Peak bits per second for the master playlist (video at its maxrate plus audio).
    pub fn bandwidth(&self, audio_kbps: u32) -> u64 {
        (u64::from(maxrate(self.video_kbps)) + u64::from(audio_kbps)) * 1000
    }

    /// The master playlist's `CODECS` (RFC 6381): H.264 High at the rung's level, AAC-LC.
    pub fn codecs(&self, audio: bool) -> String {
        let video = self
            .size
            .map(|_| format!("avc1.6400{:02x}", self.level_idc));
        let audio = audio.then(|| "mp4a.40.2".to_owned());
        video.into_iter().chain(audio).collect::<Vec<_>>().join(",")
    }
}

/// The lowest H.264 level (`level_idc`) whose frame size and macroblock rate hold a picture
/// of `(w, h)` at `fps` (ITU-T H.264 table A-1; the ladder's bit rates are far below every
/// level's limit from 3.0 up).
fn h264_level((w, h): (u32, u32), fps: f64) -> u8 {
    const LEVELS: [(u8, u64, f64); 8] = [
        (30, 1620, 40_500.0),
        (31, 3600, 108_000.0),
        (32, 5120, 216_000.0),
        (40, 8192, 245_760.0),
        (42, 8704, 522_240.0),
        (50, 22_080, 589_824.0),
        (51, 36_864, 983_040.0),
        (52, 36_864, 2_073_600.0),
    ];
    let frame = u64::from(w.div_ceil(16)) * u64::from(h.div_ceil(16));
    LEVELS
        .iter()
        .find(|(_, fs, mbps)| frame <= *fs && frame as f64 * fps <= *mbps)
        .map_or(52, |l| l.0)
}

/// The frame rate of the outputs: the source's, unless it varies or is out of range.
fn output_fps(v: &crate::probe::VideoInfo) -> f64 {
    if v.variable_frame_rate || v.fps > 60.0 || v.fps <= 0.0 {
        v.fps.round().clamp(1.0, 60.0)
    } else {
        v.fps
    }
}

fn maxrate(kbps: u32) -> u32 {
    kbps + kbps / 10
}

fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32).max(1) * 2
}

/// The output size for a rung whose shorter side is `short`, keeping the shown aspect.
fn fit((w, h): (u32, u32), short: u32) -> (u32, u32) {
    let (w, h) = (f64::from(w.max(2)), f64::from(h.max(2)));
    if w >= h {
        (even(w * f64::from(short) / h), even(f64::from(short)))
    } else {
        (even(f64::from(short)), even(h * f64::from(short) / w))
    }
}

/// A video bit rate for a picture size: 5 Mbit/s at 1080p, scaled by area^0.75.
fn kbps_for((w, h): (u32, u32)) -> u32 {
    let area = f64::from(w) * f64::from(h) / (1920.0 * 1080.0);
    (((5000.0 * area.powf(0.75)) / 100.0).round() as u32 * 100).max(300)
}

/// The rungs for a source: every configured height not above it; a source smaller than the
/// smallest rung gets one rung at its own size.
pub fn rungs(info: &MediaInfo, opts: &LadderOptions) -> Vec<Rung> {
    let Some(v) = &info.video else {
        return vec![Rung {
            name: "audio".into(),
            size: None,
            video_kbps: 0,
            level_idc: 0,
        }];
    };
    let shown = (v.display_width, v.display_height);
    let short = shown.0.min(shown.1);
    let mut heights: Vec<u32> = opts
        .heights
        .iter()
        .copied()
        .filter(|h| *h <= short)
        .collect();
    if heights.is_empty() {
        heights.push(even(f64::from(short)));
    }
    heights
        .into_iter()
        .map(|h| {
            let size = fit(shown, h);
            Rung {
                name: format!("{h}p"),
                size: Some(size),
                video_kbps: kbps_for(size),
                level_idc: h264_level(size, output_fps(v)),
            }
        })
        .collect()
}

/// A planned ffmpeg run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub args: Vec<OsString>,
    /// The HLS renditions written, best first.
    pub rungs: Vec<Rung>,
    /// Directories (relative) that must exist before the run.
    pub dirs: Vec<String>,
    /// Frames the first video output will have, for progress; `None` for audio only.
    pub expected_frames: Option<u64>,
    pub duration_s: f64,
    pub storyboard: Option<Storyboard>,
    /// How long the run may take.
    pub wall: Duration,
}

impl Plan {
    /// Percent done from one `-progress` line, if it tells.
    pub fn progress(&self, line: &str) -> Option<u32> {
        percent(line, self.expected_frames, self.duration_s)
    }
}

/// Percent done from one `-progress` line: by frames of the first video output, or by
/// output time for sound only. Never 100: the job says when it is done.
fn percent(line: &str, expected_frames: Option<u64>, duration_s: f64) -> Option<u32> {
    let (key, value) = line.split_once('=')?;
    let done = match (key, expected_frames) {
        ("frame", Some(total)) if total > 0 => value.parse::<f64>().ok()? / total as f64,
        ("out_time_us", None) if duration_s > 0.0 => value.parse::<f64>().ok()? / 1e6 / duration_s,
        _ => return None,
    };
    Some((done * 100.0).clamp(0.0, 99.0) as u32)
}

fn os<I: IntoIterator<Item = S>, S: Into<OsString>>(items: I) -> Vec<OsString> {
    items.into_iter().map(Into::into).collect()
}

fn common_head(master: &Path) -> Vec<OsString> {
    let mut args = os([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-y",
        "-max_alloc",
        crate::MAX_ALLOC,
    ]);
    args.extend(hardened_input(master));
    args
}

/// The HLS muxer's options for rendition `name`, and its playlist.
fn hls_options(name: &str, segment_secs: u32) -> ([(&'static str, String); 4], String) {
    (
        [
            ("hls_time", segment_secs.to_string()),
            ("hls_playlist_type", "event".into()),
            ("hls_flags", "independent_segments+temp_file".into()),
            ("hls_segment_filename", format!("hls/{name}/seg_%05d.ts")),
        ],
        format!("hls/{name}/index.m3u8"),
    )
}

fn hls_output(args: &mut Vec<OsString>, name: &str, segment_secs: u32) {
    let (options, playlist) = hls_options(name, segment_secs);
    args.extend(os(["-f", "hls"]));
    for (k, v) in options {
        args.extend(os([format!("-{k}"), v]));
    }
    args.push(playlist.into());
}

/// Rendition `name` and, from the same encoded streams, the proxy MP4 (`tee` muxer). The
/// names are ours (no `[`, `|`, `:` or `\\` to escape).
fn hls_and_proxy_output(args: &mut Vec<OsString>, name: &str, segment_secs: u32) {
    let (options, playlist) = hls_options(name, segment_secs);
    let hls: Vec<String> = options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    args.extend(os([
        // The MP4 muxer needs the codec headers up front; MPEG-TS repeats them in-band.
        "-flags".to_owned(),
        "+global_header".into(),
        "-f".into(),
        "tee".into(),
        format!(
            "[f=hls:{}]{playlist}|[f=mp4:movflags=+faststart]{PROXY}",
            hls.join(":")
        ),
    ]));
}

/// The proxy MP4, below the run's working directory.
pub const PROXY: &str = "proxy.mp4";

/// Which rung's encode the proxy MP4 shares: the largest whose shorter side is at most
/// `proxy_height`, else the smallest (for audio only, the one rung).
fn proxy_rung(rungs: &[Rung], proxy_height: u32) -> usize {
    rungs
        .iter()
        .position(|r| r.size.is_none_or(|(w, h)| w.min(h) <= proxy_height))
        .unwrap_or(rungs.len().saturating_sub(1))
}

/// How long a run on a file of this duration may take: generous, but bounded.
fn wall_for(duration_s: f64, per_second: f64) -> Duration {
    Duration::from_secs_f64(300.0 + duration_s.max(0.0) * per_second)
}

/// Whether the master can be copied as it is into a browser-playable HLS rendition.
pub fn can_remux(info: &MediaInfo) -> bool {
    let video_ok = info.video.as_ref().is_some_and(|v| {
        v.codec == "h264" && v.bit_depth == 8 && v.pix_fmt == "yuv420p" && v.rotation == 0
    });
    let audio_ok = info.audio.as_ref().is_none_or(|a| a.codec == "aac");
    video_ok && audio_ok
}

/// The name of the fast path's rendition.
pub const FAST: &str = "fast";

/// The fast path: stream copy into `hls/fast/`. Check [`can_remux`] first.
pub fn remux_plan(info: &MediaInfo, master: &Path, opts: &LadderOptions) -> Plan {
    let mut args = common_head(master);
    args.extend(os([
        "-loglevel",
        "error",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
    ]));
    hls_output(&mut args, FAST, opts.segment_secs);
    Plan {
        args,
        rungs: vec![Rung {
            name: FAST.into(),
            size: info
                .video
                .as_ref()
                .map(|v| (v.display_width, v.display_height)),
            video_kbps: info
                .bit_rate
                .map_or(0, |b| u32::try_from(b / 1000).unwrap_or(u32::MAX)),
            // A copy keeps the source's level, which the probe does not record; the fast
            // rendition is played through its own playlist, never listed in a master one.
            level_idc: 0,
        }],
        dirs: vec![format!("hls/{FAST}")],
        expected_frames: None,
        duration_s: info.duration_s,
        storyboard: None,
        wall: wall_for(info.duration_s, 1.0),
    }
}

/// The single-decode pass. See the module documentation.
pub fn ladder_plan(info: &MediaInfo, master: &Path, opts: &LadderOptions, qc: &Profile) -> Plan {
    let rungs = rungs(info, opts);
    let d = info.duration_s.max(0.0);
    let mut graph = String::new();
    let mut dirs: Vec<String> = rungs.iter().map(|r| format!("hls/{}", r.name)).collect();
    let mut storyboard = None;
    let mut expected_frames = None;

    let video = info.video.as_ref();
    if let Some(v) = video {
        // Four branches: the rung cascade (which ends in the QC analysis), poster,
        // thumbnails, storyboard.
        let mut pre = String::from("[0:v:0]");
        if v.interlaced {
            pre.push_str("bwdif=mode=send_frame,");
        }
        let fps = output_fps(v);
        if v.variable_frame_rate || fps != v.fps {
            let _ = write!(pre, "fps={fps},");
        }
        expected_frames = Some((d * fps).round() as u64);
        let _ = write!(pre, "format=yuv420p,split=4[c0][vpo][vth][vsb];");
        graph.push_str(&pre);
        // Each rung is scaled from the one above it (largest first): only the top rung
        // reads full-size pictures.
        for (i, r) in rungs.iter().enumerate() {
            let (w, h) = r.size.unwrap_or((2, 2));
            let next = i + 1;
            let _ = write!(
                graph,
                "[c{i}]scale={w}:{h},setsar=1,split=2[v{i}][c{next}];"
            );
        }
        let shown = (v.display_width, v.display_height);
        let short = shown.0.min(shown.1);
        let (qw, qh) = fit(shown, 180);
        let _ = write!(
            graph,
            "[c{}]scale={qw}:{qh},blackdetect=d={}:pix_th=0.10,freezedetect=n=-60dB:d={},nullsink;",
            rungs.len(),
            qc.black_secs.0,
            qc.frozen_secs.0
        );
        let (cw, ch) = fit(shown, 720.min(short));
        let poster_at = (d * 0.1).min(10.0);
        let _ = write!(
            graph,
            "[vpo]select='isnan(prev_selected_t)*gte(t,{poster_at:.3})',scale={cw}:{ch},setsar=1[vposter];"
        );
        let (tw, th) = fit(shown, 180.min(short));
        let thumb_every = (d / 10.0).max(1.0);
        let _ = write!(
            graph,
            "[vth]fps=1/{thumb_every:.3},scale={tw}:{th},setsar=1[vthumb];"
        );
        let sb = Storyboard::for_duration(d);
        let _ = write!(
            graph,
            "[vsb]fps=1/{},scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:-1:-1,setsar=1,tile={}x{}[vstory]",
            sb.interval,
            sb.columns,
            sb.rows,
            w = sb.width,
            h = sb.height
        );
        storyboard = Some(sb);
        dirs.extend(["thumbs".into(), "storyboard".into()]);
    }
    let has_audio = info.audio.is_some();
    if has_audio {
        if !graph.is_empty() {
            graph.push(';');
        }
        let n = rungs.len() + 1;
        let _ = write!(graph, "[0:a:0]aresample=48000,asplit={n}");
        for i in 0..rungs.len() {
            let _ = write!(graph, "[a{i}]");
        }
        let _ = write!(
            graph,
            "[aqc];[aqc]silencedetect=n={}dB:d={},ebur128=peak=true:framelog=verbose,anullsink",
            qc.silence_db, qc.silence_secs.0
        );
    }

    let mut args = common_head(master);
    // `info` so that the analysis filters' findings reach the log; `-progress` for progress.
    args.extend(os([
        "-loglevel",
        "info",
        "-progress",
        "pipe:1",
        "-filter_complex",
    ]));
    args.push(graph.into());
    let audio_args = |args: &mut Vec<OsString>, label: &str| {
        args.extend(os([
            "-map".to_owned(),
            format!("[{label}]"),
            "-c:a".into(),
            "aac".into(),
            "-b:a".into(),
            format!("{}k", opts.audio_kbps),
            "-ac".into(),
            "2".into(),
        ]));
    };
    let gop = if opts.segment_secs.is_multiple_of(2) {
        opts.segment_secs / 2
    } else {
        opts.segment_secs
    };
    let proxy = proxy_rung(&rungs, opts.proxy_height);
    for (i, r) in rungs.iter().enumerate() {
        if video.is_some() {
            args.extend(os([
                "-map".to_owned(),
                format!("[v{i}]"),
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                opts.preset.clone(),
                "-profile:v".into(),
                "high".into(),
                "-level:v".into(),
                format!("{}.{}", r.level_idc / 10, r.level_idc % 10),
                "-b:v".into(),
                format!("{}k", r.video_kbps),
                "-maxrate".into(),
                format!("{}k", maxrate(r.video_kbps)),
                "-bufsize".into(),
                format!("{}k", r.video_kbps * 2),
                // Keyframes at the same instants in every rung: segments line up for switching.
                "-force_key_frames".into(),
                format!("expr:gte(t,n_forced*{gop})"),
                "-x264-params".into(),
                "scenecut=0".into(),
            ]));
        }
        if has_audio {
            audio_args(&mut args, &format!("a{i}"));
        }
        if i == proxy {
            hls_and_proxy_output(&mut args, &r.name, opts.segment_secs);
        } else {
            hls_output(&mut args, &r.name, opts.segment_secs);
        }
    }
    if video.is_some() {
        args.extend(os([
            "-map",
            "[vposter]",
            "-frames:v",
            "1",
            "-update",
            "1",
            "-q:v",
            "3",
            "poster.jpg",
            "-map",
            "[vthumb]",
            "-frames:v",
            "10",
            "-q:v",
            "5",
            "thumbs/thumb_%03d.jpg",
            "-map",
            "[vstory]",
            "-q:v",
            "5",
            "storyboard/sb_%03d.jpg",
        ]));
    }
    Plan {
        args,
        rungs,
        dirs,
        expected_frames,
        duration_s: d,
        storyboard,
        wall: wall_for(d, 10.0),
    }
}

/// The log file a run leaves in its working directory (the QC filters report there).
pub const LOG: &str = "ffmpeg.log";

/// Runs a plan in `workdir` (outputs below it, the log in [`LOG`]), reporting percent done.
pub async fn execute(
    tools: &Tools,
    plan: &Plan,
    workdir: &Path,
    mut progress: impl FnMut(u32) + Send + 'static,
) -> Result<(), crate::MediaError> {
    for dir in &plan.dirs {
        tokio::fs::create_dir_all(workdir.join(dir))
            .await
            .map_err(|e| crate::MediaError::Io {
                program: "mkdir".into(),
                source: e,
            })?;
    }
    let (frames, duration) = (plan.expected_frames, plan.duration_s);
    let hooks = crate::process::Hooks {
        stderr_log: Some(workdir.join(LOG)),
        stdout_lines: Some(Box::new(move |line| {
            if let Some(p) = percent(line, frames, duration) {
                progress(p);
            }
        })),
        ..Default::default()
    };
    let limits = crate::process::Limits {
        wall: plan.wall,
        stall: tools.stall,
        max_stdout: 1024 * 1024,
    };
    crate::process::run_with(&tools.ffmpeg, &plan.args, workdir, &limits, hooks)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(w: u32, h: u32) -> MediaInfo {
        crate::probe::sample(w, h)
    }

    fn names(r: &[Rung]) -> Vec<(&str, Option<(u32, u32)>)> {
        r.iter().map(|r| (r.name.as_str(), r.size)).collect()
    }

    #[test]
    fn rungs_never_exceed_the_source() {
        let opts = LadderOptions::default();
        assert_eq!(
            names(&rungs(&info(1280, 720), &opts)),
            [
                ("720p", Some((1280, 720))),
                ("480p", Some((854, 480))),
                ("360p", Some((640, 360)))
            ]
        );
        // Portrait phone video: the shorter side is the rung.
        assert_eq!(
            names(&rungs(&info(1080, 1920), &opts))[..2],
            [("1080p", Some((1080, 1920))), ("720p", Some((720, 1280)))]
        );
        // Smaller than every rung: one rung at its own size.
        assert_eq!(
            names(&rungs(&info(320, 240), &opts)),
            [("240p", Some((320, 240)))]
        );
        let mut audio = info(2, 2);
        audio.video = None;
        assert_eq!(names(&rungs(&audio, &opts)), [("audio", None)]);
        let r = &rungs(&info(1920, 1080), &opts)[0];
        assert_eq!(r.video_kbps, 5000);
        assert_eq!(r.bandwidth(128), 5_628_000);
        assert_eq!(r.codecs(true), "avc1.640028,mp4a.40.2");
        assert_eq!(rungs(&audio, &opts)[0].codecs(true), "mp4a.40.2");
    }

    #[test]
    fn levels_follow_size_and_rate() {
        assert_eq!(h264_level((1920, 1080), 25.0), 40);
        assert_eq!(h264_level((1080, 1920), 30.0), 40);
        assert_eq!(h264_level((1920, 1080), 50.0), 42);
        assert_eq!(h264_level((1280, 720), 25.0), 31);
        assert_eq!(h264_level((640, 360), 25.0), 30);
        assert_eq!(h264_level((2560, 1080), 25.0), 50, "wider than 4.2 allows");
    }

    fn joined(p: &Plan) -> String {
        p.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn one_decode_feeds_every_output() {
        let p = ladder_plan(
            &info(1920, 1080),
            Path::new("/w/master"),
            &LadderOptions::default(),
            &Profile::default(),
        );
        let cmd = joined(&p);
        assert_eq!(cmd.matches(" -i ").count(), 1, "{cmd}");
        assert!(cmd.contains("-format_whitelist"));
        assert!(cmd.contains("split=4[c0][vpo][vth][vsb]"), "{cmd}");
        // The cascade: each rung from the one above, the QC analysis from the smallest.
        assert!(
            cmd.contains("[c1]scale=1280:720,setsar=1,split=2[v1][c2];[c2]scale=854:480"),
            "{cmd}"
        );
        assert!(cmd.contains("[c4]scale=320:180,blackdetect"), "{cmd}");
        assert!(cmd.contains("asplit=5"), "{cmd}");
        assert_eq!(cmd.matches("-f hls").count(), 3);
        assert_eq!(
            cmd.matches("libx264").count(),
            4,
            "no encode of its own for the proxy"
        );
        // The 480p rung is written twice: as HLS and as the proxy MP4.
        assert!(
            cmd.contains(" -f tee [f=hls:hls_time=4:hls_playlist_type=event:hls_flags=independent_segments+temp_file:hls_segment_filename=hls/480p/seg_%05d.ts]hls/480p/index.m3u8|[f=mp4:movflags=+faststart]proxy.mp4"),
            "{cmd}"
        );
        assert_eq!(cmd.matches("expr:gte(t,n_forced*2)").count(), 4);
        for out in [
            "proxy.mp4",
            "poster.jpg",
            "thumbs/thumb_%03d.jpg",
            "storyboard/sb_%03d.jpg",
        ] {
            assert!(cmd.contains(out), "{out}");
        }
        assert!(cmd.contains("blackdetect=d=1:"));
        assert!(cmd.contains("ebur128=peak=true"));
        assert_eq!(p.expected_frames, Some(1500));
        assert_eq!(p.progress("frame=750"), Some(50));
        assert_eq!(p.progress("fps=25"), None);
        assert!(p.dirs.contains(&"hls/1080p".to_owned()));
    }

    #[test]
    fn the_proxy_shares_a_rung() {
        let opts = LadderOptions::default();
        let at = |w, h| proxy_rung(&rungs(&info(w, h), &opts), opts.proxy_height);
        assert_eq!(at(1920, 1080), 2, "480p");
        assert_eq!(at(1080, 1920), 2, "portrait: 480 wide");
        assert_eq!(at(320, 240), 0, "the only rung");
        let mut audio = info(2, 2);
        audio.video = None;
        assert_eq!(proxy_rung(&rungs(&audio, &opts), 480), 0);
        let tall = LadderOptions {
            heights: vec![1080, 720],
            ..LadderOptions::default()
        };
        assert_eq!(
            proxy_rung(&rungs(&info(1920, 1080), &tall), 480),
            1,
            "none low enough: the smallest"
        );
    }

    #[test]
    fn awkward_sources_are_normalised() {
        let mut v = info(1920, 1080);
        if let Some(x) = v.video.as_mut() {
            x.interlaced = true;
            x.variable_frame_rate = true;
            x.fps = 29.7;
        }
        let cmd = joined(&ladder_plan(
            &v,
            Path::new("m"),
            &LadderOptions::default(),
            &Profile::default(),
        ));
        assert!(
            cmd.contains("[0:v:0]bwdif=mode=send_frame,fps=30,format=yuv420p,split="),
            "{cmd}"
        );

        // Variable at a whole nominal rate: still made constant.
        let mut phone = info(1920, 1080);
        if let Some(x) = phone.video.as_mut() {
            x.variable_frame_rate = true;
            x.fps = 30.0;
        }
        let cmd = joined(&ladder_plan(
            &phone,
            Path::new("m"),
            &LadderOptions::default(),
            &Profile::default(),
        ));
        assert!(cmd.contains("[0:v:0]fps=30,format=yuv420p"), "{cmd}");

        let mut silent_film = info(640, 360);
        silent_film.audio = None;
        let cmd = joined(&ladder_plan(
            &silent_film,
            Path::new("m"),
            &LadderOptions::default(),
            &Profile::default(),
        ));
        assert!(!cmd.contains("asplit") && !cmd.contains("-c:a"), "{cmd}");

        let mut radio = info(2, 2);
        radio.video = None;
        let p = ladder_plan(
            &radio,
            Path::new("m"),
            &LadderOptions::default(),
            &Profile::default(),
        );
        let cmd = joined(&p);
        assert!(
            !cmd.contains("libx264") && cmd.contains("hls/audio/index.m3u8"),
            "{cmd}"
        );
        assert_eq!(p.progress("out_time_us=30000000"), Some(50));
    }

    #[test]
    fn only_browser_ready_masters_take_the_fast_path() {
        assert!(can_remux(&info(1920, 1080)));
        let mut rotated = info(1920, 1080);
        if let Some(v) = rotated.video.as_mut() {
            v.rotation = 90;
        }
        assert!(!can_remux(&rotated));
        let mut mp3 = info(1920, 1080);
        if let Some(a) = mp3.audio.as_mut() {
            a.codec = "mp3".into();
        }
        assert!(!can_remux(&mp3));
        let p = remux_plan(&info(1920, 1080), Path::new("m"), &LadderOptions::default());
        let cmd = joined(&p);
        assert!(
            cmd.contains("-c copy") && cmd.contains("hls/fast/index.m3u8"),
            "{cmd}"
        );
    }
}

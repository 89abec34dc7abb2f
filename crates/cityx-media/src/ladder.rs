//! The ffmpeg commands of the pipeline, planned from what the probe found:
//!
//! - [`remux_plan`]: the fast path. H.264 (with AAC or no audio) is copied into a first HLS
//!   rendition, so that an item plays seconds after its upload completes.
//! - [`ladder_plan`]: one process, one decode. The decoded picture is `split` into every
//!   rung of the ABR ladder (aligned keyframes, fixed-length segments), the proxy MP4, the
//!   poster, thumbnails, the storyboard sprite and the QC analysis (black, frozen, silence,
//!   EBU R128). Deinterlacing, 10-bit to 8-bit, rotation (ffmpeg's autorotate), anamorphic
//!   pixels and variable frame rates are handled on the way in.
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
    /// The proxy MP4's shorter side, at most.
    pub proxy_height: u32,
}

impl Default for LadderOptions {
    fn default() -> Self {
        LadderOptions {
            heights: vec![1080, 720, 480, 360],
            preset: "veryfast".into(),
            segment_secs: 4,
            audio_kbps: 128,
            proxy_height: 540,
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
}

impl Rung {
    /// Peak bits per second for the master playlist (video at its maxrate plus audio).
    pub fn bandwidth(&self, audio_kbps: u32) -> u64 {
        (u64::from(maxrate(self.video_kbps)) + u64::from(audio_kbps)) * 1000
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

fn hls_output(args: &mut Vec<OsString>, name: &str, segment_secs: u32) {
    args.extend(os([
        "-f".to_owned(),
        "hls".into(),
        "-hls_time".into(),
        segment_secs.to_string(),
        "-hls_playlist_type".into(),
        "event".into(),
        "-hls_flags".into(),
        "independent_segments+temp_file".into(),
        "-hls_segment_filename".into(),
        format!("hls/{name}/seg_%05d.ts"),
        format!("hls/{name}/index.m3u8"),
    ]));
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
        // Video branches: rungs, proxy, QC, poster, thumbnails, storyboard.
        let n = rungs.len() + 5;
        let mut pre = String::from("[0:v:0]");
        if v.interlaced {
            pre.push_str("bwdif=mode=send_frame,");
        }
        let fps = if v.variable_frame_rate || v.fps > 60.0 || v.fps <= 0.0 {
            let fixed = v.fps.round().clamp(1.0, 60.0);
            let _ = write!(pre, "fps={fixed},");
            fixed
        } else {
            v.fps
        };
        expected_frames = Some((d * fps).round() as u64);
        let _ = write!(pre, "format=yuv420p,split={n}");
        graph.push_str(&pre);
        for i in 0..rungs.len() {
            let _ = write!(graph, "[vs{i}]");
        }
        graph.push_str("[vpx][vqc][vpo][vth][vsb];");
        for (i, r) in rungs.iter().enumerate() {
            let (w, h) = r.size.unwrap_or((2, 2));
            let _ = write!(graph, "[vs{i}]scale={w}:{h},setsar=1[v{i}];");
        }
        let shown = (v.display_width, v.display_height);
        let short = shown.0.min(shown.1);
        let (pw, ph) = fit(shown, opts.proxy_height.min(short));
        let _ = write!(graph, "[vpx]scale={pw}:{ph},setsar=1[vproxy];");
        let (qw, qh) = fit(shown, 180);
        let _ = write!(
            graph,
            "[vqc]scale={qw}:{qh},blackdetect=d={}:pix_th=0.10,freezedetect=n=-60dB:d={},nullsink;",
            qc.black_secs.0, qc.frozen_secs.0
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
        let n = rungs.len() + 2;
        let _ = write!(graph, "[0:a:0]aresample=48000,asplit={n}");
        for i in 0..rungs.len() {
            let _ = write!(graph, "[a{i}]");
        }
        let _ = write!(
            graph,
            "[aproxy][aqc];[aqc]silencedetect=n={}dB:d={},ebur128=peak=true:framelog=verbose,anullsink",
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
        hls_output(&mut args, &r.name, opts.segment_secs);
    }
    if video.is_some() {
        args.extend(os([
            "-map",
            "[vproxy]",
            "-c:v",
            "libx264",
            "-preset",
            &opts.preset,
            "-crf",
            "23",
        ]));
    }
    if has_audio {
        audio_args(&mut args, "aproxy");
    }
    args.extend(os(["-movflags", "+faststart", "proxy.mp4"]));
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
        assert!(
            cmd.contains("split=9[vs0][vs1][vs2][vs3][vpx][vqc][vpo][vth][vsb]"),
            "{cmd}"
        );
        assert!(cmd.contains("asplit=6"), "{cmd}");
        assert_eq!(cmd.matches("-f hls").count(), 4);
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

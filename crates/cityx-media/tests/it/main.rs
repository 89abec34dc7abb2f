//! The hardened runner and the probe, with real ffmpeg on files made at test time, and the
//! evil corpus: files that try to make ffmpeg read other files or eat the machine.

use cityx_media::probe::probe;
use cityx_media::process::{Limits, run};
use cityx_media::{MediaError, Tools};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

/// A 640x360 H.264/AAC clip of `seconds` (test pattern and tone).
fn news_clip(out: &Path, seconds: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=640x360:rate=25:duration={seconds}"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=duration={seconds}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-shortest",
        out.to_str().expect("path"),
    ]);
}

fn tools() -> Tools {
    Tools {
        probe_limit: Duration::from_secs(30),
        ..Tools::default()
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[tokio::test]
async fn probes_real_clips() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let clip = d.join("news.mp4");
    news_clip(&clip, "2");
    let m = probe(&tools(), &clip, d).await.expect("probe");
    let v = m.video.expect("video");
    assert_eq!(
        (v.codec.as_str(), v.width, v.height, v.fps),
        ("h264", 640, 360, 25.0)
    );
    assert_eq!(m.audio.map(|a| a.codec), Some("aac".to_owned()));

    // A phone video: portrait by its display matrix.
    let raw = d.join("raw.mp4");
    let phone = d.join("phone.mov");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=30:duration=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        raw.to_str().expect("p"),
    ]);
    ffmpeg(&[
        "-i",
        raw.to_str().expect("p"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        phone.to_str().expect("p"),
    ]);
    let v = probe(&tools(), &phone, d)
        .await
        .expect("probe")
        .video
        .expect("video");
    assert_eq!((v.display_width, v.display_height), (180, 320));

    // Video without sound, sound without video.
    let silent = d.join("silent.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:duration=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        silent.to_str().expect("p"),
    ]);
    let m = probe(&tools(), &silent, d).await.expect("probe");
    assert!(m.video.is_some() && m.audio.is_none());
    let sound = d.join("sound.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:a",
        "aac",
        sound.to_str().expect("p"),
    ]);
    let m = probe(&tools(), &sound, d).await.expect("probe");
    assert!(m.video.is_none() && m.audio.is_some());
}

/// Writes the evil corpus into `d`; returns (file, what it tries).
fn evil_corpus(d: &Path) -> Vec<(PathBuf, &'static str)> {
    let secret = d.join("outside").join("secret.ts");
    std::fs::create_dir_all(secret.parent().expect("dir")).expect("dir");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:duration=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-f",
        "mpegts",
        secret.to_str().expect("p"),
    ]);
    let mut out = Vec::new();
    let mut write = |name: &str, body: &[u8], what: &'static str| {
        let p = d.join(name);
        std::fs::write(&p, body).expect("write");
        out.push((p, what));
    };
    write(
        "playlist.mp4",
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:{}\n#EXTINF:10,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n", secret.display()).as_bytes(),
        "an HLS playlist renamed .mp4 that points at other files",
    );
    write(
        "self.mp4",
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nself.mp4\n#EXT-X-ENDLIST\n",
        "a playlist that includes itself",
    );
    write(
        "concat.mp4",
        format!(
            "ffconcat version 1.0\nfile '{}'\nfile '/etc/passwd'\n",
            secret.display()
        )
        .as_bytes(),
        "an ffconcat list renamed .mp4",
    );
    write("empty.mp4", b"", "an empty file");
    write(
        "notes.mp4",
        "这不是视频，只是一段文字。\n".repeat(100).as_bytes(),
        "a text file",
    );
    let good = d.join("good.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        good.to_str().expect("p"),
    ]);
    let bytes = std::fs::read(&good).expect("read");
    write(
        "truncated.mp4",
        &bytes[..bytes.len().min(1500)],
        "a truncated file",
    );
    // A PNG header claiming 30000 × 30000 pixels (a pixel flood), renamed .mp4.
    let mut png = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    png.extend_from_slice(&30000u32.to_be_bytes());
    png.extend_from_slice(&30000u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    write("flood.mp4", &png, "a pixel-flood image renamed .mp4");
    out
}

#[tokio::test]
async fn the_evil_corpus_is_refused_quickly_with_a_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let job = dir.path().join("job");
    std::fs::create_dir_all(&job).expect("dir");
    for (file, what) in evil_corpus(dir.path()) {
        let started = Instant::now();
        let err = probe(&tools(), &file, &job).await.expect_err(what);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: took {:?}",
            started.elapsed()
        );
        match &err {
            MediaError::NotMedia { reason } => assert!(!reason.is_empty(), "{what}"),
            other => panic!("{what}: expected NotMedia, got {other:?}"),
        }
        assert!(!err.is_transient(), "{what}: a bad file never gets better");
    }
}

#[tokio::test]
async fn runs_are_bounded_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let limits = Limits {
        wall: Duration::from_millis(500),
        stall: Duration::from_secs(10),
        max_stdout: 1000,
    };

    // Wall clock: the whole process group dies, the grandchild included.
    let started = Instant::now();
    let err = run(
        Path::new("sh"),
        &os(&["-c", "sleep 30 & echo $! > child.pid; wait"]),
        d,
        &limits,
    )
    .await
    .expect_err("timeout");
    assert!(matches!(err, MediaError::TimedOut { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = std::fs::read_to_string(d.join("child.pid"))
        .expect("pid")
        .trim()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "the grandchild {pid} still runs: {state}"
    );

    // Stall: silence for too long.
    let quiet = Limits {
        wall: Duration::from_secs(30),
        stall: Duration::from_millis(400),
        max_stdout: 1000,
    };
    let err = run(
        Path::new("sh"),
        &os(&["-c", "echo started >&2; sleep 30"]),
        d,
        &quiet,
    )
    .await
    .expect_err("stall");
    assert!(matches!(err, MediaError::Stalled { .. }), "{err:?}");

    // Failures carry the tool's own words; output is capped; a missing tool says what to do.
    let err = run(
        Path::new("sh"),
        &os(&["-c", "echo 'boom: bad input' >&2; exit 3"]),
        d,
        &limits,
    )
    .await
    .expect_err("fail");
    assert!(
        matches!(&err, MediaError::Failed { stderr, .. } if stderr.contains("boom: bad input")),
        "{err:?}"
    );
    let err = run(
        Path::new("sh"),
        &os(&["-c", "head -c 100000 /dev/zero"]),
        d,
        &limits,
    )
    .await
    .expect_err("too much");
    assert!(matches!(err, MediaError::OutputTooLarge { .. }), "{err:?}");
    let err = run(Path::new("/nonexistent/ffmpeg"), &[], d, &limits)
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("apt install ffmpeg"), "{err}");
    assert!(err.is_transient());

    // The working directory is the job's: relative paths land there.
    run(
        Path::new("sh"),
        &os(&["-c", "echo hi > here.txt"]),
        d,
        &limits,
    )
    .await
    .expect("run");
    assert!(d.join("here.txt").exists());
    // No stdin: a tool that waits for input gets end-of-file at once.
    let out = run(Path::new("sh"), &os(&["-c", "cat; echo done"]), d, &limits)
        .await
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done");

    // Standard input and output handed over (a stream through a tool): what is written comes
    // back, and the run ends when the input does.
    let (in_tx, in_rx) = tokio::sync::oneshot::channel();
    let (out_tx, out_rx) = tokio::sync::oneshot::channel();
    let hooks = cityx_media::process::Hooks {
        stdin: Some(Box::new(move |s| {
            let _ = in_tx.send(s);
        })),
        stdout: Some(Box::new(move |s| {
            let _ = out_tx.send(s);
        })),
        ..Default::default()
    };
    let piped = Limits {
        max_stdout: 0,
        ..limits
    };
    let dir_path = d.to_path_buf();
    let through = tokio::spawn(async move {
        let args = os(&["-c", "tr a-z A-Z"]);
        cityx_media::process::run_with(Path::new("sh"), &args, &dir_path, &piped, hooks).await
    });
    let (mut stdin, mut stdout) = (in_rx.await.expect("stdin"), out_rx.await.expect("stdout"));
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stdin.write_all(b"live stream").await.expect("write");
    drop(stdin);
    let mut back = String::new();
    stdout.read_to_string(&mut back).await.expect("read");
    assert_eq!(back, "LIVE STREAM");
    let out = through.await.expect("join").expect("run");
    assert!(
        out.stdout.is_empty(),
        "what was handed over is not also kept"
    );
}

/// A news clip with known faults: black 4–6 s (which also counts as frozen), a frozen
/// picture 14–16 s and silence 10–12 s, in `size` at 25 fps, 20 s long.
fn faulty_clip(out: &Path, size: &str) {
    let src = |d: &str| format!("testsrc2=size={size}:rate=25:duration={d}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src("14"),
        "-f",
        "lavfi",
        "-i",
        &src("0.04"),
        "-f",
        "lavfi",
        "-i",
        &src("4"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=20:sample_rate=48000",
        "-filter_complex",
        "[0:v]drawbox=enable='between(t,4,6)':x=0:y=0:w=iw:h=ih:color=black:t=fill[p1];\
         [1:v]loop=loop=49:size=1:start=0,setpts=N/25/TB[p2];[p1][p2][2:v]concat=n=3:v=1:a=0[v];\
         [3:a]volume=enable='between(t,10,12)':volume=0,aformat=channel_layouts=stereo[a]",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        out.to_str().expect("p"),
    ]);
}

fn near(span: &cityx_media::qc::Span, start: f64, end: f64) -> bool {
    (span.start - start).abs() < 0.3 && (span.end - end).abs() < 0.3
}

#[tokio::test]
async fn one_pass_makes_the_ladder_the_images_and_the_qc_report() {
    use cityx_media::hls::parse_media_playlist;
    use cityx_media::ladder::{LOG, LadderOptions, execute, ladder_plan};
    use cityx_media::qc::{Profile, Verdict, evaluate, parse_log};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let master = d.join("master.mp4");
    faulty_clip(&master, "854x480");
    let info = probe(&tools(), &master, d).await.expect("probe");
    let plan = ladder_plan(
        &info,
        &master,
        &LadderOptions::default(),
        &Profile::default(),
    );
    let out = d.join("out");
    std::fs::create_dir_all(&out).expect("dir");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    execute(&tools(), &plan, &out, move |p| {
        sink.lock().expect("lock").push(p)
    })
    .await
    .expect("transcode");

    // Renditions: 480p and 360p (never above the source), 5 segments of 4 s each.
    let names: Vec<&str> = plan.rungs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["480p", "360p"]);
    for rung in &names {
        let text =
            std::fs::read_to_string(out.join(format!("hls/{rung}/index.m3u8"))).expect("playlist");
        let p = parse_media_playlist(&text);
        assert!(p.ended, "{text}");
        assert_eq!(p.segments.len(), 5, "{text}");
        assert!(
            p.segments.iter().all(|(_, d)| (d - 4.0).abs() < 0.05),
            "aligned 4 s segments: {text}"
        );
        for (seg, _) in &p.segments {
            assert!(
                out.join(format!("hls/{rung}/{seg}"))
                    .metadata()
                    .expect("segment")
                    .len()
                    > 0
            );
        }
    }
    let proxy = probe(&tools(), &out.join("proxy.mp4"), d)
        .await
        .expect("proxy");
    assert_eq!(
        proxy
            .video
            .as_ref()
            .map(|v| (v.codec.as_str(), v.display_height)),
        Some(("h264", 480))
    );
    assert!(
        (proxy.duration_s - 20.0).abs() < 0.2,
        "{}",
        proxy.duration_s
    );
    // The proxy is the 480p rung's encode written again: with its sound, index up front.
    assert!(proxy.audio.is_some(), "the proxy has sound");
    let head = std::fs::read(out.join("proxy.mp4")).expect("proxy");
    let at = |tag: &[u8]| head.windows(4).position(|w| w == tag);
    assert!(at(b"moov") < at(b"mdat"), "faststart: moov before mdat");
    // Each rung signals the level its CODECS names.
    for rung in &plan.rungs {
        let level = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["stream=level", "-of", "csv=p=0"])
            .arg(out.join(format!("hls/{}/seg_00000.ts", rung.name)))
            .output()
            .expect("ffprobe");
        assert_eq!(
            // (MPEG-TS: once for the program, once for the stream.)
            String::from_utf8_lossy(&level.stdout)
                .lines()
                .next()
                .unwrap_or(""),
            rung.level_idc.to_string(),
            "{}",
            rung.codecs(true)
        );
    }
    assert!(out.join("poster.jpg").metadata().expect("poster").len() > 1000);
    let thumbs = std::fs::read_dir(out.join("thumbs"))
        .expect("thumbs")
        .count();
    assert!((9..=10).contains(&thumbs), "{thumbs} thumbnails");
    assert!(out.join("storyboard/sb_001.jpg").exists());

    // Progress climbed and stayed below 100 (the job says when it is done).
    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]) && seen.last().copied().unwrap_or(0) >= 90,
        "{seen:?}"
    );

    // The QC findings land at the right time codes.
    let log = std::fs::read_to_string(out.join(LOG)).expect("log");
    let m = parse_log(&log, info.duration_s);
    assert!(m.black.iter().any(|s| near(s, 4.0, 6.0)), "{:?}", m.black);
    assert!(
        m.frozen.iter().any(|s| near(s, 14.0, 16.0)),
        "{:?}",
        m.frozen
    );
    assert!(
        m.silent.iter().any(|s| near(s, 10.0, 12.0)),
        "{:?}",
        m.silent
    );
    let lufs = m.loudness_lufs.expect("loudness");
    assert!((-30.0..-10.0).contains(&lufs), "{lufs}");
    let report = evaluate(&info, &m, &Profile::default());
    assert_eq!(report.verdict, Verdict::Warn, "{report:?}");
    let black = report
        .findings
        .iter()
        .find(|f| f.check == "black")
        .expect("black finding");
    assert!((black.start.unwrap_or(0.0) - 4.0).abs() < 0.3);
    assert!(report.findings.iter().any(|f| f.check == "resolution"));
}

#[tokio::test]
async fn awkward_sources_come_out_playable() {
    use cityx_media::ladder::{LadderOptions, can_remux, execute, ladder_plan, remux_plan};
    use cityx_media::qc::Profile;

    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let p = |n: &str| d.join(n).to_str().expect("p").to_owned();
    // Interlaced 10-bit, a portrait phone clip (rotated by its display matrix), variable frame
    // rate, sound only, and a clip shorter than one segment.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=3",
        "-vf",
        "tinterlace=interleave_top,setfield=tff",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-flags",
        "+ildct+ilme",
        &p("tv.mkv"),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &p("raw.mp4"),
    ]);
    ffmpeg(&[
        "-i",
        &p("raw.mp4"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        &p("phone.mp4"),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=3",
        "-vf",
        "select='lt(t\\,1)+not(mod(n\\,3))'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &p("vfr.mp4"),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=3",
        "-c:a",
        "aac",
        &p("radio.m4a"),
    ]);
    news_clip(Path::new(&p("blink.mp4")), "0.2");

    for (name, first_rung, size) in [
        ("tv.mkv", "360p", Some((640, 360))),
        ("phone.mp4", "360p", Some((360, 640))),
        ("vfr.mp4", "360p", Some((640, 360))),
        ("radio.m4a", "audio", None),
        ("blink.mp4", "360p", Some((640, 360))),
    ] {
        let master = d.join(name);
        let info = probe(&tools(), &master, d).await.expect(name);
        let plan = ladder_plan(
            &info,
            &master,
            &LadderOptions::default(),
            &Profile::default(),
        );
        assert_eq!(plan.rungs[0].name, first_rung, "{name}");
        assert_eq!(plan.rungs[0].size, size, "{name}");
        let out = d.join(format!("out-{name}"));
        std::fs::create_dir_all(&out).expect("dir");
        execute(&tools(), &plan, &out, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let playlist = out.join(format!("hls/{first_rung}/index.m3u8"));
        let text = std::fs::read_to_string(&playlist).expect(name);
        let parsed = cityx_media::hls::parse_media_playlist(&text);
        assert!(
            parsed.ended && !parsed.segments.is_empty(),
            "{name}: {text}"
        );
        let seg = out.join(format!("hls/{first_rung}/{}", parsed.segments[0].0));
        let m = probe(&tools(), &seg, d).await.expect("segment");
        if let Some((w, h)) = size {
            let v = m.video.expect("video");
            assert_eq!(
                (
                    v.codec.as_str(),
                    v.display_width,
                    v.display_height,
                    v.pix_fmt.as_str(),
                    v.interlaced
                ),
                ("h264", w, h, "yuv420p", false),
                "{name}"
            );
        } else {
            assert!(m.video.is_none() && m.audio.is_some(), "{name}");
        }
        // Only the fast path's kind of master is copied as it is.
        assert_eq!(
            can_remux(&info),
            matches!(name, "blink.mp4" | "vfr.mp4"),
            "{name}"
        );
        if name == "vfr.mp4" {
            assert!(info.video.as_ref().is_some_and(|v| v.variable_frame_rate));
        }
    }

    // The fast path: a copy of the streams, cut into segments.
    let master = d.join("blink.mp4");
    let info = probe(&tools(), &master, d).await.expect("probe");
    let plan = remux_plan(&info, &master, &LadderOptions::default());
    let out = d.join("fast");
    std::fs::create_dir_all(&out).expect("dir");
    execute(&tools(), &plan, &out, |_| {}).await.expect("remux");
    let text = std::fs::read_to_string(out.join("hls/fast/index.m3u8")).expect("playlist");
    assert_eq!(
        cityx_media::hls::parse_media_playlist(&text).segments.len(),
        1,
        "{text}"
    );
}

/// FLV's audio and video tags of a file: `(track, timestamp, data)`.
fn flv_tags(bytes: &[u8]) -> Vec<(cityx_media::ts::Track, u32, Vec<u8>)> {
    use cityx_media::ts::Track;
    assert_eq!(&bytes[..3], b"FLV");
    let mut at = 9 + 4;
    let mut tags = Vec::new();
    while at + 11 <= bytes.len() {
        let kind = bytes[at] & 0x1f;
        let size = (usize::from(bytes[at + 1]) << 16)
            | (usize::from(bytes[at + 2]) << 8)
            | usize::from(bytes[at + 3]);
        let ts = (u32::from(bytes[at + 7]) << 24)
            | (u32::from(bytes[at + 4]) << 16)
            | (u32::from(bytes[at + 5]) << 8)
            | u32::from(bytes[at + 6]);
        let data = bytes[at + 11..at + 11 + size].to_vec();
        match kind {
            8 => tags.push((Track::Audio, ts, data)),
            9 => tags.push((Track::Video, ts, data)),
            _ => {}
        }
        at += 11 + size + 4;
    }
    tags
}

/// The in-process packager's segments are what ffmpeg reads without a complaint: H.264 (with
/// B-frames) and AAC, about two seconds each, every frame there, and joined byte for byte
/// they decode as one stream.
#[test]
fn segments_made_in_process_play_in_ffmpeg() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let flv = d.join("in.flv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=7",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=7",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "2",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-shortest",
        flv.to_str().expect("path"),
    ]);
    let mut s = cityx_media::ts::Segmenter::new(2.0);
    let mut segments = Vec::new();
    for (track, ts, data) in flv_tags(&std::fs::read(&flv).expect("flv")) {
        segments.extend(s.push(track, ts, &data).expect("H.264 and AAC"));
    }
    segments.extend(s.finish());
    assert_eq!(s.skipped, 0);
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    assert_eq!(durations.len(), 4, "{durations:?}");
    assert!(
        durations[..3].iter().all(|d| (*d - 2.0).abs() < 0.05),
        "{durations:?}"
    );
    let mut joined = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let path = d.join(format!("{i}.ts"));
        std::fs::write(&path, &seg.bytes).expect("write");
        joined.extend_from_slice(&seg.bytes);
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .expect("ffprobe");
        // Listed under the program and again on their own.
        let mut codecs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        codecs.sort();
        codecs.dedup();
        assert_eq!(codecs, ["aac", "h264"], "segment {i}");
    }
    let all = d.join("all.ts");
    std::fs::write(&all, &joined).expect("write");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(&all)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "decodes cleanly");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&all)
        .output()
        .expect("ffprobe");
    let frames = String::from_utf8_lossy(&out.stdout);
    assert_eq!(frames.lines().next(), Some("175"), "every frame");

    // As one continuous stream (an SRT push), joined from the second keyframe on as a
    // receiver that tunes in late would: both tracks, every frame from there.
    let mut stream = cityx_media::ts::Stream::default();
    let mut chunks = Vec::new();
    for (track, ts, data) in flv_tags(&std::fs::read(&flv).expect("flv")) {
        chunks.push(stream.push(track, ts, &data).expect("H.264 and AAC"));
    }
    let tables: Vec<usize> = (0..chunks.len())
        .filter(|i| chunks[*i].get(..3) == Some(&[0x47, 0x40, 0]))
        .collect();
    assert_eq!(tables.len(), 7, "tables before each keyframe");
    let late = tables[1];
    let streamed = d.join("stream.ts");
    std::fs::write(&streamed, chunks[late..].concat()).expect("write");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_name,nb_read_frames", "-of", "csv=p=0"])
        .arg(&streamed)
        .output()
        .expect("ffprobe");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("h264,150"), "{listed}");
    assert!(listed.contains("aac,"), "{listed}");
}

/// The meter's level, from a sample of a real AAC stream's frames: a sine at ffmpeg's
/// default amplitude (1/8, so -21 dBFS RMS) about once a second, and silence as silence.
#[test]
fn the_level_of_real_aac_is_read_from_a_sample_of_frames() {
    use cityx_media::level::{AacLevel, Sampler};
    use cityx_media::ts::Track;
    let dir = tempfile::tempdir().expect("dir");
    for (source, expect) in [
        ("sine=frequency=440:duration=6", -21.07),
        ("anullsrc=r=48000:cl=stereo:d=6", -120.0),
    ] {
        let flv = dir.path().join("a.flv");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            source,
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            flv.to_str().expect("path"),
        ]);
        let mut meter = None;
        let mut readings = Vec::new();
        for (track, _, data) in flv_tags(&std::fs::read(&flv).expect("flv")) {
            assert_eq!(track, Track::Audio);
            match data.get(1) {
                Some(0) => {
                    meter = AacLevel::new(&data[2..]).map(|m| (m, Sampler::new(&data[2..])));
                }
                _ => {
                    let (level, sampler) = meter.as_mut().expect("config first");
                    if let Some((prime, frame)) = sampler.take(data[2..].to_vec()) {
                        readings.extend(level.read(&prime, &frame));
                    }
                }
            }
        }
        assert!((5..=7).contains(&readings.len()), "{source}: {readings:?}");
        // The last frame is the encoder's padded tail.
        for r in &readings[..readings.len() - 1] {
            assert!((r - expect).abs() < 1.5, "{source}: {readings:?}");
        }
    }
}

/// The inspector looks at each keyframe when it comes, even from an encoder with B-frames
/// (its decoder is told nothing is reordered): a luma reading before the next keyframe is
/// sent, and a thumbnail while the stream runs.
#[tokio::test]
async fn the_inspector_sees_each_keyframe_as_it_comes() {
    use cityx_media::process::{Hooks, run_with};
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_owned();
    let flv = d.join("in.flv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "3",
        "-g",
        "25",
        flv.to_str().expect("path"),
    ]);
    let mut s = cityx_media::ts::Segmenter::new(2.0);
    let mut keyframes = Vec::new();
    for (track, ts, data) in flv_tags(&std::fs::read(&flv).expect("flv")) {
        let _ = s.push(track, ts, &data);
        keyframes.extend(s.keyframe(ts, &data));
    }
    assert_eq!(keyframes.len(), 4);
    let lumas = Arc::new(Mutex::new(Vec::new()));
    let seen = lumas.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let hooks = Hooks {
        stdout_lines: Some(Box::new(|_| {})),
        stderr_lines: Some(Box::new(move |line| {
            if let Some(y) = cityx_media::live::read_luma(line) {
                seen.lock().expect("lumas").push(y);
            }
        })),
        stdin: Some(Box::new(move |stdin| {
            let _ = tx.send(stdin);
        })),
        ..Default::default()
    };
    let limits = Limits {
        wall: Duration::from_secs(60),
        stall: Duration::from_secs(60),
        max_stdout: 0,
    };
    let args = cityx_media::live::inspect_args();
    let workdir = d.clone();
    let run = tokio::spawn(async move {
        run_with(Path::new("ffmpeg"), &args, &workdir, &limits, hooks).await
    });
    let mut stdin = rx.await.expect("stdin");
    let thumb = d.join(cityx_media::live::THUMBNAIL);
    for (n, k) in keyframes.iter().enumerate() {
        stdin.write_all(&k.0).await.expect("write");
        stdin.flush().await.expect("flush");
        let deadline = Instant::now() + Duration::from_secs(10);
        while lumas.lock().expect("lumas").len() <= n {
            assert!(
                Instant::now() < deadline,
                "keyframe {n} was not looked at alone"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // ffmpeg writes the picture when it next turns (usually with the next keyframe).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !thumb.is_file() {
        assert!(
            Instant::now() < deadline,
            "no thumbnail while the stream runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stdin);
    run.await
        .expect("task")
        .expect("the inspector ends cleanly");
    let jpeg = std::fs::read(&thumb).expect("thumbnail");
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    let lumas = lumas.lock().expect("lumas").clone();
    assert!(
        lumas.iter().all(|y| (16.0..=235.0).contains(y)),
        "{lumas:?}"
    );
}

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
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-shortest",
        clip.to_str().expect("path"),
    ]);
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
}

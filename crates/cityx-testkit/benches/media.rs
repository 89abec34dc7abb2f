//! Media pipeline benchmark: each cityx figure beside a bare ffmpeg reference run in the same
//! process on the same machine, printed as ratios (the machine is shared; ratios hold).
//!
//!     cargo bench -p cityx-testkit --bench media             # 60 s fast-path clip, 30 s encodes
//!     CITYX_BENCH_SECONDS=10 cargo bench -p cityx-testkit --bench media
//!
//! 1. Fast path: upload complete → first fetchable segment (playlist and segment over HTTP)
//!    for a 1080p H.264/AAC clip, vs a bare `ffmpeg -c copy -f hls` listing its first segment.
//! 2. Encode path (MPEG-2 source): upload complete → first fetchable segment, vs the identical
//!    ffmpeg command listing a first segment in every rung.
//! 3. The transcode job's wall time vs the identical bare command; queue-to-start.
//! 4. The single-decode pass (ladder, proxy, images, QC) vs one ffmpeg process per output
//!    (each rung, the proxy, the images, the QC analysis), run side by side as most
//!    platforms do; on the MPEG-2 source and on an H.264 one (the usual station master).
//!
//! Baselines printed in the same run: x264 speed (bare frames per second).
//!
//! Ends with a table of the ratios, and of the two figures whose goals are in milliseconds
//! against those goals.

#[path = "common/ratios.rs"]
mod ratios;

use cityx_media::ladder::{LadderOptions, execute, ladder_plan, remux_plan};
use cityx_media::qc::Profile;
use cityx_media::{Tools, probe::probe};
use cityx_testkit::{TestApp, World};
use ratios::{Goal, Ratios};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

fn source(dir: &Path, name: &str, seconds: u32, codecs: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let video = format!("testsrc2=size=1920x1080:rate=25:duration={seconds}");
    let audio = format!("sine=frequency=440:duration={seconds}:sample_rate=48000");
    let mut args = vec!["-f", "lavfi", "-i", &video, "-f", "lavfi", "-i", &audio];
    args.extend_from_slice(codecs);
    args.extend_from_slice(&["-ac", "2", "-shortest", out.to_str().expect("path")]);
    ffmpeg(&args);
    out
}

fn have_segments(playlists: &[PathBuf]) -> bool {
    playlists.iter().all(|p| {
        std::fs::read_to_string(p)
            .map(|t| {
                !cityx_media::hls::parse_media_playlist(&t)
                    .segments
                    .is_empty()
            })
            .unwrap_or(false)
    })
}

/// Runs a plan bare (no cityx around it): (time to a first segment in every rung, polled
/// every 5 ms; total time).
async fn bare(plan: &cityx_media::ladder::Plan, out: &Path) -> (Duration, Duration) {
    std::fs::create_dir_all(out).expect("dir");
    let playlists: Vec<PathBuf> = plan
        .rungs
        .iter()
        .map(|r| out.join(format!("hls/{}/index.m3u8", r.name)))
        .collect();
    let started = Instant::now();
    let tools = Tools::default();
    let run = execute(&tools, plan, out, |_| {});
    tokio::pin!(run);
    let mut first = None;
    loop {
        tokio::select! {
            r = &mut run => {
                r.expect("bare ffmpeg");
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(5)), if first.is_none() => {
                if have_segments(&playlists) {
                    first = Some(started.elapsed());
                }
            }
        }
    }
    let total = started.elapsed();
    (first.unwrap_or(total), total)
}

struct Client<'a> {
    app: &'a TestApp,
    token: String,
}

impl Client<'_> {
    async fn asset(&self, id: &str) -> Value {
        self.app
            .get(&format!("/api/v1/assets/{id}"), &self.token)
            .await
            .1
    }

    async fn fetch(&self, id: &str, path: &str) -> Vec<u8> {
        let res = self
            .app
            .http
            .get(self.app.url(&format!("/api/v1/assets/{id}/files/{path}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("fetch");
        assert_eq!(res.status(), 200, "{path}");
        res.bytes().await.expect("body").to_vec()
    }

    /// Uploads in one PATCH; returns the asset id and the instant the upload completed.
    async fn upload(&self, file: &Path) -> (String, Instant) {
        let data = std::fs::read(file).expect("read");
        let res = self
            .app
            .http
            .post(self.app.url("/api/v1/uploads"))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", data.len().to_string())
            .header("upload-metadata", "filename YmVuY2gubXA0")
            .send()
            .await
            .expect("create");
        let path = res.headers()["location"].to_str().expect("loc").to_owned();
        let id = res.headers()["cityx-asset-id"]
            .to_str()
            .expect("id")
            .to_owned();
        let res = self
            .app
            .http
            .patch(self.app.url(&path))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .body(data)
            .send()
            .await
            .expect("patch");
        assert_eq!(res.status(), 204);
        (id, Instant::now())
    }

    /// Follows an item from `since` (its upload completing), polling every 10 ms, until its
    /// transcode succeeds; fetches the playlist and first segment as soon as one plays.
    async fn follow(&self, id: &str, since: Instant) -> Timeline {
        let mut t = Timeline::default();
        loop {
            let a = self.asset(id).await;
            let state = |kind: &str| {
                a["jobs"]
                    .as_array()
                    .and_then(|j| j.iter().find(|j| j["kind"] == kind))
                    .and_then(|j| j["state"].as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            if t.queue_to_start.is_none() && !matches!(state("probe").as_str(), "" | "queued") {
                t.queue_to_start = Some(since.elapsed());
            }
            if t.first_segment.is_none()
                && let Some(playlist) = a["playback"].as_str()
            {
                self.fetch_first_segment(id, playlist).await;
                t.first_segment = Some(since.elapsed());
            }
            match state("transcode").as_str() {
                "running" if t.transcode_start.is_none() => {
                    t.transcode_start = Some(since.elapsed())
                }
                "succeeded" => {
                    t.transcode_end = Some(since.elapsed());
                    return t;
                }
                "dead" => panic!("the transcode died: {a}"),
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn fetch_first_segment(&self, id: &str, playlist: &str) {
        let mut text = String::from_utf8_lossy(&self.fetch(id, playlist).await).into_owned();
        let mut base = playlist
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        if let Some(variant) = text.lines().find(|l| l.ends_with(".m3u8")) {
            let media = format!("{base}/{variant}");
            base = media
                .rsplit_once('/')
                .map(|(d, _)| d.to_owned())
                .unwrap_or_default();
            text = String::from_utf8_lossy(&self.fetch(id, &media).await).into_owned();
        }
        let segment = cityx_media::hls::parse_media_playlist(&text).segments[0]
            .0
            .clone();
        assert!(
            !self
                .fetch(id, &format!("{base}/{segment}"))
                .await
                .is_empty()
        );
    }
}

/// When things happened to an item, from its upload completing.
#[derive(Default)]
struct Timeline {
    queue_to_start: Option<Duration>,
    first_segment: Option<Duration>,
    transcode_start: Option<Duration>,
    transcode_end: Option<Duration>,
}

impl Timeline {
    fn transcode_wall(&self) -> Duration {
        self.transcode_end.unwrap_or_default() - self.transcode_start.unwrap_or_default()
    }
}

fn per_rendition(master: &Path, plan: &cityx_media::ladder::Plan, out: &Path) -> Duration {
    std::fs::create_dir_all(out).expect("dir");
    let started = Instant::now();
    let children: Vec<_> = plan
        .rungs
        .iter()
        .map(|r| {
            let (w, h) = r.size.expect("video");
            std::fs::create_dir_all(out.join(&r.name)).expect("dir");
            Command::new("ffmpeg")
                .current_dir(out)
                .args(["-v", "error", "-nostdin", "-y", "-i"])
                .arg(master)
                .args([
                    "-vf",
                    &format!("scale={w}:{h}"),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                ])
                .args([
                    "-b:v",
                    &format!("{}k", r.video_kbps),
                    "-force_key_frames",
                    "expr:gte(t,n_forced*2)",
                ])
                .args([
                    "-c:a",
                    "aac",
                    "-b:a",
                    "128k",
                    "-ac",
                    "2",
                    "-f",
                    "hls",
                    "-hls_time",
                    "4",
                ])
                .args(["-hls_playlist_type", "vod", "-hls_segment_filename"])
                .arg(format!("{}/seg_%05d.ts", r.name))
                .arg(format!("{}/index.m3u8", r.name))
                .spawn()
                .expect("spawn")
        })
        .collect();
    let extras = [
        // Proxy.
        vec![
            "-vf",
            "scale=854:480",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            "proxy.mp4",
        ],
        // Poster, thumbnails, storyboard.
        vec![
            "-filter_complex",
            "[0:v]split=3[p][t][s];[p]select='isnan(prev_selected_t)*gte(t,3)',scale=1280:720[po];[t]fps=1/3,scale=320:180[th];[s]fps=1/2,scale=160:90,tile=10x10[sb]",
            "-map",
            "[po]",
            "-frames:v",
            "1",
            "-update",
            "1",
            "poster.jpg",
            "-map",
            "[th]",
            "thumb_%03d.jpg",
            "-map",
            "[sb]",
            "sb_%03d.jpg",
        ],
        // The technical check.
        vec![
            "-vf",
            "scale=320:180,blackdetect=d=1,freezedetect=d=2",
            "-af",
            "silencedetect=d=2,ebur128=peak=true:framelog=verbose",
            "-f",
            "null",
            "-",
        ],
    ];
    let extra_children: Vec<_> = extras
        .iter()
        .map(|args| {
            Command::new("ffmpeg")
                .current_dir(out)
                .args(["-v", "error", "-nostdin", "-y", "-i"])
                .arg(master)
                .args(args)
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children.into_iter().chain(extra_children) {
        assert!(c.wait().expect("wait").success());
    }
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let seconds: u32 = std::env::var("CITYX_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        println!("cityx media benchmark: 1080p25 sources, fast path 60 s, encodes {seconds} s");
        let h264 = source(d, "h264.mp4", 60, &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]);
        let mpeg2 = source(d, "mpeg2.ts", seconds, &["-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2"]);
        let tools = Tools::default();
        let opts = LadderOptions::default();

        // 1. Fast path reference: a bare remux listing its first segment.
        let info = probe(&tools, &h264, d).await.expect("probe");
        let (bare_fast, _) = bare(&remux_plan(&info, &h264, &opts), &d.join("bare-fast")).await;
        // 2–4. Encode references.
        let info = probe(&tools, &mpeg2, d).await.expect("probe");
        let plan = ladder_plan(&info, &mpeg2, &opts, &Profile::default());
        let (bare_first, bare_total) = bare(&plan, &d.join("bare-ladder")).await;
        let separate = per_rendition(&mpeg2, &plan, &d.join("per-rendition"));
        let h264_long = source(d, "h264-long.mp4", seconds, &["-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-c:a", "aac"]);
        let info_h264 = probe(&tools, &h264_long, d).await.expect("probe");
        let plan_h264 = ladder_plan(&info_h264, &h264_long, &opts, &Profile::default());
        let (_, bare_h264) = bare(&plan_h264, &d.join("bare-ladder-h264")).await;
        let separate_h264 = per_rendition(&h264_long, &plan_h264, &d.join("per-rendition-h264"));
        let frames = f64::from(seconds) * 25.0;

        let app = TestApp::spawn().await;
        let w = World::seed(&app).await;
        let c = Client { app: &app, token: w.user("editor@a").token.clone() };
        let (id, done) = c.upload(&h264).await;
        // Following to the end also keeps the fast clip's transcode out of the next timing.
        let fast_item = c.follow(&id, done).await;
        let fast = fast_item.first_segment.unwrap_or_default();
        let (id, done) = c.upload(&mpeg2).await;
        let encoded = c.follow(&id, done).await;
        let encoded_first = encoded.first_segment.unwrap_or_default();
        let queue_to_start = fast_item.queue_to_start.max(encoded.queue_to_start).unwrap_or_default();
        let job_wall = encoded.transcode_wall();
        app.stop().await;

        println!("  baseline: bare single-pass ladder encodes {:.1} source frames/s ({} rungs + proxy + images + QC)", frames / bare_total.as_secs_f64(), plan.rungs.len());
        println!("  fast path, upload complete → first segment fetchable: cityx {:7.0} ms   bare remux {:7.0} ms   (goal ≤ 1000 ms)", ms(fast), ms(bare_fast));
        println!("  encode path, → first segment fetchable:               cityx {:7.0} ms   bare ffmpeg {:6.0} ms   ratio {:.2}x (goal ≤ 1.2x)", ms(encoded_first), ms(bare_first), encoded_first.as_secs_f64() / bare_first.as_secs_f64());
        println!("  transcode job wall time:                              cityx {:7.0} ms   bare ffmpeg {:6.0} ms   ratio {:.2}x (goal ≤ 1.05x)", ms(job_wall), ms(bare_total), job_wall.as_secs_f64() / bare_total.as_secs_f64());
        println!("  queue to start (upload complete → probe running, worst of two): {:5.0} ms (goal < 1000 ms)", ms(queue_to_start));
        for (source, one, many) in [("MPEG-2", bare_total, separate), ("H.264", bare_h264, separate_h264)] {
            println!("  everything from the {source:6} source, one process vs one per output (4 rungs, proxy, images, QC; in parallel): {:7.0} ms vs {:7.0} ms   ratio {:.2}x (goal ≤ 0.8x)", ms(one), ms(many), one.as_secs_f64() / many.as_secs_f64());
        }

        let mut table = Ratios::new("media: ratios (references from the same run; the last two rows against goals)");
        table
            .add("fast path, upload complete → first segment: cityx / bare remux", (ms(fast), ms(bare_fast)), "ms", Goal::None)
            .add("encode path, → first segment of every rung: cityx / identical ffmpeg", (ms(encoded_first), ms(bare_first)), "ms", Goal::AtMost(1.2))
            .add("transcode job wall time: cityx / identical bare ffmpeg", (ms(job_wall), ms(bare_total)), "ms", Goal::AtMost(1.05))
            .add("MPEG-2 source: one process / one per output", (ms(bare_total), ms(separate)), "ms", Goal::AtMost(0.8))
            .add("H.264 source: one process / one per output", (ms(bare_h264), ms(separate_h264)), "ms", Goal::AtMost(0.8))
            .add("fast path, upload complete → first segment / the goal", (ms(fast), 1000.0), "ms", Goal::AtMost(1.0))
            .add("queue to start / the goal", (ms(queue_to_start), 1000.0), "ms", Goal::AtMost(1.0));
        table.print();
    });
}

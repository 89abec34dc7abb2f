//! Live ingest benchmark: the release `cityx serve` (its in-process RTMP ingest and
//! segmenter copying the stream into 2-second HLS segments, and per channel an ffmpeg that
//! sees a keyframe every `CITYX_BENCH_THUMBNAIL_SECS` (default 5) for the thumbnail)
//! against nginx-rtmp (Debian's `libnginx-mod-rtmp`, HLS of the same fragment length)
//! receiving the very same streams, in the same run on the same cores.
//!
//!     scripts/bench live              # installs nginx-light and libnginx-mod-rtmp if missing
//!     cargo bench -p cityx-testkit --bench live
//!
//! Each server gets `CITYX_BENCH_CHANNELS` (default 4) publishers, `ffmpeg -re` copying a
//! 720p25 H.264/AAC file with a keyframe a second (so a publisher costs little), for
//! `CITYX_BENCH_SECS` (default 30), twice, alternately (nginx-rtmp, cityx, nginx-rtmp, cityx
//! on new channels); CPU is the lower of each server's two runs (the neighbours of a shared
//! machine only ever add), the rest is the first run's. Measured, per server:
//! - CPU: user and system time of the server and every process under it (cityx's
//!   inspectors, nginx's workers) over the steady middle of the run, per channel; and of
//!   cityx's own process alone (RTMP in, HLS out: the passthrough nginx-rtmp does);
//! - first segment: from the publisher's start to the first segment its playlist lists;
//! - segment latency: from the moment the publisher sent a segment's last frame (its start
//!   plus the segment's end time, as `-re` paces frames in real time) to the moment the
//!   playlist on disk lists the segment (polled every 10 ms), the median over the run;
//! - memory per channel: the resident memory of the server and every process under it,
//!   steady with the channels live, less before they were.
//!
//! Then viewers: `CITYX_BENCH_VIEWERS` (default 1000) wrk connections ask for one live
//! channel's playlist, then for its newest segment, from cityx (under the channel's signed
//! playback address, as a player gets it; and, for reference, through the HLS route with a
//! signed-in user's token) and from nginx serving the very same files from cityx's
//! storage directory, `CITYX_BENCH_SERVE_SECS` (default 6) each, best of two alternating runs.
//!
//! Ends with a table of the ratios.

#[path = "common/ratios.rs"]
mod ratios;
#[path = "common/server.rs"]
mod server;

use cityx_testkit::nginx::{Nginx, NginxRtmp};
use ratios::{Goal, Ratios};
use serde_json::{Value, json};
use server::status_kib;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEGMENT_SECS: f64 = 2.0;

/// A 40 s 720p25 H.264/AAC FLV with a keyframe every second.
fn source(dir: &Path) -> PathBuf {
    server::test_clip(&dir.join("source.flv"), 40, 25)
}

/// `ffmpeg -re` copying `source` to `url` in a loop until killed.
fn publisher(source: &Path, url: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(source)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publishes")
}

/// The processes under `pid` (`pid` itself included).
fn tree(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let ppid = after.split_whitespace().nth(1).and_then(|v| v.parse().ok());
            parents.push((p, ppid.unwrap_or(0)));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// Resident memory of `pid` and every process under it, KiB.
fn tree_rss(pid: u32) -> f64 {
    tree(pid).into_iter().map(|p| status_kib(p, "VmRSS")).sum()
}

/// CPU seconds (user + system) of one process.
fn cpu(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command's closing parenthesis: state ppid … utime stime.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / ticks
}

/// CPU seconds of `pid` and every process under it, and of `pid` alone.
fn tree_cpu(pid: u32) -> (f64, f64) {
    (tree(pid).into_iter().map(cpu).sum(), cpu(pid))
}

/// What one server did with the channels.
#[derive(Debug, Default)]
struct Run {
    /// CPU seconds per channel per second of broadcast: the server's tree, and the server's
    /// own process (for cityx: the ingest and the segments without the thumbnails'
    /// inspectors).
    cpu_per_channel: f64,
    own_cpu_per_channel: f64,
    first_segment: f64,
    latency_p50: f64,
    segments: usize,
    /// Resident memory per channel, MiB (the tree's, steady, less before the publishers).
    mib_per_channel: f64,
}

impl Run {
    /// This run with the lower CPU figures of it and `other`.
    fn best_cpu(self, other: Run) -> Run {
        Run {
            cpu_per_channel: self.cpu_per_channel.min(other.cpu_per_channel),
            own_cpu_per_channel: self.own_cpu_per_channel.min(other.own_cpu_per_channel),
            ..self
        }
    }
}

/// One run of nginx-rtmp, started for it and stopped after.
fn nginx_rtmp(source: &Path, channels: usize, secs: u64) -> Run {
    let nginx = NginxRtmp::start(SEGMENT_SECS);
    let urls: Vec<String> = (0..channels)
        .map(|i| format!("rtmp://127.0.0.1:{}/live/s{i}", nginx.port))
        .collect();
    let run = measure(
        nginx.nginx.child.id(),
        source,
        &urls,
        &nginx.hls.join("s0").join("index.m3u8"),
        secs,
    );
    println!("nginx-rtmp: {run:?} ({} segments watched)", run.segments);
    run
}

/// Publishes to every URL, watches `playlists[0]` for segment latency, and measures CPU of
/// `pid`'s tree over the middle of the run.
fn measure(pid: u32, source: &Path, urls: &[String], playlist: &Path, secs: u64) -> Run {
    measure_then(pid, source, urls, playlist, secs, Stop::Drop)
}

/// How the publishers of a run stop.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// Killed: their connections drop (cityx's channels go on on their slates).
    Drop,
    /// Asked to end (SIGINT): each ends its stream, and its channel goes off air.
    End,
}

/// [`measure`], the publishers stopping as `stop` says.
fn measure_then(
    pid: u32,
    source: &Path,
    urls: &[String],
    playlist: &Path,
    secs: u64,
    stop: Stop,
) -> Run {
    let idle_rss = tree_rss(pid);
    let started = Instant::now();
    let mut publishers: Vec<Child> = urls.iter().map(|u| publisher(source, u)).collect();
    let mut live_rss = None;
    let mut first = None;
    let mut seen = 0usize;
    let mut latencies = Vec::new();
    let (mut cpu_from, mut cpu_at) = (None, None);
    let steady = Duration::from_secs(5);
    let end = Duration::from_secs(secs);
    while started.elapsed() < end {
        let now = started.elapsed();
        if cpu_from.is_none() && now >= steady {
            cpu_from = Some((tree_cpu(pid), now));
        }
        if live_rss.is_none() && now >= end / 2 {
            live_rss = Some(tree_rss(pid));
        }
        if let Ok(text) = std::fs::read_to_string(playlist) {
            let durations: Vec<f64> = text
                .lines()
                .filter_map(|l| l.strip_prefix("#EXTINF:"))
                .filter_map(|d| d.trim_end_matches(',').split(',').next()?.parse().ok())
                .collect();
            // Only a growing list from the start of this run (no window slides here).
            if durations.len() > seen {
                let t = now.as_secs_f64();
                first.get_or_insert(t);
                let mut end_pts: f64 = durations[..seen].iter().sum();
                for d in &durations[seen..] {
                    end_pts += d;
                    // The first segments are late by the connection set-up; skip two.
                    if seen >= 2 {
                        latencies.push(t - end_pts);
                    }
                    seen += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(((tree, own), at)) = cpu_from {
        let (tree_now, own_now) = tree_cpu(pid);
        let per = (started.elapsed() - at).as_secs_f64() * urls.len() as f64;
        cpu_at = Some(((tree_now - tree) / per, (own_now - own) / per));
    }
    for p in &mut publishers {
        if stop == Stop::End {
            let _ = Command::new("kill")
                .args(["-INT", &p.id().to_string()])
                .status();
            let asked = Instant::now();
            while asked.elapsed() < Duration::from_secs(5) {
                if matches!(p.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = p.kill();
        let _ = p.wait();
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Run {
        cpu_per_channel: cpu_at.map_or(0.0, |c| c.0),
        own_cpu_per_channel: cpu_at.map_or(0.0, |c| c.1),
        first_segment: first.unwrap_or(f64::NAN),
        latency_p50: latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or(f64::NAN),
        segments: seen,
        mib_per_channel: (live_rss.unwrap_or(idle_rss) - idle_rss) / 1024.0 / urls.len() as f64,
    }
}

/// Best of two alternating wrk runs of `viewers` connections on each URL (the token is
/// sent to both; nginx ignores it): requests per second, cityx's and nginx's.
fn viewers(ours: &str, theirs: &str, token: &str, secs: u64, viewers: u32) -> (f64, f64) {
    // Warm both (files, caches, connections).
    server::wrk(ours, token, 1, 8, None);
    server::wrk(theirs, token, 1, 8, None);
    let (mut a, mut b) = (0.0f64, 0.0f64);
    let errors = |text: &str| {
        if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
            println!("  wrk: {}", line.trim());
        }
    };
    for _ in 0..2 {
        let (rps, text) = server::wrk(ours, token, secs, viewers, None);
        errors(&text);
        a = a.max(rps);
        let (rps, text) = server::wrk(theirs, token, secs, viewers, None);
        errors(&text);
        b = b.max(rps);
    }
    (a, b)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    server::require(&["ffmpeg", "nginx"], "live");
    let channels = env_num("CITYX_BENCH_CHANNELS", 4) as usize;
    let secs = env_num("CITYX_BENCH_SECS", 30);
    let work = tempfile::tempdir().expect("dir");
    let source = source(work.path());
    let http = reqwest::Client::new();

    // nginx-rtmp first, then cityx; each alone on the machine while it runs.
    let reference = nginx_rtmp(&source, channels, secs);

    let rtmp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{rtmp_port}");
    let thumbnail_secs = env_num("CITYX_BENCH_THUMBNAIL_SECS", 5).to_string();
    // A thousand viewers come from a thousand addresses (or through a trusted proxy); here
    // they all come from loopback, past the per-address cap on connections.
    let cityx = server::Server::start(
        &http,
        &[
            ("CITYX_LIVE__RTMP_LISTEN", listen.as_str()),
            ("CITYX_LIVE__THUMBNAIL_SECS", thumbnail_secs.as_str()),
            ("CITYX_SERVER__MAX_CONNECTIONS_PER_IP", "4096"),
        ],
    )
    .await;
    let admin = server::admin_token(&http, &cityx.base).await;
    let get = |path: String, token: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .bearer_auth(token)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let stations = get(format!("{}/api/v1/stations", cityx.base), admin.clone()).await;
    let station = stations["items"][0]["id"].clone();
    let made = http
        .post(format!("{}/api/v1/users", cityx.base))
        .bearer_auth(&admin)
        .json(&json!({
            "email": "live@bench.local", "display_name": "直播", "role": "station_admin",
            "station_id": station, "password": "bench-live-password"
        }))
        .send()
        .await
        .expect("user");
    assert!(made.status().is_success(), "{}", made.status());
    let owner = server::token_of(
        &http,
        &cityx.base,
        "live@bench.local",
        "bench-live-password",
    )
    .await;
    // Channels of one round: their publishing addresses and the first one's playlist.
    let make_channels = |round: usize| {
        // A new client each round: a pooled connection idle for a run may have been closed.
        let (http, base, owner) = (reqwest::Client::new(), cityx.base.clone(), owner.clone());
        let objects = cityx.dir.path().join("objects/live");
        async move {
            let mut urls = Vec::new();
            let mut first_channel = None;
            for i in 0..channels {
                let res: Value = http
                    .post(format!("{base}/api/v1/channels"))
                    .bearer_auth(&owner)
                    .json(&json!({ "name": format!("压测频道{round}-{i}"), "dvr_minutes": 10 }))
                    .send()
                    .await
                    .expect("channel")
                    .json()
                    .await
                    .expect("json");
                let id = res["channel"]["id"].as_str().expect("id").to_owned();
                first_channel.get_or_insert(id);
                urls.push(format!(
                    "rtmp://127.0.0.1:{rtmp_port}/live/{}",
                    res["stream_key"].as_str().expect("key")
                ));
            }
            let playlist = objects
                .join(first_channel.expect("a channel"))
                .join("index.m3u8");
            (urls, playlist)
        }
    };
    // The first round's publishers end their streams, so that no slate runs in the second.
    let (urls, first_playlist) = make_channels(1).await;
    let first = measure_then(
        cityx.child.id(),
        &source,
        &urls,
        &first_playlist,
        secs,
        Stop::End,
    );
    println!("cityx: {first:?} ({} segments watched)", first.segments);
    // The second round: nginx-rtmp again (cityx idle), then cityx on new channels.
    let reference = reference.best_cpu(nginx_rtmp(&source, channels, secs));
    let (urls, playlist) = make_channels(2).await;
    let second = measure(cityx.child.id(), &source, &urls, &playlist, secs);
    println!("cityx: {second:?} ({} segments watched)", second.segments);
    let measured = first.best_cpu(second);

    // Viewers of one channel: it went on on its slate when its publisher stopped, so its
    // playlist still changes every segment, as a live one does.
    let viewer_count = env_num("CITYX_BENCH_VIEWERS", 1000) as u32;
    let serve_secs = env_num("CITYX_BENCH_SERVE_SECS", 6);
    let channel = playlist
        .parent()
        .expect("the channel's directory")
        .to_path_buf();
    let id = channel
        .file_name()
        .expect("id")
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(&playlist).expect("the playlist");
    let newest = text
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .expect("a segment")
        .to_owned();
    let files = Nginx::files(&channel);
    // A new client: the shared one's pooled connection went idle during the ingest phase
    // and the server may have closed it.
    let link: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/channels/{id}/media", cityx.base))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("the playback address")
        .json()
        .await
        .expect("json");
    let signed = link["base"].as_str().expect("a signed address").to_owned();
    let ours = |path: &str| format!("{}{signed}{path}", cityx.base);
    let theirs = |path: &str| format!("http://127.0.0.1:{}/{path}", files.port);
    let rss_before = status_kib(cityx.child.id(), "VmRSS");
    let playlist_rps = viewers(
        &ours("index.m3u8"),
        &theirs("index.m3u8"),
        &owner,
        serve_secs,
        viewer_count,
    );
    let segment_rps = viewers(
        &ours(&newest),
        &theirs(&newest),
        &owner,
        serve_secs,
        viewer_count,
    );
    let (routed, _) = server::wrk(
        &format!("{}/api/v1/channels/{id}/hls/index.m3u8", cityx.base),
        &owner,
        serve_secs,
        viewer_count,
        None,
    );
    println!("playlist through the HLS route with a token, for reference: {routed:.0} req/s");
    let rss_after = status_kib(cityx.child.id(), "VmRSS");
    println!(
        "viewers ({viewer_count} connections): playlist {:.0} req/s (nginx {:.0}), segment {:.0} req/s (nginx {:.0}); cityx resident memory {:.0} → {:.0} MiB",
        playlist_rps.0,
        playlist_rps.1,
        segment_rps.0,
        segment_rps.1,
        rss_before / 1024.0,
        rss_after / 1024.0
    );
    drop(files);
    drop(cityx);

    let mut table = Ratios::new(format!(
        "Live ingest: {channels} channels of 720p25 3 Mbit/s for {secs} s, cityx against nginx-rtmp"
    ));
    table
        .add(
            "CPU per passthrough channel (RTMP in, HLS out), cityx's process / nginx-rtmp",
            (
                measured.own_cpu_per_channel * 100.0,
                reference.cpu_per_channel * 100.0,
            ),
            "% of a core",
            Goal::AtMost(1.0),
        )
        .add(
            format!(
                "CPU per channel with a thumbnail every {thumbnail_secs} s (and its inspector), cityx / nginx-rtmp"
            ),
            (
                measured.cpu_per_channel * 100.0,
                reference.cpu_per_channel * 100.0,
            ),
            "% of a core",
            Goal::None,
        )
        .add(
            "channels per core with thumbnails, cityx / nginx-rtmp",
            (
                1.0 / measured.cpu_per_channel.max(1e-6),
                1.0 / reference.cpu_per_channel.max(1e-6),
            ),
            "channels",
            Goal::None,
        )
        .add(
            "segment listed after its last frame was sent (median), cityx / nginx-rtmp",
            (measured.latency_p50, reference.latency_p50),
            "s",
            Goal::AtMost(1.2),
        )
        .add(
            "publish start to first playable segment, cityx / one segment + 0.5 s",
            (measured.first_segment, SEGMENT_SECS + 0.5),
            "s",
            Goal::AtMost(1.0),
        )
        .add(
            "publish start to first playable segment, nginx-rtmp / one segment + 0.5 s",
            (reference.first_segment, SEGMENT_SECS + 0.5),
            "s",
            Goal::None,
        )
        .add(
            "memory per live channel (with its packager), cityx / nginx-rtmp",
            (measured.mib_per_channel, reference.mib_per_channel),
            "MiB",
            Goal::None,
        )
        .add(
            format!("live playlist to {viewer_count} viewers: requests/s, cityx / nginx"),
            playlist_rps,
            "/s",
            Goal::AtLeast(0.8),
        )
        .add(
            format!("newest live segment to {viewer_count} viewers: requests/s, cityx / nginx"),
            segment_rps,
            "/s",
            Goal::AtLeast(0.8),
        );
    table.print();
}

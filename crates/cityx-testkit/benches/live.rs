//! Live ingest benchmark: the release `cityx serve` (its in-process RTMP ingest, one ffmpeg
//! per channel copying the stream into 2-second HLS segments, with a thumbnail from
//! keyframes) against nginx-rtmp (Debian's `libnginx-mod-rtmp`, HLS of the same fragment
//! length) receiving the very same streams, in the same run on the same cores.
//!
//!     scripts/bench live              # installs nginx-light and libnginx-mod-rtmp if missing
//!     cargo bench -p cityx-testkit --bench live
//!
//! Each server gets `CITYX_BENCH_CHANNELS` (default 4) publishers, `ffmpeg -re` copying a
//! 720p25 H.264/AAC file with a keyframe a second (so a publisher costs little), for
//! `CITYX_BENCH_SECS` (default 30). Measured, per server:
//! - CPU: user and system time of the server and every process under it (cityx's packagers,
//!   nginx's workers) over the steady middle of the run, per channel;
//! - first segment: from the publisher's start to the first segment its playlist lists;
//! - segment latency: from the moment the publisher sent a segment's last frame (its start
//!   plus the segment's end time, as `-re` paces frames in real time) to the moment the
//!   playlist on disk lists the segment (polled every 10 ms), the median over the run.
//!
//! Ends with a table of the ratios.

#[path = "common/ratios.rs"]
mod ratios;
#[path = "common/server.rs"]
mod server;

use cityx_testkit::nginx::NginxRtmp;
use ratios::{Goal, Ratios};
use serde_json::{Value, json};
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

/// CPU seconds (user + system) of `pid` and every process under it.
fn tree_cpu(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut stats = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // Fields after the command's closing parenthesis: state ppid … utime stime.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ppid = f.get(1).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
            let cpu = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
                + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            stats.push((p, ppid, cpu));
        }
    }
    let mut tree = vec![pid];
    let mut grew = true;
    while grew {
        grew = false;
        for (p, ppid, _) in &stats {
            if tree.contains(ppid) && !tree.contains(p) {
                tree.push(*p);
                grew = true;
            }
        }
    }
    stats
        .iter()
        .filter(|(p, _, _)| tree.contains(p))
        .map(|(_, _, c)| c / ticks)
        .sum()
}

/// What one server did with the channels.
#[derive(Debug, Default)]
struct Run {
    /// CPU seconds per channel per second of broadcast.
    cpu_per_channel: f64,
    first_segment: f64,
    latency_p50: f64,
    segments: usize,
}

/// Publishes to every URL, watches `playlists[0]` for segment latency, and measures CPU of
/// `pid`'s tree over the middle of the run.
fn measure(pid: u32, source: &Path, urls: &[String], playlist: &Path, secs: u64) -> Run {
    let started = Instant::now();
    let mut publishers: Vec<Child> = urls.iter().map(|u| publisher(source, u)).collect();
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
    if let Some((cpu, at)) = cpu_from {
        let spent = tree_cpu(pid) - cpu;
        let secs = (started.elapsed() - at).as_secs_f64();
        cpu_at = Some(spent / secs / urls.len() as f64);
    }
    for p in &mut publishers {
        let _ = p.kill();
        let _ = p.wait();
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Run {
        cpu_per_channel: cpu_at.unwrap_or(0.0),
        first_segment: first.unwrap_or(f64::NAN),
        latency_p50: latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or(f64::NAN),
        segments: seen,
    }
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
    let nginx = NginxRtmp::start(SEGMENT_SECS);
    let urls: Vec<String> = (0..channels)
        .map(|i| format!("rtmp://127.0.0.1:{}/live/s{i}", nginx.port))
        .collect();
    let reference = measure(
        nginx.nginx.child.id(),
        &source,
        &urls,
        &nginx.hls.join("s0").join("index.m3u8"),
        secs,
    );
    drop(nginx);
    println!(
        "nginx-rtmp: {reference:?} ({} segments watched)",
        reference.segments
    );

    let rtmp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{rtmp_port}");
    let cityx = server::Server::start(&http, &[("CITYX_LIVE__RTMP_LISTEN", listen.as_str())]).await;
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
    let mut urls = Vec::new();
    let mut first_channel = None;
    for i in 0..channels {
        let res: Value = http
            .post(format!("{}/api/v1/channels", cityx.base))
            .bearer_auth(&owner)
            .json(&json!({ "name": format!("压测频道{i}"), "dvr_minutes": 10 }))
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
    let playlist = cityx
        .dir
        .path()
        .join("objects/live")
        .join(first_channel.expect("a channel"))
        .join("index.m3u8");
    let measured = measure(cityx.child.id(), &source, &urls, &playlist, secs);
    println!(
        "cityx: {measured:?} ({} segments watched)",
        measured.segments
    );
    drop(cityx);

    let mut table = Ratios::new(format!(
        "Live ingest: {channels} channels of 720p25 3 Mbit/s for {secs} s, cityx against nginx-rtmp"
    ));
    table
        .add(
            "CPU per passthrough channel (RTMP in, HLS out), cityx / nginx-rtmp",
            (
                measured.cpu_per_channel * 100.0,
                reference.cpu_per_channel * 100.0,
            ),
            "% of a core",
            Goal::AtMost(1.0),
        )
        .add(
            "channels per core, cityx / nginx-rtmp",
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
        );
    table.print();
}

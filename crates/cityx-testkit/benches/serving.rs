//! Serving benchmark: playlists, HLS segments and downloads (whole and by `Range`) from the
//! release `cityx serve` against nginx (Debian's) serving the very same files, in the same
//! run on the same cores, with wrk (Debian's) as the load. Printed as ratios: the machine is
//! shared, absolute figures move.
//!
//!     scripts/bench serving          # installs wrk and nginx if missing
//!     cargo bench -p cityx-testkit --bench serving
//!
//! The item is a real clip (20 s 720p H.264/AAC made by ffmpeg at the start), uploaded and
//! processed by the server itself. cityx serves it under a media link (no session; rights
//! re-checked every 2 s; small files of ready items from memory); nginx serves the storage
//! directory of the item with `sendfile`. Each object runs twice on each server, alternately,
//! and the best of each is compared. `CITYX_BENCH_SECS` sets each wrk run's length (default
//! 4), `CITYX_BENCH_CONNECTIONS` its connections (default 16). The server's resident memory
//! is read before and after, for flatness.
//!
//! Ends with a table of the ratios.

#[path = "common/ratios.rs"]
mod ratios;
#[path = "common/server.rs"]
mod server;

use cityx_testkit::nginx::Nginx;
use ratios::{Goal, Ratios};
use serde_json::Value;
use server::{Server, status_kib};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A 20 s 720p25 H.264/AAC MP4, as a station would send.
fn clip(dir: &Path) -> std::path::PathBuf {
    server::test_clip(&dir.join("clip.mp4"), 20, 50)
}

/// What one wrk run measured.
#[derive(Clone, Copy, Default)]
struct Load {
    rps: f64,
    /// Bytes per second.
    bps: f64,
}

fn wrk(url: &str, headers: &[String], secs: u64, connections: u32) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{connections}"), &format!("-d{secs}s")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "every answer must succeed: {url}\n{text}"
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let rate = |v: String| -> f64 {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = num.parse().unwrap_or(0.0);
        n * match unit {
            "KB" => 1024.0,
            "MB" => 1024.0 * 1024.0,
            "GB" => 1024.0 * 1024.0 * 1024.0,
            _ => 1.0,
        }
    };
    Load {
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        bps: rate(field("Transfer/sec:")),
    }
}

fn best(a: Load, b: Load) -> Load {
    Load {
        rps: a.rps.max(b.rps),
        bps: a.bps.max(b.bps),
    }
}

fn main() {
    server::require(&["wrk", "nginx", "ffmpeg"], "serving");
    let secs: u64 = server::env_or("CITYX_BENCH_SECS", 4);
    let connections: u32 = server::env_or("CITYX_BENCH_CONNECTIONS", 16);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let work = tempfile::tempdir().expect("dir");
    let clip = clip(work.path());
    let http = reqwest::Client::new();
    let server = rt.block_on(Server::start(&http, &[("CITYX_JOBS__ENABLED", "true")]));
    let (base, token) = (server.base.clone(), server.token.clone());
    let get = |path: String| {
        let req = http.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let res = req.send().await.expect("request");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json::<Value>().await.expect("json")
        }
    };
    let id = rt.block_on(server.upload(&http, "压测素材", std::fs::read(&clip).expect("clip")));
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let a = get(format!("/api/v1/assets/{id}")).await;
            match a["status"].as_str() {
                Some("ready") => break,
                Some("failed" | "rejected") => panic!("the clip was not processed: {a}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "the clip took too long");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let link = rt.block_on(get(format!("/api/v1/assets/{id}/media")));
    let media = format!("{base}{}", link["base"].as_str().expect("base"));
    let root = server.dir.path().join("objects/assets").join(&id);
    let variant = std::fs::read_dir(root.join("hls"))
        .expect("hls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with('p'))
        .max_by_key(|n| n.trim_end_matches('p').parse::<u32>().unwrap_or(0))
        .expect("a rung");
    let playlist = std::fs::read_to_string(root.join("hls").join(&variant).join("index.m3u8"))
        .expect("playlist");
    let segment = playlist
        .lines()
        .find(|l| l.ends_with(".ts"))
        .expect("a segment")
        .to_owned();
    let size = |p: &str| {
        std::fs::metadata(root.join(p))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let segment_path = format!("hls/{variant}/{segment}");
    let proxy_size = size("proxy.mp4");
    let range_mib = (proxy_size / 2).min(1 << 20);
    let objects: Vec<(String, String, Vec<String>)> = vec![
        (
            format!("master playlist ({} B)", size("hls/master.m3u8")),
            "hls/master.m3u8".into(),
            vec![],
        ),
        (
            format!(
                "{variant} playlist ({} B)",
                size(&format!("hls/{variant}/index.m3u8"))
            ),
            format!("hls/{variant}/index.m3u8"),
            vec![],
        ),
        (
            format!("{variant} segment ({} KiB)", size(&segment_path) / 1024),
            segment_path.clone(),
            vec![],
        ),
        (
            format!("proxy.mp4 whole ({} KiB)", proxy_size / 1024),
            "proxy.mp4".into(),
            vec![],
        ),
        (
            format!("proxy.mp4 Range of {} KiB", range_mib / 1024),
            "proxy.mp4".into(),
            vec![format!("Range: bytes=0-{}", range_mib - 1)],
        ),
    ];
    let nginx = Nginx::files(&root);
    let nginx_base = format!("http://127.0.0.1:{}/", nginx.port);
    let pid = server.child.id();
    // Warm both: the first read of every file, the cache and nginx's open-file cache.
    for (_, path, headers) in &objects {
        wrk(&format!("{media}{path}"), headers, 1, 2);
        wrk(&format!("{nginx_base}{path}"), headers, 1, 2);
    }
    let rss_before = status_kib(pid, "VmRSS");
    println!(
        "serving vs nginx: wrk -t1 -c{connections} -d{secs}s, best of two alternating runs each"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>7}   {:>11} {:>11} {:>7}",
        "object", "cityx req/s", "nginx req/s", "ratio", "cityx MB/s", "nginx MB/s", "ratio"
    );
    let mut table = Ratios::new("serving: ratios (nginx serving the same files in the same run)");
    let mut segment_rps = 0.0;
    for (name, path, headers) in &objects {
        let (mut ours, mut theirs) = (Load::default(), Load::default());
        for _ in 0..2 {
            ours = best(
                ours,
                wrk(&format!("{media}{path}"), headers, secs, connections),
            );
            theirs = best(
                theirs,
                wrk(&format!("{nginx_base}{path}"), headers, secs, connections),
            );
        }
        let mb = |l: Load| l.bps / 1e6;
        println!(
            "{name:<34} {:>12.0} {:>12.0} {:>6.2}x   {:>11.1} {:>11.1} {:>6.2}x",
            ours.rps,
            theirs.rps,
            ours.rps / theirs.rps.max(1.0),
            mb(ours),
            mb(theirs),
            mb(ours) / mb(theirs).max(1e-9)
        );
        table.add(
            format!("{name}: requests/s, cityx / nginx"),
            (ours.rps, theirs.rps),
            "/s",
            Goal::AtLeast(0.8),
        );
        if *path == segment_path {
            segment_rps = ours.rps;
        }
    }
    // For reference: the same segment through the authenticated files route (a token and
    // the item's rights read per request).
    let auth = vec![format!("Authorization: Bearer {token}")];
    let files = wrk(
        &format!("{base}/api/v1/assets/{id}/files/{segment_path}"),
        &auth,
        secs,
        connections,
    );
    println!(
        "{:<34} {:>12.0}   (the files route with a bearer token, for reference)",
        "segment via /files/", files.rps
    );
    println!(
        "cityx resident memory: {:.0} MB before the runs, {:.0} MB after, peak {:.0} MB",
        rss_before / 1024.0,
        status_kib(pid, "VmRSS") / 1024.0,
        status_kib(pid, "VmHWM") / 1024.0
    );
    table.add(
        "segment: requests/s, /files/ with a bearer token / media link",
        (files.rps, segment_rps),
        "/s",
        Goal::None,
    );
    table.print();
}

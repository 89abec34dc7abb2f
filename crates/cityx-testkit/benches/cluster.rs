//! Cluster benchmark: release `cityx serve` nodes on PostgreSQL and the S3 test store (and
//! NATS JetStream when `CITYX_TEST_NATS_URL` names one), one node against two in the same
//! run, printed as ratios.
//!
//!     scripts/bench cluster        # installs wrk, starts the S3 test store, uses local PG/NATS
//!
//! Every node runs on one CPU of its own (`taskset`), as if on a machine of its own; the
//! database, the object store, NATS and the load generators share the machine with them.
//! On a 2-core machine that sharing is the ceiling, so beside each figure the bench prints
//! how busy the whole machine was and the CPU each request cost the nodes: what a second
//! node adds where it has a machine of its own.
//!
//! 1. API: item JSON by id (`GET /api/v1/assets/{id}`, bearer token) with wrk, 32
//!    connections to one API node, then 16 to each of two.
//! 2. Uploads: `CITYX_BENCH_UPLOADS` (default 4) tus uploads of `CITYX_BENCH_MB` MiB (default
//!    64) at once in 8 MiB PATCHes: all to one node; each upload to one of two nodes (a
//!    load balancer with sticky sessions); every PATCH to the other node than the one before
//!    (a load balancer without them, the worst case: the upload's lease changes hands each
//!    time).
//! 3. Jobs: `CITYX_BENCH_CLIPS` (default 4) copies of a `CITYX_BENCH_SECONDS` (default 10)
//!    720p H.264/AAC clip are uploaded with no worker running, then one worker (one CPU, one
//!    heavy job at a time) is started and timed until every item is ready; then the same
//!    with two workers on a fresh database.
//!
//! Rounds 1 and 2 run twice, alternately, and the best of each is compared.
//! `CITYX_BENCH_SECS` sets each API run's length (default 5). `CITYX_TEST_POSTGRES_URL`
//! names the PostgreSQL server (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! scratch databases are created on it and dropped.
//!
//! Ends with a table of the ratios.

#[path = "common/ratios.rs"]
mod ratios;
#[path = "common/server.rs"]
mod server;

use ratios::{Goal, Ratios};
use serde_json::Value;
use server::{Spread, upload};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

const PIECE: usize = 8 << 20;

/// The nodes of one installation: a scratch database, a settings file, and the processes.
struct Cluster {
    dir: tempfile::TempDir,
    config: PathBuf,
    database: cityx_db::scratch::ScratchDb,
    nodes: Vec<Node>,
}

/// A node's process, stopped when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Cluster {
    async fn new(pg: &str, s3: &cityx_storage::StoreOptions) -> Cluster {
        let dir = tempfile::tempdir().expect("dir");
        let database = cityx_db::scratch::ScratchDb::create(pg)
            .await
            .expect("a scratch database (is PostgreSQL running?)");
        let queue = match std::env::var("CITYX_TEST_NATS_URL") {
            Ok(nats) if !nats.is_empty() => {
                // Streams of its own: a-z first, at most 32 characters.
                let id = uuid::Uuid::now_v7().simple().to_string();
                let prefix = format!("bench{}", &id[20..]);
                format!("[queue]\nurl = {nats:?}\nprefix = {prefix:?}\n")
            }
            _ => String::new(),
        };
        let text = format!(
            "[database]\nurl = {:?}\n\n[storage]\nurl = {:?}\nendpoint = {:?}\nregion = {:?}\naccess_key_id = {:?}\nsecret_access_key = {:?}\n\n[jobs]\nheavy_slots = 1\nlight_slots = 2\n\n{queue}",
            database.url, s3.url, s3.endpoint, s3.region, s3.access_key_id, s3.secret_access_key
        );
        let config = dir.path().join("cluster.toml");
        std::fs::write(&config, text).expect("settings");
        Cluster {
            dir,
            config,
            database,
            nodes: Vec::new(),
        }
    }

    /// Starts a node of `role` on CPU `cpu`; returns its base URL.
    fn start(&mut self, role: &str, cpu: Option<usize>) -> String {
        let data = self.dir.path().join(format!("node{}", self.nodes.len()));
        let config = self.config.to_string_lossy().into_owned();
        let jobs = if role == "api" { "false" } else { "true" };
        let (child, base) = server::spawn(
            &data,
            &["--config", &config, "--role", role],
            &[("CITYX_JOBS__ENABLED", jobs)],
            cpu,
        );
        self.nodes.push(Node(child));
        base
    }

    fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.0.id()).collect()
    }

    async fn remove(mut self) {
        self.nodes.clear();
        let settings = cityx::settings::Settings::load(Some(&self.config), &Default::default())
            .expect("settings");
        if let Some(opts) = settings.bus_options()
            && let Ok(bus) = cityx_queue::bus::Bus::connect(opts).await
        {
            let _ = bus.delete_streams().await;
        }
        self.database.drop_now().await;
    }
}

/// CPU ticks (user + system) a process has used, or 0 when it is gone.
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name.
    field(11) + field(12)
}

/// The machine's (busy, total) CPU ticks from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are the fourth and fifth.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// What the nodes and the machine spent during a measurement.
struct Cpu {
    nodes: u64,
    machine: (u64, u64),
}

impl Cpu {
    fn now(pids: &[u32]) -> Cpu {
        Cpu {
            nodes: pids.iter().map(|&p| process_ticks(p)).sum(),
            machine: machine_ticks(),
        }
    }

    /// (node CPU seconds, machine busy share) since `self`.
    fn since(&self, pids: &[u32]) -> (f64, f64) {
        let now = Cpu::now(pids);
        let ticks_per_second = 100.0; // USER_HZ on Linux
        let (busy, total) = (
            now.machine.0 - self.machine.0,
            (now.machine.1 - self.machine.1).max(1),
        );
        (
            (now.nodes - self.nodes) as f64 / ticks_per_second,
            busy as f64 / total as f64,
        )
    }
}

/// wrk on each of `bases` at once with `connections` each; the requests per second in all.
fn wrk_on(bases: &[String], path: &str, token: &str, secs: u64, connections: u32) -> f64 {
    std::thread::scope(|s| {
        let runs: Vec<_> = bases
            .iter()
            .map(|b| {
                let url = format!("{b}{path}");
                s.spawn(move || server::wrk(&url, token, secs, connections, None).0)
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("wrk")).sum()
    })
}

/// `count` uploads of `bytes` each at once, spread over `bases`, in PATCHes of `piece` (the
/// same bytes again and again when `bytes` is longer); returns their item ids.
async fn upload_many(
    http: &reqwest::Client,
    (bases, spread): (&[String], Spread),
    token: &str,
    (count, bytes): (usize, u64),
    piece: &bytes::Bytes,
) -> Vec<String> {
    let uploads = (0..count).map(|i| upload(http, (bases, spread), token, (i, bytes), piece));
    futures_util::future::join_all(uploads).await
}

/// Waits until every item is ready (panics if one fails); returns when that was seen.
async fn all_ready(http: &reqwest::Client, base: &str, token: &str, ids: &[String]) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(1800);
    for id in ids {
        loop {
            let a: Value = http
                .get(format!("{base}/api/v1/assets/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("item")
                .json()
                .await
                .expect("json");
            let jobs = a["jobs"].as_array().cloned().unwrap_or_default();
            let done = jobs
                .iter()
                .all(|j| matches!(j["state"].as_str(), Some("succeeded" | "dead")));
            match a["status"].as_str() {
                Some("ready") if done && !jobs.is_empty() => break,
                Some("uploading" | "processing" | "ready") => {}
                _ => panic!("the item did not become ready: {a}"),
            }
            assert!(Instant::now() < deadline, "not ready after 30 min: {a}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Instant::now()
}

/// A `seconds`-long 1280×720 H.264/AAC clip.
fn clip(dir: &Path, seconds: u32) -> bytes::Bytes {
    let out = dir.join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M"])
        .args(["-c:a", "aac", "-shortest"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg could not make the clip");
    std::fs::read(&out).expect("clip").into()
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn ratio(two: f64, one: f64) -> String {
    format!("{:.2}x", two / one)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    server::require(&["wrk", "taskset", "ffmpeg"], "cluster");
    let Some(s3) = cityx_storage::testing::s3_store() else {
        eprintln!(
            "no S3 store: run scripts/bench cluster, which starts the S3 test store (or set CITYX_TEST_S3_URL and the rest)"
        );
        std::process::exit(2);
    };
    let pg = std::env::var("CITYX_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let secs: u64 = server::env_or("CITYX_BENCH_SECS", 5);
    let uploads: usize = server::env_or("CITYX_BENCH_UPLOADS", 4);
    let mb: u64 = server::env_or("CITYX_BENCH_MB", 64);
    let clips: usize = server::env_or("CITYX_BENCH_CLIPS", 4);
    let seconds: u32 = server::env_or("CITYX_BENCH_SECONDS", 10);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(cpus >= 2, "the bench pins two nodes to a CPU each");
    let http = reqwest::Client::new();
    let queue = match std::env::var("CITYX_TEST_NATS_URL") {
        Ok(u) if !u.is_empty() => "NATS JetStream",
        _ => "the database (SKIP LOCKED)",
    };
    println!(
        "cityx cluster benchmark: PostgreSQL, S3 test store, jobs through {queue}; {cpus} CPUs, a node on one CPU each"
    );

    // 1 and 2: two API nodes on CPUs 0 and 1.
    let mut cluster = Cluster::new(&pg, &s3).await;
    let a = cluster.start("api", Some(0));
    let b = cluster.start("api", Some(1));
    let token = server::seed(&http, &a).await;
    let pids = cluster.pids();
    let item = upload_many(
        &http,
        (std::slice::from_ref(&a), Spread::PerUpload),
        &token,
        (1, 5),
        &bytes::Bytes::from_static(b"bytes"),
    )
    .await
    .remove(0);
    let path = format!("/api/v1/assets/{item}");
    // Warm both nodes (connections, caches) first.
    wrk_on(&[a.clone(), b.clone()], &path, &token, 1, 8);
    let (one_node, two_nodes) = (std::slice::from_ref(&a), &[a.clone(), b.clone()][..]);
    let mut best = [(0f64, 0f64, 0f64); 2];
    for _ in 0..2 {
        for (n, (bases, connections)) in [(one_node, 32), (two_nodes, 16)].into_iter().enumerate() {
            let cpu = Cpu::now(&pids);
            let rps = wrk_on(bases, &path, &token, secs, connections);
            let (node_secs, busy) = cpu.since(&pids);
            if rps > best[n].0 {
                best[n] = (rps, node_secs * 1000.0 / (rps * secs as f64), busy);
            }
        }
    }
    println!("  API, item JSON (wrk, 32 connections in all, {secs} s, best of 2):");
    for (label, (rps, ms, busy)) in ["one node ", "two nodes"].iter().zip(best) {
        println!(
            "    {label}  {rps:8.0} requests/s   nodes' CPU {ms:.3} ms/request   machine {:.0}% busy",
            busy * 100.0
        );
    }
    println!("    two nodes / one: {}", ratio(best[1].0, best[0].0));
    let mut table = Ratios::new("cluster: ratios (two nodes or workers / one, in the same run)");
    table.add(
        "API, item JSON: two nodes / one node",
        (best[1].0, best[0].0),
        "/s",
        Goal::None,
    );

    let piece = bytes::Bytes::from(
        (0..PIECE)
            .map(|i| (i as u8).wrapping_mul(131))
            .collect::<Vec<u8>>(),
    );
    let total = uploads as u64 * (mb << 20);
    let cases = [
        ("one node", one_node, Spread::PerUpload),
        (
            "two nodes, each upload on one",
            two_nodes,
            Spread::PerUpload,
        ),
        ("two nodes, PATCHes alternate", two_nodes, Spread::PerPatch),
    ];
    let mut best = [(0f64, 0f64, 0f64); 3];
    for _ in 0..2 {
        for (n, (_, bases, spread)) in cases.iter().enumerate() {
            let cpu = Cpu::now(&pids);
            let started = Instant::now();
            upload_many(&http, (bases, *spread), &token, (uploads, mb << 20), &piece).await;
            let rate = mb_s(total, started.elapsed());
            let (node_secs, busy) = cpu.since(&pids);
            if rate > best[n].0 {
                best[n] = (rate, node_secs * 1000.0 / (total as f64 / 1e6), busy);
            }
        }
    }
    println!(
        "  uploads: {uploads} at once of {mb} MiB in {} MiB PATCHes (best of 2):",
        PIECE >> 20
    );
    for ((label, _, _), (rate, ms, busy)) in cases.iter().zip(best) {
        println!(
            "    {label:<30}  {rate:7.1} MB/s   nodes' CPU {ms:.2} ms/MB   machine {:.0}% busy   ratio to one node: {}",
            busy * 100.0,
            ratio(rate, best[0].0)
        );
    }
    for ((label, _, _), (rate, _, _)) in cases.iter().zip(best).skip(1) {
        table.add(
            format!("uploads, {label} / one node"),
            (rate, best[0].0),
            "MB/s",
            Goal::None,
        );
    }
    cluster.remove().await;

    // 3: one worker, then two, each on a fresh database with the clips already queued.
    let dir = tempfile::tempdir().expect("dir");
    let body = clip(dir.path(), seconds);
    let mut took = Vec::new();
    for workers in [1, 2] {
        let mut cluster = Cluster::new(&pg, &s3).await;
        let api = cluster.start("api", None);
        let token = server::seed(&http, &api).await;
        let ids = upload_many(
            &http,
            (std::slice::from_ref(&api), Spread::PerUpload),
            &token,
            (clips, body.len() as u64),
            &body,
        )
        .await;
        let started = Instant::now();
        for cpu in 0..workers {
            cluster.start("worker", Some(cpu));
        }
        let done = all_ready(&http, &api, &token, &ids).await;
        took.push(done - started);
        cluster.remove().await;
    }
    println!(
        "  jobs: {clips} items of a {seconds} s 720p H.264/AAC clip, queued, then workers started, until all are ready:"
    );
    for (workers, t) in [1, 2].iter().zip(&took) {
        println!(
            "    {workers} worker{}  {:6.1} s   {:5.2} items/min",
            if *workers == 1 { " " } else { "s" },
            t.as_secs_f64(),
            clips as f64 * 60.0 / t.as_secs_f64()
        );
    }
    println!(
        "    two workers / one: {}",
        ratio(took[0].as_secs_f64(), took[1].as_secs_f64())
    );
    let per_minute = |t: &Duration| clips as f64 * 60.0 / t.as_secs_f64();
    table.add(
        "jobs: two workers / one worker",
        (per_minute(&took[1]), per_minute(&took[0])),
        "items/min",
        Goal::None,
    );
    table.print();
}

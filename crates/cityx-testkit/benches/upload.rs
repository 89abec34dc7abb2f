//! Upload benchmark: tus upload throughput on loopback against its references, measured side
//! by side in one run on the same disk, printed as ratios (the machine is shared; absolute
//! figures move, ratios hold).
//!
//!     cargo bench -p cityx-testkit --bench upload            # 1 GiB
//!     CITYX_BENCH_MB=256 cargo bench -p cityx-testkit --bench upload
//!
//! References: `dd conv=fdatasync` writing the same number of bytes to the same directory
//! (the disk's durable write rate), and SHA-256 and MD5 over the same bytes in memory (the
//! hashing the upload does on the way).
//!
//! Hashing on vs off: the PATCH's write path without HTTP (the spool appending the same
//! bytes in 64 MiB appends of 256 KiB buffers), once with the SHA-256 and MD5 threads as its
//! taps and once without, alternately, best of two each.
//!
//! Then memory: 50 uploads at once (`CITYX_BENCH_CONCURRENT_MB` each, default 64, in 4 MiB
//! PATCHes) into the release `cityx serve` binary in a process of its own (the bench builds
//! it), and that process's peak resident set (`VmHWM`).
//!
//! The disk of a shared machine moves a lot from one minute to the next, so dd and the tus
//! upload run alternately, twice each, and the best of each is compared.
//!
//! Ends with a table of the ratios.

#[path = "common/ratios.rs"]
mod ratios;
#[path = "common/server.rs"]
mod server;

use cityx_app::Hashers;
use cityx_core::{AssetId, UploadId};
use cityx_storage::spool::Spool;
use cityx_storage::{Storage, StorageKey};
use cityx_testkit::{TestApp, World};
use ratios::{Goal, Ratios};
use server::{Server, Spread, status_kib};
use sha2::Digest;
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024 * 1024;

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn dd(dir: &std::path::Path, mb: u64) -> Duration {
    let out = dir.join("dd.bin");
    let started = Instant::now();
    let ok = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "conv=fdatasync", "status=none"])
        .arg(format!("of={}", out.display()))
        .arg(format!("count={mb}"))
        .status()
        .expect("dd")
        .success();
    assert!(ok, "dd failed");
    let t = started.elapsed();
    let _ = std::fs::remove_file(out);
    t
}

fn hash_rates(data: &[u8]) -> (f64, f64) {
    let t = Instant::now();
    std::hint::black_box(sha2::Sha256::digest(data));
    let sha = mb_s(data.len() as u64, t.elapsed());
    let t = Instant::now();
    std::hint::black_box(md5::Md5::digest(data));
    (sha, mb_s(data.len() as u64, t.elapsed()))
}

/// MB/s of the spool appending `bytes` from `chunk`, with or without the hash threads.
async fn spool_rate(spool: &Spool, bytes: u64, chunk: &bytes::Bytes, hashed: bool) -> f64 {
    const PIECE: usize = 256 * 1024;
    let id = UploadId::new();
    let master = StorageKey::master(AssetId::new());
    let state = spool.create(id, &master).await.expect("create");
    let started = Instant::now();
    let mut offset = 0u64;
    while offset < bytes {
        let n = (bytes - offset).min(chunk.len() as u64) as usize;
        let pieces = (0..n)
            .step_by(PIECE)
            .map(|at| Ok::<_, std::convert::Infallible>(chunk.slice(at..(at + PIECE).min(n))));
        let hashers = hashed.then(Hashers::fresh);
        let taps = hashers.as_ref().map_or(&[][..], |h| &h.taps[..]);
        let done = spool
            .append(
                id,
                &master,
                &state,
                offset,
                bytes,
                futures_util::stream::iter(pieces),
                taps,
                |_| {},
            )
            .await
            .expect("append");
        if let Some(h) = hashers {
            std::hint::black_box(h.hex_digests().await.expect("hashes"));
        }
        offset = done.offset;
    }
    let rate = mb_s(bytes, started.elapsed());
    spool.remove(id, &master, &state).await.expect("remove");
    rate
}

fn main() {
    let mb: u64 = std::env::var("CITYX_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // Jobs off: measure the upload, not the probe that follows it.
        let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
        let w = World::seed(&app).await;
        let token = w.user("editor@a").token.clone();
        let bytes = mb * 1024 * 1024;
        let chunk: Vec<u8> = (0..CHUNK).map(|i| (i as u8).wrapping_mul(131)).collect();

        let (sha, md5) = hash_rates(&chunk);
        // One allocation, shared by every PATCH (the client copies nothing).
        let chunk = bytes::Bytes::from(chunk);
        let (mut dd_rate, mut up_rate) = (0f64, 0f64);
        for _ in 0..2 {
            dd_rate = dd_rate.max(mb_s(bytes, dd(&app.data_dir(), mb)));
            let started = Instant::now();
            let base = [app.url("")];
            server::upload(&app.http, (&base, Spread::PerUpload), &token, (0, bytes), &chunk).await;
            up_rate = up_rate.max(mb_s(bytes, started.elapsed()));
        }
        println!(
            "cityx upload benchmark: {mb} MiB in {} MiB PATCHes, loopback, data dir {}",
            CHUNK >> 20,
            app.data_dir().display()
        );
        println!("  dd conv=fdatasync (reference)  {dd_rate:8.1} MB/s");
        println!(
            "  tus upload (hashed, durable)   {up_rate:8.1} MB/s   ratio to dd: {:.2}x",
            up_rate / dd_rate
        );
        println!("  SHA-256 in memory              {sha:8.1} MB/s");
        println!("  MD5 in memory                  {md5:8.1} MB/s");

        let objects = app.data_dir().join("bench-objects");
        let storage = Storage::from_url(&format!("file://{}", objects.display())).expect("storage");
        let spool = Spool::open(app.data_dir().join("bench-spool"), storage).expect("spool");
        let (mut off, mut on) = (0f64, 0f64);
        for _ in 0..2 {
            off = off.max(spool_rate(&spool, bytes, &chunk, false).await);
            on = on.max(spool_rate(&spool, bytes, &chunk, true).await);
        }
        println!("  write path, hashes off         {off:8.1} MB/s");
        println!(
            "  write path, SHA-256 + MD5 on   {on:8.1} MB/s   ratio on/off: {:.2}x (goal ≥ 0.95x)",
            on / off
        );

        let each: u64 = std::env::var("CITYX_BENCH_CONCURRENT_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        app.stop().await;
        let server = Server::start(&reqwest::Client::new(), &[]).await;
        let pid = server.child.id();
        let before = status_kib(pid, "VmRSS");
        let piece = chunk.slice(..4 << 20);
        let started = Instant::now();
        let uploads = (0..50).map(|_| {
            let (server, piece) = (&server, piece.clone());
            async move {
                // A client each, as 50 stations would have.
                let http = reqwest::Client::new();
                let bases = std::slice::from_ref(&server.base);
                let spread = (bases, Spread::PerUpload);
                server::upload(&http, spread, &server.token, (0, each << 20), &piece).await
            }
        });
        futures_util::future::join_all(uploads).await;
        let took = started.elapsed();
        let peak = status_kib(pid, "VmHWM") / 1024.0;
        println!(
            "  50 concurrent uploads of {each} MiB into `cityx serve`: {:.1} MB/s in all; server peak RSS {peak:.0} MB (idle before: {:.0} MB; goal < 300 MB)",
            mb_s(50 * (each << 20), took),
            before / 1024.0
        );

        let mut table = Ratios::new("upload: ratios (references from the same run)");
        table
            .add(
                "tus upload / dd conv=fdatasync, same bytes, same directory",
                (up_rate, dd_rate),
                "MB/s",
                Goal::AtLeast(0.8),
            )
            .add(
                "write path, SHA-256 + MD5 on / off",
                (on, off),
                "MB/s",
                Goal::AtLeast(0.95),
            )
            .add(
                "tus upload / MD5 in memory (one core)",
                (up_rate, md5),
                "MB/s",
                Goal::None,
            )
            .add(
                "50 uploads at once, server peak RSS / the goal",
                (peak, 300.0),
                "MB",
                Goal::AtMost(1.0),
            );
        table.print();
    });
}

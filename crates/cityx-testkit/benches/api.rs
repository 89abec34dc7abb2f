//! API benchmark: the JSON API of the release `cityx serve` on embedded SQLite, under load
//! from a second process (wrk, Debian's) and from an open-loop generator at a fixed rate.
//!
//!     scripts/bench api              # installs wrk if missing
//!     cargo bench -p cityx-testkit --bench api
//!
//! 1. Item JSON by id (`GET /api/v1/assets/{id}` with a bearer token): the most requests per
//!    second wrk reaches, then latency at half of that rate, measured open-loop (requests
//!    are sent on a fixed schedule and timed from when they were due, so a slow answer
//!    delays the next one's clock: no coordinated omission).
//! 2. Search (`GET /api/v1/search?q=…`, rotating 15 Chinese queries, as a station sees them,
//!    with facet counts and snippets) over `CITYX_BENCH_ITEMS` generated items (default
//!    100,000) indexed before the server starts, with wrk: the 15 questions again and again
//!    (answered from memory after the first time, until the index changes), and a question
//!    never asked before on every request (always searched).
//!
//! `CITYX_BENCH_SECS` sets each run's length (default 5).
//!
//! Ends with a table of ratios: the figures against their goals (this bench runs no bare
//! reference), and new questions against repeated ones.

#[path = "common/ratios.rs"]
mod ratios;
#[path = "common/server.rs"]
mod server;

#[path = "../../cityx-search/benches/support/generated.rs"]
mod generated;

use ratios::{Goal, Ratios};
use server::{Server, wrk, wrk_latency};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Sends GETs to `url` at `rate` per second for `secs` over `connections` connections, each
/// on its own fixed schedule; returns the latencies in ms.
///
/// A request is timed from when it was due if it went out late because the answer before it
/// on its connection was late (no coordinated omission), and from when it went out
/// otherwise: the generator's own timer (1 ms grain) is not the server's delay. Each
/// connection is a plain socket writing one prepared request and reading `Content-Length`
/// bytes, so that the generator takes little of the two cores it shares with the server.
async fn open_loop(url: &str, token: &str, rate: f64, secs: u64, connections: usize) -> Vec<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').expect("path"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n");
    let per_connection = Duration::from_secs_f64(connections as f64 / rate);
    let count = (rate * secs as f64 / connections as f64) as u32;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (host, request) = (host.to_owned(), request.clone());
        // Spread the connections' schedules across one interval.
        let offset = per_connection.mul_f64(c as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            let mut conn = tokio::net::TcpStream::connect(&host)
                .await
                .expect("connect");
            conn.set_nodelay(true).expect("nodelay");
            let mut buf = Vec::with_capacity(64 << 10);
            let mut times = Vec::with_capacity(count as usize);
            let mut previous_done = tokio::time::Instant::now();
            for i in 0..count {
                let due = start + offset + per_connection * i;
                tokio::time::sleep_until(due).await;
                let from = if previous_done > due {
                    due
                } else {
                    tokio::time::Instant::now()
                };
                conn.write_all(request.as_bytes()).await.expect("send");
                buf.clear();
                // Read until the head is in, then until the whole body (Content-Length) is.
                let mut whole: Option<usize> = None;
                while whole.is_none_or(|length| buf.len() < length) {
                    let mut chunk = [0u8; 16 << 10];
                    let n = conn.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "the server closed the connection");
                    buf.extend_from_slice(&chunk[..n]);
                    if whole.is_some() {
                        continue;
                    }
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        assert!(head.starts_with("http/1.1 200"), "{head}");
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .expect("content-length");
                        whole = Some(end + 4 + length);
                    }
                }
                previous_done = tokio::time::Instant::now();
                times.push((previous_done - from).as_secs_f64() * 1000.0);
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_by(f64::total_cmp);
    all
}

fn main() {
    server::require(&["wrk"], "api");
    let secs: u64 = server::env_or("CITYX_BENCH_SECS", 5);
    let items: usize = server::env_or("CITYX_BENCH_ITEMS", 100_000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The index is built before the server starts, in the data directory it will open.
    let data = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    drop(generated::index(&data.path().join("search"), items));
    println!(
        "{items} generated items indexed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();
    let server = rt.block_on(Server::start_in(&http, &[], data));
    let (base, token) = (server.base.clone(), server.token.clone());
    let id = rt.block_on(server.upload(&http, "压测", b"bytes".to_vec()));
    let item = format!("{base}/api/v1/assets/{id}");

    wrk(&item, &token, 1, 8, None);
    let (max, text) = wrk(&item, &token, secs, 32, None);
    println!(
        "item JSON, wrk -t1 -c32: {max:.0} requests/s at most (p50 {}, p99 {})",
        wrk_latency(&text, "50%"),
        wrk_latency(&text, "99%")
    );
    let half = max / 2.0;
    let times = rt.block_on(open_loop(&item, &token, half, secs, 32));
    let half_p99 = percentile(&times, 0.99);
    println!(
        "item JSON at half of that ({half:.0} requests/s, open loop, {} requests): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        percentile(&times, 0.5),
        half_p99,
        times[times.len() - 1]
    );

    let paths: Vec<String> = generated::QUERIES
        .iter()
        .map(|q| {
            format!(
                "\"/api/v1/search?q={}\"",
                percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    // Two ways of asking: the 15 questions over and over (the server may answer a question
    // it was asked since the index last changed from memory), and every request a question
    // never asked before (the same words with a duration bound every item passes, different
    // each time), which is always searched.
    let script = |name: &str, suffix: &str| {
        let file = server.dir.path().join(name);
        std::fs::write(
            &file,
            format!(
                "local paths = {{{}}}\nlocal n = 0\nrequest = function()\n  n = n + 1\n  \
                 return wrk.format(\"GET\", paths[(n % #paths) + 1]{suffix})\nend\n",
                paths.join(", ")
            ),
        )
        .expect("script");
        file.to_string_lossy().into_owned()
    };
    let repeated = script("repeated.lua", "");
    let fresh = script("fresh.lua", " .. \"&max_duration=\" .. (100000 + n)");
    let search = format!("{base}/api/v1/search");
    wrk(&search, &token, 1, 8, Some(&repeated));
    // Requests/s: [repeated, fresh] × [-c8, -c32].
    let mut search_rps = [[0f64; 2]; 2];
    let ways = [
        ("15 questions again and again", &repeated),
        ("a new question each time", &fresh),
    ];
    for ((how, script), rates) in ways.into_iter().zip(&mut search_rps) {
        for (connections, rate) in [8, 32].into_iter().zip(rates.iter_mut()) {
            let (rps, text) = wrk(&search, &token, secs, connections, Some(script));
            *rate = rps;
            println!(
                "search over {items} items, {how}, wrk -t1 -c{connections}: {rps:.0} requests/s (p50 {}, p99 {})",
                wrk_latency(&text, "50%"),
                wrk_latency(&text, "99%")
            );
        }
    }

    let [[repeated8, repeated32], [fresh8, fresh32]] = search_rps;
    let mut table = Ratios::new(
        "api: ratios (no bare reference runs here: figures against the goals, and new questions against repeated ones)",
    );
    table
        .add(
            "item JSON, most requests/s (wrk -c32) / the goal",
            (max, 10_000.0),
            "/s",
            Goal::AtLeast(1.0),
        )
        .add(
            "item JSON at half that rate, open-loop p99 / the goal",
            (half_p99, 5.0),
            "ms",
            Goal::AtMost(1.0),
        )
        .add(
            "search, a new question each time (wrk -c8) / the goal",
            (fresh8, 2_000.0),
            "/s",
            Goal::AtLeast(1.0),
        )
        .add(
            "search, a new question each time / the 15 questions again (wrk -c8)",
            (fresh8, repeated8),
            "/s",
            Goal::None,
        )
        .add(
            "search, a new question each time / the 15 questions again (wrk -c32)",
            (fresh32, repeated32),
            "/s",
            Goal::None,
        );
    table.print();
}

//! Search at scale: indexing throughput and query latency over generated Chinese items.
//!
//! `cargo bench -p cityx-search --bench search -- 100000 1000000` (item counts; default
//! 100000). Items are built from the relevance corpus's headlines and summaries, recombined
//! with a fixed seed, so every run indexes the same text. Prints items/s for indexing (one
//! writer thread, commits every 10,000 items as the follower does in batches) and p50/p99 of
//! 2,000 searches (text queries with and without filters and facets, as a station sees them).

#[path = "support/generated.rs"]
mod generated;

use cityx_search::{Filters, Request, Sort, Viewer};
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run(n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let start = Instant::now();
    let (index, stations) = generated::index(dir.path(), n);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} items: indexed in {secs:.1} s = {:.0} items/s",
        n as f64 / secs
    );

    let queries = generated::QUERIES;
    let viewer = Viewer::Station(stations[0]);
    let mut times = Vec::with_capacity(2000);
    let mut bare = Vec::with_capacity(2000);
    for i in 0..2000 {
        let q = queries[i % queries.len()];
        let mut req = Request {
            q: q.into(),
            limit: 20,
            ..Default::default()
        };
        match i % 4 {
            1 => {
                req.filters = Filters {
                    resolution: Some("1080p".into()),
                    ..Default::default()
                }
            }
            2 => req.sort = Sort::Newest,
            3 => {
                req.filters = Filters {
                    min_duration: Some(60.0),
                    qc: Some("pass".into()),
                    ..Default::default()
                }
            }
            _ => {}
        }
        // The same query with and without facet counts, one after the other.
        for (skip, times) in [(false, &mut times), (true, &mut bare)] {
            req.skip_facets = skip;
            let t = Instant::now();
            let r = index
                .search(&req, viewer, 1_800_000_000_000)
                .expect("search");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(r.total > 0, "{q} finds something");
        }
    }
    for (what, times) in [
        ("facets and snippets", &mut times),
        ("snippets, no facets", &mut bare),
    ] {
        times.sort_by(f64::total_cmp);
        println!(
            "{n} items: search p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (2000 queries, {what})",
            percentile(times, 0.5),
            percentile(times, 0.99),
            times[times.len() - 1]
        );
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    for n in if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    } {
        run(n);
    }
}

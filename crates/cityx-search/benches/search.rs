//! Search at scale: indexing throughput, then searches that are searches, beside bare tantivy
//! on the same index in the same run.
//!
//!     cargo bench -p cityx-search --bench search -- 100000 1000000
//!
//! Arguments are item counts (default 100000); `CITYX_BENCH_QUERIES` sets how many questions
//! are measured per count (default 2000). For each count:
//!
//! 1. Indexing: generated items (the relevance corpus's headlines and summaries recombined
//!    with a fixed seed: every run indexes the same text), one writer thread, a commit every
//!    10,000 items as the follower does in batches.
//! 2. New questions: every question is different (words of the corpus, alone or two or three
//!    of one story; `support/questions.rs`), so none is answered from cityx-search's answer
//!    memory. A quarter each plain, with a resolution filter, sorted by date, and with
//!    duration and QC filters; as one station sees them (visibility clause on); a page of
//!    20 hits with `<mark>` snippets; once with facet counts and once without.
//! 3. The reference: the same requests to bare tantivy over the same index directory (same
//!    documents, schema and segments), built as the same tantivy query, facets counted by
//!    collecting every match and counting each facet column's values (`support/bare.rs`).
//!    cityx and the reference take turns question by question, in rotating order, on one
//!    thread. Every answer is checked against the reference's: same total, same hits in the
//!    same order, same facet counts.
//! 4. Repeated questions: the generator's 15 fixed questions in the four variants, asked again
//!    and again after their first answer, so answered from the answer memory. That is not a
//!    search, and is printed on a line of its own.
//!
//! Ends with a table of ratios, cityx / bare tantivy.

#[path = "support/bare.rs"]
mod bare;
#[path = "support/generated.rs"]
mod generated;
#[path = "support/questions.rs"]
mod questions;
#[path = "../../cityx-testkit/benches/common/ratios.rs"]
mod ratios;

use cityx_search::{Filters, Request, Results, SearchIndex, Sort, Viewer};
use questions::Kind;
use ratios::{Goal, Ratios};
use std::time::Instant;

/// The time of every search (epoch ms): no item is hidden then.
const NOW: i64 = 1_800_000_000_000;
/// Questions asked of both before the measured ones, to warm the caches.
const WARM: usize = 50;
/// How many times each repeated question is measured.
const REPEATS: usize = 20;

/// Durations of one kind of search, in ms.
#[derive(Default)]
struct Times(Vec<f64>);

impl Times {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.0.push(started.elapsed().as_secs_f64() * 1000.0);
        out
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    /// Searches per second, one after the other on one thread.
    fn per_second(&self) -> f64 {
        self.0.len() as f64 * 1000.0 / self.0.iter().sum::<f64>()
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} queries/s ({} queries, one thread)",
            self.percentile(0.5),
            self.percentile(0.99),
            self.percentile(1.0),
            self.per_second(),
            self.0.len()
        )
    }
}

/// The `i`th request: a quarter each plain, 1080p only, newest first, and a minute or longer
/// with QC passed.
fn request(q: &str, i: usize, skip_facets: bool) -> Request {
    let mut req = Request {
        q: q.into(),
        limit: 20,
        skip_facets,
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
    req
}

/// Panics unless cityx and the reference gave the same answer.
fn same(q: &str, ours: &Results, theirs: &bare::Answer, facets: bool) {
    let ids: Vec<String> = ours.hits.iter().map(|h| h.id.to_string()).collect();
    assert_eq!(
        (ours.total, &ids),
        (theirs.total, &theirs.ids),
        "{q}: cityx and bare tantivy found different items"
    );
    if facets {
        let f = &ours.facets;
        let ours: Vec<Vec<bare::FacetValue>> = [
            &f.station,
            &f.province,
            &f.city,
            &f.category,
            &f.resolution,
            &f.qc,
        ]
        .iter()
        .map(|d| {
            d.iter()
                .map(|c| (c.value.clone(), c.label.clone(), c.count))
                .collect()
        })
        .collect();
        assert_eq!(
            ours, theirs.facets,
            "{q}: cityx and bare tantivy counted different facets"
        );
    }
}

/// One item count's figures.
#[derive(Default)]
struct Run {
    n: usize,
    cityx: Times,
    bare: Times,
    cityx_plain: Times,
    bare_plain: Times,
}

fn run(n: usize, count: usize) -> Run {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("search");
    let start = Instant::now();
    let (index, stations) = generated::index(&path, n);
    let secs = start.elapsed().as_secs_f64();
    // Dropping the writer stops its merges: both open the same, final segments.
    drop(index);
    println!(
        "{n} items: indexed in {secs:.1} s = {:.0} items/s",
        n as f64 / secs
    );
    let segments = bare::segment_ids(&path).expect("segments");
    let (index, fresh) = SearchIndex::open(&path).expect("reopen");
    assert!(!fresh, "the index was kept");
    let bare = bare::Bare::open(&path).expect("bare tantivy");
    assert_eq!(segments, bare::segment_ids(&path).expect("segments"));
    let viewer = Viewer::Station(stations[0]);

    let qs = questions::distinct(WARM + count);
    let (warm, measured) = qs.split_at(WARM);
    let kinds = |k: Kind| measured.iter().filter(|(_, x)| *x == k).count();
    println!(
        "{n} items: {count} questions, each asked once ({} single words, {} pairs and {} triples of one story's words); {} segments, searched by both",
        kinds(Kind::Word),
        kinds(Kind::Pair),
        kinds(Kind::Triple),
        segments.len()
    );

    let mut r = Run {
        n,
        ..Run::default()
    };
    let mut warm_up = Run::default();
    let mut totals = Vec::with_capacity(count);
    for (i, (q, _)) in warm.iter().chain(measured).enumerate() {
        let t = if i < WARM { &mut warm_up } else { &mut r };
        let with = request(q, i, false);
        let without = request(q, i, true);
        let (mut ours, mut theirs, mut ours_plain, mut theirs_plain) = (None, None, None, None);
        // Each goes first in turn, so that neither gains from the other's warm caches.
        for step in 0..4 {
            match (i + step) % 4 {
                0 => ours = Some(t.cityx.time(|| index.search(&with, viewer, NOW))),
                1 => theirs = Some(t.bare.time(|| bare.search(&with, viewer, NOW))),
                2 => ours_plain = Some(t.cityx_plain.time(|| index.search(&without, viewer, NOW))),
                _ => theirs_plain = Some(t.bare_plain.time(|| bare.search(&without, viewer, NOW))),
            }
        }
        let ours = ours.expect("ran").expect("search");
        let theirs = theirs.expect("ran").expect("bare search");
        same(q, &ours, &theirs, true);
        same(
            q,
            &ours_plain.expect("ran").expect("search"),
            &theirs_plain.expect("ran").expect("bare search"),
            false,
        );
        if i >= WARM {
            totals.push(ours.total);
        }
    }
    totals.sort_unstable();
    println!(
        "{n} items: matches per question: median {}, p90 {}, max {}; {} found nothing",
        totals[totals.len() / 2],
        totals[totals.len() * 9 / 10],
        totals[totals.len() - 1],
        totals.iter().filter(|&&t| t == 0).count()
    );
    for (what, times) in [
        ("cityx, facets and snippets", &r.cityx),
        ("bare tantivy, facets and snippets", &r.bare),
        ("cityx, snippets, no facets", &r.cityx_plain),
        ("bare tantivy, snippets, no facets", &r.bare_plain),
    ] {
        println!("{n} items: new questions, {what:<34} {}", times.line());
    }
    println!(
        "{n} items: checked: for every question both found the same total, the same 20 hits in the same order and the same facet counts"
    );

    // Answers from memory: the 15 fixed questions of the generator (one in traditional
    // characters), in the four variants. Each is answered twice first (the memory empties
    // itself when full, at most once in 120 answers), then only asked again.
    let again: Vec<Request> = generated::QUERIES
        .iter()
        .flat_map(|q| (0..4).map(move |i| request(q, i, false)))
        .collect();
    for _ in 0..2 {
        for req in &again {
            index.search(req, viewer, NOW).expect("search");
        }
    }
    let mut memory = Times::default();
    for _ in 0..REPEATS {
        for req in &again {
            memory.time(|| index.search(req, viewer, NOW).expect("search"));
        }
    }
    println!(
        "{n} items: repeated questions, answered from cityx's answer memory, not searched ({} requests asked {REPEATS} times more): {}",
        again.len(),
        memory.line()
    );
    r
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let count: usize = std::env::var("CITYX_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runs: Vec<Run> = if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    }
    .into_iter()
    .map(|n| run(n, count))
    .collect();

    let mut table = Ratios::new(
        "search: cityx-search / bare tantivy, same index and new questions, one thread",
    );
    for r in &runs {
        let n = r.n;
        table
            .add(
                format!("{n} items, queries/s with facets and snippets"),
                (r.cityx.per_second(), r.bare.per_second()),
                "/s",
                Goal::AtLeast(0.8),
            )
            .add(
                format!("{n} items, queries/s with snippets, no facets"),
                (r.cityx_plain.per_second(), r.bare_plain.per_second()),
                "/s",
                Goal::None,
            )
            .add(
                format!("{n} items, p99 with facets"),
                (r.cityx.percentile(0.99), r.bare.percentile(0.99)),
                "ms",
                Goal::None,
            )
            .add(
                format!("{n} items, p99 without facets"),
                (
                    r.cityx_plain.percentile(0.99),
                    r.bare_plain.percentile(0.99),
                ),
                "ms",
                Goal::None,
            );
        if n >= 1_000_000 {
            table.add(
                format!("{n} items, cityx p99 with facets / the goal (10 ms)"),
                (r.cityx.percentile(0.99), 10.0),
                "ms",
                Goal::AtMost(1.0),
            );
        }
    }
    table.print();
}

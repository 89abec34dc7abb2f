//! Search at scale: indexing throughput and query latency over generated Chinese items.
//!
//! `cargo bench -p cityx-search --bench search -- 100000 1000000` (item counts; default
//! 100000). Items are built from the relevance corpus's headlines and summaries, recombined
//! with a fixed seed, so every run indexes the same text. Prints items/s for indexing (one
//! writer thread, commits every 10,000 items as the follower does in batches) and p50/p99 of
//! 2,000 searches (text queries with and without filters and facets, as a station sees them).

use cityx_core::{AssetId, StationId, Visibility};
use cityx_search::{Doc, Filters, Request, SearchIndex, Sort, Viewer};
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

fn corpus() -> Vec<(String, String, String, String)> {
    include_str!("../tests/it/corpus/news.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.len() == 5).then(|| {
                (
                    c[1].to_owned(),
                    c[2].to_owned(),
                    c[3].to_owned(),
                    c[4].to_owned(),
                )
            })
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run(n: usize) {
    let corpus = corpus();
    let stations: Vec<StationId> = (0..200).map(|_| StationId::new()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let dir = tempfile::tempdir().expect("dir");
    let (index, _) = SearchIndex::open(dir.path()).expect("index");
    let start = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let (city, category, title, summary) = rng.pick(&corpus).clone();
        let (_, _, other_title, other_summary) = rng.pick(&corpus);
        let station = *rng.pick(&stations);
        batch.push(Doc {
            id: AssetId::new(),
            station_id: station,
            station_name: format!("{city}广播电视台"),
            title: format!(
                "{title} {}",
                other_title.split_whitespace().next().unwrap_or("")
            ),
            summary: format!("{summary}{other_summary}"),
            city,
            province: String::new(),
            category,
            status: "ready".into(),
            visibility: if i % 10 == 0 {
                Visibility::Private
            } else {
                Visibility::Exchange
            },
            created: 1_700_000_000_000 + i as i64 * 1000,
            duration_s: (rng.next() % 600) as f64,
            height: *rng.pick(&[360, 720, 1080]),
            qc: rng.pick(&["pass", "warn"]).to_string(),
            adoptions: rng.next() % 20,
            has_poster: true,
            ..Default::default()
        });
        if batch.len() == 10_000 {
            index.upsert(&batch).expect("upsert");
            index.commit(&i.to_string()).expect("commit");
            batch.clear();
        }
    }
    index.upsert(&batch).expect("upsert");
    index.commit("end").expect("commit");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} items: indexed in {secs:.1} s = {:.0} items/s",
        n as f64 / secs
    );

    let queries = [
        "台风",
        "台风登陆",
        "亚运会 游泳",
        "春运 高铁",
        "高考",
        "人工智能",
        "大熊猫",
        "暴雨 内涝",
        "马拉松",
        "新能源汽车",
        "颱風",
        "老旧小区 加装电梯",
        "消防 演练",
        "进博会",
        "候鸟",
    ];
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

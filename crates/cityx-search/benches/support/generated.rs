//! Generated Chinese items for the search benchmarks: the relevance corpus's headlines and
//! summaries recombined with a fixed seed, so that every run indexes the same text. Shared by
//! this crate's `search` bench and the API bench of `cityx-testkit` (included by path).

use cityx_core::{AssetId, StationId, Visibility};
use cityx_search::{Doc, SearchIndex};
use std::path::Path;

/// Queries with known matches in the generated items: broad and narrow, one in traditional
/// characters.
pub const QUERIES: [&str; 15] = [
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
    include_str!("../../tests/it/corpus/news.tsv")
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

/// Indexes `n` generated items into a new index in `dir` (one writer, a commit every 10,000
/// items, as the follower does in batches): 200 stations, a tenth of the items private.
/// Returns the index and the stations.
pub fn index(dir: &Path, n: usize) -> (SearchIndex, Vec<StationId>) {
    let corpus = corpus();
    let stations: Vec<StationId> = (0..200).map(|_| StationId::new()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (index, _) = SearchIndex::open(dir).expect("index");
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
    (index, stations)
}

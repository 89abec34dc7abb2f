//! Questions for the search bench, every one different: words of the relevance corpus (the
//! text the generated items are made of), alone or two and three of one story together, so
//! that no question is asked twice and none is answered from the answer memory.

use cityx_search::text::{Mode, words};
use std::collections::HashSet;

/// How a question was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One word of the corpus: broad.
    Word,
    /// Two words of one story's headline and summary.
    Pair,
    /// Three words in a row of one story's headline and summary: narrow.
    Triple,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
    }
}

/// The words (two characters or more, as a query cuts them) of each story's headline and
/// summary, each once.
fn stories() -> Vec<Vec<String>> {
    include_str!("../../tests/it/corpus/news.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.len() == 5).then(|| format!("{} {}", c[3], c[4]))
        })
        .map(|text| {
            let mut out: Vec<String> = Vec::new();
            for w in words(&text, Mode::Query) {
                if w.text.chars().count() >= 2 && !out.contains(&w.text) {
                    out.push(w.text);
                }
            }
            out
        })
        .collect()
}

/// `n` questions in a fixed order, by turns a word, a pair and a triple. No two give the same
/// words when cut as a query. Panics when the corpus cannot give `n`.
pub fn distinct(n: usize) -> Vec<(String, Kind)> {
    let stories = stories();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut pools: Vec<(Kind, Vec<String>)> = vec![
        (Kind::Word, Vec::new()),
        (Kind::Pair, Vec::new()),
        (Kind::Triple, Vec::new()),
    ];
    for story in &stories {
        pools[0].1.extend(story.iter().cloned());
        for (i, a) in story.iter().enumerate() {
            for b in &story[i + 1..] {
                pools[1].1.push(format!("{a} {b}"));
            }
        }
        for w in story.windows(3) {
            pools[2].1.push(w.join(" "));
        }
    }
    for (_, pool) in &mut pools {
        rng.shuffle(pool);
    }
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut next = [0usize; 3];
    while out.len() < n {
        let before = out.len();
        for (p, (kind, pool)) in pools.iter().enumerate() {
            while out.len() < n && next[p] < pool.len() {
                let q = &pool[next[p]];
                next[p] += 1;
                let mut key: Vec<String> =
                    words(q, Mode::Query).into_iter().map(|w| w.text).collect();
                key.sort();
                key.dedup();
                if !key.is_empty() && seen.insert(key) {
                    out.push((q.clone(), *kind));
                    break;
                }
            }
        }
        assert!(
            out.len() > before,
            "the corpus gives only {} distinct questions",
            out.len()
        );
    }
    out
}

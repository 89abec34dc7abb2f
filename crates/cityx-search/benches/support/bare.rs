//! The search bench's reference: bare tantivy on the very index directory cityx-search wrote
//! (same documents, schema and segments), asked the same question as the same tantivy query,
//! with facets counted the plainest correct way.
//!
//! What it shares with cityx-search is only the analysis the index was built with
//! (`cityx_search::text`: jieba, traditional to simplified, width and case folding), which
//! turns the user's text into words. Everything after the words is written here, from the
//! schema's field names, as a tantivy user would write it:
//! - the query: every word (any word, when every word finds nothing) over the six text fields
//!   with their boosts, a long word also as all of its parts at half weight; the filters and
//!   the visibility clause as unscored clauses; the same sort and page;
//! - facets: every matching document collected, then each facet column's value of each one
//!   counted (by term ordinal), and the counted values named;
//! - the page: each hit's stored document, and `<mark>` snippets of its title and summary
//!   from tantivy's `SnippetGenerator`.
//!
//! The bench checks that both give the same total, the same hits in the same order and the
//! same facet counts for every question.

use cityx_search::text::{ChineseTokenizer, Mode, words};
use cityx_search::{Filters, Request, Sort, Viewer};
use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, DocId, Index, IndexReader, Order, ReloadPolicy, Score, Searcher, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};

/// The text fields searched, with their boosts (as cityx-search's `BOOSTS`).
const BOOSTS: [(&str, f32); 6] = [
    ("title", 3.0),
    ("keywords", 2.5),
    ("city_text", 2.0),
    ("station_name", 1.5),
    ("summary", 1.5),
    ("script", 1.0),
];

/// The facet columns, in the order of `cityx_search::Facets`.
const FACETS: [&str; 6] = [
    "facet_station",
    "facet_province",
    "facet_city",
    "facet_category",
    "facet_resolution",
    "facet_qc",
];

/// One facet value as a page shows it: value, label, count.
pub type FacetValue = (String, String, u64);

/// What a search gives: the total, the page's ids, their marked title and summary, and
/// (when asked) the 20 most frequent values of each facet.
#[derive(Debug, Default)]
pub struct Answer {
    pub total: usize,
    pub ids: Vec<String>,
    pub html: Vec<(String, String)>,
    pub facets: Vec<Vec<FacetValue>>,
}

pub struct Bare {
    reader: IndexReader,
    text: Vec<(Field, f32)>,
    f: HashMap<&'static str, Field>,
}

impl Bare {
    /// Opens the index in `dir` (written by cityx-search) for reading.
    pub fn open(dir: &Path) -> tantivy::Result<Bare> {
        let index = Index::open_in_dir(dir)?;
        // Snippets cut the stored text with the query's tokenizer, whose words follow one
        // another; it is the one registered here under the fields' tokenizer name.
        index
            .tokenizers()
            .register("cityx_zh", ChineseTokenizer(Mode::Query));
        let schema = index.schema();
        let mut f = HashMap::new();
        for name in [
            "id",
            "station",
            "title",
            "summary",
            "city",
            "province",
            "category",
            "status",
            "visibility",
            "shared",
            "hidden_until",
            "created",
            "duration",
            "resolution",
            "qc",
            "zone",
        ] {
            f.insert(name, schema.get_field(name)?);
        }
        let text = BOOSTS
            .iter()
            .map(|(name, boost)| Ok((schema.get_field(name)?, *boost)))
            .collect::<tantivy::Result<_>>()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Bare { reader, text, f })
    }

    fn term(&self, field: &str, value: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(self.f[field], value),
            IndexRecordOption::Basic,
        ))
    }

    /// One word over every text field, boosted; a word of three characters or more also
    /// matches as all of its parts (as the index cut it), at half weight.
    fn word(&self, word: &str) -> Box<dyn Query> {
        let over_fields = |w: &str| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                self.text
                    .iter()
                    .map(|&(field, boost)| {
                        let term = TermQuery::new(
                            Term::from_field_text(field, w),
                            IndexRecordOption::WithFreqs,
                        );
                        let q: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(term), boost));
                        (Occur::Should, q)
                    })
                    .collect(),
            ))
        };
        if word.chars().count() < 3 {
            return over_fields(word);
        }
        let parts: Vec<String> = words(word, Mode::Index)
            .into_iter()
            .map(|w| w.text)
            .filter(|w| w != word)
            .collect();
        if parts.is_empty() {
            return over_fields(word);
        }
        let all_parts = BooleanQuery::new(
            parts
                .iter()
                .map(|p| (Occur::Must, over_fields(p)))
                .collect(),
        );
        Box::new(BooleanQuery::new(vec![
            (Occur::Should, over_fields(word)),
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(all_parts), 0.5)),
            ),
        ]))
    }

    /// Who may see what: a station its own items, and other stations' ready items shared
    /// with everyone or with it, out of any hiding embargo at `now`.
    fn visibility(&self, viewer: Viewer, now: i64) -> Option<Box<dyn Query>> {
        let own = match viewer {
            Viewer::All => return None,
            Viewer::Station(s) => Some(s.to_string()),
            Viewer::Nobody => None,
        };
        let mut listed = vec![
            (Occur::Should, self.term("visibility", "exchange")),
            (Occur::Should, self.term("visibility", "public")),
        ];
        if let Some(own) = &own {
            listed.push((Occur::Should, self.term("shared", own)));
        }
        let out_of_hiding = RangeQuery::new(
            Bound::Unbounded,
            Bound::Included(Term::from_field_i64(self.f["hidden_until"], now)),
        );
        let others: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, self.term("status", "ready")),
            (Occur::Must, Box::new(BooleanQuery::new(listed))),
            (Occur::Must, Box::new(out_of_hiding)),
        ]));
        let mut either = vec![(Occur::Should, others)];
        if let Some(own) = &own {
            either.push((Occur::Should, self.term("station", own)));
        }
        Some(unscored(Box::new(BooleanQuery::new(either))))
    }

    fn filters(&self, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
        let mut out = Vec::new();
        let station = filters.station.map(|s| s.to_string());
        for (field, value) in [
            ("station", station.as_deref()),
            ("city", filters.city.as_deref()),
            ("province", filters.province.as_deref()),
            ("category", filters.category.as_deref()),
            ("resolution", filters.resolution.as_deref()),
            ("qc", filters.qc.as_deref()),
            ("status", filters.status.as_deref()),
            ("zone", filters.zone.as_deref()),
        ] {
            if let Some(v) = value {
                out.push((Occur::Must, unscored(self.term(field, v))));
            }
        }
        let range = |from, to| unscored(Box::new(RangeQuery::new(from, to)));
        if filters.from.is_some() || filters.to.is_some() {
            let created = self.f["created"];
            let from = filters.from.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_i64(created, v))
            });
            let to = filters.to.map_or(Bound::Unbounded, |v| {
                Bound::Excluded(Term::from_field_i64(created, v))
            });
            out.push((Occur::Must, range(from, to)));
        }
        if filters.min_duration.is_some() || filters.max_duration.is_some() {
            let duration = self.f["duration"];
            let from = filters.min_duration.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_f64(duration, v))
            });
            let to = filters.max_duration.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_f64(duration, v))
            });
            out.push((Occur::Must, range(from, to)));
        }
        out
    }

    /// Searches as `viewer` at `now` (epoch ms): every word must match; when none matches
    /// them all, any word may.
    pub fn search(&self, req: &Request, viewer: Viewer, now: i64) -> tantivy::Result<Answer> {
        let searcher = self.reader.searcher();
        let mut ws: Vec<String> = Vec::new();
        for w in words(&req.q, Mode::Query) {
            if !ws.contains(&w.text) {
                ws.push(w.text);
            }
        }
        ws.truncate(16);
        let answer = self.run(&searcher, req, &ws, viewer, now, Occur::Must)?;
        if answer.total == 0 && ws.len() > 1 {
            return self.run(&searcher, req, &ws, viewer, now, Occur::Should);
        }
        Ok(answer)
    }

    fn run(
        &self,
        searcher: &Searcher,
        req: &Request,
        ws: &[String],
        viewer: Viewer,
        now: i64,
        each: Occur,
    ) -> tantivy::Result<Answer> {
        let text: Option<Box<dyn Query>> = (!ws.is_empty()).then(|| {
            Box::new(BooleanQuery::new(
                ws.iter().map(|w| (each, self.word(w))).collect(),
            )) as Box<dyn Query>
        });
        let mut clauses = self.filters(&req.filters);
        clauses.extend(self.visibility(viewer, now).map(|v| (Occur::Must, v)));
        let query: Box<dyn Query> = match &text {
            Some(t) => {
                clauses.push((Occur::Must, t.box_clone()));
                Box::new(BooleanQuery::new(clauses))
            }
            None if clauses.is_empty() => Box::new(AllQuery),
            None => {
                clauses.push((Occur::Must, Box::new(AllQuery)));
                Box::new(BooleanQuery::new(clauses))
            }
        };
        let sort = match req.sort {
            Sort::Relevance if text.is_none() => Sort::Newest,
            s => s,
        };
        let top = TopDocs::with_limit(req.limit.clamp(1, 100)).and_offset(req.offset.min(10_000));
        let facets = !req.skip_facets;
        let (page, total, matches) = match sort {
            Sort::Relevance => page(searcher, &*query, top.order_by_score(), facets)?,
            Sort::Newest => page(
                searcher,
                &*query,
                top.order_by_fast_field::<i64>("created", Order::Desc),
                facets,
            )?,
            Sort::Adoptions => page(
                searcher,
                &*query,
                top.order_by_fast_field::<u64>("adoptions", Order::Desc),
                facets,
            )?,
        };
        let mut answer = Answer {
            total,
            ..Answer::default()
        };
        if let Some(matches) = matches {
            answer.facets = count_facets(searcher, &matches)?;
        }
        let snippets = match (&text, page.is_empty()) {
            (Some(t), false) => {
                let mut title = SnippetGenerator::create(searcher, &**t, self.f["title"])?;
                title.set_max_num_chars(200);
                let mut summary = SnippetGenerator::create(searcher, &**t, self.f["summary"])?;
                summary.set_max_num_chars(120);
                Some((title, summary))
            }
            _ => None,
        };
        for address in page {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |name: &str| {
                doc.get_first(self.f[name])
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            answer.ids.push(text("id"));
            if let Some((title, summary)) = &snippets {
                let marked = |g: &SnippetGenerator, text: &str| {
                    let mut s = g.snippet(text);
                    s.set_snippet_prefix_postfix("<mark>", "</mark>");
                    s.to_html()
                };
                answer.html.push((
                    marked(title, &text("title")),
                    marked(summary, &text("summary")),
                ));
            }
        }
        Ok(answer)
    }
}

/// The segments of the index in `dir` as its last commit lists them, sorted.
pub fn segment_ids(dir: &Path) -> tantivy::Result<Vec<String>> {
    let mut ids: Vec<String> = Index::open_in_dir(dir)?
        .searchable_segment_ids()?
        .iter()
        .map(|id| id.uuid_string())
        .collect();
    ids.sort();
    Ok(ids)
}

fn unscored(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

/// Every matching document, by segment.
type Matches = Vec<(SegmentOrdinal, Vec<DocId>)>;

/// One page of `query`'s matches in `top`'s order, how many match, and, with `all`, every
/// match.
fn page<K, C>(
    searcher: &Searcher,
    query: &dyn Query,
    top: C,
    all: bool,
) -> tantivy::Result<(Vec<DocAddress>, usize, Option<Matches>)>
where
    C: Collector<Fruit = Vec<(K, DocAddress)>>,
{
    let (hits, total, matches) =
        searcher.search(query, &(top, Count, all.then_some(AllMatches)))?;
    Ok((hits.into_iter().map(|(_, a)| a).collect(), total, matches))
}

/// Collects every matching document.
struct AllMatches;

struct SegmentMatches(SegmentOrdinal, Vec<DocId>);

impl Collector for AllMatches {
    type Fruit = Matches;
    type Child = SegmentMatches;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(SegmentMatches(segment, Vec::new()))
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        segments: Vec<(SegmentOrdinal, Vec<DocId>)>,
    ) -> tantivy::Result<Matches> {
        Ok(segments)
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = (SegmentOrdinal, Vec<DocId>);

    fn collect(&mut self, doc: DocId, _: Score) {
        self.1.push(doc);
    }

    fn harvest(self) -> Self::Fruit {
        (self.0, self.1)
    }
}

/// Each facet column's values over `matches`, counted, then the 20 most frequent (most
/// frequent first, then by value); a station's value is `"{id} {name}"`, shown as its name.
fn count_facets(searcher: &Searcher, matches: &Matches) -> tantivy::Result<Vec<Vec<FacetValue>>> {
    let mut counts: Vec<HashMap<String, u64>> = vec![HashMap::new(); FACETS.len()];
    for (segment, docs) in matches {
        let reader = searcher.segment_reader(*segment);
        for (name, counts) in FACETS.iter().zip(&mut counts) {
            let Some(column) = reader.fast_fields().str(name)? else {
                continue;
            };
            let mut by_ord = vec![0u64; column.num_terms()];
            for &doc in docs {
                if let Some(ord) = column.ords().first(doc) {
                    by_ord[ord as usize] += 1;
                }
            }
            let mut value = String::new();
            for (ord, &n) in by_ord.iter().enumerate() {
                if n > 0 && column.ord_to_str(ord as u64, &mut value)? {
                    *counts.entry(value.clone()).or_default() += n;
                }
            }
        }
    }
    Ok(FACETS
        .iter()
        .zip(counts)
        .map(|(name, counts)| {
            let mut all: Vec<(String, u64)> = counts.into_iter().collect();
            all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            all.truncate(20);
            all.into_iter()
                .map(|(value, n)| match value.split_once(' ') {
                    Some((id, label)) if *name == "facet_station" => {
                        (id.to_owned(), label.to_owned(), n)
                    }
                    _ => (value.clone(), value, n),
                })
                .collect()
        })
        .collect())
}

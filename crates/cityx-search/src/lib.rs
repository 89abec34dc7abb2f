//! The exchange's search index: tantivy with Chinese word segmentation (jieba), traditional and
//! simplified characters folded together, boosts over title, keywords, city, summary and
//! script, filters, facets, sorting, highlighted snippets and suggestions as the user types.
//!
//! The index is a cache of the database: [`Doc`]s go in, and it can be rebuilt from scratch at
//! any time. Visibility and embargo are part of every query ([`Viewer`]), with the same rule as
//! `cityx_core::exchange::can_see`. Depends on `cityx-core` for ids and on no other cityx
//! crate: it knows no SQL, HTTP or storage.

mod answers;
mod facets;
pub mod question;
pub mod text;

use cityx_core::{AssetId, StationId, Visibility};
use serde::Serialize;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};
use text::{ChineseTokenizer, Mode};
use utoipa::ToSchema;

/// Bumped when the schema or the analysis changes; an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 5;
const TOKENIZER: &str = "cityx_zh";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(String),
    #[error("search index files: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An item as the index takes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    pub id: AssetId,
    pub station_id: StationId,
    pub station_name: String,
    pub title: String,
    pub summary: String,
    pub script: String,
    pub keywords: Vec<String>,
    pub city: String,
    pub province: String,
    pub category: String,
    /// `ready`, `processing` …: other stations only ever find `ready` items.
    pub status: String,
    pub visibility: Visibility,
    pub shared_with: Vec<StationId>,
    /// Epoch ms until which others may not see the item (embargo that hides), else 0.
    pub hidden_until: i64,
    /// Epoch ms until which others may not download it, else 0.
    pub embargo_until: i64,
    /// Epoch ms of contribution.
    pub created: i64,
    pub duration_s: f64,
    /// Picture height (the shorter side), 0 if unknown.
    pub height: u64,
    /// `pass`, `warn`, `fail` or empty.
    pub qc: String,
    pub adoptions: u64,
    pub has_poster: bool,
    /// Its contributor has corrected it (lists mark it).
    pub corrected: bool,
    /// The topic zones (ids) it was contributed to.
    pub zones: Vec<String>,
    /// Hex SHA-256 of the master, empty until uploaded: finds exact duplicates.
    pub sha256: String,
}

/// Resolution classes for filtering and facets.
pub fn resolution_class(height: u64) -> &'static str {
    match height {
        0 => "unknown",
        h if h >= 2160 => "2160p",
        h if h >= 1080 => "1080p",
        h if h >= 720 => "720p",
        _ => "sd",
    }
}

/// Who is searching: the hub sees everything, a station its own items and what others let
/// it see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    All,
    Station(StationId),
    /// Neither: only what every member may see.
    Nobody,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first (newest first when there is no query text).
    #[default]
    Relevance,
    Newest,
    Adoptions,
}

/// Narrowing a search; every field is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    pub station: Option<StationId>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub category: Option<String>,
    /// Epoch ms, inclusive.
    pub from: Option<i64>,
    /// Epoch ms, exclusive.
    pub to: Option<i64>,
    pub min_duration: Option<f64>,
    pub max_duration: Option<f64>,
    /// A [`resolution_class`].
    pub resolution: Option<String>,
    pub qc: Option<String>,
    pub status: Option<String>,
    /// A topic zone id.
    pub zone: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub q: String,
    pub filters: Filters,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
    /// Leave the facet counts out (they cost a pass over every match): for callers that
    /// only list hits.
    pub skip_facets: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Hit {
    #[schema(value_type = String)]
    pub id: AssetId,
    pub title: String,
    /// The title with matches in `<mark>`, HTML-escaped.
    pub title_html: String,
    /// A passage of the summary or script with matches in `<mark>`, HTML-escaped.
    pub snippet_html: String,
    #[schema(value_type = String)]
    pub station_id: StationId,
    pub station_name: String,
    pub city: String,
    pub province: String,
    pub category: String,
    pub created: i64,
    pub duration_s: f64,
    pub resolution: String,
    pub qc: String,
    pub status: String,
    pub adoptions: u64,
    pub has_poster: bool,
    /// Its contributor has corrected it.
    pub corrected: bool,
    /// Epoch ms until which it may not be downloaded, else 0.
    pub embargo_until: i64,
}

/// One value of a facet and how many matching items carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FacetCount {
    pub value: String,
    /// What to show: the station's name for station facets, else the value.
    pub label: String,
    pub count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Facets {
    pub station: Vec<FacetCount>,
    pub province: Vec<FacetCount>,
    pub city: Vec<FacetCount>,
    pub category: Vec<FacetCount>,
    pub resolution: Vec<FacetCount>,
    pub qc: Vec<FacetCount>,
}

/// What an item page lists beside the item: other items of the very same master file, and
/// items about the same things.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Related {
    /// Other items whose master has the same SHA-256, oldest first.
    pub same_file: Vec<Hit>,
    /// Items sharing the most words of the title and keywords, best first; the same file's
    /// items are not repeated here.
    pub similar: Vec<Hit>,
}

/// The item whose neighbours [`SearchIndex::related`] looks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RelatedTo {
    pub id: AssetId,
    /// Hex SHA-256 of its master, or empty.
    pub sha256: String,
    pub title: String,
    /// Its keywords: they weigh twice a title word.
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Results {
    pub total: usize,
    pub hits: Vec<Hit>,
    pub facets: Facets,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    station: Field,
    station_name: Field,
    title: Field,
    summary: Field,
    script: Field,
    keywords: Field,
    city: Field,
    city_text: Field,
    province: Field,
    category: Field,
    status: Field,
    visibility: Field,
    shared: Field,
    hidden_until: Field,
    embargo_until: Field,
    created: Field,
    duration: Field,
    resolution: Field,
    qc: Field,
    adoptions: Field,
    poster: Field,
    corrected: Field,
    zone: Field,
    sha256: Field,
    /// One fast (columnar) field per facet dimension, in the order of [`FACET_FIELDS`].
    facets: [Field; 6],
}

/// Text fields searched, with their boosts.
const BOOSTS: [(&str, f32); 6] = [
    ("title", 3.0),
    ("keywords", 2.5),
    ("city_text", 2.0),
    ("station_name", 1.5),
    ("summary", 1.5),
    ("script", 1.0),
];

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        if stored { o.set_stored() } else { o }
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        station: b.add_text_field("station", STRING | STORED),
        station_name: b.add_text_field("station_name", text(true)),
        title: b.add_text_field("title", text(true)),
        summary: b.add_text_field("summary", text(true)),
        script: b.add_text_field("script", text(false)),
        keywords: b.add_text_field("keywords", text(false)),
        city: b.add_text_field("city", STRING | STORED),
        city_text: b.add_text_field("city_text", text(false)),
        province: b.add_text_field("province", STRING | STORED),
        category: b.add_text_field("category", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED),
        visibility: b.add_text_field("visibility", STRING),
        shared: b.add_text_field("shared", STRING),
        hidden_until: b.add_i64_field("hidden_until", INDEXED | FAST),
        embargo_until: b.add_i64_field("embargo_until", STORED),
        created: b.add_i64_field("created", INDEXED | FAST | STORED),
        duration: b.add_f64_field("duration", INDEXED | FAST | STORED),
        resolution: b.add_text_field("resolution", STRING | STORED),
        qc: b.add_text_field("qc", STRING | STORED),
        adoptions: b.add_u64_field("adoptions", FAST | STORED),
        poster: b.add_u64_field("poster", STORED),
        corrected: b.add_u64_field("corrected", STORED),
        zone: b.add_text_field("zone", STRING),
        sha256: b.add_text_field("sha256", STRING),
        facets: FACET_FIELDS.map(|name| b.add_text_field(name, FAST)),
    };
    (b.build(), fields)
}

/// The fast fields that hold each facet dimension's value, in the order of [`Facets`] (the
/// station's as `"{id} {name}"`).
const FACET_FIELDS: [&str; 6] = [
    "facet_station",
    "facet_province",
    "facet_city",
    "facet_category",
    "facet_resolution",
    "facet_qc",
];

/// The index: one writer, many concurrent searches.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    answers: answers::Answers,
}

/// Memory for the writer's buffers.
const WRITER_BYTES: usize = 64 << 20;

impl SearchIndex {
    /// Opens the index in `dir`, creating it, or recreating it empty when it was made by
    /// another [`SCHEMA_VERSION`]. Returns whether it starts empty (then fill it from the
    /// database).
    pub fn open(dir: &Path) -> Result<(SearchIndex, bool)> {
        let version_file = dir.join("cityx-schema-version");
        let current = std::fs::read_to_string(&version_file)
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok());
        if current != Some(SCHEMA_VERSION) && dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let (schema, f) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| Error::Directory(e.to_string()))?;
        let index = Index::open_or_create(directory, schema)?;
        std::fs::write(&version_file, SCHEMA_VERSION.to_string())?;
        let fresh = index.searchable_segment_ids()?.is_empty();
        Ok((Self::from_index(index, f)?, fresh))
    }

    /// An index in memory, for tests and benchmarks.
    pub fn in_memory() -> Result<SearchIndex> {
        let (schema, f) = schema();
        Self::from_index(Index::create_in_ram(schema), f)
    }

    fn from_index(index: Index, f: Fields) -> Result<SearchIndex> {
        index
            .tokenizers()
            .register(TOKENIZER, ChineseTokenizer(Mode::Index));
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            f,
            answers: answers::Answers::default(),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces items (not visible to searches until [`commit`](Self::commit)).
    pub fn upsert(&self, docs: &[Doc]) -> Result<()> {
        let w = self.writer();
        for d in docs {
            w.delete_term(Term::from_field_text(self.f.id, &d.id.to_string()));
            w.add_document(self.document(d))?;
        }
        Ok(())
    }

    /// Removes items (deleted or purged).
    pub fn remove(&self, ids: &[AssetId]) {
        let w = self.writer();
        for id in ids {
            w.delete_term(Term::from_field_text(self.f.id, &id.to_string()));
        }
    }

    /// Removes everything (before a rebuild).
    pub fn clear(&self) -> Result<()> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Makes the changes durable and visible, recording `mark` (how far the database has
    /// been followed) with them.
    pub fn commit(&self, mark: &str) -> Result<()> {
        {
            let mut w = self.writer();
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(mark);
            prepared.commit()?;
        }
        self.reader.reload()?;
        Ok(())
    }

    /// The `mark` of the last commit, if any.
    pub fn mark(&self) -> Option<String> {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .filter(|p| !p.is_empty())
    }

    /// How many items are indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn document(&self, d: &Doc) -> TantivyDocument {
        let f = &self.f;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, d.id.to_string());
        doc.add_text(f.station, d.station_id.to_string());
        doc.add_text(f.station_name, &d.station_name);
        doc.add_text(f.title, &d.title);
        doc.add_text(f.summary, &d.summary);
        doc.add_text(f.script, &d.script);
        for k in &d.keywords {
            doc.add_text(f.keywords, k);
        }
        doc.add_text(f.city, &d.city);
        doc.add_text(f.city_text, format!("{} {}", d.city, d.province));
        doc.add_text(f.province, &d.province);
        doc.add_text(f.category, &d.category);
        doc.add_text(f.status, &d.status);
        doc.add_text(f.visibility, d.visibility.as_str());
        for s in &d.shared_with {
            doc.add_text(f.shared, s.to_string());
        }
        doc.add_i64(f.hidden_until, d.hidden_until);
        doc.add_i64(f.embargo_until, d.embargo_until);
        doc.add_i64(f.created, d.created);
        doc.add_f64(f.duration, d.duration_s);
        let resolution = resolution_class(d.height);
        doc.add_text(f.resolution, resolution);
        doc.add_text(f.qc, &d.qc);
        doc.add_u64(f.adoptions, d.adoptions);
        doc.add_u64(f.poster, u64::from(d.has_poster));
        doc.add_u64(f.corrected, u64::from(d.corrected));
        for z in &d.zones {
            doc.add_text(f.zone, z);
        }
        if !d.sha256.is_empty() {
            doc.add_text(f.sha256, &d.sha256);
        }
        let station_facet = format!("{} {}", d.station_id, d.station_name);
        for (field, value) in f.facets.into_iter().zip([
            station_facet.as_str(),
            &d.province,
            &d.city,
            &d.category,
            resolution,
            &d.qc,
        ]) {
            if !value.is_empty() {
                doc.add_text(field, value);
            }
        }
        doc
    }

    fn term(&self, field: Field, value: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        ))
    }

    /// What `viewer` may see at `now` (epoch ms): the rule of `can_see`.
    fn visibility(&self, viewer: Viewer, now: i64) -> Option<Box<dyn Query>> {
        let own = match viewer {
            Viewer::All => return None,
            Viewer::Station(s) => Some(s.to_string()),
            Viewer::Nobody => None,
        };
        let f = &self.f;
        let mut listed = vec![
            (Occur::Should, self.term(f.visibility, "exchange")),
            (Occur::Should, self.term(f.visibility, "public")),
        ];
        if let Some(own) = &own {
            listed.push((Occur::Should, self.term(f.shared, own)));
        }
        let others: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, self.term(f.status, "ready")),
            (Occur::Must, Box::new(BooleanQuery::new(listed))),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Included(Term::from_field_i64(f.hidden_until, now)),
                )),
            ),
        ]));
        let mut either = vec![(Occur::Should, others)];
        if let Some(own) = &own {
            either.push((Occur::Should, self.term(f.station, own)));
        }
        Some(unscored(BooleanQuery::new(either)))
    }

    fn filter_clauses(&self, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.f;
        let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let station = filters.station.map(|s| s.to_string());
        for (field, value) in [
            (f.station, station.as_deref()),
            (f.city, filters.city.as_deref()),
            (f.province, filters.province.as_deref()),
            (f.category, filters.category.as_deref()),
            (f.resolution, filters.resolution.as_deref()),
            (f.qc, filters.qc.as_deref()),
            (f.status, filters.status.as_deref()),
            (f.zone, filters.zone.as_deref()),
        ] {
            if let Some(v) = value {
                out.push((Occur::Must, unscored(self.term(field, v))));
            }
        }
        if filters.from.is_some() || filters.to.is_some() {
            let lower = filters.from.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_i64(f.created, v))
            });
            let upper = filters.to.map_or(Bound::Unbounded, |v| {
                Bound::Excluded(Term::from_field_i64(f.created, v))
            });
            out.push((Occur::Must, unscored(RangeQuery::new(lower, upper))));
        }
        if filters.min_duration.is_some() || filters.max_duration.is_some() {
            let lower = filters.min_duration.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_f64(f.duration, v))
            });
            let upper = filters.max_duration.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_f64(f.duration, v))
            });
            out.push((Occur::Must, unscored(RangeQuery::new(lower, upper))));
        }
        out
    }

    fn text_fields(&self) -> Vec<(Field, f32)> {
        BOOSTS
            .iter()
            .filter_map(|(name, boost)| {
                self.index
                    .schema()
                    .get_field(name)
                    .ok()
                    .map(|f| (f, *boost))
            })
            .collect()
    }

    /// One query word over every text field, boosted. A long word also matches when the
    /// item's text was cut into its parts.
    fn word_query(&self, word: &str, fields: &[(Field, f32)]) -> Box<dyn Query> {
        let over_fields = |w: &str| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                fields
                    .iter()
                    .map(|(field, boost)| {
                        let q: Box<dyn Query> = Box::new(BoostQuery::new(
                            Box::new(TermQuery::new(
                                Term::from_field_text(*field, w),
                                IndexRecordOption::WithFreqs,
                            )),
                            *boost,
                        ));
                        (Occur::Should, q)
                    })
                    .collect(),
            ))
        };
        let whole = over_fields(word);
        if word.chars().count() < 3 {
            return whole;
        }
        let parts: Vec<String> = text::words(word, Mode::Index)
            .into_iter()
            .map(|w| w.text)
            .filter(|w| w != word)
            .collect();
        if parts.is_empty() {
            return whole;
        }
        let all_parts = BooleanQuery::new(
            parts
                .iter()
                .map(|p| (Occur::Must, over_fields(p)))
                .collect(),
        );
        Box::new(BooleanQuery::new(vec![
            (Occur::Should, whole),
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(all_parts), 0.5)),
            ),
        ]))
    }

    /// Any of the words of `title` and `keywords`, each weighing how often it occurs there
    /// (a keyword twice); at most 16 words, the heaviest.
    fn weighted_words_query(&self, title: &str, keywords: &[String]) -> Option<Box<dyn Query>> {
        let mut weights: Vec<(String, f32)> = Vec::new();
        let mut add = |text: &str, weight: f32| {
            for w in text::words(text, Mode::Query) {
                match weights.iter_mut().find(|(x, _)| *x == w.text) {
                    Some((_, sum)) => *sum += weight,
                    None => weights.push((w.text, weight)),
                }
            }
        };
        add(title, 1.0);
        for k in keywords {
            add(k, 2.0);
        }
        if weights.is_empty() {
            return None;
        }
        weights.sort_by(|a, b| b.1.total_cmp(&a.1));
        weights.truncate(16);
        let fields = self.text_fields();
        Some(Box::new(BooleanQuery::new(
            weights
                .iter()
                .map(|(w, weight)| {
                    let q: Box<dyn Query> =
                        Box::new(BoostQuery::new(self.word_query(w, &fields), *weight));
                    (Occur::Should, q)
                })
                .collect(),
        )))
    }

    /// The query for the user's words: every word must match (any word, if `any`). Text is
    /// never parsed as syntax. `None` when there are no words.
    fn text_query(&self, words: &[String], any: bool) -> Option<Box<dyn Query>> {
        if words.is_empty() {
            return None;
        }
        let fields = self.text_fields();
        let occur = if any { Occur::Should } else { Occur::Must };
        Some(Box::new(BooleanQuery::new(
            words
                .iter()
                .map(|w| (occur, self.word_query(w, &fields)))
                .collect(),
        )))
    }

    fn full_query(
        &self,
        text: Option<Box<dyn Query>>,
        filters: &Filters,
        viewer: Viewer,
        now: i64,
    ) -> Box<dyn Query> {
        let mut clauses = self.filter_clauses(filters);
        if let Some(v) = self.visibility(viewer, now) {
            clauses.push((Occur::Must, v));
        }
        let has_text = text.is_some();
        clauses.push((Occur::Must, text.unwrap_or_else(|| Box::new(AllQuery))));
        if !has_text && clauses.len() == 1 {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Searches as `viewer` at `now` (epoch ms). The same question is answered from memory
    /// until a commit or a `hidden_until` could change its answer (see `answers`).
    pub fn search(&self, req: &Request, viewer: Viewer, now: i64) -> Result<Results> {
        let searcher = self.reader.searcher();
        let generation = searcher.generation().generation_id();
        let key = answers::key(req, viewer);
        if let Some(res) = self.answers.get(generation, now, &key) {
            return Ok(res);
        }
        let words = query_words(&req.q);
        let mut res = self.run(&searcher, req, &words, viewer, now, false)?;
        if res.total == 0 && words.len() > 1 {
            res = self.run(&searcher, req, &words, viewer, now, true)?;
        }
        self.answers.put(generation, now, key, &res, |from| {
            self.next_unhiding(&searcher, from)
        });
        Ok(res)
    }

    /// The first `hidden_until` after `from`: when an item next comes out of hiding.
    /// `i64::MAX` when none will (or the index cannot tell, which only ends the window).
    fn next_unhiding(&self, searcher: &Searcher, from: i64) -> i64 {
        let later = RangeQuery::new(
            Bound::Excluded(Term::from_field_i64(self.f.hidden_until, from)),
            Bound::Unbounded,
        );
        let first = TopDocs::with_limit(1).order_by_fast_field::<i64>("hidden_until", Order::Asc);
        match searcher.search(&later, &first) {
            Ok(found) => found.first().and_then(|(at, _)| *at).unwrap_or(i64::MAX),
            Err(e) => {
                tracing::warn!(error = %e, "could not find the next hidden_until");
                from.saturating_add(1)
            }
        }
    }

    fn run(
        &self,
        searcher: &Searcher,
        req: &Request,
        words: &[String],
        viewer: Viewer,
        now: i64,
        any: bool,
    ) -> Result<Results> {
        let text = self.text_query(words, any);
        // Snippets mark the text query's own terms.
        let highlight = match &text {
            Some(q) => Some((
                self.snippets(searcher, &**q, self.f.title, 200)?,
                self.snippets(searcher, &**q, self.f.summary, 120)?,
            )),
            None => None,
        };
        let sort = match req.sort {
            Sort::Relevance if text.is_none() => Sort::Newest,
            s => s,
        };
        let query = self.full_query(text, &req.filters, viewer, now);
        let limit = req.limit.clamp(1, 100);
        let top = TopDocs::with_limit(limit).and_offset(req.offset.min(10_000));
        let facets = !req.skip_facets;
        let (addresses, total, facet_counts) = match sort {
            Sort::Relevance => top_of(searcher, &*query, top.order_by_score(), facets)?,
            Sort::Newest => top_of(
                searcher,
                &*query,
                top.order_by_fast_field::<i64>("created", Order::Desc),
                facets,
            )?,
            Sort::Adoptions => top_of(
                searcher,
                &*query,
                top.order_by_fast_field::<u64>("adoptions", Order::Desc),
                facets,
            )?,
        };
        let mut hits = Vec::with_capacity(addresses.len());
        for a in addresses {
            let doc: TantivyDocument = searcher.doc(a)?;
            hits.push(self.hit(&doc, highlight.as_ref()));
        }
        let mut out = Facets::default();
        let Some(facet_counts) = facet_counts else {
            return Ok(Results {
                total,
                hits,
                facets: out,
            });
        };
        for ((field, counts), slot) in FACET_FIELDS.into_iter().zip(&facet_counts).zip([
            &mut out.station,
            &mut out.province,
            &mut out.city,
            &mut out.category,
            &mut out.resolution,
            &mut out.qc,
        ]) {
            *slot = facets::top(counts, 20)
                .into_iter()
                .map(|(value, count)| {
                    let (value, label) = match value.split_once(' ') {
                        Some((id, name)) if field == "facet_station" => (id, name),
                        _ => (value, value),
                    };
                    FacetCount {
                        value: value.to_owned(),
                        label: label.to_owned(),
                        count,
                    }
                })
                .collect();
        }
        Ok(Results {
            total,
            hits,
            facets: out,
        })
    }

    fn snippets(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        field: Field,
        chars: usize,
    ) -> Result<SnippetGenerator> {
        // The field's own (index) tokenizer gives overlapping words, which tantivy's
        // fragments cannot take; highlight with the query tokenizer's words, which follow one
        // another.
        let mut terms = std::collections::BTreeSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                terms.insert(term.clone());
            }
        });
        let mut weights = std::collections::BTreeMap::new();
        for term in terms {
            if let Some(text) = term.value().as_str() {
                let freq = searcher.doc_freq(&term)?;
                if freq > 0 {
                    weights.insert(text.to_owned(), 1.0 / (1.0 + freq as f32));
                }
            }
        }
        Ok(SnippetGenerator::new(
            weights,
            TextAnalyzer::from(ChineseTokenizer(Mode::Query)),
            field,
            chars,
        ))
    }

    fn hit(
        &self,
        doc: &TantivyDocument,
        highlight: Option<&(SnippetGenerator, SnippetGenerator)>,
    ) -> Hit {
        let f = &self.f;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let int = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_i64())
                .unwrap_or_default()
        };
        let title = text(f.title);
        let summary = text(f.summary);
        let (title_html, snippet_html) = match highlight {
            Some((t, s)) => {
                let (th, sh) = (marked(t, &title, 200), marked(s, &summary, 120));
                (
                    if th.is_empty() { escape(&title) } else { th },
                    if sh.is_empty() {
                        escape(&first_chars(&summary, 120))
                    } else {
                        sh
                    },
                )
            }
            None => (escape(&title), escape(&first_chars(&summary, 120))),
        };
        Hit {
            id: text(f.id).parse().unwrap_or_default(),
            title,
            title_html,
            snippet_html,
            station_id: text(f.station).parse().unwrap_or_default(),
            station_name: text(f.station_name),
            city: text(f.city),
            province: text(f.province),
            category: text(f.category),
            created: int(f.created),
            duration_s: doc
                .get_first(f.duration)
                .and_then(|v| v.as_f64())
                .unwrap_or_default(),
            resolution: text(f.resolution),
            qc: text(f.qc),
            status: text(f.status),
            adoptions: doc
                .get_first(f.adoptions)
                .and_then(|v| v.as_u64())
                .unwrap_or_default(),
            has_poster: doc
                .get_first(f.poster)
                .and_then(|v| v.as_u64())
                .unwrap_or_default()
                == 1,
            corrected: doc
                .get_first(f.corrected)
                .and_then(|v| v.as_u64())
                .unwrap_or_default()
                == 1,
            embargo_until: int(f.embargo_until),
        }
    }

    /// The neighbours of an item as `viewer` may see them at `now`: at most `max` of each
    /// kind. Any of the item's words is enough to be similar; more shared words, and words
    /// that are both in the title and a keyword, rank higher.
    pub fn related(&self, of: &RelatedTo, viewer: Viewer, now: i64, max: usize) -> Result<Related> {
        let searcher = self.reader.searcher();
        let max = max.clamp(1, 50);
        let visible = |q: Box<dyn Query>, not: Vec<Box<dyn Query>>| -> Box<dyn Query> {
            let mut clauses = vec![(Occur::Must, q)];
            clauses.extend(self.visibility(viewer, now).map(|v| (Occur::Must, v)));
            clauses.extend(not.into_iter().map(|q| (Occur::MustNot, q)));
            Box::new(BooleanQuery::new(clauses))
        };
        let id = self.term(self.f.id, &of.id.to_string());
        let mut same_file = Vec::new();
        if !of.sha256.is_empty() {
            let q = visible(self.term(self.f.sha256, &of.sha256), vec![id.box_clone()]);
            let top = TopDocs::with_limit(max).order_by_fast_field::<i64>("created", Order::Asc);
            same_file = self.plain_hits(&searcher, searcher.search(&*q, &top)?)?;
        }
        let mut similar = Vec::new();
        if let Some(text) = self.weighted_words_query(&of.title, &of.keywords) {
            let mut not = vec![id];
            if !of.sha256.is_empty() {
                not.push(self.term(self.f.sha256, &of.sha256));
            }
            let q = visible(text, not);
            let top = TopDocs::with_limit(max).order_by_score();
            similar = self.plain_hits(&searcher, searcher.search(&*q, &top)?)?;
        }
        Ok(Related { same_file, similar })
    }

    /// Hits without highlighting, in the order found.
    fn plain_hits<K>(&self, searcher: &Searcher, found: Vec<(K, DocAddress)>) -> Result<Vec<Hit>> {
        found
            .into_iter()
            .map(|(_, a)| Ok(self.hit(&searcher.doc::<TantivyDocument>(a)?, None)))
            .collect()
    }

    /// Titles for a search box as the user types: the words so far, the last one taken as
    /// the beginning of a word.
    pub fn suggest(&self, q: &str, viewer: Viewer, now: i64, max: usize) -> Result<Vec<String>> {
        let words = text::words(q, Mode::Query);
        let Some((last, rest)) = words.split_last() else {
            return Ok(Vec::new());
        };
        let fields = self.text_fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = rest
            .iter()
            .map(|w| (Occur::Must, self.word_query(&w.text, &fields)))
            .collect();
        let prefix: Vec<(Occur, Box<dyn Query>)> = [self.f.title, self.f.keywords]
            .into_iter()
            .map(|field| {
                let q: Box<dyn Query> = Box::new(FuzzyTermQuery::new_prefix(
                    Term::from_field_text(field, &last.text),
                    0,
                    true,
                ));
                (Occur::Should, q)
            })
            .collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(prefix))));
        let query = self.full_query(
            Some(Box::new(BooleanQuery::new(clauses))),
            &Filters::default(),
            viewer,
            now,
        );
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &query,
            &TopDocs::with_limit(max.clamp(1, 20) * 2).order_by_score(),
        )?;
        let mut out: Vec<String> = Vec::new();
        for (_, a) in top {
            let doc: TantivyDocument = searcher.doc(a)?;
            if let Some(t) = doc.get_first(self.f.title).and_then(|v| v.as_str())
                && !out.iter().any(|x| x == t)
            {
                out.push(t.to_owned());
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }
}

/// A clause that selects without scoring: only the text's clauses rank. (Scored, the
/// visibility clause alone cost a fifth of a broad search, and lifted a station's own items
/// above others.)
fn unscored(q: impl Query) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(Box::new(q), 0.0))
}

/// The distinct words of the user's text, at most 16.
fn query_words(q: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text::words(q, Mode::Query) {
        if !words.contains(&w.text) {
            words.push(w.text);
        }
    }
    words.truncate(16);
    words
}

/// The addresses of one page of matches in `top`'s order, how many match in all, and, when
/// asked, the facet counts over every match.
fn top_of<K, C>(
    searcher: &Searcher,
    query: &dyn Query,
    top: C,
    with_facets: bool,
) -> Result<(Vec<DocAddress>, usize, Option<facets::Counts>)>
where
    C: tantivy::collector::Collector<Fruit = Vec<(K, DocAddress)>>,
{
    let facets = with_facets.then_some(facets::FacetCounter {
        fields: &FACET_FIELDS,
    });
    let (hits, total, counts) = searcher.search(query, &(top, Count, facets))?;
    Ok((hits.into_iter().map(|(_, a)| a).collect(), total, counts))
}

/// `text`'s passage that `g` chose, with its matches in `<mark>`, HTML-escaped; empty when
/// nothing matched. tantivy's passage ends with its last word, so punctuation after it (a
/// closing bracket) would be cut: a text of at most `chars` characters is shown whole, a
/// longer one keeps the punctuation that follows its passage.
fn marked(g: &SnippetGenerator, text: &str, chars: usize) -> String {
    let snippet = g.snippet(text);
    if snippet.is_empty() {
        return String::new();
    }
    let fragment = snippet.fragment_range();
    let (start, end) = if text.chars().count() <= chars {
        (0, text.len())
    } else {
        let after = text[fragment.end..]
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric() || c.is_whitespace())
            .map_or(text.len(), |(i, _)| fragment.end + i);
        (fragment.start, after)
    };
    let mut marks: Vec<std::ops::Range<usize>> = snippet
        .highlighted()
        .iter()
        .map(|r| fragment.start + r.start..fragment.start + r.end)
        .filter(|r| {
            r.start >= start
                && r.end <= end
                && text.is_char_boundary(r.start)
                && text.is_char_boundary(r.end)
        })
        .collect();
    marks.sort_by_key(|r| r.start);
    let mut html = String::new();
    let mut at = start;
    for r in marks {
        if r.start < at {
            continue; // overlapping: already inside a mark
        }
        html.push_str(&escape(&text[at..r.start]));
        html.push_str("<mark>");
        html.push_str(&escape(&text[r.clone()]));
        html.push_str("</mark>");
        at = r.end;
    }
    html.push_str(&escape(&text[at..end]));
    html
}

fn first_chars(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().nth(n).is_some() {
        out.push('…');
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

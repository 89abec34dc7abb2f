//! Facet counts over every match, from one column per dimension.
//!
//! Each dimension is a fast (columnar) text field holding one value per item. A segment
//! counts its matches per term ordinal in a plain array (one increment per dimension per
//! match, no allocation), and only the ordinals that were hit are turned into text, in one
//! sorted pass over the segment's dictionary. The counts of all segments then merge by value.

use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// Counts per value, one map per dimension, in the order of the fields given.
pub type Counts = Vec<HashMap<String, u64>>;

/// Counts the values of `fields` (fast text fields, one value per item) over the matches.
pub struct FacetCounter {
    pub fields: &'static [&'static str],
}

pub struct SegmentCounter {
    dims: Vec<(Option<StrColumn>, Vec<u32>)>,
}

impl Collector for FacetCounter {
    type Fruit = Counts;
    type Child = SegmentCounter;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let mut dims = Vec::with_capacity(self.fields.len());
        for name in self.fields {
            let column = reader.fast_fields().str(name)?;
            let terms = column.as_ref().map_or(0, |c| c.num_terms());
            dims.push((column, vec![0u32; terms]));
        }
        Ok(SegmentCounter { dims })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Counts>) -> tantivy::Result<Counts> {
        let mut out: Counts = vec![HashMap::new(); self.fields.len()];
        for segment in segments {
            for (total, counts) in out.iter_mut().zip(segment) {
                if total.is_empty() {
                    *total = counts;
                    continue;
                }
                for (value, n) in counts {
                    *total.entry(value).or_default() += n;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for SegmentCounter {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (column, counts) in &mut self.dims {
            if let Some(ord) = column.as_ref().and_then(|c| c.ords().first(doc)) {
                counts[ord as usize] += 1;
            }
        }
    }

    fn harvest(self) -> Counts {
        self.dims
            .into_iter()
            .map(|(column, counts)| {
                let mut out = HashMap::new();
                let Some(column) = column else { return out };
                let hit: Vec<u64> = (0..counts.len() as u64)
                    .filter(|&o| counts[o as usize] > 0)
                    .collect();
                let mut next = hit.iter();
                // A dictionary that cannot be read leaves the dimension without counts
                // rather than failing the search.
                let _ = column.dictionary().sorted_ords_to_term_cb(&hit, |bytes| {
                    if let Some(&ord) = next.next() {
                        let value = String::from_utf8_lossy(bytes).into_owned();
                        out.insert(value, u64::from(counts[ord as usize]));
                    }
                });
                out
            })
            .collect()
    }
}

/// The `k` most frequent values, most frequent first, then by value.
pub fn top(counts: &HashMap<String, u64>, k: usize) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = counts.iter().map(|(v, &n)| (v.as_str(), n)).collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    all.truncate(k);
    all
}

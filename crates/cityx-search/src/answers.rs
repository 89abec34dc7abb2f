//! Answers remembered until they could change.
//!
//! A search's answer depends on the request, the viewer, the index's contents and, through
//! "hidden until" embargoes, on the time. The index changes only at a commit, which gives the
//! searcher a new generation; the time matters only when it passes an item's `hidden_until`.
//! So an answer stays exact while the generation is the same and no `hidden_until` lies
//! between the time it was made and now: that span is the *window*. A new generation or a
//! time outside the window forgets everything. Paging back and forth, a page reloaded, and the
//! same popular words asked by many editors of one station are then answered from memory,
//! without counting facets over every match again.

use crate::{Request, Results, Viewer};
use std::collections::HashMap;
use std::sync::Mutex;

/// How many answers are kept (each is one page of hits with its facets, a few kB).
const CAPACITY: usize = 512;

/// The answers of one window.
#[derive(Default)]
struct Window {
    generation: u64,
    /// Epoch ms: answers made at any time in `[start, end)` are the same answer.
    start: i64,
    end: i64,
    answers: HashMap<String, Results>,
}

impl Window {
    fn covers(&self, generation: u64, now: i64) -> bool {
        self.generation == generation && self.start <= now && now < self.end
    }
}

#[derive(Default)]
pub(crate) struct Answers {
    window: Mutex<Option<Window>>,
}

/// What tells one question from another: everything in the request, and who asks.
pub(crate) fn key(req: &Request, viewer: Viewer) -> String {
    format!("{viewer:?}\u{1f}{req:?}")
}

impl Answers {
    /// The answer made for `key` in this generation and window, if any.
    pub(crate) fn get(&self, generation: u64, now: i64, key: &str) -> Option<Results> {
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let w = window.as_ref().filter(|w| w.covers(generation, now))?;
        w.answers.get(key).cloned()
    }

    /// Remembers an answer made at `now`. `next_change` finds the first `hidden_until` after
    /// a time (or `i64::MAX`); it is asked only when a new window opens.
    pub(crate) fn put(
        &self,
        generation: u64,
        now: i64,
        key: String,
        answer: &Results,
        next_change: impl FnOnce(i64) -> i64,
    ) {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if !window.as_ref().is_some_and(|w| w.covers(generation, now)) {
            *window = Some(Window {
                generation,
                start: now,
                end: next_change(now),
                answers: HashMap::new(),
            });
        }
        let Some(w) = window.as_mut() else { return };
        if w.answers.len() >= CAPACITY {
            // Crude but bounded: the popular questions come back within moments.
            w.answers.clear();
        }
        w.answers.insert(key, answer.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(total: usize) -> Results {
        Results {
            total,
            ..Results::default()
        }
    }

    #[test]
    fn an_answer_lasts_while_the_generation_and_the_window_do() {
        let a = Answers::default();
        let never = |_| i64::MAX;
        assert!(a.get(1, 100, "q").is_none());
        a.put(1, 100, "q".into(), &answer(3), never);
        assert_eq!(a.get(1, 5_000, "q").map(|r| r.total), Some(3));
        assert!(a.get(1, 5_000, "other").is_none());
        // A commit makes a new generation: the old answer may be wrong now.
        assert!(a.get(2, 5_000, "q").is_none());
        // Earlier than the window: an item hidden then may be visible in the answer.
        assert!(a.get(1, 99, "q").is_none());
    }

    #[test]
    fn a_hidden_until_ends_the_window() {
        let a = Answers::default();
        a.put(1, 100, "q".into(), &answer(3), |from| {
            assert_eq!(from, 100);
            1_000
        });
        assert_eq!(a.get(1, 999, "q").map(|r| r.total), Some(3));
        assert!(
            a.get(1, 1_000, "q").is_none(),
            "an item is visible from 1000"
        );
        // A new window opens where the next answer is made.
        a.put(1, 1_000, "q".into(), &answer(4), |_| i64::MAX);
        assert_eq!(a.get(1, 1_000, "q").map(|r| r.total), Some(4));
    }

    #[test]
    fn a_new_generation_forgets_the_old_answers() {
        let a = Answers::default();
        a.put(1, 100, "q".into(), &answer(3), |_| i64::MAX);
        a.put(2, 100, "r".into(), &answer(5), |_| i64::MAX);
        assert!(a.get(2, 100, "q").is_none());
        assert_eq!(a.get(2, 100, "r").map(|r| r.total), Some(5));
    }

    #[test]
    fn memory_is_bounded() {
        let a = Answers::default();
        for i in 0..CAPACITY + 10 {
            a.put(1, 100, format!("q{i}"), &answer(i), |_| i64::MAX);
        }
        let kept = (0..CAPACITY + 10)
            .filter(|i| a.get(1, 100, &format!("q{i}")).is_some())
            .count();
        assert!(kept > 0 && kept <= CAPACITY, "kept {kept}");
    }

    #[test]
    fn the_viewer_and_every_part_of_the_request_are_in_the_key() {
        let req = Request {
            q: "暴雨".into(),
            limit: 20,
            ..Request::default()
        };
        let paged = Request {
            offset: 20,
            ..req.clone()
        };
        assert_ne!(key(&req, Viewer::All), key(&req, Viewer::Nobody));
        assert_ne!(key(&req, Viewer::All), key(&paged, Viewer::All));
        assert_eq!(key(&req, Viewer::All), key(&req.clone(), Viewer::All));
    }
}

//! Search questions and item texts through folding (traditional to simplified, case) and word
//! splitting: never a panic, folding is idempotent, and every word is non-empty.
#![no_main]

use cityx_search::text::{Mode, fold, words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let folded = fold(text);
    assert_eq!(fold(&folded), folded, "folding twice changes nothing");
    for mode in [Mode::Index, Mode::Query] {
        for w in words(text, mode) {
            assert!(!w.text.is_empty());
        }
    }
});

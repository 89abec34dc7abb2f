//! Search questions as the server gets them: a query string deserialized into the search
//! question and validated into the index's request. Never a panic; an accepted question asks
//! for a bounded page.
#![no_main]

use cityx_search::question::{MAX_PER_PAGE, SearchInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    let Ok(input) = serde_urlencoded::from_str::<SearchInput>(query) else {
        return;
    };
    if let Ok(request) = input.validate() {
        assert!((1..=MAX_PER_PAGE as usize).contains(&request.limit));
        assert!(request.offset < 100 * MAX_PER_PAGE as usize);
        assert!(request.q.chars().count() <= 200);
    } else if let Err(errors) = input.validate() {
        assert!(!errors.is_empty());
    }
});

//! `Upload-Metadata` and `Upload-Checksum` from any client: never a panic, and metadata that
//! parses is written back by a client's rule into the same pairs.
#![no_main]

use cityx_core::tus::{metadata_header, parse_checksum, parse_metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(pairs) = parse_metadata(raw) {
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let again = parse_metadata(&metadata_header(&borrowed)).expect("a written header parses");
        assert_eq!(again, pairs);
    }
    let _ = parse_checksum(raw);
});

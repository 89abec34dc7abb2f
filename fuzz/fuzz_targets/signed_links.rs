//! Signed links' text (media grants, hex signatures) from any URL: never a panic, and one
//! spelling for each value, so that no two texts carry the same signed grant.
#![no_main]

use cityx_core::AssetId;
use cityx_core::links::{MediaGrant, hex, unhex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Some(bytes) = unhex(text) {
        assert_eq!(hex(&bytes), text.to_ascii_lowercase());
    }
    // Items' and live channels' grants have the same grammar (ids of one form).
    if let Some(g) = MediaGrant::<AssetId>::parse(text) {
        let signed = MediaGrant::<AssetId>::signed_part(g.asset, g.viewer, g.holder, g.expires);
        let written = format!("{signed}.{}", hex(&g.signature));
        assert_eq!(MediaGrant::<AssetId>::parse(&written), Some(g.clone()));
        assert!(g.expires >= 0);
    }
});

//! Signed links' text (media grants, hex signatures) from any URL: never a panic, and what
//! parses writes back to the same values. (A grant's signature covers its text as sent, so a
//! text spelt otherwise than cityx writes it never verifies.)
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
        let again = MediaGrant::<AssetId>::parse(&written).expect("a written grant parses");
        let values = |g: &MediaGrant<'_, AssetId>| {
            (
                g.asset,
                g.viewer.to_owned(),
                g.holder.to_owned(),
                g.expires,
                g.signature.clone(),
            )
        };
        assert_eq!(values(&again), values(&g));
        assert_eq!(again.text, written);
        assert!(g.expires >= 0);
    }
});

//! The text of signed links: hex signatures and media grants (`item.station.person.expiry.
//! signature`). Untrusted input: these parsers never panic, accept exactly one spelling of
//! each value, and leave checking the signature to the caller (fuzzed by
//! `fuzz/fuzz_targets/signed_links.rs`).

use crate::ids::AssetId;

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex digits (either case); `None` for anything else, signs included.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A media grant as it appears in a media link's path, before its signature is checked:
/// for an item (`AssetId`, the default) or a live channel (`ChannelId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaGrant<'a, I = AssetId> {
    pub asset: I,
    /// Whose rights: `all`, `none` or a station id (the caller parses it).
    pub viewer: &'a str,
    /// For whom: a user id, or `-` for the system.
    pub holder: &'a str,
    /// Unix seconds.
    pub expires: i64,
    pub signature: Vec<u8>,
    /// The grant as it was read.
    pub text: &'a str,
}

impl<'a, I: std::str::FromStr + std::fmt::Display> MediaGrant<'a, I> {
    /// The five dot-separated fields, or `None`.
    pub fn parse(grant: &'a str) -> Option<Self> {
        let mut parts = grant.split('.');
        let (Some(asset), Some(viewer), Some(holder), Some(expires), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let canonical_number = !expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit());
        if viewer.is_empty() || holder.is_empty() || !canonical_number {
            return None;
        }
        Some(MediaGrant {
            asset: asset.parse().ok()?,
            viewer,
            holder,
            expires: expires.parse().ok()?,
            signature: unhex(sig)?,
            text: grant,
        })
    }

    /// What the signature covers: the grant without it.
    pub fn signed_part(asset: I, viewer: &str, holder: &str, expires: i64) -> String {
        format!("{asset}.{viewer}.{holder}.{expires}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_has_one_spelling() {
        assert_eq!(unhex("00ff7A"), Some(vec![0, 255, 0x7a]));
        for bad in ["+1+1", "0", "zz", "-1", " 1", "é1"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
        assert_eq!(hex(&[0, 255, 0x7a]), "00ff7a");
    }

    #[test]
    fn grants_have_five_fields() {
        let asset = AssetId::new();
        let text = format!("{asset}.all.-.1700000000.00ff");
        let g = MediaGrant::parse(&text).expect("parses");
        assert_eq!(
            (g.asset, g.viewer, g.holder, g.expires, g.signature, g.text),
            (
                asset,
                "all",
                "-",
                1_700_000_000,
                vec![0, 255],
                text.as_str()
            )
        );
        for bad in [
            format!("{asset}.all.-.1700000000"),
            format!("{asset}.all.-.1700000000.00ff.x"),
            format!("{asset}.all.-.+1700000000.00ff"),
            format!("{asset}.all.-.-5.00ff"),
            format!("{asset}..-.1.00ff"),
            format!("{asset}.all.-.1.0g"),
            "x.all.-.1.00".to_owned(),
        ] {
            assert_eq!(MediaGrant::<AssetId>::parse(&bad), None, "{bad}");
        }
    }
}

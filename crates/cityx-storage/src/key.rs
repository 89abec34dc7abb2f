//! Where things are stored. Every object key is built here, from ids and fixed names, so no
//! user input ever becomes part of a path.

use cityx_core::{AssetId, ChannelId, UploadId};
use std::fmt;

/// A validated object key, e.g. `assets/<id>/master`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StorageKey(String);

impl StorageKey {
    /// The uploaded master of an asset, byte for byte.
    pub fn master(asset: AssetId) -> Self {
        StorageKey(format!("assets/{asset}/master"))
    }

    /// Everything stored for an asset (for deletion).
    pub fn asset_prefix(asset: AssetId) -> Self {
        StorageKey(format!("assets/{asset}"))
    }

    /// A derived file of an asset (`hls/720p/seg_00001.ts`, `poster.jpg` …). Each segment
    /// must be a plain name: ASCII letters, digits, `.`, `_` or `-`, not starting with `.`.
    pub fn derived(asset: AssetId, relative: &str) -> Option<Self> {
        plain_path(relative).then(|| StorageKey(format!("assets/{asset}/{relative}")))
    }

    /// A file of a live channel (`index.m3u8`, `<session>/<n>.ts`, `thumb.jpg`), named as
    /// [`derived`](Self::derived) names an item's.
    pub fn live(channel: ChannelId, relative: &str) -> Option<Self> {
        plain_path(relative).then(|| StorageKey(format!("live/{channel}/{relative}")))
    }

    /// Everything stored for a live channel (for deletion).
    pub fn live_prefix(channel: ChannelId) -> Self {
        StorageKey(format!("live/{channel}"))
    }

    /// The received bytes of an unfinished upload that do not yet fill a part of a
    /// multipart upload, named by the offset they end at (so that a new tail never
    /// overwrites the one the database still names).
    pub fn upload_tail(upload: UploadId, end: u64) -> Self {
        StorageKey(format!("uploads/{upload}/tail-{end}"))
    }

    /// Everything kept for every unfinished upload.
    pub fn all_uploads() -> Self {
        StorageKey("uploads".into())
    }

    /// Everything kept for an unfinished upload (for removal).
    pub fn upload_prefix(upload: UploadId) -> Self {
        StorageKey(format!("uploads/{upload}"))
    }

    /// Everything stored for every item.
    pub fn all_assets() -> Self {
        StorageKey("assets".into())
    }

    /// A key as a store listed it.
    pub(crate) fn listed(key: &str) -> Self {
        StorageKey(key.to_owned())
    }

    /// The item a key belongs to, and the key's name within the item's files (`master`,
    /// `hls/720p/seg_00001.ts`), when it is an item's.
    pub fn asset_part(&self) -> Option<(AssetId, &str)> {
        let rest = self.0.strip_prefix("assets/")?;
        let (id, name) = rest.split_once('/')?;
        Some((id.parse().ok()?, name))
    }

    /// The unfinished upload a key belongs to, when it is one's.
    pub fn upload_part(&self) -> Option<UploadId> {
        let rest = self.0.strip_prefix("uploads/")?;
        rest.split_once('/')?.0.parse().ok()
    }

    /// A name never written, read to learn whether the store answers.
    pub(crate) fn probe() -> Self {
        StorageKey("readiness-probe".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `relative` is a plain relative path: segments of ASCII letters, digits, `.`, `_`
/// or `-`, none empty or starting with `.`.
fn plain_path(relative: &str) -> bool {
    !relative.is_empty()
        && relative.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_cannot_escape() {
        let a = AssetId::new();
        assert!(StorageKey::derived(a, "hls/720p/seg_00001.ts").is_some());
        for bad in [
            "",
            "../x",
            "hls/../../etc/passwd",
            "/abs",
            "a//b",
            ".hidden",
            "sp ace",
            "中文.ts",
            "a\\b",
        ] {
            assert!(StorageKey::derived(a, bad).is_none(), "{bad}");
        }
        assert_eq!(StorageKey::master(a).as_str(), format!("assets/{a}/master"));
    }
}

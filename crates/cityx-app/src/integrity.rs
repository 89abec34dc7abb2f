//! Checking an installation's objects against its database (`cityx admin fsck`): every item
//! whose master arrived has it, at the recorded size and (unless asked to be quick) with the
//! recorded SHA-256; every file the pipeline recorded is there, and so is every segment its
//! playlists name; and nothing is left in the store that no item or unfinished upload owns.
//! It reads only, so it may run beside a live installation.
//!
//! Also the move of every object to another store (`cityx admin storage migrate`), whose
//! copying and verifying is [`cityx_storage::migrate`]'s.

use crate::Result;
use cityx_core::{AssetId, TenantScope, UploadId, UploadState};
use cityx_db::CatalogueRow;
use cityx_storage::StorageKey;
use futures_util::StreamExt;
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;

/// Checking and moving the stored objects. See [`App::integrity`](crate::App::integrity).
#[derive(Clone, Copy)]
pub struct Integrity<'a> {
    pub(crate) ingest: &'a dyn cityx_db::IngestRepo,
    pub(crate) exchange: &'a dyn cityx_db::ExchangeRepo,
    pub(crate) storage: &'a cityx_storage::Storage,
}

/// Items read from the database at a time.
const BATCH: u32 = 200;

/// The largest playlist read.
const MAX_PLAYLIST: u64 = 4 << 20;

/// How thorough a check is.
#[derive(Clone, Copy, Debug)]
pub struct FsckOptions {
    /// Read every master whole and compare its SHA-256 (else sizes only).
    pub hashes: bool,
}

/// What was checked and what is wrong.
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    pub items: u64,
    /// Objects whose presence (and size or hash, where recorded) was checked.
    pub objects: u64,
    pub bytes_hashed: u64,
    pub findings: Vec<Finding>,
}

/// One thing wrong, at one key (or under one prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub key: String,
    pub problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The database names it; the store does not have it.
    Missing,
    WrongSize {
        expected: u64,
        found: u64,
    },
    WrongHash {
        expected: String,
        found: String,
    },
    Unreadable(String),
    /// A playlist names something that is not a plain file of its item.
    BadReference(String),
    /// Objects under a prefix that no item or unfinished upload owns.
    Stray {
        objects: u64,
        why: &'static str,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("missing"),
            Problem::WrongSize { expected, found } => {
                write!(f, "{found} bytes where the database says {expected}")
            }
            Problem::WrongHash { expected, found } => {
                write!(f, "SHA-256 {found} where the database says {expected}")
            }
            Problem::Unreadable(why) => write!(f, "unreadable: {why}"),
            Problem::BadReference(name) => write!(f, "names `{name}`, which is not its item's"),
            Problem::Stray { objects: 1, why } => write!(f, "1 stray object: {why}"),
            Problem::Stray { objects, why } => write!(f, "{objects} stray objects: {why}"),
        }
    }
}

impl Integrity<'_> {
    /// Copies every item's objects into `to`, verified, resuming from the journal at
    /// `journal`; also says how many uploads are unfinished (their bytes are not moved).
    pub async fn migrate_storage(
        &self,
        to: &cityx_storage::Storage,
        journal: &std::path::Path,
        options: &cityx_storage::migrate::Options,
        progress: impl FnMut(&cityx_storage::migrate::Report),
    ) -> Result<(cityx_storage::migrate::Report, usize)> {
        let report = cityx_storage::migrate::migrate(self.storage, to, journal, options, progress)
            .await
            .map_err(|e| crate::Error::Internal(Box::new(e)))?;
        // Every active upload expires before this.
        let far = OffsetDateTime::now_utc() + time::Duration::days(365 * 100);
        let unfinished = self.ingest.expired_uploads(far).await?.len();
        Ok((report, unfinished))
    }

    /// Checks every item's objects, then looks for strays. `progress` is called after each
    /// item.
    pub async fn fsck(
        &self,
        options: FsckOptions,
        mut progress: impl FnMut(&FsckReport),
    ) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        // Every item seen, and whether its objects were purged.
        let mut items: HashMap<AssetId, bool> = HashMap::new();
        let mut from = (OffsetDateTime::UNIX_EPOCH, None);
        loop {
            let rows = self.exchange.changed_assets(from, BATCH).await?;
            let Some(last) = rows.last() else { break };
            from = (last.asset.updated_at, Some(last.asset.id));
            let full = rows.len() == BATCH as usize;
            for row in &rows {
                // An item changed during the check is listed again later; check it once.
                if items.insert(row.asset.id, row.purged).is_none() {
                    report.items += 1;
                    self.check_item(row, options, &mut report).await?;
                    progress(&report);
                }
            }
            if !full {
                break;
            }
        }
        self.find_strays(&items, &mut report).await?;
        Ok(report)
    }

    async fn check_item(
        &self,
        row: &CatalogueRow,
        options: FsckOptions,
        report: &mut FsckReport,
    ) -> Result<()> {
        if row.purged {
            return Ok(());
        }
        let asset = &row.asset;
        let id = asset.id;
        let mut stored: HashMap<String, u64> = HashMap::new();
        let mut listed = self.storage.list(&StorageKey::asset_prefix(id));
        while let Some(o) = listed.next().await {
            let o = o.map_err(store_failed)?;
            if let Some((_, name)) = o.key.asset_part() {
                stored.insert(name.to_owned(), o.size);
            }
        }
        let mut find = |key: String, problem| report.findings.push(Finding { key, problem });

        if let Some(sha256) = &asset.sha256 {
            report.objects += 1;
            let key = StorageKey::master(id);
            match stored.get("master") {
                None => find(key.to_string(), Problem::Missing),
                Some(&found) if found != asset.size_bytes => find(
                    key.to_string(),
                    Problem::WrongSize {
                        expected: asset.size_bytes,
                        found,
                    },
                ),
                Some(_) if options.hashes => match self.storage.sha256(&key).await {
                    Ok((size, found)) => {
                        report.bytes_hashed += size;
                        if &found != sha256 {
                            find(
                                key.to_string(),
                                Problem::WrongHash {
                                    expected: sha256.clone(),
                                    found,
                                },
                            );
                        }
                    }
                    Err(e) => find(key.to_string(), Problem::Unreadable(e.to_string())),
                },
                Some(_) => {}
            }
        }

        let mut expected = recorded_files(asset);
        let mut playlists: Vec<String> = expected
            .iter()
            .filter(|n| n.ends_with(".m3u8"))
            .cloned()
            .collect();
        while let Some(playlist) = playlists.pop() {
            if !stored.contains_key(&playlist) {
                continue; // reported missing below
            }
            let Some(key) = StorageKey::derived(id, &playlist) else {
                continue;
            };
            let text = match self.storage.read_small(&key, MAX_PLAYLIST).await {
                Ok(Some((_, bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                Ok(None) => {
                    find(key.to_string(), Problem::Unreadable("too large".into()));
                    continue;
                }
                Err(e) => {
                    find(key.to_string(), Problem::Unreadable(e.to_string()));
                    continue;
                }
            };
            let dir = playlist.rsplit_once('/').map_or("", |(d, _)| d);
            for uri in playlist_entries(&text) {
                let name = if dir.is_empty() {
                    uri.to_owned()
                } else {
                    format!("{dir}/{uri}")
                };
                if StorageKey::derived(id, &name).is_none() {
                    find(key.to_string(), Problem::BadReference(uri.to_owned()));
                } else if expected.insert(name.clone()) && name.ends_with(".m3u8") {
                    playlists.push(name);
                }
            }
        }
        for name in expected {
            report.objects += 1;
            if !stored.contains_key(&name) {
                let key = StorageKey::derived(id, &name)
                    .map_or_else(|| format!("assets/{id}/{name}"), |k| k.to_string());
                find(key, Problem::Missing);
            }
        }
        Ok(())
    }

    /// Objects of items the database does not know or has purged, and of uploads that are
    /// no longer active.
    async fn find_strays(
        &self,
        items: &HashMap<AssetId, bool>,
        report: &mut FsckReport,
    ) -> Result<()> {
        let mut stray_items: HashMap<AssetId, u64> = HashMap::new();
        let mut uploads: HashMap<UploadId, u64> = HashMap::new();
        let mut unowned = 0u64;
        for prefix in [StorageKey::all_assets(), StorageKey::all_uploads()] {
            let mut listed = self.storage.list(&prefix);
            while let Some(o) = listed.next().await {
                let key = o.map_err(store_failed)?.key;
                if let Some((id, _)) = key.asset_part() {
                    if items.get(&id) != Some(&false) {
                        *stray_items.entry(id).or_default() += 1;
                    }
                } else if let Some(id) = key.upload_part() {
                    *uploads.entry(id).or_default() += 1;
                } else {
                    unowned += 1;
                }
            }
        }
        for (id, objects) in stray_items {
            let why = match items.get(&id) {
                Some(_) => "its item was purged",
                // Made after the check began, or not an item at all.
                None => match self.ingest.get_asset(TenantScope::All, id).await {
                    Ok(_) => continue,
                    Err(e) if e.is_not_found() => "no such item",
                    Err(e) => return Err(e.into()),
                },
            };
            report.findings.push(Finding {
                key: StorageKey::asset_prefix(id).to_string(),
                problem: Problem::Stray { objects, why },
            });
        }
        for (id, objects) in uploads {
            let why = match self.ingest.get_upload(TenantScope::All, id).await {
                Ok(u) if u.state == UploadState::Active => continue,
                Ok(_) => "its upload has ended",
                Err(e) if e.is_not_found() => "no such upload",
                Err(e) => return Err(e.into()),
            };
            report.findings.push(Finding {
                key: StorageKey::upload_prefix(id).to_string(),
                problem: Problem::Stray { objects, why },
            });
        }
        if unowned > 0 {
            report.findings.push(Finding {
                key: "assets/".into(),
                problem: Problem::Stray {
                    objects: unowned,
                    why: "not named by an item id",
                },
            });
        }
        report.findings.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(())
    }
}

/// The files the database says the pipeline made for an item, by name within its files.
fn recorded_files(asset: &cityx_core::Asset) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |v: Option<&serde_json::Value>| {
        if let Some(name) = v.and_then(|v| v.as_str()) {
            names.insert(name.to_owned());
        }
    };
    if let Some(d) = &asset.derived {
        for field in ["proxy", "poster", "master_playlist"] {
            add(d.get(field));
        }
        for r in d["renditions"].as_array().into_iter().flatten() {
            add(r.get("playlist"));
        }
        for t in d["thumbnails"].as_array().into_iter().flatten() {
            add(Some(t));
        }
        add(d["storyboard"].get("vtt"));
        for s in d["storyboard"]["sheets"].as_array().into_iter().flatten() {
            add(Some(s));
        }
    }
    names.extend(asset.playback.clone());
    names
}

/// A store that cannot be listed ends the check.
fn store_failed(e: cityx_storage::Error) -> crate::Error {
    crate::Error::Internal(Box::new(e))
}

/// The URIs of an HLS playlist: its lines that are neither blank nor tags.
fn playlist_entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_name_their_segments() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg_00000.ts\n\n#EXTINF:3.5,\n seg_00001.ts \n#EXT-X-ENDLIST\n";
        assert_eq!(
            playlist_entries(text).collect::<Vec<_>>(),
            ["seg_00000.ts", "seg_00001.ts"]
        );
    }
}

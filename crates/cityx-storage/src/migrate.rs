//! Moving every item's objects from one store to another (内容迁移), resumable and verified.
//!
//! Each object is streamed from the source through SHA-256 into the destination, then read
//! back from the destination and hashed again; only when both hashes agree is it written to
//! the *journal*, a local file of `<sha256> <size> <key>` lines headed by the destination's
//! name. A second run skips what the journal holds (and the destination still has at that
//! size), so an interrupted migration goes on where it stopped and a last run during a
//! short stop of the installation copies only what arrived since. An object the journal does
//! not know but the destination already holds at the same size is hashed on both sides
//! instead of copied.
//!
//! Unfinished uploads are not moved: a multipart upload belongs to its store. The report
//! counts what they hold so that the operator lets them finish first.

use crate::{Error, Listed, Result, Storage, StorageKey};
use futures_util::StreamExt;
use sha2::Digest;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

/// Objects copied at once.
const PARALLEL: usize = 4;

/// Journal entries between syncs of the journal to disk.
const SYNC_EVERY: u64 = 64;

/// What a migration did so far (also its final report).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects copied and verified in this run.
    pub copied: u64,
    pub copied_bytes: u64,
    /// Objects the destination already held, by the journal or by hashing both sides.
    pub present: u64,
    pub present_bytes: u64,
    /// Objects listed in the source that were gone when read (items purged meanwhile).
    pub gone: u64,
    /// Objects of unfinished uploads, left in the source.
    pub upload_objects: u64,
    /// Objects that could not be copied or did not verify: key and reason. A later run
    /// tries them again.
    pub failed: Vec<(String, String)>,
}

/// How to run a migration.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Names the destination in the journal's header (a journal is for one destination).
    pub destination: String,
    /// Hash both sides of every object the destination holds, ignoring the journal.
    pub recheck: bool,
}

enum Outcome {
    Copied { size: u64, sha256: String },
    Present { size: u64, sha256: String },
    Journaled { size: u64 },
    Gone,
    Failed(String),
}

/// Copies every item's objects from `from` to `to`, recording each verified object in the
/// journal at `journal`. `progress` is called after every object.
pub async fn migrate(
    from: &Storage,
    to: &Storage,
    journal: &Path,
    options: &Options,
    mut progress: impl FnMut(&Report),
) -> Result<Report> {
    let header = format!("# cityx storage migration to {}", options.destination);
    let known = if options.recheck {
        HashMap::new()
    } else {
        read_journal(journal, &header)?
    };
    let mut log = open_journal(journal, &header)?;
    let mut report = Report::default();

    let mut uploads = from.list(&StorageKey::all_uploads());
    while let Some(o) = uploads.next().await {
        o?;
        report.upload_objects += 1;
    }

    let known = &known;
    let mut outcomes = from
        .list(&StorageKey::all_assets())
        .map(|listed| async move {
            let listed = listed?;
            let outcome = move_one(from, to, &listed, known.get(listed.key.as_str())).await;
            Ok::<_, Error>((listed.key, outcome))
        })
        .buffer_unordered(PARALLEL);
    let mut unsynced = 0;
    while let Some(next) = outcomes.next().await {
        let (key, outcome) = next?;
        match &outcome {
            Outcome::Copied { size, sha256 } | Outcome::Present { size, sha256 } => {
                let size = *size;
                writeln!(log, "{sha256} {size} {key}")
                    .map_err(|e| Error::io("write", journal, e))?;
                unsynced += 1;
                if unsynced >= SYNC_EVERY {
                    sync(&mut log, journal)?;
                    unsynced = 0;
                }
                if matches!(outcome, Outcome::Copied { .. }) {
                    report.copied += 1;
                    report.copied_bytes += size;
                } else {
                    report.present += 1;
                    report.present_bytes += size;
                }
            }
            Outcome::Journaled { size } => {
                report.present += 1;
                report.present_bytes += *size;
            }
            Outcome::Gone => report.gone += 1,
            Outcome::Failed(why) => report.failed.push((key.to_string(), why.clone())),
        }
        progress(&report);
    }
    sync(&mut log, journal)?;
    Ok(report)
}

/// Brings one object to the destination, verified.
async fn move_one(
    from: &Storage,
    to: &Storage,
    listed: &Listed,
    journaled: Option<&(u64, String)>,
) -> Outcome {
    let key = &listed.key;
    let there = match to.head(key).await {
        Ok(info) => Some(info.size),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Outcome::Failed(chain(&e)),
    };
    if there == Some(listed.size) {
        if let Some((size, _)) = journaled.filter(|(size, _)| *size == listed.size) {
            return Outcome::Journaled { size: *size };
        }
        match (from.sha256(key).await, to.sha256(key).await) {
            (Ok(a), Ok(b)) if a == b => {
                return Outcome::Present {
                    size: a.0,
                    sha256: a.1,
                };
            }
            (Err(e), _) if e.is_not_found() => return Outcome::Gone,
            (Err(e), _) => return Outcome::Failed(chain(&e)),
            // Different bytes, or unreadable there: copy again.
            _ => {}
        }
    }
    match copy(from, to, listed).await {
        Ok((size, sha256)) => match to.sha256(key).await {
            Ok((s, h)) if s == size && h == sha256 => Outcome::Copied { size, sha256 },
            Ok((s, h)) => Outcome::Failed(format!(
                "the copy reads back as {s} bytes with SHA-256 {h}, the source as {size} bytes with SHA-256 {sha256}"
            )),
            Err(e) => Outcome::Failed(format!("reading the copy back failed: {}", chain(&e))),
        },
        Err(e) if e.is_not_found() => Outcome::Gone,
        Err(e) => Outcome::Failed(chain(&e)),
    }
}

/// Streams a listed object from one store to the other, hashing what passes.
async fn copy(from: &Storage, to: &Storage, listed: &Listed) -> Result<(u64, String)> {
    let (key, size) = (&listed.key, listed.size);
    let mut hasher = sha2::Sha256::new();
    let mut passed = 0u64;
    let hashed = from.read_whole(key, size).await?.map(|chunk| {
        if let Ok(bytes) = &chunk {
            hasher.update(bytes);
            passed += bytes.len() as u64;
        }
        chunk
    });
    to.put_stream(key, hashed.boxed()).await?;
    if passed != size {
        return Err(Error::Invalid(format!(
            "{key} changed while copied: {passed} bytes read of {size}"
        )));
    }
    Ok((size, crate::hex(&hasher.finalize())))
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// The verified objects a journal records, by key; empty when there is no journal yet.
fn read_journal(path: &Path, header: &str) -> Result<HashMap<String, (u64, String)>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines
        .next()
        .transpose()
        .map_err(|e| Error::io("read", path, e))?;
    match first.as_deref() {
        None => return Ok(HashMap::new()),
        Some(h) if h == header => {}
        Some(h) => {
            return Err(Error::Invalid(format!(
                "the journal {} belongs to another migration ({}); name another with --journal",
                path.display(),
                h.trim_start_matches("# cityx storage migration to ")
            )));
        }
    }
    let mut known = HashMap::new();
    for line in lines {
        let line = line.map_err(|e| Error::io("read", path, e))?;
        let mut fields = line.splitn(3, ' ');
        // A line cut short by a crash is ignored: its object is verified again.
        if let (Some(sha), Some(size), Some(key)) = (fields.next(), fields.next(), fields.next())
            && let Ok(size) = size.parse()
            && sha.len() == 64
        {
            known.insert(key.to_owned(), (size, sha.to_owned()));
        }
    }
    Ok(known)
}

/// Opens the journal for appending, writing its header when it is new.
fn open_journal(path: &Path, header: &str) -> Result<std::io::BufWriter<std::fs::File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let empty = file
        .metadata()
        .map_err(|e| Error::io("inspect", path, e))?
        .len()
        == 0;
    let mut log = std::io::BufWriter::new(file);
    if empty {
        writeln!(log, "{header}").map_err(|e| Error::io("write", path, e))?;
    } else {
        // After a line cut short by a crash, the next entry starts on its own line.
        writeln!(log).map_err(|e| Error::io("write", path, e))?;
    }
    sync(&mut log, path)?;
    Ok(log)
}

fn sync(log: &mut std::io::BufWriter<std::fs::File>, path: &Path) -> Result<()> {
    log.flush().map_err(|e| Error::io("write", path, e))?;
    log.get_ref()
        .sync_data()
        .map_err(|e| Error::io("sync", path, e))
}

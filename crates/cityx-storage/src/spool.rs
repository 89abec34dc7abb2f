//! The upload spool: where a resumable upload's bytes wait until the upload is complete.
//!
//! Beside a local store, one append-only file per upload. The offset a client is told is
//! always a durable one: bytes are appended, then `fdatasync`ed, and only then may the caller
//! record and acknowledge the new offset. After a crash the file may hold bytes beyond the
//! recorded offset (written but never acknowledged); [`Spool::append`] truncates them away
//! before writing, so the recorded offset is the truth. The disk works while the network
//! does: a writer thread takes the received buffers from a bounded queue, and every 8 MiB
//! ([`KICK`]) a second thread starts an `fdatasync` of what is written so far, so the page
//! cache drains during the request instead of all at its end.
//!
//! Beside a remote store (S3), a multipart upload straight into the master's key: every full
//! [`PART`] becomes a part as it arrives, and what is left over at the end of a request (the
//! *tail*) is kept as a small object named by the offset it ends at. The multipart upload's
//! id and its parts' ids are a [`SpoolState`], which the caller saves in the database with
//! the new offset, so that the next request may land on any node, or on this one after a
//! restart. A tail is never overwritten: a new one gets a new name, and the one the
//! database no longer names is removed after the new offset is recorded.

use crate::{Error, Result, Storage, StorageKey};
use bytes::{Bytes, BytesMut};
use cityx_core::UploadId;
use futures_util::{Stream, StreamExt};
use object_store::PutPayload;
use object_store::multipart::PartId;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// Writes reach the disk in blocks of this size (fewer system calls than one per network
/// chunk).
const BLOCK: usize = 1024 * 1024;

/// Received buffers the writer thread may lag behind the network.
const WRITE_QUEUE: usize = 32;

/// Bytes written between background syncs.
const KICK: u64 = 8 * 1024 * 1024;

/// The size of every part of a remote multipart upload but the last (S3 wants at least
/// 5 MiB).
pub const PART: usize = 8 * 1024 * 1024;

/// The largest upload a remote spool takes: S3 allows 10,000 parts.
pub const MAX_REMOTE_SIZE: u64 = PART as u64 * 10_000;

#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
    storage: Storage,
    /// Multipart uploads in the store, not files in `dir`.
    remote: bool,
}

/// Where an unfinished upload's bytes are, beyond its offset: what the caller saves in the
/// database with each new offset. Empty for a local spool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpoolState {
    multipart: Option<Multipart>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Multipart {
    id: String,
    /// The ids of the parts written, in order; each holds [`PART`] bytes but the last of a
    /// complete upload.
    parts: Vec<String>,
}

impl SpoolState {
    /// The saved form: `None` for a local spool's, else one line per value.
    pub fn encode(&self) -> Option<String> {
        let m = self.multipart.as_ref()?;
        let mut s = format!("s3mp\n{}", m.id);
        for p in &m.parts {
            s.push('\n');
            s.push_str(p);
        }
        Some(s)
    }

    pub fn decode(saved: Option<&str>) -> Result<SpoolState> {
        let Some(saved) = saved else {
            return Ok(SpoolState::default());
        };
        let mut lines = saved.split('\n');
        match (lines.next(), lines.next()) {
            (Some("s3mp"), Some(id)) if !id.is_empty() => Ok(SpoolState {
                multipart: Some(Multipart {
                    id: id.to_owned(),
                    parts: lines.map(str::to_owned).collect(),
                }),
            }),
            _ => Err(Error::Invalid(format!(
                "an upload's saved spool state is unreadable: {saved:?}"
            ))),
        }
    }

    /// Bytes in the written parts.
    fn in_parts(&self) -> u64 {
        self.multipart
            .as_ref()
            .map_or(0, |m| m.parts.len() as u64 * PART as u64)
    }
}

/// How an append ended.
#[derive(Debug)]
pub struct Appended<E> {
    /// The durable offset after the append.
    pub offset: u64,
    /// The body failed part way (the client went away); what arrived before is kept.
    pub interrupted: Option<E>,
    /// The body went past the allowed end; the excess was not written.
    pub overflow: bool,
    /// What to save with the new offset.
    pub state: SpoolState,
}

impl Spool {
    /// The spool of uploads into `storage`: files in `dir` when the store is a local
    /// directory, multipart uploads in the store when it is remote.
    pub fn open(dir: impl Into<PathBuf>, storage: Storage) -> Result<Spool> {
        let dir = dir.into();
        let remote = !storage.is_local() && storage.multipart.is_some();
        if !remote {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        }
        Ok(Spool {
            dir,
            storage,
            remote,
        })
    }

    /// Whether uploads land in the store itself (so that any node may take the next request).
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The file of an upload in a local spool.
    pub fn path(&self, id: UploadId) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    /// Whether a local spool holds the upload's file.
    pub async fn holds(&self, id: UploadId) -> bool {
        !self.remote && tokio::fs::try_exists(self.path(id)).await.unwrap_or(false)
    }

    /// Starts a new upload of the object `master`: an empty file, durably, or a multipart
    /// upload.
    pub async fn create(&self, id: UploadId, master: &StorageKey) -> Result<SpoolState> {
        if self.remote {
            let mp = self.multipart()?;
            let upload = mp
                .create_multipart(&self.storage.path(master))
                .await
                .map_err(|e| Error::store("start writing", master, e))?;
            return Ok(SpoolState {
                multipart: Some(Multipart {
                    id: upload,
                    parts: Vec::new(),
                }),
            });
        }
        let path = self.path(id);
        let f = tokio::fs::File::create(&path)
            .await
            .map_err(|e| Error::io("create", &path, e))?;
        f.sync_all()
            .await
            .map_err(|e| Error::io("sync", &path, e))?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(&dir).and_then(|d| d.sync_all()))
            .await
            .map_err(|e| Error::io("sync", &self.dir, std::io::Error::other(e)))?
            .map_err(|e| Error::io("sync", &self.dir, e))?;
        Ok(SpoolState::default())
    }

    fn multipart(&self) -> Result<&std::sync::Arc<dyn object_store::multipart::MultipartStore>> {
        self.storage
            .multipart
            .as_ref()
            .ok_or_else(|| Error::Invalid("this store has no multipart uploads".into()))
    }

    /// Appends a request body at `offset` (the recorded durable offset, with `state` saved
    /// beside it), never past `limit` (the upload's length), feeding every byte written to
    /// `observe` and, without copying, to each of `taps` (hashers on other threads, which
    /// may lag by the channel's bound). Returns once the bytes are durable; the caller
    /// records the new offset and state, or [`Spool::rewind`]s.
    #[allow(clippy::too_many_arguments)]
    pub async fn append<S, E>(
        &self,
        id: UploadId,
        master: &StorageKey,
        state: &SpoolState,
        offset: u64,
        limit: u64,
        mut body: S,
        taps: &[tokio::sync::mpsc::Sender<Bytes>],
        mut observe: impl FnMut(&[u8]),
    ) -> Result<Appended<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let path = self.path(id);
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = if self.remote {
            tokio::spawn(write_parts(
                self.storage.clone(),
                self.multipart()?.clone(),
                id,
                master.clone(),
                state.clone(),
                offset..limit,
                rx,
            ))
        } else {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                write_durably(&path, offset, rx).map(|()| SpoolState::default())
            })
        };
        let mut at = offset;
        let mut interrupted = None;
        let mut overflow = false;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    interrupted = Some(e);
                    break;
                }
            };
            let room = usize::try_from(limit.saturating_sub(at)).unwrap_or(usize::MAX);
            let take = chunk.len().min(room);
            let data = chunk.slice(..take);
            for tap in taps {
                // A tap that went away only loses its own view.
                let _ = tap.send(data.clone()).await;
            }
            observe(&data);
            if tx.send(data).await.is_err() {
                // The writer stopped on an error, which it returns below.
                break;
            }
            at += take as u64;
            if take < chunk.len() {
                overflow = true;
                break;
            }
        }
        drop(tx);
        let state = writer
            .await
            .map_err(|e| Error::io("write", &path, std::io::Error::other(e)))??;
        Ok(Appended {
            offset: at,
            interrupted,
            overflow,
            state,
        })
    }

    /// Forgets what an append wrote from `kept` to `written` (a chunk failed its checksum,
    /// or went past the end): the file is cut back, or the new tail removed.
    pub async fn rewind(&self, id: UploadId, kept: u64, written: u64) -> Result<()> {
        if self.remote {
            if written != kept {
                self.storage
                    .delete(&StorageKey::upload_tail(id, written))
                    .await?;
            }
            return Ok(());
        }
        let path = self.path(id);
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(|e| Error::io("open", &path, e))?;
        f.set_len(kept)
            .await
            .map_err(|e| Error::io("truncate", &path, e))?;
        f.sync_data().await.map_err(|e| Error::io("sync", &path, e))
    }

    /// After the offset moved from `before` to `after` was recorded: the tail the database
    /// no longer names is removed (a remote spool's; nothing to do for a file).
    pub async fn recorded(&self, id: UploadId, before: u64, after: u64) -> Result<()> {
        if self.remote && before != after {
            self.storage
                .delete(&StorageKey::upload_tail(id, before))
                .await?;
        }
        Ok(())
    }

    /// Feeds the first `len` bytes of an upload in a local spool to `observe` (rebuilds the
    /// running hashes of an upload that has none saved).
    pub async fn replay(
        &self,
        id: UploadId,
        len: u64,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<()> {
        use tokio::io::AsyncReadExt;
        if self.remote {
            return Err(Error::Invalid(
                "an unfinished multipart upload cannot be read back".into(),
            ));
        }
        let path = self.path(id);
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io("open", &path, e))?;
        let mut left = len;
        let mut buf = vec![0u8; BLOCK];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(BLOCK).min(BLOCK);
            let n = f
                .read(&mut buf[..want])
                .await
                .map_err(|e| Error::io("read", &path, e))?;
            if n == 0 {
                break;
            }
            observe(&buf[..n]);
            left -= n as u64;
        }
        Ok(())
    }

    /// Makes a complete upload of `length` bytes the object `master`: the file is moved
    /// into the store, or the multipart upload completed. Safe to repeat after a crash: if
    /// that was done before, the object must be there, whole.
    pub async fn finish(
        &self,
        id: UploadId,
        master: &StorageKey,
        state: &SpoolState,
        length: u64,
    ) -> Result<()> {
        if self.remote {
            if let Some(m) = &state.multipart {
                let parts = m
                    .parts
                    .iter()
                    .map(|p| PartId {
                        content_id: p.clone(),
                    })
                    .collect();
                let path = self.storage.path(master);
                if let Err(e) = self
                    .multipart()?
                    .complete_multipart(&path, &m.id, parts)
                    .await
                {
                    tracing::info!(upload = %id, error = %e, "completing the multipart upload failed; it may have been completed before");
                    self.check_whole(master, length).await?;
                }
            }
            self.storage
                .delete_prefix(&StorageKey::upload_prefix(id))
                .await?;
            return Ok(());
        }
        let part = self.path(id);
        if tokio::fs::try_exists(&part).await.unwrap_or(false) {
            self.storage.put_file(master, &part).await
        } else {
            self.check_whole(master, length).await
        }
    }

    async fn check_whole(&self, master: &StorageKey, length: u64) -> Result<()> {
        let size = self.storage.head(master).await?.size;
        if size != length {
            return Err(Error::Invalid(format!(
                "{master} has {size} of {length} bytes"
            )));
        }
        Ok(())
    }

    /// Removes what an unfinished upload left (terminated or expired).
    pub async fn remove(
        &self,
        id: UploadId,
        master: &StorageKey,
        state: &SpoolState,
    ) -> Result<()> {
        if self.remote {
            if let Some(m) = &state.multipart {
                let path = self.storage.path(master);
                if let Err(e) = self.multipart()?.abort_multipart(&path, &m.id).await {
                    // Gone already (a repeated removal), or the store will expire it.
                    tracing::info!(upload = %id, error = %e, "aborting the multipart upload failed");
                }
            }
            self.storage
                .delete_prefix(&StorageKey::upload_prefix(id))
                .await?;
            return Ok(());
        }
        let path = self.path(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }
}

/// The part writer of a remote [`Spool::append`]: takes the bytes after `span.start` from
/// `rx`, behind the saved tail, and writes every full [`PART`] as a part; what is left
/// becomes the last part when it reaches `span.end`, else the new tail. Returns the state to
/// save.
async fn write_parts(
    storage: Storage,
    mp: std::sync::Arc<dyn object_store::multipart::MultipartStore>,
    id: UploadId,
    master: StorageKey,
    mut state: SpoolState,
    span: std::ops::Range<u64>,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> Result<SpoolState> {
    let in_parts = state.in_parts();
    let path = storage.path(&master);
    let Some(m) = state.multipart.as_mut() else {
        return Err(Error::Invalid(
            "an upload into a remote store has no multipart upload".into(),
        ));
    };
    let mut buf = BytesMut::with_capacity(PART);
    if span.start > in_parts {
        let tail = StorageKey::upload_tail(id, span.start);
        let want = span.start - in_parts;
        match storage.read_small(&tail, PART as u64).await? {
            Some((_, bytes)) if bytes.len() as u64 == want => buf.extend_from_slice(&bytes),
            found => {
                return Err(Error::Invalid(format!(
                    "{tail} holds {} bytes where {want} were recorded",
                    found.map_or(0, |(_, b)| b.len())
                )));
            }
        }
    }
    let mut at = span.start;
    while let Some(mut b) = rx.recv().await {
        at += b.len() as u64;
        while !b.is_empty() {
            let n = (PART - buf.len()).min(b.len());
            buf.extend_from_slice(&b.split_to(n));
            if buf.len() == PART {
                let part = buf.split().freeze();
                put_part(&*mp, &path, &master, m, part).await?;
            }
        }
    }
    if at == span.start {
        return Ok(state);
    }
    if at == span.end {
        if !buf.is_empty() {
            put_part(&*mp, &path, &master, m, buf.freeze()).await?;
        }
    } else {
        storage
            .put(&StorageKey::upload_tail(id, at), buf.freeze())
            .await?;
    }
    Ok(state)
}

async fn put_part(
    mp: &dyn object_store::multipart::MultipartStore,
    path: &object_store::path::Path,
    master: &StorageKey,
    m: &mut Multipart,
    part: Bytes,
) -> Result<()> {
    let done = mp
        .put_part(path, &m.id, m.parts.len(), PutPayload::from_bytes(part))
        .await
        .map_err(|e| Error::store("write", master, e))?;
    m.parts.push(done.content_id);
    Ok(())
}

/// The writer thread of [`Spool::append`]: writes what arrives on `rx` at `offset` (after
/// cutting the file back to it), with background syncs every [`KICK`] bytes, then syncs the
/// rest. Returns once every byte is on disk.
fn write_durably(
    path: &Path,
    offset: u64,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    // Forget bytes written after the last acknowledged offset (a crash mid-PATCH).
    file.set_len(offset)
        .map_err(|e| Error::io("truncate", path, e))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .map_err(|e| Error::io("seek", path, e))?;
    let file = &file;
    std::thread::scope(|scope| {
        // At most one sync waits; a kick while one runs is dropped (the next one covers it).
        let (kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
        let syncer = scope.spawn(move || {
            while kicks.recv().is_ok() {
                file.sync_data()?;
            }
            Ok::<_, std::io::Error>(())
        });
        let mut out = std::io::BufWriter::with_capacity(BLOCK, file);
        let mut since_kick = 0u64;
        let written = (|| {
            while let Some(b) = rx.blocking_recv() {
                out.write_all(&b)?;
                since_kick += b.len() as u64;
                if since_kick >= KICK {
                    out.flush()?;
                    let _ = kick.try_send(());
                    since_kick = 0;
                }
            }
            out.flush()
        })();
        drop(kick);
        let synced = syncer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("sync thread panicked")));
        written.map_err(|e| Error::io("write", path, e))?;
        synced.map_err(|e| Error::io("sync", path, e))?;
        file.sync_data().map_err(|e| Error::io("sync", path, e))
    })
}

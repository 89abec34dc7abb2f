//! The upload spool: one append-only file per resumable upload, on local disk.
//!
//! The offset a client is told is always a durable one: bytes are appended, then
//! `fdatasync`ed, and only then may the caller record and acknowledge the new offset. After a
//! crash the file may hold bytes beyond the recorded offset (written but never acknowledged);
//! [`Spool::append`] truncates them away before writing, so the recorded offset is the truth.
//!
//! The disk works while the network does: a writer thread takes the received buffers from a
//! bounded queue, and every 8 MiB ([`KICK`]) a second thread starts an `fdatasync` of what is
//! written so far, so the page cache drains during the request instead of all at its end,
//! and the final sync only waits for the tail.

use crate::{Error, Result};
use bytes::Bytes;
use cityx_core::UploadId;
use futures_util::{Stream, StreamExt};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// Writes reach the disk in blocks of this size (fewer system calls than one per network
/// chunk).
const BLOCK: usize = 1024 * 1024;

/// Received buffers the writer thread may lag behind the network.
const WRITE_QUEUE: usize = 32;

/// Bytes written between background syncs.
const KICK: u64 = 8 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
}

/// How an append ended.
#[derive(Debug)]
pub struct Appended<E> {
    /// The durable offset after the append.
    pub offset: u64,
    /// The request body failed part way (the client went away); what arrived before is kept.
    pub interrupted: Option<E>,
    /// The body went past the allowed end; the excess was not written.
    pub overflow: bool,
}

impl Spool {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Spool> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        Ok(Spool { dir })
    }

    pub fn path(&self, id: UploadId) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    /// Creates the empty file of a new upload, durably.
    pub async fn create(&self, id: UploadId) -> Result<()> {
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
            .map_err(|e| Error::io("sync", &self.dir, e))
    }

    /// Appends a request body at `offset` (the recorded durable offset), never past `limit`
    /// (the upload's length), feeding every byte written to `observe` and, without copying,
    /// to each of `taps` (hashers on other threads, which may lag by the channel's bound).
    /// Returns once the bytes are on disk.
    pub async fn append<S, E>(
        &self,
        id: UploadId,
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
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || write_durably(&path, offset, rx))
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
        writer
            .await
            .map_err(|e| Error::io("write", &path, std::io::Error::other(e)))??;
        Ok(Appended {
            offset: at,
            interrupted,
            overflow,
        })
    }

    /// Cuts an upload back to `offset` (a chunk failed its checksum).
    pub async fn truncate(&self, id: UploadId, offset: u64) -> Result<()> {
        let path = self.path(id);
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(|e| Error::io("open", &path, e))?;
        f.set_len(offset)
            .await
            .map_err(|e| Error::io("truncate", &path, e))?;
        f.sync_data().await.map_err(|e| Error::io("sync", &path, e))
    }

    /// Feeds the first `len` bytes of an upload to `observe`: after a restart, this rebuilds
    /// the running hashes of an upload that is being resumed.
    pub async fn replay(
        &self,
        id: UploadId,
        len: u64,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<()> {
        use tokio::io::AsyncReadExt;
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

    pub async fn remove(&self, id: UploadId) -> Result<()> {
        let path = self.path(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }
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

//! Object storage for cityx: a facade over `object_store` with typed keys ([`StorageKey`]),
//! chosen by URL (`file://PATH` now, `memory://` for tests, S3 with the scale-out release),
//! and the upload [`spool`]: durable, append-only files where resumable uploads land before
//! they become objects.
//!
//! This is the only crate that knows `object_store` and the layout of stored objects. It
//! depends on `cityx-core` for ids and on nothing above it. Callers never build object paths
//! by hand: every key comes from a [`StorageKey`] constructor.

pub mod key;
pub mod spool;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, PutPayload};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use key::StorageKey;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error("storage url `{0}` is not supported: use file://PATH or memory://")]
    UnsupportedUrl(String),
    #[error("storage failed to {context} {key}")]
    Store {
        context: &'static str,
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("storage failed to {context} {path}")]
    Io {
        context: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    fn store(context: &'static str, key: &StorageKey, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound {
                key: key.to_string(),
            },
            source => Error::Store {
                context,
                key: key.to_string(),
                source,
            },
        }
    }

    pub(crate) fn io(context: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Size and version of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// A strong validator for HTTP (`ETag`).
    pub etag: Option<String>,
}

/// The object store of one installation.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The directory behind a `file://` store, for zero-copy moves from the spool.
    local_root: Option<PathBuf>,
}

impl Storage {
    /// Opens the store a URL names, creating a local directory if needed.
    pub fn from_url(url: &str) -> Result<Storage> {
        if let Some(path) = url.strip_prefix("file://") {
            let root = PathBuf::from(path);
            std::fs::create_dir_all(&root).map_err(|e| Error::io("create", &root, e))?;
            let root = root
                .canonicalize()
                .map_err(|e| Error::io("resolve", &root, e))?;
            // Deleting an item's objects leaves no empty directories behind.
            let store = LocalFileSystem::new_with_prefix(&root)
                .map_err(|e| Error::Store {
                    context: "open",
                    key: root.display().to_string(),
                    source: e,
                })?
                .with_automatic_cleanup(true);
            Ok(Storage {
                store: Arc::new(store),
                local_root: Some(root),
            })
        } else if url == "memory://" {
            Ok(Storage {
                store: Arc::new(InMemory::new()),
                local_root: None,
            })
        } else {
            Err(Error::UnsupportedUrl(url.to_owned()))
        }
    }

    /// The file behind an object when the store is a local directory (tools read it in
    /// place); `None` for other stores.
    pub fn local_path(&self, key: &StorageKey) -> Option<PathBuf> {
        self.local_root.as_ref().map(|root| root.join(key.as_str()))
    }

    /// Copies an object into a local file (for tools, when the store is not local), in
    /// constant memory.
    pub async fn download(&self, key: &StorageKey, to: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let size = self.head(key).await?.size;
        let mut chunks = if size > 0 {
            self.read(key, 0..size).await?
        } else {
            futures_util::stream::empty().boxed()
        };
        let mut file = tokio::fs::File::create(to)
            .await
            .map_err(|e| Error::io("create", to, e))?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| Error::io("read", to, e))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::io("write", to, e))?;
        }
        file.sync_all().await.map_err(|e| Error::io("sync", to, e))
    }

    pub async fn put(&self, key: &StorageKey, bytes: Bytes) -> Result<()> {
        self.store
            .put(&key.path(), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| Error::store("write", key, e))?;
        Ok(())
    }

    /// Moves a finished local file into the store under `key`: a rename when the store is a
    /// directory on the same file system (no copy of a multi-gigabyte master), otherwise a
    /// streamed upload followed by removing the file.
    pub async fn put_file(&self, key: &StorageKey, file: &Path) -> Result<()> {
        if let Some(root) = &self.local_root {
            let target = root.join(key.as_str());
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| Error::io("create", dir, e))?;
            }
            // The bytes first, then the name: after a crash the object is whole or absent.
            let f = tokio::fs::File::open(file)
                .await
                .map_err(|e| Error::io("open", file, e))?;
            f.sync_all().await.map_err(|e| Error::io("sync", file, e))?;
            drop(f);
            match tokio::fs::rename(file, &target).await {
                Ok(()) => return sync_dir(target.parent()).await,
                // Different file systems: fall through to a copy.
                Err(e) if e.raw_os_error() == Some(18) => {}
                Err(e) => return Err(Error::io("move", file, e)),
            }
        }
        let mut upload = self
            .store
            .put_multipart(&key.path())
            .await
            .map_err(|e| Error::store("start writing", key, e))?;
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(|e| Error::io("open", file, e))?;
        const PART: usize = 8 * 1024 * 1024;
        loop {
            let mut buf = vec![0u8; PART];
            let mut filled = 0;
            while filled < PART {
                use tokio::io::AsyncReadExt;
                let n = f
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| Error::io("read", file, e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            upload
                .put_part(PutPayload::from(buf))
                .await
                .map_err(|e| Error::store("write", key, e))?;
            if filled < PART {
                break;
            }
        }
        upload
            .complete()
            .await
            .map_err(|e| Error::store("finish writing", key, e))?;
        tokio::fs::remove_file(file)
            .await
            .map_err(|e| Error::io("remove", file, e))?;
        Ok(())
    }

    /// Streams an object, or `range` of it (which the caller has checked against the size
    /// from [`Storage::head`]), in constant memory. Local files are read in large chunks.
    pub async fn read(
        &self,
        key: &StorageKey,
        range: Range<u64>,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>> {
        const CHUNK: u64 = 256 * 1024;
        if let Some(path) = self.local_path(key) {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::NotFound {
                        key: key.to_string(),
                    }
                } else {
                    Error::io("open", &path, e)
                }
            })?;
            file.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(|e| Error::io("seek", &path, e))?;
            let left = range.end.saturating_sub(range.start);
            let stream =
                futures_util::stream::try_unfold((file, left), |(mut file, left)| async move {
                    if left == 0 {
                        return Ok(None);
                    }
                    let want = usize::try_from(left.min(CHUNK)).unwrap_or(usize::MAX);
                    let mut buf = bytes::BytesMut::zeroed(want);
                    let mut got = 0;
                    while got < want {
                        let n = file.read(&mut buf[got..]).await?;
                        if n == 0 {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "object shrank while read",
                            ));
                        }
                        got += n;
                    }
                    Ok(Some((buf.freeze(), (file, left - want as u64))))
                });
            return Ok(stream.boxed());
        }
        let opts = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(range)),
            ..Default::default()
        };
        let r = self
            .store
            .get_opts(&key.path(), opts)
            .await
            .map_err(|e| Error::store("read", key, e))?;
        Ok(r.into_stream()
            .map(|c| c.map_err(std::io::Error::other))
            .boxed())
    }

    /// An object read whole into memory, when it is at most `max` bytes (`None` when it is
    /// larger): what is served from memory. A local file takes one trip to a blocking thread
    /// (open, stat, read), where streaming takes one per step; its validator is the one
    /// [`Storage::head`] gives.
    pub async fn read_small(
        &self,
        key: &StorageKey,
        max: u64,
    ) -> Result<Option<(ObjectInfo, Bytes)>> {
        if let Some(path) = self.local_path(key) {
            let name = key.to_string();
            return tokio::task::spawn_blocking(move || read_small_file(&path, max, name))
                .await
                .map_err(|e| Error::Io {
                    context: "read",
                    path: key.to_string(),
                    source: std::io::Error::other(e),
                })?;
        }
        let info = self.head(key).await?;
        if info.size > max {
            return Ok(None);
        }
        let bytes = self
            .store
            .get(&key.path())
            .await
            .map_err(|e| Error::store("read", key, e))?
            .bytes()
            .await
            .map_err(|e| Error::store("read", key, e))?;
        Ok(Some((info, bytes)))
    }

    pub async fn head(&self, key: &StorageKey) -> Result<ObjectInfo> {
        let m = self
            .store
            .head(&key.path())
            .await
            .map_err(|e| Error::store("inspect", key, e))?;
        Ok(ObjectInfo {
            size: m.size,
            etag: m.e_tag,
        })
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<()> {
        match self.store.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store("delete", key, e)),
        }
    }

    /// Deletes every object under a prefix; returns how many.
    pub async fn delete_prefix(&self, prefix: &StorageKey) -> Result<u64> {
        let mut listed = self.store.list(Some(&prefix.path()));
        let mut n = 0;
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| Error::store("list", prefix, e))?;
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => n += 1,
                Err(e) => return Err(Error::store("delete", prefix, e)),
            }
        }
        Ok(n)
    }
}

/// Makes a rename durable: fsync the directory that now holds the entry.
async fn sync_dir(dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    let d = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(&d).and_then(|f| f.sync_all()))
        .await
        .map_err(|e| Error::io("sync", dir, std::io::Error::other(e)))?
        .map_err(|e| Error::io("sync", dir, e))
}

/// [`Storage::read_small`] of a local file, on a blocking thread.
fn read_small_file(path: &Path, max: u64, key: String) -> Result<Option<(ObjectInfo, Bytes)>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { key }
        } else {
            Error::io("open", path, e)
        }
    })?;
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    if meta.len() > max {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut buf)
        .map_err(|e| Error::io("read", path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    // The validator `object_store` gives local files, so that both reads agree.
    let etag = format!("{:x}-{mtime:x}-{:x}", meta.ino(), meta.len());
    Ok(Some((
        ObjectInfo {
            size: buf.len() as u64,
            etag: Some(etag),
        },
        Bytes::from(buf),
    )))
}

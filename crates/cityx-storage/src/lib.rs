//! Object storage for cityx: a facade over `object_store` with typed keys ([`StorageKey`]),
//! chosen by URL (`file://PATH`, `s3://BUCKET/PREFIX` for any S3-compatible store, `memory://`
//! for tests), and the upload [`spool`], where resumable uploads land before they become
//! objects: durable append-only files beside a local store, multipart uploads in S3.
//!
//! This is the only crate that knows `object_store` and the layout of stored objects. It
//! depends on `cityx-core` for ids and on nothing above it. Callers never build object paths
//! by hand: every key comes from a [`StorageKey`] constructor.

pub mod key;
pub mod migrate;
pub mod presign;
pub mod spool;
pub mod testing;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::MultipartStore;
use object_store::{ObjectStore, PutPayload};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use key::StorageKey;
pub use presign::ResponseHeaders;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error(
        "storage url `{0}` is not supported: use file://PATH, s3://BUCKET[/PREFIX] or memory://"
    )]
    UnsupportedUrl(String),
    #[error("{0}")]
    Invalid(String),
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

    pub(crate) fn store(context: &'static str, key: &StorageKey, e: object_store::Error) -> Self {
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

/// An object found by listing a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: StorageKey,
    pub size: u64,
}

/// Size and version of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// A strong validator for HTTP (`ETag`).
    pub etag: Option<String>,
}

/// Where the objects live, and how to reach an S3-compatible store (`s3://BUCKET/PREFIX`):
/// the `[storage]` section of the configuration. For S3, what is left empty comes from the
/// usual `AWS_*` environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`), else the defaults of AWS itself.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreOptions {
    /// `file://PATH`, `s3://BUCKET[/PREFIX]` or `memory://`; empty in the configuration: the
    /// data directory's `objects` folder.
    pub url: String,
    /// `https://HOST[:PORT]` of a store other than AWS (MinIO, Ceph RGW, SeaweedFS, the S3
    /// endpoints of Chinese clouds); `http://` is allowed for a store on a private network.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `BUCKET.HOST/KEY` addresses instead of `HOST/BUCKET/KEY` (some clouds require them).
    pub virtual_hosted: bool,
    /// Send clients to the store itself for downloads, with presigned URLs (needs static
    /// credentials).
    pub presign_downloads: bool,
    /// Where clients reach the store, for presigned URLs, when not at `endpoint` (a public
    /// name, a reverse proxy); empty: `endpoint`.
    pub public_endpoint: String,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &if self.secret_access_key.is_empty() {
                    ""
                } else {
                    "[redacted]"
                },
            )
            .field("virtual_hosted", &self.virtual_hosted)
            .field("presign_downloads", &self.presign_downloads)
            .field("public_endpoint", &self.public_endpoint)
            .finish()
    }
}

/// Whether a bucket name or key prefix of an `s3://` URL is acceptable: path segments of
/// ASCII letters, digits, `.`, `_` or `-`.
fn plain_segments(s: &str) -> bool {
    s.split('/').all(|seg| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    })
}

/// The object store of one installation.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The same store's multipart uploads, when it has them (S3, memory), for uploads that
    /// resume on any node.
    multipart: Option<Arc<dyn MultipartStore>>,
    /// Put before every key (`s3://BUCKET/PREFIX`); empty for none.
    prefix: String,
    /// The directory behind a `file://` store, for zero-copy moves from the spool.
    local_root: Option<PathBuf>,
    /// Signs URLs that clients fetch objects with straight from the store (S3 with static
    /// credentials).
    presigner: Option<Arc<presign::Presigner>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("store", &self.store)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the store a URL names, creating a local directory if needed.
    pub fn from_url(url: &str) -> Result<Storage> {
        Storage::open(&StoreOptions {
            url: url.to_owned(),
            ..Default::default()
        })
    }

    /// Opens the store its URL names, with how to reach it if it is S3.
    pub fn open(s3: &StoreOptions) -> Result<Storage> {
        let url = s3.url.as_str();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_end_matches('/');
            if bucket.is_empty() || !plain_segments(bucket) || bucket.contains('/') {
                return Err(Error::Invalid(format!(
                    "storage url `{url}` needs a bucket name: s3://BUCKET[/PREFIX]"
                )));
            }
            if !prefix.is_empty() && !plain_segments(prefix) {
                return Err(Error::Invalid(format!(
                    "the prefix of storage url `{url}` may hold only ASCII letters, digits, `.`, `_`, `-` and `/`"
                )));
            }
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_virtual_hosted_style_request(s3.virtual_hosted)
                .with_retry(object_store::RetryConfig {
                    max_retries: 4,
                    retry_timeout: std::time::Duration::from_secs(30),
                    ..Default::default()
                });
            if !s3.endpoint.is_empty() {
                if !(s3.endpoint.starts_with("https://") || s3.endpoint.starts_with("http://")) {
                    return Err(Error::Invalid(format!(
                        "storage.endpoint `{}` must start with https:// or http://",
                        s3.endpoint
                    )));
                }
                b = b
                    .with_endpoint(s3.endpoint.trim_end_matches('/'))
                    .with_allow_http(s3.endpoint.starts_with("http://"));
            }
            if !s3.region.is_empty() {
                b = b.with_region(&s3.region);
            }
            if !s3.access_key_id.is_empty() {
                b = b.with_access_key_id(&s3.access_key_id);
            }
            if !s3.secret_access_key.is_empty() {
                b = b.with_secret_access_key(&s3.secret_access_key);
            }
            let presigner = match s3.presign_downloads {
                true => Some(presigner_of(&b, bucket, &s3.public_endpoint)?),
                false => None,
            };
            let store = Arc::new(b.build().map_err(|e| Error::Invalid(e.to_string()))?);
            return Ok(Storage {
                store: store.clone(),
                multipart: Some(store),
                prefix: prefix.to_owned(),
                local_root: None,
                presigner,
            });
        }
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
                multipart: None,
                prefix: String::new(),
                local_root: Some(root),
                presigner: None,
            })
        } else if url == "memory://" {
            let store = Arc::new(InMemory::new());
            Ok(Storage {
                store: store.clone(),
                multipart: Some(store),
                prefix: String::new(),
                local_root: None,
                presigner: None,
            })
        } else {
            Err(Error::UnsupportedUrl(url.to_owned()))
        }
    }

    /// A URL that fetches `key` straight from the store, valid for `expires_in` from now
    /// and answered with `headers`; `None` unless the store is S3 with
    /// `presign_downloads`.
    pub fn presigned_get(
        &self,
        key: &StorageKey,
        expires_in: std::time::Duration,
        headers: &ResponseHeaders<'_>,
    ) -> Option<String> {
        let presigner = self.presigner.as_ref()?;
        let object = self.path(key);
        Some(presigner.get_url(
            object.as_ref(),
            std::time::SystemTime::now(),
            expires_in,
            headers,
        ))
    }

    /// Whether objects are files in a local directory (else a remote store).
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// Where a key lives in the store, under the prefix.
    pub(crate) fn path(&self, key: &StorageKey) -> object_store::path::Path {
        if self.prefix.is_empty() {
            object_store::path::Path::from(key.as_str())
        } else {
            object_store::path::Path::from(format!("{}/{}", self.prefix, key.as_str()))
        }
    }

    /// Whether the store answers (for readiness): a read of a key that is never written
    /// must say "not found", not fail.
    pub async fn ping(&self) -> Result<()> {
        match self.head(&StorageKey::probe()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
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
        let mut chunks = self.read_whole(key, size).await?;
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
            .put(&self.path(key), PutPayload::from_bytes(bytes))
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
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| Error::io("open", file, e))?;
        let chunks = futures_util::stream::try_unfold(f, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = bytes::BytesMut::with_capacity(1024 * 1024);
            let n = f.read_buf(&mut buf).await?;
            Ok((n > 0).then(|| (buf.freeze(), f)))
        });
        self.put_stream(key, chunks.boxed()).await?;
        tokio::fs::remove_file(file)
            .await
            .map_err(|e| Error::io("remove", file, e))?;
        Ok(())
    }

    /// Writes an object from a stream of chunks, in constant memory: one write when it is
    /// small, else a multipart upload of [`spool::PART`]-sized parts. Nothing is visible
    /// under `key` unless every chunk arrived.
    pub async fn put_stream(
        &self,
        key: &StorageKey,
        mut chunks: futures_util::stream::BoxStream<'_, std::io::Result<Bytes>>,
    ) -> Result<()> {
        let read_failed = |e| Error::Io {
            context: "read what is written to",
            path: key.to_string(),
            source: e,
        };
        let mut buf = bytes::BytesMut::new();
        let mut upload: Option<Box<dyn object_store::MultipartUpload>> = None;
        loop {
            let next = match chunks.next().await.transpose() {
                Ok(next) => next,
                Err(e) => {
                    if let Some(mut up) = upload {
                        let _ = up.abort().await;
                    }
                    return Err(read_failed(e));
                }
            };
            let end = next.is_none();
            if let Some(chunk) = next {
                buf.extend_from_slice(&chunk);
            }
            while buf.len() >= spool::PART || (end && upload.is_some() && !buf.is_empty()) {
                let part = buf.split_to(buf.len().min(spool::PART)).freeze();
                let up = match &mut upload {
                    Some(up) => up,
                    None => upload.insert(
                        self.store
                            .put_multipart(&self.path(key))
                            .await
                            .map_err(|e| Error::store("start writing", key, e))?,
                    ),
                };
                if let Err(e) = up.put_part(PutPayload::from(part)).await {
                    let _ = up.abort().await;
                    return Err(Error::store("write", key, e));
                }
            }
            if end {
                break;
            }
        }
        match upload {
            Some(mut up) => {
                up.complete()
                    .await
                    .map_err(|e| Error::store("finish writing", key, e))?;
                Ok(())
            }
            None => self.put(key, buf.freeze()).await,
        }
    }

    /// The size and hex SHA-256 of an object, read whole in constant memory.
    pub async fn sha256(&self, key: &StorageKey) -> Result<(u64, String)> {
        use sha2::Digest;
        let size = self.head(key).await?.size;
        let mut hasher = sha2::Sha256::new();
        let mut read = 0u64;
        let mut chunks = self.read_whole(key, size).await?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| Error::Io {
                context: "read",
                path: key.to_string(),
                source: e,
            })?;
            read += chunk.len() as u64;
            hasher.update(&chunk);
        }
        if read != size {
            return Err(Error::Io {
                context: "read",
                path: key.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{read} bytes read of {size}"),
                ),
            });
        }
        Ok((size, hex(&hasher.finalize())))
    }

    /// Streams a whole object of `size` bytes (as [`Storage::head`] or a listing gave it);
    /// nothing for an empty one, which has no range to read.
    pub async fn read_whole(
        &self,
        key: &StorageKey,
        size: u64,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>> {
        if size == 0 {
            return Ok(futures_util::stream::empty().boxed());
        }
        self.read(key, 0..size).await
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
            .get_opts(&self.path(key), opts)
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
            .get(&self.path(key))
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
            .head(&self.path(key))
            .await
            .map_err(|e| Error::store("inspect", key, e))?;
        Ok(ObjectInfo {
            size: m.size,
            etag: m.e_tag,
        })
    }

    pub async fn delete(&self, key: &StorageKey) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store("delete", key, e)),
        }
    }

    /// Every object under a prefix, in no particular order.
    pub fn list(
        &self,
        prefix: &StorageKey,
    ) -> futures_util::stream::BoxStream<'static, Result<Listed>> {
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let prefix = prefix.clone();
        self.store
            .list(Some(&self.path(&prefix)))
            .map(move |meta| {
                let meta = meta.map_err(|e| Error::store("list", &prefix, e))?;
                Ok(Listed {
                    key: StorageKey::listed(meta.location.as_ref().get(skip..).unwrap_or("")),
                    size: meta.size,
                })
            })
            .boxed()
    }

    /// How many objects there are under a prefix.
    pub async fn count(&self, prefix: &StorageKey) -> Result<u64> {
        let mut listed = self.store.list(Some(&self.path(prefix)));
        let mut n = 0;
        while let Some(meta) = listed.next().await {
            meta.map_err(|e| Error::store("list", prefix, e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Deletes every object under a prefix; returns how many.
    pub async fn delete_prefix(&self, prefix: &StorageKey) -> Result<u64> {
        let mut listed = self.store.list(Some(&self.path(prefix)));
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

/// Lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
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

/// What presigned URLs of an S3 store need, read back from its settled configuration (so the
/// `AWS_*` environment counts too). Static credentials are required.
fn presigner_of(
    b: &object_store::aws::AmazonS3Builder,
    bucket: &str,
    public_endpoint: &str,
) -> Result<Arc<presign::Presigner>> {
    use object_store::aws::AmazonS3ConfigKey as Key;
    let get = |k| b.get_config_value(&k).filter(|v| !v.is_empty());
    let (Some(access_key_id), Some(secret_access_key)) =
        (get(Key::AccessKeyId), get(Key::SecretAccessKey))
    else {
        return Err(Error::Invalid(
            "storage.presign_downloads needs static credentials: storage.access_key_id and storage.secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into(),
        ));
    };
    let region = get(Key::Region).unwrap_or_else(|| "us-east-1".into());
    let endpoint = match public_endpoint {
        "" => get(Key::Endpoint).unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com")),
        e if e.starts_with("https://") || e.starts_with("http://") => e.to_owned(),
        e => {
            return Err(Error::Invalid(format!(
                "storage.public_endpoint `{e}` must start with https:// or http://"
            )));
        }
    };
    Ok(Arc::new(presign::Presigner {
        endpoint,
        bucket: bucket.to_owned(),
        virtual_hosted: get(Key::VirtualHostedStyleRequest).is_some_and(|v| v == "true"),
        region,
        access_key_id,
        secret_access_key,
        session_token: get(Key::Token),
    }))
}

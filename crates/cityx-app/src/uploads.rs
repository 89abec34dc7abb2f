//! Resumable uploads (tus 1.0): creation with quota reservation, durable appends with
//! running SHA-256 and MD5, per-chunk checksums, termination, expiry, and completion, which
//! moves the master into storage and enqueues its first job in the same transaction as the
//! asset's new state.

use crate::secrets::{hex, unhex};
use crate::{Error, Result};
use bytes::Bytes;
use cityx_core::{
    Actor, Asset, AssetId, AssetInput, AuditAction, NewAudit, StationId, TenantScope, Upload,
    UploadId, UploadState, policy,
};
use cityx_db::{CompletedUpload, Rejection, UploadProgress};
use cityx_storage::StorageKey;
use cityx_storage::spool::SpoolState;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Ingest: resumable uploads, imports from URLs, and items' deletion and restoration. See
/// [`App::ingest`](crate::App::ingest).
#[derive(Clone)]
pub struct Ingest<'a> {
    pub(crate) ingest: Arc<dyn cityx_db::IngestRepo>,
    pub(crate) exchange: &'a dyn cityx_db::ExchangeRepo,
    pub(crate) stations: &'a dyn cityx_db::StationRepo,
    pub(crate) storage: &'a cityx_storage::Storage,
    pub(crate) spool: &'a cityx_storage::spool::Spool,
    pub(crate) uploads: &'a UploadOptions,
    pub(crate) fetch: &'a cityx_fetch::Guard,
    pub(crate) jobs_ready: &'a Arc<tokio::sync::Notify>,
}

/// How a rejected duplicate's `failure` begins; the earlier item's id follows, or
/// [`ANOTHER_STATIONS_ITEM`] when the contributor may not see that item.
pub const DUPLICATE_FAILURE: &str = "duplicate of ";

/// Names an earlier item the contributor may not see.
const ANOTHER_STATIONS_ITEM: &str = "an item of another station";

/// Received buffers a hashing thread may lag behind the disk writes.
const HASH_QUEUE: usize = 32;

pub use cityx_core::tus::ChecksumAlg;

/// The hashes of an upload so far, kept between PATCHes so each byte is hashed once.
#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) offset: u64,
    sha256: Sha256,
    md5: Md5,
}

impl Running {
    pub(crate) fn new() -> Self {
        Running {
            offset: 0,
            sha256: Sha256::new(),
            md5: Md5::new(),
        }
    }

    pub(crate) fn update(&mut self, b: &[u8]) {
        self.sha256.update(b);
        self.md5.update(b);
        self.offset += b.len() as u64;
    }

    /// The saved form of the hash states (saved with the offset, so that the next request
    /// continues them on any node): SHA-256's and MD5's, in hex, with a dot between.
    fn save(&self) -> String {
        format!(
            "{}.{}",
            hex(&self.sha256.serialize()),
            hex(&self.md5.serialize())
        )
    }

    /// The hashes of the first `offset` bytes, from their saved form.
    fn restore(offset: u64, saved: &str) -> Option<Running> {
        let (sha256, md5) = saved.split_once('.')?;
        let (sha256, md5) = (unhex(sha256)?, unhex(md5)?);
        Some(Running {
            offset,
            sha256: Sha256::deserialize(sha256.as_slice().try_into().ok()?).ok()?,
            md5: Md5::deserialize(md5.as_slice().try_into().ok()?).ok()?,
        })
    }
}

impl Ingest<'_> {
    /// What a whole master's arrival records: its hashes, an earlier live item with the same
    /// bytes, and, under the reject policy, the rejection that follows.
    pub(crate) async fn arrival(
        &self,
        asset: AssetId,
        station: StationId,
        running: Running,
    ) -> Result<CompletedUpload> {
        let sha256 = hex(&running.sha256.finalize());
        let md5 = hex(&running.md5.finalize());
        let duplicate_of = self.ingest.find_by_sha256(&sha256, asset).await?;
        let rejected = match (duplicate_of, self.uploads.duplicates) {
            (Some(earlier), DuplicatePolicy::Reject) => Some(Rejection {
                failure: format!(
                    "{DUPLICATE_FAILURE}{}",
                    self.earlier_as_seen_by(station, earlier).await?
                ),
                purge_after: self.purge_time_from_now(),
            }),
            _ => None,
        };
        Ok(CompletedUpload {
            sha256,
            md5,
            duplicate_of,
            completed_at: cityx_core::now(),
            rejected,
        })
    }
}

impl Ingest<'_> {
    /// The earlier item's id, when the contributing `station` may see it (another station's
    /// private item is not revealed to it); else words that say whose it is.
    async fn earlier_as_seen_by(&self, station: StationId, earlier: AssetId) -> Result<String> {
        let seen = self
            .exchange
            .get_visible_asset(TenantScope::Station(station), earlier, cityx_core::now())
            .await;
        match seen {
            Ok(_) => Ok(earlier.to_string()),
            Err(e) if e.is_not_found() => Ok(ANOTHER_STATIONS_ITEM.to_owned()),
            Err(e) => Err(e.into()),
        }
    }
}

/// An upload's write lease, held while a request writes to it: taken in the database so
/// that it holds across nodes, renewed while the request runs, and given back when it ends.
/// If the node dies, it runs out ([`UploadOptions::lease`]) and the upload goes on elsewhere.
struct Lease {
    repo: Arc<dyn cityx_db::IngestRepo>,
    upload: UploadId,
    writer: String,
    renewer: tokio::task::JoinHandle<()>,
    released: bool,
}

impl Lease {
    async fn release(mut self) -> Result<()> {
        self.released = true;
        self.renewer.abort();
        self.repo
            .release_upload_lease(self.upload, &self.writer)
            .await?;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        if !self.released {
            // A request that ended early (an error, or a client that went away): give the
            // lease back without waiting for it.
            let (repo, id, writer) = (
                self.repo.clone(),
                self.upload,
                std::mem::take(&mut self.writer),
            );
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = repo.release_upload_lease(id, &writer).await {
                        tracing::warn!(upload = %id, error = %e, "failed to release an upload lease; it will run out");
                    }
                });
            }
        }
    }
}

impl Ingest<'_> {
    /// Takes an upload's lease: its offset and saved progress as this writer finds them,
    /// or `UploadLocked` while another request, on any node, writes to it.
    async fn lease(&self, id: UploadId) -> Result<(Lease, u64, UploadProgress)> {
        let writer = uuid::Uuid::now_v7().to_string();
        let term = self.uploads.lease;
        let now = cityx_core::now();
        let Some((offset, progress)) = self
            .ingest
            .lease_upload(id, &writer, now, now + term)
            .await?
        else {
            return Err(Error::UploadLocked);
        };
        let renewer = tokio::spawn({
            let (repo, writer) = (self.ingest.clone(), writer.clone());
            async move {
                loop {
                    tokio::time::sleep(term / 3).await;
                    match repo
                        .renew_upload_lease(id, &writer, cityx_core::now() + term)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            tracing::warn!(upload = %id, error = %e, "failed to renew an upload lease")
                        }
                    }
                }
            }
        });
        let lease = Lease {
            repo: self.ingest.clone(),
            upload: id,
            writer,
            renewer,
            released: false,
        };
        Ok((lease, offset, progress))
    }

    /// The running hashes of an upload's first `len` bytes: saved, or (for an upload from
    /// before hashes were saved) read back from the spool or the stored master.
    async fn running(&self, u: &Upload, len: u64, saved: Option<&str>) -> Result<Running> {
        if let Some(r) = saved.and_then(|h| Running::restore(len, h)) {
            return Ok(r);
        }
        let internal = |e: cityx_storage::Error| Error::Internal(Box::new(e));
        let mut r = Running::new();
        if self.spool.holds(u.id).await {
            self.spool
                .replay(u.id, len, |b| r.update(b))
                .await
                .map_err(internal)?;
        } else if len > 0 {
            // Moved into storage before a crash: hash it from there, in chunks.
            let mut chunks = self
                .storage
                .read(&StorageKey::master(u.asset_id), 0..len)
                .await
                .map_err(internal)?;
            while let Some(chunk) = chunks.next().await {
                r.update(&chunk.map_err(|e| Error::Internal(Box::new(e)))?);
            }
        }
        Ok(r)
    }
}

/// What happens to an upload whose SHA-256 matches a live item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicatePolicy {
    /// Process it, flagged with a link to the earlier item.
    #[default]
    Warn,
    /// Reject it with that link, process nothing, and delete it (purged after the grace
    /// period).
    Reject,
}

/// Upload limits and what happens to items after they arrive: the `[uploads]` section of
/// the configuration, in its units (the keys say them).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadOptions {
    /// Largest `Upload-Length` accepted (`Tus-Max-Size`).
    #[serde(rename = "max_size_bytes")]
    pub max_size: u64,
    /// An unfinished upload expires this long after its last byte arrived.
    #[serde(rename = "expiry_hours", with = "cityx_core::units::hours")]
    pub expiry: Duration,
    /// A PATCH whose body sends nothing for this long ends, keeping what arrived.
    #[serde(rename = "idle_timeout_secs", with = "cityx_core::units::secs")]
    pub idle_timeout: Duration,
    pub duplicates: DuplicatePolicy,
    /// A deleted item's files stay (and it can be restored) this long.
    #[serde(rename = "delete_grace_hours", with = "cityx_core::units::hours")]
    pub delete_grace: Duration,
    /// A writing request's hold on an upload, renewed while it runs; after a node dies, its
    /// uploads resume on another once this has passed.
    #[serde(rename = "lease_secs", with = "cityx_core::units::secs")]
    pub lease: Duration,
    /// Where unfinished uploads wait with file:// storage; empty: `<data.dir>/spool`. API
    /// nodes sharing a mounted store share this too (with S3 the store keeps them).
    pub spool_dir: std::path::PathBuf,
    /// The quota of a station that has none of its own, in GiB (0: no limit). The hub sets
    /// a station's own quota through the API or the station's page.
    pub station_quota_gb: u64,
    /// Unfinished uploads one station may hold at once (0: no limit).
    pub max_unfinished_per_station: u64,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            max_size: 50 * 1024 * 1024 * 1024,
            expiry: Duration::from_secs(24 * 3600),
            idle_timeout: Duration::from_secs(60),
            duplicates: DuplicatePolicy::Warn,
            delete_grace: Duration::from_secs(72 * 3600),
            lease: Duration::from_secs(30),
            spool_dir: Default::default(),
            station_quota_gb: 1024,
            max_unfinished_per_station: 100,
        }
    }
}

impl UploadOptions {
    /// The limits every station is held to.
    pub fn limits(&self) -> cityx_db::StationLimits {
        cityx_db::StationLimits {
            default_quota: (self.station_quota_gb > 0)
                .then(|| self.station_quota_gb.saturating_mul(1 << 30)),
            max_unfinished: self.max_unfinished_per_station,
        }
    }

    /// What is wrong with these options, naming the key under `[uploads]`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (key, zero) in [
            ("uploads.max_size_bytes", self.max_size == 0),
            ("uploads.expiry_hours", self.expiry.as_secs() == 0),
            (
                "uploads.idle_timeout_secs",
                self.idle_timeout.as_secs() == 0,
            ),
            ("uploads.lease_secs", self.lease.as_secs() == 0),
        ] {
            if zero {
                return Err(format!("{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// SHA-256 and MD5 of an upload on threads of their own, beside the disk writes: the
/// spool hands each received buffer to [`Hashers::taps`] without copying it, and a bounded
/// queue holds the network back if a hash falls behind.
pub struct Hashers {
    pub taps: [tokio::sync::mpsc::Sender<Bytes>; 2],
    sha256: tokio::task::JoinHandle<Sha256>,
    md5: tokio::task::JoinHandle<Md5>,
}

impl Hashers {
    /// Continues the hashes of `running` (a new upload's are empty).
    pub(crate) fn start(running: &Running) -> Self {
        fn thread<H: Digest + Send + 'static>(
            mut hash: H,
        ) -> (tokio::sync::mpsc::Sender<Bytes>, tokio::task::JoinHandle<H>) {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(HASH_QUEUE);
            let task = tokio::task::spawn_blocking(move || {
                while let Some(b) = rx.blocking_recv() {
                    hash.update(&b);
                }
                hash
            });
            (tx, task)
        }
        let (sha_tx, sha256) = thread(running.sha256.clone());
        let (md5_tx, md5) = thread(running.md5.clone());
        Hashers {
            taps: [sha_tx, md5_tx],
            sha256,
            md5,
        }
    }

    /// A new upload's hashers (for benchmarks of the write path).
    pub fn fresh() -> Self {
        Hashers::start(&Running::new())
    }

    /// Waits for the hash states of everything sent.
    async fn join(self) -> Result<(Sha256, Md5)> {
        let Hashers { taps, sha256, md5 } = self;
        drop(taps);
        let internal = |e: tokio::task::JoinError| Error::Internal(Box::new(e));
        Ok((
            sha256.await.map_err(internal)?,
            md5.await.map_err(internal)?,
        ))
    }

    /// The hex SHA-256 and MD5 of everything sent.
    pub async fn hex_digests(self) -> Result<(String, String)> {
        let (sha256, md5) = self.join().await?;
        Ok((hex(&sha256.finalize()), hex(&md5.finalize())))
    }
}

impl Ingest<'_> {
    fn expiry_from_now(&self) -> time::OffsetDateTime {
        cityx_core::now()
            + time::Duration::try_from(self.uploads.expiry).unwrap_or(time::Duration::DAY)
    }

    pub(crate) fn purge_time_from_now(&self) -> time::OffsetDateTime {
        cityx_core::now()
            + time::Duration::try_from(self.uploads.delete_grace).unwrap_or(time::Duration::DAY)
    }

    /// Who may see a new item of the caller's station: `chosen` (`private`, `exchange` or
    /// `public`), or the station's default when empty.
    pub(crate) async fn new_item_visibility(
        &self,
        station: StationId,
        chosen: &str,
    ) -> Result<cityx_core::Visibility> {
        if chosen.trim().is_empty() {
            let own = self
                .stations
                .get_station(TenantScope::Station(station), station)
                .await?;
            return Ok(own.default_visibility);
        }
        crate::stations::upload_visibility("visibility", chosen.trim())
    }

    /// Starts an upload: validates the metadata, reserves `length` bytes of the station's
    /// quota, creates the asset (`uploading`, seen by whom `visibility` says, else the
    /// station's default) and the upload's place in the spool.
    pub async fn create_upload(
        &self,
        actor: &Actor,
        length: u64,
        raw_metadata: &str,
        input: &AssetInput<'_>,
        visibility: &str,
    ) -> Result<(Upload, Asset)> {
        policy::contribute(actor)?;
        let station_id = actor.station_id.ok_or(Error::Forbidden)?;
        let uploader_id = actor.user_id.ok_or(Error::Forbidden)?;
        if length > self.uploads.max_size {
            return Err(Error::UploadTooLarge {
                max: self.uploads.max_size,
            });
        }
        let meta = input.validate();
        let seen_by = self.new_item_visibility(station_id, visibility).await;
        let (meta, seen_by) = match (meta, seen_by) {
            (Ok(m), Ok(v)) => (m, v),
            // Every refused field at once, as forms show them.
            (m, v) => {
                let mut fields = m.err().unwrap_or_default();
                match v {
                    Err(Error::Validation(f)) => fields.extend(f),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                return Err(Error::Validation(fields));
            }
        };
        let meta = crate::exchange::with_keywords(meta).await;
        let now = cityx_core::now();
        let mut asset = Asset::uploading(station_id, uploader_id, meta, length, now);
        asset.visibility = seen_by;
        let upload = Upload {
            id: UploadId::new(),
            asset_id: asset.id,
            station_id,
            user_id: uploader_id,
            length,
            offset: 0,
            metadata: raw_metadata.chars().take(16 * 1024).collect(),
            state: UploadState::Active,
            expires_at: self.expiry_from_now(),
            created_at: now,
        };
        let master = StorageKey::master(asset.id);
        let spooled = self
            .spool
            .create(upload.id, &master)
            .await
            .map_err(|e| Error::Internal(Box::new(e)))?;
        let progress = UploadProgress {
            hashes: Some(Running::new().save()),
            spool: spooled.encode(),
        };
        let audit = NewAudit::by(
            actor,
            AuditAction::UploadCreated,
            "asset",
            asset.id,
            Some(station_id),
        )
        .detail("filename", asset.meta.filename.as_str())
        .detail("length", length);
        if let Err(e) = self
            .ingest
            .create_upload(&asset, &upload, &progress, &self.uploads.limits(), &audit)
            .await
        {
            let _ = self.spool.remove(upload.id, &master, &spooled).await;
            return Err(e.into());
        }
        let mut upload = upload;
        if length == 0 {
            // Nothing to wait for: an empty file is complete at once (processing will tell
            // the contributor what is wrong with it).
            let (lease, _, _) = self.lease(upload.id).await?;
            self.finish_upload(&upload, Running::new(), &spooled, Some(actor))
                .await?;
            lease.release().await?;
            upload.state = UploadState::Completed;
        }
        Ok((upload, asset))
    }

    /// An upload the caller may see; `UploadGone` once terminated or expired.
    pub async fn upload_status(&self, actor: &Actor, id: UploadId) -> Result<Upload> {
        policy::read(actor)?;
        let u = self.ingest.get_upload(actor.tenant_scope(), id).await?;
        match u.state {
            UploadState::Terminated | UploadState::Expired => Err(Error::UploadGone),
            _ => Ok(u),
        }
    }

    /// Appends a request body at `offset`. The new offset is durable when this returns,
    /// and saved with the running hashes and the spool's state, so the next request may
    /// reach any node. A body that breaks off keeps what arrived. With a checksum, a chunk
    /// that does not match is discarded whole.
    pub async fn append_upload<S, E>(
        &self,
        actor: &Actor,
        id: UploadId,
        offset: u64,
        body: S,
        checksum: Option<(ChecksumAlg, Vec<u8>)>,
    ) -> Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        policy::contribute(actor)?;
        let upload = self.upload_status(actor, id).await?;
        if upload.offset != offset {
            return Err(Error::OffsetMismatch {
                expected: upload.offset,
            });
        }
        if upload.state != UploadState::Active {
            // Complete: not one more byte.
            return Err(Error::UploadOverflow);
        }
        let (lease, at, saved) = self.lease(id).await?;
        if at != offset {
            // Another request moved it between the read and the lease.
            lease.release().await?;
            return Err(Error::OffsetMismatch { expected: at });
        }
        let internal = |e: cityx_storage::Error| Error::Internal(Box::new(e));
        let spooled = SpoolState::decode(saved.spool.as_deref()).map_err(internal)?;
        let running = self
            .running(&upload, offset, saved.hashes.as_deref())
            .await?;
        let master = StorageKey::master(upload.asset_id);
        let mut chunk = ChunkHash::new(checksum.as_ref().map(|c| c.0));
        let body = idle_limited(body, self.uploads.idle_timeout);
        let hashers = Hashers::start(&running);
        let appended = self
            .spool
            .append(
                id,
                &master,
                &spooled,
                offset,
                upload.length,
                body,
                &hashers.taps,
                |b| chunk.update(b),
            )
            .await
            .map_err(internal)?;
        let (sha256, md5) = hashers.join().await?;
        let running = Running {
            offset: appended.offset,
            sha256,
            md5,
        };
        let checksum_failed = checksum
            .as_ref()
            .is_some_and(|(_, want)| chunk.finish() != *want);
        // A partial chunk cannot be verified: keep nothing of it.
        let partial_chunk = checksum.is_some() && appended.interrupted.is_some();
        if appended.overflow || checksum_failed || partial_chunk {
            self.spool
                .rewind(id, offset, appended.offset)
                .await
                .map_err(internal)?;
            lease.release().await?;
            return Err(if appended.overflow {
                Error::UploadOverflow
            } else {
                Error::ChecksumMismatch
            });
        }
        if let Some(e) = &appended.interrupted {
            tracing::info!(upload = %id, offset = appended.offset, error = %e, "upload body broke off; keeping what arrived");
        }
        let new_offset = appended.offset;
        if new_offset != offset {
            let progress = UploadProgress {
                hashes: Some(running.save()),
                spool: appended.state.encode(),
            };
            let recorded = self
                .ingest
                .advance_upload(
                    id,
                    &lease.writer,
                    offset,
                    new_offset,
                    self.expiry_from_now(),
                    &progress,
                )
                .await?;
            if !recorded {
                // The lease ran out and another request took over: what this one wrote
                // is not recorded, and the other owns the spool now.
                return Err(Error::OffsetMismatch { expected: offset });
            }
            if let Err(e) = self.spool.recorded(id, offset, new_offset).await {
                // Left for the upload's end, which removes everything it kept.
                tracing::warn!(upload = %id, error = %e, "failed to remove a superseded upload tail");
            }
        }
        let mut upload = upload;
        upload.offset = new_offset;
        if new_offset == upload.length {
            self.finish_upload(&upload, running, &appended.state, Some(actor))
                .await?;
            upload.state = UploadState::Completed;
        }
        lease.release().await?;
        Ok(upload)
    }

    /// Makes a complete upload's bytes the asset's master in storage and records the asset
    /// as uploaded, with its hashes, any exact duplicate, and its first job. The caller
    /// holds the upload's lease. Safe to repeat after a crash.
    async fn finish_upload(
        &self,
        upload: &Upload,
        running: Running,
        spooled: &SpoolState,
        actor: Option<&Actor>,
    ) -> Result<()> {
        let done = self
            .arrival(upload.asset_id, upload.station_id, running)
            .await?;
        self.spool
            .finish(
                upload.id,
                &StorageKey::master(upload.asset_id),
                spooled,
                upload.length,
            )
            .await
            .map_err(|e| Error::Internal(Box::new(e)))?;
        let system = Actor::system();
        let actor = actor.unwrap_or(&system);
        let audit = NewAudit::by(
            actor,
            AuditAction::UploadCompleted,
            "asset",
            upload.asset_id,
            Some(upload.station_id),
        )
        .detail("sha256", done.sha256.as_str())
        .detail("bytes", upload.length);
        let job = crate::pipeline::asset_job(crate::PROBE_JOB, upload.asset_id, upload.station_id);
        self.ingest
            .complete_upload(upload.id, &done, &job, &audit)
            .await?;
        self.jobs_ready.notify_one();
        Ok(())
    }

    /// Ends an active upload (terminated by its client or expired) under its lease, and
    /// removes what the spool kept of it.
    async fn end_upload(
        &self,
        scope: TenantScope,
        u: &Upload,
        state: UploadState,
        audit: NewAudit,
    ) -> Result<()> {
        let (lease, _, saved) = self.lease(u.id).await?;
        self.ingest.end_upload(scope, u.id, state, &audit).await?;
        let spooled = SpoolState::decode(saved.spool.as_deref());
        let removed = match spooled {
            Ok(spooled) => {
                self.spool
                    .remove(u.id, &StorageKey::master(u.asset_id), &spooled)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            tracing::warn!(upload = %u.id, error = %e, "failed to remove an ended upload's bytes");
        }
        lease.release().await
    }

    /// Ends an upload at the client's request (tus termination); its reservation is released.
    pub async fn terminate_upload(&self, actor: &Actor, id: UploadId) -> Result<()> {
        policy::contribute(actor)?;
        let u = self.upload_status(actor, id).await?;
        if u.state == UploadState::Completed {
            return Err(Error::UploadComplete);
        }
        let audit = NewAudit::by(
            actor,
            AuditAction::UploadTerminated,
            "asset",
            u.asset_id,
            Some(u.station_id),
        );
        self.end_upload(actor.tenant_scope(), &u, UploadState::Terminated, audit)
            .await
    }

    /// A round of the `tidy` task: expires abandoned uploads and finishes uploads that received
    /// every byte but were cut off before finishing. Uploads a request is writing to are
    /// left for the next round. Returns (expired, finished).
    pub async fn tidy_uploads(&self) -> Result<(usize, usize)> {
        let system = Actor::system();
        let expired = self.ingest.expired_uploads(cityx_core::now()).await?;
        for u in &expired {
            let audit = NewAudit::by(
                &system,
                AuditAction::UploadTerminated,
                "asset",
                u.asset_id,
                Some(u.station_id),
            )
            .detail("reason", "expired");
            match self
                .end_upload(TenantScope::All, u, UploadState::Expired, audit)
                .await
            {
                Ok(()) | Err(Error::UploadLocked) => {}
                Err(e) => return Err(e),
            }
        }
        let unfinished = self.ingest.unfinished_uploads().await?;
        for u in &unfinished {
            let Ok((lease, _, saved)) = self.lease(u.id).await else {
                continue;
            };
            let spooled = SpoolState::decode(saved.spool.as_deref())
                .map_err(|e| Error::Internal(Box::new(e)))?;
            let running = self.running(u, u.length, saved.hashes.as_deref()).await?;
            self.finish_upload(u, running, &spooled, None).await?;
            lease.release().await?;
        }
        Ok((expired.len(), unfinished.len()))
    }

    pub fn upload_options(&self) -> &UploadOptions {
        self.uploads
    }
}

/// The per-chunk hash of the tus checksum extension.
enum ChunkHash {
    None,
    Sha1(sha1::Sha1),
    Md5(Md5),
    Sha256(Sha256),
}

impl ChunkHash {
    fn new(alg: Option<ChecksumAlg>) -> Self {
        match alg {
            None => ChunkHash::None,
            Some(ChecksumAlg::Sha1) => ChunkHash::Sha1(sha1::Sha1::new()),
            Some(ChecksumAlg::Md5) => ChunkHash::Md5(Md5::new()),
            Some(ChecksumAlg::Sha256) => ChunkHash::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            ChunkHash::None => {}
            ChunkHash::Sha1(h) => h.update(b),
            ChunkHash::Md5(h) => h.update(b),
            ChunkHash::Sha256(h) => h.update(b),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            ChunkHash::None => Vec::new(),
            ChunkHash::Sha1(h) => h.finalize().to_vec(),
            ChunkHash::Md5(h) => h.finalize().to_vec(),
            ChunkHash::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Ends a body stream that sends nothing for `idle` (a stalled client), as an error.
fn idle_limited<S, E>(body: S, idle: Duration) -> impl Stream<Item = Result<Bytes, String>> + Unpin
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    Box::pin(futures_util::stream::unfold(
        Some(body),
        move |state| async move {
            let mut body = state?;
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(Ok(b))) => Some((Ok(b), Some(body))),
                Ok(Some(Err(e))) => Some((Err(e.to_string()), None)),
                Ok(None) => None,
                Err(_) => Some((Err(format!("no data for {} s", idle.as_secs())), None)),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_hashes_are_saved_and_restored() {
        let mut r = Running::new();
        r.update(b"ab");
        let saved = r.save();
        let mut back = Running::restore(2, &saved).expect("restore");
        assert_eq!(back.offset, 2);
        back.update(b"c");
        assert_eq!(
            hex(&back.sha256.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&back.md5.finalize()),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        for bad in ["", "ab", "zz.zz", &saved[1..], "00.00"] {
            assert!(Running::restore(0, bad).is_none(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn hashers_see_every_buffer_in_order() {
        let h = Hashers::fresh();
        for part in [&b"ab"[..], b"", b"c"] {
            for tap in &h.taps {
                tap.send(Bytes::copy_from_slice(part)).await.expect("send");
            }
        }
        let (sha, md5) = h.hex_digests().await.expect("digests");
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(md5, "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn checksum_algorithms() {
        assert_eq!(ChecksumAlg::parse("sha256"), Some(ChecksumAlg::Sha256));
        assert_eq!(ChecksumAlg::parse("crc32"), None);
        let mut h = ChunkHash::new(Some(ChecksumAlg::Sha1));
        h.update(b"abc");
        assert_eq!(hex(&h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}

//! The database layer: repository traits and their implementation for SQLite and PostgreSQL
//! (`sql/`, one implementation of portable SQL over sqlx's `Any` driver), with migrations
//! embedded per backend (`migrations/sqlite`, `migrations/postgres`).
//!
//! This is the only crate that knows SQL. It depends on `cityx-core` for the domain types and
//! on nothing above it (no HTTP, no app logic). Tenancy is enforced here: every call that
//! reads or changes tenant data takes a [`TenantScope`](cityx_core::TenantScope) and puts it
//! into the SQL, so a caller that forgot a permission check still gets "not found" rather
//! than another station's row. Every change that must be audited takes its
//! [`NewAudit`](cityx_core::NewAudit) and writes it in the same transaction.
//!
//! Open a backend with [`connect`], which picks the implementation from the URL scheme.
//! Queries are checked at run time (no database needed to build); the conformance suite in
//! `tests/it` runs against every backend.

mod error;
pub mod model;
pub mod scratch;
mod sql;

use async_trait::async_trait;
use cityx_core::{
    ApiToken, Asset, AssetId, AuditEntry, NewAudit, Station, StationId, TenantScope, TokenId,
    Upload, UploadId, UploadState, User, UserId,
};
use std::sync::Arc;
use time::OffsetDateTime;

pub use error::{Error, Result};
pub use model::{
    AdoptionFilter, AuditFilter, CatalogueRow, ClaimedJob, CompletedUpload, DayStats, DeadJob,
    JobClaim, JobMessage, JobOutcome, JobSummary, LoginFailures, NewJob, NoticeFilter, Page,
    PageRequest, Processed, Rejection, SessionRow, StationStats, TokenFilter, TopItem,
    UploadProgress, ZoneStats,
};
pub use sql::Backend;
pub use sql::processes::{ClaimedProcess, NewProcess, ProcessRepo, ProcessReport};
pub use sql::schedules::{ScheduleDef, ScheduleRepo, ScheduleRow};
pub use sql::subscribers::{HeldSubscriber, SubscriberRepo, SubscriberRow};

/// Connection settings shared by every backend.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user:pass@host/db`.
    pub url: String,
    pub max_connections: u32,
}

/// Opens the database named by the URL (`sqlite:` or `postgres:`), creating an embedded
/// SQLite file if needed.
/// Does not migrate; call [`Repo::migrate`].
pub async fn connect(opts: &DbOptions) -> Result<Arc<dyn Repo>> {
    Ok(Arc::new(sql::SqlRepo::connect(opts).await?))
}

/// A URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Declares [`Repo`], the union of every capability trait, and its blanket impl from one
/// list.
macro_rules! repo_union {
    ($($t:path),+ $(,)?) => {
        /// Every capability of a database backend. Consumers should take the narrow trait
        /// they need (`Arc<dyn ProcessRepo>`, …) rather than this union.
        pub trait Repo: $($t +)+ Send + Sync {}
        impl<T> Repo for T where T: $($t +)+ Send + Sync {}
    };
}

repo_union!(
    Admin,
    StationRepo,
    UserRepo,
    TokenRepo,
    SessionRepo,
    AuditRepo,
    IngestRepo,
    ExchangeRepo,
    NoticeRepo,
    ZoneRepo,
    WebhookRepo,
    FollowRepo,
    QueueRepo,
    PipelineRepo,
    OutboxRepo,
    ProcessRepo,
    ScheduleRepo,
    SubscriberRepo,
);

/// The exchange: items as other stations see them, rights, adoptions, and the change feed of
/// the search index. Visibility and embargo are in the SQL of every read (the rule of
/// `cityx_core::exchange::can_see`).
#[async_trait]
pub trait ExchangeRepo {
    /// An item the caller may see at `now`: its own station's in any state (deleted ones
    /// too, until purged), others' when ready and their rights allow. With `shared_with`.
    async fn get_visible_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        now: OffsetDateTime,
    ) -> Result<Asset>;
    /// Replaces an item's rights (visibility, shares, embargo, licence). An unknown station
    /// in `shared_with` is `NotFound { entity: "station" }` and changes nothing.
    async fn set_rights(
        &self,
        scope: TenantScope,
        id: AssetId,
        rights: &cityx_core::Rights,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Records an adoption and counts it on the item.
    async fn insert_adoption(
        &self,
        adoption: &cityx_core::Adoption,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Adoptions made by or credited to the caller's station (all for the hub), newest first.
    async fn list_adoptions(
        &self,
        scope: TenantScope,
        filter: &AdoptionFilter,
        page: &PageRequest,
    ) -> Result<Page<cityx_core::Adoption>>;
    /// Every item changed after `since` (update time, then id), purged ones included, oldest
    /// change first: what the search index follows.
    async fn changed_assets(
        &self,
        since: (OffsetDateTime, Option<AssetId>),
        limit: u32,
    ) -> Result<Vec<CatalogueRow>>;
}

/// After an item is out: corrections and withdrawals with notices to every station that
/// adopted it, the event log (numbered in commit order) that the member feed reads, and the
/// statistics that events keep.
#[async_trait]
pub trait NoticeRepo {
    /// Replaces an item's editable metadata; when it is ready, notifies its adopters. Not for
    /// withdrawn or deleted items (`WrongState`).
    async fn correct_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        meta: &cityx_core::AssetMeta,
        note: &str,
        audit: &NewAudit,
    ) -> Result<Vec<cityx_core::Notice>>;
    /// Withdraws a ready or processing item and notifies its adopters.
    async fn withdraw_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        reason: &str,
        audit: &NewAudit,
    ) -> Result<Vec<cityx_core::Notice>>;
    /// Notices to or from the caller's station (all for the hub), newest first.
    async fn list_notices(
        &self,
        scope: TenantScope,
        filter: &NoticeFilter,
        page: &PageRequest,
    ) -> Result<Page<cityx_core::Notice>>;
    /// How many notices to `station` wait for its acknowledgement (the navigation's badge:
    /// read on every page, so a count, not a list).
    async fn count_open_notices(&self, station: StationId) -> Result<usize>;
    /// Acknowledges a notice sent to `station`; a second time changes nothing.
    async fn acknowledge_notice(
        &self,
        station: StationId,
        id: cityx_core::NoticeId,
        user: UserId,
        audit: &NewAudit,
    ) -> Result<cityx_core::Notice>;
    /// Events after `after` that the caller may see at `now`, in order.
    async fn feed(
        &self,
        scope: TenantScope,
        after: i64,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<cityx_core::Event>>;
    /// The number of the last event.
    async fn event_head(&self) -> Result<i64>;
    /// Every station's figures over Beijing days `days` (inclusive).
    async fn station_stats(&self, days: (i64, i64)) -> Result<Vec<StationStats>>;
    /// The network's figures per Beijing day, days with none left out.
    async fn daily_stats(&self, days: (i64, i64)) -> Result<Vec<DayStats>>;
    /// Zones whose window meets `[from, to)`, with their contributions and adoptions in it,
    /// most adopted first.
    async fn zone_stats(&self, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<ZoneStats>>;
    /// The most adopted items of `[from, to)`.
    async fn top_items(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<TopItem>>;
}

/// Follows: one person's own list; nobody else reads it.
#[async_trait]
pub trait FollowRepo {
    /// A second follow of the same thing is `Conflict`; more than `MAX_PER_USER` is
    /// `WrongState { state: "too_many" }`. The last look starts now.
    async fn insert_follow(
        &self,
        id: cityx_core::FollowId,
        user: UserId,
        target: &cityx_core::FollowTarget,
        label: &str,
    ) -> Result<cityx_core::Follow>;
    async fn list_follows(&self, user: UserId) -> Result<Vec<cityx_core::Follow>>;
    async fn get_follow(
        &self,
        user: UserId,
        id: cityx_core::FollowId,
    ) -> Result<cityx_core::Follow>;
    /// Records a look at `at`.
    async fn mark_follow_seen(
        &self,
        user: UserId,
        id: cityx_core::FollowId,
        at: OffsetDateTime,
    ) -> Result<()>;
    async fn delete_follow(&self, user: UserId, id: cityx_core::FollowId) -> Result<()>;
}

/// Webhooks and their deliveries (enqueued by the webhooks' event subscriber).
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// Enqueues, for each event, a delivery (with its job) to every live webhook that wants
    /// its kind and whose station the feed would tell of it; one per webhook and event
    /// however often the event comes. Returns how many deliveries were new.
    async fn enqueue_deliveries(&self, events: &[cityx_core::Event]) -> Result<usize>;
    /// Adds a webhook to `station`. More than `MAX_PER_STATION` live ones is
    /// `WrongState { state: "too_many" }`.
    async fn insert_webhook(
        &self,
        id: cityx_core::WebhookId,
        station: StationId,
        fields: &cityx_core::webhook::WebhookFields,
        secret: &str,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Live webhooks of the caller's station (all for the hub).
    async fn list_webhooks(&self, scope: TenantScope) -> Result<Vec<cityx_core::Webhook>>;
    async fn get_webhook(
        &self,
        scope: TenantScope,
        id: cityx_core::WebhookId,
    ) -> Result<cityx_core::Webhook>;
    /// Retires a webhook: it gets no new deliveries, and pending ones are skipped.
    async fn delete_webhook(
        &self,
        scope: TenantScope,
        id: cityx_core::WebhookId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// A webhook's latest deliveries.
    async fn list_deliveries(
        &self,
        scope: TenantScope,
        webhook: cityx_core::WebhookId,
        limit: u32,
    ) -> Result<Vec<cityx_core::Delivery>>;
    /// Sends a failed delivery again (its job back in the queue). Not failed: `WrongState`.
    async fn retry_delivery(
        &self,
        scope: TenantScope,
        webhook: cityx_core::WebhookId,
        delivery: cityx_core::JobId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// What the webhook job `job` is to send, with the event only if the webhook's station may
    /// still see it at `now`; `None` for an unknown job.
    async fn delivery_work(
        &self,
        job: cityx_core::JobId,
        now: OffsetDateTime,
    ) -> Result<Option<model::DeliveryWork>>;
    /// Records an attempt; `last` turns a failure into the final state.
    async fn record_attempt(
        &self,
        job: cityx_core::JobId,
        attempt: &cityx_core::webhook::Attempt,
        last: bool,
    ) -> Result<()>;
}

/// Topic zones (专区): the hub's campaigns, invited stations with targets, and the items
/// stations contribute (listed under each item's rights).
#[async_trait]
pub trait ZoneRepo {
    /// An unknown invited station is `NotFound { entity: "station" }` and changes nothing.
    async fn insert_zone(
        &self,
        id: cityx_core::ZoneId,
        zone: &cityx_core::zone::ZoneFields,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Replaces a zone's fields and invitations.
    async fn update_zone(
        &self,
        id: cityx_core::ZoneId,
        zone: &cityx_core::zone::ZoneFields,
        audit: &NewAudit,
    ) -> Result<()>;
    /// A zone with its invitations and counts.
    async fn get_zone(&self, id: cityx_core::ZoneId) -> Result<cityx_core::Zone>;
    /// Zones, latest window first.
    async fn list_zones(&self, limit: u32) -> Result<Vec<cityx_core::Zone>>;
    /// A zone's items that the caller may see at `now`, latest first.
    async fn zone_items(
        &self,
        scope: TenantScope,
        zone: cityx_core::ZoneId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<cityx_core::ZoneItem>>;
    /// Contributes `station`'s own item to an open zone; `false` if it was there already.
    /// A closed zone or an item not ready or processing is `WrongState`.
    async fn add_zone_item(
        &self,
        station: StationId,
        zone: cityx_core::ZoneId,
        asset: AssetId,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Takes an item out of a zone (its station's, or any for the hub).
    async fn remove_zone_item(
        &self,
        scope: TenantScope,
        zone: cityx_core::ZoneId,
        asset: AssetId,
        audit: &NewAudit,
    ) -> Result<()>;
}

/// Lifecycle and health.
#[async_trait]
pub trait Admin {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<()>;
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Waits for open connections to finish and closes them.
    async fn close(&self);
    /// The secret called `name`, shared by every node: `candidate` if none was kept yet.
    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String>;
}

#[async_trait]
pub trait StationRepo {
    async fn insert_station(&self, station: &Station, audit: &NewAudit) -> Result<()>;
    async fn get_station(&self, scope: TenantScope, id: StationId) -> Result<Station>;
    async fn find_station_by_code(&self, scope: TenantScope, code: &str) -> Result<Station>;
    async fn list_stations(&self, scope: TenantScope, page: &PageRequest) -> Result<Page<Station>>;
    /// Writes every field but `id` and `created_at`.
    async fn update_station(
        &self,
        scope: TenantScope,
        station: &Station,
        audit: &NewAudit,
    ) -> Result<()>;
}

#[async_trait]
pub trait IngestRepo {
    /// Sets a station's quota in bytes (`None`: unlimited).
    async fn set_quota(
        &self,
        id: StationId,
        quota_bytes: Option<u64>,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Bytes a station holds or has reserved: stored masters plus announced uploads.
    async fn quota_used(&self, id: StationId) -> Result<u64>;
    /// A station's quota in bytes; `None` when it has none.
    async fn quota_of(&self, id: StationId) -> Result<Option<u64>>;
    /// Creates an asset (`uploading`) and its upload in one transaction, reserving the
    /// upload's length against the station's quota ([`Error::QuotaExceeded`]).
    async fn create_upload(
        &self,
        asset: &Asset,
        upload: &Upload,
        progress: &UploadProgress,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn get_upload(&self, scope: TenantScope, id: UploadId) -> Result<Upload>;
    /// Gives an active upload's write lease to `writer` until `until`, unless another
    /// writer's lease still runs at `now`; returns the upload's offset and saved progress,
    /// or `None` when the upload is locked (or no longer active).
    async fn lease_upload(
        &self,
        id: UploadId,
        writer: &str,
        now: time::OffsetDateTime,
        until: time::OffsetDateTime,
    ) -> Result<Option<(u64, UploadProgress)>>;
    /// Extends `writer`'s lease; false when it is no longer theirs.
    async fn renew_upload_lease(
        &self,
        id: UploadId,
        writer: &str,
        until: time::OffsetDateTime,
    ) -> Result<bool>;
    /// Ends `writer`'s lease (nothing happens when it is not theirs).
    async fn release_upload_lease(&self, id: UploadId, writer: &str) -> Result<()>;
    /// Records a new durable offset and the progress saved with it, if the stored offset
    /// is still `from` and `writer` still holds the lease; false otherwise.
    async fn advance_upload(
        &self,
        id: UploadId,
        writer: &str,
        from: u64,
        to: u64,
        expires_at: time::OffsetDateTime,
        progress: &UploadProgress,
    ) -> Result<bool>;
    /// Finishes an upload: the asset moves to `processing` with its hashes and the first job
    /// is enqueued, in one transaction; or, with [`CompletedUpload::rejected`], it is
    /// rejected and deleted with no job. Finishing a finished upload changes nothing.
    async fn complete_upload(
        &self,
        id: UploadId,
        done: &CompletedUpload,
        job: &NewJob,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Creates an asset (`uploading`) whose master is fetched from its `source_url` by
    /// `job`, enqueued in the same transaction.
    async fn create_import(&self, asset: &Asset, job: &NewJob, audit: &NewAudit) -> Result<()>;
    /// Records a fetched master like a finished upload, after checking that the station's
    /// quota takes `size` more bytes ([`Error::QuotaExceeded`]). Fenced by the import job's
    /// lease: false, and nothing written, when the lease is no longer ours.
    async fn complete_import(
        &self,
        job: &ClaimedJob,
        done: &CompletedUpload,
        size: u64,
        next: &NewJob,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Ends an active upload (terminated or expired): its asset is removed and its
    /// reservation released. Returns the upload as it was.
    async fn end_upload(
        &self,
        scope: TenantScope,
        id: UploadId,
        state: UploadState,
        audit: &NewAudit,
    ) -> Result<Upload>;
    /// Active uploads whose expiry has passed.
    async fn expired_uploads(&self, now: time::OffsetDateTime) -> Result<Vec<Upload>>;
    /// Active uploads that received every byte but were not finished (a crash in between).
    async fn unfinished_uploads(&self) -> Result<Vec<Upload>>;
    async fn get_asset(&self, scope: TenantScope, id: AssetId) -> Result<Asset>;
    /// The jobs of an asset, oldest first.
    async fn jobs_of_asset(&self, id: AssetId) -> Result<Vec<JobSummary>>;
    /// Another live asset (processing or ready, not deleted) with this SHA-256, anywhere in
    /// the exchange.
    async fn find_by_sha256(&self, sha256: &str, other_than: AssetId) -> Result<Option<AssetId>>;
    /// Deletes an asset: it is marked deleted now and purged after `purge_after`. Deleting a
    /// deleted asset changes nothing; an asset still uploading (not an import) is
    /// [`Error::WrongState`] (terminate its upload instead). Returns the asset as it now is.
    async fn delete_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        purge_after: time::OffsetDateTime,
        audit: &NewAudit,
    ) -> Result<Asset>;
    /// Undoes a deletion that has not been purged yet.
    async fn restore_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        audit: &NewAudit,
    ) -> Result<Asset>;
    /// Deleted assets whose grace period has passed and whose objects are still there.
    async fn assets_to_purge(
        &self,
        now: time::OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(AssetId, StationId)>>;
    /// Readies a purge: the asset's waiting jobs (and running ones whose lease has passed)
    /// end dead. False, and nothing changed, while a job still holds a live lease.
    async fn prepare_purge(&self, id: AssetId, now: time::OffsetDateTime) -> Result<bool>;
    /// Records that a deleted asset's objects are gone: it disappears and its bytes stop
    /// counting against the station's quota.
    async fn finish_purge(&self, id: AssetId, audit: &NewAudit) -> Result<()>;
}

/// The generic job queue: enqueue, claim (compare-and-set with a fencing token), lease,
/// retry, dead. It knows nothing of what jobs do; their writes are fenced by the same token
/// (see [`PipelineRepo`]).
#[async_trait]
pub trait QueueRepo: Send + Sync {
    /// Signals `wake` whenever a job becomes runnable anywhere (PostgreSQL's `LISTEN` on the
    /// channel a trigger notifies), reconnecting after errors; runs until dropped. Returns
    /// at once on SQLite, where the runner's poll covers other processes.
    async fn relay_job_wakeups(&self, wake: std::sync::Arc<tokio::sync::Notify>);
    /// Takes the next runnable job of these kinds (queued and due, or running with an
    /// expired lease), preferring stations with the fewest running jobs. Every claim bumps
    /// the fencing token and counts an attempt.
    async fn claim_job(
        &self,
        kinds: &[&str],
        owner: &str,
        lease_until: time::OffsetDateTime,
    ) -> Result<Option<ClaimedJob>>;
    /// Takes job `id` if it is runnable (queued and due, or running with an expired lease),
    /// as [`JobRepo::claim_job`] would; else says why not.
    async fn claim_job_by_id(
        &self,
        id: cityx_core::JobId,
        owner: &str,
        lease_until: time::OffsetDateTime,
    ) -> Result<JobClaim>;
    /// Extends a lease and records progress; false when the lease is no longer ours.
    async fn heartbeat_job(
        &self,
        job: &ClaimedJob,
        lease_until: time::OffsetDateTime,
        progress: u32,
    ) -> Result<bool>;
    /// Records how an attempt ended; false when the lease is no longer ours.
    async fn finish_job(&self, job: &ClaimedJob, outcome: &JobOutcome) -> Result<bool>;
    /// A job's kind, state and attempts; `None` for an unknown id.
    async fn get_job(&self, id: cityx_core::JobId) -> Result<Option<JobSummary>>;
    async fn enqueue_job(&self, job: &NewJob) -> Result<()>;
    /// Puts a dead job back in the queue with fresh attempts; a failed item it belongs to
    /// is processing again.
    async fn requeue_job(&self, id: cityx_core::JobId) -> Result<()>;
    /// The most recent dead jobs, newest first.
    async fn dead_jobs(&self, limit: u32) -> Result<Vec<DeadJob>>;
}

/// The media pipeline's writes: each fenced by the job's lease, so that a worker whose lease
/// passed to another writes nothing.
#[async_trait]
pub trait PipelineRepo: Send + Sync {
    /// Records a probe's findings on the job's asset and enqueues the jobs that follow (a kind
    /// the asset already has a job of is not enqueued again), in one transaction. Writes
    /// from jobs are fenced: false, and nothing written, when the lease is no longer ours.
    async fn record_technical(
        &self,
        job: &ClaimedJob,
        technical_json: &str,
        next: &[NewJob],
    ) -> Result<bool>;
    /// Sets the playlist to play; with `only_first`, only when none is set yet (the fast
    /// path never replaces the ladder). Fenced.
    async fn set_playback(
        &self,
        job: &ClaimedJob,
        playback: &str,
        only_first: bool,
    ) -> Result<bool>;
    /// Records what the pipeline made and ends processing: `ready`, or `rejected` with a
    /// reason when the technical check failed. Fenced.
    async fn finish_processing(&self, job: &ClaimedJob, done: &Processed) -> Result<bool>;
    /// Marks an asset failed with a reason its uploader will read.
    async fn fail_asset(&self, asset: AssetId, reason: &str) -> Result<()>;
}

/// The outbox of the message bus: what committed and has not been published yet.
#[async_trait]
pub trait OutboxRepo {
    /// Jobs to publish now, in the claim's fair order: runnable jobs whose attempt has no
    /// message yet, while fewer than `window` messages of their kind wait unclaimed; and
    /// jobs whose message seems lost (sent, or their lease ended, before `resend_before`).
    async fn jobs_to_send(
        &self,
        window: u32,
        resend_before: time::OffsetDateTime,
    ) -> Result<Vec<JobMessage>>;
    /// Records that `message` was published at `at`.
    async fn mark_job_sent(&self, message: &JobMessage, at: time::OffsetDateTime) -> Result<()>;
    /// How far the relay `name` has published (0 before its first message).
    async fn outbox_cursor(&self, name: &str) -> Result<i64>;
    /// Moves the relay's mark forward to `seq` (never back).
    async fn set_outbox_cursor(&self, name: &str, seq: i64) -> Result<()>;
}

#[async_trait]
pub trait UserRepo {
    /// Users of every station, for the first-start check.
    async fn count_users(&self) -> Result<u64>;
    async fn insert_user(&self, user: &User, password_hash: &str, audit: &NewAudit) -> Result<()>;
    async fn get_user(&self, scope: TenantScope, id: UserId) -> Result<User>;
    async fn list_users(
        &self,
        scope: TenantScope,
        station: Option<StationId>,
        page: &PageRequest,
    ) -> Result<Page<User>>;
    /// Writes name, role and `disabled`; when `end_sessions`, signs the user out everywhere.
    async fn update_user(
        &self,
        scope: TenantScope,
        user: &User,
        end_sessions: bool,
        audits: &[NewAudit],
    ) -> Result<()>;
    /// Replaces the password hash and signs the user out everywhere.
    async fn set_password(
        &self,
        scope: TenantScope,
        id: UserId,
        password_hash: &str,
        audit: &NewAudit,
    ) -> Result<()>;
    /// The user and password hash for a sign-in attempt. Unscoped: nobody is signed in yet.
    async fn find_login(&self, email: &str) -> Result<Option<(User, String)>>;
    /// Marks a successful sign-in and records it.
    async fn record_login(&self, id: UserId, at: OffsetDateTime, audit: &NewAudit) -> Result<()>;
}

#[async_trait]
pub trait TokenRepo {
    async fn insert_token(&self, token: &ApiToken, hash: &str, audits: &[NewAudit]) -> Result<()>;
    /// The token and its owner for a presented secret. Unscoped: this is authentication.
    async fn find_token(&self, hash: &str) -> Result<Option<(ApiToken, User)>>;
    async fn touch_token(&self, id: TokenId, at: OffsetDateTime) -> Result<()>;
    async fn get_token(&self, scope: TenantScope, id: TokenId) -> Result<ApiToken>;
    async fn list_tokens(&self, filter: &TokenFilter, page: &PageRequest)
    -> Result<Page<ApiToken>>;
    /// Revokes a token inside the scope. Revoking a revoked token changes nothing.
    async fn revoke_token(
        &self,
        scope: TenantScope,
        id: TokenId,
        at: OffsetDateTime,
        audit: &NewAudit,
    ) -> Result<()>;
}

#[async_trait]
pub trait SessionRepo {
    async fn insert_session(&self, session: &SessionRow) -> Result<()>;
    /// A live session and its user.
    async fn find_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRow, User)>>;
    async fn delete_session(&self, id_hash: &str, audit: Option<&NewAudit>) -> Result<()>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64>;
}

#[async_trait]
pub trait AuditRepo {
    async fn insert_audit(&self, audit: &NewAudit) -> Result<()>;
    /// Newest first.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>>;
    /// Failed sign-ins for an email or from an IP since a time, for rate limiting.
    async fn login_failures(
        &self,
        email: Option<&str>,
        ip: Option<&str>,
        since: OffsetDateTime,
    ) -> Result<LoginFailures>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://cityx:s3cret@db:5432/cityx"),
            "postgres://cityx:***@db:5432/cityx"
        );
        assert_eq!(
            super::redact_url("sqlite://data/cityx.db"),
            "sqlite://data/cityx.db"
        );
    }
}

//! Records that exist only at the database boundary.

use cityx_core::subject::Subject;
use cityx_core::{StationId, TenantScope, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// One page of a keyset-paginated list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next: Option<Uuid>,
}

/// Which page to read: at most `limit` rows after the row with id `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            after: None,
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(50)
    }
}

/// A web session. The id itself is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Which tokens to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFilter {
    /// Tokens of users inside this scope.
    pub scope: TenantScope,
    /// Only this user's tokens.
    pub user_id: Option<UserId>,
    /// Also revoked and expired tokens.
    pub include_inactive: bool,
    /// "Now", for telling expired tokens apart.
    pub now: OffsetDateTime,
}

/// Which audit entries to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFilter {
    pub scope: TenantScope,
    pub station: Option<StationId>,
    pub action: Option<String>,
}

/// A job to enqueue. Kinds are stored data: never rename one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub id: cityx_core::JobId,
    pub kind: &'static str,
    /// What it is about (an item, a webhook delivery …); none for periodic work.
    pub subject: Option<Subject>,
    /// The station whose turn it takes in the fair order.
    pub station_id: Option<StationId>,
    /// What the handler needs besides the subject.
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    pub run_at: OffsetDateTime,
}

impl NewJob {
    /// A job about `subject` for `station`, due now, without a payload.
    pub fn about(
        kind: &'static str,
        subject: Subject,
        station: Option<StationId>,
        max_attempts: u32,
    ) -> Self {
        NewJob {
            id: cityx_core::JobId::new(),
            kind,
            subject: Some(subject),
            station_id: station,
            payload: serde_json::Value::Object(Default::default()),
            max_attempts,
            run_at: cityx_core::now(),
        }
    }
}

/// A job as its asset's page shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct JobSummary {
    /// `probe`, `transcode` …
    pub kind: String,
    /// `queued`, `running`, `succeeded` or `dead`.
    pub state: String,
    pub attempts: u32,
    /// Percent done, 0–100.
    pub progress: u32,
    pub last_error: Option<String>,
}

/// A job a worker holds. `fence` proves the lease: every later write names it, and a worker
/// whose lease passed to another is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: cityx_core::JobId,
    pub kind: String,
    pub subject: Option<Subject>,
    pub station_id: Option<StationId>,
    pub payload: serde_json::Value,
    /// Including this one.
    pub attempts: u32,
    pub max_attempts: u32,
    pub fence: u64,
}

impl ClaimedJob {
    /// The item the job is about, if it is about one.
    pub fn asset_id(&self) -> Option<cityx_core::AssetId> {
        self.subject.as_ref().and_then(Subject::as_asset)
    }
}

/// What a worker's attempt to take one named job found (the bus names jobs; the database
/// decides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobClaim {
    Claimed(ClaimedJob),
    /// Another worker holds it until then; if that worker dies, it may be taken after.
    Running {
        until: OffsetDateTime,
    },
    /// Queued for a later attempt, due then.
    NotDue {
        at: OffsetDateTime,
    },
    /// Succeeded, dead or gone: nothing to do.
    Finished,
}

/// A job the bus should carry. The attempt it is for and the time it was due make the
/// message's id: the same for a relay that sends it twice, new for a retry or a re-run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobMessage {
    pub id: cityx_core::JobId,
    pub kind: String,
    pub attempt: u32,
    pub due: OffsetDateTime,
}

/// How a job attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    /// Try again at `run_at`.
    Retry {
        error: String,
        run_at: OffsetDateTime,
    },
    /// Give up; an operator may re-run it.
    Dead {
        error: String,
    },
}

/// What an unfinished upload saves beside its offset, so that the next request may land on
/// any node: the running hashes and the spool's state, each in the form its owner gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadProgress {
    pub hashes: Option<String>,
    pub spool: Option<String>,
}

/// What a finished upload adds to its asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedUpload {
    pub sha256: String,
    pub md5: String,
    pub duplicate_of: Option<cityx_core::AssetId>,
    pub completed_at: OffsetDateTime,
    /// Refuse the item instead of processing it (an exact duplicate under the reject policy).
    pub rejected: Option<Rejection>,
}

/// Why a completed upload is refused, and when its deleted objects are purged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub failure: String,
    pub purge_after: OffsetDateTime,
}

/// What a station may hold: checked when an upload is created and when an import arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StationLimits {
    /// The quota of stations without one of their own (`None`: no limit).
    pub default_quota: Option<u64>,
    /// Unfinished uploads a station may hold at once (0: no limit).
    pub max_unfinished: u64,
}

/// Failed sign-ins in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LoginFailures {
    pub by_email: u64,
    pub by_ip: u64,
    /// The oldest failure counted, to tell when the window frees up.
    pub oldest: Option<OffsetDateTime>,
}

/// What processing made of an asset, to record when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Processed {
    pub playback: String,
    pub derived_json: String,
    pub qc_json: String,
    /// `pass`, `warn` or `fail`.
    pub qc_verdict: String,
    /// `Some(reason)` rejects the asset.
    pub rejection: Option<String>,
}

/// A job that gave up, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    pub id: cityx_core::JobId,
    pub kind: String,
    pub subject: Option<Subject>,
    pub station_id: Option<StationId>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// Which adoptions to list (within the caller's scope: adoptions by or of its station).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdoptionFilter {
    /// Adoptions credited to this station (its items adopted by others).
    pub contributor: Option<cityx_core::StationId>,
    /// Adoptions made by this station.
    pub station: Option<cityx_core::StationId>,
    pub asset: Option<cityx_core::AssetId>,
}

/// Which of a station's own items to list (the library, 我的素材), newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetFilter {
    /// Items of this station (the hub: any; a station: its own whatever this says).
    pub station: Option<cityx_core::StationId>,
    /// Only items in this state; deleted items are `Deleted` whatever their status was.
    pub state: Option<LibraryState>,
    /// Words the title contains.
    pub title: Option<String>,
}

/// An item's state as the library shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryState {
    Status(cityx_core::AssetStatus),
    Deleted,
}

/// An item with what the catalogue shows of its station, as the search index takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogueRow {
    /// With `shared_with` filled in.
    pub asset: cityx_core::Asset,
    pub station_name: String,
    pub station_city: String,
    pub province: String,
    /// The item's files are gone; it stays only as a tombstone.
    pub purged: bool,
    /// The topic zones it was contributed to.
    pub zones: Vec<cityx_core::ZoneId>,
}

/// Which notices to list (within the caller's scope: notices to or from its station).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoticeFilter {
    /// Notices to this (adopting) station.
    pub station: Option<cityx_core::StationId>,
    /// Notices about this station's items.
    pub contributor: Option<cityx_core::StationId>,
    pub asset: Option<cityx_core::AssetId>,
    /// Only those not yet acknowledged.
    pub open_only: bool,
}

/// A station's figures over a period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StationStats {
    pub station_id: StationId,
    pub name: String,
    pub code: String,
    pub city: String,
    pub province: String,
    /// Items it published.
    pub contributions: i64,
    /// Others' items it adopted.
    pub adoptions_made: i64,
    /// Adoptions of its items by others (its credits).
    pub adoptions_received: i64,
}

/// The network's figures of one Beijing day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayStats {
    /// Days since 1970-01-01, Beijing time.
    pub day: i64,
    pub contributions: i64,
    pub adoptions: i64,
}

/// A topic zone's figures over a period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ZoneStats {
    pub zone_id: cityx_core::ZoneId,
    pub title: String,
    /// Items contributed to it in the period.
    pub items: i64,
    /// Adoptions of its items in the period.
    pub adoptions: i64,
}

/// An item ranked by its adoptions in a period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TopItem {
    pub asset_id: cityx_core::AssetId,
    pub title: String,
    /// The contributing station.
    pub station_name: String,
    pub adoptions: i64,
}

/// What a webhook job is to send.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryWork {
    pub delivery: cityx_core::Delivery,
    pub url: String,
    pub secret: String,
    /// The webhook's station.
    pub station_id: StationId,
    /// The event, when the station may still see it and the webhook is still there.
    pub event: Option<cityx_core::Event>,
}

//! The use cases of cityx, grouped by context. [`App`] holds what the contexts share and hands
//! out one small service per context, each holding only the repository traits it needs:
//! `app.access()` (sign-in, sessions, tokens), `app.people()` (stations, users, the audit
//! log), `app.ingest()` (uploads, imports, deletion), `app.exchange()` (search, rights,
//! adoption, downloads), `app.notices()` (corrections, withdrawals, the feed, statistics),
//! `app.zones()`, `app.follows()`, `app.media()` (media links),
//! `app.pipeline()` (what the media jobs record), `app.integrity()` (fsck, storage moves)
//! and `app.processes()` (supervised processes and schedules). The JSON API, the web UI,
//! the CLI and the jobs all call these, so every rule is applied the same way whatever the
//! door. A context that needs another asks it through its public calls (follows ask zones,
//! people and the exchange).
//!
//! Depends on `cityx-core` (rules), `cityx-db` (persistence), `cityx-storage` (objects and
//! the upload spool), `cityx-search` (the catalogue's index) and `cityx-fetch` (the
//! outbound-fetch guard) only; never on a subsystem crate (they depend on it). It must not
//! know HTTP routing, HTML or the command line: inputs and outputs are plain data, errors are
//! [`Error`], which each boundary maps to its own representation.

mod assets;
mod audit;
mod auth;
mod error;
mod exchange;
mod follows;
mod imports;
mod integrity;
pub mod media;
mod notices;
mod pipeline;
pub mod processes;
mod quotas;
pub mod secrets;
mod stations;
mod tokens;
mod uploads;
mod users;
mod zones;

use cityx_db::Repo;
use std::sync::Arc;
use std::time::Duration;

pub use assets::AssetView;
pub use auth::{Access, LoginToken, WebSession, csrf_matches};
pub use cityx_db::{
    AdoptionFilter, AssetFilter, JobSummary, LibraryState, Page, PageRequest, ScheduleRow,
    StationStats, TopItem, ZoneStats,
};
pub use cityx_search::{FacetCount, Facets, Hit as SearchHit, Related, Results as SearchResults};
pub use error::{Error, Result};
pub use exchange::{Adopted, DownloadLink, Exchange, MAX_PER_PAGE, SearchInput};
pub use follows::{FollowNews, Follows};
pub use imports::{IMPORT_FAILURE, IMPORT_JOB, url_refused};
pub use integrity::{Finding, FsckOptions, FsckReport, Integrity, Problem};
pub use media::{Media, MediaLink, Recent, SMALL_FILE};
pub use notices::{
    AreaStats, DayPoint, FeedPage, MAX_FEED_LIMIT, MAX_FEED_WAIT, NoticeDirection, Notices,
    Statistics, Told,
};
pub use pipeline::{AssetFile, PROBE_JOB, Pipeline, TRANSCODE_JOB};
pub use quotas::StationQuota;
pub use secrets::generate_password;
pub use stations::{People, StationEntry, StationPatch};
pub use tokens::{NewToken, TokenSecret};
pub use uploads::{
    ChecksumAlg, DUPLICATE_FAILURE, DuplicatePolicy, Hashers, Ingest, UploadOptions,
};
pub use users::{NewUser, UserPatch};
pub use zones::{ZoneView, Zones};

/// Authentication and sign-in limits: the `[auth]` section of the configuration, in its
/// units (the keys say them).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthOptions {
    /// Lifetime of a web session.
    #[serde(rename = "session_ttl_hours", with = "cityx_core::units::hours")]
    pub session_ttl: Duration,
    /// Lifetime of a token from `POST /api/v1/auth/token`.
    #[serde(rename = "login_token_ttl_hours", with = "cityx_core::units::hours")]
    pub login_token_ttl: Duration,
    /// Lifetime of a named API token when none is asked for, in days.
    pub api_token_default_days: u32,
    /// Longest lifetime of a named API token, in days.
    pub api_token_max_days: u32,
    /// Failed sign-ins for one email within the window before sign-in is refused.
    pub max_failures_per_email: u64,
    /// Failed sign-ins from one address within the window before sign-in is refused.
    pub max_failures_per_ip: u64,
    #[serde(rename = "failure_window_secs", with = "cityx_core::units::secs")]
    pub failure_window: Duration,
    /// How long a node may answer for a bearer token from memory (0: ask the database every
    /// time). A token revoked or a user disabled through another node stops working after
    /// at most this long; on the node that made the change, at once.
    #[serde(rename = "token_cache_secs", with = "cityx_core::units::secs")]
    pub token_cache: Duration,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            session_ttl: Duration::from_secs(12 * 3600),
            login_token_ttl: Duration::from_secs(12 * 3600),
            api_token_default_days: 90,
            api_token_max_days: 365,
            max_failures_per_email: 5,
            max_failures_per_ip: 30,
            failure_window: Duration::from_secs(15 * 60),
            token_cache: Duration::from_secs(2),
        }
    }
}

impl AuthOptions {
    /// What is wrong with these options, naming the key under `[auth]`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (key, zero) in [
            ("auth.session_ttl_hours", self.session_ttl.as_secs() == 0),
            (
                "auth.login_token_ttl_hours",
                self.login_token_ttl.as_secs() == 0,
            ),
            (
                "auth.max_failures_per_email",
                self.max_failures_per_email == 0,
            ),
            ("auth.max_failures_per_ip", self.max_failures_per_ip == 0),
            (
                "auth.failure_window_secs",
                self.failure_window.as_secs() == 0,
            ),
        ] {
            if zero {
                return Err(format!("{key} must be at least 1"));
            }
        }
        if self.token_cache > Duration::from_secs(60) {
            return Err("auth.token_cache_secs must be at most 60; 0 turns the cache off".into());
        }
        if self.api_token_default_days == 0 || self.api_token_default_days > self.api_token_max_days
        {
            return Err(
                "auth.api_token_default_days must be between 1 and auth.api_token_max_days".into(),
            );
        }
        Ok(())
    }
}

/// Memory for small media files unless set ([`App::with_media_cache`]).
pub const DEFAULT_MEDIA_CACHE: u64 = 256 << 20;

/// The application: what every door into cityx shares.
pub struct App {
    repo: Arc<dyn Repo>,
    storage: cityx_storage::Storage,
    spool: cityx_storage::spool::Spool,
    auth: AuthOptions,
    uploads: UploadOptions,
    /// Every fetch from a URL a user gave goes through this.
    fetch: cityx_fetch::Guard,
    /// The catalogue's search index (`None` until opened: searches fail).
    search: std::sync::OnceLock<Arc<cityx_search::SearchIndex>>,
    /// The key that signs download and media links, read (or made) once from the database.
    link_key: secrets::LinkKey,
    /// Rights decisions and small files behind media links.
    media: media::MediaCache,
    /// Bearer tokens looked up lately, with their users.
    tokens_seen: auth::TokenCache,
    /// Wakes an idle job runner when work arrives.
    jobs_ready: Arc<tokio::sync::Notify>,
    /// A hash of a random password, verified against when an email is unknown so that a
    /// wrong email takes as long as a wrong password.
    dummy_hash: String,
    /// Another dependency readiness asks about (the message bus), by name.
    also_ready: Option<(&'static str, ReadyCheck)>,
    /// Encrypts the secrets cityx sends on (partners' stream keys); `None` until set.
    sealer: Option<secrets::Sealer>,
}

/// Whether a dependency is reachable now, without waiting.
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

impl App {
    pub fn new(
        repo: Arc<dyn Repo>,
        storage: cityx_storage::Storage,
        spool: cityx_storage::spool::Spool,
        auth: AuthOptions,
        uploads: UploadOptions,
    ) -> Result<Self> {
        let dummy_hash = secrets::hash_password(&generate_password()?)?;
        Ok(App {
            link_key: secrets::LinkKey::new(repo.clone()),
            repo,
            storage,
            spool,
            auth,
            uploads,
            fetch: Default::default(),
            search: Default::default(),
            media: media::MediaCache::new(DEFAULT_MEDIA_CACHE),
            jobs_ready: Default::default(),
            tokens_seen: Default::default(),
            dummy_hash,
            also_ready: None,
            sealer: None,
        })
    }

    /// Sets the outbound-fetch guard's limits and allowed networks (default: public
    /// addresses only).
    pub fn with_fetch_guard(mut self, guard: cityx_fetch::Guard) -> Self {
        self.fetch = guard;
        self
    }

    /// Sets the memory for small media files served under media links (bytes; 0 for none).
    pub fn with_media_cache(mut self, bytes: u64) -> Self {
        self.media = media::MediaCache::new(bytes);
        self
    }

    /// Sets the key that encrypts partners' secrets (see [`secrets::Sealer`]).
    pub fn with_sealer(mut self, sealer: secrets::Sealer) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// The sealer of partners' secrets; an internal error when none was set.
    pub fn sealer(&self) -> Result<&secrets::Sealer> {
        self.sealer
            .as_ref()
            .ok_or_else(|| Error::Internal("no secret key was set (data.secret_key_file)".into()))
    }

    /// Makes readiness depend on `check` too, reported as `what`.
    pub fn set_ready_check(&mut self, what: &'static str, check: ReadyCheck) {
        self.also_ready = Some((what, check));
    }

    /// People's access: sign-in, sessions and API tokens.
    pub fn access(&self) -> Access<'_> {
        Access {
            users: &*self.repo,
            audit: &*self.repo,
            tokens: &*self.repo,
            sessions: &*self.repo,
            auth: &self.auth,
            dummy_hash: &self.dummy_hash,
            tokens_seen: &self.tokens_seen,
        }
    }

    /// People: stations, users and the audit log.
    pub fn people(&self) -> People<'_> {
        People {
            stations: &*self.repo,
            users: &*self.repo,
            audit: &*self.repo,
            tokens_seen: &self.tokens_seen,
        }
    }

    /// Ingest: uploads, imports, deletion and restoration.
    pub fn ingest(&self) -> Ingest<'_> {
        Ingest {
            ingest: self.repo.clone(),
            exchange: &*self.repo,
            stations: &*self.repo,
            storage: &self.storage,
            spool: &self.spool,
            uploads: &self.uploads,
            fetch: &self.fetch,
            jobs_ready: &self.jobs_ready,
        }
    }

    /// The exchange: search, rights, adoption and download links.
    pub fn exchange(&self) -> Exchange<'_> {
        Exchange {
            exchange: &*self.repo,
            ingest: &*self.repo,
            stations: &*self.repo,
            users: &*self.repo,
            search: &self.search,
            link_key: &self.link_key,
            storage: &self.storage,
        }
    }

    /// Corrections, withdrawals, notices, the member feed and the statistics.
    pub fn notices(&self) -> Notices<'_> {
        Notices {
            notices: &*self.repo,
            ingest: &*self.repo,
            link_key: &self.link_key,
        }
    }

    /// Topic zones.
    pub fn zones(&self) -> Zones<'_> {
        Zones {
            zones: &*self.repo,
            exchange: &*self.repo,
        }
    }

    /// Follows of keywords and zones.
    pub fn follows(&self) -> Follows<'_> {
        Follows {
            follows: &*self.repo,
            zones: self.zones(),
            people: self.people(),
            exchange: self.exchange(),
        }
    }

    /// Playback by signed media links.
    pub fn media(&self) -> Media<'_> {
        Media {
            exchange: &*self.repo,
            users: &*self.repo,
            storage: &self.storage,
            media: &self.media,
            link_key: &self.link_key,
        }
    }

    /// What the media jobs record and store.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            pipeline: &*self.repo,
            queue: &*self.repo,
            exchange: &*self.repo,
            ingest: &*self.repo,
            storage: &self.storage,
            media: &self.media,
            jobs_ready: &self.jobs_ready,
        }
    }

    /// Checking and moving the stored objects.
    pub fn integrity(&self) -> Integrity<'_> {
        Integrity {
            ingest: &*self.repo,
            exchange: &*self.repo,
            storage: &self.storage,
        }
    }

    /// The outbound-fetch guard every fetch from a URL a user gave goes through.
    pub fn fetch_guard(&self) -> &cityx_fetch::Guard {
        &self.fetch
    }

    /// Wakes an idle job runner when work was enqueued.
    pub fn jobs_ready(&self) -> &Arc<tokio::sync::Notify> {
        &self.jobs_ready
    }

    /// Object storage, for subsystems that keep files of their own (live segments).
    pub fn storage(&self) -> &cityx_storage::Storage {
        &self.storage
    }

    pub fn repo(&self) -> &Arc<dyn Repo> {
        &self.repo
    }

    pub fn auth_options(&self) -> &AuthOptions {
        &self.auth
    }

    /// Whether the database and the object store answer (each within 2 s) and the message
    /// bus, if any, is connected, for readiness probes.
    pub async fn ready(&self) -> Result<()> {
        const WAIT: std::time::Duration = std::time::Duration::from_secs(2);
        let slow = |what: &str| Error::Internal(format!("{what} did not answer in 2 s").into());
        tokio::time::timeout(WAIT, self.repo.ping())
            .await
            .map_err(|_| slow("the database"))??;
        tokio::time::timeout(WAIT, self.storage.ping())
            .await
            .map_err(|_| slow("the object store"))?
            .map_err(|e| Error::Internal(Box::new(e)))?;
        match &self.also_ready {
            Some((what, check)) if !check() => {
                Err(Error::Internal(format!("{what} is not connected").into()))
            }
            _ => Ok(()),
        }
    }
}

/// A caller's page size: 1 to 500, `default` when not given.
pub fn page_limit(limit: Option<u32>, default: u32) -> Result<u32> {
    match limit {
        None => Ok(default),
        Some(n @ 1..=500) => Ok(n),
        Some(_) => Err(Error::field(
            "limit",
            "out_of_range",
            "limit must be between 1 and 500",
        )),
    }
}

/// Builds a page request from a caller's `limit` and opaque `cursor`.
pub fn page_request(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest> {
    let mut req = PageRequest::first(page_limit(limit, 50)?);
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        req.after = Some(uuid::Uuid::parse_str(c).map_err(|_| Error::InvalidCursor)?);
    }
    Ok(req)
}

//! The database layer: repository traits and their implementation for SQLite and PostgreSQL
//! (`sql/`, one implementation of portable SQL over sqlx's `Any` driver), with migrations
//! embedded per backend (`migrations/sqlite`, `migrations/postgres`).
//!
//! Each context keeps its repository trait, its SQL and its row mapping in one file of
//! `sql/` (`people`, `ingest`, `exchange`, `notices`, `zones`, `webhooks`, `follows`,
//! `pipeline`, and the spine's `jobs`, `outbox`, `processes`, `schedules`, `subscribers`).
//! What contexts share is plumbing: `sql/mod.rs` (connection, transactions, the audit
//! write, paging), `rows.rs` (common columns), `events.rs` (the event log written in a
//! change's transaction), `visibility.rs` (the visibility rule) and the queue's
//! `jobs::insert_job`. A context's SQL calls plumbing, never another context's helpers.
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
use std::sync::Arc;

pub use error::{Error, Result};
pub use model::{
    AdoptionFilter, AssetFilter, AuditFilter, CatalogueRow, ClaimedJob, CompletedUpload, DayStats,
    DeadJob, JobClaim, JobMessage, JobOutcome, JobSummary, LibraryState, LoginFailures, NewJob,
    NoticeFilter, Page, PageRequest, Processed, Rejection, SessionRow, StationLimits, StationStats,
    TokenFilter, TopItem, UploadProgress, ZoneStats,
};
pub use sql::Backend;
pub use sql::exchange::ExchangeRepo;
pub use sql::follows::FollowRepo;
pub use sql::ingest::IngestRepo;
pub use sql::jobs::QueueRepo;
pub use sql::live::LiveRepo;
pub use sql::live_targets::{SealedTarget, TargetRepo, TargetRow};
pub use sql::notices::NoticeRepo;
pub use sql::outbox::OutboxRepo;
pub use sql::people::{AuditRepo, SessionRepo, StationRepo, TokenRepo, UserRepo};
pub use sql::pipeline::PipelineRepo;
pub use sql::processes::{ClaimedProcess, NewProcess, ProcessRepo, ProcessReport};
pub use sql::schedules::{ScheduleDef, ScheduleRepo, ScheduleRow};
pub use sql::subscribers::{HeldSubscriber, SubscriberRepo, SubscriberRow};
pub use sql::webhooks::WebhookRepo;
pub use sql::zones::ZoneRepo;

/// Connection settings shared by every backend.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user:pass@host/db`.
    pub url: String,
    pub max_connections: u32,
}

/// Opens the database named by the URL (`sqlite:` or `postgres:`), creating an embedded
/// SQLite file if needed.
/// Does not migrate; call [`Admin::migrate`].
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
    LiveRepo,
    TargetRepo,
);

/// Lifecycle and health.
#[async_trait]
pub trait Admin: Send + Sync {
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

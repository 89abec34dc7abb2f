//! `tidy`: the installation's periodic clean-up, run by the scheduler once a minute across
//! the cluster: expired sessions, expired uploads (their reservations released), uploads a
//! crash left unfinished after their last byte, and deleted items whose grace period has
//! passed.

use crate::Context;
use async_trait::async_trait;
use cityx_core::schedule::{Every, Misfire};
use cityx_db::ClaimedJob;
use cityx_queue::schedule::Task;
use cityx_queue::{Handler, JobError, Progress};

/// The job kind and the periodic task's name. Stored data: never renamed.
pub const TIDY: &str = "tidy";

/// Once a minute and whenever a node starts (uploads a crash cut off are finished at once);
/// minutes missed while every node was down are made up once.
pub fn task() -> Task {
    Task {
        name: TIDY,
        every: Every::Interval(time::Duration::MINUTE),
        misfire: Misfire::RunOnce,
        job: TIDY,
        max_attempts: 3,
        at_start: true,
    }
}

pub struct TidyJob(pub Context);

#[async_trait]
impl Handler for TidyJob {
    fn kind(&self) -> &'static str {
        TIDY
    }

    async fn run(&self, _job: &ClaimedJob, _progress: &Progress) -> Result<(), JobError> {
        let app = &self.0.app;
        // Each step runs whatever the others did; the first failure makes the run retry.
        let mut failed = None;
        match app.access().purge_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
            Err(e) => failed = Some(format!("cannot remove expired sessions: {e}")),
        }
        match app.ingest().tidy_uploads().await {
            Ok((0, 0)) => {}
            Ok((expired, finished)) => tracing::info!(expired, finished, "uploads tidied"),
            Err(e) => failed = failed.or(Some(format!("cannot tidy uploads: {e}"))),
        }
        match app.ingest().purge_deleted().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(items = n, "deleted items purged"),
            Err(e) => failed = failed.or(Some(format!("cannot purge deleted items: {e}"))),
        }
        failed.map_or(Ok(()), |e| Err(JobError::Transient(e)))
    }
}

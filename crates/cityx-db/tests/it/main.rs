//! The repository conformance suite. Every backend runs every case: SQLite always,
//! PostgreSQL when `CITYX_TEST_POSTGRES_URL` names a server where the suite may create
//! databases (`.ci/run` sets it); without it those cases print a notice and pass.

mod caps;
mod live;
mod spine;
mod suite;

use cityx_db::{DbOptions, Repo};
use std::sync::Arc;

/// A fresh, migrated database of one backend.
pub struct TestDb {
    pub repo: Arc<dyn Repo>,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<cityx_db::scratch::ScratchDb>,
}

impl TestDb {
    /// Drops a PostgreSQL test database (SQLite's goes with its temporary directory).
    pub async fn cleanup(self) {
        self.repo.close().await;
        if let Some(s) = self.scratch {
            s.drop_now().await;
        }
    }
}

async fn open(url: String) -> Arc<dyn Repo> {
    let repo = cityx_db::connect(&DbOptions {
        url,
        max_connections: 4,
    })
    .await
    .expect("open database");
    repo.migrate().await.expect("migrate");
    repo
}

pub async fn sqlite() -> Option<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = open(format!(
        "sqlite://{}",
        dir.path().join("cityx.db").display()
    ))
    .await;
    Some(TestDb {
        repo,
        _dir: Some(dir),
        scratch: None,
    })
}

/// A new database on the server named by `CITYX_TEST_POSTGRES_URL`, or `None` (skip).
pub async fn postgres() -> Option<TestDb> {
    let Ok(server) = std::env::var("CITYX_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set CITYX_TEST_POSTGRES_URL to run the PostgreSQL conformance suite");
        return None;
    };
    let scratch = cityx_db::scratch::ScratchDb::create(&server)
        .await
        .expect("create a test database");
    let repo = open(scratch.url.clone()).await;
    Some(TestDb {
        repo,
        _dir: None,
        scratch: Some(scratch),
    })
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = crate::$backend().await else { return };
                    crate::suite::$case(db.repo.clone()).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

macro_rules! every_backend {
    ($($backend:ident),*) => {
        $(
            conformance!($backend:
                stations_are_scoped,
                station_codes_are_unique_and_failed_writes_leave_no_audit,
                pages_cover_every_row_once,
                users_are_scoped,
                user_changes_and_passwords,
                database_enforces_role_station_rule,
                tokens_lifecycle,
                sessions_expire_and_end,
                audit_listing_and_login_failures,
                racing_sign_in_attempts_cannot_pass_the_limit,
                uploads_reserve_quota_and_finish_with_a_job,
                stations_hold_a_bounded_number_of_unfinished_uploads,
                ended_uploads_release_their_reservation,
                jobs_are_claimed_once_and_fenced,
                busy_stations_do_not_starve_others,
                concurrent_claims_take_each_job_once,
                the_outbox_sends_each_attempt_once_within_a_window,
                runnable_jobs_wake_listening_workers,
                pipeline_writes_are_fenced_and_enqueue_once,
                deleted_assets_wait_out_their_grace_then_release_quota,
                events_commit_in_order_and_notices_reach_adopters,
                corrections_are_kept_with_what_they_changed,
                webhooks_get_what_the_feed_shows_and_retry_through_the_queue,
                follows_are_personal_unique_and_remember_the_last_look,
                processes_are_held_by_one_node_at_a_time,
                periodic_tasks_fire_once_per_due_time,
                channels_are_watched_as_shared_and_held_by_one_session,
                caps_hold_when_requests_race_for_the_last_places,
                restream_targets_stay_with_their_station,
                pulling_channels_are_offered_while_unheld,
            );
        )*
    };
}

every_backend!(sqlite, postgres);

//! The repository conformance suite. Every backend runs every case: SQLite always; later
//! backends when their URL variable is set (see `backends()`).

mod suite;

use cityx_db::{DbOptions, Repo};
use std::sync::Arc;

/// A fresh, migrated database of one backend, removed when dropped.
pub struct TestDb {
    pub repo: Arc<dyn Repo>,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cityx.db").display());
    let repo = cityx_db::connect(&DbOptions {
        url,
        max_connections: 4,
    })
    .await
    .expect("open sqlite");
    repo.migrate().await.expect("migrate");
    TestDb { repo, _dir: dir }
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = crate::$backend().await;
                    crate::suite::$case(db.repo.clone()).await;
                }
            )*
        }
    };
}

conformance!(sqlite:
    stations_are_scoped,
    station_codes_are_unique_and_failed_writes_leave_no_audit,
    pages_cover_every_row_once,
    users_are_scoped,
    user_changes_and_passwords,
    database_enforces_role_station_rule,
    tokens_lifecycle,
    sessions_expire_and_end,
    audit_listing_and_login_failures,
);

//! For tests of every crate: the S3-compatible store that the test scripts start
//! (`.ci/run` starts SeaweedFS and sets `CITYX_TEST_S3_URL`, `CITYX_TEST_S3_ENDPOINT`,
//! `CITYX_TEST_S3_ACCESS_KEY_ID` and `CITYX_TEST_S3_SECRET_ACCESS_KEY`).

use crate::StoreOptions;

/// A fresh place in the test store (its own prefix, so tests never see each other's
/// objects), with how to reach it; `None` when the environment names no store.
pub fn s3_store() -> Option<StoreOptions> {
    let url = std::env::var("CITYX_TEST_S3_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let mut unique = [0u8; 8];
    getrandom::fill(&mut unique).expect("random bytes");
    let prefix: String = unique.iter().map(|b| format!("{b:02x}")).collect();
    Some(StoreOptions {
        url: format!("{}/test-{prefix}", url.trim_end_matches('/')),
        endpoint: var("CITYX_TEST_S3_ENDPOINT"),
        region: var("CITYX_TEST_S3_REGION"),
        access_key_id: var("CITYX_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("CITYX_TEST_S3_SECRET_ACCESS_KEY"),
        virtual_hosted: false,
        presign_downloads: false,
        public_endpoint: String::new(),
    })
}

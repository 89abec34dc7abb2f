//! One visibility rule: `cityx_core::exchange::can_see` is the reference, and the SQL
//! (`get_visible_asset`, the repository's visibility clause) and the search index's clause
//! must agree with it. Items in every state, with every kind of rights and embargo, are
//! generated from fixed seeds and looked at by every kind of viewer, on the database the
//! HTTP suite runs on (SQLite, or PostgreSQL in the scale-out run).

use cityx_core::exchange::can_see;
use cityx_core::subject::Subject;
use cityx_core::{
    Actor, Asset, AssetMeta, AssetStatus, AuditAction, NewAudit, Region, Rights, Role, ScopeSet,
    Station, StationId, TenantScope, Upload, UploadState, User, UserId, Visibility,
};
use cityx_db::{CompletedUpload, NewJob, Processed, Repo, UploadProgress};
use cityx_testkit::TestApp;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::Duration;

/// A small deterministic generator (xorshift64*), so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn audit(action: AuditAction, station: Option<StationId>) -> NewAudit {
    NewAudit::by(&Actor::system(), action, "test", "t", station)
}

/// A station and one editor of it.
async fn station(repo: &Arc<dyn Repo>, n: usize) -> (Station, User) {
    let now = cityx_core::now();
    let st = Station {
        id: StationId::new(),
        name: format!("台{n}"),
        code: format!("vis{n}"),
        city: "杭州".into(),
        province: "浙江".into(),
        region: Region::East,
        contact_name: String::new(),
        contact_phone: String::new(),
        contact_email: String::new(),
        default_visibility: cityx_core::Visibility::Exchange,
        created_at: now,
        updated_at: now,
    };
    repo.insert_station(&st, &audit(AuditAction::StationCreated, Some(st.id)))
        .await
        .expect("station");
    let user = User {
        id: UserId::new(),
        email: format!("vis{n}@test.cn"),
        display_name: format!("编辑{n}"),
        role: Role::Editor,
        station_id: Some(st.id),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    repo.insert_user(&user, "hash", &audit(AuditAction::UserCreated, Some(st.id)))
        .await
        .expect("user");
    (st, user)
}

/// What the generator chose for one item, to check what was stored against.
struct Chosen {
    seed: u64,
    i: usize,
    id: cityx_core::AssetId,
    made: Made,
    rights: Rights,
    deleted: bool,
}

impl Made {
    fn status(self) -> AssetStatus {
        match self {
            Made::Uploading => AssetStatus::Uploading,
            Made::Processing => AssetStatus::Processing,
            Made::Ready => AssetStatus::Ready,
            Made::Rejected => AssetStatus::Rejected,
            Made::Failed => AssetStatus::Failed,
            Made::Withdrawn => AssetStatus::Withdrawn,
        }
    }
}

/// The states an item is generated in.
#[derive(Clone, Copy, Debug)]
enum Made {
    Uploading,
    Processing,
    Ready,
    Rejected,
    Failed,
    Withdrawn,
}

const MADE: [Made; 6] = [
    Made::Uploading,
    Made::Processing,
    Made::Ready,
    Made::Rejected,
    Made::Failed,
    Made::Withdrawn,
];

/// An item of `st`'s, brought to `made` through the repository's own calls.
async fn item(repo: &Arc<dyn Repo>, st: &Station, user: &User, made: Made, n: usize) -> Asset {
    let now = cityx_core::now();
    let meta = AssetMeta {
        filename: format!("v{n}.mp4"),
        title: format!("可见性测试 {n}"),
        ..Default::default()
    };
    let asset = Asset::uploading(st.id, user.id, meta, 1, now);
    let up = Upload {
        id: cityx_core::UploadId::new(),
        asset_id: asset.id,
        station_id: st.id,
        user_id: user.id,
        length: 1,
        offset: 0,
        metadata: String::new(),
        state: UploadState::Active,
        expires_at: now + Duration::hours(1),
        created_at: now,
    };
    let progress = UploadProgress::default();
    repo.create_upload(
        &asset,
        &up,
        &progress,
        &cityx_db::StationLimits::default(),
        &audit(AuditAction::UploadCreated, Some(st.id)),
    )
    .await
    .expect("upload");
    if let Made::Uploading = made {
        return asset;
    }
    repo.lease_upload(up.id, "t", now, up.expires_at)
        .await
        .expect("lease")
        .expect("free");
    assert!(
        repo.advance_upload(up.id, "t", 0, 1, up.expires_at, &progress)
            .await
            .expect("advance")
    );
    let probe = NewJob::about("probe", Subject::asset(asset.id), Some(st.id), 3);
    let done = CompletedUpload {
        sha256: format!("{:064x}", n),
        md5: "0".repeat(32),
        duplicate_of: None,
        completed_at: now,
        rejected: None,
    };
    repo.complete_upload(
        up.id,
        &done,
        &probe,
        &audit(AuditAction::UploadCompleted, Some(st.id)),
    )
    .await
    .expect("complete");
    let lease = now + Duration::minutes(5);
    match made {
        Made::Processing => {}
        Made::Failed => repo.fail_asset(asset.id, "unreadable").await.expect("fail"),
        Made::Ready | Made::Rejected | Made::Withdrawn => {
            let job = match repo
                .claim_job_by_id(probe.id, "t", lease)
                .await
                .expect("claim")
            {
                cityx_db::JobClaim::Claimed(job) => job,
                other => panic!("the probe job is not claimable: {other:?}"),
            };
            let processed = Processed {
                playback: "hls/master.m3u8".into(),
                derived_json: "{}".into(),
                qc_json: "{}".into(),
                qc_verdict: "pass".into(),
                rejection: matches!(made, Made::Rejected).then(|| "black".to_owned()),
            };
            assert!(
                repo.finish_processing(&job, &processed)
                    .await
                    .expect("finish")
            );
            if let Made::Withdrawn = made {
                repo.withdraw_asset(
                    TenantScope::All,
                    asset.id,
                    "错误",
                    &audit(AuditAction::AssetWithdrawn, Some(st.id)),
                )
                .await
                .expect("withdraw");
            }
        }
        Made::Uploading => unreachable!(),
    }
    asset
}

/// Every item the search index lets `actor` find.
async fn found(app: &TestApp, actor: &Actor) -> BTreeSet<cityx_core::AssetId> {
    let mut ids = BTreeSet::new();
    for page in 1.. {
        let input = cityx_app::SearchInput {
            page: Some(page),
            per_page: Some(cityx_app::MAX_PER_PAGE),
            facets: Some(false),
            ..Default::default()
        };
        let r = app
            .app()
            .exchange()
            .search(actor, &input)
            .await
            .expect("search");
        let n = r.hits.len();
        ids.extend(r.hits.into_iter().map(|h| h.id));
        if n < cityx_app::MAX_PER_PAGE as usize {
            break;
        }
    }
    ids
}

fn actor_of(user: &User) -> Actor {
    Actor::for_user(user, None, ScopeSet::ALL)
}

#[tokio::test]
async fn sql_and_search_see_what_can_see_says() {
    // No workers: the test itself takes the items through their states.
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let repo = app.app().repo().clone();
    let mut stations = Vec::new();
    for n in 0..4 {
        stations.push(station(&repo, n).await);
    }
    // Viewers: the hub, each station, and a caller of no station.
    let mut viewers: Vec<(String, Actor)> = vec![("hub".into(), Actor::system())];
    for (st, user) in &stations {
        viewers.push((st.code.clone(), actor_of(user)));
    }
    let nobody = Actor {
        role: Role::Editor,
        station_id: None,
        ..Actor::system()
    };
    viewers.push(("nobody".into(), nobody));

    let mut failures = Vec::new();
    let mut items = Vec::new();
    for seed in [0x5eed_u64, 0xc17e, 0x1d0_2026] {
        let mut rng = Rng(seed);
        for i in 0..40 {
            let n = items.len();
            let (st, user) = &stations[rng.below(4) as usize];
            let made = MADE[rng.below(MADE.len() as u64) as usize];
            let asset = item(&repo, st, user, made, n).await;
            // Rights: any visibility, any stations, an embargo past, future or none.
            let visibility = [
                Visibility::Private,
                Visibility::Exchange,
                Visibility::Stations,
                Visibility::Public,
            ][rng.below(4) as usize];
            let shared_with: Vec<StationId> = stations
                .iter()
                .map(|(s, _)| s.id)
                .filter(|s| *s != st.id && rng.chance(50))
                .collect();
            let embargo_until = match rng.below(3) {
                0 => None,
                1 => Some(cityx_core::now() - Duration::hours(1)),
                _ => Some(cityx_core::now() + Duration::hours(1)),
            };
            let rights = Rights {
                visibility,
                shared_with,
                embargo_until,
                embargo_hides: rng.chance(50),
                licence: String::new(),
            };
            let set = repo
                .set_rights(
                    TenantScope::All,
                    asset.id,
                    &rights,
                    &audit(AuditAction::RightsChanged, Some(st.id)),
                )
                .await;
            if let Err(e) = set {
                failures.push(format!("seed {seed:x} item {i}: rights refused: {e}"));
            }
            let deleted = !matches!(made, Made::Uploading) && rng.chance(20);
            if deleted {
                let purge = cityx_core::now() + Duration::hours(1);
                repo.delete_asset(
                    TenantScope::All,
                    asset.id,
                    purge,
                    &audit(AuditAction::AssetDeleted, Some(st.id)),
                )
                .await
                .expect("delete");
            }
            items.push(Chosen {
                seed,
                i,
                id: asset.id,
                made,
                rights,
                deleted,
            });
        }
    }
    app.app().exchange().reindex().await.expect("reindex");

    let now = cityx_core::now();
    let (mut seen_by_someone_else, mut hidden_from_someone_else) = (0, 0);
    for (label, actor) in &viewers {
        let scope = actor.tenant_scope();
        let in_index = found(&app, actor).await;
        for c in &items {
            let (seed, i, id, made) = (c.seed, c.i, &c.id, c.made);
            let asset = repo
                .get_visible_asset(TenantScope::All, *id, now)
                .await
                .expect("the hub sees every item");
            // The reference judges what the generator chose: the item must be stored so.
            let mut shared = asset.shared_with.clone();
            // Shares are kept only while the item is shared with named stations.
            let mut chosen = match c.rights.visibility {
                Visibility::Stations => c.rights.shared_with.clone(),
                _ => Vec::new(),
            };
            shared.sort();
            chosen.sort();
            let stored = (
                asset.status,
                asset.deleted_at.is_some(),
                asset.visibility,
                shared,
                asset.meta.embargo_until.map(cityx_core::epoch_ms),
                asset.embargo_hides,
            );
            let wanted = (
                made.status(),
                c.deleted,
                c.rights.visibility,
                chosen,
                c.rights.embargo_until.map(cityx_core::epoch_ms),
                c.rights.embargo_hides,
            );
            if stored != wanted {
                failures.push(format!(
                    "seed {seed:x} item {i}: stored {stored:?}, chosen {wanted:?}"
                ));
            }
            let reference = can_see(&asset, &asset.shared_with, scope, now);
            let sql = match repo.get_visible_asset(scope, *id, now).await {
                Ok(_) => true,
                Err(e) if e.is_not_found() => false,
                Err(e) => panic!("{label}: {e}"),
            };
            // The index holds what is not deleted and not still uploading.
            let catalogued = asset.deleted_at.is_none() && asset.status != AssetStatus::Uploading;
            let search = in_index.contains(id);
            if sql != reference || search != (reference && catalogued) {
                failures.push(format!(
                    "seed {seed:x} item {i} ({made:?}, {:?}, shared {}, embargo {:?} hides {}, \
                     deleted {}) seen by {label}: can_see {reference}, SQL {sql}, search {search}",
                    asset.visibility,
                    asset.shared_with.len(),
                    asset.meta.embargo_until.map(|t| t > now),
                    asset.embargo_hides,
                    asset.deleted_at.is_some(),
                ));
            }
            if !matches!(scope, TenantScope::All) && Some(asset.station_id) != actor.station_id {
                if reference {
                    seen_by_someone_else += 1;
                } else {
                    hidden_from_someone_else += 1;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The generator reached both answers for other stations' items.
    assert!(
        seen_by_someone_else > 10 && hidden_from_someone_else > 10,
        "{seen_by_someone_else} seen, {hidden_from_someone_else} hidden"
    );
    app.stop().await;
}

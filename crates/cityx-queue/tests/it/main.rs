//! The runner with scripted handlers on a real SQLite database.

mod schedule;
mod subscribe;
mod supervise;

use async_trait::async_trait;
use cityx_core::{
    Actor, Asset, AssetMeta, AuditAction, NewAudit, Region, Role, Station, StationId, Upload,
    UploadState, User, UserId,
};
use cityx_db::{ClaimedJob, CompletedUpload, DbOptions, JobSummary, NewJob, Repo};
use cityx_queue::bus::{Bus, BusOptions};
use cityx_queue::{Handler, JobError, Progress, Runner, RunnerOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

async fn repo(dir: &tempfile::TempDir) -> Arc<dyn Repo> {
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let repo = cityx_db::connect(&DbOptions {
        url,
        max_connections: 4,
    })
    .await
    .expect("db");
    repo.migrate().await.expect("migrate");
    repo
}

/// A station, an editor and an uploaded asset with its queued `probe` job.
async fn asset_with_job(
    repo: &Arc<dyn Repo>,
    max_attempts: u32,
) -> (cityx_core::AssetId, cityx_core::JobId) {
    let now = cityx_core::now();
    let sys = Actor::system();
    let a = |action| NewAudit::by(&sys, action, "test", "t", None);
    let st = Station {
        id: StationId::new(),
        name: "台".into(),
        code: format!("s{}", StationId::new().0.simple())
            .chars()
            .take(20)
            .collect(),
        city: "c".into(),
        province: "p".into(),
        region: Region::East,
        contact_name: String::new(),
        contact_phone: String::new(),
        contact_email: String::new(),
        default_visibility: cityx_core::Visibility::Exchange,
        created_at: now,
        updated_at: now,
    };
    repo.insert_station(&st, &a(AuditAction::StationCreated))
        .await
        .expect("station");
    let u = User {
        id: UserId::new(),
        email: format!("{}@x.cn", UserId::new()),
        display_name: "x".into(),
        role: Role::Editor,
        station_id: Some(st.id),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    repo.insert_user(&u, "h", &a(AuditAction::UserCreated))
        .await
        .expect("user");
    let meta = AssetMeta {
        filename: "a.mp4".into(),
        title: "a".into(),
        ..Default::default()
    };
    let asset = Asset::uploading(st.id, u.id, meta, 1, now);
    let up = Upload {
        id: cityx_core::UploadId::new(),
        asset_id: asset.id,
        station_id: st.id,
        user_id: u.id,
        length: 1,
        offset: 0,
        metadata: String::new(),
        state: UploadState::Active,
        expires_at: now + time::Duration::hours(1),
        created_at: now,
    };
    let progress = cityx_db::UploadProgress::default();
    repo.create_upload(
        &asset,
        &up,
        &progress,
        &cityx_db::StationLimits::default(),
        &a(AuditAction::UploadCreated),
    )
    .await
    .expect("upload");
    let leased = repo
        .lease_upload(up.id, "w", now, up.expires_at)
        .await
        .expect("lease");
    assert!(leased.is_some());
    assert!(
        repo.advance_upload(up.id, "w", 0, 1, up.expires_at, &progress)
            .await
            .expect("advance")
    );
    let job = NewJob::about(
        "probe",
        cityx_core::subject::Subject::asset(asset.id),
        Some(st.id),
        max_attempts,
    );
    let done = CompletedUpload {
        sha256: "0".repeat(64),
        md5: "0".repeat(32),
        duplicate_of: None,
        completed_at: now,
        rejected: None,
    };
    repo.complete_upload(up.id, &done, &job, &a(AuditAction::UploadCompleted))
        .await
        .expect("complete");
    (asset.id, job.id)
}

#[derive(Default)]
struct Script {
    /// Fail transiently this many times, then succeed.
    transient_failures: u32,
    /// Always fail permanently.
    permanent: bool,
    /// Run this long (to outlive a lease).
    sleep: Duration,
    calls: AtomicU32,
    dead_calls: AtomicU32,
    last_dead_error: std::sync::Mutex<String>,
    cancelled: Arc<AtomicBool>,
    /// Record the item as processed (publishing it, which makes an event) through this.
    publish: Option<Arc<dyn Repo>>,
}

struct Cancelled(Arc<AtomicBool>);
impl Drop for Cancelled {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl Handler for Script {
    fn kind(&self) -> &'static str {
        "probe"
    }

    async fn run(&self, job: &ClaimedJob, progress: &Progress) -> Result<(), JobError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(repo) = &self.publish {
            let done = cityx_db::Processed {
                playback: "hls/master.m3u8".into(),
                derived_json: "{}".into(),
                qc_json: "{}".into(),
                qc_verdict: "pass".into(),
                rejection: None,
            };
            let fenced = repo.finish_processing(job, &done).await;
            assert!(fenced.expect("record"), "the lease is ours");
        }
        progress.set(50);
        if !self.sleep.is_zero() {
            let guard = Cancelled(self.cancelled.clone());
            tokio::time::sleep(self.sleep).await;
            std::mem::forget(guard);
        }
        if self.permanent {
            return Err(JobError::Permanent("not media".into()));
        }
        if n <= self.transient_failures {
            return Err(JobError::Transient(format!("busy, attempt {n}")));
        }
        Ok(())
    }

    async fn on_dead(&self, _job: &ClaimedJob, error: &str) {
        self.dead_calls.fetch_add(1, Ordering::SeqCst);
        *self.last_dead_error.lock().expect("lock") = error.to_owned();
    }
}

fn fast() -> RunnerOptions {
    RunnerOptions {
        lease: Duration::from_millis(600),
        poll: Duration::from_millis(10),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(60),
        ..Default::default()
    }
}

/// Streams of the test's own on the NATS server of `CITYX_TEST_NATS_URL`, or `None` (skip).
async fn test_bus(ack_wait: Duration) -> Option<Bus> {
    let Ok(url) = std::env::var("CITYX_TEST_NATS_URL") else {
        eprintln!("skipped: set CITYX_TEST_NATS_URL to run the NATS JetStream tests");
        return None;
    };
    let opts = BusOptions {
        url,
        prefix: format!("q{}", cityx_core::JobId::new().0.simple())
            .chars()
            .take(32)
            .collect(),
        ack_wait,
        window: 4,
    };
    Some(Bus::connect(opts).await.expect("connect to NATS"))
}

fn spawn_relay(repo: &Arc<dyn Repo>, bus: &Bus) -> tokio::task::JoinHandle<()> {
    tokio::spawn(cityx_queue::bus::relay(
        repo.clone(),
        bus.clone(),
        Arc::new(tokio::sync::Notify::new()),
        Duration::from_millis(20),
    ))
}

/// Runs a runner until the asset's job satisfies `done`.
async fn run_until(
    repo: &Arc<dyn Repo>,
    script: Arc<Script>,
    opts: RunnerOptions,
    asset: cityx_core::AssetId,
    done: impl Fn(&JobSummary) -> bool,
) -> JobSummary {
    run_until_with(repo, script, opts, asset, done, None).await
}

/// The same, taking jobs from `bus` when given (with the outbox relay beside the runner).
async fn run_until_with(
    repo: &Arc<dyn Repo>,
    script: Arc<Script>,
    opts: RunnerOptions,
    asset: cityx_core::AssetId,
    done: impl Fn(&JobSummary) -> bool,
    bus: Option<&Bus>,
) -> JobSummary {
    let mut runner = Runner::new(repo.clone(), vec![script], opts);
    let mut relay = None;
    if let Some(bus) = bus {
        runner = runner.with_bus(bus.clone());
        relay = Some(spawn_relay(repo, bus));
    }
    let runner = Arc::new(runner);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runner.run(async {
        let _ = stopped.await;
    }));
    let mut last = None;
    for _ in 0..500 {
        let jobs = repo.jobs_of_asset(asset).await.expect("jobs");
        if let Some(j) = jobs.into_iter().next()
            && done(&j)
        {
            last = Some(j);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    let _ = task.await;
    if let Some(relay) = relay {
        relay.abort();
    }
    last.expect("the job reached the expected state in time")
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let (asset, _) = asset_with_job(&repo, 5).await;
    let script = Arc::new(Script {
        transient_failures: 2,
        ..Default::default()
    });
    let j = run_until(&repo, script.clone(), fast(), asset, |j| {
        j.state == "succeeded"
    })
    .await;
    assert_eq!((j.attempts, j.progress), (3, 100));
    assert_eq!(
        j.last_error.as_deref(),
        Some("busy, attempt 2"),
        "the last failure stays visible"
    );
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
    assert_eq!(script.dead_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let (asset, _) = asset_with_job(&repo, 5).await;
    let script = Arc::new(Script {
        permanent: true,
        ..Default::default()
    });
    let j = run_until(&repo, script.clone(), fast(), asset, |j| j.state == "dead").await;
    assert_eq!(j.attempts, 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        script.dead_calls.load(Ordering::SeqCst),
        1,
        "the item is told once"
    );
    assert_eq!(*script.last_dead_error.lock().expect("lock"), "not media");
}

#[tokio::test]
async fn jobs_die_after_their_last_attempt() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let (asset, _) = asset_with_job(&repo, 3).await;
    let script = Arc::new(Script {
        transient_failures: u32::MAX,
        ..Default::default()
    });
    let j = run_until(&repo, script.clone(), fast(), asset, |j| j.state == "dead").await;
    assert_eq!(j.attempts, 3);
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        *script.last_dead_error.lock().expect("lock"),
        "busy, attempt 3"
    );
}

#[tokio::test]
async fn a_worker_that_loses_its_lease_stops_its_work() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let (asset, job_id) = asset_with_job(&repo, 5).await;
    let script = Arc::new(Script {
        sleep: Duration::from_secs(30),
        ..Default::default()
    });
    // One slot: the runner cannot claim the lapsed job itself while its first run holds it.
    let opts = RunnerOptions {
        light_slots: 1,
        ..fast()
    };
    let runner = Arc::new(Runner::new(repo.clone(), vec![script.clone()], opts));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runner.run(async {
        let _ = stopped.await;
    }));
    for _ in 0..200 {
        if script.calls.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        repo.jobs_of_asset(asset).await.expect("jobs")[0].state,
        "running"
    );
    // As if the worker had stopped renewing: its lease (fence 1) lapses, and another worker
    // claims the job (fence 2). The first worker's next heartbeat is refused.
    let first = ClaimedJob {
        id: job_id,
        kind: "probe".into(),
        subject: Some(cityx_core::subject::Subject::asset(asset)),
        station_id: None,
        payload: serde_json::json!({}),
        attempts: 1,
        max_attempts: 5,
        fence: 1,
    };
    let lease = cityx_core::now() + time::Duration::seconds(60);
    let mut stolen = None;
    for _ in 0..100 {
        repo.heartbeat_job(&first, cityx_core::now() - time::Duration::seconds(1), 0)
            .await
            .expect("lapse");
        stolen = repo
            .claim_job(&["probe"], "usurper", lease)
            .await
            .expect("claim");
        if stolen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stolen = stolen.expect("another worker took the job over");
    assert_eq!((stolen.id, stolen.fence), (job_id, 2));
    for _ in 0..200 {
        if script.cancelled.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        script.cancelled.load(Ordering::SeqCst),
        "the old worker's work was cancelled at its next heartbeat"
    );
    assert!(
        !repo
            .finish_job(&first, &cityx_db::JobOutcome::Succeeded)
            .await
            .expect("finish"),
        "and it cannot record an outcome"
    );
    let _ = stop.send(());
    let _ = task.await;
}

#[tokio::test]
async fn through_the_bus_retries_run_until_success_or_death() {
    let Some(bus) = test_bus(Duration::from_secs(5)).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let (asset, _) = asset_with_job(&repo, 5).await;
    let script = Arc::new(Script {
        transient_failures: 2,
        ..Default::default()
    });
    let done = |j: &JobSummary| j.state == "succeeded";
    let j = run_until_with(&repo, script.clone(), fast(), asset, done, Some(&bus)).await;
    assert_eq!((j.attempts, j.progress), (3, 100));
    assert_eq!(
        script.calls.load(Ordering::SeqCst),
        3,
        "one run per attempt: each retry was one new message"
    );

    let (asset, job) = asset_with_job(&repo, 3).await;
    let script = Arc::new(Script {
        transient_failures: u32::MAX,
        ..Default::default()
    });
    let dead = |j: &JobSummary| j.state == "dead";
    let j = run_until_with(&repo, script.clone(), fast(), asset, dead, Some(&bus)).await;
    assert_eq!(j.attempts, 3);
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
    assert_eq!(script.dead_calls.load(Ordering::SeqCst), 1);

    // Re-run at once: its first attempt again, yet a new message (not dropped as a repeat).
    repo.requeue_job(job).await.expect("re-run");
    let again = Arc::new(Script::default());
    let j = run_until_with(&repo, again.clone(), fast(), asset, done, Some(&bus)).await;
    assert_eq!((j.attempts, again.calls.load(Ordering::SeqCst)), (1, 1));
    bus.delete_streams().await.expect("clean up");
}

/// A worker killed in the middle of a job stops acking its message; the stream gives it to
/// another worker once `ack_wait` passes, which claims the job when the lease has run out.
#[tokio::test]
async fn through_the_bus_a_dead_workers_job_goes_to_another() {
    let lease = Duration::from_millis(900);
    let Some(bus) = test_bus(lease).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let (asset, _) = asset_with_job(&repo, 5).await;
    let opts = RunnerOptions { lease, ..fast() };
    let stuck = Arc::new(Script {
        sleep: Duration::from_secs(60),
        ..Default::default()
    });
    let relay = spawn_relay(&repo, &bus);
    let doomed = Arc::new(
        Runner::new(repo.clone(), vec![stuck.clone()], opts.clone()).with_bus(bus.clone()),
    );
    let killed = tokio::spawn(doomed.run(std::future::pending()));
    for _ in 0..500 {
        if stuck.calls.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        stuck.calls.load(Ordering::SeqCst),
        1,
        "the first worker took it"
    );
    // As `kill -9` would: no ack, no heartbeat, nothing recorded.
    killed.abort();
    let _ = killed.await;
    relay.abort();

    let fresh = Arc::new(Script::default());
    let j = run_until_with(
        &repo,
        fresh.clone(),
        opts,
        asset,
        |j| j.state == "succeeded",
        Some(&bus),
    )
    .await;
    assert_eq!(j.attempts, 2, "the second attempt ran it");
    assert_eq!(fresh.calls.load(Ordering::SeqCst), 1);
    bus.delete_streams().await.expect("clean up");
}

/// Events reach their stream once each, in order, with their number as the message id, and
/// a repeated publish is dropped by the stream.
#[tokio::test]
async fn through_the_bus_events_are_published_once_each() {
    use futures_util::StreamExt;
    let Some(bus) = test_bus(Duration::from_secs(5)).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    let mut assets = Vec::new();
    for _ in 0..3 {
        let (asset, _) = asset_with_job(&repo, 5).await;
        let script = Arc::new(Script {
            publish: Some(repo.clone()),
            ..Default::default()
        });
        let done = |j: &JobSummary| j.state == "succeeded";
        run_until_with(&repo, script, fast(), asset, done, Some(&bus)).await;
        assets.push(asset);
    }
    // Everything is sent (the runs above published their events as they went).
    cityx_queue::bus::relay_round(&*repo, &bus)
        .await
        .expect("relay");
    assert_eq!(
        cityx_queue::bus::relay_round(&*repo, &bus)
            .await
            .expect("relay"),
        0,
        "nothing is sent twice"
    );
    let feed = repo
        .feed(cityx_core::TenantScope::All, 0, 10, cityx_core::now())
        .await
        .expect("feed");
    assert_eq!(feed.len(), 3);
    bus.publish_event(&feed[0]).await.expect("a repeat");

    let url = std::env::var("CITYX_TEST_NATS_URL").expect("url");
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    let stream = format!("{}_EVENTS", bus.options().prefix.to_uppercase());
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .expect("events stream")
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .expect("consumer");
    let mut got = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(10)
        .messages()
        .await
        .expect("fetch");
    while let Some(m) = batch.next().await {
        let m = m.expect("message");
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string());
        let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
        got.push((
            m.subject.to_string(),
            id,
            body["seq"].as_i64(),
            body["asset_id"].clone(),
        ));
    }
    let expected: Vec<_> = feed
        .iter()
        .zip(&assets)
        .map(|(e, a)| {
            (
                format!("{}.events.item.published", bus.options().prefix),
                Some(format!("event-{}", e.seq)),
                Some(e.seq),
                serde_json::json!(a.to_string()),
            )
        })
        .collect();
    assert_eq!(got, expected);
    bus.delete_streams().await.expect("clean up");
}

/// Counts how many of its jobs run at once.
#[derive(Default)]
struct Concurrency {
    now: AtomicU32,
    most: AtomicU32,
    done: AtomicU32,
}

struct Counting(&'static str, Arc<Concurrency>);

#[async_trait]
impl Handler for Counting {
    fn kind(&self) -> &'static str {
        self.0
    }

    async fn run(&self, _job: &ClaimedJob, _progress: &Progress) -> Result<(), JobError> {
        let c = &self.1;
        let n = c.now.fetch_add(1, Ordering::SeqCst) + 1;
        c.most.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.now.fetch_sub(1, Ordering::SeqCst);
        c.done.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn kinds_take_the_class_and_slots_operators_give_them() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = repo(&dir).await;
    for kind in ["one_at_a_time", "made_heavy", "free"] {
        for _ in 0..4 {
            let job = NewJob {
                subject: None,
                ..NewJob::about(kind, cityx_core::subject::Subject::new("t", 1), None, 3)
            };
            repo.enqueue_job(&job).await.expect("enqueue");
        }
    }
    let counts: Vec<Arc<Concurrency>> = (0..3).map(|_| Arc::default()).collect();
    let mut opts = fast();
    opts.light_slots = 4;
    opts.heavy_slots = 1;
    opts.kinds.insert(
        "one_at_a_time".into(),
        cityx_queue::KindOptions {
            class: None,
            slots: 1,
        },
    );
    opts.kinds.insert(
        "made_heavy".into(),
        cityx_queue::KindOptions {
            class: Some(cityx_queue::Class::Heavy),
            slots: 0,
        },
    );
    let handlers: Vec<Arc<dyn Handler>> = vec![
        Arc::new(Counting("one_at_a_time", counts[0].clone())),
        Arc::new(Counting("made_heavy", counts[1].clone())),
        Arc::new(Counting("free", counts[2].clone())),
    ];
    let runner = Arc::new(Runner::new(repo.clone(), handlers, opts));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runner.run(async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while counts.iter().any(|c| c.done.load(Ordering::SeqCst) < 4) {
        assert!(
            std::time::Instant::now() < deadline,
            "the jobs never all ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    task.await.expect("runner ends");
    let most: Vec<u32> = counts
        .iter()
        .map(|c| c.most.load(Ordering::SeqCst))
        .collect();
    assert_eq!(most[0], 1, "a kind with one slot runs one at a time");
    assert_eq!(most[1], 1, "a kind made heavy shares the one heavy slot");
    assert!(
        most[2] >= 2,
        "a light kind without slots of its own runs several: {most:?}"
    );
}

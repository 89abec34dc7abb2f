//! Event subscribers: a subscriber added in a test receives every event once, in order,
//! across a restart of its feeder, and a failing subscriber gets the same batch again.

use async_trait::async_trait;
use cityx_core::Event;
use cityx_db::Repo;
use cityx_queue::subscribe::{Feeder, FeederOptions, Subscriber};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records the events it takes; refuses the first `refuse` batches.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<i64>>,
    refuse: AtomicU32,
}

#[async_trait]
impl Subscriber for Recorder {
    fn name(&self) -> &'static str {
        "test-recorder"
    }
    fn replays_history(&self) -> bool {
        true
    }
    async fn handle(&self, events: &[Event]) -> Result<(), String> {
        if self.refuse.load(Ordering::SeqCst) > 0 {
            self.refuse.fetch_sub(1, Ordering::SeqCst);
            return Err("not now".into());
        }
        self.seen
            .lock()
            .expect("lock")
            .extend(events.iter().map(|e| e.seq));
        Ok(())
    }
}

/// Publishes `n` new items, each recording an `item_published` event.
async fn publish(repo: &Arc<dyn Repo>, n: usize) {
    for _ in 0..n {
        crate::asset_with_job(repo, 1).await;
        let lease = cityx_core::now() + time::Duration::minutes(1);
        let job = repo
            .claim_job(&["probe"], "t", lease)
            .await
            .expect("claim")
            .expect("job");
        let done = cityx_db::Processed {
            playback: "hls/master.m3u8".into(),
            derived_json: "{}".into(),
            qc_json: "{}".into(),
            qc_verdict: "pass".into(),
            rejection: None,
        };
        assert!(repo.finish_processing(&job, &done).await.expect("publish"));
    }
}

fn start(
    repo: &Arc<dyn Repo>,
    s: Arc<Recorder>,
    owner: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let opts = FeederOptions {
        owner: owner.into(),
        poll: Duration::from_millis(20),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..Default::default()
    };
    let feeder = Arc::new(Feeder::new(repo.clone(), vec![s], opts));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    (
        stop,
        tokio::spawn(feeder.run(async {
            let _ = stopped.await;
        })),
    )
}

async fn until_seen(s: &Recorder, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.seen.lock().expect("lock").len() < n {
        assert!(
            Instant::now() < deadline,
            "saw {:?}, want {n}",
            s.seen.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_subscriber_gets_every_event_once_in_order_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = crate::repo(&dir).await;
    // Events from before the subscriber existed: it starts with the first event ever.
    publish(&repo, 3).await;
    let rec = Arc::new(Recorder::default());
    rec.refuse.store(2, Ordering::SeqCst);
    let (stop, task) = start(&repo, rec.clone(), "n1");
    until_seen(&rec, 3).await;
    publish(&repo, 4).await;
    until_seen(&rec, 7).await;
    let _ = stop.send(());
    task.await.expect("feeder ends");

    // Events while no feeder runs, then another node's feeder takes over at once.
    publish(&repo, 5).await;
    let (stop, task) = start(&repo, rec.clone(), "n2");
    until_seen(&rec, 12).await;
    // Nothing more comes: each event once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    task.await.expect("feeder ends");
    let seen = rec.seen.lock().expect("lock").clone();
    let head = repo.events_after(0, 100).await.expect("events");
    let all: Vec<i64> = head.iter().map(|e| e.seq).collect();
    assert_eq!(seen, all, "every event once, in order");
    assert_eq!(all.len(), 12);
    assert_eq!(
        rec.refuse.load(Ordering::SeqCst),
        0,
        "refused batches came again"
    );
    // Beside the webhooks' subscriber, which the migrations register.
    let rows = repo.list_subscribers().await.expect("list");
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["test-recorder", "webhook_deliveries"]);
    assert_eq!((rows[0].seq, rows[0].behind), (all[11], 0));
}

#[tokio::test]
async fn one_node_at_a_time_feeds_a_subscriber() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = crate::repo(&dir).await;
    let rec = Arc::new(Recorder::default());
    let (s1, t1) = start(&repo, rec.clone(), "n1");
    let (s2, t2) = start(&repo, rec.clone(), "n2");
    publish(&repo, 10).await;
    until_seen(&rec, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = rec.seen.lock().expect("lock").clone();
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, none twice, with two feeders");
    assert_eq!(seen.len(), 10);
    for (s, t) in [(s1, t1), (s2, t2)] {
        let _ = s.send(());
        t.await.expect("feeder ends");
    }
}

//! The scheduler: each due time runs once with two nodes, registration survives restarts,
//! and missed due times follow the task's misfire policy.

use cityx_core::schedule::{Every, Misfire};
use cityx_db::Repo;
use cityx_queue::schedule::{Scheduler, Task};
use std::sync::Arc;
use time::Duration;

fn task(misfire: Misfire) -> Task {
    Task {
        name: "tidy",
        every: "every 60s".parse::<Every>().expect("every"),
        misfire,
        job: "tidy",
        max_attempts: 3,
        at_start: false,
    }
}

fn node(repo: &Arc<dyn Repo>, misfire: Misfire) -> Scheduler {
    Scheduler::new(repo.clone(), vec![task(misfire)], Default::default())
}

/// Jobs of `kind` claimed one by one until none is left.
async fn drain(repo: &Arc<dyn Repo>, kind: &str) -> usize {
    let mut n = 0;
    let until = cityx_core::now() + Duration::HOUR;
    while let Some(job) = repo.claim_job(&[kind], "w", until).await.expect("claim") {
        repo.finish_job(&job, &cityx_db::JobOutcome::Succeeded)
            .await
            .expect("finish");
        n += 1;
    }
    n
}

#[tokio::test]
async fn two_nodes_run_each_due_time_once() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = crate::repo(&dir).await;
    let (a, b) = (node(&repo, Misfire::RunOnce), node(&repo, Misfire::RunOnce));
    // The nodes are told the time; it is in the past, so that the runs' jobs are due.
    let t0 = cityx_core::now() - Duration::HOUR;
    a.register(t0).await.expect("register a");
    b.register(t0 + Duration::SECOND).await.expect("register b");
    // Twenty due times, a minute apart; both nodes look at each, at the same moment, twice;
    // a worker runs each run before the next is due.
    let (mut runs, mut ran) = (0, 0);
    for i in 0..20 {
        let now = t0 + Duration::MINUTE * i + Duration::milliseconds(10);
        for _ in 0..2 {
            let (x, y) = tokio::join!(a.tick(now), b.tick(now));
            runs += x.expect("tick a") + y.expect("tick b");
        }
        ran += drain(&repo, "tidy").await;
    }
    assert_eq!(runs, 20, "one run per due time");
    assert_eq!(ran, 20);
    let row = &repo.list_schedules().await.expect("list")[0];
    assert_eq!((row.runs, row.skipped), (20, 0));
    assert_eq!(row.next_due, t0 + Duration::MINUTE * 20);

    // A restart registers again and keeps the cadence: nothing runs twice.
    let c = node(&repo, Misfire::RunOnce);
    c.register(t0 + Duration::MINUTE * 19)
        .await
        .expect("register c");
    assert_eq!(
        c.tick(t0 + Duration::MINUTE * 19 + Duration::SECOND * 30)
            .await
            .expect("tick"),
        0
    );
    assert_eq!(
        repo.list_schedules().await.expect("list")[0].next_due,
        t0 + Duration::MINUTE * 20
    );
}

#[tokio::test]
async fn due_times_missed_while_down_run_once_or_are_skipped() {
    for (misfire, expect_runs) in [(Misfire::RunOnce, 1), (Misfire::Skip, 0)] {
        let dir = tempfile::tempdir().expect("dir");
        let repo = crate::repo(&dir).await;
        let t0 = cityx_core::now() - Duration::hours(2);
        let first = node(&repo, misfire);
        first.register(t0).await.expect("register");
        assert_eq!(first.tick(t0).await.expect("tick"), 1);
        assert_eq!(drain(&repo, "tidy").await, 1);
        // Every node down for 90 minutes (90 due times missed), then one starts.
        let back = t0 + Duration::minutes(90) + Duration::seconds(20);
        let restarted = node(&repo, misfire);
        restarted.register(back).await.expect("register");
        let mut runs = 0;
        for _ in 0..3 {
            runs += restarted.tick(back).await.expect("tick");
        }
        assert_eq!(runs, expect_runs, "{misfire:?}");
        assert_eq!(drain(&repo, "tidy").await, expect_runs, "{misfire:?}");
        let row = &repo.list_schedules().await.expect("list")[0];
        assert_eq!(
            row.next_due,
            t0 + Duration::minutes(91),
            "{misfire:?} keeps the cadence"
        );
        assert_eq!(
            (row.runs, row.skipped),
            (1 + expect_runs as u64, 1 - expect_runs as u64)
        );
        // The next due time runs normally with either policy.
        let on_time = t0 + Duration::minutes(91) + Duration::milliseconds(5);
        assert_eq!(
            restarted.tick(on_time).await.expect("tick"),
            1,
            "{misfire:?}"
        );
    }
}

#[tokio::test]
async fn a_task_due_at_start_runs_once_when_nodes_start() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = crate::repo(&dir).await;
    let t0 = cityx_core::now() - Duration::HOUR;
    let at_start = |repo: &Arc<dyn Repo>| {
        let t = Task {
            at_start: true,
            ..task(Misfire::RunOnce)
        };
        Scheduler::new(repo.clone(), vec![t], Default::default())
    };
    let first = at_start(&repo);
    first.register(t0).await.expect("register");
    assert_eq!(first.tick(t0).await.expect("tick"), 1);
    assert_eq!(drain(&repo, "tidy").await, 1);
    // Two nodes start 20 s later: the task is due again at once, and runs once.
    let (a, b) = (at_start(&repo), at_start(&repo));
    let start = t0 + Duration::seconds(20);
    a.register(start).await.expect("register a");
    b.register(start + Duration::milliseconds(5))
        .await
        .expect("register b");
    let now = start + Duration::milliseconds(10);
    let (x, y) = tokio::join!(a.tick(now), b.tick(now));
    assert_eq!(x.expect("a") + y.expect("b"), 1);
    assert_eq!(drain(&repo, "tidy").await, 1);
    let row = &repo.list_schedules().await.expect("list")[0];
    assert_eq!(row.next_due, start + Duration::MINUTE);
}

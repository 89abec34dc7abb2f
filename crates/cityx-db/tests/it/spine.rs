//! Conformance cases of the spine's tables: supervised processes and periodic tasks.

use cityx_core::TenantScope;
use cityx_core::process::{Desired, ProcessState, Subject};
use cityx_db::{NewJob, NewProcess, ProcessReport, Repo, ScheduleDef};
use std::sync::Arc;
use std::time::Duration;

fn process(kind: &str, subject: &str, station: Option<cityx_core::StationId>) -> NewProcess {
    NewProcess {
        id: cityx_core::ProcessId::new(),
        kind: kind.into(),
        subject: Subject {
            kind: "channel".into(),
            id: subject.into(),
        },
        station_id: station,
        spec: serde_json::json!({ "url": "srt://example" }),
    }
}

fn later(secs: i64) -> time::OffsetDateTime {
    cityx_core::now() + time::Duration::seconds(secs)
}

pub async fn processes_are_held_by_one_node_at_a_time(repo: Arc<dyn Repo>) {
    let st = crate::suite::add_station(&repo, "p1").await;
    let other = crate::suite::add_station(&repo, "p2").await;
    let p = process("relay", "c1", Some(st.id));
    repo.insert_process(&p).await.expect("insert");
    let again = repo
        .insert_process(&process("relay", "c1", None))
        .await
        .expect_err("one process per kind and subject");
    assert!(again.is_conflict(), "{again:?}");

    // Two nodes race for it: one wins, and an unknown kind takes nothing.
    assert!(
        repo.claim_process(&["ingest"], "a", later(6))
            .await
            .expect("claim")
            .is_none()
    );
    let (a, b) = tokio::join!(
        repo.claim_process(&["relay"], "a", later(6)),
        repo.claim_process(&["relay"], "b", later(6)),
    );
    let (a, b) = (a.expect("claim a"), b.expect("claim b"));
    assert!(
        a.is_some() != b.is_some(),
        "exactly one node holds it: {a:?} {b:?}"
    );
    let held = a.or(b).expect("held");
    assert_eq!((held.id, held.fence, held.restarts), (p.id, 1, 0));
    assert_eq!(held.spec["url"], "srt://example");

    // Renewals carry the report and bring back the desired state.
    let report = ProcessReport {
        state: Some(ProcessState::Running),
        pid: Some(4242),
        restarts: 2,
        last_error: Some("exit 1".into()),
        log: vec!["frame= 10".into(), "帧 20".into()],
        started_at: Some(cityx_core::now()),
    };
    assert_eq!(
        repo.renew_process(&held, later(6), &report)
            .await
            .expect("renew"),
        Some(Desired::Running)
    );
    let seen = repo
        .get_process(TenantScope::Station(st.id), p.id)
        .await
        .expect("get");
    assert_eq!(seen.state, ProcessState::Running);
    assert_eq!((seen.pid, seen.restarts), (Some(4242), 2));
    assert_eq!(seen.log, report.log);
    assert!(seen.node.is_some());
    // Another station sees nothing of it; the hub sees it in the list.
    let hidden = repo
        .get_process(TenantScope::Station(other.id), p.id)
        .await
        .expect_err("scoped");
    assert!(hidden.is_not_found());
    assert!(
        repo.list_processes(TenantScope::Station(other.id), None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        repo.list_processes(TenantScope::All, Some("relay"), 10)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(
        repo.list_processes(TenantScope::All, Some("ingest"), 10)
            .await
            .expect("list")
            .is_empty()
    );

    // While the lease runs nobody else takes it, and a held process cannot be removed.
    assert!(
        repo.claim_process(&["relay"], "b", later(6))
            .await
            .expect("claim")
            .is_none()
    );
    let busy = repo
        .delete_process(TenantScope::All, p.id)
        .await
        .expect_err("held");
    assert!(
        matches!(busy, cityx_db::Error::WrongState { .. }),
        "{busy:?}"
    );

    // Asked to stop: the renewal says so; the release records it, and it stays stopped.
    repo.set_process_desired(
        TenantScope::Station(st.id),
        p.id,
        Desired::Stopped,
        &steer(),
    )
    .await
    .expect("stop");
    assert_eq!(
        repo.renew_process(&held, later(6), &report)
            .await
            .expect("renew"),
        Some(Desired::Stopped)
    );
    assert!(
        repo.release_process(&held, ProcessState::Stopped, &report)
            .await
            .expect("release")
    );
    assert!(
        repo.claim_process(&["relay"], "b", later(6))
            .await
            .expect("claim")
            .is_none()
    );
    let stopped = repo.get_process(TenantScope::All, p.id).await.expect("get");
    assert_eq!(
        (stopped.state, stopped.desired, stopped.node, stopped.pid),
        (ProcessState::Stopped, Desired::Stopped, None, None)
    );

    // Started again: pending, restarts from zero, and the next holder's fence is higher.
    repo.set_process_desired(TenantScope::All, p.id, Desired::Running, &steer())
        .await
        .expect("start");
    let again = repo.get_process(TenantScope::All, p.id).await.expect("get");
    assert_eq!((again.state, again.restarts), (ProcessState::Pending, 0));
    let b = repo
        .claim_process(&["relay"], "b", later(6))
        .await
        .expect("claim")
        .expect("b takes it");
    assert_eq!(b.fence, 2);
    // The old holder is fenced out of every write.
    assert_eq!(
        repo.renew_process(&held, later(6), &report)
            .await
            .expect("renew"),
        None
    );
    assert!(
        !repo
            .release_process(&held, ProcessState::Pending, &report)
            .await
            .expect("release")
    );

    // A node that dies stops renewing: after its lease, another node takes the process.
    let short = repo
        .renew_process(
            &b,
            later(0) + time::Duration::milliseconds(200),
            &ProcessReport::default(),
        )
        .await
        .expect("renew");
    assert_eq!(short, Some(Desired::Running));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let lapsed = repo.get_process(TenantScope::All, p.id).await.expect("get");
    assert_eq!(
        (lapsed.state, lapsed.node),
        (ProcessState::Pending, None),
        "a lapsed lease reads as nobody's"
    );
    let c = repo
        .claim_process(&["relay"], "c", later(6))
        .await
        .expect("claim")
        .expect("c takes it over");
    assert_eq!(c.fence, 3);

    // Finished by itself: released as finished, it is set not to run.
    assert!(
        repo.release_process(&c, ProcessState::Finished, &ProcessReport::default())
            .await
            .expect("release")
    );
    let done = repo.get_process(TenantScope::All, p.id).await.expect("get");
    assert_eq!(
        (done.state, done.desired),
        (ProcessState::Finished, Desired::Stopped)
    );
    repo.delete_process(TenantScope::Station(st.id), p.id)
        .await
        .expect("delete");
    assert!(
        repo.get_process(TenantScope::All, p.id)
            .await
            .expect_err("gone")
            .is_not_found()
    );
}

fn def(name: &str, every: &str, misfire: &str) -> ScheduleDef {
    ScheduleDef {
        name: name.into(),
        every: every.into(),
        misfire: misfire.into(),
        job_kind: "tidy".into(),
    }
}

fn job() -> NewJob {
    NewJob {
        id: cityx_core::JobId::new(),
        kind: "tidy",
        subject: None,
        station_id: None,
        payload: serde_json::json!({}),
        max_attempts: 3,
        run_at: cityx_core::now(),
    }
}

pub async fn periodic_tasks_fire_once_per_due_time(repo: Arc<dyn Repo>) {
    let t0 = cityx_core::now();
    repo.register_schedule(&def("tidy", "every 60s", "run_once"), t0, false)
        .await
        .expect("register");
    assert_eq!(
        repo.due_schedules(t0 - time::Duration::SECOND)
            .await
            .expect("due")
            .len(),
        0
    );
    let due = repo.due_schedules(t0).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].next_due, t0);

    // Two nodes fire the same due time: one enqueues, the other writes nothing.
    let next = t0 + time::Duration::MINUTE;
    let (j1, j2) = (job(), job());
    let (a, b) = tokio::join!(
        repo.fire_schedule("tidy", t0, next, Some(&j1)),
        repo.fire_schedule("tidy", t0, next, Some(&j2)),
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert!(
        matches!((a, b), (Some(true), None) | (None, Some(true))),
        "exactly one node fires it: {a:?} {b:?}"
    );
    let row = &repo.list_schedules().await.expect("list")[0];
    assert_eq!(
        (row.runs, row.skipped, row.next_due, row.last_due),
        (1, 0, next, Some(t0))
    );
    let fired = row.last_job.clone().expect("the run's job");
    assert!(fired == j1.id.to_string() || fired == j2.id.to_string());
    // The run is a job like any other: claimable once.
    let claimed = repo
        .claim_job(&["tidy"], "w", later(60))
        .await
        .expect("claim")
        .expect("the run");
    assert_eq!(claimed.id.to_string(), fired);
    assert!(
        repo.claim_job(&["tidy"], "w", later(60))
            .await
            .expect("claim")
            .is_none()
    );

    // A restart registers it again: the due time is kept. A changed period resets it.
    let again = def("tidy", "every 60s", "run_once");
    let late = t0 + time::Duration::HOUR;
    repo.register_schedule(&again, late, false)
        .await
        .expect("again");
    assert_eq!(repo.list_schedules().await.expect("list")[0].next_due, next);
    // Pulled forward (a task also due when a node starts): the earlier time wins.
    repo.register_schedule(&again, late, true)
        .await
        .expect("later");
    assert_eq!(repo.list_schedules().await.expect("list")[0].next_due, next);
    let sooner = next - time::Duration::seconds(30);
    repo.register_schedule(&again, sooner, true)
        .await
        .expect("sooner");
    assert_eq!(
        repo.list_schedules().await.expect("list")[0].next_due,
        sooner
    );
    let reset = t0 + time::Duration::seconds(5);
    repo.register_schedule(&def("tidy", "every 30s", "skip"), reset, false)
        .await
        .expect("changed");
    let row = &repo.list_schedules().await.expect("list")[0];
    assert_eq!(
        (row.every.as_str(), row.misfire.as_str(), row.next_due),
        ("every 30s", "skip", reset)
    );

    // A skip moves the due time on and enqueues nothing.
    assert_eq!(
        repo.fire_schedule("tidy", reset, reset + time::Duration::seconds(30), None)
            .await
            .expect("skip"),
        Some(false)
    );
    let row = &repo.list_schedules().await.expect("list")[0];
    assert_eq!(
        (row.runs, row.skipped, row.last_job.as_deref()),
        (1, 1, Some(fired.as_str()))
    );
    assert!(
        repo.claim_job(&["tidy"], "w", later(60))
            .await
            .expect("claim")
            .is_none()
    );
    // A stale due time changes nothing.
    assert_eq!(
        repo.fire_schedule("tidy", t0, next, Some(&job()))
            .await
            .expect("stale"),
        None
    );
    // While the last run's job is still running, a due run is skipped, not piled up; once
    // it is over, the next runs.
    let due = reset + time::Duration::seconds(30);
    assert_eq!(
        repo.fire_schedule("tidy", due, due + time::Duration::seconds(30), Some(&job()))
            .await
            .expect("busy"),
        Some(false)
    );
    repo.finish_job(&claimed, &cityx_db::JobOutcome::Succeeded)
        .await
        .expect("finish");
    let due = due + time::Duration::seconds(30);
    let next_run = job();
    assert_eq!(
        repo.fire_schedule(
            "tidy",
            due,
            due + time::Duration::seconds(30),
            Some(&next_run)
        )
        .await
        .expect("free"),
        Some(true)
    );
    let row = &repo.list_schedules().await.expect("list")[0];
    assert_eq!((row.runs, row.skipped), (2, 2));
    assert_eq!(row.last_job, Some(next_run.id.to_string()));
}

/// The audit entry of a test's stop or start.
fn steer() -> cityx_core::NewAudit {
    cityx_core::NewAudit::by(
        &cityx_core::Actor::system(),
        cityx_core::AuditAction::ProcessStopped,
        "process",
        "p",
        None,
    )
}

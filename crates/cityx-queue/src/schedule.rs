//! The scheduler: durable periodic tasks, each due time run once across the cluster.
//!
//! A [`Task`] names a job kind and when it falls due (`cityx_core::schedule::Every`: an
//! interval, or a cron expression in Beijing time) with a misfire policy. Every node that
//! runs jobs registers its tasks at start (a known task keeps its next due time, so restarts
//! neither repeat nor lose a run, unless the task asks to be due at every start) and looks every second for tasks due. For each, it decides
//! with the task's policy (run, or skip what is too late) and moves the due time on by
//! compare-and-set, enqueuing the task's job in the same transaction; the node that loses
//! the race writes nothing. The run itself is then an ordinary job: retried with backoff,
//! dead after its attempts, visible among the jobs. A one-off task is simply a job enqueued
//! with a later `run_at`.

use cityx_core::schedule::{Every, Misfire};
use cityx_db::{NewJob, ScheduleDef, ScheduleRepo};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;

/// A periodic task, registered by the code that handles its job kind.
#[derive(Clone, Debug)]
pub struct Task {
    /// Stored data: never renamed.
    pub name: &'static str,
    pub every: Every,
    pub misfire: Misfire,
    /// The kind of job each run enqueues (its handler must be registered too).
    pub job: &'static str,
    pub max_attempts: u32,
    /// Also due whenever a node starts (the clean-up after a crash): the next due time is
    /// pulled forward to the start. Nodes that start together (before either has run it)
    /// run it once; nodes that start apart each bring it forward again.
    pub at_start: bool,
}

impl Task {
    fn def(&self) -> ScheduleDef {
        ScheduleDef {
            name: self.name.into(),
            every: self.every.to_string(),
            misfire: self.misfire.as_str().into(),
            job_kind: self.job.into(),
        }
    }

    /// When a task seen for the first time (or one due at start) is first due: interval
    /// tasks and tasks due at start at once, cron tasks at their next minute.
    fn first_due(&self, now: OffsetDateTime) -> OffsetDateTime {
        match &self.every {
            Every::Interval(_) => now,
            _ if self.at_start => now,
            cron => cron.next_after(now).unwrap_or(now),
        }
    }
}

pub struct Scheduler {
    repo: Arc<dyn ScheduleRepo>,
    tasks: Vec<Task>,
    poll: Duration,
    /// Signalled when a run was enqueued, so that the job runner looks at once.
    wake: Arc<Notify>,
}

impl Scheduler {
    pub fn new(repo: Arc<dyn ScheduleRepo>, tasks: Vec<Task>, wake: Arc<Notify>) -> Self {
        Scheduler {
            repo,
            tasks,
            poll: Duration::from_secs(1),
            wake,
        }
    }

    /// Looks for due tasks this often (default 1 s).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Records this node's tasks (keeping the due times of known ones).
    pub async fn register(&self, now: OffsetDateTime) -> cityx_db::Result<()> {
        for t in &self.tasks {
            self.repo
                .register_schedule(&t.def(), t.first_due(now), t.at_start)
                .await?;
        }
        Ok(())
    }

    /// Runs (or skips) every task due at `now` that this node knows, as registered; returns
    /// how many runs it enqueued. Due times another node took first are left to it.
    pub async fn tick(&self, now: OffsetDateTime) -> cityx_db::Result<usize> {
        let mut enqueued = 0;
        for row in self.repo.due_schedules(now).await? {
            // Only tasks this node registered in this form: a node of another version
            // leaves the others' alone.
            let Some(task) = self
                .tasks
                .iter()
                .find(|t| t.name == row.name && t.def().every == row.every)
            else {
                continue;
            };
            let decision = task.every.decide(row.next_due, now, task.misfire);
            let job = decision.run.then(|| NewJob {
                id: cityx_core::JobId::new(),
                kind: task.job,
                subject: None,
                station_id: None,
                payload: serde_json::json!({ "due": row.next_due.unix_timestamp() }),
                max_attempts: task.max_attempts,
                run_at: now,
            });
            let fired = self
                .repo
                .fire_schedule(&row.name, row.next_due, decision.next, job.as_ref())
                .await?;
            match (fired, &job) {
                (Some(true), Some(job)) => {
                    enqueued += 1;
                    tracing::debug!(task = task.name, job = %job.id, "periodic task due");
                }
                (Some(_), _) => tracing::info!(
                    task = task.name,
                    due = %row.next_due,
                    "periodic task skipped: it fell due while no node ran, or its last run is not over"
                ),
                // Another node took this due time.
                (None, _) => {}
            }
        }
        if enqueued > 0 {
            self.wake.notify_one();
        }
        Ok(enqueued)
    }

    /// Registers the tasks, then runs due ones until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut registered = false;
        let mut failing = false;
        loop {
            let now = cityx_core::now();
            let result = match registered {
                true => self.tick(now).await.map(drop),
                false => self.register(now).await.map(|()| registered = true),
            };
            match result {
                Ok(()) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot run periodic tasks");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.poll) => {},
            }
        }
    }
}

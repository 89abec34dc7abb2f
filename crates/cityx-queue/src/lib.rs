//! The spine: everything cityx runs besides answering requests. The job runner (this
//! module) claims jobs from the database, runs their handlers under a lease kept alive by
//! heartbeats, and records the outcome with retries (exponential backoff with jitter), a
//! dead state after the last attempt, and a hook to tell the subject why. [`supervise`] runs
//! long-running processes under leases with a liveness watchdog; [`schedule`] fires periodic
//! tasks once per due time across the cluster; [`subscribe`] feeds the event log to
//! registered consumers with durable cursors. A subsystem lists what it brings in a
//! [`Registry`].
//!
//! Depends on `cityx-db` (the jobs, processes, schedules and subscribers tables) and
//! `cityx-core`; knows nothing of what jobs, processes or subscribers do: handlers live in
//! the subsystems (`cityx-jobs` for the exchange). CPU-heavy classes get as many slots as
//! there are cores, light ones a few more; within the slots, the claim query prefers
//! stations with the fewest running jobs, so one station's bulk upload cannot starve the
//! others.
//!
//! Jobs reach the runner one of two ways: by claiming from the jobs table (polled, and woken
//! by the database's notifications), or, with a [`bus::Bus`], as messages of NATS JetStream
//! that name the job to claim (see [`bus`]). Either way the claim in the database decides.

pub mod bus;
pub mod schedule;
pub mod subscribe;
pub mod supervise;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use async_trait::async_trait;
use cityx_db::{ClaimedJob, JobClaim, JobOutcome, QueueRepo};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify, Semaphore, watch};
use tokio::task::JoinSet;

/// The longest wait for the bus to answer a fetch.
const FETCH_WAIT: Duration = Duration::from_secs(5);

/// The longest wait between claims while they fail.
const FAILING_POLL: Duration = Duration::from_secs(5);

/// How much of the machine a job needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Probing, small writes: many at once.
    Light,
    /// Decoding and encoding: one per core.
    Heavy,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Might work later (a stuck tool, a busy disk): retried with backoff.
    Transient(String),
    /// Will never work (an unreadable file): no retry.
    Permanent(String),
}

/// Where a running job reports its percent done; heartbeats carry it to the database.
#[derive(Clone)]
pub struct Progress(watch::Sender<u32>);

impl Progress {
    pub fn set(&self, percent: u32) {
        let _ = self.0.send(percent.min(100));
    }
}

#[async_trait]
pub trait Handler: Send + Sync {
    /// The job kind, as stored (never rename one).
    fn kind(&self) -> &'static str;
    fn class(&self) -> Class {
        Class::Light
    }
    async fn run(&self, job: &ClaimedJob, progress: &Progress) -> Result<(), JobError>;
    /// Called once when the job goes dead, with the last error: tell the item why.
    async fn on_dead(&self, _job: &ClaimedJob, _error: &str) {}
}

/// An operator's say over one job kind (`[jobs.kinds.<kind>]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindOptions {
    /// Its class instead of the one its handler says (`heavy` or `light`).
    pub class: Option<Class>,
    /// The most jobs of this kind at once in this process (0: only its class limits it).
    pub slots: usize,
}

#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// This worker's name in leases.
    pub owner: String,
    pub lease: Duration,
    /// How often to look for work when idle.
    pub poll: Duration,
    pub heavy_slots: usize,
    pub light_slots: usize,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Per job kind: class and slots.
    pub kinds: HashMap<String, KindOptions>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        RunnerOptions {
            owner: node_name(),
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(250),
            heavy_slots: cores,
            light_slots: cores * 2,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            kinds: HashMap::new(),
        }
    }
}

/// This process's name in leases and in what operators see: the host name, the process id
/// and a random tag (`edge-3-4711-9f2c1a`), so that no two nodes share one, not even
/// containers with one host name that all run as process 1.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let host = if host.is_empty() { "node" } else { host };
    let tag = cityx_core::ProcessId::new().0.simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &tag[tag.len() - 6..])
}

/// What a subsystem registers with the spine, in one place each: its job kinds (handlers),
/// its supervised process kinds, its periodic tasks and its event subscribers. The binary builds one registry from
/// every subsystem's `register` function and hands it to the runner, the supervisor and the
/// scheduler.
#[derive(Default)]
pub struct Registry {
    pub handlers: Vec<Arc<dyn Handler>>,
    pub services: Vec<Arc<dyn supervise::Service>>,
    pub tasks: Vec<schedule::Task>,
    pub subscribers: Vec<Arc<dyn subscribe::Subscriber>>,
}

impl Registry {
    /// Registers a job kind by its handler.
    pub fn job(&mut self, handler: Arc<dyn Handler>) -> &mut Self {
        self.handlers.push(handler);
        self
    }

    /// Registers a kind of supervised process.
    pub fn process(&mut self, service: Arc<dyn supervise::Service>) -> &mut Self {
        self.services.push(service);
        self
    }

    /// Registers a periodic task (its job kind must be registered too).
    pub fn schedule(&mut self, task: schedule::Task) -> &mut Self {
        self.tasks.push(task);
        self
    }

    /// Registers a consumer of the event log.
    pub fn subscribe(&mut self, subscriber: Arc<dyn subscribe::Subscriber>) -> &mut Self {
        self.subscribers.push(subscriber);
        self
    }

    /// What a node that runs only the job kinds `only` (all when empty) takes on: those
    /// handlers, and the periodic tasks whose jobs they run (a node that cannot run a task's
    /// job does not fire it, so a worker of transcodes alone does not queue clean-ups).
    pub fn only(mut self, only: &[String]) -> Registry {
        if only.is_empty() {
            return self;
        }
        self.handlers.retain(|h| only.iter().any(|k| k == h.kind()));
        let kinds: Vec<&str> = self.handlers.iter().map(|h| h.kind()).collect();
        self.tasks.retain(|t| kinds.contains(&t.job));
        self
    }

    /// Kinds registered twice, or tasks whose job kind has no handler: wiring mistakes, found
    /// at start-up rather than when the first job of the kind waits forever.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for kind in self.handlers.iter().map(|h| h.kind()) {
            if !seen.insert(kind) {
                return Err(format!("job kind {kind:?} is registered twice"));
            }
        }
        let mut processes = std::collections::HashSet::new();
        for kind in self.services.iter().map(|s| s.kind()) {
            if !processes.insert(kind) {
                return Err(format!("process kind {kind:?} is registered twice"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for name in self.subscribers.iter().map(|s| s.name()) {
            if !names.insert(name) {
                return Err(format!("event subscriber {name:?} is registered twice"));
            }
        }
        for t in &self.tasks {
            if t.every.next_after(cityx_core::now()).is_none() {
                return Err(format!(
                    "periodic task {:?} never falls due ({})",
                    t.name, t.every
                ));
            }
            if !seen.contains(t.job) {
                return Err(format!(
                    "periodic task {:?} runs job kind {:?}, which has no handler",
                    t.name, t.job
                ));
            }
        }
        Ok(())
    }
}

/// Delay before attempt `attempts + 1`: base × 2^(attempts−1), capped, plus up to 25 %
/// jitter so that retries of many jobs spread out.
pub fn backoff(opts: &RunnerOptions, attempts: u32, jitter_seed: u32) -> Duration {
    backoff_delay(opts.backoff_base, opts.backoff_max, attempts, jitter_seed)
}

/// `base` × 2^(attempts−1), at most `max`, plus up to 25 % jitter (from `jitter_seed`): the
/// wait before a job's next attempt or a process's next start.
pub fn backoff_delay(base: Duration, max: Duration, attempts: u32, jitter_seed: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let jitter = capped.mul_f64(f64::from(jitter_seed % 1000) / 4000.0);
    capped + jitter
}

fn since_now(d: Duration) -> time::OffsetDateTime {
    cityx_core::now() + time::Duration::try_from(d).unwrap_or(time::Duration::MINUTE)
}

pub struct Runner {
    repo: Arc<dyn QueueRepo>,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    slots: HashMap<Class, Arc<Semaphore>>,
    /// Kinds with slots of their own, besides their class's.
    kind_slots: HashMap<&'static str, Arc<Semaphore>>,
    opts: RunnerOptions,
    /// Signalled when work is enqueued in this process: look at once, not at the next poll.
    wake: Arc<Notify>,
    /// Where jobs come from when not claimed straight from the table.
    bus: Option<BusSource>,
}

/// The bus as the runner uses it: its consumers by kind, and whose turn it is.
struct BusSource {
    bus: bus::Bus,
    consumers: Mutex<HashMap<&'static str, PullConsumer>>,
    turn: AtomicUsize,
}

impl Runner {
    pub fn new(
        repo: Arc<dyn QueueRepo>,
        handlers: Vec<Arc<dyn Handler>>,
        opts: RunnerOptions,
    ) -> Self {
        let slots = HashMap::from([
            (
                Class::Heavy,
                Arc::new(Semaphore::new(opts.heavy_slots.max(1))),
            ),
            (
                Class::Light,
                Arc::new(Semaphore::new(opts.light_slots.max(1))),
            ),
        ]);
        let kind_slots = handlers
            .iter()
            .filter_map(|h| {
                let n = opts.kinds.get(h.kind()).map_or(0, |k| k.slots);
                (n > 0).then(|| (h.kind(), Arc::new(Semaphore::new(n))))
            })
            .collect();
        Runner {
            repo,
            handlers: handlers.into_iter().map(|h| (h.kind(), h)).collect(),
            slots,
            kind_slots,
            opts,
            wake: Arc::new(Notify::new()),
            bus: None,
        }
    }

    /// Takes jobs as the bus's messages instead of claiming from the table.
    pub fn with_bus(mut self, bus: bus::Bus) -> Self {
        self.bus = Some(BusSource {
            bus,
            consumers: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
        });
        self
    }

    /// Looks for work whenever `wake` is signalled, besides polling.
    pub fn woken_by(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// A kind's class: the operator's choice, else its handler's.
    fn class_of(&self, h: &dyn Handler) -> Class {
        self.opts
            .kinds
            .get(h.kind())
            .and_then(|k| k.class)
            .unwrap_or_else(|| h.class())
    }

    /// The kinds of `class` that have a free slot of their own (or need none).
    fn kinds(&self, class: Class) -> Vec<&'static str> {
        self.handlers
            .values()
            .filter(|h| self.class_of(&***h) == class)
            .map(|h| h.kind())
            .filter(|k| {
                self.kind_slots
                    .get(k)
                    .is_none_or(|s| s.available_permits() > 0)
            })
            .collect()
    }

    /// Claims as many jobs as there are free slots and starts them; returns how many, or
    /// why claiming failed (the database or the bus is down).
    async fn fill(self: &Arc<Self>, running: &mut JoinSet<()>) -> anyhow::Result<usize> {
        let mut started = 0;
        for class in [Class::Heavy, Class::Light] {
            let sem = self.slots[&class].clone();
            while let Ok(permit) = sem.clone().try_acquire_owned() {
                // Looked at again for every claim: a kind whose own slots are full sits out.
                let kinds = self.kinds(class);
                if kinds.is_empty() {
                    break;
                }
                let claimed = match &self.bus {
                    Some(bus) => self.claim_from_bus(bus, &kinds).await,
                    None => self
                        .repo
                        .claim_job(&kinds, &self.opts.owner, since_now(self.opts.lease))
                        .await
                        .map(|job| job.map(|job| (job, None)))
                        .map_err(anyhow::Error::from),
                };
                let (job, message) = match claimed? {
                    Some(claimed) => claimed,
                    None => break,
                };
                // Only this loop takes kind permits, and the kind had a free one.
                let kind_permit = self
                    .kind_slots
                    .get(job.kind.as_str())
                    .and_then(|s| s.clone().try_acquire_owned().ok());
                let me = self.clone();
                running.spawn(async move {
                    me.execute(job, message).await;
                    drop((permit, kind_permit));
                });
                started += 1;
            }
        }
        Ok(started)
    }

    /// Takes messages of these kinds, in turn, until one names a job this worker can claim.
    /// A message whose job another worker holds, or that is not due, comes back when it may
    /// be; one whose job is over is acknowledged and so dropped.
    async fn claim_from_bus(
        &self,
        bus: &BusSource,
        kinds: &[&'static str],
    ) -> anyhow::Result<Option<(ClaimedJob, Option<jetstream::Message>)>> {
        let start = bus.turn.fetch_add(1, Ordering::Relaxed);
        for i in 0..kinds.len() {
            let kind = kinds[(start + i) % kinds.len()];
            let consumer = {
                let mut consumers = bus.consumers.lock().await;
                match consumers.get(kind) {
                    Some(c) => c.clone(),
                    None => {
                        let c = bus.bus.job_consumer(kind).await?;
                        consumers.insert(kind, c.clone());
                        c
                    }
                }
            };
            loop {
                // A fetch in flight when the server dies may never be answered: give up on it
                // after a while, and take a fresh consumer next time.
                let taken = match tokio::time::timeout(FETCH_WAIT, bus.bus.take(&consumer)).await {
                    Ok(Ok(taken)) => taken,
                    Ok(Err(e)) => {
                        bus.consumers.lock().await.remove(kind);
                        return Err(e.into());
                    }
                    Err(_) => {
                        bus.consumers.lock().await.remove(kind);
                        anyhow::bail!("no answer to a fetch of {kind} jobs in {FETCH_WAIT:?}");
                    }
                };
                let Some(message) = taken else { break };
                let answer = match std::str::from_utf8(&message.payload)
                    .ok()
                    .and_then(|s| s.parse().ok())
                {
                    Some(id) => {
                        let until = since_now(self.opts.lease);
                        match self.repo.claim_job_by_id(id, &self.opts.owner, until).await {
                            Ok(JobClaim::Claimed(job)) => return Ok(Some((job, Some(message)))),
                            Ok(JobClaim::Running { until: at }) | Ok(JobClaim::NotDue { at }) => {
                                AckKind::Nak(Some(until_then(at)))
                            }
                            Ok(JobClaim::Finished) => AckKind::Ack,
                            Err(e) => {
                                let _ = message
                                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                                    .await;
                                return Err(e.into());
                            }
                        }
                    }
                    None => {
                        tracing::warn!(subject = %message.subject, "a job message without a job id; dropped");
                        AckKind::Term
                    }
                };
                if let Err(e) = message.ack_with(answer).await {
                    tracing::warn!(error = %e, "cannot answer a job message");
                }
            }
        }
        Ok(None)
    }

    /// Runs until `shutdown` resolves; running jobs are then cancelled (their leases lapse
    /// and another worker takes them over).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut running = JoinSet::new();
        tokio::pin!(shutdown);
        // Claims failed in a row: while a dependency is down, wait longer (up to 5 s) and
        // say so about once a minute, not at every poll.
        let mut failures = 0u32;
        loop {
            match self.fill(&mut running).await {
                Ok(_) if failures > 0 => {
                    tracing::info!(failures, "claiming jobs again");
                    failures = 0;
                }
                Ok(_) => {}
                Err(e) => {
                    if failures == 0 || failures.is_multiple_of(12) {
                        tracing::warn!(error = %e, failures, "cannot claim jobs");
                    }
                    failures += 1;
                }
            }
            let wait = if failures == 0 {
                self.opts.poll
            } else {
                (self.opts.poll * 2u32.saturating_pow(failures.min(8))).min(FAILING_POLL)
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {},
                _ = self.wake.notified() => {},
                Some(_) = running.join_next(), if !running.is_empty() => {},
            }
        }
        running.shutdown().await;
    }

    async fn execute(&self, job: ClaimedJob, message: Option<jetstream::Message>) {
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            return;
        };
        let started = std::time::Instant::now();
        let (tx, mut rx) = watch::channel(0u32);
        let progress = Progress(tx);
        let beat = self.opts.lease / 3;
        let work = handler.run(&job, &progress);
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                r = &mut work => break Some(r),
                _ = tokio::time::sleep(beat) => {
                    let percent = *rx.borrow_and_update();
                    match self.repo.heartbeat_job(&job, since_now(self.opts.lease), percent).await {
                        Ok(true) => {
                            if let Some(m) = &message
                                && let Err(e) = m.ack_with(AckKind::Progress).await
                            {
                                tracing::warn!(job = %job.id, error = %e, "cannot extend a job message");
                            }
                        }
                        Ok(false) => {
                            tracing::warn!(job = %job.id, kind = %job.kind, "lease lost; stopping");
                            break None;
                        }
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "heartbeat failed"),
                    }
                }
            }
        };
        let Some(result) = result else { return };
        let outcome = match result {
            Ok(()) => JobOutcome::Succeeded,
            Err(JobError::Transient(e)) if job.attempts < job.max_attempts => {
                let seed = started.elapsed().subsec_nanos();
                JobOutcome::Retry {
                    error: e,
                    run_at: since_now(backoff(&self.opts, job.attempts, seed)),
                }
            }
            Err(JobError::Transient(e)) | Err(JobError::Permanent(e)) => {
                JobOutcome::Dead { error: e }
            }
        };
        let label = match &outcome {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Retry { .. } => "retry",
            JobOutcome::Dead { .. } => "dead",
        };
        metrics::counter!("jobs_finished_total", "kind" => job.kind.clone(), "outcome" => label)
            .increment(1);
        metrics::histogram!("job_duration_seconds", "kind" => job.kind.clone())
            .record(started.elapsed().as_secs_f64());
        // Tell the item before the job reads as dead, so that nobody sees a dead job on an
        // item that still says it is processing. (If the lease was lost meanwhile, the next
        // worker reaches the same verdict on the same file.)
        if let JobOutcome::Dead { error } = &outcome {
            tracing::warn!(job = %job.id, kind = %job.kind, %error, "job is dead");
            handler.on_dead(&job, error).await;
        }
        match self.repo.finish_job(&job, &outcome).await {
            Ok(true) => {
                // Recorded: the message has done its work (a retry gets a new one when due).
                if let Some(m) = &message
                    && let Err(e) = m.ack().await
                {
                    tracing::warn!(job = %job.id, error = %e, "cannot acknowledge a job message");
                }
            }
            Ok(false) => {
                tracing::warn!(job = %job.id, "lease lost before the outcome was recorded")
            }
            Err(e) => tracing::error!(job = %job.id, error = %e, "cannot record a job's outcome"),
        }
    }
}

/// From now until `at`, and a little more (at least a second).
fn until_then(at: time::OffsetDateTime) -> Duration {
    let left = Duration::try_from(at - cityx_core::now()).unwrap_or_default();
    (left + Duration::from_millis(500)).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl Handler for Named {
        fn kind(&self) -> &'static str {
            self.0
        }
        async fn run(&self, _job: &ClaimedJob, _progress: &Progress) -> Result<(), JobError> {
            Ok(())
        }
    }

    fn task(name: &'static str, job: &'static str, every: &str) -> schedule::Task {
        schedule::Task {
            name,
            every: every.parse().expect("every"),
            misfire: cityx_core::schedule::Misfire::RunOnce,
            job,
            max_attempts: 1,
            at_start: false,
        }
    }

    #[test]
    fn a_node_takes_only_its_kinds_and_their_tasks_and_wiring_mistakes_are_found() {
        let mut reg = Registry::default();
        reg.job(Arc::new(Named("tidy")))
            .job(Arc::new(Named("transcode")))
            .schedule(task("tidy", "tidy", "every 60s"));
        assert_eq!(reg.check(), Ok(()));
        let only = reg.only(&["transcode".into()]);
        assert_eq!(only.handlers.len(), 1);
        assert!(
            only.tasks.is_empty(),
            "a transcode worker fires no clean-up"
        );

        let mut twice = Registry::default();
        twice.job(Arc::new(Named("a"))).job(Arc::new(Named("a")));
        assert!(twice.check().is_err());
        let mut orphan = Registry::default();
        orphan.schedule(task("t", "nobody", "every 60s"));
        assert!(
            orphan
                .check()
                .expect_err("no handler")
                .contains("no handler")
        );
        let mut never = Registry::default();
        never
            .job(Arc::new(Named("t")))
            .schedule(task("t", "t", "cron 0 0 31 2 *"));
        assert!(
            never
                .check()
                .expect_err("never due")
                .contains("never falls due")
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let o = RunnerOptions {
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            ..Default::default()
        };
        assert_eq!(backoff(&o, 1, 0), Duration::from_secs(5));
        assert_eq!(backoff(&o, 2, 0), Duration::from_secs(10));
        assert_eq!(backoff(&o, 10, 0), Duration::from_secs(60));
        let j = backoff(&o, 1, 999);
        assert!(
            j > Duration::from_secs(5) && j <= Duration::from_secs(5) + Duration::from_millis(1250),
            "{j:?}"
        );
    }
}

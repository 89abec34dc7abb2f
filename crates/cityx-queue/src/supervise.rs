//! Supervised long-running processes: what runs for hours (an ingest, a relay, a recording,
//! a restream, a playout channel) is not a job with a wall-clock limit but a durable row
//! (`cityx_db::ProcessRepo`) that every node's [`Supervisor`] reconciles.
//!
//! A node claims a process that should run and that nobody holds, under a lease it renews
//! every third of the lease; it runs the process's [`Service`] (a child process through
//! `cityx-media`'s hardened runner, or an in-process task such as a protocol server) with a
//! liveness watchdog instead of a wall-clock limit: a process that shows no sign of life
//! ([`Control::alive`]) for its service's [`Service::liveness`] is ended. When the service
//! dies it is started again after a backoff (1 s doubling to a minute, reset after a good
//! run), its restarts counted. Each renewal carries the state, restarts, child pid and last
//! log lines to the database and brings back whether the process should still run: a process
//! set to stop is ended within a renewal and stays stopped. On shutdown the node ends its
//! processes and releases them for another node to take at once; when a node dies, its
//! leases run out and another node's next look takes them over (lease + poll: about 7 s with
//! the defaults).
//!
//! A child process must die with its node: spawned in a process group of its own it would
//! survive its node's `kill -9` (ffmpeg shrugs off a broken progress pipe), so services start
//! children with `cityx_media::process::Hooks::die_with_parent`.

use async_trait::async_trait;
use cityx_core::process::{Desired, ProcessState, push_log};
use cityx_db::{ClaimedProcess, ProcessRepo, ProcessReport};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Processes one node takes per look (every `poll`) at most.
const CLAIMS_PER_LOOK: usize = 4;

/// How a service's run ended by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Its work is done (a recording reached its end): not started again.
    Finished,
}

/// A kind of supervised process: how to run one.
#[async_trait]
pub trait Service: Send + Sync {
    /// The kind, as stored (never rename one).
    fn kind(&self) -> &'static str;
    /// Longest time without a sign of life before the watchdog ends a run.
    fn liveness(&self) -> Duration {
        Duration::from_secs(30)
    }
    /// Runs the process until it ends: `Ok(Exit::Finished)` when its work is done, `Err`
    /// with the reason when it died (it is started again). The supervisor drops the future
    /// to end it, so a child process must be killed on drop (`cityx_media::process` is).
    async fn run(&self, process: &ClaimedProcess, ctl: &Control) -> Result<Exit, String>;
}

/// What a running service tells its supervisor. A cheap handle: clone it into the callbacks
/// of a child process (`cityx_media::process::Hooks`).
#[derive(Clone)]
pub struct Control(Arc<Signs>);

struct Signs {
    started: Instant,
    /// Milliseconds since `started` of the last sign of life.
    last_alive: AtomicU64,
    pid: AtomicU32,
    log: Mutex<VecDeque<String>>,
}

impl Control {
    fn new() -> Self {
        Control(Arc::new(Signs {
            started: Instant::now(),
            last_alive: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            log: Mutex::new(VecDeque::new()),
        }))
    }

    /// A sign of life: progress was made (a frame, a packet, a line of progress).
    pub fn alive(&self) {
        let ms = u64::try_from(self.0.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_alive.store(ms, Ordering::Relaxed);
    }

    /// Keeps a line for people to read (the last 20 are shown); also a sign of life.
    pub fn log(&self, line: &str) {
        self.alive();
        if let Ok(mut log) = self.0.log.lock() {
            push_log(&mut log, line);
        }
    }

    /// The child process now running (0: none).
    pub fn set_pid(&self, pid: u32) {
        self.0.pid.store(pid, Ordering::Relaxed);
    }

    fn pid(&self) -> Option<u32> {
        Some(self.0.pid.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }

    fn quiet(&self) -> Duration {
        let since = Duration::from_millis(self.0.last_alive.load(Ordering::Relaxed));
        self.0.started.elapsed().saturating_sub(since)
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    /// This node's name in leases.
    pub owner: String,
    /// How long a claim lasts without renewal: a dead node's processes move after this.
    pub lease: Duration,
    /// How often to look for processes to take.
    pub poll: Duration,
    /// The most processes this node runs at once.
    pub max_processes: usize,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A run that lasted this long resets the backoff.
    pub healthy_after: Duration,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            owner: crate::node_name(),
            lease: Duration::from_secs(6),
            poll: Duration::from_secs(1),
            max_processes: 64,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// Runs the processes this node holds; see the module's documentation.
pub struct Supervisor {
    repo: Arc<dyn ProcessRepo>,
    services: HashMap<&'static str, Arc<dyn Service>>,
    opts: SupervisorOptions,
}

/// What one holding of a process keeps: the shutdown signal, and when the lease was last
/// renewed.
struct Hold {
    stop: watch::Receiver<bool>,
    renewed: Instant,
}

/// Why one holding of a process ended.
enum Ending {
    /// Shut down: hand it to another node.
    Shutdown,
    /// Asked to stop.
    Stopped,
    /// Its work is done.
    Finished,
    /// Another node holds it now (this one was too slow to renew).
    LeaseLost,
}

impl Supervisor {
    pub fn new(
        repo: Arc<dyn ProcessRepo>,
        services: Vec<Arc<dyn Service>>,
        opts: SupervisorOptions,
    ) -> Self {
        Supervisor {
            repo,
            services: services.into_iter().map(|s| (s.kind(), s)).collect(),
            opts,
        }
    }

    fn until(&self) -> time::OffsetDateTime {
        crate::since_now(self.opts.lease)
    }

    /// Runs until `shutdown` resolves; then ends every process this node holds and releases
    /// them.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        if self.services.is_empty() {
            return shutdown.await;
        }
        let kinds: Vec<&'static str> = self.services.keys().copied().collect();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut held = JoinSet::new();
        tokio::pin!(shutdown);
        let mut failing = false;
        let mut claimed = 0;
        loop {
            // A few claims per look, so that nodes starting together share the processes.
            if held.len() < self.opts.max_processes && claimed < CLAIMS_PER_LOOK {
                match self
                    .repo
                    .claim_process(&kinds, &self.opts.owner, self.until())
                    .await
                {
                    Ok(Some(p)) => {
                        failing = false;
                        tracing::info!(process = %p.id, kind = %p.kind, "process taken");
                        let me = self.clone();
                        let stop = stop_rx.clone();
                        held.spawn(async move { me.keep(p, stop).await });
                        claimed += 1;
                        continue;
                    }
                    Ok(None) => failing = false,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "cannot look for processes to run");
                        }
                        failing = true;
                    }
                }
            }
            claimed = 0;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.opts.poll) => {},
                Some(_) = held.join_next(), if !held.is_empty() => {},
            }
        }
        let _ = stop_tx.send(true);
        while held.join_next().await.is_some() {}
    }

    /// Holds one process until it stops, finishes, is handed over or is lost.
    async fn keep(&self, p: ClaimedProcess, stop: watch::Receiver<bool>) {
        let Some(service) = self.services.get(p.kind.as_str()).cloned() else {
            return;
        };
        let mut report = ProcessReport {
            restarts: p.restarts,
            ..Default::default()
        };
        let mut failures = 0u32;
        let mut hold = Hold {
            stop,
            renewed: Instant::now(),
        };
        let ending = loop {
            let ctl = Control::new();
            ctl.alive();
            report.state = Some(ProcessState::Running);
            report.started_at = Some(cityx_core::now());
            report.pid = None;
            let started = Instant::now();
            let (died, ending) = self
                .run_once(&p, &*service, &ctl, &mut report, &mut hold)
                .await;
            report.log = ctl.lines();
            report.pid = None;
            if let Some(ending) = ending {
                break ending;
            }
            // It died: count it, wait, start it again.
            let reason = cityx_core::process::redact_secrets(&died.unwrap_or_default());
            tracing::warn!(process = %p.id, kind = %p.kind, error = %reason, "process died; restarting");
            report.last_error = Some(reason);
            report.restarts += 1;
            failures = if started.elapsed() >= self.opts.healthy_after {
                1
            } else {
                failures + 1
            };
            report.state = Some(ProcessState::Backoff);
            let wait = crate::backoff_delay(
                self.opts.backoff_base,
                self.opts.backoff_max,
                failures,
                started.elapsed().subsec_nanos(),
            );
            if let Some(ending) = self.wait(&p, &mut report, wait, &mut hold).await {
                break ending;
            }
        };
        let state = match ending {
            Ending::LeaseLost => {
                tracing::warn!(process = %p.id, "process lease lost; another node holds it");
                return;
            }
            Ending::Shutdown => ProcessState::Pending,
            Ending::Stopped => ProcessState::Stopped,
            Ending::Finished => ProcessState::Finished,
        };
        match self.repo.release_process(&p, state, &report).await {
            Ok(_) => tracing::info!(process = %p.id, state = state.as_str(), "process released"),
            Err(e) => tracing::warn!(process = %p.id, error = %e, "cannot release a process"),
        }
    }

    /// Renews the lease with `report` (waiting at most a third of the lease); `Some(ending)`
    /// when the process must not go on. `renewed` is when the lease was last renewed: a
    /// node that cannot reach the database keeps its process only while another node
    /// could not yet have taken it, and ends it a third of a lease before that.
    async fn renew(
        &self,
        p: &ClaimedProcess,
        report: &ProcessReport,
        renewed: &mut Instant,
    ) -> Option<Ending> {
        let third = self.opts.lease / 3;
        let answer = tokio::time::timeout(third, self.repo.renew_process(p, self.until(), report));
        let failed = match answer.await {
            Ok(Ok(Some(desired))) => {
                *renewed = Instant::now();
                return (desired == Desired::Stopped).then_some(Ending::Stopped);
            }
            Ok(Ok(None)) => return Some(Ending::LeaseLost),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer in {} ms", third.as_millis()),
        };
        if renewed.elapsed() >= self.opts.lease - third {
            tracing::warn!(process = %p.id, error = %failed, "cannot renew a process's lease; ending it before another node takes it");
            return Some(Ending::LeaseLost);
        }
        // The database may be back before the lease runs out; keep going meanwhile.
        tracing::warn!(process = %p.id, error = %failed, "cannot renew a process's lease");
        None
    }

    /// One run of the service: returns why it died, or how the holding ends.
    async fn run_once(
        &self,
        p: &ClaimedProcess,
        service: &dyn Service,
        ctl: &Control,
        report: &mut ProcessReport,
        hold: &mut Hold,
    ) -> (Option<String>, Option<Ending>) {
        if let Some(ending) = self.renew(p, report, &mut hold.renewed).await {
            return (None, Some(ending));
        }
        let liveness = service.liveness();
        let run = service.run(p, ctl);
        tokio::pin!(run);
        let mut beat = tokio::time::interval(self.opts.lease / 3);
        beat.tick().await;
        let mut dog = tokio::time::interval(Duration::from_millis(200).min(liveness / 4));
        loop {
            tokio::select! {
                exit = &mut run => return match exit {
                    Ok(Exit::Finished) => (None, Some(Ending::Finished)),
                    Err(e) => (Some(e), None),
                },
                _ = hold.stop.changed() => return (None, Some(Ending::Shutdown)),
                _ = dog.tick() => {
                    if ctl.quiet() > liveness {
                        return (Some(format!("no sign of life for {} s; ended by the watchdog", liveness.as_secs())), None);
                    }
                }
                _ = beat.tick() => {
                    report.pid = ctl.pid();
                    report.log = ctl.lines();
                    if let Some(ending) = self.renew(p, report, &mut hold.renewed).await {
                        return (None, Some(ending));
                    }
                }
            }
        }
    }

    /// Waits out a backoff while keeping the lease.
    async fn wait(
        &self,
        p: &ClaimedProcess,
        report: &mut ProcessReport,
        wait: Duration,
        hold: &mut Hold,
    ) -> Option<Ending> {
        let end = tokio::time::Instant::now() + wait;
        loop {
            if let Some(ending) = self.renew(p, report, &mut hold.renewed).await {
                return Some(ending);
            }
            let next = (tokio::time::Instant::now() + self.opts.lease / 3).min(end);
            tokio::select! {
                _ = hold.stop.changed() => return Some(Ending::Shutdown),
                _ = tokio::time::sleep_until(next) => {},
            }
            if tokio::time::Instant::now() >= end {
                return None;
            }
        }
    }
}

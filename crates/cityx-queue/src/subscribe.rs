//! Event subscribers: consumers of the event log (written in the transaction of each change),
//! each with a durable cursor of its own, so that adding one touches no existing SQL.
//!
//! Every node that runs jobs runs a [`Feeder`] with the registered [`Subscriber`]s. For each,
//! it takes the subscriber's lease (one node at a time feeds a subscriber), reads the events
//! after its cursor in order, hands them over in batches, and moves the cursor past a batch
//! once the subscriber has taken it. A subscriber that fails is given the same batch again
//! after a backoff. Delivery is at least once: a node that dies between handling a batch and
//! moving the cursor hands it over again from the next node, so handlers are idempotent (by
//! the event's `seq`); a graceful restart repeats nothing.

use async_trait::async_trait;
use cityx_core::Event;
use cityx_db::{HeldSubscriber, SubscriberRepo};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events handed over at once, at most.
const BATCH: u32 = 100;

/// A consumer of the event log.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// Its name, which keys its cursor. Stored data: never renamed.
    fn name(&self) -> &'static str;
    /// Whether a new subscriber starts with the first event ever (else with the next one).
    fn replays_history(&self) -> bool {
        false
    }
    /// Takes a batch of events, in order; an error hands the same batch over again later.
    async fn handle(&self, events: &[Event]) -> Result<(), String>;
}

#[derive(Clone, Debug)]
pub struct FeederOptions {
    pub owner: String,
    pub lease: Duration,
    /// How often to look for new events when there were none.
    pub poll: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for FeederOptions {
    fn default() -> Self {
        FeederOptions {
            owner: crate::node_name(),
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Feeds the registered subscribers; see the module's documentation.
pub struct Feeder {
    repo: Arc<dyn SubscriberRepo>,
    subscribers: Vec<Arc<dyn Subscriber>>,
    opts: FeederOptions,
}

impl Feeder {
    pub fn new(
        repo: Arc<dyn SubscriberRepo>,
        subscribers: Vec<Arc<dyn Subscriber>>,
        opts: FeederOptions,
    ) -> Self {
        Feeder {
            repo,
            subscribers,
            opts,
        }
    }

    /// Feeds every subscriber until `shutdown` resolves, then lets their leases go.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut tasks = tokio::task::JoinSet::new();
        for s in &self.subscribers {
            let (me, s, mut rx) = (self.clone(), s.clone(), stop.subscribe());
            tasks.spawn(async move {
                me.feed(&*s, async move {
                    let _ = rx.recv().await;
                })
                .await
            });
        }
        shutdown.await;
        let _ = stop.send(());
        while tasks.join_next().await.is_some() {}
    }

    fn until(&self) -> time::OffsetDateTime {
        crate::since_now(self.opts.lease)
    }

    async fn feed(&self, s: &dyn Subscriber, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let name = s.name();
        let mut registered = false;
        let mut held: Option<(HeldSubscriber, Instant)> = None;
        let mut failures = 0u32;
        loop {
            let wait = match self.step(s, &mut registered, &mut held).await {
                // More may wait: look again at once, unless asked to stop.
                Ok(Step::Handled) => {
                    failures = 0;
                    Duration::ZERO
                }
                Ok(Step::Idle) => {
                    failures = 0;
                    self.opts.poll
                }
                // Another node feeds it: its lease cannot pass sooner than this.
                Ok(Step::Elsewhere) => {
                    failures = 0;
                    self.opts.poll.max(self.opts.lease / 3)
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(subscriber = name, error = %e, failures, "event subscriber failed");
                    }
                    crate::backoff_delay(
                        self.opts.backoff_base,
                        self.opts.backoff_max,
                        failures,
                        failures,
                    )
                }
            };
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = tokio::time::sleep(wait) => {},
            }
        }
        if let Some((h, _)) = held
            && let Err(e) = self.repo.release_subscriber(&h).await
        {
            tracing::warn!(subscriber = name, error = %e, "cannot release an event subscriber");
        }
    }

    /// One round: hold the lease (renewed every third of it, not at every look), hand over
    /// the next batch.
    async fn step(
        &self,
        s: &dyn Subscriber,
        registered: &mut bool,
        held: &mut Option<(HeldSubscriber, Instant)>,
    ) -> Result<Step, String> {
        if !*registered {
            self.repo
                .register_subscriber(s.name(), s.replays_history())
                .await
                .map_err(|e| e.to_string())?;
            *registered = true;
        }
        // Take or renew the lease when it is due; the cursor comes with it.
        let fresh = held
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < self.opts.lease / 3);
        if !fresh {
            let mine = held.as_ref().map(|(h, _)| h);
            *held = self
                .repo
                .hold_subscriber(s.name(), &self.opts.owner, mine, self.until())
                .await
                .map_err(|e| e.to_string())?
                .map(|h| (h, Instant::now()));
        }
        let Some((h, _)) = held.as_ref() else {
            return Ok(Step::Elsewhere);
        };
        let events = self
            .repo
            .events_after(h.seq, BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(Step::Idle);
        };
        s.handle(&events).await?;
        if !self
            .repo
            .advance_subscriber(h, last, self.until())
            .await
            .map_err(|e| e.to_string())?
        {
            *held = None;
            return Err("lost the subscriber's lease before moving its cursor".into());
        }
        // Moving the cursor extended the lease too.
        if let Some((h, at)) = held.as_mut() {
            h.seq = last;
            *at = Instant::now();
        }
        Ok(Step::Handled)
    }
}

/// How a round of feeding a subscriber went.
enum Step {
    /// A batch was handed over: more may wait.
    Handled,
    /// Nothing new.
    Idle,
    /// Another node feeds this subscriber.
    Elsewhere,
}

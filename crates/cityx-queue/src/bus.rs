//! NATS JetStream as the transport of jobs and events, when `queue.url` names a server.
//!
//! The database stays the source of truth. The [`relay`] reads its outbox (jobs whose
//! attempt has no message yet; events past the relay's mark) and publishes each with the
//! job's or event's id as the message id, so the stream drops a repeat from a relay that died
//! between publishing and recording. Jobs go to a work-queue stream, one durable pull
//! consumer per kind, explicit acks: a worker takes a message, claims the job it names in
//! the database, sends an in-progress ack with every heartbeat and acks when the outcome is
//! recorded. A worker that dies stops acking; after `ack_wait` (the lease) the stream gives
//! the message to another worker, whose claim succeeds once the lease in the database has
//! run out. Should a message be lost anyway, the relay sends the job again after
//! [`resend_after`]. Events go to a stream of their own, kept 30 days, for whatever reads it.
//!
//! Names: streams `<PREFIX>_JOBS` and `<PREFIX>_EVENTS`, subjects `<prefix>.jobs.<kind>` and
//! `<prefix>.events.<kind>`, consumers `jobs-<kind>`; one prefix per installation.

use async_nats::jetstream::{self, consumer::PullConsumer, stream};
use cityx_core::TenantScope;
use cityx_db::{JobMessage, Repo};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long the stream remembers message ids to drop repeats.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long events stay in their stream.
const EVENTS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// The relay's mark among the outbox cursors.
const EVENTS_CURSOR: &str = "nats-events";

#[derive(Debug, thiserror::Error)]
#[error("NATS: {0}")]
pub struct BusError(String);

fn bus_error(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError(format!("{what}: {e}"))
}

/// Where the bus is and how it is named.
#[derive(Clone, Debug)]
pub struct BusOptions {
    /// `nats://host:port` (several, comma-separated, for a cluster).
    pub url: String,
    /// Lower-case name of this installation's streams and subjects.
    pub prefix: String,
    /// How long a worker may go silent before its message goes to another: the job lease.
    pub ack_wait: Duration,
    /// Messages of one kind that may wait unclaimed; the rest wait in the database, where
    /// the claim's fair order between stations still applies.
    pub window: u32,
}

/// Whether `prefix` can name streams and subjects: `[a-z][a-z0-9_]{0,31}`.
pub fn valid_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    matches!(chars.next(), Some('a'..='z'))
        && prefix.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// How long after sending a job's message (or after its lease ended) the relay sends it
/// again, assuming it lost: well past the stream's own redelivery and its repeat window.
pub fn resend_after(opts: &BusOptions) -> Duration {
    (opts.ack_wait * 2).max(DUPLICATE_WINDOW + Duration::from_secs(30))
}

/// A connection to the bus with its streams in place.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    opts: BusOptions,
}

impl Bus {
    /// Connects (retrying in the background if the server is away at first) and creates
    /// the streams when missing.
    pub async fn connect(opts: BusOptions) -> Result<Bus, BusError> {
        if !valid_prefix(&opts.prefix) {
            return Err(BusError(format!(
                "prefix {:?} must be a lower-case letter, then up to 31 of a-z, 0-9 and _",
                opts.prefix
            )));
        }
        let client = async_nats::ConnectOptions::new()
            .name("cityx")
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(5)))
            .connect(opts.url.as_str())
            .await
            // Not the URL: it may carry a password (the caller names the server, redacted).
            .map_err(|e| BusError(format!("cannot connect: {e}")))?;
        let js = jetstream::new(client.clone());
        let bus = Bus { client, js, opts };
        bus.ensure_stream("JOBS", "jobs", stream::RetentionPolicy::WorkQueue, None)
            .await?;
        bus.ensure_stream(
            "EVENTS",
            "events",
            stream::RetentionPolicy::Limits,
            Some(EVENTS_KEPT),
        )
        .await?;
        Ok(bus)
    }

    /// Creates the stream `<PREFIX>_<name>` of subjects `<prefix>.<subjects>.>` when missing
    /// (file storage, the repeat window; kept for `max_age`, or for ever).
    async fn ensure_stream(
        &self,
        name: &str,
        subjects: &str,
        retention: stream::RetentionPolicy,
        max_age: Option<Duration>,
    ) -> Result<(), BusError> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream(name),
                subjects: vec![format!("{}.{subjects}.>", self.opts.prefix)],
                retention,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: max_age.unwrap_or_default(),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                bus_error(
                    &format!("cannot create the stream {}", self.stream(name)),
                    e,
                )
            })?;
        Ok(())
    }

    pub fn options(&self) -> &BusOptions {
        &self.opts
    }

    fn stream(&self, what: &str) -> String {
        format!("{}_{what}", self.opts.prefix.to_uppercase())
    }

    /// Whether the connection is up (for readiness).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn publish(&self, subject: String, id: String, payload: Vec<u8>) -> Result<(), BusError> {
        let ack = self
            .js
            .send_publish(
                subject,
                jetstream::message::PublishMessage::build()
                    .message_id(id)
                    .payload(payload.into()),
            )
            .await
            .map_err(|e| bus_error("publish", e))?;
        ack.await.map_err(|e| bus_error("publish", e))?;
        Ok(())
    }

    /// Publishes a job's message: the payload is the job's id; the message id names the
    /// attempt and when it was due too, so that a retry or a re-run is a new message.
    pub async fn publish_job(&self, m: &JobMessage) -> Result<(), BusError> {
        self.publish(
            format!("{}.jobs.{}", self.opts.prefix, m.kind),
            format!(
                "job-{}-{}-{}",
                m.id,
                m.attempt,
                m.due.unix_timestamp_nanos() / 1_000_000
            ),
            m.id.to_string().into_bytes(),
        )
        .await
    }

    /// Publishes an event as the member feed shows it (JSON).
    pub async fn publish_event(&self, e: &cityx_core::Event) -> Result<(), BusError> {
        let body = serde_json::to_vec(e).map_err(|e| BusError(format!("event: {e}")))?;
        self.publish(
            format!("{}.events.{}", self.opts.prefix, e.kind.as_str()),
            format!("event-{}", e.seq),
            body,
        )
        .await
    }

    /// The durable consumer of one job kind, created when missing.
    pub async fn job_consumer(&self, kind: &str) -> Result<PullConsumer, BusError> {
        let name = format!("jobs-{kind}");
        let stream = self
            .js
            .get_stream(self.stream("JOBS"))
            .await
            .map_err(|e| bus_error("find the jobs stream", e))?;
        stream
            .get_or_create_consumer(
                &name,
                jetstream::consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: format!("{}.jobs.{kind}", self.opts.prefix),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.opts.ack_wait,
                    // The database counts attempts and decides when a job is dead.
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| bus_error("create a consumer", e))
    }

    /// Takes the next message of `consumer`, if one waits (no waiting).
    pub async fn take(
        &self,
        consumer: &PullConsumer,
    ) -> Result<Option<jetstream::Message>, BusError> {
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .messages()
            .await
            .map_err(|e| bus_error("fetch", e))?;
        match batch.next().await {
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(e)) => Err(bus_error("fetch", e)),
            None => Ok(None),
        }
    }

    /// Signals `wake` whenever a job message is published (a plain subscription beside the
    /// stream), so idle workers fetch at once; resubscribes after errors. Runs until dropped.
    pub async fn relay_wakeups(&self, wake: Arc<Notify>) {
        loop {
            match self
                .client
                .subscribe(format!("{}.jobs.>", self.opts.prefix))
                .await
            {
                Ok(mut sub) => {
                    while sub.next().await.is_some() {
                        wake.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to job wake-ups"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Removes this prefix's streams (tests clean up with it).
    pub async fn delete_streams(&self) -> Result<(), BusError> {
        for what in ["JOBS", "EVENTS"] {
            self.js
                .delete_stream(self.stream(what))
                .await
                .map_err(|e| bus_error("delete a stream", e))?;
        }
        Ok(())
    }
}

/// Publishes the outbox, for ever: every `poll` (or when `wake` is signalled), the jobs that
/// need a message, then the events past the relay's mark. Errors are logged and tried again
/// at the next round; nothing is marked sent that the stream did not acknowledge.
pub async fn relay(repo: Arc<dyn Repo>, bus: Bus, wake: Arc<Notify>, poll: Duration) {
    loop {
        if let Err(e) = relay_round(&*repo, &bus).await {
            tracing::warn!(error = %e, "outbox relay round failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {},
            _ = wake.notified() => {},
        }
    }
}

/// One round of the relay; returns how many messages it published.
pub async fn relay_round(repo: &dyn Repo, bus: &Bus) -> anyhow::Result<usize> {
    let mut sent = 0;
    let resend_before = cityx_core::now()
        - time::Duration::try_from(resend_after(bus.options())).unwrap_or(time::Duration::HOUR);
    for m in repo
        .jobs_to_send(bus.options().window, resend_before)
        .await?
    {
        bus.publish_job(&m).await?;
        repo.mark_job_sent(&m, cityx_core::now()).await?;
        sent += 1;
    }
    loop {
        let mark = repo.outbox_cursor(EVENTS_CURSOR).await?;
        let events = repo
            .feed(TenantScope::All, mark, 256, cityx_core::now())
            .await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        for e in &events {
            bus.publish_event(e).await?;
            sent += 1;
        }
        repo.set_outbox_cursor(EVENTS_CURSOR, last).await?;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_streams_and_subjects_safely() {
        for ok in [
            "cityx",
            "a",
            "cityx_prod_2",
            "t0123456789abcdef0123456789abcde",
        ] {
            assert!(valid_prefix(ok), "{ok}");
        }
        for bad in [
            "", "Cityx", "1cityx", "city.x", "city x", "city>", "城市", "a-b",
        ] {
            assert!(!valid_prefix(bad), "{bad}");
        }
        assert!(!valid_prefix(&"a".repeat(33)));
    }

    #[test]
    fn resends_wait_past_redelivery_and_the_repeat_window() {
        let opts = |secs| BusOptions {
            url: String::new(),
            prefix: "cityx".into(),
            ack_wait: Duration::from_secs(secs),
            window: 8,
        };
        assert_eq!(resend_after(&opts(300)), Duration::from_secs(600));
        assert!(resend_after(&opts(2)) > DUPLICATE_WINDOW);
    }
}

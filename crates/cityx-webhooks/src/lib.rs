//! Webhooks, the first subsystem built by the recipe of ARCHITECTURE.md ("Adding a
//! subsystem"): a station admin registers an address, and every event the member feed would
//! show the station is also POSTed there, signed, by a job of its own that is retried with
//! backoff.
//!
//! What it owns: its use cases ([`Webhooks`], the context the doors call), its job kind
//! (`webhook`, [`WebhookJob`]), its event subscriber (`webhook_deliveries`,
//! [`WebhookFanout`]) and its [`register`] function, called by one line in
//! `cityx::server::registry`. Its repository trait, SQL and row mapping are
//! `cityx-db/src/sql/webhooks.rs`; its domain types and rules are `cityx_core::webhook`
//! (below the database, which stores them); its routes are `routes/webhooks.rs` in
//! `cityx-api` and `pages/webhooks.rs` in `cityx-web`.
//!
//! Depends on `cityx-core`, `cityx-db`'s `WebhookRepo`, `cityx-app` (the shared pieces it is
//! handed: the outbound guard and the runner's wake-up; the error type), `cityx-fetch` and
//! `cityx-queue`. It must not depend on another subsystem or on a door, and no other
//! subsystem calls it: it follows the event log.

mod context;

pub use context::{CreatedWebhook, WebhookView, Webhooks};

use async_trait::async_trait;
use cityx_app::App;
use cityx_core::webhook::{Attempt, WEBHOOK_JOB};
use cityx_db::ClaimedJob;
use cityx_queue::{Handler, JobError, Progress};
use std::sync::Arc;

/// Registers the webhooks' job kind and event subscriber with the spine.
pub fn register(reg: &mut cityx_queue::Registry, app: &Arc<App>) {
    reg.job(Arc::new(WebhookJob(app.clone())))
        .subscribe(Arc::new(WebhookFanout(app.clone())));
}

/// `webhook_deliveries`: the event subscriber that turns each event into deliveries to the
/// webhooks that want it, whose jobs ([`WebhookJob`]) then send them.
pub struct WebhookFanout(pub Arc<App>);

#[async_trait]
impl cityx_queue::subscribe::Subscriber for WebhookFanout {
    fn name(&self) -> &'static str {
        "webhook_deliveries"
    }

    async fn handle(&self, events: &[cityx_core::Event]) -> Result<(), String> {
        Webhooks::of(&self.0)
            .fan_out(events)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// `webhook`: one signed POST of one event to one station's webhook (the job's id is the
/// delivery's). Failures are retried with the queue's backoff; a refused address is not.
pub struct WebhookJob(pub Arc<App>);

#[async_trait]
impl Handler for WebhookJob {
    fn kind(&self) -> &'static str {
        WEBHOOK_JOB
    }

    async fn run(&self, job: &ClaimedJob, _progress: &Progress) -> Result<(), JobError> {
        let attempt = Webhooks::of(&self.0).send_delivery(job).await;
        let outcome = match &attempt {
            Ok(Attempt::Delivered { .. }) => "delivered",
            Ok(Attempt::Skipped { .. }) => "skipped",
            Ok(Attempt::Failed { .. }) => "failed",
            Ok(Attempt::Refused { .. }) => "refused",
            Err(_) => "error",
        };
        metrics::counter!("webhook_attempts_total", "outcome" => outcome).increment(1);
        match attempt {
            Ok(Attempt::Delivered { .. } | Attempt::Skipped { .. }) => Ok(()),
            Ok(Attempt::Failed { error, .. }) => Err(JobError::Transient(error)),
            Ok(Attempt::Refused { error }) => Err(JobError::Permanent(error)),
            Err(e) if e.is_not_found() => Err(JobError::Permanent(e.to_string())),
            Err(e) => Err(JobError::Transient(e.to_string())),
        }
    }
}

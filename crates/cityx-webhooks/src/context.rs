//! The webhooks' use cases. The receiver checks `X-Cityx-Signature`, which is
//! `sha256=` + hex(HMAC-SHA-256(secret, timestamp + "." + body)) with the timestamp of
//! `X-Cityx-Timestamp`, and may drop repeats by `X-Cityx-Delivery`.

use cityx_app::{App, Error, Result, secrets, url_refused};
use cityx_core::webhook::{Attempt, WEBHOOK_JOB};
use cityx_core::{
    Actor, AuditAction, Delivery, JobId, NewAudit, Webhook, WebhookId, WebhookInput, policy,
};
use cityx_db::ClaimedJob;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

/// How long a receiver has to answer one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries a webhook's page lists.
const DELIVERIES_SHOWN: u32 = 50;

/// A new webhook with its secret: the only time the secret is shown.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// The HMAC-SHA-256 key of `X-Cityx-Signature`. Shown once.
    pub secret: String,
}

/// A webhook and its latest deliveries.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub webhook: Webhook,
    /// Latest event first.
    pub deliveries: Vec<Delivery>,
}

/// The headers of one attempt, signature included.
fn signed_headers(
    secret: &str,
    delivery: JobId,
    kind: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| Error::Internal(e.to_string().into()))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let signature = secrets::hex(&mac.finalize().into_bytes());
    Ok(vec![
        ("X-Cityx-Event", kind.to_owned()),
        ("X-Cityx-Delivery", delivery.to_string()),
        ("X-Cityx-Timestamp", timestamp.to_string()),
        ("X-Cityx-Signature", format!("sha256={signature}")),
    ])
}

/// Webhooks and their deliveries, as a context of its own: it holds only the webhooks'
/// repository, the outbound guard and the runner's wake-up, which [`Webhooks::of`] takes
/// from the application's shared pieces.
pub struct Webhooks<'a> {
    repo: &'a dyn cityx_db::WebhookRepo,
    fetch: &'a cityx_fetch::Guard,
    jobs_ready: &'a tokio::sync::Notify,
}

impl<'a> Webhooks<'a> {
    /// The webhooks of `app`: registration, the delivery log, one signed attempt per job,
    /// and the event subscriber's fan-out.
    pub fn of(app: &'a App) -> Self {
        Webhooks {
            repo: &**app.repo(),
            fetch: app.fetch_guard(),
            jobs_ready: app.jobs_ready(),
        }
    }

    /// Registers a webhook for the caller's station (station admins). The address must pass
    /// the outbound guard now, and is checked again at every attempt.
    pub async fn create(&self, actor: &Actor, input: &WebhookInput<'_>) -> Result<CreatedWebhook> {
        let station = policy::create_webhook(actor)?;
        let fields = input.validate()?;
        let url = self.fetch.parse(&fields.url).map_err(url_refused)?;
        self.fetch.admit(&url).await.map_err(url_refused)?;
        let id = WebhookId::new();
        let secret = format!("whsec_{}", secrets::random_secret()?);
        let by = actor.user_id.ok_or(Error::Forbidden)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::WebhookCreated,
            "webhook",
            id,
            Some(station),
        )
        .detail("url", fields.url.clone());
        self.repo
            .insert_webhook(id, station, &fields, &secret, by, &audit)
            .await
            .map_err(|e| match e {
                cityx_db::Error::WrongState {
                    entity: "webhook", ..
                } => Error::field(
                    "url",
                    "too_many",
                    format!(
                        "a station has at most {} webhooks",
                        cityx_core::webhook::MAX_PER_STATION
                    ),
                ),
                e => e.into(),
            })?;
        tracing::info!(webhook = %id, %station, "webhook created");
        Ok(CreatedWebhook {
            webhook: self.repo.get_webhook(actor.tenant_scope(), id).await?,
            secret,
        })
    }

    /// The caller's station's webhooks (every station's for hub admins).
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Webhook>> {
        policy::manage_webhooks(actor)?;
        Ok(self.repo.list_webhooks(actor.tenant_scope()).await?)
    }

    /// A webhook with its latest deliveries.
    pub async fn get(&self, actor: &Actor, id: WebhookId) -> Result<WebhookView> {
        policy::manage_webhooks(actor)?;
        let scope = actor.tenant_scope();
        Ok(WebhookView {
            webhook: self.repo.get_webhook(scope, id).await?,
            deliveries: self
                .repo
                .list_deliveries(scope, id, DELIVERIES_SHOWN)
                .await?,
        })
    }

    /// Retires a webhook; deliveries still waiting are skipped.
    pub async fn delete(&self, actor: &Actor, id: WebhookId) -> Result<()> {
        policy::manage_webhooks(actor)?;
        let audit = NewAudit::by(actor, AuditAction::WebhookDeleted, "webhook", id, None);
        self.repo
            .delete_webhook(actor.tenant_scope(), id, &audit)
            .await?;
        Ok(())
    }

    /// Turns events into deliveries to the webhooks that want them (the webhooks' event
    /// subscriber calls this with each batch, in order); wakes the runner when some were
    /// made. Handing the same events over again makes nothing twice.
    pub async fn fan_out(&self, events: &[cityx_core::Event]) -> Result<usize> {
        let made = self.repo.enqueue_deliveries(events).await?;
        if made > 0 {
            self.jobs_ready.notify_one();
        }
        Ok(made)
    }

    /// Sends a failed delivery again.
    pub async fn retry_delivery(
        &self,
        actor: &Actor,
        webhook: WebhookId,
        delivery: JobId,
    ) -> Result<()> {
        policy::manage_webhooks(actor)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::DeliveryRetried,
            "delivery",
            delivery,
            None,
        );
        self.repo
            .retry_delivery(actor.tenant_scope(), webhook, delivery, &audit)
            .await?;
        self.jobs_ready.notify_one();
        Ok(())
    }

    /// The webhook job's work: one signed attempt, recorded. The event is read again under
    /// the station's rights of now, so a delivery never carries an item the station may no
    /// longer see.
    pub async fn send_delivery(&self, job: &ClaimedJob) -> Result<Attempt> {
        debug_assert_eq!(job.kind, WEBHOOK_JOB);
        let work = self
            .repo
            .delivery_work(job.id, cityx_core::now())
            .await?
            .ok_or(Error::NotFound("delivery"))?;
        let attempt = match &work.event {
            None => Attempt::Skipped {
                why: "the webhook was deleted, or the station may no longer see the item".into(),
            },
            Some(event) => {
                let body = serde_json::to_vec(&serde_json::json!({
                    "delivery_id": work.delivery.id,
                    "webhook_id": work.delivery.webhook_id,
                    "station_id": work.station_id,
                    "event": event,
                }))
                .map_err(|e| Error::Internal(Box::new(e)))?;
                let timestamp = cityx_core::now().unix_timestamp();
                let headers = signed_headers(
                    &work.secret,
                    work.delivery.id,
                    event.kind.as_str(),
                    timestamp,
                    &body,
                )?;
                match self
                    .fetch
                    .post(&work.url, &headers, body, ATTEMPT_TIMEOUT)
                    .await
                {
                    Ok(status) => Attempt::Delivered { status },
                    Err(e @ cityx_fetch::FetchError::Status(s)) => Attempt::Failed {
                        status: Some(s),
                        error: e.to_string(),
                    },
                    Err(e) if e.is_transient() => Attempt::Failed {
                        status: None,
                        error: e.to_string(),
                    },
                    Err(e) => Attempt::Refused {
                        error: format!("{}: {e}", e.code()),
                    },
                }
            }
        };
        let last = job.attempts >= job.max_attempts;
        self.repo.record_attempt(job.id, &attempt, last).await?;
        Ok(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let id = JobId::new();
        let sig = |ts: i64, body: &[u8]| {
            signed_headers("whsec_k", id, "item.published", ts, body)
                .expect("sign")
                .into_iter()
                .find(|(n, _)| *n == "X-Cityx-Signature")
                .map(|(_, v)| v)
                .expect("signature")
        };
        let a = sig(1_700_000_000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64, "{a}");
        assert_eq!(a, sig(1_700_000_000, b"{}"));
        assert_ne!(a, sig(1_700_000_001, b"{}"));
        assert_ne!(a, sig(1_700_000_000, b"{ }"));
        // The documented construction, computed directly.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_k").expect("key");
        mac.update(b"1700000000.{}");
        assert_eq!(
            a,
            format!("sha256={}", secrets::hex(&mac.finalize().into_bytes()))
        );
    }
}

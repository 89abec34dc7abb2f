//! Webhooks and their deliveries. The webhooks' event subscriber hands every committed event
//! to [`WebhookRepo::enqueue_deliveries`], which enqueues a delivery, with the job that sends
//! it, for every webhook whose station the feed would tell (the same audience rule). An
//! event is never sent without being committed; a delivery is made once per webhook and
//! event however often the event is handed over.

use super::events::{EVENT_COLS, audience_sql, event_from};
use super::rows::{from_ms, get, ms, parse, scope_args};
use super::{SqlRepo, commit, not_found_unless, write_audit};
use crate::model::{DeliveryWork, NewJob};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::subject::Subject;
use cityx_core::webhook::{
    Attempt, DELIVERY_ATTEMPTS, DELIVERY_SUBJECT, MAX_PER_STATION, WEBHOOK_JOB, WebhookFields,
};
use cityx_core::{
    Delivery, Event, EventKind, JobId, NewAudit, StationId, TenantScope, UserId, Webhook, WebhookId,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

/// Webhooks and their deliveries (enqueued by the webhooks' event subscriber).
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// Enqueues, for each event, a delivery (with its job) to every live webhook that wants
    /// its kind and whose station the feed would tell of it; one per webhook and event
    /// however often the event comes. Returns how many deliveries were new.
    async fn enqueue_deliveries(&self, events: &[cityx_core::Event]) -> Result<usize>;
    /// Adds a webhook to `station`. More than `MAX_PER_STATION` live ones is
    /// `WrongState { state: "too_many" }`.
    async fn insert_webhook(
        &self,
        id: cityx_core::WebhookId,
        station: StationId,
        fields: &cityx_core::webhook::WebhookFields,
        secret: &str,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Live webhooks of the caller's station (all for the hub).
    async fn list_webhooks(&self, scope: TenantScope) -> Result<Vec<cityx_core::Webhook>>;
    async fn get_webhook(
        &self,
        scope: TenantScope,
        id: cityx_core::WebhookId,
    ) -> Result<cityx_core::Webhook>;
    /// Retires a webhook: it gets no new deliveries, and pending ones are skipped.
    async fn delete_webhook(
        &self,
        scope: TenantScope,
        id: cityx_core::WebhookId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// A webhook's latest deliveries.
    async fn list_deliveries(
        &self,
        scope: TenantScope,
        webhook: cityx_core::WebhookId,
        limit: u32,
    ) -> Result<Vec<cityx_core::Delivery>>;
    /// Sends a failed delivery again (its job back in the queue). Not failed: `WrongState`.
    async fn retry_delivery(
        &self,
        scope: TenantScope,
        webhook: cityx_core::WebhookId,
        delivery: cityx_core::JobId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// What the webhook job `job` is to send, with the event only if the webhook's station may
    /// still see it at `now`; `None` for an unknown job.
    async fn delivery_work(
        &self,
        job: cityx_core::JobId,
        now: OffsetDateTime,
    ) -> Result<Option<crate::model::DeliveryWork>>;
    /// Records an attempt; `last` turns a failure into the final state.
    async fn record_attempt(
        &self,
        job: cityx_core::JobId,
        attempt: &cityx_core::webhook::Attempt,
        last: bool,
    ) -> Result<()>;
}

/// Enqueues the deliveries of event `seq` of `kind`, recorded `at`; returns how many were
/// new.
async fn deliveries_of(
    tx: &mut Transaction<'static, Any>,
    seq: i64,
    kind: EventKind,
    at: OffsetDateTime,
) -> Result<usize> {
    let hooks: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT w.id, w.station_id FROM events e JOIN webhooks w ON w.deleted_at IS NULL \
         LEFT JOIN assets a ON a.id = e.asset_id \
         WHERE e.seq = $1 AND w.created_at <= $3 \
         AND (w.kinds = '' OR ' ' || w.kinds || ' ' LIKE $2) AND {} \
         ORDER BY w.id",
        audience_sql("w.station_id", "$3")
    ))
    .bind(seq)
    .bind(format!("% {} %", kind.as_str()))
    .bind(ms(at))
    .fetch_all(&mut **tx)
    .await
    .map_err(|err| Error::from_sqlx("find an event's webhooks", "webhook", err))?;
    let now = ms(cityx_core::now());
    let mut made = 0;
    for (hook, station) in hooks {
        // A delivery's id is its job's; a delivery made before (the event handed over
        // again) keeps its own, and no second job is enqueued.
        let id = JobId::new();
        let new = sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_seq, event_kind, state, \
             attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) \
             ON CONFLICT (webhook_id, event_seq) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(hook)
        .bind(seq)
        .bind(kind.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|err| Error::from_sqlx("enqueue a delivery", "delivery", err))?;
        if new.rows_affected() == 0 {
            continue;
        }
        let job = NewJob {
            id,
            run_at: at,
            ..NewJob::about(
                WEBHOOK_JOB,
                Subject::new(DELIVERY_SUBJECT, id),
                Some(parse("station id", station)?),
                DELIVERY_ATTEMPTS,
            )
        };
        super::jobs::insert_job(&mut **tx, &job).await?;
        made += 1;
    }
    Ok(made)
}

const WEBHOOK_COLS: &str = "w.id, w.station_id, w.url, w.kinds, w.created_by, w.created_at, \
    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending') AS pending, \
    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'delivered') AS delivered, \
    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'failed') AS failed";

fn webhook_from(r: &AnyRow) -> Result<Webhook> {
    let kinds: String = get(r, "kinds")?;
    Ok(Webhook {
        id: parse("webhook id", get(r, "id")?)?,
        station_id: parse("station id", get(r, "station_id")?)?,
        url: get(r, "url")?,
        kinds: kinds
            .split_whitespace()
            .map(|k| parse("event kind", k.to_owned()))
            .collect::<Result<_>>()?,
        created_by: parse("user id", get(r, "created_by")?)?,
        created_at: from_ms(get(r, "created_at")?),
        pending: get(r, "pending")?,
        delivered: get(r, "delivered")?,
        failed: get(r, "failed")?,
    })
}

const DELIVERY_COLS: &str = "d.id, d.webhook_id, d.event_seq, d.event_kind, d.state, \
    d.attempts, d.response_status, d.error, d.created_at, d.updated_at";

fn delivery_from(r: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: parse("delivery id", get(r, "id")?)?,
        webhook_id: parse("webhook id", get(r, "webhook_id")?)?,
        event_seq: get(r, "event_seq")?,
        event_kind: parse("event kind", get(r, "event_kind")?)?,
        state: parse("delivery state", get(r, "state")?)?,
        attempts: get(r, "attempts")?,
        response_status: get(r, "response_status")?,
        error: get(r, "error")?,
        created_at: from_ms(get(r, "created_at")?),
        updated_at: from_ms(get(r, "updated_at")?),
    })
}

/// Sets a delivery's state after an attempt (or none).
async fn set_delivery<'e, E: sqlx::Executor<'e, Database = Any>>(
    ex: E,
    id: JobId,
    state: &str,
    attempted: bool,
    status: Option<u16>,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, attempts = attempts + $2, \
         response_status = COALESCE($3, response_status), error = $4, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(state)
    .bind(i64::from(attempted))
    .bind(status.map(i64::from))
    .bind(error)
    .bind(ms(cityx_core::now()))
    .bind(id.to_string())
    .execute(ex)
    .await
    .map_err(|e| Error::from_sqlx("record a delivery attempt", "delivery", e))?;
    Ok(())
}

#[async_trait]
impl WebhookRepo for SqlRepo {
    async fn enqueue_deliveries(&self, events: &[Event]) -> Result<usize> {
        let mut tx = self.begin().await?;
        let mut made = 0;
        for e in events {
            made += deliveries_of(&mut tx, e.seq, e.kind, e.at).await?;
        }
        commit(tx).await?;
        Ok(made)
    }

    async fn insert_webhook(
        &self,
        id: WebhookId,
        station: StationId,
        fields: &WebhookFields,
        secret: &str,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        super::hold_row(&mut tx, "stations", &station.to_string(), "station").await?;
        let (live,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM webhooks WHERE station_id = $1 AND deleted_at IS NULL",
        )
        .bind(station.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("count webhooks", "webhook", e))?;
        if live >= i64::try_from(MAX_PER_STATION).unwrap_or(i64::MAX) {
            return Err(Error::WrongState {
                entity: "webhook",
                state: "too_many".into(),
            });
        }
        let kinds: Vec<&str> = fields.kinds.iter().map(|k| k.as_str()).collect();
        sqlx::query(
            "INSERT INTO webhooks (id, station_id, url, secret, kinds, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(station.to_string())
        .bind(&fields.url)
        .bind(secret)
        .bind(kinds.join(" "))
        .bind(by.to_string())
        .bind(ms(cityx_core::now()))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("add a webhook", "webhook", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn list_webhooks(&self, scope: TenantScope) -> Result<Vec<Webhook>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks w WHERE w.deleted_at IS NULL \
             AND ($1 OR w.station_id = $2) ORDER BY w.station_id, w.id"
        ))
        .bind(all)
        .bind(own)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list webhooks", "webhook", e))?;
        rows.iter().map(webhook_from).collect()
    }

    async fn get_webhook(&self, scope: TenantScope, id: WebhookId) -> Result<Webhook> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks w WHERE w.id = $1 AND w.deleted_at IS NULL \
             AND ($2 OR w.station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a webhook", "webhook", e))?;
        webhook_from(&row.ok_or(Error::NotFound { entity: "webhook" })?)
    }

    async fn delete_webhook(
        &self,
        scope: TenantScope,
        id: WebhookId,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL \
             AND ($3 OR station_id = $4)",
        )
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("delete a webhook", "webhook", e))?;
        not_found_unless(done.rows_affected(), "webhook")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn list_deliveries(
        &self,
        scope: TenantScope,
        webhook: WebhookId,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.get_webhook(scope, webhook).await?;
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries d WHERE d.webhook_id = $1 \
             ORDER BY d.event_seq DESC LIMIT $2"
        ))
        .bind(webhook.to_string())
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list deliveries", "delivery", e))?;
        rows.iter().map(delivery_from).collect()
    }

    async fn retry_delivery(
        &self,
        scope: TenantScope,
        webhook: WebhookId,
        delivery: JobId,
        audit: &NewAudit,
    ) -> Result<()> {
        self.get_webhook(scope, webhook).await?;
        let mut tx = self.begin().await?;
        let state: Option<(String,)> = sqlx::query_as(
            "SELECT state FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2",
        )
        .bind(delivery.to_string())
        .bind(webhook.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read a delivery", "delivery", e))?;
        let (state,) = state.ok_or(Error::NotFound { entity: "delivery" })?;
        if state != "failed" {
            return Err(Error::WrongState {
                entity: "delivery",
                state,
            });
        }
        if super::jobs::requeue_dead(&mut tx, delivery).await? != 1 {
            return Err(Error::WrongState {
                entity: "delivery",
                state: "running".into(),
            });
        }
        set_delivery(&mut *tx, delivery, "pending", false, None, None).await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn delivery_work(&self, job: JobId, now: OffsetDateTime) -> Result<Option<DeliveryWork>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS}, w.url, w.secret, w.station_id AS hook_station, \
             w.deleted_at FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.id = $1"
        ))
        .bind(job.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a delivery", "delivery", e))?;
        let Some(row) = row else { return Ok(None) };
        let delivery = delivery_from(&row)?;
        let station: StationId = parse("station id", get(&row, "hook_station")?)?;
        let deleted = get::<Option<i64>>(&row, "deleted_at")?.is_some();
        // The feed's rule again, now: rights may have narrowed since the event.
        let event = if deleted {
            None
        } else {
            sqlx::query(&format!(
                "SELECT {EVENT_COLS} FROM events e LEFT JOIN assets a ON a.id = e.asset_id \
                 WHERE e.seq = $1 AND {}",
                audience_sql("$2", "$3")
            ))
            .bind(delivery.event_seq)
            .bind(station.to_string())
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("read a delivery's event", "event", e))?
            .as_ref()
            .map(event_from)
            .transpose()?
        };
        Ok(Some(DeliveryWork {
            url: get(&row, "url")?,
            secret: get(&row, "secret")?,
            station_id: station,
            delivery,
            event,
        }))
    }

    async fn record_attempt(&self, job: JobId, attempt: &Attempt, last: bool) -> Result<()> {
        match attempt {
            Attempt::Delivered { status } => {
                set_delivery(&self.pool, job, "delivered", true, Some(*status), None).await
            }
            Attempt::Failed { status, error } => {
                let state = if last { "failed" } else { "pending" };
                set_delivery(&self.pool, job, state, true, *status, Some(error)).await
            }
            Attempt::Refused { error } => {
                set_delivery(&self.pool, job, "failed", true, None, Some(error)).await
            }
            Attempt::Skipped { why } => {
                set_delivery(&self.pool, job, "skipped", false, None, Some(why)).await
            }
        }
    }
}

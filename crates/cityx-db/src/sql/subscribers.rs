//! The event log's subscribers: each registered consumer keeps a durable cursor (the last
//! event it handled), and one node at a time feeds it under a fenced lease, so it gets the
//! events in order. The trait, its types and SQL live here.

use super::SqlRepo;
use super::events::{EVENT_COLS, event_from};
use super::rows::ms;
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::Event;
use time::OffsetDateTime;

/// A subscriber this node feeds: its cursor when taken, and the fence of its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldSubscriber {
    pub name: String,
    pub seq: i64,
    pub fence: u64,
}

/// A subscriber as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriberRow {
    pub name: String,
    /// The last event it handled.
    pub seq: i64,
    /// Events after it, not handled yet.
    pub behind: i64,
}

#[async_trait]
pub trait SubscriberRepo: Send + Sync {
    /// Adds a subscriber whose first event is the next one recorded (`from_start`: the
    /// first event ever); a known one keeps its cursor.
    async fn register_subscriber(&self, name: &str, from_start: bool) -> Result<()>;
    /// Takes the subscriber's lease for `owner` when nobody's runs (or keeps `held`, the
    /// lease this node took last, by its fence); `None` while another node's runs.
    async fn hold_subscriber(
        &self,
        name: &str,
        owner: &str,
        held: Option<&HeldSubscriber>,
        until: OffsetDateTime,
    ) -> Result<Option<HeldSubscriber>>;
    /// Every event after `seq`, oldest first, at most `limit`; unscoped (subscribers apply
    /// their own audience rules).
    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<Event>>;
    /// Moves the cursor to `seq` and extends the lease; false when the lease is no longer
    /// this node's.
    async fn advance_subscriber(
        &self,
        held: &HeldSubscriber,
        seq: i64,
        until: OffsetDateTime,
    ) -> Result<bool>;
    /// Lets the lease go, for another node to take at once.
    async fn release_subscriber(&self, held: &HeldSubscriber) -> Result<()>;
    async fn list_subscribers(&self) -> Result<Vec<SubscriberRow>>;
}

#[async_trait]
impl SubscriberRepo for SqlRepo {
    async fn register_subscriber(&self, name: &str, from_start: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO event_subscribers (name, seq, updated_at) \
             SELECT $1, CASE WHEN $2 THEN 0 ELSE seq END, $3 FROM event_head WHERE id = 1 \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(from_start)
        .bind(ms(cityx_core::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("register an event subscriber", "subscriber", e))?;
        Ok(())
    }

    async fn hold_subscriber(
        &self,
        name: &str,
        owner: &str,
        held: Option<&HeldSubscriber>,
        until: OffsetDateTime,
    ) -> Result<Option<HeldSubscriber>> {
        let now = ms(cityx_core::now());
        let row: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE event_subscribers SET owner = $1, lease_until = $2, fence = fence + 1, \
             updated_at = $3 WHERE name = $4 \
             AND (fence = $5 OR owner IS NULL OR lease_until IS NULL OR lease_until < $3) \
             RETURNING seq, fence",
        )
        .bind(owner)
        .bind(ms(until))
        .bind(now)
        .bind(name)
        .bind(held.map_or(-1, |h| super::rows::fence(h.fence)))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("take an event subscriber", "subscriber", e))?;
        Ok(row.map(|(seq, fence)| HeldSubscriber {
            name: name.to_owned(),
            seq,
            fence: u64::try_from(fence).unwrap_or_default(),
        }))
    }

    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
        ))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read events", "event", e))?;
        rows.iter().map(event_from).collect()
    }

    async fn advance_subscriber(
        &self,
        held: &HeldSubscriber,
        seq: i64,
        until: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE event_subscribers SET seq = $1, lease_until = $2, updated_at = $3 \
             WHERE name = $4 AND fence = $5 AND seq <= $1",
        )
        .bind(seq)
        .bind(ms(until))
        .bind(ms(cityx_core::now()))
        .bind(&held.name)
        .bind(super::rows::fence(held.fence))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("move a subscriber's cursor", "subscriber", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_subscriber(&self, held: &HeldSubscriber) -> Result<()> {
        sqlx::query(
            "UPDATE event_subscribers SET owner = NULL, lease_until = NULL \
             WHERE name = $1 AND fence = $2",
        )
        .bind(&held.name)
        .bind(super::rows::fence(held.fence))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("release an event subscriber", "subscriber", e))?;
        Ok(())
    }

    async fn list_subscribers(&self) -> Result<Vec<SubscriberRow>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT s.name, s.seq, h.seq - s.seq FROM event_subscribers s \
             CROSS JOIN event_head h WHERE h.id = 1 ORDER BY s.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list event subscribers", "subscriber", e))?;
        Ok(rows
            .into_iter()
            .map(|(name, seq, behind)| SubscriberRow {
                name,
                seq,
                behind: behind.max(0),
            })
            .collect())
    }
}

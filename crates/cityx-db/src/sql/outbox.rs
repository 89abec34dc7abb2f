//! The outbox of the message bus: which jobs still need a message, and how far the event
//! relay has published. Publishing itself is the relay's (`cityx-queue`); this only reads
//! what committed and records what was sent.

use super::SqlRepo;
use super::jobs::FAIR_ORDER;
use super::rows::{from_ms, ms, parse};
use crate::model::JobMessage;
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The outbox of the message bus: what committed and has not been published yet.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Jobs to publish now, in the claim's fair order: runnable jobs whose attempt has no
    /// message yet, while fewer than `window` messages of their kind wait unclaimed; and
    /// jobs whose message seems lost (sent, or their lease ended, before `resend_before`).
    async fn jobs_to_send(
        &self,
        window: u32,
        resend_before: time::OffsetDateTime,
    ) -> Result<Vec<JobMessage>>;
    /// Records that `message` was published at `at`.
    async fn mark_job_sent(&self, message: &JobMessage, at: time::OffsetDateTime) -> Result<()>;
    /// How far the relay `name` has published (0 before its first message).
    async fn outbox_cursor(&self, name: &str) -> Result<i64>;
    /// Moves the relay's mark forward to `seq` (never back).
    async fn set_outbox_cursor(&self, name: &str, seq: i64) -> Result<()>;
}

/// The most jobs one look returns.
const BATCH: i64 = 256;

#[async_trait]
impl OutboxRepo for SqlRepo {
    async fn jobs_to_send(
        &self,
        window: u32,
        resend_before: OffsetDateTime,
    ) -> Result<Vec<JobMessage>> {
        let now = ms(cityx_core::now());
        let waiting: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, COUNT(*) FROM jobs WHERE state = 'queued' AND sent_attempt > attempts \
             GROUP BY kind",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("count unclaimed messages", "job", e))?;
        let mut room: HashMap<String, i64> = waiting
            .into_iter()
            .map(|(kind, n)| (kind, i64::from(window) - n))
            .collect();
        // A job needs a message when its next attempt has none (`sent_attempt <= attempts`)
        // or the one it has seems lost. A running job's lease that ended long ago means its
        // worker died and the bus did not give the message to another.
        let sql = format!(
            "SELECT j.id, j.kind, j.attempts, j.sent_attempt, j.run_at FROM jobs j \
             WHERE ((j.state = 'queued' AND j.run_at <= $1) \
                    OR (j.state = 'running' AND j.lease_until < $2)) \
               AND (j.sent_attempt <= j.attempts OR j.sent_at < $2) \
             ORDER BY {FAIR_ORDER} LIMIT $3"
        );
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(&sql)
            .bind(now)
            .bind(ms(resend_before))
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("list jobs to send", "job", e))?;
        let mut out = Vec::new();
        for (id, kind, attempts, sent, due) in rows {
            // A first message waits for room in its kind's window; a resend never does.
            if sent <= attempts {
                let left = room.entry(kind.clone()).or_insert(i64::from(window));
                if *left <= 0 {
                    continue;
                }
                *left -= 1;
            }
            out.push(JobMessage {
                id: parse("job id", id)?,
                kind,
                attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
                due: from_ms(due),
            });
        }
        Ok(out)
    }

    async fn mark_job_sent(&self, message: &JobMessage, at: OffsetDateTime) -> Result<()> {
        // Only while the job still waits for that attempt (not re-run from scratch meanwhile).
        sqlx::query(
            "UPDATE jobs SET sent_attempt = $1, sent_at = $2 WHERE id = $3 AND attempts = $4",
        )
        .bind(i64::from(message.attempt))
        .bind(ms(at))
        .bind(message.id.to_string())
        .bind(i64::from(message.attempt) - 1)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("record a sent message", "job", e))?;
        Ok(())
    }

    async fn outbox_cursor(&self, name: &str) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM outbox_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("read an outbox mark", "outbox", e))?;
        Ok(seq.unwrap_or(0))
    }

    async fn set_outbox_cursor(&self, name: &str, seq: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox_cursors (name, seq) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq WHERE outbox_cursors.seq < excluded.seq",
        )
        .bind(name)
        .bind(seq)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("move an outbox mark", "outbox", e))?;
        Ok(())
    }
}

//! The scheduler's periodic tasks: each row keeps its next due time, and the node that moves
//! it on (compare-and-set on the due time) enqueues the task's job in the same transaction,
//! so each due time runs once across the cluster. The trait, its types and SQL live here.

use super::rows::{from_ms, get, ms};
use super::{SqlRepo, commit};
use crate::model::NewJob;
use crate::{Error, Result};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A periodic task as registered by the code that runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleDef {
    /// Stored data: never renamed.
    pub name: String,
    /// `every 60s` or `cron M H DOM MON DOW` (Beijing time), as `cityx_core::schedule::Every`
    /// reads it.
    pub every: String,
    /// `run_once` or `skip`.
    pub misfire: String,
    /// The kind of the job each run enqueues.
    pub job_kind: String,
}

/// A periodic task and how it has run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct ScheduleRow {
    pub name: String,
    pub every: String,
    pub misfire: String,
    pub job_kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub next_due: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_due: Option<OffsetDateTime>,
    /// The job of the last run.
    pub last_job: Option<String>,
    /// Due times run, and due times skipped by the misfire policy.
    pub runs: u64,
    pub skipped: u64,
}

#[async_trait]
pub trait ScheduleRepo: Send + Sync {
    /// Adds a task due first at `first_due`, or updates a known one; a changed period takes
    /// `first_due` as its next due time, an unchanged one keeps its own (or, with
    /// `pull_forward`, the earlier of its own and `first_due`).
    async fn register_schedule(
        &self,
        def: &ScheduleDef,
        first_due: OffsetDateTime,
        pull_forward: bool,
    ) -> Result<()>;
    /// Tasks due at `now`.
    async fn due_schedules(&self, now: OffsetDateTime) -> Result<Vec<ScheduleRow>>;
    /// Moves task `name` from the due time `due` to `next`, enqueuing `job` (a run) or not (a
    /// skip), in one transaction. A run whose previous run's job is still queued or running
    /// is skipped too: runs never pile up behind a stuck one. `Some(true)` when `job` was
    /// enqueued, `Some(false)` when skipped, `None` (nothing written) when another node
    /// moved the task first.
    async fn fire_schedule(
        &self,
        name: &str,
        due: OffsetDateTime,
        next: OffsetDateTime,
        job: Option<&NewJob>,
    ) -> Result<Option<bool>>;
    /// Every task, by name.
    async fn list_schedules(&self) -> Result<Vec<ScheduleRow>>;
}

const COLS: &str = "name, every, misfire, job_kind, next_due, last_due, last_job, runs, skipped";

fn schedule_from(r: &AnyRow) -> Result<ScheduleRow> {
    Ok(ScheduleRow {
        name: get(r, "name")?,
        every: get(r, "every")?,
        misfire: get(r, "misfire")?,
        job_kind: get(r, "job_kind")?,
        next_due: from_ms(get(r, "next_due")?),
        last_due: get::<Option<i64>>(r, "last_due")?.map(from_ms),
        last_job: get(r, "last_job")?,
        runs: u64::try_from(get::<i64>(r, "runs")?).unwrap_or_default(),
        skipped: u64::try_from(get::<i64>(r, "skipped")?).unwrap_or_default(),
    })
}

#[async_trait]
impl ScheduleRepo for SqlRepo {
    async fn register_schedule(
        &self,
        def: &ScheduleDef,
        first_due: OffsetDateTime,
        pull_forward: bool,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO schedules (name, every, misfire, job_kind, next_due, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$6) ON CONFLICT (name) DO UPDATE SET \
             next_due = CASE WHEN schedules.every <> excluded.every THEN excluded.next_due \
             WHEN $7 AND excluded.next_due < schedules.next_due THEN excluded.next_due \
             ELSE schedules.next_due END, every = excluded.every, misfire = excluded.misfire, \
             job_kind = excluded.job_kind, updated_at = excluded.updated_at",
        )
        .bind(&def.name)
        .bind(&def.every)
        .bind(&def.misfire)
        .bind(&def.job_kind)
        .bind(ms(first_due))
        .bind(ms(cityx_core::now()))
        .bind(pull_forward)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("register a periodic task", "schedule", e))?;
        Ok(())
    }

    async fn due_schedules(&self, now: OffsetDateTime) -> Result<Vec<ScheduleRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM schedules WHERE next_due <= $1 ORDER BY next_due, name"
        ))
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list due tasks", "schedule", e))?;
        rows.iter().map(schedule_from).collect()
    }

    async fn fire_schedule(
        &self,
        name: &str,
        due: OffsetDateTime,
        next: OffsetDateTime,
        job: Option<&NewJob>,
    ) -> Result<Option<bool>> {
        let mut tx = self.begin().await?;
        let busy: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM schedules s JOIN jobs j ON j.id = s.last_job \
             WHERE s.name = $1 AND j.state IN ('queued', 'running')",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("look at a task's last run", "schedule", e))?;
        let job = job.filter(|_| busy == 0);
        let moved = sqlx::query(
            "UPDATE schedules SET next_due = $1, last_due = $2, \
             last_job = COALESCE($3, last_job), runs = runs + $4, skipped = skipped + $5, \
             updated_at = $6 WHERE name = $7 AND next_due = $2",
        )
        .bind(ms(next))
        .bind(ms(due))
        .bind(job.map(|j| j.id.to_string()))
        .bind(i64::from(job.is_some()))
        .bind(i64::from(job.is_none()))
        .bind(ms(cityx_core::now()))
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("move a task on", "schedule", e))?;
        if moved.rows_affected() != 1 {
            return Ok(None);
        }
        if let Some(job) = job {
            super::jobs::insert_job(&mut *tx, job).await?;
        }
        commit(tx).await.map(|()| Some(job.is_some()))
    }

    async fn list_schedules(&self) -> Result<Vec<ScheduleRow>> {
        let rows = sqlx::query(&format!("SELECT {COLS} FROM schedules ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("list periodic tasks", "schedule", e))?;
        rows.iter().map(schedule_from).collect()
    }
}

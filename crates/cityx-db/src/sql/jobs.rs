//! The jobs table as a queue: claims by compare-and-set with a fencing token, so that two
//! workers never both own a job and a worker that lost its lease cannot write.

use super::rows::{ms, parse, parse_opt};
use super::{Backend, SqlRepo, commit};
use crate::model::{ClaimedJob, DeadJob, JobClaim, JobOutcome, JobSummary, NewJob};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::{AssetId, JobId};
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

/// The generic job queue: enqueue, claim (compare-and-set with a fencing token), lease,
/// retry, dead. It knows nothing of what jobs do; their writes are fenced by the same token
/// (see [`PipelineRepo`](crate::PipelineRepo)).
#[async_trait]
pub trait QueueRepo: Send + Sync {
    /// Signals `wake` whenever a job becomes runnable anywhere (PostgreSQL's `LISTEN` on the
    /// channel a trigger notifies), reconnecting after errors; runs until dropped. Returns
    /// at once on SQLite, where the runner's poll covers other processes.
    async fn relay_job_wakeups(&self, wake: std::sync::Arc<tokio::sync::Notify>);
    /// Takes the next runnable job of these kinds (queued and due, or running with an
    /// expired lease), preferring stations with the fewest running jobs. Every claim bumps
    /// the fencing token and counts an attempt.
    async fn claim_job(
        &self,
        kinds: &[&str],
        owner: &str,
        lease_until: time::OffsetDateTime,
    ) -> Result<Option<ClaimedJob>>;
    /// Takes job `id` if it is runnable (queued and due, or running with an expired lease),
    /// as [`QueueRepo::claim_job`] would; else says why not.
    async fn claim_job_by_id(
        &self,
        id: cityx_core::JobId,
        owner: &str,
        lease_until: time::OffsetDateTime,
    ) -> Result<JobClaim>;
    /// Extends a lease and records progress; false when the lease is no longer ours.
    async fn heartbeat_job(
        &self,
        job: &ClaimedJob,
        lease_until: time::OffsetDateTime,
        progress: u32,
    ) -> Result<bool>;
    /// Records how an attempt ended; false when the lease is no longer ours.
    async fn finish_job(&self, job: &ClaimedJob, outcome: &JobOutcome) -> Result<bool>;
    /// A job's kind, state and attempts; `None` for an unknown id.
    async fn get_job(&self, id: cityx_core::JobId) -> Result<Option<JobSummary>>;
    async fn enqueue_job(&self, job: &NewJob) -> Result<()>;
    /// Puts a dead job back in the queue with fresh attempts; a failed item it belongs to
    /// is processing again.
    async fn requeue_job(&self, id: cityx_core::JobId) -> Result<()>;
    /// The most recent dead jobs, newest first.
    async fn dead_jobs(&self, limit: u32) -> Result<Vec<DeadJob>>;
}

/// Enqueues a job on any executor (a transaction, to go with the change it follows).
pub(crate) async fn insert_job<'e, E: sqlx::Executor<'e, Database = Any>>(
    ex: E,
    job: &NewJob,
) -> Result<()> {
    let now = ms(cityx_core::now());
    sqlx::query(
        "INSERT INTO jobs (id, kind, subject_type, subject_id, station_id, payload, state, \
         attempts, max_attempts, run_at, fence, progress, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,'queued',0,$7,$8,0,0,$9,$9)",
    )
    .bind(job.id.to_string())
    .bind(job.kind)
    .bind(job.subject.as_ref().map_or("", |s| s.kind.as_str()))
    .bind(job.subject.as_ref().map(|s| s.id.as_str()))
    .bind(job.station_id.map(|s| s.to_string()))
    .bind(job.payload.to_string())
    .bind(i64::from(job.max_attempts))
    .bind(ms(job.run_at))
    .bind(now)
    .execute(ex)
    .await
    .map_err(|e| Error::from_sqlx("enqueue a job", "job", e))?;
    Ok(())
}

/// Proves, inside `tx`, that `job` still holds its lease, and holds the job's row until the
/// transaction ends (the update takes the row lock on PostgreSQL; SQLite writers are
/// serialised anyway), so no other worker can claim it between the check and the writes.
/// Returns the job's asset; `None` when the lease was lost.
pub(crate) async fn fence(
    tx: &mut Transaction<'static, Any>,
    job: &ClaimedJob,
) -> Result<Option<AssetId>> {
    let held = sqlx::query(
        "UPDATE jobs SET updated_at = $1 WHERE id = $2 AND fence = $3 AND state = 'running'",
    )
    .bind(ms(cityx_core::now()))
    .bind(job.id.to_string())
    .bind(super::rows::fence(job.fence))
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("check a job's lease", "job", e))?;
    if held.rows_affected() != 1 {
        return Ok(None);
    }
    job.asset_id().map(Some).ok_or(Error::Corrupt {
        what: "job without an asset",
        value: job.id.to_string(),
    })
}

/// Puts a dead job back in the queue with a fresh round of attempts, due now; returns 1, or 0
/// when the job is not dead.
pub(crate) async fn requeue_dead(tx: &mut Transaction<'static, Any>, id: JobId) -> Result<u64> {
    let now = ms(cityx_core::now());
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = 0, sent_attempt = 0, run_at = $1, \
         updated_at = $1 WHERE id = $2 AND state = 'dead'",
    )
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("requeue a job", "job", e))?;
    Ok(done.rows_affected())
}

/// The columns of a [`crate::JobSummary`], as [`SummaryRow`] reads them.
pub(crate) const SUMMARY_COLS: &str = "kind, state, attempts, progress, last_error";
pub(crate) type SummaryRow = (String, String, i64, i64, Option<String>);

pub(crate) fn summary(
    (kind, state, attempts, progress, last_error): SummaryRow,
) -> crate::JobSummary {
    crate::JobSummary {
        kind,
        state,
        attempts: u32::try_from(attempts).unwrap_or_default(),
        progress: u32::try_from(progress.clamp(0, 100)).unwrap_or_default(),
        last_error,
    }
}

/// A job's subject from its two columns: none when the type is empty.
fn subject(kind: Option<String>, id: Option<String>) -> Option<cityx_core::subject::Subject> {
    match (kind, id) {
        (Some(kind), Some(id)) if !kind.is_empty() => {
            Some(cityx_core::subject::Subject { kind, id })
        }
        _ => None,
    }
}

/// Fair share, for a query over `jobs j` with the time in `$1`: stations with fewer running
/// jobs first, then the oldest due job.
pub(crate) const FAIR_ORDER: &str = "(SELECT COUNT(*) FROM jobs r WHERE r.state = 'running' \
     AND r.lease_until >= $1 AND r.station_id = j.station_id), j.run_at, j.id";

#[async_trait]
impl QueueRepo for SqlRepo {
    async fn relay_job_wakeups(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        if self.backend != Backend::Postgres {
            return;
        }
        loop {
            match sqlx::postgres::PgListener::connect(&self.url).await {
                Ok(mut listener) => match listener.listen("cityx_jobs").await {
                    // `recv` reconnects by itself after a lost connection.
                    Ok(()) => loop {
                        match listener.recv().await {
                            Ok(_) => wake.notify_one(),
                            Err(e) => {
                                tracing::warn!(error = %e, "job wake-ups stopped; polling meanwhile");
                                break;
                            }
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "cannot listen for job wake-ups"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot connect for job wake-ups"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    }

    async fn claim_job(
        &self,
        kinds: &[&str],
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Option<ClaimedJob>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = ms(cityx_core::now());
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        // Fair share: stations with fewer running jobs first, then the oldest due job.
        // PostgreSQL passes over rows that another worker is claiming (`SKIP LOCKED`), so
        // workers on many nodes do not queue on one row; SQLite has one writer anyway and
        // tries a few candidates without a transaction. Either way the claim itself is a
        // compare-and-set.
        let (limit, lock) = match self.backend {
            Backend::Postgres => (1, " FOR UPDATE OF j SKIP LOCKED"),
            Backend::Sqlite => (8, ""),
        };
        let sql = format!(
            "SELECT j.id FROM jobs j WHERE j.kind IN ({}) \
             AND ((j.state = 'queued' AND j.run_at <= $1) OR (j.state = 'running' AND j.lease_until < $1)) \
             ORDER BY {FAIR_ORDER} LIMIT {limit}{lock}",
            placeholders.join(", ")
        );
        let runnable = || {
            let mut q = sqlx::query_scalar::<_, String>(&sql).bind(now);
            for k in kinds {
                q = q.bind(*k);
            }
            q
        };
        let list = |e| Error::from_sqlx("list runnable jobs", "job", e);
        if self.backend == Backend::Postgres {
            let mut tx = self.begin().await?;
            let ids = runnable().fetch_all(&mut *tx).await.map_err(list)?;
            let claimed = match ids.first() {
                Some(id) => claim(&mut *tx, id, owner, lease_until, now).await?,
                None => None,
            };
            commit(tx).await?;
            return Ok(claimed);
        }
        for id in runnable().fetch_all(&self.pool).await.map_err(list)? {
            // Another worker may win one: then try the next.
            if let Some(job) = claim(&self.pool, &id, owner, lease_until, now).await? {
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    async fn claim_job_by_id(
        &self,
        id: JobId,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<JobClaim> {
        let now = ms(cityx_core::now());
        if let Some(job) = claim(&self.pool, &id.to_string(), owner, lease_until, now).await? {
            return Ok(JobClaim::Claimed(job));
        }
        let row: Option<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT state, run_at, lease_until FROM jobs WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| Error::from_sqlx("read a job", "job", e))?;
        Ok(match row {
            Some((state, _, Some(until))) if state == "running" => JobClaim::Running {
                until: super::rows::from_ms(until),
            },
            Some((state, at, _)) if state == "queued" => JobClaim::NotDue {
                at: super::rows::from_ms(at),
            },
            _ => JobClaim::Finished,
        })
    }

    async fn heartbeat_job(
        &self,
        job: &ClaimedJob,
        lease_until: OffsetDateTime,
        progress: u32,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1, progress = $2, updated_at = $3 \
             WHERE id = $4 AND fence = $5 AND state = 'running'",
        )
        .bind(ms(lease_until))
        .bind(i64::from(progress.min(100)))
        .bind(ms(cityx_core::now()))
        .bind(job.id.to_string())
        .bind(super::rows::fence(job.fence))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("renew a job lease", "job", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(&self, job: &ClaimedJob, outcome: &JobOutcome) -> Result<bool> {
        let (state, run_at, error, progress) = match outcome {
            JobOutcome::Succeeded => ("succeeded", None, None, Some(100)),
            JobOutcome::Retry { error, run_at } => {
                ("queued", Some(ms(*run_at)), Some(error.as_str()), None)
            }
            JobOutcome::Dead { error } => ("dead", None, Some(error.as_str()), None),
        };
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, run_at = COALESCE($2, run_at), last_error = COALESCE($3, last_error), \
             progress = COALESCE($4, progress), lease_owner = NULL, lease_until = NULL, updated_at = $5 \
             WHERE id = $6 AND fence = $7 AND state = 'running'",
        )
        .bind(state)
        .bind(run_at)
        .bind(error)
        .bind(progress)
        .bind(ms(cityx_core::now()))
        .bind(job.id.to_string())
        .bind(super::rows::fence(job.fence))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("finish a job", "job", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_job(&self, id: JobId) -> Result<Option<crate::JobSummary>> {
        let row: Option<SummaryRow> =
            sqlx::query_as(&format!("SELECT {SUMMARY_COLS} FROM jobs WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| Error::from_sqlx("read a job", "job", e))?;
        Ok(row.map(summary))
    }

    async fn enqueue_job(&self, job: &crate::NewJob) -> Result<()> {
        super::jobs::insert_job(&self.pool, job).await
    }

    async fn requeue_job(&self, id: JobId) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = ms(cityx_core::now());
        let deleted: Option<i64> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM assets \
             WHERE deleted_at IS NOT NULL AND id = (SELECT subject_id FROM jobs \
             WHERE id = $1 AND subject_type = 'asset')",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read a job's asset", "job", e))?;
        if deleted.unwrap_or(0) > 0 {
            return Err(Error::WrongState {
                entity: "asset",
                state: "deleted".into(),
            });
        }
        super::not_found_unless(requeue_dead(&mut tx, id).await?, "job")?;
        sqlx::query(
            "UPDATE assets SET status = 'processing', failure = NULL, updated_at = $1 \
             WHERE status = 'failed' AND id = (SELECT subject_id FROM jobs \
             WHERE id = $2 AND subject_type = 'asset')",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("reopen a failed asset", "asset", e))?;
        super::commit(tx).await
    }

    async fn dead_jobs(&self, limit: u32) -> Result<Vec<crate::DeadJob>> {
        type Row = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, subject_type, subject_id, station_id, attempts, last_error, updated_at FROM jobs \
                 WHERE state = 'dead' ORDER BY updated_at DESC, id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list dead jobs", "job", e))?;
        rows.into_iter()
            .map(
                |(job, kind, subject_type, subject_id, station, attempts, last_error, at)| {
                    Ok(crate::DeadJob {
                        id: parse("job id", job)?,
                        kind,
                        subject: subject(Some(subject_type), subject_id),
                        station_id: parse_opt("station id", station)?,
                        attempts: u32::try_from(attempts).unwrap_or_default(),
                        last_error,
                        updated_at: super::rows::from_ms(at),
                    })
                },
            )
            .collect()
    }
}

/// Claims job `id` for `owner` if it is still runnable at `now` (compare-and-set).
async fn claim<'e, E: sqlx::Executor<'e, Database = Any>>(
    ex: E,
    id: &str,
    owner: &str,
    lease_until: OffsetDateTime,
    now: i64,
) -> Result<Option<ClaimedJob>> {
    let row = sqlx::query(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, \
         fence = fence + 1, attempts = attempts + 1, updated_at = $3 \
         WHERE id = $4 AND ((state = 'queued' AND run_at <= $3) OR (state = 'running' AND lease_until < $3)) \
         RETURNING id, kind, subject_type, subject_id, station_id, payload, attempts, max_attempts, fence",
    )
    .bind(owner)
    .bind(ms(lease_until))
    .bind(now)
    .bind(id)
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::from_sqlx("claim a job", "job", e))?;
    let Some(r) = row else { return Ok(None) };
    let get_s = |c: &str| {
        r.try_get::<Option<String>, _>(c).map_err(|e| Error::Query {
            context: "decode a job",
            source: e,
        })
    };
    let get_i = |c: &str| {
        r.try_get::<i64, _>(c).map_err(|e| Error::Query {
            context: "decode a job",
            source: e,
        })
    };
    Ok(Some(ClaimedJob {
        id: parse("job id", get_s("id")?.unwrap_or_default())?,
        kind: get_s("kind")?.unwrap_or_default(),
        subject: subject(get_s("subject_type")?, get_s("subject_id")?),
        // A payload that does not parse must not stop every claim after it: the job is
        // handed over with none, and its handler refuses it.
        payload: {
            let p = get_s("payload")?.unwrap_or_default();
            serde_json::from_str(&p).unwrap_or_else(|_| {
                tracing::warn!(job = %id, "a job's payload is not JSON; handed over without it");
                serde_json::Value::Null
            })
        },
        station_id: parse_opt("station id", get_s("station_id")?)?,
        attempts: u32::try_from(get_i("attempts")?).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(get_i("max_attempts")?).unwrap_or_default(),
        fence: u64::try_from(get_i("fence")?).unwrap_or_default(),
    }))
}

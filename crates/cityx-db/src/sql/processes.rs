//! Supervised processes: the durable list of what should run for hours, and the leases by
//! which one node at a time runs each (see `cityx_core::process`). The trait, its types, its
//! SQL and its row mapping live here together.

use super::rows::{from_ms, get, ms, parse, parse_opt, scope_args};
use super::{SqlRepo, commit, found, not_found_unless, write_audit};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::process::{Desired, Process, ProcessState, Subject};
use cityx_core::{NewAudit, ProcessId, StationId, TenantScope};
use sqlx::any::AnyRow;
use time::OffsetDateTime;

/// A process to supervise.
#[derive(Clone, Debug)]
pub struct NewProcess {
    pub id: ProcessId,
    /// The registered kind that runs it. Stored data: never renamed.
    pub kind: String,
    pub subject: Subject,
    pub station_id: Option<StationId>,
    pub spec: serde_json::Value,
}

/// A process a node holds. `fence` proves the lease, as a job's does.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedProcess {
    pub id: ProcessId,
    pub kind: String,
    pub subject: Subject,
    pub station_id: Option<StationId>,
    pub spec: serde_json::Value,
    pub restarts: u32,
    pub fence: u64,
}

/// What the holding node reports with each renewal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessReport {
    /// `Running` or `Backoff` while held.
    pub state: Option<ProcessState>,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub log: Vec<String>,
    pub started_at: Option<OffsetDateTime>,
}

/// The processes table.
#[async_trait]
pub trait ProcessRepo: Send + Sync {
    /// Adds a process that should run. One process per kind and subject: a second is
    /// `Conflict { field: "subject" }`.
    async fn insert_process(&self, process: &NewProcess) -> Result<()>;
    /// Says whether a process should run, with its audit entry. Asking a stopped (or
    /// finished) process to run makes it pending again with its restarts counted from zero;
    /// stopping one that no node holds makes it stopped at once.
    async fn set_process_desired(
        &self,
        scope: TenantScope,
        id: ProcessId,
        desired: Desired,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn get_process(&self, scope: TenantScope, id: ProcessId) -> Result<Process>;
    /// The caller's station's processes (all for the hub), of one kind or all, oldest first.
    async fn list_processes(
        &self,
        scope: TenantScope,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Process>>;
    /// Removes a process that is not held by a node (stop it first): `WrongState` otherwise.
    async fn delete_process(&self, scope: TenantScope, id: ProcessId) -> Result<()>;
    /// Takes a process of these kinds that should run and that no node holds (or whose
    /// holder's lease has run out): bumps the fence and marks it running on `owner`.
    async fn claim_process(
        &self,
        kinds: &[&str],
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Option<ClaimedProcess>>;
    /// Extends the lease and records the report; returns what the process should now do,
    /// or `None` when the lease is no longer this node's.
    async fn renew_process(
        &self,
        process: &ClaimedProcess,
        lease_until: OffsetDateTime,
        report: &ProcessReport,
    ) -> Result<Option<Desired>>;
    /// Lets go of a held process, leaving it in `state` (`Pending` for another node to take
    /// at once, `Stopped`, or `Finished`, which also sets it not to run). False when the
    /// lease was no longer this node's.
    async fn release_process(
        &self,
        process: &ClaimedProcess,
        state: ProcessState,
        report: &ProcessReport,
    ) -> Result<bool>;
}

const COLS: &str = "id, kind, subject_type, subject_id, station_id, spec, desired, state, owner, \
                    lease_until, pid, restarts, last_error, log, started_at, created_at, updated_at";

/// A row's `spec` column.
fn spec_from(r: &AnyRow) -> Result<serde_json::Value> {
    let spec: String = get(r, "spec")?;
    serde_json::from_str(&spec).map_err(|_| Error::Corrupt {
        what: "process spec",
        value: spec,
    })
}

fn process_from(r: &AnyRow) -> Result<Process> {
    let log: String = get(r, "log")?;
    let now = cityx_core::now();
    // A lease that ran out means no node holds it, whatever the row still says.
    let held = get::<Option<i64>>(r, "lease_until")?.is_some_and(|t| from_ms(t) >= now);
    let mut state: ProcessState = parse("process state", get(r, "state")?)?;
    if !held && state == ProcessState::Running {
        state = ProcessState::Pending;
    }
    Ok(Process {
        id: parse("process id", get(r, "id")?)?,
        kind: get(r, "kind")?,
        subject: Subject {
            kind: get(r, "subject_type")?,
            id: get(r, "subject_id")?,
        },
        station_id: parse_opt("station id", get(r, "station_id")?)?,
        spec: spec_from(r)?,
        desired: parse("desired state", get(r, "desired")?)?,
        state,
        node: get::<Option<String>>(r, "owner")?.filter(|_| held),
        pid: get::<Option<i64>>(r, "pid")?
            .filter(|_| held)
            .and_then(|p| u32::try_from(p).ok()),
        restarts: u32::try_from(get::<i64>(r, "restarts")?).unwrap_or_default(),
        last_error: get(r, "last_error")?,
        log: serde_json::from_str(&log).unwrap_or_default(),
        started_at: get::<Option<i64>>(r, "started_at")?.map(from_ms),
        created_at: from_ms(get(r, "created_at")?),
        updated_at: from_ms(get(r, "updated_at")?),
    })
}

fn log_json(report: &ProcessReport) -> String {
    serde_json::to_string(&report.log).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl ProcessRepo for SqlRepo {
    async fn insert_process(&self, p: &NewProcess) -> Result<()> {
        let now = ms(cityx_core::now());
        sqlx::query(
            "INSERT INTO processes (id, kind, subject_type, subject_id, station_id, spec, desired, \
             state, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,'running','pending',$7,$7)",
        )
        .bind(p.id.to_string())
        .bind(&p.kind)
        .bind(&p.subject.kind)
        .bind(&p.subject.id)
        .bind(p.station_id.map(|s| s.to_string()))
        .bind(p.spec.to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match Error::from_sqlx("add a process", "process", e) {
            Error::Conflict { entity, .. } => Error::Conflict {
                entity,
                field: "subject".into(),
            },
            other => other,
        })?;
        Ok(())
    }

    async fn set_process_desired(
        &self,
        scope: TenantScope,
        id: ProcessId,
        desired: Desired,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE processes SET desired = $1, updated_at = $2, \
             restarts = CASE WHEN desired = 'stopped' AND $1 = 'running' THEN 0 ELSE restarts END, \
             state = CASE WHEN $1 = 'running' AND state IN ('stopped','finished') THEN 'pending' \
             WHEN $1 = 'stopped' AND (lease_until IS NULL OR lease_until < $2) THEN 'stopped' \
             ELSE state END \
             WHERE id = $3 AND ($4 OR station_id = $5)",
        )
        .bind(desired.as_str())
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("set a process's desired state", "process", e))?;
        not_found_unless(done.rows_affected(), "process")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_process(&self, scope: TenantScope, id: ProcessId) -> Result<Process> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM processes WHERE id = $1 AND ($2 OR station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a process", "process", e))?;
        found(row, process_from, "process")
    }

    async fn list_processes(
        &self,
        scope: TenantScope,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Process>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM processes WHERE ($1 OR station_id = $2) \
             AND ($3 IS NULL OR kind = $3) ORDER BY id LIMIT $4"
        ))
        .bind(all)
        .bind(own)
        .bind(kind)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list processes", "process", e))?;
        rows.iter().map(process_from).collect()
    }

    async fn delete_process(&self, scope: TenantScope, id: ProcessId) -> Result<()> {
        let (all, own) = scope_args(scope);
        let done = sqlx::query(
            "DELETE FROM processes WHERE id = $1 AND ($2 OR station_id = $3) \
             AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(id.to_string())
        .bind(all)
        .bind(own.clone())
        .bind(ms(cityx_core::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("remove a process", "process", e))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Held by a node, or not there at all.
        let p = self.get_process(scope, id).await?;
        Err(Error::WrongState {
            entity: "process",
            state: p.state.as_str().into(),
        })
    }

    async fn claim_process(
        &self,
        kinds: &[&str],
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Option<ClaimedProcess>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = ms(cityx_core::now());
        let list: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id FROM processes WHERE desired = 'running' \
             AND (lease_until IS NULL OR lease_until < $1) AND kind IN ({}) \
             ORDER BY updated_at, id LIMIT 8",
            list.join(", ")
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql).bind(now);
        for k in kinds {
            q = q.bind(*k);
        }
        let ids = q
            .fetch_all(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("list processes to run", "process", e))?;
        for id in ids {
            // Compare-and-set: another node may win this one; then try the next.
            let row = sqlx::query(
                "UPDATE processes SET owner = $1, lease_until = $2, fence = fence + 1, \
                 state = 'running', pid = NULL, updated_at = $3 \
                 WHERE id = $4 AND desired = 'running' AND (lease_until IS NULL OR lease_until < $3) \
                 RETURNING id, kind, subject_type, subject_id, station_id, spec, restarts, fence",
            )
            .bind(owner)
            .bind(ms(lease_until))
            .bind(now)
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("claim a process", "process", e))?;
            let Some(r) = row else { continue };
            return Ok(Some(ClaimedProcess {
                id: parse("process id", get(&r, "id")?)?,
                kind: get(&r, "kind")?,
                subject: Subject {
                    kind: get(&r, "subject_type")?,
                    id: get(&r, "subject_id")?,
                },
                station_id: parse_opt("station id", get(&r, "station_id")?)?,
                spec: spec_from(&r)?,
                restarts: u32::try_from(get::<i64>(&r, "restarts")?).unwrap_or_default(),
                fence: u64::try_from(get::<i64>(&r, "fence")?).unwrap_or_default(),
            }));
        }
        Ok(None)
    }

    async fn renew_process(
        &self,
        p: &ClaimedProcess,
        lease_until: OffsetDateTime,
        report: &ProcessReport,
    ) -> Result<Option<Desired>> {
        let desired: Option<String> = sqlx::query_scalar(
            "UPDATE processes SET lease_until = $1, state = COALESCE($2, state), pid = $3, \
             restarts = $4, last_error = $5, log = $6, started_at = $7, updated_at = $8 \
             WHERE id = $9 AND fence = $10 RETURNING desired",
        )
        .bind(ms(lease_until))
        .bind(report.state.map(ProcessState::as_str))
        .bind(report.pid.map(i64::from))
        .bind(i64::from(report.restarts))
        .bind(report.last_error.as_deref())
        .bind(log_json(report))
        .bind(report.started_at.map(ms))
        .bind(ms(cityx_core::now()))
        .bind(p.id.to_string())
        .bind(super::rows::fence(p.fence))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("renew a process's lease", "process", e))?;
        desired.map(|d| parse("desired state", d)).transpose()
    }

    async fn release_process(
        &self,
        p: &ClaimedProcess,
        state: ProcessState,
        report: &ProcessReport,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE processes SET owner = NULL, lease_until = NULL, pid = NULL, state = $1, \
             desired = CASE WHEN $1 = 'finished' THEN 'stopped' ELSE desired END, \
             restarts = $2, last_error = $3, log = $4, updated_at = $5 \
             WHERE id = $6 AND fence = $7",
        )
        .bind(state.as_str())
        .bind(i64::from(report.restarts))
        .bind(report.last_error.as_deref())
        .bind(log_json(report))
        .bind(ms(cityx_core::now()))
        .bind(p.id.to_string())
        .bind(super::rows::fence(p.fence))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("release a process", "process", e))?;
        Ok(done.rows_affected() == 1)
    }
}

-- One job spine: a job names its subject by type and id (an item, a webhook delivery, a
-- channel, or none for periodic work) and carries a JSON payload, instead of being tied to
-- items by `asset_id`. Keep in step with the other backend's 0016_job_subjects.sql.
--
-- SQLite cannot drop a column that a foreign key names, so the table is rebuilt. Nothing
-- references `jobs`.

CREATE TABLE jobs_new (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    -- `asset`, `webhook_delivery`, …; '' when the job is about nothing in particular.
    subject_type TEXT NOT NULL DEFAULT '',
    subject_id   TEXT,
    -- Fair shares are taken by station.
    station_id   TEXT,
    payload      TEXT NOT NULL DEFAULT '{}',
    state        TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    fence        INTEGER NOT NULL DEFAULT 0,
    progress     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    sent_attempt INTEGER NOT NULL DEFAULT 0,
    sent_at      INTEGER
);

INSERT INTO jobs_new (id, kind, subject_type, subject_id, station_id, state, attempts,
    max_attempts, run_at, lease_owner, lease_until, fence, progress, last_error, created_at,
    updated_at, sent_attempt, sent_at)
SELECT id, kind,
    CASE WHEN asset_id IS NOT NULL THEN 'asset' WHEN kind = 'webhook' THEN 'webhook_delivery' ELSE '' END,
    CASE WHEN asset_id IS NOT NULL THEN asset_id WHEN kind = 'webhook' THEN id END,
    station_id, state, attempts, max_attempts, run_at, lease_owner, lease_until, fence,
    progress, last_error, created_at, updated_at, sent_attempt, sent_at
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_by_subject ON jobs (subject_type, subject_id);

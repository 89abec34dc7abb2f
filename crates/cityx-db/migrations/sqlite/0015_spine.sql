-- The spine's durable state besides jobs: supervised long-running processes, the
-- scheduler's periodic tasks and the event log's subscribers. Keep in step with the other backend's 0015_spine.sql.

-- What should run for hours (an ingest, a relay, a recording, a playout channel), and
-- which node runs it. A node claims a row whose lease has run out by compare-and-set on
-- `fence`; every later write names the fence, so a node that lost its lease writes nothing.
CREATE TABLE processes (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    station_id   TEXT REFERENCES stations (id),
    spec         TEXT NOT NULL DEFAULT '{}',
    desired      TEXT NOT NULL CHECK (desired IN ('running','stopped')),
    state        TEXT NOT NULL CHECK (state IN ('pending','running','backoff','stopped','finished')),
    owner        TEXT,
    lease_until  INTEGER,
    fence        INTEGER NOT NULL DEFAULT 0,
    pid          INTEGER,
    restarts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    -- The last log lines, as a JSON array of strings.
    log          TEXT NOT NULL DEFAULT '[]',
    started_at   INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (kind, subject_type, subject_id)
);
CREATE INDEX processes_to_claim ON processes (desired, lease_until);
CREATE INDEX processes_by_station ON processes (station_id);

-- Periodic tasks. Each due time fires once across the cluster: the node that moves
-- `next_due` on by compare-and-set enqueues the task's job in the same transaction.
CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    every      TEXT NOT NULL,
    misfire    TEXT NOT NULL CHECK (misfire IN ('run_once','skip')),
    job_kind   TEXT NOT NULL,
    next_due   INTEGER NOT NULL,
    last_due   INTEGER,
    -- The job of the last run (none while it never ran, or when it was skipped).
    last_job   TEXT,
    runs       INTEGER NOT NULL DEFAULT 0,
    skipped    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Consumers of the event log (webhook deliveries, notices, distribution rules, alerts), each
-- with its own durable cursor: the last event it handled. One node at a time feeds a
-- consumer, under a lease fenced like a job's, so events reach it in order.
CREATE TABLE event_subscribers (
    name        TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    owner       TEXT,
    lease_until INTEGER,
    fence       INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

-- Webhook deliveries follow the event log through a subscriber from here on (until now each
-- event made its own in its transaction): it starts after the last event, so nothing is
-- missed or sent twice while nodes of both versions run.
INSERT INTO event_subscribers (name, seq, updated_at)
    SELECT 'webhook_deliveries', seq, 0 FROM event_head WHERE id = 1;

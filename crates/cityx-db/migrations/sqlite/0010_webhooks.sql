-- Webhooks: a station's systems told of events by signed HTTP POSTs. Keep in step with the
-- other backend's 0010_webhooks.sql.

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    station_id TEXT NOT NULL REFERENCES stations (id),
    url        TEXT NOT NULL,
    -- The HMAC-SHA-256 key, shown to the station once. It must be readable to sign with.
    secret     TEXT NOT NULL,
    -- Event kinds sent, separated by spaces; empty: all.
    kinds      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX webhooks_by_station ON webhooks (station_id, deleted_at);

-- One event to one webhook. The id is the id of the job that sends it.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id),
    event_seq       INTEGER NOT NULL REFERENCES events (seq),
    event_kind      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending','delivered','failed','skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (webhook_id, event_seq)
);

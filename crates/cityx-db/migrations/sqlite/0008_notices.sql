-- Events (the member feed and, later, webhooks), correction and withdrawal notices, and the
-- daily statistics. Keep in step with the other backend's 0008_notices.sql.

-- The last event number handed out. Taking a number locks this row until the transaction
-- ends, so events commit in the order of their numbers and a reader that has seen number n
-- can never later find a smaller one appear (the feed's "no gaps").
CREATE TABLE event_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    asset_id   TEXT REFERENCES assets (id),
    -- The station the event is about (an item's contributor, an adoption's adopter).
    station_id TEXT NOT NULL REFERENCES stations (id),
    -- The one other station it is for; NULL: every station that may see the item.
    audience   TEXT REFERENCES stations (id),
    data       TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX events_by_audience ON events (audience, seq);
CREATE INDEX events_by_station ON events (station_id, seq);

-- A correction or withdrawal told to a station that adopted the item; it must acknowledge.
CREATE TABLE notices (
    id              TEXT PRIMARY KEY,
    asset_id        TEXT NOT NULL REFERENCES assets (id),
    asset_title     TEXT NOT NULL,
    contributor_id  TEXT NOT NULL REFERENCES stations (id),
    station_id      TEXT NOT NULL REFERENCES stations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('correction','withdrawal')),
    message         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT REFERENCES users (id)
);
CREATE INDEX notices_by_station ON notices (station_id, id);
CREATE INDEX notices_by_contributor ON notices (contributor_id, id);
CREATE INDEX notices_by_asset ON notices (asset_id, id);

-- Statistics kept as aggregates, updated in the transaction of the event they count.
-- day: days since 1970-01-01 in Beijing time (UTC+8).
CREATE TABLE stats_daily (
    day                INTEGER NOT NULL,
    station_id         TEXT NOT NULL REFERENCES stations (id),
    contributions      INTEGER NOT NULL DEFAULT 0,
    adoptions_made     INTEGER NOT NULL DEFAULT 0,
    adoptions_received INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, station_id)
);

-- Top items of a period count the ledger's adoptions in it.
CREATE INDEX adoptions_by_time ON adoptions (at);

-- What happened before this migration: items that are ready were published, and the
-- ledger's adoptions were made, on the days they were recorded.
INSERT INTO events (seq, kind, asset_id, station_id, audience, data, at)
SELECT ROW_NUMBER() OVER (ORDER BY updated_at, id), 'item.published', id, station_id, NULL,
       '{}', updated_at
FROM assets WHERE status = 'ready' AND purged_at IS NULL;
INSERT INTO event_head (id, seq) SELECT 1, COUNT(*) FROM events;

INSERT INTO stats_daily (day, station_id, contributions)
SELECT (updated_at + 28800000) / 86400000, station_id, COUNT(*)
FROM assets WHERE status = 'ready' AND purged_at IS NULL
GROUP BY (updated_at + 28800000) / 86400000, station_id;
INSERT INTO stats_daily (day, station_id, adoptions_made)
SELECT (at + 28800000) / 86400000, station_id, COUNT(*) FROM adoptions
GROUP BY (at + 28800000) / 86400000, station_id
ON CONFLICT (day, station_id) DO UPDATE SET adoptions_made = excluded.adoptions_made;
INSERT INTO stats_daily (day, station_id, adoptions_received)
SELECT (at + 28800000) / 86400000, contributor_id, COUNT(*) FROM adoptions
GROUP BY (at + 28800000) / 86400000, contributor_id
ON CONFLICT (day, station_id) DO UPDATE SET adoptions_received = excluded.adoptions_received;

-- Live channels: a station's live signal, published with a stream key and watched as HLS.
-- Keep in step with the other backend's 0019_live.sql.

CREATE TABLE live_channels (
    id             TEXT COLLATE "C" PRIMARY KEY,
    station_id     TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    visibility     TEXT NOT NULL CHECK (visibility IN ('private','stations','exchange','public')),
    -- Station ids separated by spaces, when visibility is 'stations'.
    shared_with    TEXT NOT NULL DEFAULT '',
    max_kbps       BIGINT NOT NULL DEFAULT 0,
    max_height     BIGINT NOT NULL DEFAULT 0,
    -- Broadcasts are recorded into items (1) or not (0).
    record         BIGINT NOT NULL DEFAULT 0,
    dvr_minutes    BIGINT NOT NULL,
    -- SHA-256 of the stream key (hex); the key itself is shown once.
    key_hash       TEXT NOT NULL UNIQUE,
    key_hint       TEXT NOT NULL,
    key_rotated_at BIGINT NOT NULL,
    -- The publishing session that holds the channel, its node and until when (a lease that
    -- the ingest renews with each health report; a dead node's runs out).
    session        TEXT,
    node           TEXT,
    held_until     BIGINT,
    live_since     BIGINT,
    -- The last health report (JSON), kept after the session ends.
    health         TEXT,
    created_by     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);
CREATE INDEX live_channels_by_station ON live_channels (station_id, deleted_at);

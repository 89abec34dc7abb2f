-- Ingest: assets, resumable uploads, jobs, and station quotas.
-- Keep in step with the other backend's 0002_ingest.sql.

-- NULL: no quota.
ALTER TABLE stations ADD COLUMN quota_bytes BIGINT;

CREATE TABLE assets (
    id            TEXT COLLATE "C" PRIMARY KEY,
    station_id    TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    uploader_id   TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    status        TEXT NOT NULL CHECK (status IN
                  ('uploading','processing','ready','failed','rejected','withdrawn')),
    filename      TEXT NOT NULL,
    title         TEXT NOT NULL,
    summary       TEXT NOT NULL DEFAULT '',
    script        TEXT NOT NULL DEFAULT '',
    keywords      TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',
    city          TEXT NOT NULL DEFAULT '',
    shot_date     TEXT NOT NULL DEFAULT '',
    copyright     TEXT NOT NULL DEFAULT '',
    licence       TEXT NOT NULL DEFAULT '',
    embargo_until BIGINT,
    size_bytes    BIGINT NOT NULL,
    sha256        TEXT,
    md5           TEXT,
    duplicate_of  TEXT COLLATE "C",
    failure       TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX assets_by_station ON assets (station_id, id);
CREATE INDEX assets_by_sha256 ON assets (sha256);

-- No foreign key to assets: a terminated upload's asset is removed, its upload row stays
-- (a later HEAD or PATCH answers 410 Gone).
CREATE TABLE uploads (
    id           TEXT COLLATE "C" PRIMARY KEY,
    asset_id     TEXT COLLATE "C" NOT NULL,
    station_id   TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    length       BIGINT NOT NULL CHECK (length >= 0),
    offset_bytes BIGINT NOT NULL DEFAULT 0 CHECK (offset_bytes >= 0 AND offset_bytes <= length),
    metadata     TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL CHECK (state IN ('active','completed','terminated','expired')),
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX uploads_by_state ON uploads (state, expires_at);
CREATE INDEX uploads_by_station ON uploads (station_id, state);

CREATE TABLE jobs (
    id           TEXT COLLATE "C" PRIMARY KEY,
    kind         TEXT NOT NULL,
    asset_id     TEXT COLLATE "C" REFERENCES assets (id),
    station_id   TEXT COLLATE "C",
    state        TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','dead')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    fence        BIGINT NOT NULL DEFAULT 0,
    progress     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_by_asset ON jobs (asset_id);

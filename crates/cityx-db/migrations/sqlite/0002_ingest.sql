-- Ingest: assets, resumable uploads, jobs, and station quotas.
-- Keep in step with the other backend's 0002_ingest.sql.

-- NULL: no quota.
ALTER TABLE stations ADD COLUMN quota_bytes INTEGER;

CREATE TABLE assets (
    id            TEXT PRIMARY KEY,
    station_id    TEXT NOT NULL REFERENCES stations (id),
    uploader_id   TEXT NOT NULL REFERENCES users (id),
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
    embargo_until INTEGER,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT,
    md5           TEXT,
    duplicate_of  TEXT,
    failure       TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX assets_by_station ON assets (station_id, id);
CREATE INDEX assets_by_sha256 ON assets (sha256);

-- No foreign key to assets: a terminated upload's asset is removed, its upload row stays
-- (a later HEAD or PATCH answers 410 Gone).
CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    asset_id     TEXT NOT NULL,
    station_id   TEXT NOT NULL REFERENCES stations (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    length       INTEGER NOT NULL CHECK (length >= 0),
    offset_bytes INTEGER NOT NULL DEFAULT 0 CHECK (offset_bytes >= 0 AND offset_bytes <= length),
    metadata     TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL CHECK (state IN ('active','completed','terminated','expired')),
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX uploads_by_state ON uploads (state, expires_at);
CREATE INDEX uploads_by_station ON uploads (station_id, state);

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    asset_id     TEXT REFERENCES assets (id),
    station_id   TEXT,
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
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_by_asset ON jobs (asset_id);

-- Stations, users, tokens, sessions and the audit log: the PostgreSQL twin of
-- migrations/sqlite/0001_foundation.sql. Keep the two in step: same tables, columns,
-- constraints and indexes. Ids are UUIDv7 text in "C" collation (byte order = time order),
-- timestamps UTC epoch milliseconds, flags 0/1, so that one body of SQL serves both.

CREATE TABLE stations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT NOT NULL,
    code          TEXT NOT NULL UNIQUE,
    city          TEXT NOT NULL,
    province      TEXT NOT NULL,
    region        TEXT NOT NULL CHECK (region IN
                  ('north','northeast','east','central','south','southwest','northwest')),
    contact_name  TEXT NOT NULL DEFAULT '',
    contact_phone TEXT NOT NULL DEFAULT '',
    contact_email TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    station_id    TEXT COLLATE "C" REFERENCES stations (id),
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN
                  ('hub_admin','hub_editor','station_admin','editor','viewer')),
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_login_at BIGINT,
    CHECK ((role IN ('hub_admin','hub_editor')) = (station_id IS NULL))
);
CREATE INDEX users_by_station ON users (station_id, id);

CREATE TABLE api_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('api','login')),
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- No foreign keys: the log outlives what it mentions.
CREATE TABLE audit_log (
    id            TEXT COLLATE "C" PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor_user_id TEXT COLLATE "C",
    actor_label   TEXT NOT NULL,
    station_id    TEXT COLLATE "C",
    action        TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    ok            BIGINT NOT NULL CHECK (ok IN (0, 1)),
    ip            TEXT,
    detail        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_station ON audit_log (station_id, id);
CREATE INDEX audit_by_target ON audit_log (action, target_id, at);
CREATE INDEX audit_by_ip ON audit_log (action, ip, at);

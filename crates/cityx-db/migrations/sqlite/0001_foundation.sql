-- Stations, users, tokens, sessions and the audit log.
-- Keep in step with migrations/postgres/0001_foundation.sql: same tables, columns,
-- constraints and indexes. Ids are UUIDv7 text, timestamps UTC epoch milliseconds, flags
-- 0/1, so that one body of SQL serves both backends.

CREATE TABLE stations (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    code          TEXT NOT NULL UNIQUE,
    city          TEXT NOT NULL,
    province      TEXT NOT NULL,
    region        TEXT NOT NULL CHECK (region IN
                  ('north','northeast','east','central','south','southwest','northwest')),
    contact_name  TEXT NOT NULL DEFAULT '',
    contact_phone TEXT NOT NULL DEFAULT '',
    contact_email TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    station_id    TEXT REFERENCES stations (id),
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN
                  ('hub_admin','hub_editor','station_admin','editor','viewer')),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_login_at INTEGER,
    CHECK ((role IN ('hub_admin','hub_editor')) = (station_id IS NULL))
);
CREATE INDEX users_by_station ON users (station_id, id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('api','login')),
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- No foreign keys: the log outlives what it mentions.
CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY,
    at            INTEGER NOT NULL,
    actor_user_id TEXT,
    actor_label   TEXT NOT NULL,
    station_id    TEXT,
    action        TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    ok            INTEGER NOT NULL,
    ip            TEXT,
    detail        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_station ON audit_log (station_id, id);
CREATE INDEX audit_by_target ON audit_log (action, target_id, at);
CREATE INDEX audit_by_ip ON audit_log (action, ip, at);

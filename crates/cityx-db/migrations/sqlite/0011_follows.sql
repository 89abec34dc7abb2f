-- Follows: what a person follows (a zone, a keyword, a station) and when they last looked.
-- Keep in step with the other backend's 0011_follows.sql.

CREATE TABLE follows (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL CHECK (kind IN ('zone','keyword','station')),
    -- The zone's or station's id, or the keyword.
    target     TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    UNIQUE (user_id, kind, target)
);

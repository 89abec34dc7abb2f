-- Follows: what a person follows (a zone, a keyword, a station) and when they last looked.
-- Keep in step with the other backend's 0011_follows.sql.

CREATE TABLE follows (
    id         TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL CHECK (kind IN ('zone','keyword','station')),
    -- The zone's or station's id, or the keyword.
    target     TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    UNIQUE (user_id, kind, target)
);

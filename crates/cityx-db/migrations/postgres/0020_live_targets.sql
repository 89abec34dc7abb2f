-- Live channels pushed to partners (restream targets), and channels that pull their signal
-- instead of being published to. Keep in step with the other backend's 0020_live_targets.sql.

CREATE TABLE live_targets (
    id           TEXT COLLATE "C" PRIMARY KEY,
    channel_id   TEXT COLLATE "C" NOT NULL REFERENCES live_channels (id),
    name         TEXT NOT NULL,
    -- The partner's server address, without the key.
    url          TEXT NOT NULL,
    -- The partner's stream key, encrypted (cityx_app::secrets::Sealer, bound to the id).
    key_sealed   TEXT NOT NULL,
    key_hint     TEXT NOT NULL,
    enabled      BIGINT NOT NULL DEFAULT 1,
    -- The running push's last report (cityx_core::live::target::TargetReport as JSON).
    report       TEXT,
    reported_at  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX live_targets_by_channel ON live_targets (channel_id);

-- A remote signal the channel pulls (rtmp://, http(s)://….m3u8, or channel:<id> for another
-- cityx channel); NULL when the channel is published to.
ALTER TABLE live_channels ADD COLUMN pull_url TEXT;

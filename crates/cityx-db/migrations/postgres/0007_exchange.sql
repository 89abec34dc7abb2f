-- The exchange: who may see an item, and adoptions. Keep in step with the other backend's
-- 0007_exchange.sql.

ALTER TABLE assets ADD COLUMN visibility TEXT NOT NULL DEFAULT 'exchange'
    CHECK (visibility IN ('private','exchange','stations','public'));
-- 1: hidden from other stations until embargo_until (else only not downloadable).
ALTER TABLE assets ADD COLUMN embargo_hides BIGINT NOT NULL DEFAULT 0 CHECK (embargo_hides IN (0, 1));
ALTER TABLE assets ADD COLUMN adoption_count BIGINT NOT NULL DEFAULT 0;
-- The search indexer follows changes by this column.
CREATE INDEX assets_by_update ON assets (updated_at, id);

-- The stations that may see an item whose visibility is 'stations'.
CREATE TABLE asset_shares (
    asset_id   TEXT COLLATE "C" NOT NULL REFERENCES assets (id),
    station_id TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    PRIMARY KEY (asset_id, station_id)
);
CREATE INDEX asset_shares_by_station ON asset_shares (station_id, asset_id);

-- The ledger: every adoption, credited to the contributing station. Titles and names are
-- copied in, so the ledger reads the same after an item is renamed or purged.
CREATE TABLE adoptions (
    id               TEXT COLLATE "C" PRIMARY KEY,
    asset_id         TEXT COLLATE "C" NOT NULL REFERENCES assets (id),
    asset_title      TEXT NOT NULL,
    contributor_id   TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    station_id       TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    user_id          TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    rendition        TEXT NOT NULL,
    purpose          TEXT NOT NULL DEFAULT '',
    at               BIGINT NOT NULL
);
CREATE INDEX adoptions_by_contributor ON adoptions (contributor_id, id);
CREATE INDEX adoptions_by_station ON adoptions (station_id, id);
CREATE INDEX adoptions_by_asset ON adoptions (asset_id, id);

-- Server secrets shared by every node (the key that signs download links), made on first use.
CREATE TABLE server_secrets (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

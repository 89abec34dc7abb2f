-- Topic zones (专区): contribution campaigns run by the hub. Keep in step with the other
-- backend's 0009_zones.sql.

CREATE TABLE zones (
    id             TEXT COLLATE "C" PRIMARY KEY,
    title          TEXT NOT NULL,
    brief          TEXT NOT NULL DEFAULT '',
    -- An item whose poster is the zone's cover.
    cover_asset_id TEXT COLLATE "C" REFERENCES assets (id),
    -- The window in which stations contribute, epoch ms [starts_at, ends_at).
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT NOT NULL,
    created_by     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX zones_by_end ON zones (ends_at, id);

-- The stations invited to a zone, each with its contribution target (items).
CREATE TABLE zone_stations (
    zone_id    TEXT COLLATE "C" NOT NULL REFERENCES zones (id),
    station_id TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    target     BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (zone_id, station_id)
);

-- Items contributed to a zone.
CREATE TABLE zone_items (
    zone_id    TEXT COLLATE "C" NOT NULL REFERENCES zones (id),
    asset_id   TEXT COLLATE "C" NOT NULL REFERENCES assets (id),
    station_id TEXT COLLATE "C" NOT NULL REFERENCES stations (id),
    added_by   TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (zone_id, asset_id)
);
CREATE INDEX zone_items_by_asset ON zone_items (asset_id, zone_id);
CREATE INDEX zone_items_by_station ON zone_items (zone_id, station_id);

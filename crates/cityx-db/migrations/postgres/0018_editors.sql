-- The editors' day: corrections kept with what they changed, a station's default visibility
-- for uploads, and statistics that count each figure once. Keep in step with the other
-- backend's 0018_editors.sql.

-- Every correction of an item: when, by whom, the note to adopters and the fields it
-- changed (a JSON list of {field, before, after}).
CREATE TABLE corrections (
    id         TEXT COLLATE "C" PRIMARY KEY,
    asset_id   TEXT COLLATE "C" NOT NULL REFERENCES assets (id),
    user_id    TEXT COLLATE "C" REFERENCES users (id),
    note       TEXT NOT NULL,
    changes    TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX corrections_by_asset ON corrections (asset_id, id);
-- When the item was last corrected (lists mark it), else NULL.
ALTER TABLE assets ADD COLUMN corrected_at BIGINT;

-- Who may see a new upload unless its uploader says otherwise.
ALTER TABLE stations ADD COLUMN default_visibility TEXT NOT NULL DEFAULT 'exchange'
    CHECK (default_visibility IN ('private','exchange','public'));

-- An adoption is a station taking an item, counted once however many of its files the
-- station downloads; a contribution is an item that became ready and is not a copy of an
-- earlier one. Recount what earlier versions counted otherwise.
UPDATE assets SET adoption_count =
    (SELECT COUNT(DISTINCT d.station_id) FROM adoptions d WHERE d.asset_id = assets.id);
UPDATE stats_daily SET adoptions_made = 0, adoptions_received = 0;
INSERT INTO stats_daily (day, station_id, adoptions_made)
SELECT (f.at + 28800000) / 86400000, f.station_id, COUNT(*)
FROM (SELECT asset_id, station_id, MIN(at) AS at FROM adoptions GROUP BY asset_id, station_id) f
GROUP BY (f.at + 28800000) / 86400000, f.station_id
ON CONFLICT (day, station_id) DO UPDATE SET adoptions_made = excluded.adoptions_made;
INSERT INTO stats_daily (day, station_id, adoptions_received)
SELECT (f.at + 28800000) / 86400000, f.contributor_id, COUNT(*)
FROM (SELECT asset_id, station_id, contributor_id, MIN(at) AS at FROM adoptions
      GROUP BY asset_id, station_id, contributor_id) f
GROUP BY (f.at + 28800000) / 86400000, f.contributor_id
ON CONFLICT (day, station_id) DO UPDATE SET adoptions_received = excluded.adoptions_received;
UPDATE stats_daily SET contributions = contributions - (
    SELECT COUNT(*) FROM events e JOIN assets a ON a.id = e.asset_id
    WHERE e.kind = 'item.published' AND a.duplicate_of IS NOT NULL
      AND e.station_id = stats_daily.station_id
      AND (e.at + 28800000) / 86400000 = stats_daily.day);

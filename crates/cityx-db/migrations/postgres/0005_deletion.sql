-- Deleting an item: it leaves the catalogue at once and its objects are removed after a grace period,
-- when its bytes stop counting against the station's quota. Keep in step with the other
-- backend's 0005_deletion.sql.

ALTER TABLE assets ADD COLUMN deleted_at BIGINT;
-- When the janitor may remove the objects (restorable until then).
ALTER TABLE assets ADD COLUMN purge_after BIGINT;
-- The objects are gone; the row stays as a tombstone for the audit trail.
ALTER TABLE assets ADD COLUMN purged_at BIGINT;
CREATE INDEX assets_to_purge ON assets (purge_after) WHERE purged_at IS NULL;

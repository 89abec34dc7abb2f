-- The passphrase an SRT restream target is called with (sealed by cityx_app::secrets::Sealer,
-- bound to the target; NULL: none).
-- Keep in step with the other backend's 0024_live_target_passphrase.sql.

ALTER TABLE live_targets ADD COLUMN passphrase_sealed TEXT;

-- Who may publish to a live channel: the addresses publishers may come from (a JSON array of
-- CIDRs; NULL: anyone) and the passphrase SRT publishers must encrypt with (sealed by
-- cityx_app::secrets::Sealer, bound to the channel; NULL: none), with its last characters.
-- Keep in step with the other backend's 0021_live_publishers.sql.

ALTER TABLE live_channels ADD COLUMN publish_cidrs TEXT;
ALTER TABLE live_channels ADD COLUMN srt_passphrase_sealed TEXT;
ALTER TABLE live_channels ADD COLUMN srt_passphrase_hint TEXT;

-- A live channel's daily recording windows (Beijing time, `HH:MM:SS-HH:MM:SS`): a JSON array;
-- NULL: none (the channel records every broadcast or none, by `record`).
-- Keep in step with the other backend's 0023_live_record_windows.sql.

ALTER TABLE live_channels ADD COLUMN record_windows TEXT;

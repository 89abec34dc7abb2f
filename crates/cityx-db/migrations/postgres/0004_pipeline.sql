-- What the media pipeline made of an asset. Keep in step with the other backend's
-- 0004_pipeline.sql.

-- The playlist to play, relative to the asset's files (hls/fast/index.m3u8, then
-- hls/master.m3u8).
ALTER TABLE assets ADD COLUMN playback TEXT;
-- JSON: renditions, proxy, poster, thumbnails, storyboard.
ALTER TABLE assets ADD COLUMN derived TEXT;
-- JSON: the technical check's report, and its verdict (pass, warn, fail).
ALTER TABLE assets ADD COLUMN qc TEXT;
ALTER TABLE assets ADD COLUMN qc_verdict TEXT;

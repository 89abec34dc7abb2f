-- A live channel's lower renditions (an ABR ladder encoded beside the input's copy): a JSON
-- array of heights, tallest first; NULL: the copy alone.
-- Keep in step with the other backend's 0022_live_renditions.sql.

ALTER TABLE live_channels ADD COLUMN renditions TEXT;

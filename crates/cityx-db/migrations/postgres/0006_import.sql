-- Items imported by URL: where the master came from. Keep in step with the other backend's
-- 0006_import.sql.
ALTER TABLE assets ADD COLUMN source_url TEXT;

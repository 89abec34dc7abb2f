-- One job spine: a job names its subject by type and id (an item, a webhook delivery, a
-- channel, or none for periodic work) and carries a JSON payload, instead of being tied to
-- items by `asset_id`. Keep in step with the other backend's 0016_job_subjects.sql.

-- `asset`, `webhook_delivery`, …; '' when the job is about nothing in particular.
ALTER TABLE jobs ADD COLUMN subject_type TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN subject_id TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';

UPDATE jobs SET subject_type = 'asset', subject_id = asset_id WHERE asset_id IS NOT NULL;
UPDATE jobs SET subject_type = 'webhook_delivery', subject_id = id
    WHERE asset_id IS NULL AND kind = 'webhook';

-- Drops its foreign key and the `jobs_by_asset` index with it.
ALTER TABLE jobs DROP COLUMN asset_id;
CREATE INDEX jobs_by_subject ON jobs (subject_type, subject_id);

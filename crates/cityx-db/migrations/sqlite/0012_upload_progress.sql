-- Uploads that resume on any node: the running hashes and the spool's state (a multipart
-- upload's id and parts) saved with every offset, and a write lease that works across nodes.
-- Keep in step with the other backend's 0012_upload_progress.sql.

ALTER TABLE uploads ADD COLUMN hashes TEXT;
ALTER TABLE uploads ADD COLUMN spool TEXT;
-- The request that may write, and until when (epoch ms); NULL when none.
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN writer_until INTEGER;

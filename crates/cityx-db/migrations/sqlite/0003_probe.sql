-- Technical metadata from probing the master (JSON text).
ALTER TABLE assets ADD COLUMN technical TEXT;

-- The outbox of the message bus (NATS JetStream, when `queue.url` names one). The database
-- stays the source of truth: a relay publishes what committed and records what it sent, and
-- the bus drops a message it has seen (its id is the job's or event's), so a relay that dies
-- between publishing and recording repeats nothing. Keep in step with the other backend's
-- 0014_outbox.sql.

-- The attempt a job's last message was for (0: none yet), and when it was sent (epoch ms).
ALTER TABLE jobs ADD COLUMN sent_attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN sent_at BIGINT;

-- How far each relay has published an ordered table (events: the last `seq` sent).
CREATE TABLE outbox_cursors (
    name TEXT NOT NULL PRIMARY KEY,
    seq  BIGINT NOT NULL
);

-- Wake-ups for workers on every node: a job that becomes runnable (enqueued, re-run or
-- retried) notifies channel `cityx_jobs` when its transaction commits, so that idle workers
-- elsewhere claim it at once rather than at their next poll. PostgreSQL only: on SQLite all
-- writers share one machine, and the poll covers other processes.

CREATE FUNCTION cityx_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cityx_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_wake_workers AFTER INSERT OR UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION cityx_notify_jobs();

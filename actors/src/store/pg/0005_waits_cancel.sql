-- nightshift schema: waits and cancel (issue 13, items 2 and 6); see the SQLite migration
-- 0010_waits_cancel.sql. PostgreSQL changes the status rule in place.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending', 'running', 'done', 'waiting', 'cancelled'));
ALTER TABLE jobs ADD COLUMN wait_name TEXT;
ALTER TABLE jobs ADD COLUMN wait_until BIGINT;
ALTER TABLE jobs ADD COLUMN wait_dead BIGINT NOT NULL DEFAULT 0;
CREATE INDEX jobs_waits ON jobs (wait_until) WHERE status = 'waiting';
CREATE INDEX jobs_cancelled ON jobs (finished_at) WHERE status = 'cancelled';

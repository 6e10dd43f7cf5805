-- nightshift schema: waits and cancel (issue 13, items 2 and 6). Two statuses join the jobs
-- table's rule: `waiting` (a handler parked its job until `nightshift signal KEY NAME`, or until
-- `wait_until`, whichever comes first; it holds no worker and is never claimed) and `cancelled`
-- (terminal, its key kept as a done job's is). A wait's name, deadline and what its timeout
-- does (`wait_dead` = 1: dead-letter; 0: a failed attempt, retried) are kept on the row while it
-- waits.
--
-- SQLite cannot change a CHECK in place: the table is rebuilt as 0006 did, its rows copied as
-- they are, its indexes and counting triggers created again after the copy.

CREATE TABLE jobs_v10 (
    key              TEXT PRIMARY KEY,
    queue            TEXT NOT NULL DEFAULT 'default',
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status = 'pending' OR status = 'running' OR status = 'done'
                            OR status = 'waiting' OR status = 'cancelled'),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL,
    timeout_ms       INTEGER,
    lease_token      TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    result           TEXT,
    errors           TEXT NOT NULL DEFAULT '[]',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    snoozes          INTEGER NOT NULL DEFAULT 0,
    started_at       INTEGER,
    cost_micros      INTEGER,
    wait_name        TEXT,
    wait_until       INTEGER,
    wait_dead        INTEGER NOT NULL DEFAULT 0
);

INSERT INTO jobs_v10 (key, queue, payload, status, attempts, max_attempts, priority, run_at,
                      timeout_ms, lease_token, lease_owner, lease_expires_at, last_error, result,
                      errors, created_at, updated_at, finished_at, snoozes, started_at,
                      cost_micros)
SELECT key, queue, payload, status, attempts, max_attempts, priority, run_at,
       timeout_ms, lease_token, lease_owner, lease_expires_at, last_error, result,
       errors, created_at, updated_at, finished_at, snoozes, started_at, cost_micros
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_v10 RENAME TO jobs;

CREATE INDEX jobs_claim ON jobs (priority DESC, run_at) WHERE status = 'pending';
CREATE INDEX jobs_next_due ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status = 'done';
CREATE INDEX jobs_waits ON jobs (wait_until) WHERE status = 'waiting';
CREATE INDEX jobs_cancelled ON jobs (finished_at) WHERE status = 'cancelled';

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE row_counts SET jobs = jobs + 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE row_counts SET jobs = jobs - 1 WHERE id = 1;
END;

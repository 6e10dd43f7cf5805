-- nightshift schema, version 6: the jobs table rebuilt with its status rule written as
-- comparisons. SQLite evaluates `status IN ('pending', 'running', 'done')` in a CHECK by building
-- a temporary index of the three words, and dropping it, on every insert and every update of a
-- job: a profile of the engine's drain put a quarter of the Store's instructions there. The rule
-- written with OR is the same rule and costs three comparisons. Same columns, same order, same
-- indexes and triggers; the rows are copied as they are (the counting triggers are created after
-- the copy and the old ones go with the old table, so `row_counts` stays right).

CREATE TABLE jobs_v6 (
    key              TEXT PRIMARY KEY,            -- the idempotency key
    queue            TEXT NOT NULL DEFAULT 'default',
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status = 'pending' OR status = 'running' OR status = 'done'),
    attempts         INTEGER NOT NULL DEFAULT 0,  -- failed or interrupted attempts so far
    max_attempts     INTEGER NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,  -- higher first
    run_at           INTEGER NOT NULL,            -- not before this
    timeout_ms       INTEGER,                     -- per-job handler timeout, NULL = engine's
    lease_token      TEXT,                        -- fences heartbeat / complete / fail
    lease_owner      TEXT,                        -- the worker incarnation holding the lease
    lease_expires_at INTEGER,
    last_error       TEXT,
    result           TEXT,
    errors           TEXT NOT NULL DEFAULT '[]',  -- JSON: every failed attempt's error and time
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);

INSERT INTO jobs_v6 (key, queue, payload, status, attempts, max_attempts, priority, run_at,
                     timeout_ms, lease_token, lease_owner, lease_expires_at, last_error, result,
                     errors, created_at, updated_at, finished_at)
SELECT key, queue, payload, status, attempts, max_attempts, priority, run_at,
       timeout_ms, lease_token, lease_owner, lease_expires_at, last_error, result,
       errors, created_at, updated_at, finished_at
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_v6 RENAME TO jobs;

CREATE INDEX jobs_claim ON jobs (priority DESC, run_at) WHERE status = 'pending';
CREATE INDEX jobs_next_due ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status = 'done';

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE row_counts SET jobs = jobs + 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE row_counts SET jobs = jobs - 1 WHERE id = 1;
END;

-- nightshift schema, version 1. Times in unix milliseconds unless the column says otherwise.

-- The queue. A row is the job's whole life until it is done or buried.
CREATE TABLE jobs (
    key              TEXT PRIMARY KEY,            -- the idempotency key
    queue            TEXT NOT NULL DEFAULT 'default',
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done')),
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

-- The claim query's index holds pending rows only, so finished rows piling up cost it nothing.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at) WHERE status = 'pending';
CREATE INDEX jobs_next_due ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';

-- Jobs that failed for good. A key is never in both tables.
CREATE TABLE dead_letter (
    key          TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    error        TEXT NOT NULL,                   -- the last attempt's error
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    timeout_ms   INTEGER,
    died         INTEGER NOT NULL,                -- unix seconds
    errors       TEXT NOT NULL,                   -- JSON array: every attempt's error and time
    reason       TEXT NOT NULL CHECK (reason IN ('exhausted', 'permanent', 'crashed'))
);

-- One row: the kill switch and the circuit breaker, persisted so cron runs honour them.
CREATE TABLE control (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    paused              INTEGER NOT NULL DEFAULT 0,
    pause_reason        TEXT,
    paused_at           INTEGER,
    breaker_failures    INTEGER NOT NULL DEFAULT 0,  -- consecutive failed attempts
    breaker_open_until  INTEGER,
    breaker_cooldown_ms INTEGER
);
INSERT INTO control (id) VALUES (1);

-- Cost per attempt, integer micro-dollars, for the daily cap.
CREATE TABLE spend (
    id       INTEGER PRIMARY KEY,
    day      TEXT NOT NULL,                        -- UTC date, YYYY-MM-DD
    key      TEXT NOT NULL,
    attempt  INTEGER NOT NULL,
    micros   INTEGER NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX spend_day ON spend (day);

-- The alert outbox: written in the transaction that caused the alert, delivered after.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,                 -- dead_letter | cap_hit | breaker_opened | crash_loop
    key             TEXT,
    body            TEXT NOT NULL,                 -- JSON details
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE state = 'pending';

-- nightshift schema for PostgreSQL, version 2: memoized steps, as SQLite's version 7 (see
-- migrations/0007_steps.sql for what the rows mean and when they go).

CREATE TABLE steps (
    job_key     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    output      TEXT NOT NULL,
    cost_micros BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (job_key, name)
);
